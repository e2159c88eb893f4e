//! The fact store: one SQLite file in WAL mode. Only this module knows SQL.
//!
//! Facts are keyed by natural identity (repository + commit sha + …), so applying the same facts
//! twice stores them once. A whole collection is applied in one transaction together with the
//! source's cursors, so a crash (even `kill -9`) leaves either all of it or none of it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection};

use crate::facts::{Cursors, Facts, GitFacts};

/// Store failures. Each message carries its cause's text, so the cause is not chained again.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Sqlite(String),
    #[error("storage: cannot use {path}: {error}")]
    Io { path: String, error: String },
    #[error("storage: the database has schema version {found}, newer than this build knows ({known}); refusing to touch it")]
    TooNew { found: i64, known: i64 },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e.to_string())
    }
}

/// Schema migrations; `PRAGMA user_version` is the number applied. Append only.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE commits (
    repository   TEXT NOT NULL,
    sha          TEXT NOT NULL,
    committed_at INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    PRIMARY KEY (repository, sha)
) WITHOUT ROWID;
CREATE TABLE commit_assets (
    repository TEXT NOT NULL,
    sha        TEXT NOT NULL,
    asset      TEXT NOT NULL,
    PRIMARY KEY (repository, sha, asset)
) WITHOUT ROWID;
CREATE TABLE credits (
    repository TEXT NOT NULL,
    sha        TEXT NOT NULL,
    asset      TEXT NOT NULL,
    person     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    authored   INTEGER NOT NULL,
    PRIMARY KEY (repository, sha, asset, person, kind)
) WITHOUT ROWID;
CREATE TABLE reverts (
    repository   TEXT NOT NULL,
    sha          TEXT NOT NULL,
    reverted_sha TEXT NOT NULL,
    PRIMARY KEY (repository, sha, reverted_sha)
) WITHOUT ROWID;
CREATE INDEX reverts_by_reverted ON reverts (repository, reverted_sha);
CREATE TABLE people (
    key  TEXT PRIMARY KEY,
    name TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE codeowners (
    repository TEXT NOT NULL,
    asset      TEXT NOT NULL,
    owners     TEXT NOT NULL,
    PRIMARY KEY (repository, asset, owners)
) WITHOUT ROWID;
CREATE TABLE codeowners_invalid (
    repository TEXT NOT NULL,
    line       INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (repository, line)
) WITHOUT ROWID;
CREATE TABLE cursors (
    source TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (source, key)
) WITHOUT ROWID;
CREATE TABLE collector_state (
    source                    TEXT PRIMARY KEY,
    last_success_seconds      REAL NOT NULL
) WITHOUT ROWID;
-- A credit counts while its commit is reachable, is not a revert, and was not reverted.
CREATE VIEW valid_credits AS
SELECT cr.repository, cr.sha, cr.asset, cr.person, cr.kind, cr.authored, c.committed_at
FROM credits cr
JOIN commits c ON c.repository = cr.repository AND c.sha = cr.sha
WHERE NOT EXISTS (SELECT 1 FROM reverts r WHERE r.repository = cr.repository AND r.sha = cr.sha)
  AND NOT EXISTS (SELECT 1 FROM reverts r WHERE r.repository = cr.repository AND r.reverted_sha = cr.sha);
"#];

/// A cheap-to-clone handle. The mutex is `std`'s, not tokio's: it is only taken on blocking
/// threads and never held across an `.await`.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

/// Rows derive reads; plain data, no SQL outside this module.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditRow {
    pub asset: String,
    pub person: String,
    pub kind: String,
    /// Valid credits of this kind.
    pub count: u64,
    /// Commit time of the newest and oldest of them.
    pub first_at: i64,
    pub last_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthoredRow {
    pub asset: String,
    pub person: String,
    /// Distinct valid commits the person authored or co-authored on the asset.
    pub commits: u64,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                path: dir.display().to_string(),
                error: e.to_string(),
            })?;
        }
        let mut conn = Connection::open(path).map_err(|e| StoreError::Io {
            path: path.display().to_string(),
            error: e.to_string(),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL + NORMAL: a committed transaction survives a process crash; readers never block.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied transaction behind (SQLite
        // rolls it back when the statement or transaction is dropped), so poisoning is ignored.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` over one read transaction, so derived families never mix the states before and
    /// after a concurrent apply.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.lock();
        let tx = conn.unchecked_transaction()?;
        let out = f(&Reader { conn: &tx })?;
        tx.commit()?;
        Ok(out)
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub fn cursors(&self, source: &str) -> Result<Cursors, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached("SELECT key, value FROM cursors WHERE source = ?1")?;
        let rows = stmt.query_map([source], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Applies one collection's facts and cursors atomically.
    pub fn apply(&self, facts: &Facts) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        match facts {
            Facts::Git(git) => apply_git(&tx, git)?,
        }
        tx.commit()?;
        Ok(())
    }

    pub fn record_success(&self, source: &str, at_seconds: f64) -> Result<(), StoreError> {
        self.lock().execute(
            "INSERT INTO collector_state (source, last_success_seconds) VALUES (?1, ?2)
             ON CONFLICT(source) DO UPDATE SET last_success_seconds = excluded.last_success_seconds",
            params![source, at_seconds],
        )?;
        Ok(())
    }

    pub fn last_successes(&self) -> Result<BTreeMap<String, f64>, StoreError> {
        let conn = self.lock();
        let mut stmt =
            conn.prepare_cached("SELECT source, last_success_seconds FROM collector_state")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Checkpoints the WAL into the main file; called on shutdown.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.lock()
            .pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
        Ok(())
    }

    pub fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(self
            .lock()
            .pragma_query_value(None, "integrity_check", |r| r.get(0))?)
    }
}

/// A consistent read view of the store, for derive: every query sees the same snapshot.
pub struct Reader<'c> {
    conn: &'c Connection,
}

