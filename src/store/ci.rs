//! The `CiRuns` fact type: finished CI run attempts of every forge, and the repositories they
//! belong to. Applying it and every query over it live here.

use rusqlite::params;

use super::{Reader, StoreError};
use crate::facts::CiRuns;

/// This fact type's migrations (see `store::MODULES`). Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE ci_repositories (
    source         TEXT NOT NULL,
    repository     TEXT NOT NULL,
    default_branch TEXT NOT NULL,
    PRIMARY KEY (source, repository)
) WITHOUT ROWID;
-- One row per finished attempt, keyed by its natural identity: storing it again replaces it.
CREATE TABLE ci_attempts (
    source       TEXT NOT NULL,
    repository   TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    pipeline     TEXT NOT NULL,
    branch       TEXT NOT NULL,
    sha          TEXT NOT NULL,
    event        TEXT NOT NULL,
    actor        TEXT NOT NULL,
    result       TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    completed_at INTEGER NOT NULL,
    PRIMARY KEY (source, repository, run_id, attempt)
) WITHOUT ROWID;
"#,
    "ALTER TABLE ci_attempts ADD COLUMN coverage REAL;",
    "ALTER TABLE ci_attempts ADD COLUMN tests_total INTEGER;
     ALTER TABLE ci_attempts ADD COLUMN tests_failed INTEGER;
     ALTER TABLE ci_attempts ADD COLUMN tests_skipped INTEGER;",
    // How long the attempt ran, in the upstream's precision (Jenkins's milliseconds); NULL for
    // one that never started (a skipped GitLab pipeline). Attempts stored before were timed
    // to whole seconds.
    "ALTER TABLE ci_attempts ADD COLUMN duration REAL;
     UPDATE ci_attempts SET duration = MAX(completed_at - started_at, 0);",
];

/// Applies one collection's CI facts of source `source` (one transaction is the caller's).
pub(super) fn apply(
    tx: &rusqlite::Transaction,
    source: &str,
    runs: &CiRuns,
) -> Result<(), StoreError> {
    tx.execute("DELETE FROM ci_repositories WHERE source = ?1", [source])?;
    let mut repo = tx.prepare_cached(
        "INSERT OR REPLACE INTO ci_repositories (source, repository, default_branch) VALUES (?1, ?2, ?3)",
    )?;
    for r in &runs.repositories {
        repo.execute(params![source, r.name, r.default_branch])?;
    }
    let mut attempt = tx.prepare_cached(
        "INSERT OR REPLACE INTO ci_attempts (source, repository, run_id, attempt, pipeline, branch, sha, event, actor, result, started_at, completed_at, coverage, tests_total, tests_failed, tests_skipped, duration)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?;
    for a in &runs.attempts {
        attempt.execute(params![
            source,
            a.repository,
            a.run_id,
            a.attempt,
            a.pipeline,
            a.branch,
            a.sha,
            a.event,
            a.actor,
            a.result,
            a.started_at,
            a.completed_at,
            a.coverage,
            a.tests.map(|t| t.0 as i64),
            a.tests.map(|t| t.1 as i64),
            a.tests.map(|t| t.2 as i64),
            a.duration
        ])?;
    }
    Ok(())
}

/// One stored attempt, as derive reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct CiAttemptRow {
    pub source: String,
    pub repository: String,
    pub pipeline: String,
    pub run_id: String,
    pub attempt: u32,
    pub branch: String,
    pub result: String,
    pub started_at: i64,
    pub completed_at: i64,
    /// Seconds it ran; `None` when it never started.
    pub duration: Option<f64>,
    pub coverage: Option<f64>,
    /// (total, failed, skipped) tests, when the run had a test report.
    pub tests: Option<(u64, u64, u64)>,
}

impl Reader<'_> {
    /// Every stored attempt, in completion order (ties by run and attempt).
    pub fn ci_attempts(&self) -> Result<Vec<CiAttemptRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, repository, pipeline, run_id, attempt, branch, result, started_at, completed_at, coverage,
                    tests_total, tests_failed, tests_skipped, duration
             FROM ci_attempts ORDER BY completed_at, source, repository, run_id, attempt",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(CiAttemptRow {
                source: r.get(0)?,
                repository: r.get(1)?,
                pipeline: r.get(2)?,
                run_id: r.get(3)?,
                attempt: r.get(4)?,
                branch: r.get(5)?,
                result: r.get(6)?,
                started_at: r.get(7)?,
                completed_at: r.get(8)?,
                coverage: r.get(9)?,
                tests: match (
                    r.get::<_, Option<i64>>(10)?,
                    r.get::<_, Option<i64>>(11)?,
                    r.get::<_, Option<i64>>(12)?,
                ) {
                    (Some(t), Some(f), Some(s)) => Some((t as u64, f as u64, s as u64)),
                    _ => None,
                },
                duration: r.get(13)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// (source, repository, default branch) of every repository a forge source covers.
    pub fn ci_repositories(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, repository, default_branch FROM ci_repositories ORDER BY source, repository",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
