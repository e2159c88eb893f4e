//! The `Ownership` fact type: CODEOWNERS at the branch tip and the files of each asset.
//! Applying it and every query over it live here.

use std::collections::BTreeMap;

use rusqlite::params;

use super::{Reader, StoreError};
use crate::facts::OwnershipSnapshot;

/// This fact type's migrations (see `store::MODULES`); the first two are its part of the
/// single list stores had before. Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    r#"
CREATE TABLE codeowners_default (
    repository TEXT PRIMARY KEY,
    owners     TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE asset_files (
    repository TEXT NOT NULL,
    asset      TEXT NOT NULL,
    files      INTEGER NOT NULL,
    PRIMARY KEY (repository, asset)
) WITHOUT ROWID;
"#,
];

/// Replaces repository `repo`'s ownership snapshot (one transaction is the caller's).
pub(super) fn apply(
    tx: &rusqlite::Transaction,
    repo: &str,
    ownership: &OwnershipSnapshot,
) -> Result<(), StoreError> {
    tx.execute("DELETE FROM codeowners WHERE repository = ?1", [repo])?;
    tx.execute(
        "DELETE FROM codeowners_default WHERE repository = ?1",
        [repo],
    )?;
    if let Some(owners) = &ownership.default_owners {
        tx.execute(
            "INSERT INTO codeowners_default (repository, owners) VALUES (?1, ?2)",
            params![repo, owners],
        )?;
    }
    tx.execute("DELETE FROM asset_files WHERE repository = ?1", [repo])?;
    {
        let mut files = tx.prepare_cached(
            "INSERT OR REPLACE INTO asset_files (repository, asset, files) VALUES (?1, ?2, ?3)",
        )?;
        for (asset, n) in &ownership.asset_files {
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
        for (asset, sets) in &ownership.asset_owners {
            for set in sets {
                owners.execute(params![repo, asset, set])?;
            }
        }
        let mut invalid = tx.prepare_cached("INSERT OR REPLACE INTO codeowners_invalid (repository, line, reason) VALUES (?1, ?2, ?3)")?;
        for (line, reason) in &ownership.invalid_lines {
            invalid.execute(params![repo, line, reason])?;
        }
    }
    Ok(())
}

impl Reader<'_> {
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
