//! Reproducibility from every source's checks: checks by asset, environment and result, the
//! pass ratio over windows, its baseline and the catalog's target. A check passes or fails;
//! neutral jobs (cancelled, skipped) were never made checks.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{daily_baseline, windowed_ratio, Context};
use crate::exposition::Family;
use crate::store::{ReproRow, StoreError};

/// The windows when no forge source names any.
const DEFAULT_WINDOWS: [(&str, u64); 3] =
    [("1d", 86_400), ("7d", 7 * 86_400), ("28d", 28 * 86_400)];

pub fn families(cx: &Context) -> Result<Vec<Family>, StoreError> {
    let rows = cx.reader.repro_checks()?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // The asset of a check: its forge source's mapping of its repository.
    let mut by_asset: BTreeMap<String, Vec<&ReproRow>> = BTreeMap::new();
    let mut windows: BTreeMap<String, Duration> = BTreeMap::new();
    for r in &rows {
        let Some(source) = cx.config.sources.iter().find(|s| s.name == r.source) else {
            continue; // a source no longer configured
        };
        let asset = match source.settings.forge() {
            Some(forge) => {
                for (w, d) in &forge.windows {
                    windows.insert(w.clone(), *d);
                }
                forge.asset_of(&r.repository)
            }
            None => r.repository.clone(),
        };
        by_asset.entry(asset).or_default().push(r);
    }
    if windows.is_empty() {
        windows = DEFAULT_WINDOWS
            .iter()
            .map(|(w, s)| (w.to_string(), Duration::from_secs(*s)))
            .collect();
    }
    let mut checks = Family::of(&crate::metrics::REPRO_CHECKS_TOTAL);
    let mut ratio = Family::of(&crate::metrics::REPRO_PASS_RATIO);
    let mut baseline = Family::of(&crate::metrics::REPRO_PASS_RATIO_BASELINE);
    let mut target = Family::of(&crate::metrics::ASSET_REPRODUCIBILITY_TARGET);
    for (asset, rows) in &by_asset {
        let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for r in rows {
            for result in ["pass", "fail"] {
                counts.entry((r.environment.as_str(), result)).or_default();
            }
            *counts
                .entry((
                    r.environment.as_str(),
                    if r.passed { "pass" } else { "fail" },
                ))
                .or_default() += 1;
        }
        for ((environment, result), n) in counts {
            checks.push(
                vec![
                    ("asset", asset.clone()),
                    ("environment", environment.to_string()),
                    ("result", result.to_string()),
                ],
                n as f64,
            );
        }
        let items = || rows.iter().map(|r| (r.checked_at, Some(r.passed)));
        for (w, d) in &windows {
            if let Some(v) = windowed_ratio(items(), cx.now - d.as_secs() as i64, i64::MAX) {
                ratio.push(vec![("asset", asset.clone()), ("window", w.clone())], v);
            }
        }
        if let Some(b) = daily_baseline(cx.now, &cx.config.baseline, |from, to| {
            windowed_ratio(items(), from, to)
        }) {
            baseline.push(vec![("asset", asset.clone())], b);
        }
    }
    for a in &cx.config.catalog {
        if let Some(t) = a.target("reproducibility") {
            target.push(vec![("asset", a.id.clone())], t);
        }
    }
    Ok(vec![checks, ratio, baseline, target])
}
