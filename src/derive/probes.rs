//! Serving health from probes: probes by result, the latency histogram as clients see it, the
//! p95 latency's daily baseline and target, the last probe's success and the age of the values
//! it returned. Counters and the histogram come from cumulative totals, so they survive
//! restarts and the pruning of old samples.

use std::collections::BTreeMap;

use super::{daily_baseline, Context};
use crate::exposition::{Family, Histogram};
use crate::facts::PROBE_RESULTS;
use crate::store::probes::LATENCY_BUCKETS;
use crate::store::{ProbeRow, StoreError};

/// The `q` quantile (nearest rank) of `values`; `None` when empty.
pub fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

pub fn families(cx: &Context) -> Result<Vec<Family>, StoreError> {
    let totals = cx.reader.probe_totals()?;
    if totals.is_empty() {
        return Ok(Vec::new());
    }
    let samples = cx.reader.probe_samples()?;
    let configured: Vec<&str> = cx.config.sources.iter().map(|s| s.name.as_str()).collect();
    let mut by_result = Family::of(&crate::metrics::PROBES_TOTAL);
    let mut duration = Family::of(&crate::metrics::PROBE_DURATION_SECONDS);
    let mut reconnects = Family::of(&crate::metrics::PROBE_RECONNECTS_TOTAL);
    let mut success = Family::of(&crate::metrics::PROBE_SUCCESS);
    let mut value_age = Family::of(&crate::metrics::PROBE_VALUE_AGE_SECONDS);
    let mut view_age = Family::of(&crate::metrics::PROBE_FEATURE_VIEW_VALUE_AGE_SECONDS);
    let view_ages = cx.reader.probe_view_ages()?;
    let mut p95_day = Family::of(&crate::metrics::PROBE_LATENCY_P95_SECONDS);
    let mut p95_baseline = Family::of(&crate::metrics::PROBE_LATENCY_P95_BASELINE_SECONDS);
    let mut target = Family::of(&crate::metrics::PROBE_LATENCY_TARGET_SECONDS);
    // Per (asset, target), summed over results: the histogram, probes by result, reconnects.
    type Summed<'r> = (Histogram, BTreeMap<&'r str, u64>, u64);
    let mut per_target: BTreeMap<(String, String), Summed> = BTreeMap::new();
    for t in totals
        .iter()
        .filter(|t| configured.contains(&t.source.as_str()))
    {
        let entry = per_target
            .entry((t.asset.clone(), t.target.clone()))
            .or_insert_with(|| {
                (
                    Histogram::new(&LATENCY_BUCKETS),
                    PROBE_RESULTS.iter().map(|r| (*r, 0)).collect(),
                    0,
                )
            });
        let result = PROBE_RESULTS
            .iter()
            .find(|r| **r == t.result)
            .copied()
            .unwrap_or("bad_body");
        *entry.1.entry(result).or_default() += t.probes;
        entry.2 += t.reconnects;
        let h = &mut entry.0;
        for (i, n) in t.buckets.iter().enumerate() {
            if i < h.counts.len() {
                h.counts[i] += n;
            }
        }
        h.sum += t.latency_sum;
        h.count += t.answered;
    }
    for ((asset, name), (h, results, reconnected)) in &per_target {
        let l = || vec![("asset", asset.clone()), ("target", name.clone())];
        for (result, n) in results {
            let mut with = l();
            with.push(("result", result.to_string()));
            by_result.push(with, *n as f64);
        }
        duration.push_histogram(l(), h);
        reconnects.push(l(), *reconnected as f64);
    }
    // From the kept samples: the last probe, and the daily p95s.
    let mut kept: BTreeMap<(String, String), Vec<&ProbeRow>> = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| configured.contains(&s.source.as_str()))
    {
        kept.entry((s.asset.clone(), s.target.clone()))
            .or_default()
            .push(s);
    }
    for ((asset, name), rows) in &kept {
        let l = || vec![("asset", asset.clone()), ("target", name.clone())];
        if let Some(last) = rows.last() {
            success.push(l(), (last.result == "ok") as u8 as f64);
        }
        let last_answered = rows.iter().rev().find(|r| r.latency.is_some());
        // Each feature view's, as of that same probe (a view it no longer returned is gone).
        if let Some(last) = last_answered {
            for v in view_ages
                .iter()
                .filter(|v| v.source == last.source && &v.target == name && v.at_ms == last.at_ms)
            {
                let mut labels = l();
                labels.push(("feature_view", v.feature_view.clone()));
                view_age.push(labels, v.age);
            }
        }
        if let Some(age) = last_answered.and_then(|r| r.value_age) {
            value_age.push(l(), age);
        }
        let p95 = |from: i64, to: i64| {
            let mut v: Vec<f64> = rows
                .iter()
                .filter(|r| r.at_ms >= from * 1000 && r.at_ms < to * 1000)
                .filter_map(|r| r.latency)
                .collect();
            quantile(&mut v, 0.95)
        };
        // Sent at or after a day before now (the last time step), up to the newest stored:
        // a probe newer than the step counts at once, not a minute later.
        if let Some(p) = p95(cx.now - super::DAY_SECONDS, i64::MAX / 1000) {
            p95_day.push(l(), p);
        }
        if let Some(b) = daily_baseline(cx.now, &cx.config.baseline, p95) {
            p95_baseline.push(l(), b);
        }
        if let Some(page) = cx.page {
            let values = crate::derive::page::spark_days(cx.now)
                .into_iter()
                .map(|from| p95(from, from + super::DAY_SECONDS))
                .collect();
            crate::locked(page).daily.push(crate::derive::page::Daily {
                asset: asset.clone(),
                signal: "latency",
                target: Some(name.clone()),
                values,
            });
        }
    }
    // What `rate()` of the latency histogram reads in the alert rules: each window's answered
    // probes, sent at or after the window's start (as the day's p95 counts them).
    if let Some(page) = cx.page {
        let bucket = format!("{}_bucket", crate::metrics::PROBE_DURATION_SECONDS.name);
        for window in crate::derive::page::rate_windows(&bucket) {
            let mut family = Family::of(&crate::metrics::PROBE_DURATION_SECONDS);
            for ((asset, name), rows) in &kept {
                let mut h = Histogram::new(&LATENCY_BUCKETS);
                for r in rows.iter().filter(|r| r.at_ms >= (cx.now - window) * 1000) {
                    if let Some(latency) = r.latency {
                        h.observe(latency);
                    }
                }
                family.push_histogram(vec![("asset", asset.clone()), ("target", name.clone())], &h);
            }
            crate::locked(page).increases.push((window, family));
        }
    }
    for s in &cx.config.sources {
        for (name, t) in s.settings.latency_targets(&s.name) {
            let asset = per_target
                .keys()
                .find(|(_, n)| *n == name)
                .map(|(a, _)| a.clone());
            if let Some(asset) = asset {
                target.push(vec![("asset", asset), ("target", name)], t.as_secs_f64());
            }
        }
    }
    Ok(vec![
        by_result,
        duration,
        reconnects,
        success,
        value_age,
        view_age,
        p95_day,
        p95_baseline,
        target,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.95), Some(95.0));
        assert_eq!(quantile(&mut v, 0.5), Some(50.0));
        assert_eq!(quantile(&mut [3.0], 0.99), Some(3.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
