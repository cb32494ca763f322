//! The shared engine: PostgreSQL through `tokio-postgres` and a `deadpool` pool.

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

mod changes;
mod rows;
mod schema;

use super::{
    AuditQuery, AuditRow, CHANGE_LOG_RETENTION, Change, ChangeKind, ClientRow,
    DEFAULT_CALL_TIMEOUT, KeyRow, KeyUpdate, LimitRow, MIGRATIONS, REVOKED_KEPT_PAST_EXP,
    RevocationList, Revoked, RevokedToken, SCHEMA_VERSION, Store, StoreError, StoreFuture, Usage,
    sql,
};
use changes::{log_change, revoke, update_logged};
use rows::{audit_row, client_row, key_row, seconds, unsigned};

/// Connections at most per process.
const POOL_SIZE: usize = 16;

/// Held while migrating, so that instances starting together migrate one after the other.
const MIGRATION_LOCK: i64 = 0x6175_7468_7374_6172; // "authstar"

/// The registry's rows in PostgreSQL, for several instances sharing one database. A pool of
/// connections (16 per process); every call, including the wait for a connection, is bounded
/// by the call timeout.
///
/// Connections are not encrypted (`NoTls`): reach a remote server through a TLS tunnel or
/// keep it on a private network.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    timeout: Duration,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may hold a password.
        f.debug_struct("PostgresStore")
            .field("timeout", &self.timeout)
            .field("pool", &self.pool.status())
            .finish()
    }
}

impl PostgresStore {
    /// A store on the database at `url` (`postgres://user:password@host:port/db`). Connects
    /// lazily: an unreachable server fails the first call, not this one. Run
    /// [`Store::migrate`] before use.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with_timeout(url, DEFAULT_CALL_TIMEOUT)
    }

    /// [`connect`](Self::connect) with another call timeout.
    pub fn connect_with_timeout(url: &str, timeout: Duration) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(StoreError::engine)?;
        config.connect_timeout(timeout);
        config.application_name("authstar");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .build()
            .map_err(StoreError::engine)?;
        Ok(Self { pool, timeout })
    }

    /// Runs `work` with a pooled connection, within the call timeout.
    fn call<'a, T, F, Fut>(&'a self, work: F) -> StoreFuture<'a, T>
    where
        T: Send + 'a,
        F: FnOnce(deadpool_postgres::Object) -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'a,
    {
        Box::pin(async move {
            let call = async {
                let client = self.pool.get().await.map_err(|error| match error {
                    deadpool_postgres::PoolError::Timeout(_) => StoreError::Timeout(self.timeout),
                    other => StoreError::engine(other),
                })?;
                work(client).await
            };
            tokio::time::timeout(self.timeout, call)
                .await
                .unwrap_or(Err(StoreError::Timeout(self.timeout)))
        })
    }
}

fn failed(error: tokio_postgres::Error) -> StoreError {
    if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        StoreError::Conflict
    } else {
        StoreError::engine(error)
    }
}

