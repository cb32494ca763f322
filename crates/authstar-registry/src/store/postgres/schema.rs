//! Bringing a PostgreSQL database to this build's schema.

use super::rows::seconds;
use super::{MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION, StoreError, failed, sql};

/// Applies the migrations the database lacks, in one transaction, holding an advisory lock so
/// that instances starting together migrate one after the other; the version it is now at.
pub(super) async fn migrate(mut client: deadpool_postgres::Object) -> Result<u32, StoreError> {
    let transaction = client.transaction().await.map_err(failed)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed)?;
    transaction
        .batch_execute(sql::CREATE_SCHEMA_TABLE)
        .await
        .map_err(failed)?;
    let found: i32 = transaction
        .query_one(sql::SCHEMA_VERSION_FOUND, &[])
        .await
        .and_then(|row| row.try_get(0))
        .map_err(failed)?;
    let found = u32::try_from(found).unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (version, migration) in (1_i32..).zip(MIGRATIONS).skip(found as usize) {
        transaction
            .batch_execute(migration.postgres())
            .await
            .map_err(failed)?;
        transaction
            .execute(sql::RECORD_VERSION, &[&version, &seconds(crate::now())])
            .await
            .map_err(failed)?;
        tracing::debug!(version, "authstar registry: PostgreSQL schema migrated");
    }
    transaction.commit().await.map_err(failed)?;
    Ok(SCHEMA_VERSION)
}
