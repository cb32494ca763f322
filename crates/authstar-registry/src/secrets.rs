//! The server secrets file beside the database, and the pepper's fingerprint inside it.
//!
//! The pepper never enters the database; the database records only an HMAC fingerprint of it.
//! A secrets file that is missing, or belongs to another database, is found when the registry
//! opens, and refused: generating a new pepper would turn every stored secret into a 401
//! without a word.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{RegistryError, hex, random};

/// Server-side secrets, kept in a file beside the database (mode 0600), never in it.
#[derive(Clone, Serialize, Deserialize)]
pub struct ServerSecrets {
    /// The HMAC pepper (also argon2's secret key).
    pub pepper: String,
    /// The session cookie signing key (64 bytes, base64url).
    pub cookie_key: String,
    /// The JWT signing key, PKCS#8 DER, base64url.
    pub jwt_key: String,
    /// The JWT key id.
    pub jwt_kid: String,
}

impl std::fmt::Debug for ServerSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSecrets")
            .field("jwt_kid", &self.jwt_kid)
            .finish_non_exhaustive()
    }
}

/// The secrets file of a database: `<db>.secrets.json`.
pub fn secrets_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".secrets.json");
    PathBuf::from(name)
}

/// What the database records of a pepper: HMAC-SHA256(pepper, a fixed label), base64url.
/// It tells peppers apart without revealing one.
pub(crate) fn fingerprint(pepper: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(pepper)
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(b"authstar registry pepper fingerprint v1");
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Reads the secrets file; `None` when there is none. A file other users may read (made before
/// authstar wrote it 0600, or copied to a host with a default mask) is refused with the one
/// command that fixes it: it holds the pepper and the signing key.
pub(crate) fn load(path: &Path) -> Result<Option<ServerSecrets>, RegistryError> {
    if let Some(mode) = shared_mode(path) {
        return Err(secrets_error(
            path,
            format!(
                "is readable by other users (mode {mode:o}); it holds the pepper and the signing \
                 key: run `chmod 600 {}`",
                path.display()
            ),
        ));
    }
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            secrets_error(
                path,
                format!("unreadable ({e}); restore it from your backup"),
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(secrets_error(path, error.to_string())),
    }
}

pub(crate) fn secrets_error(path: &Path, message: String) -> RegistryError {
    RegistryError::Secrets {
        path: path.to_owned(),
        message,
    }
}

/// New secrets, not yet written anywhere.
pub(crate) fn generate(path: &Path) -> Result<ServerSecrets, RegistryError> {
    let jwt_key = authstar_jwt::SigningKey::generate_es256("k1")
        .map_err(|e| secrets_error(path, e.to_string()))?;
    Ok(ServerSecrets {
        pepper: URL_SAFE_NO_PAD.encode(random::<32>()?),
        cookie_key: URL_SAFE_NO_PAD.encode(random::<64>()?),
        jwt_key: URL_SAFE_NO_PAD.encode(jwt_key.to_bytes()),
        jwt_kid: format!("es256-{}", hex(&random::<4>()?)),
    })
}

/// Writes `secrets` atomically to `path` (mode 0600).
pub(crate) fn write(path: &Path, secrets: &ServerSecrets) -> Result<(), RegistryError> {
    let fail = |message: String| secrets_error(path, message);
    let json = serde_json::to_vec_pretty(secrets).map_err(|e| fail(e.to_string()))?;
    write_atomically(path, &json).map_err(|e| fail(e.to_string()))
}

/// Writes `bytes` to `path` so that a crash leaves either no file or the whole file: a private
/// temporary file beside it, flushed to disk, renamed over `path`, and the directory flushed.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".tmp-{}", std::process::id()));
    let temporary = PathBuf::from(temporary);
    let result = (|| {
        let mut file = create_private(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        // The rename itself is durable only once the directory is.
        std::fs::File::open(directory)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Creates a new file readable and writable by its owner only.
#[cfg(unix)]
pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
pub(crate) fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// The permission bits of `path` when group or others have any access to it; `None` for a
/// private (or missing) file.
#[cfg(unix)]
pub(crate) fn shared_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
pub(crate) fn shared_mode(_: &Path) -> Option<u32> {
    None
}
