//! Responsiveness from forge items (issues and pull requests opened by people): time to first
//! response, the share answered within the asset's objective over windows with its baseline
//! and target, and the items waiting beyond it; and each asset's last release. Definitions are docs/metrics.md's: the response is
//! the first comment, review or inline review comment by a human other than the author.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{daily_baseline, windowed_ratio, Context};
use crate::config::DEFAULT_RESPONSE_OBJECTIVE;
use crate::exposition::{Family, Histogram};
use crate::store::{ForgeItemRow, StoreError};

/// Upper bounds of the time-to-first-response histogram, in seconds.
pub const RESPONSE_BUCKETS: [f64; 9] = [
    3600.0, 14400.0, 28800.0, 86400.0, 172800.0, 259200.0, 604800.0, 1209600.0, 2592000.0,
];

/// Whether an item opened at `opened` counts in the share within `objective`, and how:
/// `Some(true)` answered within it, `Some(false)` answered late or unanswered past it,
/// `None` unanswered with its objective not yet elapsed at `now`.
pub fn within(item: &ForgeItemRow, objective: i64, now: i64) -> Option<bool> {
    match item.first_response_at {
        Some(at) => Some(at - item.opened_at <= objective),
        None if now - item.opened_at > objective => Some(false),
        None => None,
    }
}

/// The newest release (published, neither draft nor prerelease) of each asset's
/// repositories.
fn last_releases(cx: &Context) -> Result<Family, StoreError> {
    let mut family = Family::of(&crate::metrics::ASSET_LAST_RELEASE_TIMESTAMP_SECONDS);
    let mut newest: BTreeMap<String, i64> = BTreeMap::new();
    for (source, repository, at) in cx.reader.last_releases()? {
        let Some(forge) = cx
            .config
            .sources
            .iter()
            .find(|s| s.name == source)
            .and_then(|s| s.settings.forge())
        else {
            continue;
        };
        let e = newest.entry(forge.asset_of(&repository)).or_insert(at);
        *e = (*e).max(at);
    }
    for (asset, at) in newest {
        family.push(vec![("asset", asset)], at as f64);
    }
    Ok(family)
}

pub fn families(cx: &Context) -> Result<Vec<Family>, StoreError> {
    if !cx
        .config
        .sources
        .iter()
        .any(|s| s.settings.forge().is_some())
    {
        return Ok(Vec::new());
    }
    let releases = last_releases(cx)?;
    let rows = cx.reader.forge_items()?;
    if rows.is_empty() {
        return Ok(vec![releases]);
    }
    let mut by_asset: BTreeMap<String, Vec<&ForgeItemRow>> = BTreeMap::new();
    let mut windows: BTreeMap<String, Duration> = BTreeMap::new();
    for r in &rows {
        let Some(forge) = cx
            .config
            .sources
            .iter()
            .find(|s| s.name == r.source)
            .and_then(|s| s.settings.forge())
        else {
            continue;
        };
        for (w, d) in &forge.windows {
            windows.insert(w.clone(), *d);
        }
        by_asset
            .entry(forge.asset_of(&r.repository))
            .or_default()
            .push(r);
    }
    let objective_of = |asset: &str| {
        cx.config
            .catalog
            .iter()
            .find(|a| a.id == asset)
            .map_or(DEFAULT_RESPONSE_OBJECTIVE, |a| a.response_objective)
            .as_secs() as i64
    };
    let mut first = Family::of(&crate::metrics::FIRST_RESPONSE_SECONDS);
    let mut objective = Family::of(&crate::metrics::ASSET_RESPONSE_OBJECTIVE_SECONDS);
    let mut ratio = Family::of(&crate::metrics::RESPONSES_WITHIN_OBJECTIVE_RATIO);
    let mut baseline = Family::of(&crate::metrics::RESPONSES_WITHIN_OBJECTIVE_RATIO_BASELINE);
    let mut target = Family::of(&crate::metrics::ASSET_RESPONSES_WITHIN_OBJECTIVE_TARGET);
    let mut waiting = Family::of(&crate::metrics::ITEMS_WAITING_BEYOND_OBJECTIVE);
    for (asset, items) in &by_asset {
        let obj = objective_of(asset);
        objective.push(vec![("asset", asset.clone())], obj as f64);
        for kind in ["issue", "pull_request"] {
            let mut h = Histogram::new(&RESPONSE_BUCKETS);
            let mut late = 0u64;
            for i in items.iter().filter(|i| i.kind == kind) {
                if let Some(at) = i.first_response_at {
                    h.observe((at - i.opened_at).max(0) as f64);
                } else if i.closed_at.is_none() && cx.now - i.opened_at > obj {
                    late += 1;
                }
            }
            let l = vec![("asset", asset.clone()), ("kind", kind.to_string())];
            first.push_histogram(l.clone(), &h);
            waiting.push(l, late as f64);
        }
        let outcomes = || items.iter().map(|i| (i.opened_at, within(i, obj, cx.now)));
        for (w, d) in &windows {
            if let Some(v) = windowed_ratio(outcomes(), cx.now - d.as_secs() as i64, i64::MAX) {
                ratio.push(vec![("asset", asset.clone()), ("window", w.clone())], v);
            }
        }
        if let Some(b) = daily_baseline(cx.now, &cx.config.baseline, |from, to| {
            windowed_ratio(outcomes(), from, to)
        }) {
            baseline.push(vec![("asset", asset.clone())], b);
        }
    }
    for a in &cx.config.catalog {
        if let Some(t) = a.target("responses_within_objective") {
            target.push(vec![("asset", a.id.clone())], t);
        }
    }
    Ok(vec![
        first, objective, ratio, baseline, target, waiting, releases,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(opened: i64, response: Option<i64>) -> ForgeItemRow {
        ForgeItemRow {
            source: "gh".into(),
            repository: "acme/x".into(),
            kind: "issue".into(),
            opened_at: opened,
            first_response_at: response,
            closed_at: None,
        }
    }

    #[test]
    fn answered_late_and_unanswered_past_the_objective_both_miss_it() {
        let now = 1_000_000;
        assert_eq!(within(&item(0, Some(100)), 100, now), Some(true));
        assert_eq!(within(&item(0, Some(101)), 100, now), Some(false));
        assert_eq!(within(&item(now - 101, None), 100, now), Some(false));
        // Still inside its objective: not counted yet.
        assert_eq!(within(&item(now - 50, None), 100, now), None);
    }
}