impl Reader<'_> {
    /// Valid credits per asset, person and kind.
    pub fn credits(&self) -> Result<Vec<CreditRow>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT asset, person, kind, COUNT(*), MIN(committed_at), MAX(committed_at)
             FROM valid_credits GROUP BY asset, person, kind ORDER BY asset, person, kind",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(CreditRow {
                asset: r.get(0)?,
                person: r.get(1)?,
                kind: r.get(2)?,
                count: r.get(3)?,
                first_at: r.get(4)?,
                last_at: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Distinct valid (co-)authored commits per asset and person, committed at or after `since`.
    pub fn authored_commits(&self, since: i64) -> Result<Vec<AuthoredRow>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT asset, person, COUNT(DISTINCT repository || ' ' || sha) FROM valid_credits
             WHERE authored = 1 AND committed_at >= ?1 GROUP BY asset, person ORDER BY asset, person",
        )?;
        let rows = stmt.query_map([since], |r| {
            Ok(AuthoredRow {
                asset: r.get(0)?,
                person: r.get(1)?,
                commits: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Newest commit time per asset, over every mined non-merge commit that touched it.
    pub fn asset_last_updates(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT a.asset, MAX(c.committed_at) FROM commit_assets a
             JOIN commits c ON c.repository = a.repository AND c.sha = a.sha GROUP BY a.asset",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Commits per repository and outcome; `revert` and `reverted` are reported as outcomes of
    /// their own, ahead of the stored one.
    pub fn commit_outcomes(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT repository, outcome, COUNT(*) FROM (
                SELECT c.repository,
                  CASE
                    WHEN c.outcome = 'merge' THEN 'merge'
                    WHEN EXISTS (SELECT 1 FROM reverts r WHERE r.repository = c.repository AND r.sha = c.sha) THEN 'revert'
                    WHEN EXISTS (SELECT 1 FROM reverts r WHERE r.repository = c.repository AND r.reverted_sha = c.sha) THEN 'reverted'
                    ELSE c.outcome
                  END AS outcome
                FROM commits c)
             GROUP BY repository, outcome ORDER BY repository, outcome",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn people(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached("SELECT key, name FROM people")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// CODEOWNERS owner sets per asset.
    pub fn codeowners(&self) -> Result<BTreeMap<String, Vec<String>>, StoreError> {
        let conn = self.conn;
        let mut stmt =
            conn.prepare_cached("SELECT asset, owners FROM codeowners ORDER BY asset, owners")?;
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (asset, owners) = row?;
            out.entry(asset).or_default().push(owners);
        }
        Ok(out)
    }

    pub fn codeowners_invalid_lines(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT repository, COUNT(*) FROM codeowners_invalid GROUP BY repository",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

const PER_COMMIT_TABLES: &[&str] = &["commits", "commit_assets", "credits", "reverts"];

fn apply_git(tx: &rusqlite::Transaction, git: &GitFacts) -> Result<(), StoreError> {
    let repo = git.repository.as_str();
    if git.reset {
        for table in PER_COMMIT_TABLES {
            tx.execute(
                &format!("DELETE FROM {table} WHERE repository = ?1"),
                [repo],
            )?;
        }
    }
    for table in PER_COMMIT_TABLES {
        let mut stmt = tx.prepare_cached(&format!(
            "DELETE FROM {table} WHERE repository = ?1 AND sha = ?2"
        ))?;
        for sha in &git.dropped {
            stmt.execute([repo, sha])?;
        }
    }
    {
        let mut commit = tx.prepare_cached("INSERT OR REPLACE INTO commits (repository, sha, committed_at, outcome) VALUES (?1, ?2, ?3, ?4)")?;
        let mut asset = tx.prepare_cached(
            "INSERT OR REPLACE INTO commit_assets (repository, sha, asset) VALUES (?1, ?2, ?3)",
        )?;
        let mut credit = tx.prepare_cached(
            "INSERT OR REPLACE INTO credits (repository, sha, asset, person, kind, authored) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut revert = tx.prepare_cached(
            "INSERT OR REPLACE INTO reverts (repository, sha, reverted_sha) VALUES (?1, ?2, ?3)",
        )?;
        for c in &git.commits {
            commit.execute(params![repo, c.sha, c.committed_at, c.outcome.as_str()])?;
            for a in &c.assets {
                asset.execute(params![repo, c.sha, a])?;
            }
            for cr in &c.credits {
                credit.execute(params![
                    repo,
                    c.sha,
                    cr.asset,
                    cr.person,
                    cr.kind,
                    cr.authored
                ])?;
            }
            if let Some(reverted) = &c.reverts {
                revert.execute(params![repo, c.sha, reverted])?;
            }
        }
        let mut person = tx.prepare_cached("INSERT INTO people (key, name) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET name = excluded.name")?;
        for p in &git.people {
            person.execute(params![p.key, p.name])?;
        }
    }
    tx.execute("DELETE FROM codeowners WHERE repository = ?1", [repo])?;
    tx.execute(
        "DELETE FROM codeowners_invalid WHERE repository = ?1",
        [repo],
    )?;
    {
        let mut owners = tx.prepare_cached(
            "INSERT OR REPLACE INTO codeowners (repository, asset, owners) VALUES (?1, ?2, ?3)",
        )?;
        for (asset, sets) in &git.ownership.asset_owners {
            for set in sets {
                owners.execute(params![repo, asset, set])?;
            }
        }
        let mut invalid = tx.prepare_cached("INSERT OR REPLACE INTO codeowners_invalid (repository, line, reason) VALUES (?1, ?2, ?3)")?;
        for (line, reason) in &git.ownership.invalid_lines {
            invalid.execute(params![repo, line, reason])?;
        }
    }
    tx.execute("DELETE FROM cursors WHERE source = ?1", [repo])?;
    let mut cursor =
        tx.prepare_cached("INSERT INTO cursors (source, key, value) VALUES (?1, ?2, ?3)")?;
    for (k, v) in &git.cursors {
        cursor.execute(params![repo, k, v])?;
    }
    Ok(())
}

/// Used by tests and tools that inspect a store without the daemon.
pub fn count_rows(store: &Store, table: &str) -> Result<i64, StoreError> {
    let conn = store.lock();
    Ok(conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{CommitFact, CommitOutcome, Credit};

    fn commit(sha: &str, at: i64, person: &str, reverts: Option<&str>) -> CommitFact {
        CommitFact {
            sha: sha.into(),
            committed_at: at,
            outcome: CommitOutcome::Credited,
            assets: vec!["a".into()],
            credits: vec![Credit {
                asset: "a".into(),
                person: person.into(),
                kind: "code".into(),
                authored: true,
            }],
            reverts: reverts.map(String::from),
        }
    }

    #[test]
    fn same_facts_twice_store_once_and_reverts_cancel() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let facts = Facts::Git(GitFacts {
            repository: "r".into(),
            commits: vec![
                commit("s1", 10, "p", None),
                commit("s2", 20, "p", None),
                commit("s3", 30, "q", Some("s2")),
            ],
            ..GitFacts::default()
        });
        store.apply(&facts).unwrap();
        store.apply(&facts).unwrap();
        let credits = store.read(|r| r.credits()).unwrap();
        assert_eq!(
            credits.len(),
            1,
            "s2 was reverted by s3, and s3 is a revert: {credits:?}"
        );
        assert_eq!((credits[0].person.as_str(), credits[0].count), ("p", 1));

        // The revert disappears from history (force push): s2 counts again.
        store
            .apply(&Facts::Git(GitFacts {
                repository: "r".into(),
                dropped: vec!["s3".into()],
                ..GitFacts::default()
            }))
            .unwrap();
        let credits = store.read(|r| r.credits()).unwrap();
        assert_eq!(credits[0].count, 2);
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_newer_schema_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        Store::open(&path)
            .unwrap()
            .lock()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        match Store::open(&path) {
            Err(StoreError::TooNew { found: 99, .. }) => {}
            other => panic!("expected TooNew, got {:?}", other.err()),
        }
    }
}
