//! The change log, written in the transaction of the change it records.

use super::{CHANGE_LOG_RETENTION, ChangeKind, Revoked, StoreError, failed, seconds, sql};

/// Bumps the revision and logs what it revoked, inside `transaction`; drops log entries past
/// their retention.
pub(super) async fn log_change(
    transaction: &deadpool_postgres::Transaction<'_>,
    kind: ChangeKind,
    id: &str,
    expires_at: Option<u64>,
    at: u64,
) -> Result<(), StoreError> {
    let revision: i64 = transaction
        .query_one(sql::BUMP_REVISION, &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(failed)?;
    transaction
        .execute(
            sql::LOG_CHANGE,
            &[
                &revision,
                &kind.as_str(),
                &id,
                &expires_at.map(seconds),
                &seconds(at),
            ],
        )
        .await
        .map_err(failed)?;
    transaction
        .execute(
            sql::PURGE_CHANGES,
            &[&seconds(at.saturating_sub(CHANGE_LOG_RETENTION))],
        )
        .await
        .map_err(failed)?;
    Ok(())
}

/// Revokes one row (`sql_update` takes the time, then the id), bumping the revision and logging
/// the change in the same transaction when it changed.
pub(super) async fn revoke(
    mut client: deadpool_postgres::Object,
    kind: ChangeKind,
    (sql_update, sql_exists): (&str, &str),
    id: &str,
    at: u64,
) -> Result<Revoked, StoreError> {
    let transaction = client.transaction().await.map_err(failed)?;
    let changed = transaction
        .execute(sql_update, &[&seconds(at), &id])
        .await
        .map_err(failed)?;
    let outcome = if changed > 0 {
        log_change(&transaction, kind, id, None, at).await?;
        Revoked::Now
    } else if transaction
        .query_opt(sql_exists, &[&id])
        .await
        .map_err(failed)?
        .is_some()
    {
        Revoked::Already
    } else {
        Revoked::Unknown
    };
    transaction.commit().await.map_err(failed)?;
    Ok(outcome)
}

/// Sets one column of the active client or key `id` (`sql` takes `values`: the value, the id,
/// and whatever else its conditions ask) and logs the change as `kind` in the same
/// transaction; whether the row was there to change.
pub(super) async fn update_logged(
    mut client: deadpool_postgres::Object,
    sql: &str,
    values: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    kind: ChangeKind,
    id: &str,
) -> Result<bool, StoreError> {
    let transaction = client.transaction().await.map_err(failed)?;
    let changed = transaction.execute(sql, values).await.map_err(failed)?;
    if changed == 1 {
        log_change(&transaction, kind, id, None, crate::store::now_seconds()).await?;
    }
    transaction.commit().await.map_err(failed)?;
    Ok(changed == 1)
}
