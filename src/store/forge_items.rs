//! The `ForgeItems` fact type: pull requests and issues with their first responses, and the
//! credits they earn. Applying it and its queries live here; the credits join the git credits
//! in derive through the temporary `all_credits` view (see `Reader::set_forge_assets`).

use rusqlite::params;

use super::{Reader, StoreError};
use crate::facts::ForgeItems;

/// This fact type's migrations (see `store::MODULES`). Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE forge_items (
    source            TEXT NOT NULL,
    repository        TEXT NOT NULL,
    kind              TEXT NOT NULL,
    number            INTEGER NOT NULL,
    author            TEXT NOT NULL,
    opened_at         INTEGER NOT NULL,
    first_response_at INTEGER,
    closed_at         INTEGER,
    PRIMARY KEY (source, repository, kind, number)
) WITHOUT ROWID;
CREATE TABLE forge_credits (
    source     TEXT NOT NULL,
    repository TEXT NOT NULL,
    number     INTEGER NOT NULL,
    person     TEXT NOT NULL,
    kind       TEXT NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (source, repository, number, person, kind)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE forge_releases (
    source       TEXT NOT NULL,
    repository   TEXT NOT NULL,
    id           INTEGER NOT NULL,
    tag          TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    prerelease   INTEGER NOT NULL,
    PRIMARY KEY (source, repository, id)
) WITHOUT ROWID;
"#,
];

pub(super) fn apply(
    tx: &rusqlite::Transaction,
    source: &str,
    facts: &ForgeItems,
) -> Result<(), StoreError> {
    let mut item = tx.prepare_cached(
        "INSERT OR REPLACE INTO forge_items (source, repository, kind, number, author, opened_at, first_response_at, closed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut forget = tx.prepare_cached(
        "DELETE FROM forge_credits WHERE source = ?1 AND repository = ?2 AND number = ?3",
    )?;
    for i in &facts.items {
        item.execute(params![
            source,
            i.repository,
            i.kind,
            i.number as i64,
            i.author,
            i.opened_at,
            i.first_response_at,
            i.closed_at
        ])?;
        // Pull requests and issues share numbers: only pull requests earn credits.
        if i.kind == "pull_request" {
            forget.execute(params![source, i.repository, i.number as i64])?;
        }
    }
    let mut release = tx.prepare_cached(
        "INSERT OR REPLACE INTO forge_releases (source, repository, id, tag, published_at, prerelease)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for r in &facts.releases {
        release.execute(params![
            source,
            r.repository,
            r.id as i64,
            r.tag,
            r.published_at,
            r.prerelease
        ])?;
        forget.execute(params![source, r.repository, -(r.id as i64)])?;
    }
    let mut credit = tx.prepare_cached(
        "INSERT OR REPLACE INTO forge_credits (source, repository, number, person, kind, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for c in &facts.credits {
        credit.execute(params![
            source,
            c.repository,
            c.number,
            c.person,
            c.kind,
            c.at
        ])?;
    }
    let mut person = tx.prepare_cached(
        "INSERT INTO people (key, name) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
    )?;
    for p in &facts.people {
        person.execute(params![p.key, p.name])?;
    }
    Ok(())
}

/// One stored item, as derive reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeItemRow {
    pub source: String,
    pub repository: String,
    pub kind: String,
    pub opened_at: i64,
    pub first_response_at: Option<i64>,
    pub closed_at: Option<i64>,
}

impl Reader<'_> {
    /// Every stored item opened by a person (bot-opened items are not items).
    pub fn forge_items(&self) -> Result<Vec<ForgeItemRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, repository, kind, opened_at, first_response_at, closed_at FROM forge_items
             WHERE author <> '' ORDER BY opened_at, source, repository, kind, number",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ForgeItemRow {
                source: r.get(0)?,
                repository: r.get(1)?,
                kind: r.get(2)?,
                opened_at: r.get(3)?,
                first_response_at: r.get(4)?,
                closed_at: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The asset of each (forge source, repository): forge credits count on it. Until this is
    /// called in a read, forge credits count nowhere.
    pub fn set_forge_assets(&self, rows: &[(String, String, String)]) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM temp.forge_assets", [])?;
        let mut insert = self.conn.prepare_cached(
            "INSERT OR REPLACE INTO temp.forge_assets (source, repository, asset) VALUES (?1, ?2, ?3)",
        )?;
        for (source, repository, asset) in rows {
            insert.execute(params![source, repository, asset])?;
        }
        Ok(())
    }

    /// Per (source, repository), the newest publication time of a release that is not a
    /// prerelease.
    pub fn last_releases(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, repository, MAX(published_at) FROM forge_releases
             WHERE prerelease = 0 GROUP BY source, repository",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// (source, repository) of every stored forge credit, to map onto assets.
    pub fn forge_credit_repositories(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT source, repository FROM forge_credits")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
