//! Bringing a SQLite database to this build's schema.

use rusqlite::{Connection, params};

use super::changes::write;
use super::{MIGRATIONS, SCHEMA_VERSION, StoreError, failed, sql};

/// Applies the migrations the database lacks, in one transaction; the version it is now at.
pub(super) fn migrate(connection: &mut Connection) -> Result<u32, StoreError> {
    // IMMEDIATE takes the write lock now: a second process migrating waits, then
    // finds nothing left to do.
    let transaction = write(connection)?;
    transaction
        .execute(sql::CREATE_SCHEMA_TABLE, [])
        .map_err(failed)?;
    let found: u32 = transaction
        .query_row(sql::SCHEMA_VERSION_FOUND, [], |row| row.get(0))
        .map_err(failed)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (version, migration) in (1..).zip(MIGRATIONS).skip(found as usize) {
        transaction
            .execute_batch(migration.sqlite())
            .map_err(failed)?;
        transaction
            .execute(sql::RECORD_VERSION, params![version, crate::now()])
            .map_err(failed)?;
        tracing::debug!(version, "authstar registry: SQLite schema migrated");
    }
    transaction.commit().map_err(failed)?;
    Ok(SCHEMA_VERSION)
}
