//! The `ReproChecks` fact type: reproducibility checks of every source that makes them (CI
//! workflows marked as the check; later MLflow runs). Applying it and its query live here.

use rusqlite::params;

use super::{Reader, StoreError};
use crate::facts::ReproCheck;

/// This fact type's migrations (see `store::MODULES`). Append only.
pub(super) const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE repro_checks (
    source      TEXT NOT NULL,
    repository  TEXT NOT NULL,
    check_id    TEXT NOT NULL,
    environment TEXT NOT NULL,
    passed      INTEGER NOT NULL,
    checked_at  INTEGER NOT NULL,
    PRIMARY KEY (source, repository, check_id)
) WITHOUT ROWID;
"#];

/// Stores checks of source `source`; a check stored again replaces itself.
pub(super) fn apply(
    tx: &rusqlite::Transaction,
    source: &str,
    checks: &[ReproCheck],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO repro_checks (source, repository, check_id, environment, passed, checked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for c in checks {
        insert.execute(params![
            source,
            c.repository,
            c.check_id,
            c.environment,
            c.passed,
            c.checked_at
        ])?;
    }
    Ok(())
}

/// One stored check, as derive reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReproRow {
    pub source: String,
    pub repository: String,
    pub environment: String,
    pub passed: bool,
    pub checked_at: i64,
}

impl Reader<'_> {
    /// Every stored check, oldest first.
    pub fn repro_checks(&self) -> Result<Vec<ReproRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, repository, environment, passed, checked_at FROM repro_checks
             ORDER BY checked_at, source, repository, check_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ReproRow {
                source: r.get(0)?,
                repository: r.get(1)?,
                environment: r.get(2)?,
                passed: r.get(3)?,
                checked_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
