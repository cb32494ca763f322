//! The embedded engine: a SQLite file, several connections, calls on tokio's blocking threads.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

mod changes;
mod rows;
mod schema;

use super::{
    AuditQuery, AuditRow, CHANGE_LOG_RETENTION, Change, ChangeKind, ClientRow,
    DEFAULT_CALL_TIMEOUT, KeyRow, KeyUpdate, LimitRow, MIGRATIONS, REVOKED_KEPT_PAST_EXP,
    RevocationList, Revoked, RevokedToken, SCHEMA_VERSION, Store, StoreError, StoreFuture, Usage,
    sql,
};
use changes::{log_change, revoke, update_logged, write};
use rows::{audit_row, client_row, key_row};

/// Connections kept open between calls; more are opened under load and closed after.
const IDLE_CONNECTIONS: usize = 8;

/// The registry's rows in a SQLite file (WAL mode), shared safely by every process on the host
/// that opens the same file. Calls run on tokio's blocking threads, each on a connection of
/// its own: no lock is held across a query.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    timeout: Duration,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating, readable by its owner only) the database file at `path`. Run
    /// [`Store::migrate`] before use.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with_timeout(path, DEFAULT_CALL_TIMEOUT)
    }

    /// [`open`](Self::open) with another call timeout (also SQLite's busy timeout: how long a
    /// call waits for another process's write).
    pub fn open_with_timeout(path: &Path, timeout: Duration) -> Result<Self, StoreError> {
        // SQLite gives the -wal and -shm files the database file's permissions.
        match crate::secrets::create_private(path) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Some(mode) = crate::secrets::shared_mode(path) {
                    // Hashes under a pepper kept elsewhere: not a secret by themselves, but
                    // nobody else has any business reading them.
                    tracing::warn!(
                        path = %path.display(),
                        mode = format_args!("{mode:o}"),
                        "authstar registry: the database file is readable by other users: run \
                         `chmod 600` on it (and its -wal and -shm files)"
                    );
                }
            }
            Err(error) => return Err(StoreError::engine(error)),
        }
        let first = connect(path, timeout).map_err(StoreError::engine)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                idle: Mutex::new(vec![first]),
                timeout,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` on a blocking thread with a connection of its own.
    fn call<T, F>(&self, work: F) -> StoreFuture<'static, T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let timeout = inner.timeout;
        Box::pin(async move {
            let blocking = tokio::task::spawn_blocking(move || {
                let idle = inner
                    .idle
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop();
                let mut connection = match idle {
                    Some(connection) => connection,
                    None => connect(&inner.path, inner.timeout).map_err(StoreError::engine)?,
                };
                let result = work(&mut connection);
                let mut idle = inner.idle.lock().unwrap_or_else(PoisonError::into_inner);
                if idle.len() < IDLE_CONNECTIONS {
                    idle.push(connection);
                }
                result
            });
            // The busy timeout bounds lock waits; this bounds everything else (a full
            // blocking pool, a slow disk).
            match tokio::time::timeout(timeout * 2, blocking).await {
                Ok(Ok(result)) => result,
                Ok(Err(join)) => Err(StoreError::engine(join)),
                Err(_) => Err(StoreError::Timeout(timeout)),
            }
        })
    }
}

fn connect(path: &Path, timeout: Duration) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(timeout)?;
    connection.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")?;
    Ok(connection)
}

fn failed(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(code, _)
            if code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                || code.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            StoreError::Conflict
        }
        _ => StoreError::engine(error),
    }
}

impl Store for SqliteStore {
    fn migrate(&self) -> StoreFuture<'_, u32> {
        self.call(schema::migrate)
    }

    fn init_meta<'a>(&'a self, name: &'a str, value: &'a str) -> StoreFuture<'a, String> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.call(move |connection| {
            connection
                .execute(sql::INIT_META, params![name, value])
                .map_err(failed)?;
            connection
                .query_row(sql::META, [name], |row| row.get(0))
                .map_err(failed)
        })
    }

    fn count_clients(&self) -> StoreFuture<'_, u64> {
        self.call(|connection| {
            connection
                .query_row(sql::COUNT_CLIENTS, [], |row| row.get(0))
                .map_err(failed)
        })
    }

    fn insert_client<'a>(&'a self, row: &'a ClientRow) -> StoreFuture<'a, ()> {
        let row = row.clone();
        self.call(move |connection| {
            connection
                .execute(
                    sql::INSERT_CLIENT,
                    params![
                        row.client_id,
                        row.secret_hash,
                        row.scopes,
                        row.created_at,
                        row.auth_method,
                        row.jwks,
                        row.certificate,
                        row.rate_limit
                    ],
                )
                .map_err(failed)?;
            Ok(())
        })
    }

    fn client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<ClientRow>> {
        let client_id = client_id.to_owned();
        self.call(move |connection| {
            connection
                .prepare_cached(sql::CLIENT)
                .and_then(|mut statement| statement.query_row([client_id], client_row).optional())
                .map_err(failed)
        })
    }

    fn clients(&self) -> StoreFuture<'_, Vec<ClientRow>> {
        self.call(|connection| {
            let mut statement = connection.prepare(sql::CLIENTS).map_err(failed)?;
            let rows = statement.query_map([], client_row).map_err(failed)?;
            rows.collect::<Result<_, _>>().map_err(failed)
        })
    }

    fn set_client_certificate<'a>(
        &'a self,
        client_id: &'a str,
        rule: &'a str,
    ) -> StoreFuture<'a, bool> {
        let (client_id, rule) = (client_id.to_owned(), rule.to_owned());
        self.call(move |connection| {
            let changed = connection
                .execute(sql::SET_CLIENT_CERTIFICATE, params![rule, client_id])
                .map_err(failed)?;
            Ok(changed == 1)
        })
    }

    fn set_client_jwks<'a>(&'a self, client_id: &'a str, jwks: &'a str) -> StoreFuture<'a, bool> {
        let (client_id, jwks) = (client_id.to_owned(), jwks.to_owned());
        self.call(move |connection| {
            let changed = connection
                .execute(sql::SET_CLIENT_JWKS, params![jwks, client_id])
                .map_err(failed)?;
            Ok(changed == 1)
        })
    }

    fn revoke_client<'a>(&'a self, client_id: &'a str, at: u64) -> StoreFuture<'a, Revoked> {
        let client_id = client_id.to_owned();
        self.call(move |connection| {
            revoke(
                connection,
                ChangeKind::Client,
                (sql::REVOKE_CLIENT, sql::CLIENT_EXISTS),
                &client_id,
                at,
            )
        })
    }

    fn insert_key<'a>(&'a self, row: &'a KeyRow) -> StoreFuture<'a, ()> {
        let row = row.clone();
        self.call(move |connection| {
            connection
                .execute(
                    sql::INSERT_KEY,
                    params![
                        row.key_id,
                        row.client_id,
                        row.key_hash,
                        row.scopes,
                        row.created_at,
                        row.expires_at,
                        row.name,
                        row.replaces,
                        row.rate_limit
                    ],
                )
                .map_err(failed)?;
            Ok(())
        })
    }

    fn active_key<'a>(&'a self, key_id: &'a str) -> StoreFuture<'a, Option<KeyRow>> {
        let key_id = key_id.to_owned();
        self.call(move |connection| {
            connection
                .prepare_cached(sql::ACTIVE_KEY)
                .and_then(|mut statement| statement.query_row([key_id], key_row).optional())
                .map_err(failed)
        })
    }

    fn keys(&self) -> StoreFuture<'_, Vec<KeyRow>> {
        self.call(|connection| {
            let mut statement = connection.prepare(sql::KEYS).map_err(failed)?;
            let rows = statement.query_map([], key_row).map_err(failed)?;
            rows.collect::<Result<_, _>>().map_err(failed)
        })
    }

    fn keys_page<'a>(&'a self, after: &'a str, limit: u32) -> StoreFuture<'a, Vec<KeyRow>> {
        let after = after.to_owned();
        self.call(move |connection| {
            let mut statement = connection.prepare_cached(sql::KEYS_PAGE).map_err(failed)?;
            let rows = statement
                .query_map(params![after, limit], key_row)
                .map_err(failed)?;
            rows.collect::<Result<_, _>>().map_err(failed)
        })
    }

    fn rotate_key<'a>(
        &'a self,
        new: &'a KeyRow,
        old: &'a str,
        until: u64,
        at: u64,
    ) -> StoreFuture<'a, bool> {
        let (new, old) = (new.clone(), old.to_owned());
        self.call(move |connection| {
            let transaction = write(connection)?;
            let active = transaction
                .query_row(sql::ACTIVE_KEY, [&old], |_| Ok(()))
                .optional()
                .map_err(failed)?
                .is_some();
            if !active {
                return Ok(false);
            }
            transaction
                .execute(
                    sql::INSERT_KEY,
                    params![
                        new.key_id,
                        new.client_id,
                        new.key_hash,
                        new.scopes,
                        new.created_at,
                        new.expires_at,
                        new.name,
                        new.replaces,
                        new.rate_limit
                    ],
                )
                .map_err(failed)?;
            transaction
                .execute(sql::SET_KEY_EXPIRY, params![until, old])
                .map_err(failed)?;
            let limited = transaction
                .execute(sql::COPY_KEY_RATE_LIMIT, params![old, new.key_id])
                .map_err(failed)?;
            log_change(&transaction, ChangeKind::Key, &old, None, at)?;
            if limited == 1 {
                // The new key's limit (the old one's), for every instance to read.
                log_change(&transaction, ChangeKind::KeyLimits, &new.key_id, None, at)?;
            }
            transaction.commit().map_err(failed)?;
            Ok(true)
        })
    }

    fn clients_page<'a>(&'a self, after: &'a str, limit: u32) -> StoreFuture<'a, Vec<ClientRow>> {
        let after = after.to_owned();
        self.call(move |connection| {
            let mut statement = connection
                .prepare_cached(sql::CLIENTS_PAGE)
                .map_err(failed)?;
            let rows = statement
                .query_map(params![after, limit], client_row)
                .map_err(failed)?;
            rows.collect::<Result<_, _>>().map_err(failed)
        })
    }

    fn set_client_scopes<'a>(
        &'a self,
        client_id: &'a str,
        scopes: &'a str,
    ) -> StoreFuture<'a, bool> {
        let (client_id, scopes) = (client_id.to_owned(), scopes.to_owned());
        self.call(move |connection| {
            update_logged(
                connection,
                sql::SET_CLIENT_SCOPES,
                &[&scopes, &client_id],
                ChangeKind::Scopes,
                &client_id,
            )
        })
    }

    fn set_client_rate_limit<'a>(
        &'a self,
        client_id: &'a str,
        limit: Option<&'a str>,
    ) -> StoreFuture<'a, bool> {
        let (client_id, limit) = (client_id.to_owned(), limit.map(str::to_owned));
        self.call(move |connection| {
            update_logged(
                connection,
                sql::SET_CLIENT_RATE_LIMIT,
                &[&limit, &client_id],
                ChangeKind::Limits,
                &client_id,
            )
        })
    }

    fn update_key<'a>(&'a self, key_id: &'a str, update: KeyUpdate<'a>) -> StoreFuture<'a, bool> {
        let (statement, kind) = update.statement();
        let key_id = key_id.to_owned();
        let value: Box<dyn rusqlite::ToSql + Send> = match update {
            KeyUpdate::RateLimit(limit) => Box::new(limit.map(str::to_owned)),
            KeyUpdate::Expiry(at) => Box::new(at),
        };
        // Only a key that works now: unexpired at this moment.
        let now = crate::now();
        self.call(move |connection| {
            update_logged(
                connection,
                statement,
                &[&*value, &key_id, &now],
                kind,
                &key_id,
            )
        })
    }

    fn rate_limits(&self) -> StoreFuture<'_, Vec<LimitRow>> {
        self.call(|connection| {
            let mut statement = connection.prepare(sql::RATE_LIMITS).map_err(failed)?;
            let rows = statement
                .query_map([], |row| {
                    Ok(LimitRow {
                        client_id: row.get(0)?,
                        key_id: row.get(1)?,
                        limit: row.get(2)?,
                    })
                })
                .map_err(failed)?;
            rows.collect::<Result<_, _>>().map_err(failed)
        })
    }

    fn append_audit<'a>(&'a self, row: &'a AuditRow) -> StoreFuture<'a, u64> {
        let row = row.clone();
        self.call(move |connection| {
            let transaction = write(connection)?;
            let seq: u64 = transaction
                .query_row(sql::BUMP_AUDIT, [], |r| r.get(0))
                .map_err(failed)?;
            transaction
                .execute(
                    sql::APPEND_AUDIT,
                    params![
                        seq,
                        row.at,
                        row.actor,
                        row.action,
                        row.client_id,
                        row.target,
                        row.detail
                    ],
                )
                .map_err(failed)?;
            transaction.commit().map_err(failed)?;
            Ok(seq)
        })
    }

    fn audit_page<'a>(&'a self, query: &'a AuditQuery) -> StoreFuture<'a, Vec<AuditRow>> {
        let query = query.clone();
        self.call(move |connection| {
            let client = query.client_id.unwrap_or_default();
            let mut statement = connection.prepare_cached(sql::AUDIT_PAGE).map_err(failed)?;
            let rows = statement
                .query_map(
                    params![query.since, query.after.unwrap_or(0), client, query.limit],
                    audit_row,
                )
                .map_err(failed)?;
            rows.collect::<Result<_, _>>().map_err(failed)
        })
    }

    fn revoke_key<'a>(&'a self, key_id: &'a str, at: u64) -> StoreFuture<'a, Revoked> {
        let key_id = key_id.to_owned();
        self.call(move |connection| {
            revoke(
                connection,
                ChangeKind::Key,
                (sql::REVOKE_KEY, sql::KEY_EXISTS),
                &key_id,
                at,
            )
        })
    }

    fn record_usage<'a>(&'a self, uses: &'a [Usage]) -> StoreFuture<'a, ()> {
        let uses = uses.to_vec();
        self.call(move |connection| {
            let transaction = write(connection)?;
            for used in &uses {
                let (statement, id, at) = match used {
                    Usage::Client { client_id, at } => (sql::CLIENT_USED, client_id, at),
                    Usage::Key { key_id, at } => (sql::KEY_USED, key_id, at),
                };
                transaction
                    .execute(statement, params![at, id])
                    .map_err(failed)?;
            }
            transaction.commit().map_err(failed)
        })
    }

    fn revision(&self) -> StoreFuture<'_, u64> {
        self.call(|connection| {
            connection
                .prepare_cached(sql::REVISION)
                .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
                .map_err(failed)
        })
    }

    fn revoke_token<'a>(&'a self, token: &'a RevokedToken, at: u64) -> StoreFuture<'a, Revoked> {
        let token = token.clone();
        self.call(move |connection| {
            let transaction = write(connection)?;
            let inserted = transaction
                .execute(
                    sql::INSERT_REVOKED_TOKEN,
                    params![token.jti, token.client_id, token.expires_at, at],
                )
                .map_err(failed)?;
            if inserted > 0 {
                log_change(
                    &transaction,
                    ChangeKind::Token,
                    &token.jti,
                    Some(token.expires_at),
                    at,
                )?;
            }
            transaction
                .execute(
                    sql::PURGE_REVOKED_TOKENS,
                    params![at.saturating_sub(REVOKED_KEPT_PAST_EXP)],
                )
                .map_err(failed)?;
            transaction.commit().map_err(failed)?;
            Ok(if inserted > 0 {
                Revoked::Now
            } else {
                Revoked::Already
            })
        })
    }

    fn revocations(&self, since: u64) -> StoreFuture<'_, RevocationList> {
        self.call(move |connection| {
            let mut tokens = connection
                .prepare_cached(sql::REVOKED_TOKENS)
                .map_err(failed)?;
            let tokens = tokens
                .query_map([since], |row| Ok((row.get(0)?, row.get(1)?)))
                .and_then(Iterator::collect)
                .map_err(failed)?;
            let mut clients = connection
                .prepare_cached(sql::REVOKED_CLIENTS)
                .map_err(failed)?;
            let clients = clients
                .query_map([], |row| row.get(0))
                .and_then(Iterator::collect)
                .map_err(failed)?;
            Ok(RevocationList { tokens, clients })
        })
    }

    fn changes_since(&self, revision: u64, limit: u32) -> StoreFuture<'_, Vec<Change>> {
        self.call(move |connection| {
            let mut statement = connection
                .prepare_cached(sql::CHANGES_SINCE)
                .map_err(failed)?;
            let rows = statement
                .query_map(params![revision, limit], |row| {
                    let kind: String = row.get(1)?;
                    Ok((row.get::<_, u64>(0)?, kind, row.get(2)?, row.get(3)?))
                })
                .map_err(failed)?;
            let mut changes = Vec::new();
            for row in rows {
                let (revision, kind, id, expires_at) = row.map_err(failed)?;
                let kind = ChangeKind::parse(&kind);
                changes.push(Change {
                    revision,
                    kind,
                    id,
                    expires_at,
                });
            }
            Ok(changes)
        })
    }
}
