//! The request itself (the Python package's `on_auth_scope`): a session an outer layer inserted, a client
//! certificate, anything in the request head. Asked only when no credential header was presented.

use std::borrow::Cow;

use http::request::Parts;

use super::{Description, Method, Presented, Presenting, private};
use crate::AuthMethod;
use crate::authenticator::RequestAuthenticator;

/// The request method, checked by `A`
/// ([`AuthstarLayerBuilder::on_auth_request`](crate::AuthstarLayerBuilder::on_auth_request)).
/// It has no challenge, and its refusals are no failures (no session is anonymous).
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct FromRequest<A>(pub(crate) A);

impl<A> private::Sealed for FromRequest<A> {}

impl<C, A> Method<C> for FromRequest<A>
where
    C: 'static,
    A: RequestAuthenticator<Client = C>,
{
    type Future = A::Future;
    const READS_PARTS: bool = true;

    #[inline]
    fn owns(&self, method: &AuthMethod) -> bool {
        *method == AuthMethod::Request
    }

    fn start(&self, _: &Presenting<'_>) -> Presented<Self::Future, C> {
        Presented::Nothing
    }

    fn start_parts(&self, parts: &Parts) -> Presented<Self::Future, C> {
        Presented::started(AuthMethod::Request, self.0.start(parts))
    }

    fn identity<'s, 'r>(&'s self, _: &Presenting<'r>) -> Option<(&'s str, Option<Cow<'r, str>>)> {
        None
    }

    fn describe(&self) -> Description {
        Description {
            method: AuthMethod::Request,
            challenge: None,
            invalid: None,
        }
    }
}
