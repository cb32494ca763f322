//! Rows read from PostgreSQL into the store's row types (BIGINT seconds as `u64`).

use tokio_postgres::Row;

use super::{AuditRow, ClientRow, KeyRow, StoreError, failed};

pub(super) fn client_row(row: &Row) -> Result<ClientRow, StoreError> {
    Ok(ClientRow {
        client_id: row.try_get(0).map_err(failed)?,
        secret_hash: row.try_get(1).map_err(failed)?,
        scopes: row.try_get(2).map_err(failed)?,
        created_at: unsigned(row.try_get(3).map_err(failed)?).unwrap_or(0),
        last_used_at: unsigned(row.try_get(4).map_err(failed)?),
        revoked_at: unsigned(row.try_get(5).map_err(failed)?),
        auth_method: row.try_get(6).map_err(failed)?,
        jwks: row.try_get(7).map_err(failed)?,
        certificate: row.try_get(8).map_err(failed)?,
        rate_limit: row.try_get(9).map_err(failed)?,
    })
}

pub(super) fn key_row(row: &Row) -> Result<KeyRow, StoreError> {
    Ok(KeyRow {
        key_id: row.try_get(0).map_err(failed)?,
        client_id: row.try_get(1).map_err(failed)?,
        key_hash: row.try_get(2).map_err(failed)?,
        scopes: row.try_get(3).map_err(failed)?,
        created_at: unsigned(row.try_get(4).map_err(failed)?).unwrap_or(0),
        last_used_at: unsigned(row.try_get(5).map_err(failed)?),
        revoked_at: unsigned(row.try_get(6).map_err(failed)?),
        expires_at: unsigned(row.try_get(7).map_err(failed)?),
        name: row.try_get(8).map_err(failed)?,
        replaces: row.try_get(9).map_err(failed)?,
        rate_limit: row.try_get(10).map_err(failed)?,
        // Only `ACTIVE_KEY` reads the client's scopes along.
        client_scopes: row.try_get(11).ok().flatten(),
    })
}

pub(super) fn audit_row(row: &Row) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        seq: unsigned(row.try_get(0).map_err(failed)?).unwrap_or(0),
        at: unsigned(row.try_get(1).map_err(failed)?).unwrap_or(0),
        actor: row.try_get(2).map_err(failed)?,
        action: row.try_get(3).map_err(failed)?,
        client_id: row.try_get(4).map_err(failed)?,
        target: row.try_get(5).map_err(failed)?,
        detail: row.try_get(6).map_err(failed)?,
    })
}

pub(super) fn seconds(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn unsigned(value: Option<i64>) -> Option<u64> {
    value.map(|v| u64::try_from(v).unwrap_or(0))
}
