//! `Authorization: Basic <base64(user-id:password)>` (RFC 7617).

use std::borrow::Cow;

use super::{ChallengeSpec, Description, Method, Presented, Presenting, private};
use crate::authenticator::Authenticator;
use crate::credentials::authorization::Scheme;
use crate::throttle::{BASIC_IDENTITY, basic_identity};
use crate::{AuthMethod, BasicCredentials};

/// The Basic method, its credentials checked by `A`
/// ([`AuthstarLayerBuilder::on_auth_basic`](crate::AuthstarLayerBuilder::on_auth_basic)). The
/// challenge announces `charset="UTF-8"` (RFC 7617 §2.1); the identity the throttle counts is
/// the user name, decoded as RFC 6749 §2.3.1 has OAuth 2.0 clients encode it.
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct Basic<A>(pub(crate) A);

impl<A> private::Sealed for Basic<A> {}

impl<C, A> Method<C> for Basic<A>
where
    C: 'static,
    A: Authenticator<BasicCredentials, Client = C>,
{
    type Future = A::Future;
    const SCHEME: Option<Scheme> = Some(Scheme::Basic);

    #[inline]
    fn owns(&self, method: &AuthMethod) -> bool {
        *method == AuthMethod::Basic
    }

    #[inline(always)]
    fn start(&self, request: &Presenting<'_>) -> Presented<Self::Future, C> {
        match request.authorization_for(Scheme::Basic) {
            None => Presented::Nothing,
            Some(Err(reason)) => Presented::malformed(AuthMethod::Basic, reason),
            Some(Ok((value, start))) => {
                match BasicCredentials::decode_bytes(&value.as_bytes()[start..]) {
                    Ok(credentials) => {
                        Presented::started(AuthMethod::Basic, self.0.start(credentials))
                    }
                    Err(reason) => Presented::malformed(AuthMethod::Basic, reason),
                }
            }
        }
    }

    fn basic(
        &self,
        credentials: BasicCredentials,
    ) -> Option<crate::authenticator::Started<Self::Future, C>> {
        Some(self.0.start(credentials))
    }

    fn identity<'s, 'r>(
        &'s self,
        request: &Presenting<'r>,
    ) -> Option<(&'s str, Option<Cow<'r, str>>)> {
        let found = request.authorization_for(Scheme::Basic)?;
        let identity = found.ok().and_then(|(value, start)| {
            let credentials = BasicCredentials::decode_bytes(&value.as_bytes()[start..]).ok()?;
            Some(Cow::Owned(
                basic_identity(credentials.username()).into_owned(),
            ))
        });
        Some((BASIC_IDENTITY, identity))
    }

    fn describe(&self) -> Description {
        Description {
            method: AuthMethod::Basic,
            challenge: Some(ChallengeSpec {
                scheme: "Basic",
                params: Some("charset=\"UTF-8\"".to_owned()),
                errors: None,
            }),
            invalid: None,
        }
    }
}