impl Store for PostgresStore {
    fn migrate(&self) -> StoreFuture<'_, u32> {
        self.call(schema::migrate)
    }

    fn init_meta<'a>(&'a self, name: &'a str, value: &'a str) -> StoreFuture<'a, String> {
        self.call(move |client| async move {
            client
                .execute(sql::INIT_META, &[&name, &value])
                .await
                .map_err(failed)?;
            client
                .query_one(sql::META, &[&name])
                .await
                .and_then(|row| row.try_get(0))
                .map_err(failed)
        })
    }

    fn count_clients(&self) -> StoreFuture<'_, u64> {
        self.call(|client| async move {
            let count: i64 = client
                .query_one(sql::COUNT_CLIENTS, &[])
                .await
                .and_then(|row| row.try_get(0))
                .map_err(failed)?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
    }

    fn insert_client<'a>(&'a self, row: &'a ClientRow) -> StoreFuture<'a, ()> {
        self.call(move |client| async move {
            client
                .execute(
                    sql::INSERT_CLIENT,
                    &[
                        &row.client_id,
                        &row.secret_hash,
                        &row.scopes,
                        &seconds(row.created_at),
                        &row.auth_method,
                        &row.jwks,
                        &row.certificate,
                        &row.rate_limit,
                    ],
                )
                .await
                .map_err(failed)?;
            Ok(())
        })
    }

    fn client<'a>(&'a self, client_id: &'a str) -> StoreFuture<'a, Option<ClientRow>> {
        self.call(move |client| async move {
            let statement = client.prepare_cached(sql::CLIENT).await.map_err(failed)?;
            let row = client
                .query_opt(&statement, &[&client_id])
                .await
                .map_err(failed)?;
            row.as_ref().map(client_row).transpose()
        })
    }

    fn clients(&self) -> StoreFuture<'_, Vec<ClientRow>> {
        self.call(|client| async move {
            let rows = client.query(sql::CLIENTS, &[]).await.map_err(failed)?;
            rows.iter().map(client_row).collect()
        })
    }

    fn set_client_certificate<'a>(
        &'a self,
        client_id: &'a str,
        rule: &'a str,
    ) -> StoreFuture<'a, bool> {
        self.call(move |client| async move {
            let changed = client
                .execute(sql::SET_CLIENT_CERTIFICATE, &[&rule, &client_id])
                .await
                .map_err(failed)?;
            Ok(changed == 1)
        })
    }

    fn set_client_jwks<'a>(&'a self, client_id: &'a str, jwks: &'a str) -> StoreFuture<'a, bool> {
        self.call(move |client| async move {
            let changed = client
                .execute(sql::SET_CLIENT_JWKS, &[&jwks, &client_id])
                .await
                .map_err(failed)?;
            Ok(changed == 1)
        })
    }

    fn revoke_client<'a>(&'a self, client_id: &'a str, at: u64) -> StoreFuture<'a, Revoked> {
        self.call(move |client| {
            revoke(
                client,
                ChangeKind::Client,
                (sql::REVOKE_CLIENT, sql::CLIENT_EXISTS),
                client_id,
                at,
            )
        })
    }

    fn insert_key<'a>(&'a self, row: &'a KeyRow) -> StoreFuture<'a, ()> {
        self.call(move |client| async move {
            client
                .execute(
                    sql::INSERT_KEY,
                    &[
                        &row.key_id,
                        &row.client_id,
                        &row.key_hash,
                        &row.scopes,
                        &seconds(row.created_at),
                        &row.expires_at.map(seconds),
                        &row.name,
                        &row.replaces,
                        &row.rate_limit,
                    ],
                )
                .await
                .map_err(failed)?;
            Ok(())
        })
    }

    fn active_key<'a>(&'a self, key_id: &'a str) -> StoreFuture<'a, Option<KeyRow>> {
        self.call(move |client| async move {
            let statement = client
                .prepare_cached(sql::ACTIVE_KEY)
                .await
                .map_err(failed)?;
            let row = client
                .query_opt(&statement, &[&key_id])
                .await
                .map_err(failed)?;
            row.as_ref().map(key_row).transpose()
        })
    }

    fn keys(&self) -> StoreFuture<'_, Vec<KeyRow>> {
        self.call(|client| async move {
            let rows = client.query(sql::KEYS, &[]).await.map_err(failed)?;
            rows.iter().map(key_row).collect()
        })
    }

    fn keys_page<'a>(&'a self, after: &'a str, limit: u32) -> StoreFuture<'a, Vec<KeyRow>> {
        self.call(move |client| async move {
            let statement = client
                .prepare_cached(sql::KEYS_PAGE)
                .await
                .map_err(failed)?;
            let rows = client
                .query(&statement, &[&after, &i64::from(limit)])
                .await
                .map_err(failed)?;
            rows.iter().map(key_row).collect()
        })
    }

    fn rotate_key<'a>(
        &'a self,
        new: &'a KeyRow,
        old: &'a str,
        until: u64,
        at: u64,
    ) -> StoreFuture<'a, bool> {
        self.call(move |mut client| async move {
            let transaction = client.transaction().await.map_err(failed)?;
            let active = transaction
                .query_opt(sql::ACTIVE_KEY, &[&old])
                .await
                .map_err(failed)?
                .is_some();
            if !active {
                return Ok(false);
            }
            transaction
                .execute(
                    sql::INSERT_KEY,
                    &[
                        &new.key_id,
                        &new.client_id,
                        &new.key_hash,
                        &new.scopes,
                        &seconds(new.created_at),
                        &new.expires_at.map(seconds),
                        &new.name,
                        &new.replaces,
                        &new.rate_limit,
                    ],
                )
                .await
                .map_err(failed)?;
            transaction
                .execute(sql::SET_KEY_EXPIRY, &[&seconds(until), &old])
                .await
                .map_err(failed)?;
            let limited = transaction
                .execute(sql::COPY_KEY_RATE_LIMIT, &[&old, &new.key_id])
                .await
                .map_err(failed)?;
            log_change(&transaction, ChangeKind::Key, old, None, at).await?;
            if limited == 1 {
                // The new key's limit (the old one's), for every instance to read.
                log_change(&transaction, ChangeKind::KeyLimits, &new.key_id, None, at).await?;
            }
            transaction.commit().await.map_err(failed)?;
            Ok(true)
        })
    }

    fn clients_page<'a>(&'a self, after: &'a str, limit: u32) -> StoreFuture<'a, Vec<ClientRow>> {
        self.call(move |client| async move {
            let statement = client
                .prepare_cached(sql::CLIENTS_PAGE)
                .await
                .map_err(failed)?;
            let rows = client
                .query(&statement, &[&after, &i64::from(limit)])
                .await
                .map_err(failed)?;
            rows.iter().map(client_row).collect()
        })
    }

    fn set_client_scopes<'a>(
        &'a self,
        client_id: &'a str,
        scopes: &'a str,
    ) -> StoreFuture<'a, bool> {
        self.call(move |client| async move {
            update_logged(
                client,
                sql::SET_CLIENT_SCOPES,
                &[&scopes, &client_id],
                ChangeKind::Scopes,
                client_id,
            )
            .await
        })
    }

    fn set_client_rate_limit<'a>(
        &'a self,
        client_id: &'a str,
        limit: Option<&'a str>,
    ) -> StoreFuture<'a, bool> {
        self.call(move |client| async move {
            update_logged(
                client,
                sql::SET_CLIENT_RATE_LIMIT,
                &[&limit, &client_id],
                ChangeKind::Limits,
                client_id,
            )
            .await
        })
    }

    fn update_key<'a>(&'a self, key_id: &'a str, update: KeyUpdate<'a>) -> StoreFuture<'a, bool> {
        let (statement, kind) = update.statement();
        // Only a key that works now: unexpired at this moment.
        let now = seconds(crate::now());
        self.call(move |client| async move {
            match update {
                KeyUpdate::RateLimit(limit) => {
                    update_logged(client, statement, &[&limit, &key_id, &now], kind, key_id).await
                }
                KeyUpdate::Expiry(at) => {
                    let at = at.map(seconds);
                    update_logged(client, statement, &[&at, &key_id, &now], kind, key_id).await
                }
            }
        })
    }

    fn rate_limits(&self) -> StoreFuture<'_, Vec<LimitRow>> {
        self.call(|client| async move {
            let rows = client.query(sql::RATE_LIMITS, &[]).await.map_err(failed)?;
            rows.iter()
                .map(|row| {
                    Ok(LimitRow {
                        client_id: row.try_get(0).map_err(failed)?,
                        key_id: row.try_get(1).map_err(failed)?,
                        limit: row.try_get(2).map_err(failed)?,
                    })
                })
                .collect()
        })
    }

    fn append_audit<'a>(&'a self, row: &'a AuditRow) -> StoreFuture<'a, u64> {
        self.call(move |mut client| async move {
            let transaction = client.transaction().await.map_err(failed)?;
            let seq: i64 = transaction
                .query_one(sql::BUMP_AUDIT, &[])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(failed)?;
            transaction
                .execute(
                    sql::APPEND_AUDIT,
                    &[
                        &seq,
                        &seconds(row.at),
                        &row.actor,
                        &row.action,
                        &row.client_id,
                        &row.target,
                        &row.detail,
                    ],
                )
                .await
                .map_err(failed)?;
            transaction.commit().await.map_err(failed)?;
            Ok(u64::try_from(seq).unwrap_or(0))
        })
    }

    fn audit_page<'a>(&'a self, query: &'a AuditQuery) -> StoreFuture<'a, Vec<AuditRow>> {
        self.call(move |client| async move {
            let owner = query.client_id.clone().unwrap_or_default();
            let statement = client
                .prepare_cached(sql::AUDIT_PAGE)
                .await
                .map_err(failed)?;
            let rows = client
                .query(
                    &statement,
                    &[
                        &seconds(query.since),
                        &seconds(query.after.unwrap_or(0)),
                        &owner,
                        &i64::from(query.limit),
                    ],
                )
                .await
                .map_err(failed)?;
            rows.iter().map(audit_row).collect()
        })
    }

    fn revoke_key<'a>(&'a self, key_id: &'a str, at: u64) -> StoreFuture<'a, Revoked> {
        self.call(move |client| {
            revoke(
                client,
                ChangeKind::Key,
                (sql::REVOKE_KEY, sql::KEY_EXISTS),
                key_id,
                at,
            )
        })
    }

    fn record_usage<'a>(&'a self, uses: &'a [Usage]) -> StoreFuture<'a, ()> {
        self.call(move |mut client| async move {
            let transaction = client.transaction().await.map_err(failed)?;
            for used in uses {
                let (statement, id, at) = match used {
                    Usage::Client { client_id, at } => (sql::CLIENT_USED, client_id, at),
                    Usage::Key { key_id, at } => (sql::KEY_USED, key_id, at),
                };
                transaction
                    .execute(statement, &[&seconds(*at), id])
                    .await
                    .map_err(failed)?;
            }
            transaction.commit().await.map_err(failed)
        })
    }

    fn revision(&self) -> StoreFuture<'_, u64> {
        self.call(|client| async move {
            let statement = client.prepare_cached(sql::REVISION).await.map_err(failed)?;
            let value: i64 = client
                .query_one(&statement, &[])
                .await
                .and_then(|row| row.try_get(0))
                .map_err(failed)?;
            Ok(u64::try_from(value).unwrap_or(0))
        })
    }

    fn revoke_token<'a>(&'a self, token: &'a RevokedToken, at: u64) -> StoreFuture<'a, Revoked> {
        self.call(move |mut client| async move {
            let transaction = client.transaction().await.map_err(failed)?;
            let inserted = transaction
                .execute(
                    sql::INSERT_REVOKED_TOKEN,
                    &[
                        &token.jti,
                        &token.client_id,
                        &seconds(token.expires_at),
                        &seconds(at),
                    ],
                )
                .await
                .map_err(failed)?;
            if inserted > 0 {
                log_change(
                    &transaction,
                    ChangeKind::Token,
                    &token.jti,
                    Some(token.expires_at),
                    at,
                )
                .await?;
            }
            transaction
                .execute(
                    sql::PURGE_REVOKED_TOKENS,
                    &[&seconds(at.saturating_sub(REVOKED_KEPT_PAST_EXP))],
                )
                .await
                .map_err(failed)?;
            transaction.commit().await.map_err(failed)?;
            Ok(if inserted > 0 {
                Revoked::Now
            } else {
                Revoked::Already
            })
        })
    }

    fn revocations(&self, since: u64) -> StoreFuture<'_, RevocationList> {
        self.call(move |client| async move {
            let tokens = client
                .query(sql::REVOKED_TOKENS, &[&seconds(since)])
                .await
                .map_err(failed)?;
            let clients = client
                .query(sql::REVOKED_CLIENTS, &[])
                .await
                .map_err(failed)?;
            let tokens = tokens
                .iter()
                .map(|row| {
                    let exp: i64 = row.try_get(1).map_err(failed)?;
                    Ok((
                        row.try_get(0).map_err(failed)?,
                        u64::try_from(exp).unwrap_or(0),
                    ))
                })
                .collect::<Result<_, StoreError>>()?;
            let clients = clients
                .iter()
                .map(|row| row.try_get(0).map_err(failed))
                .collect::<Result<_, StoreError>>()?;
            Ok(RevocationList { tokens, clients })
        })
    }

    fn changes_since(&self, revision: u64, limit: u32) -> StoreFuture<'_, Vec<Change>> {
        self.call(move |client| async move {
            let statement = client
                .prepare_cached(sql::CHANGES_SINCE)
                .await
                .map_err(failed)?;
            let rows = client
                .query(&statement, &[&seconds(revision), &i64::from(limit)])
                .await
                .map_err(failed)?;
            rows.iter()
                .map(|row| {
                    let revision: i64 = row.try_get(0).map_err(failed)?;
                    let kind: &str = row.try_get(1).map_err(failed)?;
                    let expires_at: Option<i64> = row.try_get(3).map_err(failed)?;
                    Ok(Change {
                        revision: u64::try_from(revision).unwrap_or(0),
                        kind: ChangeKind::parse(kind),
                        id: row.try_get(2).map_err(failed)?,
                        expires_at: unsigned(expires_at),
                    })
                })
                .collect()
        })
    }
}
