//! Build stability from every forge's CI facts: runs by result, durations, success ratios over
//! windows with their baselines and targets, last success and failure, failing streaks, flaky
//! runs and time to recovery. Definitions are docs/metrics.md's (and `DEFINITIONS.md`'s): a fact
//! is one finished attempt; failure-like results are `failure`, `timed_out`,
//! `startup_failure` and `unstable`; neutral results are counted by result and never enter a
//! ratio or a streak.

use std::collections::{BTreeMap, BTreeSet};

use super::{daily_baseline, windowed_ratio, Context, DAY_SECONDS};
use crate::config::Baseline;
use crate::exposition::{Family, Histogram};
use crate::facts::{ci_class, CiClass, CI_RESULTS};
use crate::store::{CiAttemptRow, StoreError};

/// Upper bounds of the run-duration histogram, in seconds.
pub const DURATION_BUCKETS: [f64; 10] = [
    30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0,
];
/// Upper bounds of the time-to-recovery histogram, in seconds.
pub const RECOVERY_BUCKETS: [f64; 10] = [
    300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0, 259200.0, 604800.0,
];

/// (asset, pipeline, branch): one series of the per-pipeline figures.
type Key = (String, String, String);

#[derive(Default)]
struct Series<'a> {
    attempts: Vec<&'a CiAttemptRow>,
}

/// success / (success + failure-like) of `attempts` completed in `[from, to)`; `None` without
/// any such attempt.
pub fn success_ratio<'a>(
    attempts: impl IntoIterator<Item = &'a CiAttemptRow>,
    from: i64,
    to: i64,
) -> Option<f64> {
    windowed_ratio(
        attempts.into_iter().map(|a| {
            let outcome = match ci_class(&a.result) {
                CiClass::Success => Some(true),
                CiClass::Failure => Some(false),
                CiClass::Neutral => None,
            };
            (a.completed_at, outcome)
        }),
        from,
        to,
    )
}

/// The median of the daily success ratios over the [`BASELINE_DAYS`] UTC days before `now`'s
/// day (days without a success or failure have no value); `None` with fewer than
/// [`BASELINE_MIN_DAYS`] values.
pub fn baseline(attempts: &[&CiAttemptRow], now: i64, b: &Baseline) -> Option<f64> {
    daily_baseline(now, b, |from, to| {
        success_ratio(attempts.iter().copied(), from, to)
    })
}

/// The newest coverage reported by `attempts` completed in `[from, to)`.
pub fn last_coverage(attempts: &[&CiAttemptRow], from: i64, to: i64) -> Option<f64> {
    attempts
        .iter()
        .filter(|a| a.completed_at >= from && a.completed_at < to)
        .filter_map(|a| Some((a.completed_at, a.coverage?)))
        .max_by_key(|(at, _)| *at)
        .map(|(_, c)| c)
}

/// Failing streaks of attempts in completion order: the recovery times of the streaks that
/// ended, and the start of the one still open.
pub fn streaks<'a>(
    attempts: impl IntoIterator<Item = &'a CiAttemptRow>,
) -> (Vec<i64>, Option<i64>) {
    let mut recoveries = Vec::new();
    let mut open: Option<i64> = None;
    for a in attempts {
        match ci_class(&a.result) {
            CiClass::Failure => {
                open.get_or_insert(a.completed_at);
            }
            CiClass::Success => {
                if let Some(start) = open.take() {
                    recoveries.push(a.completed_at - start);
                }
            }
            CiClass::Neutral => {}
        }
    }
    (recoveries, open)
}

/// Whether a run's attempts (any order) show a failure-like attempt followed by a successful
/// one.
pub fn is_flaky(attempts: &[&CiAttemptRow]) -> bool {
    let mut sorted = attempts.to_vec();
    sorted.sort_by_key(|a| a.attempt);
    let mut failed = false;
    for a in sorted {
        match ci_class(&a.result) {
            CiClass::Failure => failed = true,
            CiClass::Success if failed => return true,
            _ => {}
        }
    }
    false
}

fn labels(key: &Key) -> Vec<(&'static str, String)> {
    vec![
        ("asset", key.0.clone()),
        ("pipeline", key.1.clone()),
        ("branch", key.2.clone()),
    ]
}

/// A stored attempt that the current config wants, with its asset, and whether it ran on its
/// repository's default branch.
pub struct Mapped<'f> {
    pub row: CiAttemptRow,
    pub asset: String,
    pub on_default_branch: bool,
    pub forge: &'f crate::sources::forge::ForgeSettings,
}

