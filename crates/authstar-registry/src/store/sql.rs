//! The statements, written once for both engines. PostgreSQL numbers its parameters `$1`,
//! `$2`...; SQLite reads `$1` as a named parameter and numbers names in order of first
//! appearance, so in every statement `$1` appears before `$2`, and so on, and the two agree.

pub(crate) const CREATE_SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS authstar_schema (
    version    INTEGER PRIMARY KEY,
    applied_at BIGINT NOT NULL
)";
pub(crate) const SCHEMA_VERSION_FOUND: &str =
    "SELECT COALESCE(MAX(version), 0) FROM authstar_schema";
pub(crate) const RECORD_VERSION: &str =
    "INSERT INTO authstar_schema (version, applied_at) VALUES ($1, $2)";

pub(crate) const INIT_META: &str =
    "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
pub(crate) const META: &str = "SELECT value FROM meta WHERE name = $1";

pub(crate) const COUNT_CLIENTS: &str = "SELECT COUNT(*) FROM clients";
pub(crate) const INSERT_CLIENT: &str = "INSERT INTO clients (client_id, secret_hash, scopes, \
     created_at, auth_method, jwks, certificate, rate_limit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const CLIENT: &str = "SELECT client_id, secret_hash, scopes, created_at, last_used_at, \
     revoked_at, auth_method, jwks, certificate, rate_limit FROM clients WHERE client_id = $1";
pub(crate) const CLIENTS: &str = "SELECT client_id, secret_hash, scopes, created_at, \
     last_used_at, revoked_at, auth_method, jwks, certificate, rate_limit FROM clients ORDER BY created_at, client_id";
/// A page of clients by id, after the cursor (`''` for the first).
pub(crate) const CLIENTS_PAGE: &str = "SELECT client_id, secret_hash, scopes, created_at, \
     last_used_at, revoked_at, auth_method, jwks, certificate, rate_limit FROM clients WHERE client_id > $1 \
     ORDER BY client_id LIMIT $2";
pub(crate) const SET_CLIENT_RATE_LIMIT: &str =
    "UPDATE clients SET rate_limit = $1 WHERE client_id = $2 AND revoked_at IS NULL";
/// Every active client's and key's own rate limit: (client id, key id or NULL, limit).
pub(crate) const RATE_LIMITS: &str = "SELECT client_id, NULL, rate_limit FROM clients \
     WHERE rate_limit IS NOT NULL AND revoked_at IS NULL \
     UNION ALL SELECT k.client_id, k.key_id, k.rate_limit FROM api_keys k \
     JOIN clients c ON c.client_id = k.client_id \
     WHERE k.rate_limit IS NOT NULL AND k.revoked_at IS NULL AND c.revoked_at IS NULL";
/// A key's own limit, while it works at `$3` (unrevoked, unexpired) and its client is active.
pub(crate) const SET_KEY_RATE_LIMIT: &str = "UPDATE api_keys SET rate_limit = $1 \
     WHERE key_id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3) \
     AND client_id IN (SELECT client_id FROM clients WHERE revoked_at IS NULL)";
/// A key's expiry, set or taken away, while it works at `$3` (unrevoked, unexpired), its
/// client is active, and no rotation replaced it (a replaced key keeps its overlap's end:
/// extended, it would undo the rotation).
pub(crate) const CHANGE_KEY_EXPIRY: &str = "UPDATE api_keys SET expires_at = $1 \
     WHERE key_id = $2 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $3) \
     AND client_id IN (SELECT client_id FROM clients WHERE revoked_at IS NULL) \
     AND NOT EXISTS (SELECT 1 FROM api_keys successor WHERE successor.replaces = api_keys.key_id)";
/// A rotation's new key (`$2`) takes the old one's (`$1`) limit, inside the rotation: one row
/// changed when there was one to take.
pub(crate) const COPY_KEY_RATE_LIMIT: &str = "UPDATE api_keys \
     SET rate_limit = (SELECT rate_limit FROM api_keys WHERE key_id = $1) WHERE key_id = $2 \
     AND EXISTS (SELECT 1 FROM api_keys WHERE key_id = $1 AND rate_limit IS NOT NULL)";
pub(crate) const SET_CLIENT_SCOPES: &str =
    "UPDATE clients SET scopes = $1 WHERE client_id = $2 AND revoked_at IS NULL";
/// The next audit entry's number: the counter's row is locked until the entry commits, so
/// numbers follow commit order.
pub(crate) const BUMP_AUDIT: &str =
    "UPDATE audit_counter SET value = value + 1 WHERE id = 1 RETURNING value";
