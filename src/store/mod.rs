//! The fact store: one SQLite file in WAL mode. Only this module knows SQL. One module per fact
//! type (`git_history`, `ownership`) holds how it is applied and queried; this one holds the
//! store itself, the migrations, cursors and the collectors' persisted state.
//!
//! Facts are keyed by natural identity (repository + commit sha + …), so applying the same facts
//! twice stores them once. A whole collection is applied in one transaction together with the
//! source's cursors, so a crash (even `kill -9`) leaves either all of it or none of it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use sha2::Digest;

use crate::facts::{Collection, Cursors, FactSet, FactType};

mod ci;
mod coverage;
mod forge_items;
mod git_history;
mod history;
mod ownership;
pub mod probes;
pub use history::AsOf;
mod registry;
mod repro;

pub use ci::CiAttemptRow;
pub use forge_items::ForgeItemRow;
pub use git_history::{with_standing_revert, CreditRef};
pub use probes::{ProbeRow, ProbeTotals, ViewAge};
pub use repro::ReproRow;

/// Store failures. Each message carries its cause's text (and the store's path, once it is
/// known), so the cause is not chained again.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {message}")]
    Sqlite {
        message: String,
        /// SQLite says the file is damaged or not a database.
        corrupt: bool,
        /// SQLite says the disk is full (`SQLITE_FULL`).
        full: bool,
    },
    #[error("storage: cannot use {path}: {error}")]
    Io { path: String, error: String },
    #[error("storage {path}: the database's {what} is at version {found}, newer than this build knows ({known}); refusing to touch it")]
    TooNew {
        path: String,
        /// `schema`, or the module whose migrations are ahead.
        what: String,
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

    /// Whether the disk is full: a resource ran out, the store is not at fault.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::Sqlite { full: true, .. })
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
            full: e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
        }
    }
}

/// The store's parts, each with its own append-only migrations, versioned on its own in
/// `schema_versions`: the shared tables, then one module per fact type. Adding a fact type is
/// one entry here.
const MODULES: &[(&str, &[&str])] = &[
    ("core", CORE_MIGRATIONS),
    ("git_history", git_history::MIGRATIONS),
    ("ownership", ownership::MIGRATIONS),
    ("ci", ci::MIGRATIONS),
    ("repro", repro::MIGRATIONS),
    ("forge_items", forge_items::MIGRATIONS),
    ("coverage", coverage::MIGRATIONS),
    ("probes", probes::MIGRATIONS),
    ("registry", registry::MIGRATIONS),
];

/// `PRAGMA user_version` of a store whose modules are versioned in `schema_versions`. Stores from
/// before had one list of migrations, and `user_version` was the number applied (1 or 2); the
/// first two migrations of each of [`LEGACY_MODULES`] are exactly that list split by module, so
/// such a store maps onto them. Builds from before refuse this value as too new.
const PER_MODULE: i64 = 1000;
const LEGACY_MODULES: &[&str] = &["core", "git_history", "ownership"];
const LEGACY_VERSIONS: i64 = 2;

/// Tables every source shares: cursors, collector state, display names.
const CORE_MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE people (
    key  TEXT PRIMARY KEY,
    name TEXT NOT NULL
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
"#,
    "-- nothing in the second legacy migration",
];

/// The digest of the last fact set applied, per (source, fact type).
type Digests = HashMap<(String, FactType), [u8; 32]>;

