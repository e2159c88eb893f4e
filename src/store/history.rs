//! A store "as of" a past time, for `mlsteward backfill`: a scratch store that is fed the
//! facts of a real one in time order, so every query of derive sees exactly what had happened
//! by then. Commits (with their assets, credits and signers) arrive at their committer time,
//! revert edges at the revert's, forge credits at theirs; standing reverts are recomputed as
//! each revert arrives, so a commit reverted later keeps its credit until then. People (the
//! identities) are copied whole: display names and joins are today's.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Store, StoreError};

/// The tables copied by time, each with the select that picks the rows committed in
/// `(?1, ?2]` from the attached `src`.
const BY_TIME: &[(&str, &str)] = &[
    (
        "commits",
        "SELECT * FROM src.commits WHERE committed_at > ?1 AND committed_at <= ?2",
    ),
    (
        "commit_assets",
        "SELECT a.* FROM src.commit_assets a JOIN src.commits c ON c.repository = a.repository AND c.seq = a.seq WHERE c.committed_at > ?1 AND c.committed_at <= ?2",
    ),
    (
        "credits",
        "SELECT a.* FROM src.credits a JOIN src.commits c ON c.repository = a.repository AND c.seq = a.seq WHERE c.committed_at > ?1 AND c.committed_at <= ?2",
    ),
    (
        "commit_signers",
        "SELECT a.* FROM src.commit_signers a JOIN src.commits c ON c.repository = a.repository AND c.seq = a.seq WHERE c.committed_at > ?1 AND c.committed_at <= ?2",
    ),
    (
        "reverts",
        "SELECT a.* FROM src.reverts a JOIN src.commits c ON c.repository = a.repository AND c.sha = a.sha WHERE c.committed_at > ?1 AND c.committed_at <= ?2",
    ),
    (
        "forge_credits",
        "SELECT * FROM src.forge_credits WHERE at > ?1 AND at <= ?2",
    ),
];

/// The tallies of what `BY_TIME` copied in `(?1, ?2]` (see `git_history`), added to.
const TALLIES: &[&str] = &[
    "INSERT INTO main.git_counts (repository, name, commits)
     SELECT repository, 'outcome:' || outcome, COUNT(*) FROM src.commits
     WHERE committed_at > ?1 AND committed_at <= ?2 GROUP BY repository, outcome
     ON CONFLICT(repository, name) DO UPDATE SET commits = commits + excluded.commits",
    "INSERT INTO main.git_counts (repository, name, commits)
     SELECT repository, 'blobs_missing', COUNT(*) FROM src.commits
     WHERE committed_at > ?1 AND committed_at <= ?2 AND blobs_missing = 1 GROUP BY repository
     ON CONFLICT(repository, name) DO UPDATE SET commits = commits + excluded.commits",
    "INSERT INTO main.git_name_uses (repository, person, name, uses, last_at)
     SELECT s.repository, s.person, s.name, COUNT(*), MAX(c.committed_at) FROM src.commit_signers s
     JOIN src.commits c ON c.repository = s.repository AND c.seq = s.seq
     WHERE c.committed_at > ?1 AND c.committed_at <= ?2 GROUP BY s.repository, s.person, s.name
     ON CONFLICT(person, name, repository) DO UPDATE SET uses = uses + excluded.uses,
       last_at = MAX(last_at, excluded.last_at)",
    "INSERT INTO main.git_asset_updates (repository, asset, at)
     SELECT a.repository, a.asset, MAX(c.committed_at) FROM src.commit_assets a
     JOIN src.commits c ON c.repository = a.repository AND c.seq = a.seq
     WHERE c.committed_at > ?1 AND c.committed_at <= ?2 GROUP BY a.repository, a.asset
     ON CONFLICT(repository, asset) DO UPDATE SET at = MAX(at, excluded.at)",
];

/// Tables copied whole at the start: identities, and which repositories exist.
const WHOLE: &[&str] = &["people", "git_repositories", "ci_repositories"];

/// A scratch store fed the facts of another up to a moving time.
pub struct AsOf {
    store: Store,
    at: i64,
}

impl AsOf {
    /// A scratch store in `dir` (a fresh file) over the facts of the store at `source`.
    pub fn new(source: &Path, dir: &Path) -> Result<AsOf, StoreError> {
        let store = Store::open(&dir.join("as-of.db"))?;
        {
            let conn = store.lock();
            store.at((|| {
                conn.execute(
                    "ATTACH DATABASE ?1 AS src",
                    [format!("file:{}?mode=ro", source.display())],
                )?;
                for table in WHOLE {
                    conn.execute(
                        &format!("INSERT INTO main.{table} SELECT * FROM src.{table}"),
                        [],
                    )?;
                }
                Ok(())
            })())?;
        }
        Ok(AsOf {
            store,
            at: i64::MIN,
        })
    }

    /// The store as of the last [`AsOf::advance`].
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Adds what happened after the current time and up to `to` (times only move forward).
    pub fn advance(&mut self, to: i64) -> Result<(), StoreError> {
        if to <= self.at {
            return Ok(());
        }
        let from = self.at;
        let mut conn = self.store.lock();
        self.store.at((|| {
            let tx = conn.transaction()?;
            for (table, select) in BY_TIME {
                tx.execute(&format!("INSERT INTO main.{table} {select}"), [from, to])?;
            }
            for tally in TALLIES {
                tx.execute(tally, [from, to])?;
            }
            let touched: BTreeSet<String> = {
                let mut stmt = tx.prepare(
                    "SELECT DISTINCT a.repository FROM src.reverts a JOIN src.commits c ON c.repository = a.repository AND c.sha = a.sha WHERE c.committed_at > ?1 AND c.committed_at <= ?2",
                )?;
                let rows = stmt.query_map([from, to], |r| r.get(0))?;
                rows.collect::<Result<_, _>>()?
            };
            for repo in &touched {
                super::git_history::refresh_reverted(&tx, repo)?;
            }
            tx.commit()?;
            Ok(())
        })())?;
        drop(conn);
        self.at = to;
        Ok(())
    }
}
