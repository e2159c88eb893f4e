//! The fact store: one SQLite file in WAL mode. Only this module knows SQL.
//!
//! Facts are keyed by natural identity (repository + commit sha + …), so applying the same facts
//! twice stores them once. A whole collection is applied in one transaction together with the
//! source's cursors, so a crash (even `kill -9`) leaves either all of it or none of it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection};

use crate::facts::{Cursors, Facts, GitFacts};
use crate::people::NameUse;

/// Store failures. Each message carries its cause's text (and the store's path, once it is
/// known), so the cause is not chained again.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {message}")]
    Sqlite {
        message: String,
        /// SQLite says the file is damaged or not a database.
        corrupt: bool,
    },
    #[error("storage: cannot use {path}: {error}")]
    Io { path: String, error: String },
    #[error("storage {path}: the database has schema version {found}, newer than this build knows ({known}); refusing to touch it")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    #[error("storage {path}: another mlsteward process is using this store (it holds {lock}); run one daemon per store")]
    Locked { path: String, lock: String },
}

impl StoreError {
    /// Whether the store file itself is damaged (not a passing condition such as a full disk).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, StoreError::Sqlite { corrupt: true, .. })
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        let corrupt = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        );
        StoreError::Sqlite {
            message: e.to_string(),
            corrupt,
        }
    }
}

/// Schema migrations; `PRAGMA user_version` is the number applied. Append only.
const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    r#"
ALTER TABLE commits ADD COLUMN blobs_missing INTEGER NOT NULL DEFAULT 0;
-- Author and co-authors of each non-merge commit, as they signed: identity unification and
-- display names are computed from these.
CREATE TABLE commit_signers (
    repository TEXT NOT NULL,
    sha        TEXT NOT NULL,
    position   INTEGER NOT NULL,
    person     TEXT NOT NULL,
    name       TEXT NOT NULL,
    raw_email  TEXT NOT NULL,
    via        TEXT NOT NULL,
    PRIMARY KEY (repository, sha, position)
) WITHOUT ROWID;
-- Commits with a standing revert, recomputed from `reverts` whenever a repository's facts change.
CREATE TABLE reverted (
    repository TEXT NOT NULL,
    sha        TEXT NOT NULL,
    PRIMARY KEY (repository, sha)
) WITHOUT ROWID;
CREATE TABLE codeowners_default (
    repository TEXT PRIMARY KEY,
    owners     TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE git_repositories (
    repository TEXT PRIMARY KEY,
    shallow    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE asset_files (
    repository TEXT NOT NULL,
    asset      TEXT NOT NULL,
    files      INTEGER NOT NULL,
    PRIMARY KEY (repository, asset)
) WITHOUT ROWID;
DROP VIEW valid_credits;
-- A credit counts while its commit is reachable, is not a revert, and has no standing revert.
CREATE VIEW valid_credits AS
SELECT cr.repository, cr.sha, cr.asset, cr.person, cr.kind, cr.authored, c.committed_at
FROM credits cr
JOIN commits c ON c.repository = cr.repository AND c.sha = cr.sha
WHERE NOT EXISTS (SELECT 1 FROM reverts r WHERE r.repository = cr.repository AND r.sha = cr.sha)
  AND NOT EXISTS (SELECT 1 FROM reverted v WHERE v.repository = cr.repository AND v.sha = cr.sha);
"#,
];

/// A cheap-to-clone handle. The mutex is `std`'s, not tokio's: it is only taken on blocking
/// threads and never held across an `.await`.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    /// The database file, named in every error.
    path: Arc<str>,
    /// Held for the store's lifetime by a daemon (see [`Store::open_exclusive`]).
    _lock: Option<Arc<std::fs::File>>,
}

/// Rows derive reads; plain data, no SQL outside this module.
#[derive(Debug, Clone, PartialEq)]
pub struct CreditRow {
    pub asset: String,
    /// Person id after unification (see [`Reader::set_people`]).
    pub person: String,
    pub kind: String,
    /// Distinct commits that earned the person valid credit of this kind on the asset.
    pub count: u64,
    /// Commit time of the oldest and newest of them.
    pub first_at: i64,
    pub last_at: i64,
}

/// One person's valid credits of one kind over all assets, each commit counted once.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonKindRow {
    pub person: String,
    /// `None`: the distinct commits the person (co-)authored, whatever the kind.
    pub kind: Option<String>,
    pub count: u64,
    pub first_at: i64,
    pub last_at: i64,
}

