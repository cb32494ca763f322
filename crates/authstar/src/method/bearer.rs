//! `Authorization: Bearer <token>` (RFC 6750 §2.1).

use std::borrow::Cow;

use super::{ChallengeSpec, Description, ErrorCodes, Method, Presented, Presenting, private};
use crate::authenticator::Authenticator;
use crate::credentials::ClientCertificate;
use crate::credentials::authorization::Scheme;
use crate::{AuthMethod, BearerToken, Failure};

/// The Bearer method, its tokens checked by `A`
/// ([`AuthstarLayerBuilder::on_auth_bearer`](crate::AuthstarLayerBuilder::on_auth_bearer)).
/// Refused tokens are answered `error="invalid_token"` (RFC 6750 §3.1).
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct Bearer<A>(pub(crate) A);

impl<A> private::Sealed for Bearer<A> {}

impl<C, A> Method<C> for Bearer<A>
where
    C: 'static,
    A: Authenticator<BearerToken, Client = C>,
{
    type Future = A::Future;
    const SCHEME: Option<Scheme> = Some(Scheme::Bearer);

    #[inline]
    fn owns(&self, method: &AuthMethod) -> bool {
        *method == AuthMethod::Bearer
    }

    #[inline(always)]
    fn start(&self, request: &Presenting<'_>) -> Presented<Self::Future, C> {
        match request.authorization_for(Scheme::Bearer) {
            None => Presented::Nothing,
            Some(Err(reason)) => Presented::malformed(AuthMethod::Bearer, reason),
            Some(Ok((value, start))) => {
                // Over mutual TLS, the certificate goes with the token (RFC 8705 §3).
                let certificate = request
                    .head
                    .extensions
                    .get::<ClientCertificate>()
                    .map(ClientCertificate::shared_thumbprint);
                let token = BearerToken::at(value, start).with_certificate(certificate);
                Presented::started(AuthMethod::Bearer, self.0.start(token))
            }
        }
    }

    fn identity<'s, 'r>(
        &'s self,
        request: &Presenting<'r>,
    ) -> Option<(&'s str, Option<Cow<'r, str>>)> {
        // A token claims no identity: only its address is counted.
        request
            .authorization_for(Scheme::Bearer)
            .map(|_| ("bearer", None))
    }

    fn describe(&self) -> Description {
        Description {
            method: AuthMethod::Bearer,
            challenge: Some(ChallengeSpec {
                scheme: "Bearer",
                params: None,
                errors: Some(ErrorCodes {
                    codes: &["invalid_token"],
                    of: error_code,
                }),
            }),
            invalid: None,
        }
    }
}

/// RFC 6750 §3.1: a token that was presented and is not acceptable (refused, or unreadable) is
/// `invalid_token`; an authenticator that failed says nothing about the token.
fn error_code(failure: &Failure) -> Option<&'static str> {
    matches!(failure, Failure::Denied | Failure::Malformed(_)).then_some("invalid_token")
}
