//! Rows read from SQLite into the store's row types.

use super::{AuditRow, ClientRow, KeyRow};

pub(super) fn client_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ClientRow> {
    Ok(ClientRow {
        client_id: row.get(0)?,
        secret_hash: row.get(1)?,
        scopes: row.get(2)?,
        created_at: row.get(3)?,
        last_used_at: row.get(4)?,
        revoked_at: row.get(5)?,
        auth_method: row.get(6)?,
        jwks: row.get(7)?,
        certificate: row.get(8)?,
        rate_limit: row.get(9)?,
    })
}

pub(super) fn key_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    Ok(KeyRow {
        key_id: row.get(0)?,
        client_id: row.get(1)?,
        key_hash: row.get(2)?,
        scopes: row.get(3)?,
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
        revoked_at: row.get(6)?,
        expires_at: row.get(7)?,
        name: row.get(8)?,
        replaces: row.get(9)?,
        rate_limit: row.get(10)?,
        // Only `ACTIVE_KEY` reads the client's scopes along.
        client_scopes: row.get(11).ok().flatten(),
    })
}

pub(super) fn audit_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        seq: row.get(0)?,
        at: row.get(1)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        client_id: row.get(4)?,
        target: row.get(5)?,
        detail: row.get(6)?,
    })
}