impl Store {
    /// Opens (creating if needed) the store for reading and writing; other processes may have it
    /// open too (`report`, `check-store`).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, None)
    }

    /// Opens the store for a process that collects into it, after taking an exclusive lock on
    /// `<path>.lock`: a second daemon on the same store is refused, instead of both mining
    /// everything and racing on the schema.
    pub fn open_exclusive(path: &Path) -> Result<Store, StoreError> {
        Self::create_dir(path)?;
        let lock_path = format!("{}.lock", path.display());
        let io = |e: std::io::Error| StoreError::Io {
            path: lock_path.clone(),
            error: e.to_string(),
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: path.display().to_string(),
                    lock: lock_path,
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        Self::open_with(path, Some(Arc::new(file)))
    }

    fn create_dir(path: &Path) -> Result<(), StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
                path: dir.display().to_string(),
                error: e.to_string(),
            })?;
        }
        Ok(())
    }

    fn open_with(path: &Path, lock: Option<Arc<std::fs::File>>) -> Result<Store, StoreError> {
        Self::create_dir(path)?;
        let shown = path.display().to_string();
        let at = |e: StoreError| with_path(&shown, e);
        let mut conn = Connection::open(path).map_err(|e| StoreError::Io {
            path: shown.clone(),
            error: e.to_string(),
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| at(e.into()))?;
        // WAL + NORMAL: a committed transaction survives a process crash; readers never block.
        // Switching to WAL needs a moment without other connections: retry while busy.
        let mut tries = 0;
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(e)
                    if tries < 50
                        && e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Err(e) => return Err(at(e.into())),
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| at(e.into()))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| at(e.into()))?;
        migrate(&mut conn, &shown).map_err(at)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path: shown.into(),
            _lock: lock,
        })
    }

    /// `result` with this store's path in its error message.
    fn at<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        result.map_err(|e| with_path(&self.path, e))
    }

    pub fn path(&self) -> &str {
        &self.path
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
        self.at((|| {
            let tx = conn.unchecked_transaction()?;
            // Derive's person map lives in the temporary schema: a read never writes the file.
            tx.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS person_map (key TEXT PRIMARY KEY, person TEXT NOT NULL) WITHOUT ROWID;
                 CREATE TEMP TABLE IF NOT EXISTS kept (asset TEXT NOT NULL, person TEXT NOT NULL, PRIMARY KEY (asset, person)) WITHOUT ROWID;
                 DELETE FROM temp.person_map; DELETE FROM temp.kept;",
            )?;
            let out = f(&Reader { conn: &tx })?;
            tx.commit()?;
            Ok(out)
        })())
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let conn = self.lock();
        self.at(Ok(
            conn.pragma_query_value(None, "user_version", |r| r.get(0))?
        ))
    }

    pub fn cursors(&self, source: &str) -> Result<Cursors, StoreError> {
        let conn = self.lock();
        self.at((|| {
            let mut stmt =
                conn.prepare_cached("SELECT key, value FROM cursors WHERE source = ?1")?;
            let rows = stmt.query_map([source], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })())
    }

    /// Applies one collection's facts and cursors atomically.
    pub fn apply(&self, facts: &Facts) -> Result<(), StoreError> {
        let mut conn = self.lock();
        self.at((|| {
            let tx = conn.transaction()?;
            match facts {
                Facts::Git(git) => apply_git(&tx, git)?,
            }
            tx.commit()?;
            Ok(())
        })())
    }

    pub fn record_success(&self, source: &str, at_seconds: f64) -> Result<(), StoreError> {
        let conn = self.lock();
        self.at((|| {
            conn.execute(
                "INSERT INTO collector_state (source, last_success_seconds) VALUES (?1, ?2)
                 ON CONFLICT(source) DO UPDATE SET last_success_seconds = excluded.last_success_seconds",
                params![source, at_seconds],
            )?;
            Ok(())
        })())
    }

    pub fn last_successes(&self) -> Result<BTreeMap<String, f64>, StoreError> {
        let conn = self.lock();
        self.at((|| {
            let mut stmt =
                conn.prepare_cached("SELECT source, last_success_seconds FROM collector_state")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })())
    }

    /// Checkpoints the WAL into the main file; called on shutdown.
    pub fn flush(&self) -> Result<(), StoreError> {
        let conn = self.lock();
        self.at(Ok(conn.pragma_update(
            None,
            "wal_checkpoint",
            "TRUNCATE",
        )?))
    }

    /// SQLite's integrity check: `["ok"]`, or the problems it found (at most 100).
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        self.check("integrity_check")
    }

    /// The faster check (no index consistency), for start-up.
    pub fn quick_check(&self) -> Result<Vec<String>, StoreError> {
        self.check("quick_check")
    }

    fn check(&self, pragma: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        self.at((|| {
            let mut stmt = conn.prepare(&format!("PRAGMA {pragma}(100)"))?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })())
    }
}

