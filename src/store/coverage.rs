//! The `CoverageReports` fact type: coverage reports of every asset over time.

use rusqlite::params;

use super::{Reader, StoreError};
use crate::facts::CoverageReport;

/// This fact type's migrations (see `store::MODULES`). Append only.
pub(super) const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE coverage_reports (
    source TEXT NOT NULL,
    asset  TEXT NOT NULL,
    at     INTEGER NOT NULL,
    line   REAL,
    branch REAL,
    commit_sha TEXT NOT NULL,
    PRIMARY KEY (source, asset, at)
) WITHOUT ROWID;
"#];

pub(super) fn apply(
    tx: &rusqlite::Transaction,
    source: &str,
    reports: &[CoverageReport],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO coverage_reports (source, asset, at, line, branch, commit_sha) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for r in reports {
        insert.execute(params![source, r.asset, r.at, r.line, r.branch, r.commit])?;
    }
    Ok(())
}

impl Reader<'_> {
    /// Every stored report: (asset, at, line, branch, commit), oldest first.
    pub fn coverage_reports(&self) -> Result<Vec<CoverageReport>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT asset, at, line, branch, commit_sha FROM coverage_reports ORDER BY at, asset, source",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(CoverageReport {
                asset: r.get(0)?,
                at: r.get(1)?,
                line: r.get(2)?,
                branch: r.get(3)?,
                commit: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
