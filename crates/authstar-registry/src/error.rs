//! [`RegistryError`]: what went wrong, in the library's terms (a command-line tool adds its own
//! flags to the message).

use std::path::PathBuf;
use std::time::Duration;

use crate::store::StoreError;
use crate::{MAX_CACHE_TTL, MIN_IMPORTED_SECRET_LEN};

/// Registry errors; messages say what went wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The database failed or did not answer in time.
    #[error("registry database: {0}")]
    Store(#[from] StoreError),
    /// The secrets file could not be read or written.
    #[error("secrets file {path}: {message}")]
    Secrets {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A PostgreSQL registry was opened without a secrets file.
    #[error(
        "a PostgreSQL registry needs a secrets file shared by every instance: the pepper must \
         not live in the database"
    )]
    SecretsPathRequired,
    /// No such client.
    #[error("no client {0:?}")]
    UnknownClient(String),
    /// No such key.
    #[error("no API key {0:?}")]
    UnknownKey(String),
    /// The client id is taken.
    #[error("client {0:?} already exists: choose another id")]
    ClientExists(String),
    /// A client id with characters other than letters, digits, `-`, `_`, `.`, or too long.
    #[error("invalid client id {0:?}: use letters, digits, '-', '_' or '.' (at most 128)")]
    InvalidClientId(String),
    /// A scope outside RFC 6749 §3.3's grammar.
    #[error(
        "invalid scope {0:?}: printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3)"
    )]
    InvalidScope(String),
    /// An API key was asked for a `private_key_jwt` client: a stored secret is what that
    /// method does without.
    #[error(
        "client {0:?} authenticates with private_key_jwt: it gets no API keys (a stored secret \
         is what private_key_jwt does without)"
    )]
    KeyClient(String),
    /// A client's JWKS document was refused.
    #[error("invalid JWKS: {0}")]
    InvalidJwks(String),
    /// A key's end not in the future or beyond ten years from now (or a rotation overlap
    /// beyond ten years).
    #[error(
        "a key ends after now and within ten years (and a rotation overlaps at most ten years)"
    )]
    InvalidKeyLifetime,
    /// A rate limit beyond what the registry stores: a burst over a billion, or a window (the
    /// time the burst refills) over a year.
    #[error("a rate limit is a burst of at most 1 000 000 000 refilled within at most a year")]
    InvalidRateLimit,
    /// A key name that is empty, too long or has control characters.
    #[error("a key name is 1 to 100 printable characters")]
    InvalidKeyName,
    /// A certificate rule (RFC 8705 §2) that cannot be used.
    #[error("invalid client certificate rule: {0}")]
    InvalidCertificate(#[from] authstar_oauth2::mtls::CertificateError),
    /// A key asked for a scope its client does not hold.
    #[error("scope {scope:?} is not granted to client {client_id:?}")]
    ScopeNotGranted {
        /// The scope.
        scope: String,
        /// The client.
        client_id: String,
    },
    /// A key was asked for a revoked client.
    #[error("client {0:?} is revoked")]
    ClientRevoked(String),
    /// A cache TTL over [`MAX_CACHE_TTL`].
    #[error("cache TTL {} s is longer than the {} s allowed", .0.as_secs(), MAX_CACHE_TTL.as_secs())]
    CacheTtlTooLong(Duration),
    /// No randomness.
    #[error("the system random generator failed")]
    Random,
    /// An imported secret is too short or holds control characters.
    #[error(
        "an imported secret needs at least {MIN_IMPORTED_SECRET_LEN} characters and no control \
         characters (or let a 256-bit one be generated)"
    )]
    WeakSecret,
    /// argon2 refused its parameters or input.
    #[error("password hashing failed: {0}")]
    PasswordHash(argon2::password_hash::Error),
    /// Too many password hashes are running or waiting: try again shortly.
    #[error("too many password checks at once; try again shortly")]
    Busy,
    /// A blocking task (a password hash) panicked or was cancelled.
    #[error("a password check did not finish")]
    Interrupted(#[source] tokio::task::JoinError),
}