/// A consistent read view of the store, for derive: every query sees the same snapshot.
pub struct Reader<'c> {
    conn: &'c Connection,
}

/// Valid credits `v` with `who`, the person id of each credit's key through the map derive
/// installs (opted-out people map to ''). Distinct commits are counted by sha: an asset lives in
/// one repository, and the same commit in two mined repositories (a fork) is one piece of work.
const CREDITS_WITH_WHO: &str = "SELECT v.*, COALESCE(m.person, v.person) AS who
    FROM valid_credits v LEFT JOIN temp.person_map m ON m.key = v.person";

impl Reader<'_> {
    /// Installs the unification of person keys into people (key → person id; '' drops the
    /// key's credits) and, per asset, the people whose own label is kept. Later queries use
    /// both; they live in this connection's temporary schema, never in the file.
    pub fn set_people(
        &self,
        key_map: &[(String, String)],
        kept: &[(String, String)],
    ) -> Result<(), StoreError> {
        let conn = self.conn;
        conn.execute("DELETE FROM temp.person_map", [])?;
        conn.execute("DELETE FROM temp.kept", [])?;
        let mut map = conn.prepare_cached(
            "INSERT OR REPLACE INTO temp.person_map (key, person) VALUES (?1, ?2)",
        )?;
        for (k, p) in key_map {
            map.execute([k, p])?;
        }
        let mut keep = conn
            .prepare_cached("INSERT OR REPLACE INTO temp.kept (asset, person) VALUES (?1, ?2)")?;
        for (a, p) in kept {
            keep.execute([a, p])?;
        }
        Ok(())
    }

    /// Valid credits per asset, person and kind, from commits at or after `since`.
    pub fn credits(&self, since: i64) -> Result<Vec<CreditRow>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT asset, who, kind, COUNT(DISTINCT sha), MIN(committed_at), MAX(committed_at)
             FROM ({CREDITS_WITH_WHO} WHERE v.committed_at >= ?1)
             WHERE who <> '' GROUP BY asset, who, kind ORDER BY asset, who, kind"
        ))?;
        let rows = stmt.query_map([since], |r| {
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

    /// Distinct valid (co-)authored commits per asset and label: the person id when the person
    /// is kept on the asset, else `other`; with `per_person` false, one row per asset with an
    /// empty label.
    pub fn credited_commits(
        &self,
        per_person: bool,
        other: &str,
    ) -> Result<Vec<(String, String, u64)>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT asset, label, COUNT(DISTINCT sha) FROM (
                SELECT asset, repository, sha,
                  CASE WHEN NOT ?1 THEN ''
                       WHEN EXISTS (SELECT 1 FROM temp.kept k WHERE k.asset = w.asset AND k.person = w.who) THEN w.who
                       ELSE ?2 END AS label
                FROM ({CREDITS_WITH_WHO} WHERE v.authored = 1) w
                WHERE who <> '')
             GROUP BY asset, label ORDER BY asset, label"
        ))?;
        let rows = stmt.query_map(params![per_person, other], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// (asset, commit, person) for every valid (co-)authored credit at or after `since`; the
    /// commit is `repository sha`.
    pub fn authorships(&self, since: i64) -> Result<Vec<(String, String, String)>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT DISTINCT asset, sha, who
             FROM ({CREDITS_WITH_WHO} WHERE v.authored = 1 AND v.committed_at >= ?1)
             WHERE who <> ''"
        ))?;
        let rows = stmt.query_map([since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Per person over the given assets (all when empty), from commits at or after `since`:
    /// distinct commits per kind, and (kind `None`) distinct (co-)authored commits.
    pub fn person_totals(
        &self,
        assets: &[String],
        since: i64,
    ) -> Result<Vec<PersonKindRow>, StoreError> {
        let conn = self.conn;
        let filter = if assets.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = assets
                .iter()
                .map(|a| format!("'{}'", a.replace('\'', "''")))
                .collect();
            format!("AND v.asset IN ({})", quoted.join(","))
        };
        let inner = format!("{CREDITS_WITH_WHO} WHERE v.committed_at >= ?1 {filter}");
        let mut stmt = conn.prepare(&format!(
            "SELECT who, kind, COUNT(DISTINCT sha), MIN(committed_at), MAX(committed_at)
               FROM ({inner}) WHERE who <> '' GROUP BY who, kind
             UNION ALL
             SELECT who, NULL, COUNT(DISTINCT sha), MIN(committed_at), MAX(committed_at)
               FROM ({inner}) WHERE who <> '' AND authored = 1 GROUP BY who
             ORDER BY 1, 2"
        ))?;
        let rows = stmt.query_map([since], |r| {
            Ok(PersonKindRow {
                person: r.get(0)?,
                kind: r.get(1)?,
                count: r.get(2)?,
                first_at: r.get(3)?,
                last_at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// How often each key signed a non-merge commit as author or co-author under each name.
    pub fn name_uses(&self) -> Result<Vec<NameUse>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT s.person, s.name, COUNT(*), MAX(c.committed_at) FROM commit_signers s
             JOIN commits c ON c.repository = s.repository AND c.sha = s.sha
             GROUP BY s.person, s.name ORDER BY s.person, s.name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(NameUse {
                key: r.get(0)?,
                name: r.get(1)?,
                uses: r.get(2)?,
                last_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// What mapped raw emails to keys when mining: (raw email, key, `mailmap`/`identity_file`).
    pub fn mined_joins(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT raw_email, person, via FROM commit_signers WHERE via <> ''
             ORDER BY person, raw_email",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
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

    /// Commits per repository and outcome; `revert` (names a target) and `reverted` (has a
    /// standing revert) are reported as outcomes of their own, ahead of the stored one.
    pub fn commit_outcomes(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT repository, outcome, COUNT(*) FROM (
                SELECT c.repository,
                  CASE
                    WHEN c.outcome = 'merge' THEN 'merge'
                    WHEN EXISTS (SELECT 1 FROM reverts r WHERE r.repository = c.repository AND r.sha = c.sha) THEN 'revert'
                    WHEN EXISTS (SELECT 1 FROM reverted v WHERE v.repository = c.repository AND v.sha = c.sha) THEN 'reverted'
                    ELSE c.outcome
                  END AS outcome
                FROM commits c)
             GROUP BY repository, outcome ORDER BY repository, outcome",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Commits per repository mined without some blob they needed (partial clones).
    pub fn commits_without_blobs(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT repository, COUNT(*) FROM commits WHERE blobs_missing = 1 GROUP BY repository",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Key → the name a source stored for it.
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

    /// The owners of each repository's CODEOWNERS default rule (`*`).
    pub fn codeowners_default(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached("SELECT repository, owners FROM codeowners_default")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The git repositories that are shallow clones.
    pub fn shallow_repositories(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn;
        let mut stmt =
            conn.prepare_cached("SELECT repository FROM git_repositories WHERE shallow = 1")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Files per asset at the tip of its repository.
    pub fn asset_files(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let conn = self.conn;
        let mut stmt =
            conn.prepare_cached("SELECT asset, SUM(files) FROM asset_files GROUP BY asset")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
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

/// `e` with the store's path in its message.
fn with_path(path: &str, e: StoreError) -> StoreError {
    match e {
        StoreError::Sqlite { message, corrupt } if !message.starts_with(path) => {
            StoreError::Sqlite {
                message: format!("{path}: {message}"),
                corrupt,
            }
        }
        other => other,
    }
}

/// Applies the pending migrations. The version is read inside the same immediate (write)
/// transaction that applies them, so two processes opening a fresh store never both migrate.
fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew {
            path: path.to_string(),
            found: version,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

const PER_COMMIT_TABLES: &[&str] = &[
    "commits",
    "commit_assets",
    "credits",
    "reverts",
    "commit_signers",
];

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
        let mut commit = tx.prepare_cached("INSERT OR REPLACE INTO commits (repository, sha, committed_at, outcome, blobs_missing) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        let mut signer = tx.prepare_cached("INSERT OR REPLACE INTO commit_signers (repository, sha, position, person, name, raw_email, via) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
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
            commit.execute(params![
                repo,
                c.sha,
                c.committed_at,
                c.outcome.as_str(),
                c.blobs_missing
            ])?;
            for (i, s) in c.signers.iter().enumerate() {
                signer.execute(params![
                    repo,
                    c.sha,
                    i,
                    s.person,
                    s.name,
                    s.raw_email,
                    s.via
                ])?;
            }
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
            for reverted in &c.reverts {
                revert.execute(params![repo, c.sha, reverted])?;
            }
        }
        let mut person = tx.prepare_cached("INSERT INTO people (key, name) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET name = excluded.name")?;
        for p in &git.people {
            person.execute(params![p.key, p.name])?;
        }
    }
    refresh_reverted(tx, repo)?;
    tx.execute("DELETE FROM codeowners WHERE repository = ?1", [repo])?;
    tx.execute(
        "DELETE FROM codeowners_default WHERE repository = ?1",
        [repo],
    )?;
    if let Some(owners) = &git.ownership.default_owners {
        tx.execute(
            "INSERT INTO codeowners_default (repository, owners) VALUES (?1, ?2)",
            params![repo, owners],
        )?;
    }
    tx.execute(
        "INSERT OR REPLACE INTO git_repositories (repository, shallow) VALUES (?1, ?2)",
        params![repo, git.shallow],
    )?;
    tx.execute("DELETE FROM asset_files WHERE repository = ?1", [repo])?;
    {
        let mut files = tx.prepare_cached(
            "INSERT OR REPLACE INTO asset_files (repository, asset, files) VALUES (?1, ?2, ?3)",
        )?;
        for (asset, n) in &git.asset_files {
            files.execute(params![repo, asset, n])?;
        }
    }
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

/// Rewrites the repository's `reverted` rows from its revert edges.
fn refresh_reverted(tx: &rusqlite::Transaction, repo: &str) -> Result<(), StoreError> {
    let edges: Vec<(String, String)> = {
        let mut stmt =
            tx.prepare_cached("SELECT sha, reverted_sha FROM reverts WHERE repository = ?1")?;
        let rows = stmt.query_map([repo], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    tx.execute("DELETE FROM reverted WHERE repository = ?1", [repo])?;
    let mut insert =
        tx.prepare_cached("INSERT OR IGNORE INTO reverted (repository, sha) VALUES (?1, ?2)")?;
    for sha in with_standing_revert(&edges) {
        insert.execute([repo, sha])?;
    }
    Ok(())
}

/// The commits that have a standing revert, given (revert, target) edges. A revert stands
/// unless one of its own reverts stands: in A ← B ← C (B reverts A, C reverts B), C stands, B
/// does not, so A has no standing revert. Targets are ancestors of their reverts, so the
/// relation has no cycles; a cycle in bad input counts as not standing.
pub fn with_standing_revert(edges: &[(String, String)]) -> BTreeSet<&str> {
    let mut reverts_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for (revert, target) in edges {
        reverts_of.entry(target).or_default().push(revert);
    }
    fn stands<'a>(
        revert: &'a str,
        reverts_of: &HashMap<&'a str, Vec<&'a str>>,
        memo: &mut HashMap<&'a str, bool>,
    ) -> bool {
        if let Some(&known) = memo.get(revert) {
            return known;
        }
        memo.insert(revert, false); // a cycle resolves to "does not stand"
        let standing = !reverts_of
            .get(revert)
            .is_some_and(|rs| rs.iter().any(|r| stands(r, reverts_of, memo)));
        memo.insert(revert, standing);
        standing
    }
    let mut memo = HashMap::new();
    let mut out = BTreeSet::new();
    for (target, reverts) in &reverts_of {
        if reverts.iter().any(|r| stands(r, &reverts_of, &mut memo)) {
            out.insert(*target);
        }
    }
    out
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
            reverts: reverts.into_iter().map(String::from).collect(),
            signers: Vec::new(),
            blobs_missing: false,
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
        let credits = store.read(|r| r.credits(i64::MIN)).unwrap();
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
        let credits = store.read(|r| r.credits(i64::MIN)).unwrap();
        assert_eq!(credits[0].count, 2);
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    }

    fn standing(edges: &[(&str, &str)]) -> Vec<String> {
        let edges: Vec<(String, String)> = edges
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        with_standing_revert(&edges)
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn revert_chains_alternate() {
        // B reverts A: A has a standing revert.
        assert_eq!(standing(&[("B", "A")]), vec!["A"]);
        // C reverts B: B's revert stands, A's does not.
        assert_eq!(standing(&[("B", "A"), ("C", "B")]), vec!["B"]);
        // D reverts C: A is reverted again.
        assert_eq!(
            standing(&[("B", "A"), ("C", "B"), ("D", "C")]),
            vec!["A", "C"]
        );
        // One revert of three targets cancels all three.
        assert_eq!(
            standing(&[("R", "X"), ("R", "Y"), ("R", "Z")]),
            vec!["X", "Y", "Z"]
        );
        // Two reverts of A, one of them reverted: the other still stands.
        assert_eq!(
            standing(&[("B", "A"), ("C", "A"), ("D", "C")]),
            vec!["A", "C"]
        );
        // A cycle in bad input ends.
        let _ = standing(&[("A", "B"), ("B", "A")]);
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
