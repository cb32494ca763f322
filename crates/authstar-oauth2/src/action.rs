//! What an [`Endpoint`](crate::Endpoint) does once its client is authenticated: issue a token
//! ([`Issue`](crate::Issue)), revoke one ([`Revoke`](crate::Revoke)) or tell what one stands
//! for ([`Introspect`](crate::Introspect)).

use std::future::Future;

use crate::BoxError;
use bytes::Bytes;
use serde::Serialize;

use crate::TokenError;
use crate::form::TokenRequestForm;

/// The actions are sealed: the endpoints are this crate's.
pub(crate) mod private {
    pub trait Sealed {}
}

/// A successful answer's body.
#[derive(Debug)]
pub enum Answer {
    /// A JSON document.
    Json(Bytes),
    /// No body (a revocation's `200`).
    Empty,
}

impl Answer {
    /// `value` as JSON (types of this crate, which always serialise).
    pub(crate) fn json<T: Serialize>(value: &T) -> Self {
        Self::Json(serde_json::to_vec(value).unwrap_or_default().into())
    }
}

/// What a token request proves it holds, to bind the token to: the key of its DPoP proof
/// (RFC 9449 §5), or the TLS client certificate it came with (RFC 8705 §3).
#[doc(hidden)]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holds {
    pub(crate) dpop_jkt: Option<String>,
    pub(crate) certificate_x5t: Option<String>,
}

/// What an [`Endpoint`](crate::Endpoint) does once the client is authenticated (sealed).
pub trait Action<C>: private::Sealed + Send + Sync + 'static {
    /// The endpoint's name in logs and metrics.
    #[doc(hidden)]
    const NAME: &'static str;

    /// Checks the form before the client is authenticated (a wrong grant type, a missing token).
    #[doc(hidden)]
    fn check(&self, form: &TokenRequestForm) -> Result<(), TokenError>;

    /// Does the endpoint's work for the authenticated `client`; `holds` is what the request
    /// proved it holds (a DPoP key, a client certificate), when the endpoint binds tokens.
    #[doc(hidden)]
    fn answer(
        &self,
        form: TokenRequestForm,
        client: C,
        holds: Holds,
    ) -> impl Future<Output = Result<Answer, BoxError>> + Send;
}
