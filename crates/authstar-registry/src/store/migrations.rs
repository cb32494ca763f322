//! The schema's versions: one migration a step, applied in order by each engine and recorded
//! in `authstar_schema`.

/// One migration: the same SQL for both engines, or each its own (triggers).
pub(crate) enum Step {
    Both(&'static str),
    Each {
        sqlite: &'static str,
        postgres: &'static str,
    },
}

impl Step {
    pub(crate) fn sqlite(&self) -> &'static str {
        match self {
            Self::Both(sql) | Self::Each { sqlite: sql, .. } => sql,
        }
    }

    pub(crate) fn postgres(&self) -> &'static str {
        match self {
            Self::Both(sql) | Self::Each { postgres: sql, .. } => sql,
        }
    }
}

/// The schema versions, shared by both engines: each step is one migration, applied in order
/// and recorded in `authstar_schema`.
pub(crate) const SCHEMA_VERSION: u32 = 10;

/// The migrations, in order, mostly in SQL both engines take (SQLite reads `BIGINT` as an
/// integer):
/// index 0 brings the schema to version 1. Version 1 is the schema from before versioning;
/// `IF NOT EXISTS` adopts those databases.
pub(crate) const MIGRATIONS: [Step; SCHEMA_VERSION as usize] = [
    Step::Both(
        "CREATE TABLE IF NOT EXISTS clients (
        client_id    TEXT PRIMARY KEY,
        secret_hash  TEXT NOT NULL,
        scopes       TEXT NOT NULL,
        created_at   BIGINT NOT NULL,
        last_used_at BIGINT,
        revoked_at   BIGINT
    );
    CREATE TABLE IF NOT EXISTS meta (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS api_keys (
        key_id       TEXT PRIMARY KEY,
        client_id    TEXT NOT NULL REFERENCES clients(client_id),
        key_hash     TEXT NOT NULL,
        scopes       TEXT NOT NULL,
        created_at   BIGINT NOT NULL,
        last_used_at BIGINT,
        revoked_at   BIGINT
    );",
    ),
    // 2: the revision every process polls to drop its caches after a revocation.
    Step::Both(
        "CREATE TABLE revision (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        value BIGINT NOT NULL
    );
    INSERT INTO revision (id, value) VALUES (1, 0);",
    ),
    // 3: access tokens revoked by their jti (RFC 7009), kept until they expire.
    Step::Both(
        "CREATE TABLE revoked_tokens (
        jti        TEXT PRIMARY KEY,
        client_id  TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT NOT NULL
    );
    CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);",
    ),
    // 4: the change log: what each revision revoked, so instances apply it instead of
    // dropping every cache and reloading everything revoked.
    Step::Both(
        "CREATE TABLE revocation_log (
        revision   BIGINT PRIMARY KEY,
        kind       TEXT NOT NULL,
        id         TEXT NOT NULL,
        expires_at BIGINT,
        at         BIGINT NOT NULL
    );
    CREATE INDEX revocation_log_at ON revocation_log (at);",
    ),
    // 5: how each client authenticates (RFC 7591 names), and the public keys of a
    // `private_key_jwt` client (a JWKS document). Existing clients keep their secrets.
    Step::Both(
        "ALTER TABLE clients ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'client_secret_basic';
    ALTER TABLE clients ADD COLUMN jwks TEXT;",
    ),
    // 6: what the TLS certificate of a `tls_client_auth` or `self_signed_tls_client_auth`
    // client must be (RFC 8705 §2): a certificate rule as JSON.
    Step::Both("ALTER TABLE clients ADD COLUMN certificate TEXT;"),
    // 7: API keys that expire, are named, and record the key they were rotated from; the
    // append-only audit log of every change to clients and keys and every token revocation.
    Step::Both(
        "ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
    ALTER TABLE api_keys ADD COLUMN name TEXT;
    ALTER TABLE api_keys ADD COLUMN replaces TEXT;
    CREATE TABLE audit_log (
        seq       BIGINT PRIMARY KEY,
        at        BIGINT NOT NULL,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        client_id TEXT,
        target    TEXT NOT NULL,
        detail    TEXT NOT NULL
    );
    CREATE TABLE audit_counter (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        value BIGINT NOT NULL
    );
    INSERT INTO audit_counter (id, value) VALUES (1, 0);
    CREATE INDEX audit_log_client ON audit_log (client_id, seq);",
    ),
    // 8: a client's own rate limit (a request budget), where it has one.
    Step::Both("ALTER TABLE clients ADD COLUMN rate_limit TEXT;"),
    // 9: an API key's own rate limit, counted besides its client's.
    Step::Both("ALTER TABLE api_keys ADD COLUMN rate_limit TEXT;"),
    // 10: the audit trail refuses to be rewritten: updates and deletes of its rows fail in the
    // database itself (its owner can still drop the trigger, deliberately and visibly).
    Step::Each {
        sqlite: "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
            BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;",
        postgres: "CREATE FUNCTION authstar_append_only() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$;
        CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION authstar_append_only();
        CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
            FOR EACH STATEMENT EXECUTE FUNCTION authstar_append_only();",
    },
];
