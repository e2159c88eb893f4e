//! What the metric groups derive for the pages besides their families ([`PageData`]: daily
//! values for the sparklines, counters' increases for `rate()`), and the shipped asset alert
//! rules evaluated over the served series ([`evaluate`]): the overview page's problems are
//! the rules' own expressions, evaluated by [`crate::promql`], not a second definition.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use crate::exposition::Family;
use crate::metrics;
use crate::promql::{self, Query, Sample, Value};

/// Days in a sparkline, ending with today so far.
pub const SPARK_DAYS: i64 = 28;

/// One asset's daily values of one signal, oldest first; the last is today so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Daily {
    pub asset: String,
    /// `build` (success ratio of the day's CI attempts) or `latency` (p95 of the day's
    /// answered probes).
    pub signal: &'static str,
    /// The probe target, for `latency`.
    pub target: Option<String>,
    pub values: Vec<Option<f64>>,
}

/// What a metric group derives for the pages besides its families.
#[derive(Debug, Clone, Default)]
pub struct PageData {
    pub daily: Vec<Daily>,
    /// Counter families (histograms included) as their increase over the window (seconds)
    /// that ends at the derivation's time: what `rate(x[window])` reads.
    pub increases: Vec<(i64, Family)>,
    /// The run that made each model version (MLflow).
    pub runs: Vec<ModelRun>,
}

/// A model version and the run that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRun {
    pub asset: String,
    pub version: String,
    pub run: String,
    /// The run's status as the registry gave it (`FINISHED`, `FAILED`…), empty if unknown.
    pub status: String,
}

/// The start of each day of a sparkline ending at `now`'s UTC day.
pub fn spark_days(now: i64) -> Vec<i64> {
    let today = now.div_euclid(super::DAY_SECONDS) * super::DAY_SECONDS;
    (0..SPARK_DAYS)
        .rev()
        .map(|d| today - d * super::DAY_SECONDS)
        .collect()
}

/// The shipped rules, as the page evaluates them.
pub const ALERTS_YML: &str = include_str!("../../deploy/prometheus/alerts.yml");

/// One shipped alert rule about an asset.
pub struct Rule {
    pub name: String,
    pub severity: String,
    pub query: Query,
}

/// The shipped rules whose expressions join `mlsteward_asset_info` (the rules about an
/// asset), parsed once.
pub fn asset_rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| parse_rules(ALERTS_YML).unwrap_or_default())
}

/// Every asset rule (one whose expression joins `mlsteward_asset_info`) of an alert rule
/// file; an error names the rule whose expression the evaluator does not know.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    let mut out = Vec::new();
    for rule in crate::config::alert_rules(text)? {
        if !rule.expr.contains(metrics::ASSET_INFO.name) {
            continue;
        }
        let query = Query::parse(&rule.expr).map_err(|e| format!("{}: {e}", rule.name))?;
        out.push(Rule {
            name: rule.name,
            severity: rule.severity.unwrap_or_else(|| "warning".into()),
            query,
        });
    }
    Ok(out)
}

/// The windows (seconds) over which the asset rules take a `rate` or `increase` of `series`.
pub fn rate_windows(series: &str) -> Vec<i64> {
    let mut w: Vec<i64> = asset_rules()
        .iter()
        .flat_map(|r| r.query.ranges())
        .filter(|(name, _)| name == series)
        .map(|(_, w)| w)
        .collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// The served series by name (a histogram's `_bucket` samples under `name_bucket`).
pub struct Served {
    series: HashMap<String, Vec<Sample>>,
    increases: HashMap<(String, i64), Vec<Sample>>,
    now: f64,
}

fn samples_of(f: &Family, into: &mut HashMap<String, Vec<Sample>>) {
    for s in &f.samples {
        into.entry(format!("{}{}", f.name, s.suffix))
            .or_default()
            .push(Sample {
                labels: s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
                value: s.value,
            });
    }
}

impl Served {
    pub fn new<'a>(
        families: impl IntoIterator<Item = &'a Family>,
        pages: &[Arc<PageData>],
        now: f64,
    ) -> Served {
        let mut series = HashMap::new();
        for f in families {
            samples_of(f, &mut series);
        }
        let mut increases = HashMap::new();
        for p in pages {
            for (window, f) in &p.increases {
                let mut one = HashMap::new();
                samples_of(f, &mut one);
                for (name, samples) in one {
                    increases
                        .entry((name, *window))
                        .or_insert_with(Vec::new)
                        .extend(samples);
                }
            }
        }
        Served {
            series,
            increases,
            now,
        }
    }
}

impl promql::Source for Served {
    fn series(&self, name: &str) -> Vec<Sample> {
        self.series.get(name).cloned().unwrap_or_default()
    }
    fn increase(&self, name: &str, window: i64) -> Option<Vec<Sample>> {
        // No probes at all: nothing increased.
        Some(
            self.increases
                .get(&(name.to_string(), window))
                .cloned()
                .unwrap_or_default(),
        )
    }
    fn now(&self) -> f64 {
        self.now
    }
}

/// One problem an asset rule's expression holds for now.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub alert: String,
    pub severity: String,
    /// The alert's labels besides `asset`, `owner` and `lifecycle` (a target, a pipeline…).
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// The asset rules evaluated over what a render published.
#[derive(Debug, Default)]
pub struct Evaluated {
    pub problems: BTreeMap<String, Vec<Problem>>,
    /// Rules that could not be evaluated, with why (none with the shipped rules; a test
    /// holds that).
    pub errors: Vec<(String, String)>,
}

/// Evaluates the asset rules over `served`.
pub fn evaluate(rules: &[Rule], served: &Served) -> Evaluated {
    let mut out = Evaluated::default();
    for rule in rules {
        match rule.query.eval(served) {
            Ok(Value::Vector(v)) => {
                for s in v {
                    let Some(asset) = s.labels.get("asset").cloned() else {
                        continue;
                    };
                    let labels = s
                        .labels
                        .iter()
                        .filter(|(k, _)| {
                            !matches!(
                                k.as_str(),
                                "asset" | "owner" | "lifecycle" | "instance" | "job"
                            )
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    out.problems.entry(asset).or_default().push(Problem {
                        alert: rule.name.clone(),
                        severity: rule.severity.clone(),
                        labels,
                        value: s.value,
                    });
                }
            }
            Ok(Value::Scalar(_)) => out
                .errors
                .push((rule.name.clone(), "a scalar, not a vector".into())),
            Err(e) => out.errors.push((rule.name.clone(), e)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_asset_rule_parses() {
        let rules = parse_rules(ALERTS_YML).unwrap();
        let asset_alerts = ALERTS_YML
            .matches("max by (asset, owner, lifecycle)")
            .count();
        assert_eq!(rules.len(), asset_alerts);
        assert_eq!(asset_rules().len(), rules.len());
        assert_eq!(
            rate_windows("mlsteward_probe_duration_seconds_bucket"),
            vec![600, 1800]
        );
        assert_eq!(spark_days(86_400 * 100 + 5).len(), SPARK_DAYS as usize);
        assert_eq!(*spark_days(86_400 * 100 + 5).last().unwrap(), 86_400 * 100);
    }
}