/// The stored attempts of configured forge sources, on the branches and pipelines their
/// settings want, mapped to assets.
pub fn mapped<'c>(cx: &Context<'c>) -> Result<Vec<Mapped<'c>>, StoreError> {
    let forges: BTreeMap<&str, &crate::sources::forge::ForgeSettings> = cx
        .config
        .sources
        .iter()
        .filter_map(|s| Some((s.name.as_str(), s.settings.forge()?)))
        .collect();
    if forges.is_empty() {
        return Ok(Vec::new());
    }
    let default_branches: BTreeMap<(String, String), String> = cx
        .reader
        .ci_repositories()?
        .into_iter()
        .map(|(s, r, b)| ((s, r), b))
        .collect();
    let mut out = Vec::new();
    for row in cx.reader.ci_attempts()? {
        let Some(forge) = forges.get(row.source.as_str()).copied() else {
            continue; // a source no longer configured
        };
        let default_branch = default_branches
            .get(&(row.source.clone(), row.repository.clone()))
            .map_or("main", String::as_str);
        if !forge.wants_pipeline(&row.pipeline) || !forge.wants_branch(&row.branch, default_branch)
        {
            continue;
        }
        out.push(Mapped {
            asset: forge.asset_of(&row.repository),
            on_default_branch: row.branch == default_branch,
            forge,
            row,
        });
    }
    Ok(out)
}

