//! Reading credentials from request headers, one module per standard.
//!
//! * `authorization`: the `Authorization` header's `scheme token68` form (RFC 9110 §11).
//! * [`bearer`]: `Bearer` tokens (RFC 6750 §2.1).
//! * [`basic`]: `Basic` user-id and password (RFC 7617).
//! * [`dpop`]: `DPoP` key-bound tokens and their proofs (RFC 9449).
//! * [`header`]: a credential in a named header such as `X-API-Key`.
//! * [`ClientCertificate`]: the client's TLS certificate, in the request's extensions (RFC 8705).
//!
//! Every parser is total: any bytes give either a credential or a [`Malformed`]
//! reason, never a panic, and a malformed credential never reaches an authenticator.

mod ascii;
pub(crate) mod authorization;
pub mod basic;
pub mod bearer;
mod certificate;
pub mod dpop;
pub mod header;

pub use certificate::ClientCertificate;

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use crate::Malformed;

/// The single value of a header, `None` when absent, [`Malformed::Repeated`] when sent twice (a
/// credential header must not be: which copy would count?).
#[inline]
pub(crate) fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'a HeaderValue>, Malformed> {
    // As many values as names: no header is repeated, and one lookup answers.
    if headers.len() == headers.keys_len() {
        return Ok(headers.get(name));
    }
    let mut values = headers.get_all(name).into_iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(value)),
        (Some(_), Some(_)) => Err(Malformed::Repeated),
    }
}