pub(crate) const APPEND_AUDIT: &str = "INSERT INTO audit_log (seq, at, actor, action, client_id, \
     target, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// A page of the audit log from `since`, after the entry numbered `$2`, optionally of one client.
pub(crate) const AUDIT_PAGE: &str = "SELECT seq, at, actor, action, client_id, target, detail \
     FROM audit_log WHERE at >= $1 AND seq > $2 AND ($3 = '' OR client_id = $3) \
     ORDER BY seq LIMIT $4";
pub(crate) const REVOKE_CLIENT: &str =
    "UPDATE clients SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL";
pub(crate) const SET_CLIENT_JWKS: &str = "UPDATE clients SET jwks = $1 WHERE client_id = $2 \
     AND auth_method = 'private_key_jwt' AND revoked_at IS NULL";
pub(crate) const SET_CLIENT_CERTIFICATE: &str = "UPDATE clients SET certificate = $1 \
     WHERE client_id = $2 AND auth_method IN ('tls_client_auth', 'self_signed_tls_client_auth') \
     AND revoked_at IS NULL";
pub(crate) const CLIENT_EXISTS: &str = "SELECT 1 FROM clients WHERE client_id = $1";
pub(crate) const CLIENT_USED: &str = "UPDATE clients SET last_used_at = $1 WHERE client_id = $2";

pub(crate) const INSERT_KEY: &str = "INSERT INTO api_keys (key_id, client_id, key_hash, scopes, \
     created_at, expires_at, name, replaces, rate_limit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
/// A key only while it and its client are both active.
pub(crate) const ACTIVE_KEY: &str = "SELECT k.key_id, k.client_id, k.key_hash, k.scopes, \
     k.created_at, k.last_used_at, k.revoked_at, k.expires_at, k.name, k.replaces, k.rate_limit, \
     c.scopes \
     FROM api_keys k \
     JOIN clients c ON c.client_id = k.client_id \
     WHERE k.key_id = $1 AND k.revoked_at IS NULL AND c.revoked_at IS NULL";
pub(crate) const KEYS: &str = "SELECT key_id, client_id, key_hash, scopes, created_at, \
     last_used_at, revoked_at, expires_at, name, replaces, rate_limit FROM api_keys ORDER BY created_at, key_id";
/// A page of keys by key id, after the cursor (`''` for the first).
pub(crate) const KEYS_PAGE: &str = "SELECT key_id, client_id, key_hash, scopes, created_at, \
     last_used_at, revoked_at, expires_at, name, replaces, rate_limit FROM api_keys WHERE key_id > $1 \
     ORDER BY key_id LIMIT $2";
/// Brings a key's expiry forward (never later): a rotation's overlap.
pub(crate) const SET_KEY_EXPIRY: &str = "UPDATE api_keys SET expires_at = $1 WHERE key_id = $2 \
     AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)";
pub(crate) const REVOKE_KEY: &str =
    "UPDATE api_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL";
pub(crate) const KEY_EXISTS: &str = "SELECT 1 FROM api_keys WHERE key_id = $1";
pub(crate) const KEY_USED: &str = "UPDATE api_keys SET last_used_at = $1 WHERE key_id = $2";

/// Bumps the revision and returns the new one (both engines take `RETURNING`).
pub(crate) const BUMP_REVISION: &str =
    "UPDATE revision SET value = value + 1 WHERE id = 1 RETURNING value";
pub(crate) const LOG_CHANGE: &str = "INSERT INTO revocation_log (revision, kind, id, expires_at, \
     at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const PURGE_CHANGES: &str = "DELETE FROM revocation_log WHERE at < $1";
pub(crate) const CHANGES_SINCE: &str = "SELECT revision, kind, id, expires_at FROM \
     revocation_log WHERE revision > $1 ORDER BY revision LIMIT $2";
pub(crate) const REVISION: &str = "SELECT value FROM revision WHERE id = 1";

pub(crate) const INSERT_REVOKED_TOKEN: &str = "INSERT INTO revoked_tokens (jti, client_id, \
     expires_at, revoked_at) VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING";
pub(crate) const PURGE_REVOKED_TOKENS: &str = "DELETE FROM revoked_tokens WHERE expires_at < $1";
pub(crate) const REVOKED_TOKENS: &str =
    "SELECT jti, expires_at FROM revoked_tokens WHERE expires_at >= $1";
pub(crate) const REVOKED_CLIENTS: &str =
    "SELECT client_id FROM clients WHERE revoked_at IS NOT NULL";
