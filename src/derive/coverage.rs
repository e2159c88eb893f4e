//! Coverage per asset, from every source that reports it: CI pipelines that report coverage
//! (GitLab) on the asset's default branches, and coverage reports (the `coverage` source).
//! The asset's coverage is the newest value either gives; its baseline is the median of the
//! daily newest values; its target comes from the catalog.

use std::collections::BTreeMap;

use super::{ci, daily_baseline, Context};
use crate::exposition::Family;
use crate::store::StoreError;

/// (time, line coverage, branch coverage, commit) of one observation.
type Observation = (i64, Option<f64>, Option<f64>, String);

/// The newest value `pick` gives among observations in `[from, to)`.
fn newest(
    obs: &[Observation],
    from: i64,
    to: i64,
    pick: fn(&Observation) -> Option<f64>,
) -> Option<f64> {
    obs.iter()
        .filter(|o| o.0 >= from && o.0 < to)
        .filter_map(|o| Some((o.0, pick(o)?)))
        .max_by_key(|(at, _)| *at)
        .map(|(_, v)| v)
}

/// The group's families from the CI attempts derive mapped once (see [`ci::mapped`]) and the
/// stored coverage reports.
pub fn families(cx: &Context, attempts: &[ci::Mapped]) -> Result<Vec<Family>, StoreError> {
    let mut by_asset: BTreeMap<String, Vec<Observation>> = BTreeMap::new();
    for m in attempts {
        if let (true, Some(c)) = (m.on_default_branch, m.row.coverage) {
            by_asset.entry(m.asset.clone()).or_default().push((
                m.row.completed_at,
                Some(c),
                None,
                String::new(),
            ));
        }
    }
    let reports = cx.reader.coverage_reports()?;
    for r in reports {
        by_asset
            .entry(r.asset)
            .or_default()
            .push((r.at, r.line, r.branch, r.commit));
    }
    let targets: Vec<(String, f64)> = cx
        .config
        .catalog
        .iter()
        .filter_map(|a| Some((a.id.clone(), a.target("coverage")?)))
        .collect();
    if by_asset.is_empty() && targets.is_empty() {
        return Ok(Vec::new());
    }
    let mut line = Family::of(&crate::metrics::ASSET_COVERAGE_RATIO);
    let mut branch = Family::of(&crate::metrics::ASSET_BRANCH_COVERAGE_RATIO);
    let mut baseline = Family::of(&crate::metrics::ASSET_COVERAGE_RATIO_BASELINE);
    let mut target = Family::of(&crate::metrics::ASSET_COVERAGE_TARGET);
    let mut commit = Family::of(&crate::metrics::ASSET_COVERAGE_COMMIT_INFO);
    for (asset, obs) in &by_asset {
        let l = || vec![("asset", asset.clone())];
        if let Some(v) = newest(obs, i64::MIN, i64::MAX, |o| o.1) {
            line.push(l(), v);
        }
        if let Some(v) = newest(obs, i64::MIN, i64::MAX, |o| o.2) {
            branch.push(l(), v);
        }
        if let Some(b) = daily_baseline(cx.now, &cx.config.baseline, |from, to| {
            newest(obs, from, to, |o| o.1)
        }) {
            baseline.push(l(), b);
        }
        if let Some(o) = obs.iter().filter(|o| !o.3.is_empty()).max_by_key(|o| o.0) {
            commit.push(vec![("asset", asset.clone()), ("commit", o.3.clone())], 1.0);
        }
    }
    for (asset, t) in targets {
        target.push(vec![("asset", asset)], t);
    }
    Ok(vec![line, branch, baseline, target, commit])
}
