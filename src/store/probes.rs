//! The `ProbeSamples` fact type. Each sample is kept for [`RETENTION_DAYS`] (windows and
//! baselines read them), and added once to cumulative totals per target and result (the
//! counters and the latency histogram read those, so they never go down when old samples go).

use rusqlite::params;

use super::{Reader, StoreError};
use crate::facts::ProbeSample;

/// Days of samples kept.
pub const RETENTION_DAYS: i64 = 35;

/// Upper bounds of the probe latency histogram, in seconds.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// This fact type's migrations (see `store::MODULES`). Append only.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE probe_samples (
    source      TEXT NOT NULL,
    target      TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    asset       TEXT NOT NULL,
    result      TEXT NOT NULL,
    latency     REAL,
    value_age   REAL,
    reconnected INTEGER NOT NULL,
    PRIMARY KEY (source, target, at_ms)
) WITHOUT ROWID;
-- Cumulative per target and result: probes, answered probes, the latency sum and the
-- histogram's per-bucket (not cumulative) counts, comma-separated.
CREATE TABLE probe_totals (
    source      TEXT NOT NULL,
    target      TEXT NOT NULL,
    asset       TEXT NOT NULL,
    result      TEXT NOT NULL,
    probes      INTEGER NOT NULL,
    answered    INTEGER NOT NULL,
    latency_sum REAL NOT NULL,
    buckets     TEXT NOT NULL,
    reconnects  INTEGER NOT NULL,
    PRIMARY KEY (source, target, result)
) WITHOUT ROWID;
"#,
    r#"
-- Per feature view, the age of its oldest value in a target's newest probe that returned it.
CREATE TABLE probe_view_ages (
    source       TEXT NOT NULL,
    target       TEXT NOT NULL,
    feature_view TEXT NOT NULL,
    at_ms        INTEGER NOT NULL,
    value_age    REAL NOT NULL,
    PRIMARY KEY (source, target, feature_view)
) WITHOUT ROWID;
"#,
];

/// The index of the bucket a latency falls in (`LATENCY_BUCKETS.len()` for +Inf).
pub fn bucket_of(latency: f64) -> usize {
    LATENCY_BUCKETS
        .iter()
        .position(|b| latency <= *b)
        .unwrap_or(LATENCY_BUCKETS.len())
}

pub(super) fn apply(
    tx: &rusqlite::Transaction,
    source: &str,
    samples: &[ProbeSample],
) -> Result<(), StoreError> {
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO probe_samples (source, target, at_ms, asset, result, latency, value_age, reconnected)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut read = tx.prepare_cached(
        "SELECT probes, answered, latency_sum, buckets, reconnects FROM probe_totals
         WHERE source = ?1 AND target = ?2 AND result = ?3",
    )?;
    let mut write = tx.prepare_cached(
        "INSERT OR REPLACE INTO probe_totals (source, target, asset, result, probes, answered, latency_sum, buckets, reconnects)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    let mut view_age = tx.prepare_cached(
        "INSERT INTO probe_view_ages (source, target, feature_view, at_ms, value_age)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(source, target, feature_view) DO UPDATE SET at_ms = excluded.at_ms,
           value_age = excluded.value_age WHERE excluded.at_ms >= at_ms",
    )?;
    for s in samples {
        let fresh = insert.execute(params![
            source,
            s.target,
            s.at_ms,
            s.asset,
            s.result,
            s.latency,
            s.value_age,
            s.reconnected
        ])?;
        if fresh == 0 {
            continue; // stored before: counted before
        }
        for (view, age) in &s.view_ages {
            view_age.execute(params![source, s.target, view, s.at_ms, age])?;
        }
        let old: Option<(i64, i64, f64, String, i64)> = read
            .query_row(params![source, s.target, s.result], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .ok();
        let (mut probes, mut answered, mut sum, buckets, mut reconnects) =
            old.unwrap_or((0, 0, 0.0, String::new(), 0));
        let mut counts: Vec<u64> = buckets.split(',').filter_map(|n| n.parse().ok()).collect();
        counts.resize(LATENCY_BUCKETS.len() + 1, 0);
        probes += 1;
        reconnects += s.reconnected as i64;
        if let Some(l) = s.latency {
            answered += 1;
            sum += l;
            counts[bucket_of(l)] += 1;
        }
        let buckets: Vec<String> = counts.iter().map(u64::to_string).collect();
        write.execute(params![
            source,
            s.target,
            s.asset,
            s.result,
            probes,
            answered,
            sum,
            buckets.join(","),
            reconnects
        ])?;
    }
    if let Some(newest) = samples.iter().map(|s| s.at_ms).max() {
        tx.execute(
            "DELETE FROM probe_samples WHERE source = ?1 AND at_ms < ?2",
            params![source, newest - RETENTION_DAYS * 86_400_000],
        )?;
    }
    Ok(())
}

/// Cumulative totals of one target and result.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeTotals {
    pub source: String,
    pub target: String,
    pub asset: String,
    pub result: String,
    pub probes: u64,
    pub answered: u64,
    pub latency_sum: f64,
    /// Per-bucket counts, [`LATENCY_BUCKETS`] then +Inf.
    pub buckets: Vec<u64>,
    pub reconnects: u64,
}

/// The age of one feature view's oldest value, as one probe found it.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewAge {
    pub source: String,
    pub target: String,
    pub feature_view: String,
    pub at_ms: i64,
    pub age: f64,
}

/// One kept sample, as derive reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRow {
    pub source: String,
    pub target: String,
    pub asset: String,
    pub at_ms: i64,
    pub result: String,
    pub latency: Option<f64>,
    pub value_age: Option<f64>,
}

impl Reader<'_> {
    pub fn probe_totals(&self) -> Result<Vec<ProbeTotals>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, target, asset, result, probes, answered, latency_sum, buckets, reconnects
             FROM probe_totals ORDER BY source, target, result",
        )?;
        let rows = stmt.query_map([], |r| {
            let buckets: String = r.get(7)?;
            let mut counts: Vec<u64> = buckets.split(',').filter_map(|n| n.parse().ok()).collect();
            counts.resize(LATENCY_BUCKETS.len() + 1, 0);
            Ok(ProbeTotals {
                source: r.get(0)?,
                target: r.get(1)?,
                asset: r.get(2)?,
                result: r.get(3)?,
                probes: r.get::<_, i64>(4)? as u64,
                answered: r.get::<_, i64>(5)? as u64,
                latency_sum: r.get(6)?,
                buckets: counts,
                reconnects: r.get::<_, i64>(8)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Per (source, target, feature view): the newest probe time that returned the view's
    /// values, and their oldest value's age then.
    pub fn probe_view_ages(&self) -> Result<Vec<ViewAge>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, target, feature_view, at_ms, value_age FROM probe_view_ages
             ORDER BY source, target, feature_view",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ViewAge {
                source: r.get(0)?,
                target: r.get(1)?,
                feature_view: r.get(2)?,
                at_ms: r.get(3)?,
                age: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The kept samples, oldest first.
    pub fn probe_samples(&self) -> Result<Vec<ProbeRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT source, target, asset, at_ms, result, latency, value_age FROM probe_samples
             ORDER BY at_ms, source, target",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ProbeRow {
                source: r.get(0)?,
                target: r.get(1)?,
                asset: r.get(2)?,
                at_ms: r.get(3)?,
                result: r.get(4)?,
                latency: r.get(5)?,
                value_age: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