/// The group's families from the mapped attempts (read once per derive; see [`mapped`]).
pub fn families(cx: &Context, rows: &[Mapped]) -> Result<Vec<Family>, StoreError> {
    if !cx
        .config
        .sources
        .iter()
        .any(|s| s.settings.forge().is_some())
    {
        return Ok(Vec::new());
    }

    let mut series: BTreeMap<Key, Series> = BTreeMap::new();
    // Per asset: its attempts on its repositories' default branches, and its windows.
    let mut asset_default: BTreeMap<String, Vec<&CiAttemptRow>> = BTreeMap::new();
    let mut windows_of: BTreeMap<Key, &[(String, std::time::Duration)]> = BTreeMap::new();
    let mut asset_windows: BTreeMap<String, BTreeMap<String, std::time::Duration>> =
        BTreeMap::new();
    let mut runs: BTreeMap<(&str, &str, &str), (Key, Vec<&CiAttemptRow>)> = BTreeMap::new();
    for m in rows {
        let (a, forge, asset) = (&m.row, m.forge, m.asset.clone());
        let key = (asset.clone(), a.pipeline.clone(), a.branch.clone());
        series.entry(key.clone()).or_default().attempts.push(a);
        windows_of.insert(key.clone(), &forge.windows);
        for (w, d) in &forge.windows {
            asset_windows
                .entry(asset.clone())
                .or_default()
                .insert(w.clone(), *d);
        }
        if m.on_default_branch {
            asset_default.entry(asset).or_default().push(a);
        }
        runs.entry((&a.source, &a.repository, &a.run_id))
            .or_insert_with(|| (key.clone(), Vec::new()))
            .1
            .push(a);
    }

    let mut by_result = Family::of(&crate::metrics::CI_RUNS_TOTAL);
    let mut durations = Family::of(&crate::metrics::CI_RUN_DURATION_SECONDS);
    let mut ratio = Family::of(&crate::metrics::CI_SUCCESS_RATIO);
    let mut ratio_baseline = Family::of(&crate::metrics::CI_SUCCESS_RATIO_BASELINE);
    let mut last_success = Family::of(&crate::metrics::CI_LAST_SUCCESS_TIMESTAMP_SECONDS);
    let mut last_failure = Family::of(&crate::metrics::CI_LAST_FAILURE_TIMESTAMP_SECONDS);
    let mut failing_since = Family::of(&crate::metrics::CI_FAILING_SINCE_TIMESTAMP_SECONDS);
    let mut flaky = Family::of(&crate::metrics::CI_FLAKY_RUNS_TOTAL);
    let mut recovery = Family::of(&crate::metrics::CI_RECOVERY_SECONDS);

    let mut flaky_count: BTreeMap<Key, u64> = BTreeMap::new();
    for (key, attempts) in runs.values() {
        if is_flaky(attempts) {
            *flaky_count.entry(key.clone()).or_default() += 1;
        }
    }

    for (key, s) in &series {
        let l = labels(key);
        let mut counts: BTreeMap<&str, u64> = CI_RESULTS.iter().map(|r| (*r, 0)).collect();
        let mut hist = Histogram::new(&DURATION_BUCKETS);
        let mut last_ok: Option<i64> = None;
        let mut last_bad: Option<i64> = None;
        for a in &s.attempts {
            let result = if CI_RESULTS.contains(&a.result.as_str()) {
                a.result.as_str()
            } else {
                "other"
            };
            *counts.entry(result).or_default() += 1;
            // A run that never started has no duration.
            if let Some(d) = a.duration {
                hist.observe(d.max(0.0));
            }
            match ci_class(&a.result) {
                CiClass::Success => last_ok = last_ok.max(Some(a.completed_at)),
                CiClass::Failure => last_bad = last_bad.max(Some(a.completed_at)),
                CiClass::Neutral => {}
            }
        }
        for (result, n) in counts {
            let mut with = l.clone();
            with.push(("result", result.to_string()));
            by_result.push(with, n as f64);
        }
        durations.push_histogram(l.clone(), &hist);
        for (w, d) in windows_of.get(key).copied().unwrap_or_default() {
            let from = cx.now - d.as_secs() as i64;
            if let Some(v) = success_ratio(s.attempts.iter().copied(), from, i64::MAX) {
                let mut with = l.clone();
                with.push(("window", w.clone()));
                ratio.push(with, v);
            }
        }
        if let Some(b) = baseline(&s.attempts, cx.now, &cx.config.baseline) {
            ratio_baseline.push(l.clone(), b);
        }
        if let Some(t) = last_ok {
            last_success.push(l.clone(), t as f64);
        }
        if let Some(t) = last_bad {
            last_failure.push(l.clone(), t as f64);
        }
        let (recoveries, open) = streaks(s.attempts.iter().copied());
        let mut rh = Histogram::new(&RECOVERY_BUCKETS);
        for r in recoveries {
            rh.observe(r as f64);
        }
        recovery.push_histogram(l.clone(), &rh);
        if let Some(start) = open {
            failing_since.push(l.clone(), start as f64);
        }
        flaky.push(l, flaky_count.get(key).copied().unwrap_or(0) as f64);
    }

    // Asset level: every pipeline of the asset, on its repositories' default branches.
    let mut asset_ratio = Family::of(&crate::metrics::ASSET_BUILD_SUCCESS_RATIO);
    let mut asset_baseline = Family::of(&crate::metrics::ASSET_BUILD_SUCCESS_RATIO_BASELINE);
    let mut asset_target = Family::of(&crate::metrics::ASSET_BUILD_SUCCESS_TARGET);
    let mut coverage = Family::of(&crate::metrics::CI_COVERAGE_RATIO);
    let mut tests = Family::of(&crate::metrics::CI_TESTS);
    for (key, s) in &series {
        if let Some(c) = last_coverage(&s.attempts, i64::MIN, i64::MAX) {
            coverage.push(labels(key), c);
        }
        let newest = s
            .attempts
            .iter()
            .filter_map(|a| Some((a.completed_at, a.tests?)))
            .max_by_key(|(at, _)| *at);
        if let Some((_, (total, failed, skipped))) = newest {
            let passed = total.saturating_sub(failed + skipped);
            for (outcome, n) in [("passed", passed), ("failed", failed), ("skipped", skipped)] {
                let mut l = labels(key);
                l.push(("outcome", outcome.to_string()));
                tests.push(l, n as f64);
            }
        }
    }
    let assets: BTreeSet<&String> = asset_default.keys().collect();
    for asset in assets {
        let attempts = &asset_default[asset];
        for (w, d) in asset_windows.get(asset).into_iter().flatten() {
            let from = cx.now - d.as_secs() as i64;
            if let Some(v) = success_ratio(attempts.iter().copied(), from, i64::MAX) {
                asset_ratio.push(vec![("asset", asset.clone()), ("window", w.clone())], v);
            }
        }
        if let Some(b) = baseline(attempts, cx.now, &cx.config.baseline) {
            asset_baseline.push(vec![("asset", asset.clone())], b);
        }
        if let Some(page) = cx.page {
            let values = crate::derive::page::spark_days(cx.now)
                .into_iter()
                .map(|from| success_ratio(attempts.iter().copied(), from, from + DAY_SECONDS))
                .collect();
            crate::locked(page).daily.push(crate::derive::page::Daily {
                asset: asset.clone(),
                signal: "build",
                target: None,
                values,
            });
        }
    }
    for a in &cx.config.catalog {
        if let Some(t) = a.target("build_success") {
            asset_target.push(vec![("asset", a.id.clone())], t);
        }
    }
    Ok(vec![
        by_result,
        durations,
        ratio,
        ratio_baseline,
        last_success,
        last_failure,
        failing_since,
        flaky,
        recovery,
        asset_ratio,
        asset_baseline,
        asset_target,
        coverage,
        tests,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::derive::DAY_SECONDS;

    fn at(run: &str, attempt: u32, result: &str, completed_at: i64) -> CiAttemptRow {
        CiAttemptRow {
            source: "gh".into(),
            repository: "acme/x".into(),
            pipeline: "ci".into(),
            run_id: run.into(),
            attempt,
            branch: "main".into(),
            result: result.into(),
            started_at: completed_at - 60,
            completed_at,
            duration: Some(60.0),
            coverage: None,
            tests: None,
        }
    }

    #[test]
    fn ratios_leave_neutral_results_out_and_are_absent_without_data() {
        let rows = [
            at("1", 1, "success", 10),
            at("2", 1, "failure", 20),
            at("3", 1, "cancelled", 30),
            at("4", 1, "unstable", 40),
        ];
        assert_eq!(success_ratio(&rows, 0, 100), Some(1.0 / 3.0));
        assert_eq!(success_ratio(&rows, 25, 35), None);
        assert_eq!(success_ratio(&rows, 10, 11), Some(1.0));
    }

    #[test]
    fn streaks_recover_on_the_next_success_and_neutral_results_do_nothing() {
        let rows = [
            at("1", 1, "success", 10),
            at("2", 1, "failure", 20),
            at("3", 1, "cancelled", 25),
            at("4", 1, "timed_out", 30),
            at("5", 1, "success", 50),
            at("6", 1, "failure", 70),
            at("7", 1, "skipped", 80),
        ];
        assert_eq!(streaks(&rows), (vec![30], Some(70)));
    }

    #[test]
    fn a_run_is_flaky_when_a_failed_attempt_is_followed_by_a_success() {
        let (a, b, c) = (
            at("1", 1, "failure", 10),
            at("1", 2, "success", 20),
            at("1", 3, "cancelled", 30),
        );
        assert!(is_flaky(&[&b, &a]));
        assert!(!is_flaky(&[&b]));
        // A cancelled attempt is not a failure.
        let d = at("2", 1, "cancelled", 10);
        let e = at("2", 2, "success", 20);
        assert!(!is_flaky(&[&d, &e]));
        // Success then failure is a regression, not a flake.
        let f = at("3", 1, "success", 10);
        let g = at("3", 2, "failure", 20);
        assert!(!is_flaky(&[&f, &g, &c]));
    }

    #[test]
    fn the_baseline_is_the_median_of_daily_values_and_needs_seven_days() {
        let now = 100 * DAY_SECONDS + 3600;
        // Days 1..=6 before today: not enough.
        let mut rows: Vec<CiAttemptRow> = (1..=6)
            .map(|d| at(&d.to_string(), 1, "success", now - d * DAY_SECONDS))
            .collect();
        let refs: Vec<&CiAttemptRow> = rows.iter().collect();
        assert_eq!(baseline(&refs, now, &Baseline::default()), None);
        // Day 7 fails: values 1,1,1,1,1,1,0 → median 1. Today's failures never count.
        rows.push(at("7", 1, "failure", now - 7 * DAY_SECONDS));
        rows.push(at("t", 1, "failure", now - 60));
        // Day 8: one of two → 0.5; values sorted 0, 0.5, 1×6 → median of 8 = 1.
        rows.push(at("8a", 1, "success", now - 8 * DAY_SECONDS));
        rows.push(at("8b", 1, "failure", now - 8 * DAY_SECONDS + 1));
        // Day 29 is outside the 28 days.
        rows.push(at("29", 1, "failure", now - 29 * DAY_SECONDS));
        let refs: Vec<&CiAttemptRow> = rows.iter().collect();
        assert_eq!(baseline(&refs, now, &Baseline::default()), Some(1.0));
        // Four more failing days: 12 values (0 five times, 0.5, 1 six times); the median is
        // the mean of the 6th and 7th, (0.5 + 1) / 2.
        for d in 9..=12 {
            rows.push(at(&format!("f{d}"), 1, "failure", now - d * DAY_SECONDS));
        }
        let refs: Vec<&CiAttemptRow> = rows.iter().collect();
        assert_eq!(baseline(&refs, now, &Baseline::default()), Some(0.75));
    }
}
