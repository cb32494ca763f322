//! Reading credentials from request headers, one module per standard.
//!
//! * [`authorization`]: the `Authorization` header's `scheme token68` form (RFC 9110 §11).
//! * [`bearer`]: `Bearer` tokens (RFC 6750 §2.1).
//! * [`basic`]: `Basic` user-id and password (RFC 7617).
//! * [`header`]: a credential in a named header such as `X-API-Key`.
//!
//! Every parser is total: any bytes give either a credential or a [`Malformed`]
//! reason, never a panic, and a malformed credential never reaches an authenticator.

pub mod authorization;
pub mod basic;
pub mod bearer;
pub mod header;

use http::header::{GetAll, HeaderValue};

use crate::Malformed;

/// The single value of a header, `None` when absent, [`Malformed::Repeated`] when sent twice.
pub(crate) fn single(values: GetAll<'_, HeaderValue>) -> Result<Option<&HeaderValue>, Malformed> {
    let mut values = values.iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => Ok(Some(value)),
        (Some(_), Some(_)) => Err(Malformed::Repeated),
    }
}