/// A cheap-to-clone handle. The mutexes are `std`'s, not tokio's: they are only taken on
/// blocking threads and never held across an `.await`.
///
/// Two connections: one writes (applies, cursors, state), the other reads for derive. In WAL
/// mode a reader never blocks the writer, so a long derivation of a large history never holds
/// back a probe's samples or a webhook's collection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    /// The digest of the last fact set applied per (source, fact type), to tell an unchanged
    /// snapshot from a change. In memory only: after a restart everything is derived anyway.
    digests: Arc<Mutex<Digests>>,
    /// The device and inode of the file opened, to notice it deleted or replaced under us.
    identity: Option<(u64, u64)>,
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
        // SQLite takes an empty file for a new database; a store emptied by accident (a full
        // disk, a bad copy) would be started afresh without a word.
        if std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0) {
            tracing::warn!(store = %shown, "the store file is empty: starting a new store in it (every fact will be collected again)");
        }
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
        let reader = Connection::open(path).map_err(|e| StoreError::Io {
            path: shown.clone(),
            error: e.to_string(),
        })?;
        reader
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| at(e.into()))?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            reader: Arc::new(Mutex::new(reader)),
            digests: Arc::default(),
            identity: file_identity(path),
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

    /// Why the store's path no longer names the file this store has open (it was deleted or
    /// replaced: what is written now would be lost at the next start); `None` while it does.
    pub fn file_gone(&self) -> Option<String> {
        let opened = self.identity?;
        match std::fs::metadata(&*self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(format!(
                "{}: the store file was deleted while the daemon runs; what it stores now is lost at the next start (restart it to start a new store, or restore the file)",
                self.path
            )),
            Ok(_) if file_identity(Path::new(&*self.path)) != Some(opened) => Some(format!(
                "{}: the store file was replaced while the daemon runs; the daemon still writes the old one (restart it to use the new file)",
                self.path
            )),
            _ => None,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        crate::locked(&self.conn)
    }

    /// Runs `f` over one read transaction, so derived families never mix the states before and
    /// after a concurrent apply.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Reader<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = crate::locked(&self.reader);
        self.at((|| {
            let tx = conn.unchecked_transaction()?;
            // Derive's person map lives in the temporary schema: a read never writes the file.
            tx.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS person_map (key TEXT PRIMARY KEY, person TEXT NOT NULL) WITHOUT ROWID;
                 CREATE TEMP TABLE IF NOT EXISTS forge_assets (source TEXT NOT NULL, repository TEXT NOT NULL, asset TEXT NOT NULL, PRIMARY KEY (source, repository)) WITHOUT ROWID;
                 -- Every credit: git's valid credits and the forges' (on the assets derive maps
                 -- their repositories to; the item stands for the commit, and never as authored).
                 CREATE TEMP VIEW IF NOT EXISTS all_credits AS
                   SELECT repository, sha, asset, person, kind, authored, committed_at FROM main.valid_credits
                   UNION ALL
                   SELECT f.source, 'item:' || f.repository || '#' || f.number, a.asset, f.person, f.kind, 0, f.at
                   FROM main.forge_credits f JOIN temp.forge_assets a ON a.source = f.source AND a.repository = f.repository;
                 DELETE FROM temp.person_map; DELETE FROM temp.forge_assets;",
            )?;
            let out = f(&Reader { conn: &tx })?;
            tx.commit()?;
            Ok(out)
        })())
    }

    /// Each module's schema version, by module name.
    pub fn schema_versions(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.lock();
        self.at((|| {
            let mut stmt =
                conn.prepare("SELECT module, version FROM schema_versions ORDER BY module")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })())
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

    /// Applies one collection's facts and cursors atomically, and says which fact types it
    /// changed. A fact set equal to the one last applied for its source and type changes
    /// nothing (applying facts is idempotent) and is skipped; so is a git history without
    /// commits whose identities and shallowness are as before.
    pub fn apply(&self, collection: &Collection) -> Result<Written, StoreError> {
        let mut conn = self.lock();
        let source = collection.source.as_str();
        let mut written = Written::default();
        let mut digests = Vec::new();
        {
            let known = crate::locked(&self.digests);
            for (i, set) in collection.sets.iter().enumerate() {
                let fact_type = set.fact_type();
                let digest = digest_of(set);
                let changes_rows = match set {
                    FactSet::GitHistory(g) => {
                        g.reset || !g.dropped.is_empty() || !g.commits.is_empty()
                    }
                    _ => false,
                };
                if changes_rows || known.get(&(source.to_string(), fact_type)) != Some(&digest) {
                    written.types.insert(fact_type);
                    digests.push((i, fact_type, digest));
                }
            }
        }
        self.at((|| {
            let tx = conn.transaction()?;
            for &(i, _, _) in &digests {
                let set = &collection.sets[i];
                match set {
                    FactSet::GitHistory(history) => git_history::apply(&tx, source, history)?,
                    FactSet::Ownership(ownership) => ownership::apply(&tx, source, ownership)?,
                    FactSet::CiRuns(runs) => ci::apply(&tx, source, runs)?,
                    FactSet::ReproChecks(checks) => repro::apply(&tx, source, checks)?,
                    FactSet::ForgeItems(items) => forge_items::apply(&tx, source, items)?,
                    FactSet::CoverageReports(reports) => coverage::apply(&tx, source, reports)?,
                    FactSet::ProbeSamples(samples) => probes::apply(&tx, source, samples)?,
                    FactSet::Registry(snapshot) => registry::apply(&tx, source, snapshot)?,
                }
            }
            write_cursors(&tx, source, &collection.cursors)?;
            tx.commit()?;
            Ok(())
        })())?;
        let mut known = crate::locked(&self.digests);
        for (_, fact_type, digest) in digests {
            known.insert((source.to_string(), fact_type), digest);
        }
        Ok(written)
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

/// A file's (device, inode), where the platform has them.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// What storing a collection changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// The fact types whose stored rows it changed.
    pub types: BTreeSet<FactType>,
}

/// A fact set's digest for telling a repeated snapshot from a change: its full value (facts
/// hold no secrets). A git history's commits are always new, so its digest covers only what a
/// collection without new commits repeats: the identities seen and shallowness.
fn digest_of(set: &FactSet) -> [u8; 32] {
    let text = match set {
        FactSet::GitHistory(g) => format!("{:?}|{}", g.people, g.shallow),
        other => format!("{other:?}"),
    };
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// A consistent read view of the store, for derive: every query sees the same snapshot.
pub struct Reader<'c> {
    conn: &'c Connection,
}

/// `e` with the store's path in its message.
fn with_path(path: &str, e: StoreError) -> StoreError {
    match e {
        StoreError::Sqlite {
            message,
            corrupt,
            full,
        } if !message.starts_with(path) => StoreError::Sqlite {
            message: format!("{path}: {message}"),
            corrupt,
            full,
        },
        other => other,
    }
}

/// Applies the pending migrations of every module. The versions are read inside the same
/// immediate (write) transaction that applies them, so two processes opening a fresh store
/// never both migrate.
fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let too_new = |what: &str, found: i64, known: i64| StoreError::TooNew {
        path: path.to_string(),
        what: what.to_string(),
        found,
        known,
    };
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > PER_MODULE || (version < PER_MODULE && version > LEGACY_VERSIONS) {
        return Err(too_new("schema", version, PER_MODULE));
    }
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_versions (
             module  TEXT PRIMARY KEY,
             version INTEGER NOT NULL
         ) WITHOUT ROWID;",
    )?;
    if version < PER_MODULE {
        // A fresh store (0) or one of the single-list schema (1 or 2).
        for module in LEGACY_MODULES {
            tx.execute(
                "INSERT OR REPLACE INTO schema_versions (module, version) VALUES (?1, ?2)",
                params![module, version],
            )?;
        }
        tx.pragma_update(None, "user_version", PER_MODULE)?;
    }
    for (module, migrations) in MODULES {
        let applied: i64 = tx
            .query_row(
                "SELECT version FROM schema_versions WHERE module = ?1",
                [module],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let known = migrations.len() as i64;
        if applied > known {
            return Err(too_new(module, applied, known));
        }
        for (i, sql) in migrations.iter().enumerate().skip(applied as usize) {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT OR REPLACE INTO schema_versions (module, version) VALUES (?1, ?2)",
                params![module, i as i64 + 1],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Replaces the source's cursors, in the transaction of the facts they describe.
fn write_cursors(
    tx: &rusqlite::Transaction,
    source: &str,
    cursors: &Cursors,
) -> Result<(), StoreError> {
    tx.execute("DELETE FROM cursors WHERE source = ?1", [source])?;
    let mut cursor =
        tx.prepare_cached("INSERT INTO cursors (source, key, value) VALUES (?1, ?2, ?3)")?;
    for (k, v) in cursors {
        cursor.execute(params![source, k, v])?;
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
    use crate::facts::{CommitFact, CommitOutcome, Credit, GitHistory};

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
        let history = |history: GitHistory| Collection {
            source: "r".into(),
            sets: vec![FactSet::GitHistory(history)],
            cursors: Cursors::new(),
        };
        let facts = history(GitHistory {
            commits: vec![
                commit("s1", 10, "p", None),
                commit("s2", 20, "p", None),
                commit("s3", 30, "q", Some("s2")),
            ],
            ..GitHistory::default()
        });
        store.apply(&facts).unwrap();
        store.apply(&facts).unwrap();
        // Stored again, each commit replaced its rows (none left behind under an old number).
        for table in ["commits", "commit_assets", "credits", "reverts"] {
            let expected = if table == "reverts" { 1 } else { 3 };
            assert_eq!(count_rows(&store, table).unwrap(), expected, "{table}");
        }
        let credits = store.read(|r| r.credits(i64::MIN)).unwrap();
        assert_eq!(
            credits.len(),
            1,
            "s2 was reverted by s3, and s3 is a revert: {credits:?}"
        );
        assert_eq!((credits[0].person.as_str(), credits[0].count), ("p", 1));

        // The revert disappears from history (force push): s2 counts again.
        store
            .apply(&history(GitHistory {
                dropped: vec!["s3".into()],
                ..GitHistory::default()
            }))
            .unwrap();
        let credits = store.read(|r| r.credits(i64::MIN)).unwrap();
        assert_eq!(credits[0].count, 2);
        assert_eq!(count_rows(&store, "credits").unwrap(), 2);
        assert_eq!(count_rows(&store, "reverts").unwrap(), 0);
        assert_current(&store);
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
    fn a_store_of_the_first_schema_is_upgraded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            // The single list's first migration was these three parts, in one batch.
            let conn = Connection::open(&path).unwrap();
            for module in LEGACY_MODULES {
                let (_, migrations) = MODULES.iter().find(|(m, _)| m == module).unwrap();
                conn.execute_batch(migrations[0]).unwrap();
            }
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute_batch(
                "INSERT INTO commits (repository, sha, committed_at, outcome) VALUES ('r', 's', 1, 'credited'), ('r', 'q', 2, 'credited');
                 INSERT INTO commit_assets (repository, sha, asset) VALUES ('r', 's', 'a'), ('r', 'q', 'a');
                 INSERT INTO credits (repository, sha, asset, person, kind, authored) VALUES ('r', 's', 'a', 'p@x', 'code', 1), ('r', 'q', 'a', 'p@x', 'docs', 1);",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_current(&store);
        assert_eq!(count_rows(&store, "commits").unwrap(), 2);
        assert_eq!(count_rows(&store, "commit_assets").unwrap(), 2);
        assert_eq!(count_rows(&store, "commit_signers").unwrap(), 0);
        // The recreated view reads the old rows, each credit with its commit's id and time,
        // numbered in commit time order.
        let rows: Vec<(String, i64, String, i64)> = store
            .lock()
            .prepare(
                "SELECT v.sha, v.committed_at, v.kind, c.seq FROM valid_credits v
                 JOIN commits c ON c.repository = v.repository AND c.sha = v.sha ORDER BY c.seq",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                ("s".to_string(), 1, "code".to_string(), 1),
                ("q".to_string(), 2, "docs".to_string(), 2)
            ]
        );
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
        // One module ahead of this build: refused, and named.
        let path = dir.path().join("t.db");
        Store::open(&path)
            .unwrap()
            .lock()
            .execute(
                "UPDATE schema_versions SET version = 7 WHERE module = 'ownership'",
                [],
            )
            .unwrap();
        match Store::open(&path) {
            Err(e @ StoreError::TooNew { found: 7, .. }) => {
                assert!(e.to_string().contains("ownership"), "{e}")
            }
            other => panic!("expected TooNew, got {:?}", other.err()),
        }
    }

    /// Every module is at its newest migration.
    fn assert_current(store: &Store) {
        let expected: Vec<(String, i64)> = {
            let mut v: Vec<(String, i64)> = MODULES
                .iter()
                .map(|(m, list)| (m.to_string(), list.len() as i64))
                .collect();
            v.sort();
            v
        };
        assert_eq!(store.schema_versions().unwrap(), expected);
    }
}
