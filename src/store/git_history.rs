//! The `GitHistory` fact type: mined commits, their credits, revert edges and signers. Applying
//! it and every query over it live here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::params;

use super::{CreditRow, PersonKindRow, Reader, StoreError};
use crate::facts::GitHistory;
use crate::people::NameUse;

/// This fact type's migrations (see `store::MODULES`); the first two are its part of the
/// single list stores had before. Append only.
pub(super) const MIGRATIONS: &[&str] = &[
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
CREATE TABLE git_repositories (
    repository TEXT PRIMARY KEY,
    shallow    INTEGER NOT NULL
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
    r#"
-- Per-commit rows keyed by mining order: `seq` numbers a repository's commits in the order
-- they were mined (oldest first), so a stored batch appends to each table's B-tree instead
-- of touching pages all over it (commit ids are random). The id stays in `commits`, which
-- an index finds by it.
DROP VIEW valid_credits;
CREATE TABLE commits_by_seq (
    repository    TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    sha           TEXT NOT NULL,
    committed_at  INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    blobs_missing INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (repository, seq)
) WITHOUT ROWID;
INSERT INTO commits_by_seq
  SELECT repository, ROW_NUMBER() OVER (PARTITION BY repository ORDER BY committed_at, sha),
         sha, committed_at, outcome, blobs_missing
  FROM commits;
CREATE TABLE commit_assets_by_seq (
    repository TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    asset      TEXT NOT NULL,
    PRIMARY KEY (repository, seq, asset)
) WITHOUT ROWID;
INSERT INTO commit_assets_by_seq
  SELECT a.repository, c.seq, a.asset FROM commit_assets a
  JOIN commits_by_seq c ON c.repository = a.repository AND c.sha = a.sha;
CREATE TABLE credits_by_seq (
    repository TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    asset      TEXT NOT NULL,
    person     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    authored   INTEGER NOT NULL,
    PRIMARY KEY (repository, seq, asset, person, kind)
) WITHOUT ROWID;
INSERT INTO credits_by_seq
  SELECT a.repository, c.seq, a.asset, a.person, a.kind, a.authored FROM credits a
  JOIN commits_by_seq c ON c.repository = a.repository AND c.sha = a.sha;
CREATE TABLE commit_signers_by_seq (
    repository TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    position   INTEGER NOT NULL,
    person     TEXT NOT NULL,
    name       TEXT NOT NULL,
    raw_email  TEXT NOT NULL,
    via        TEXT NOT NULL,
    PRIMARY KEY (repository, seq, position)
) WITHOUT ROWID;
INSERT INTO commit_signers_by_seq
  SELECT a.repository, c.seq, a.position, a.person, a.name, a.raw_email, a.via FROM commit_signers a
  JOIN commits_by_seq c ON c.repository = a.repository AND c.sha = a.sha;
DROP TABLE commits;
DROP TABLE commit_assets;
DROP TABLE credits;
DROP TABLE commit_signers;
ALTER TABLE commits_by_seq RENAME TO commits;
ALTER TABLE commit_assets_by_seq RENAME TO commit_assets;
ALTER TABLE credits_by_seq RENAME TO credits;
ALTER TABLE commit_signers_by_seq RENAME TO commit_signers;
CREATE UNIQUE INDEX commits_by_sha ON commits (repository, sha);
-- A credit counts while its commit is reachable, is not a revert, and has no standing revert.
CREATE VIEW valid_credits AS
SELECT cr.repository, c.sha, cr.asset, cr.person, cr.kind, cr.authored, c.committed_at
FROM credits cr
JOIN commits c ON c.repository = cr.repository AND c.seq = cr.seq
WHERE NOT EXISTS (SELECT 1 FROM reverts r WHERE r.repository = cr.repository AND r.sha = c.sha)
  AND NOT EXISTS (SELECT 1 FROM reverted v WHERE v.repository = cr.repository AND v.sha = c.sha);
"#,
    r#"
-- Cost in proportion to change: what derive reads of a whole history is tallied as commits
-- are stored, so reading it costs no scan of the history. Appending commits adds to the
-- tallies; anything else (a reset, dropped or re-stored commits) counts the repository's
-- again, and bumps its generation, which tells derive that what it built from the
-- repository's earlier commits no longer holds (a changed set of standing reverts too).
ALTER TABLE git_repositories ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
CREATE TABLE git_counts (
    repository TEXT NOT NULL,
    -- `outcome:<stored outcome>` or `blobs_missing`
    name       TEXT NOT NULL,
    commits    INTEGER NOT NULL,
    PRIMARY KEY (repository, name)
) WITHOUT ROWID;
INSERT INTO git_counts SELECT repository, 'outcome:' || outcome, COUNT(*) FROM commits GROUP BY repository, outcome;
INSERT INTO git_counts SELECT repository, 'blobs_missing', COUNT(*) FROM commits WHERE blobs_missing = 1 GROUP BY repository;
CREATE TABLE git_name_uses (
    repository TEXT NOT NULL,
    person     TEXT NOT NULL,
    name       TEXT NOT NULL,
    uses       INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    -- By person first: the people's join reads it summed over repositories, in this order.
    PRIMARY KEY (person, name, repository)
) WITHOUT ROWID;
INSERT INTO git_name_uses
  SELECT s.repository, s.person, s.name, COUNT(*), MAX(c.committed_at) FROM commit_signers s
  JOIN commits c ON c.repository = s.repository AND c.seq = s.seq
  GROUP BY s.repository, s.person, s.name;
CREATE TABLE git_asset_updates (
    repository TEXT NOT NULL,
    asset      TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (repository, asset)
) WITHOUT ROWID;
INSERT INTO git_asset_updates
  SELECT a.repository, a.asset, MAX(c.committed_at) FROM commit_assets a
  JOIN commits c ON c.repository = a.repository AND c.seq = a.seq
  GROUP BY a.repository, a.asset;
"#,
];

/// The tables keyed by (repository, seq), one row set per stored commit (`reverts`, keyed
/// by commit id, is handled beside them).
const PER_COMMIT_TABLES: &[&str] = &["commits", "commit_assets", "credits", "commit_signers"];

/// Applies mined commits of repository `repo` (one transaction is the caller's), keeping the
/// repository's tallies and generation (see the migration above).
pub(super) fn apply(
    tx: &rusqlite::Transaction,
    repo: &str,
    git: &GitHistory,
) -> Result<(), StoreError> {
    // Anything but an append makes what was built from the earlier commits stale.
    let mut rewritten = git.reset;
    if git.reset {
        for table in PER_COMMIT_TABLES.iter().chain(&["reverts"]) {
            tx.execute(
                &format!("DELETE FROM {table} WHERE repository = ?1"),
                [repo],
            )?;
        }
    }
    for sha in &git.dropped {
        rewritten |= forget_commit(tx, repo, sha)?;
    }
    // What the appended commits add to the tallies.
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut uses: HashMap<(&str, &str), (i64, i64)> = HashMap::new();
    let mut updates: HashMap<&str, i64> = HashMap::new();
    {
        let mut commit = tx.prepare_cached("INSERT INTO commits (repository, seq, sha, committed_at, outcome, blobs_missing) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
        let mut signer = tx.prepare_cached("INSERT INTO commit_signers (repository, seq, position, person, name, raw_email, via) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
        let mut asset = tx.prepare_cached(
            "INSERT OR IGNORE INTO commit_assets (repository, seq, asset) VALUES (?1, ?2, ?3)",
        )?;
        let mut credit = tx.prepare_cached(
            "INSERT OR REPLACE INTO credits (repository, seq, asset, person, kind, authored) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let mut revert = tx.prepare_cached(
            "INSERT OR REPLACE INTO reverts (repository, sha, reverted_sha) VALUES (?1, ?2, ?3)",
        )?;
        // In mining order, numbered after the repository's last stored commit: each table's
        // rows of a batch append to its B-tree.
        let mut seq: i64 = tx.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM commits WHERE repository = ?1",
            [repo],
            |r| r.get(0),
        )?;
        for c in &git.commits {
            // Storing a commit again replaces it (collecting twice never stores twice).
            rewritten |= forget_commit(tx, repo, &c.sha)?;
            seq += 1;
            commit.execute(params![
                repo,
                seq,
                c.sha,
                c.committed_at,
                c.outcome.as_str(),
                c.blobs_missing
            ])?;
            *counts
                .entry(format!("outcome:{}", c.outcome.as_str()))
                .or_default() += 1;
            if c.blobs_missing {
                *counts.entry("blobs_missing".into()).or_default() += 1;
            }
            for (i, s) in c.signers.iter().enumerate() {
                signer.execute(params![repo, seq, i, s.person, s.name, s.raw_email, s.via])?;
                let u = uses.entry((&s.person, &s.name)).or_insert((0, i64::MIN));
                u.0 += 1;
                u.1 = u.1.max(c.committed_at);
            }
            for a in &c.assets {
                asset.execute(params![repo, seq, a])?;
                let at = updates.entry(a).or_insert(i64::MIN);
                *at = (*at).max(c.committed_at);
            }
            for cr in &c.credits {
                credit.execute(params![
                    repo,
                    seq,
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
    tx.execute(
        "INSERT INTO git_repositories (repository, shallow) VALUES (?1, ?2)
         ON CONFLICT(repository) DO UPDATE SET shallow = excluded.shallow",
        params![repo, git.shallow],
    )?;
    rewritten |= refresh_reverted(tx, repo)?;
    if rewritten {
        recount(tx, repo)?;
        tx.execute(
            "UPDATE git_repositories SET generation = generation + 1 WHERE repository = ?1",
            [repo],
        )?;
    } else {
        let mut count = tx.prepare_cached(
            "INSERT INTO git_counts (repository, name, commits) VALUES (?1, ?2, ?3)
             ON CONFLICT(repository, name) DO UPDATE SET commits = commits + excluded.commits",
        )?;
        for (name, n) in &counts {
            count.execute(params![repo, name, n])?;
        }
        let mut name_use = tx.prepare_cached(
            "INSERT INTO git_name_uses (repository, person, name, uses, last_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(person, name, repository) DO UPDATE SET uses = uses + excluded.uses,
               last_at = MAX(last_at, excluded.last_at)",
        )?;
        for ((person, name), (n, at)) in &uses {
            name_use.execute(params![repo, person, name, n, at])?;
        }
        let mut update = tx.prepare_cached(
            "INSERT INTO git_asset_updates (repository, asset, at) VALUES (?1, ?2, ?3)
             ON CONFLICT(repository, asset) DO UPDATE SET at = MAX(at, excluded.at)",
        )?;
        for (asset, at) in &updates {
            update.execute(params![repo, asset, at])?;
        }
    }
    Ok(())
}

/// Counts the tallies of `repo` again from its stored commits (after anything but an append).
fn recount(tx: &rusqlite::Transaction, repo: &str) -> Result<(), StoreError> {
    for table in ["git_counts", "git_name_uses", "git_asset_updates"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE repository = ?1"),
            [repo],
        )?;
    }
    tx.execute(
        "INSERT INTO git_counts SELECT repository, 'outcome:' || outcome, COUNT(*) FROM commits
         WHERE repository = ?1 GROUP BY outcome",
        [repo],
    )?;
    tx.execute(
        "INSERT INTO git_counts SELECT repository, 'blobs_missing', COUNT(*) FROM commits
         WHERE repository = ?1 AND blobs_missing = 1 GROUP BY repository",
        [repo],
    )?;
    tx.execute(
        "INSERT INTO git_name_uses
         SELECT s.repository, s.person, s.name, COUNT(*), MAX(c.committed_at) FROM commit_signers s
         JOIN commits c ON c.repository = s.repository AND c.seq = s.seq
         WHERE s.repository = ?1 GROUP BY s.person, s.name",
        [repo],
    )?;
    tx.execute(
        "INSERT INTO git_asset_updates
         SELECT a.repository, a.asset, MAX(c.committed_at) FROM commit_assets a
         JOIN commits c ON c.repository = a.repository AND c.seq = a.seq
         WHERE a.repository = ?1 GROUP BY a.asset",
        [repo],
    )?;
    Ok(())
}

/// Removes a stored commit of `repo` (if stored) and its per-commit rows; says whether one
/// was stored.
fn forget_commit(tx: &rusqlite::Transaction, repo: &str, sha: &str) -> Result<bool, StoreError> {
    let seq: Option<i64> = {
        let mut find =
            tx.prepare_cached("SELECT seq FROM commits WHERE repository = ?1 AND sha = ?2")?;
        let mut rows = find.query(params![repo, sha])?;
        match rows.next()? {
            Some(r) => Some(r.get(0)?),
            None => None,
        }
    };
    if let Some(seq) = seq {
        for table in PER_COMMIT_TABLES {
            tx.prepare_cached(&format!(
                "DELETE FROM {table} WHERE repository = ?1 AND seq = ?2"
            ))?
            .execute(params![repo, seq])?;
        }
    }
    let edges = tx
        .prepare_cached("DELETE FROM reverts WHERE repository = ?1 AND sha = ?2")?
        .execute(params![repo, sha])?;
    Ok(seq.is_some() || edges > 0)
}

/// Rewrites the repository's `reverted` rows from its revert edges; says whether the set of
/// commits with a standing revert changed.
pub(super) fn refresh_reverted(tx: &rusqlite::Transaction, repo: &str) -> Result<bool, StoreError> {
    let edges: Vec<(String, String)> = {
        let mut stmt =
            tx.prepare_cached("SELECT sha, reverted_sha FROM reverts WHERE repository = ?1")?;
        let rows = stmt.query_map([repo], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let before: BTreeSet<String> = {
        let mut stmt = tx.prepare_cached("SELECT sha FROM reverted WHERE repository = ?1")?;
        let rows = stmt.query_map([repo], |r| r.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let after = with_standing_revert(&edges);
    if before.len() == after.len() && after.iter().all(|sha| before.contains(*sha)) {
        return Ok(false);
    }
    tx.execute("DELETE FROM reverted WHERE repository = ?1", [repo])?;
    let mut insert =
        tx.prepare_cached("INSERT OR IGNORE INTO reverted (repository, sha) VALUES (?1, ?2)")?;
    for sha in after {
        insert.execute([repo, sha])?;
    }
    Ok(true)
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

/// Valid credits `v` with `who`, the person id of each credit's key through the map derive
/// installs (opted-out people map to ''). Distinct commits are counted by sha: an asset lives in
/// one repository, and the same commit in two mined repositories (a fork) is one piece of work.
const CREDITS_WITH_WHO: &str = "SELECT v.*, COALESCE(m.person, v.person) AS who
    FROM temp.all_credits v LEFT JOIN temp.person_map m ON m.key = v.person";

/// Column `i` of `row` as text, borrowed from the row.
fn text<'r>(row: &'r rusqlite::Row<'_>, i: usize) -> Result<&'r str, rusqlite::Error> {
    row.get_ref(i)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Walks `commits` in primary-key order (repository, mining order) beside another scan in the
/// same order (a merge join): [`CommitCursor::seek`] finds a commit without a lookup per row.
struct CommitCursor<'s> {
    rows: rusqlite::Rows<'s>,
    repo: String,
    seq: i64,
    sha: String,
    at: i64,
    done: bool,
}

/// The query a [`CommitCursor`] walks.
const COMMITS_IN_ORDER: &str =
    "SELECT repository, seq, sha, committed_at FROM commits ORDER BY repository, seq";

impl<'s> CommitCursor<'s> {
    /// A cursor over `rows`, which hold (repository, seq, sha, committed_at) in key order.
    fn from_rows(rows: rusqlite::Rows<'s>) -> CommitCursor<'s> {
        CommitCursor {
            rows,
            repo: String::new(),
            seq: i64::MIN,
            sha: String::new(),
            at: 0,
            done: false,
        }
    }

    /// Moves to commit (`repo`, `seq`) and says whether it is stored (then `sha` and `at` are
    /// its); calls must come in non-decreasing key order.
    fn seek(&mut self, repo: &str, seq: i64) -> Result<bool, rusqlite::Error> {
        while !self.done && (self.repo.as_str(), self.seq) < (repo, seq) {
            match self.rows.next()? {
                Some(c) => {
                    self.repo.clear();
                    self.repo.push_str(text(c, 0)?);
                    self.seq = c.get(1)?;
                    self.sha.clear();
                    self.sha.push_str(text(c, 2)?);
                    self.at = c.get(3)?;
                }
                None => self.done = true,
            }
        }
        Ok(self.repo == repo && self.seq == seq)
    }
}

/// One valid credit as [`Reader::for_each_valid_credit`] hands it over: borrowed for the call.
#[derive(Debug, Clone, Copy)]
pub struct CreditRef<'a> {
    /// The commit's id, or `item:REPOSITORY#NUMBER` for a forge item.
    pub sha: &'a str,
    pub asset: &'a str,
    /// The identity key (before joining into people).
    pub person: &'a str,
    pub kind: &'a str,
    /// Author or co-author (not a trailer, a changelog mention or a forge item).
    pub authored: bool,
    pub committed_at: i64,
}

/// One row of a name-use query: (key, name, uses, newest time).
fn name_use(r: &rusqlite::Row<'_>) -> rusqlite::Result<NameUse> {
    Ok(NameUse {
        key: r.get(0)?,
        name: r.get(1)?,
        uses: r.get(2)?,
        last_at: r.get(3)?,
    })
}

impl Reader<'_> {
    /// Installs the unification of person keys into people (key → person id; '' drops the
    /// key's credits). Later queries use it; it lives in this connection's temporary schema,
    /// never in the file.
    pub fn set_people(&self, key_map: &[(String, String)]) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM temp.person_map", [])?;
        let mut map = self.conn.prepare_cached(
            "INSERT OR REPLACE INTO temp.person_map (key, person) VALUES (?1, ?2)",
        )?;
        for (k, p) in key_map {
            map.execute([k, p])?;
        }
        Ok(())
    }

    /// Calls `f` with every valid git credit, in commit order by repository and mining order;
    /// with `after`, only those of commits stored after the given mining order of their
    /// repository (absent repositories: all). All credits of one commit come one after the
    /// other, and `f` is told when a new one starts (its first argument is true). Scans in
    /// primary-key order merged here, with the (few) reverts held in memory: no per-credit
    /// lookups, and nothing held per commit.
    pub fn for_each_git_credit(
        &self,
        after: Option<&BTreeMap<String, i64>>,
        mut f: impl FnMut(bool, CreditRef<'_>),
    ) -> Result<(), StoreError> {
        let conn = self.conn;
        let mut excluded: std::collections::HashSet<(String, String)> = Default::default();
        for sql in [
            "SELECT repository, sha FROM reverts",
            "SELECT repository, sha FROM reverted",
        ] {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            for row in rows {
                excluded.insert(row?);
            }
        }
        // One range of each repository (from its mark on), or every commit.
        let ranges: Vec<(Option<String>, i64)> = match after {
            None => vec![(None, 0)],
            Some(marks) => {
                let mut stmt = conn.prepare_cached("SELECT repository FROM git_repositories")?;
                let repos: Vec<String> = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                repos
                    .into_iter()
                    .map(|r| {
                        let from = marks.get(&r).copied().unwrap_or(0);
                        (Some(r), from)
                    })
                    .collect()
            }
        };
        for (repo, from) in ranges {
            let (commits_sql, credits_sql) = match repo {
                None => (
                    COMMITS_IN_ORDER.to_string(),
                    "SELECT repository, seq, asset, person, kind, authored FROM credits
                     ORDER BY repository, seq, asset, person, kind"
                        .to_string(),
                ),
                Some(_) => (
                    "SELECT repository, seq, sha, committed_at FROM commits
                     WHERE repository = ?1 AND seq > ?2 ORDER BY repository, seq"
                        .to_string(),
                    "SELECT repository, seq, asset, person, kind, authored FROM credits
                     WHERE repository = ?1 AND seq > ?2 ORDER BY repository, seq, asset, person, kind"
                        .to_string(),
                ),
            };
            let mut commits_stmt = conn.prepare_cached(&commits_sql)?;
            let mut credits_stmt = conn.prepare_cached(&credits_sql)?;
            let (mut commits, mut credits) = match &repo {
                None => (
                    CommitCursor::from_rows(commits_stmt.query([])?),
                    credits_stmt.query([])?,
                ),
                Some(r) => (
                    CommitCursor::from_rows(commits_stmt.query(params![r, from])?),
                    credits_stmt.query(params![r, from])?,
                ),
            };
            // The commit the credits are at, and whether it counts.
            let (mut last_repo, mut last_seq, mut counts) = (String::new(), i64::MIN, false);
            while let Some(row) = credits.next()? {
                let (cr_repo, cr_seq) = (text(row, 0)?, row.get::<_, i64>(1)?);
                let first = cr_seq != last_seq || cr_repo != last_repo;
                if first {
                    last_repo.clear();
                    last_repo.push_str(cr_repo);
                    last_seq = cr_seq;
                    counts = commits.seek(cr_repo, cr_seq)?
                        && (excluded.is_empty()
                            || !excluded.contains(&(last_repo.clone(), commits.sha.clone())));
                }
                if counts {
                    f(
                        first,
                        CreditRef {
                            sha: &commits.sha,
                            asset: text(row, 2)?,
                            person: text(row, 3)?,
                            kind: text(row, 4)?,
                            authored: row.get::<_, i64>(5)? != 0,
                            committed_at: commits.at,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// Calls `f` with every forge credit on the asset its repository maps to (never as
    /// authored; the item stands for the commit), by item; as [`Reader::for_each_git_credit`]
    /// tells it when a new item starts. Needs [`crate::derive::map_forge_assets`].
    pub fn for_each_forge_credit(
        &self,
        mut f: impl FnMut(bool, CreditRef<'_>),
    ) -> Result<(), StoreError> {
        let mut forge_stmt = self.conn.prepare_cached(
            "SELECT 'item:' || f.repository || '#' || f.number AS item, a.asset, f.person, f.kind, f.at
             FROM main.forge_credits f JOIN temp.forge_assets a ON a.source = f.source AND a.repository = f.repository
             ORDER BY item",
        )?;
        let mut forge = forge_stmt.query([])?;
        let mut last_item = String::new();
        while let Some(row) = forge.next()? {
            let item = text(row, 0)?;
            let first = item != last_item;
            if first {
                last_item.clear();
                last_item.push_str(item);
            }
            f(
                first,
                CreditRef {
                    sha: item,
                    asset: text(row, 1)?,
                    person: text(row, 2)?,
                    kind: text(row, 3)?,
                    authored: false,
                    committed_at: row.get(4)?,
                },
            );
        }
        Ok(())
    }

    /// Every valid credit: git's ([`Reader::for_each_git_credit`]), then the forges'
    /// ([`Reader::for_each_forge_credit`]).
    pub fn for_each_valid_credit(
        &self,
        mut f: impl FnMut(bool, CreditRef<'_>),
    ) -> Result<(), StoreError> {
        self.for_each_git_credit(None, &mut f)?;
        self.for_each_forge_credit(f)
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

    /// How often each key signed a non-merge commit as author or co-author under each name
    /// (from the tallies kept as commits are stored).
    pub fn name_uses(&self) -> Result<Vec<NameUse>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT person, name, SUM(uses), MAX(last_at) FROM git_name_uses
             GROUP BY person, name ORDER BY person, name",
        )?;
        let rows = stmt.query_map([], name_use)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// What the commits of `repository` stored after its `after`-th (in mining order) add to
    /// [`Reader::name_uses`]: the same figures over those commits alone, sorted the same way.
    pub fn name_uses_after(
        &self,
        repository: &str,
        after: i64,
    ) -> Result<Vec<NameUse>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT s.person, s.name, COUNT(*), MAX(c.committed_at) FROM commit_signers s
             JOIN commits c ON c.repository = s.repository AND c.seq = s.seq
             WHERE s.repository = ?1 AND s.seq > ?2
             GROUP BY s.person, s.name ORDER BY s.person, s.name",
        )?;
        let rows = stmt.query_map(rusqlite::params![repository, after], name_use)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every (co-)authorship of a mined commit: (identity key, commit time), by key.
    pub fn authored_times(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT s.person, c.committed_at FROM commit_signers s
             JOIN commits c ON c.repository = s.repository AND c.seq = s.seq
             ORDER BY s.person",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
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

    /// Newest commit time per asset, over every mined non-merge commit that touched it (from
    /// the tallies kept as commits are stored).
    pub fn asset_last_updates(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let conn = self.conn;
        let mut stmt =
            conn.prepare_cached("SELECT asset, MAX(at) FROM git_asset_updates GROUP BY asset")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Commits per repository and outcome; `revert` (names a target) and `reverted` (has a
    /// standing revert) are reported as outcomes of their own, ahead of the stored one (but
    /// never for a merge). From the stored outcomes' tallies, moved for the (few) commits in
    /// revert edges: those are looked up by id (`CROSS JOIN` keeps SQLite from scanning
    /// every commit instead, which it chooses without statistics).
    pub fn commit_outcomes(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let conn = self.conn;
        let mut counts: BTreeMap<(String, String), i64> = BTreeMap::new();
        let mut stmt = conn.prepare_cached(
            "SELECT repository, substr(name, 9), commits FROM git_counts WHERE name LIKE 'outcome:%'",
        )?;
        for row in stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)?)))? {
            let (repo, outcome, n) = row?;
            *counts.entry((repo, outcome)).or_default() += n;
        }
        let mut moved = conn.prepare_cached(
            "SELECT c.repository, c.outcome,
                    EXISTS (SELECT 1 FROM reverts r WHERE r.repository = c.repository AND r.sha = c.sha)
             FROM (SELECT repository, sha FROM reverts UNION SELECT repository, sha FROM reverted) x
             CROSS JOIN commits c ON c.repository = x.repository AND c.sha = x.sha
             WHERE c.outcome <> 'merge'",
        )?;
        for row in moved.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
            ))
        })? {
            let (repo, outcome, revert) = row?;
            *counts.entry((repo.clone(), outcome)).or_default() -= 1;
            let now = if revert { "revert" } else { "reverted" };
            *counts.entry((repo, now.to_string())).or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|((repo, outcome), n)| (repo, outcome, n as u64))
            .collect())
    }

    /// Commits per repository mined without some blob they needed (partial clones).
    pub fn commits_without_blobs(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT repository, commits FROM git_counts WHERE name = 'blobs_missing'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Per git repository: the mining order of its newest stored commit (0 without any) and
    /// its generation, which changes whenever anything but an append changed what it holds.
    pub fn git_marks(&self) -> Result<BTreeMap<String, (i64, i64)>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached(
            "SELECT g.repository, COALESCE((SELECT MAX(seq) FROM commits c WHERE c.repository = g.repository), 0), g.generation
             FROM git_repositories g",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Key → the name a source stored for it.
    pub fn people(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let conn = self.conn;
        let mut stmt = conn.prepare_cached("SELECT key, name FROM people")?;
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
}
