//! The change log, written in the transaction of the change it records.

use rusqlite::{Connection, OptionalExtension, params};

use super::{CHANGE_LOG_RETENTION, ChangeKind, Revoked, StoreError, failed, sql};

/// A write transaction, holding the write lock from its first statement: a deferred one that
/// reads first fails at once (`SQLITE_BUSY`, which no busy timeout waits out) when another
/// connection or process writes between its read and its write.
pub(super) fn write(connection: &mut Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    connection
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(failed)
}

/// Bumps the revision and logs what it revoked, inside `transaction`; drops log entries past
/// their retention.
pub(super) fn log_change(
    transaction: &rusqlite::Transaction<'_>,
    kind: ChangeKind,
    id: &str,
    expires_at: Option<u64>,
    at: u64,
) -> Result<(), StoreError> {
    let revision: i64 = transaction
        .query_row(sql::BUMP_REVISION, [], |row| row.get(0))
        .map_err(failed)?;
    transaction
        .execute(
            sql::LOG_CHANGE,
            params![revision, kind.as_str(), id, expires_at, at],
        )
        .map_err(failed)?;
    transaction
        .execute(
            sql::PURGE_CHANGES,
            params![at.saturating_sub(CHANGE_LOG_RETENTION)],
        )
        .map_err(failed)?;
    Ok(())
}

/// Revokes one row (`sql_update` takes the time, then the id), bumping the revision and logging
/// the change in the same transaction when it changed.
pub(super) fn revoke(
    connection: &mut Connection,
    kind: ChangeKind,
    (sql_update, sql_exists): (&str, &str),
    id: &str,
    at: u64,
) -> Result<Revoked, StoreError> {
    let transaction = write(connection)?;
    let changed = transaction
        .execute(sql_update, params![at, id])
        .map_err(failed)?;
    let outcome = if changed > 0 {
        log_change(&transaction, kind, id, None, at)?;
        Revoked::Now
    } else if transaction
        .query_row(sql_exists, [id], |_| Ok(()))
        .optional()
        .map_err(failed)?
        .is_some()
    {
        Revoked::Already
    } else {
        Revoked::Unknown
    };
    transaction.commit().map_err(failed)?;
    Ok(outcome)
}

/// Sets one column of the active client or key `id` (`sql` takes `values`: the value, the id,
/// and whatever else its conditions ask) and logs the change as `kind` in the same
/// transaction; whether the row was there to change.
pub(super) fn update_logged(
    connection: &mut Connection,
    sql: &str,
    values: &[&dyn rusqlite::ToSql],
    kind: ChangeKind,
    id: &str,
) -> Result<bool, StoreError> {
    let transaction = write(connection)?;
    let changed = transaction.execute(sql, values).map_err(failed)?;
    if changed == 1 {
        log_change(&transaction, kind, id, None, crate::store::now_seconds())?;
    }
    transaction.commit().map_err(failed)?;
    Ok(changed == 1)
}
