//! The `Registry` fact type: the assets registries hold (MLflow models, Feast feature views and
//! services), their governance checks, numbers and dependencies, replaced per source at every
//! collection.

use rusqlite::params;

use super::{Reader, StoreError};
use crate::facts::{RegistryAsset, RegistrySnapshot};

/// This fact type's migrations (see `store::MODULES`). Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE registry_assets (
    source     TEXT NOT NULL,
    id         TEXT NOT NULL,
    kind       TEXT NOT NULL,
    owner      TEXT,
    stewards   TEXT NOT NULL,
    lifecycle  TEXT,
    updated_at INTEGER,
    PRIMARY KEY (source, id)
) WITHOUT ROWID;
CREATE TABLE registry_checks (
    source TEXT NOT NULL,
    asset  TEXT NOT NULL,
    name   TEXT NOT NULL,
    passed INTEGER NOT NULL,
    PRIMARY KEY (source, asset, name)
) WITHOUT ROWID;
CREATE TABLE registry_numbers (
    source TEXT NOT NULL,
    asset  TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  REAL NOT NULL,
    PRIMARY KEY (source, asset, name)
) WITHOUT ROWID;
CREATE TABLE registry_edges (
    source     TEXT NOT NULL,
    asset      TEXT NOT NULL,
    depends_on TEXT NOT NULL,
    PRIMARY KEY (source, asset, depends_on)
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE registry_labels (
    source TEXT NOT NULL,
    asset  TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (source, asset, name)
) WITHOUT ROWID;
"#,
];

pub(super) fn apply(
    tx: &rusqlite::Transaction,
    source: &str,
    snapshot: &RegistrySnapshot,
) -> Result<(), StoreError> {
    for table in [
        "registry_assets",
        "registry_checks",
        "registry_numbers",
        "registry_edges",
        "registry_labels",
    ] {
        tx.execute(&format!("DELETE FROM {table} WHERE source = ?1"), [source])?;
    }
    let mut asset = tx.prepare_cached(
        "INSERT OR REPLACE INTO registry_assets (source, id, kind, owner, stewards, lifecycle, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for a in &snapshot.assets {
        asset.execute(params![
            source,
            a.id,
            a.kind,
            a.owner,
            a.stewards.join(","),
            a.lifecycle,
            a.updated_at
        ])?;
    }
    let mut check = tx.prepare_cached(
        "INSERT OR REPLACE INTO registry_checks (source, asset, name, passed) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (a, name, passed) in &snapshot.checks {
        check.execute(params![source, a, name, passed])?;
    }
    let mut number = tx.prepare_cached(
        "INSERT OR REPLACE INTO registry_numbers (source, asset, name, value) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (a, name, value) in &snapshot.numbers {
        number.execute(params![source, a, name, value])?;
    }
    let mut edge = tx.prepare_cached(
        "INSERT OR REPLACE INTO registry_edges (source, asset, depends_on) VALUES (?1, ?2, ?3)",
    )?;
    for (a, on) in &snapshot.edges {
        edge.execute(params![source, a, on])?;
    }
    let mut label = tx.prepare_cached(
        "INSERT OR REPLACE INTO registry_labels (source, asset, name, value) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (a, name, value) in &snapshot.labels {
        label.execute(params![source, a, name, value])?;
    }
    Ok(())
}

impl Reader<'_> {
    /// Every registry's assets: (source, asset).
    pub fn registry_assets(&self) -> Result<Vec<(String, RegistryAsset)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, id, kind, owner, stewards, lifecycle, updated_at FROM registry_assets ORDER BY id, source",
        )?;
        let rows = stmt.query_map([], |r| {
            let stewards: String = r.get(4)?;
            Ok((
                r.get(0)?,
                RegistryAsset {
                    id: r.get(1)?,
                    kind: r.get(2)?,
                    owner: r.get(3)?,
                    stewards: stewards
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                    lifecycle: r.get(5)?,
                    updated_at: r.get(6)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// (source, asset, check, passed) of every registry.
    pub fn registry_checks(&self) -> Result<Vec<(String, String, String, bool)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, asset, name, passed FROM registry_checks ORDER BY asset, name, source",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// (source, asset, name, value) of every registry.
    pub fn registry_numbers(&self) -> Result<Vec<(String, String, String, f64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, asset, name, value FROM registry_numbers ORDER BY asset, name, source",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// (source, asset, name, value) of every registry's labels.
    pub fn registry_labels(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, asset, name, value FROM registry_labels ORDER BY asset, name, source",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// (source, asset, depends on) of every registry.
    pub fn registry_edges(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, asset, depends_on FROM registry_edges ORDER BY asset, depends_on, source",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
