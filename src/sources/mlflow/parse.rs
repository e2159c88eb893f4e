//! Pure parsers of MLflow's REST answers (`/api/2.0/mlflow/`) and the reproducibility rule,
//! tested on literal fixtures. MLflow omits empty fields, sends ids and versions as strings,
//! timestamps in epoch milliseconds, and NaN as the string `"NaN"`.

use std::collections::BTreeMap;

use serde_json::Value;

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn pairs(v: &Value, key: &str) -> BTreeMap<String, String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| (text(t, "key"), text(t, "value")))
        .collect()
}

/// A time in milliseconds since the epoch, as seconds with the milliseconds kept.
fn precise_millis(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .map(|ms| ms as f64 / 1000.0)
}

fn millis(v: &Value, key: &str) -> Option<i64> {
    match v.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .map(|ms| ms.div_euclid(1000))
}

/// A number that MLflow may send as a string (`"NaN"`, `"Infinity"`).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse::<f64>().ok(),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub name: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    /// alias → version.
    pub aliases: BTreeMap<String, String>,
    pub updated_at: Option<f64>,
}

/// One page of a search: its items and the next page's token.
pub type Page<T> = Result<(Vec<T>, Option<String>), String>;

/// A page of `registered-models/search`: the models and the next page's token.
pub fn models_page(body: &[u8]) -> Page<Model> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let models = v
        .get("registered_models")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            let name = text(m, "name");
            if name.is_empty() {
                return Err("a registered model without a name".to_string());
            }
            Ok(Model {
                name,
                description: text(m, "description"),
                tags: pairs(m, "tags"),
                aliases: m
                    .get("aliases")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|a| (text(a, "alias"), text(a, "version")))
                    .collect(),
                updated_at: precise_millis(m, "last_updated_timestamp"),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((models, next_token(&v)))
}

fn next_token(v: &Value) -> Option<String> {
    v.get("next_page_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub model: String,
    pub version: String,
    pub created_at: i64,
    /// `"None"`, `Staging`, `Production`, `Archived`.
    pub stage: String,
    /// Empty when the version has no run.
    pub run_id: String,
}

pub fn versions_page(body: &[u8]) -> Page<Version> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let versions = v
        .get("model_versions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            Ok(Version {
                model: text(m, "name"),
                version: text(m, "version"),
                created_at: millis(m, "creation_timestamp")
                    .ok_or("a model version without `creation_timestamp`")?,
                stage: text(m, "current_stage"),
                run_id: text(m, "run_id"),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok((versions, next_token(&v)))
}

#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: String,
    pub experiment_id: String,
    pub status: String,
    pub active: bool,
    pub user_id: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub metrics: BTreeMap<String, Option<f64>>,
    pub params: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

fn run(r: &Value) -> Result<Run, String> {
    let info = r.get("info").ok_or("a run without `info`")?;
    let data = r.get("data");
    let id = match text(info, "run_id") {
        id if id.is_empty() => text(info, "run_uuid"),
        id => id,
    };
    if id.is_empty() {
        return Err("a run without an id".into());
    }
    Ok(Run {
        id,
        experiment_id: text(info, "experiment_id"),
        status: text(info, "status"),
        active: text(info, "lifecycle_stage") != "deleted",
        user_id: text(info, "user_id"),
        start_time: millis(info, "start_time").unwrap_or(0),
        end_time: millis(info, "end_time"),
        metrics: data
            .and_then(|d| d.get("metrics"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| (text(m, "key"), m.get("value").and_then(number)))
            .collect(),
        params: data.map(|d| pairs(d, "params")).unwrap_or_default(),
        tags: data.map(|d| pairs(d, "tags")).unwrap_or_default(),
    })
}

pub fn runs_page(body: &[u8]) -> Page<Run> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let runs = v
        .get("runs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(run)
        .collect::<Result<_, _>>()?;
    Ok((runs, next_token(&v)))
}

pub fn run_body(body: &[u8]) -> Result<Run, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    run(v.get("run").ok_or("no `run`")?)
}

/// The experiment ids of `experiments/search`, by name.
pub fn experiments(body: &[u8]) -> Result<(BTreeMap<String, String>, Option<String>), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let map = v
        .get("experiments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| (text(e, "name"), text(e, "experiment_id")))
        .collect();
    Ok((map, next_token(&v)))
}

/// The person behind a run: its `mlflow.user` tag, else its `user_id` unless empty or
/// `unknown`.
pub fn person(run: &Run) -> Option<String> {
    run.tags
        .get("mlflow.user")
        .filter(|u| !u.trim().is_empty())
        .cloned()
        .or_else(|| Some(run.user_id.clone()).filter(|u| !u.trim().is_empty() && u != "unknown"))
}

/// How close a metric must come to its reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Tolerance {
    Absolute(f64),
    Relative(f64),
}

impl Tolerance {
    /// Whether `x` agrees with `reference`; NaN and infinities never do.
    pub fn agrees(self, x: f64, reference: f64) -> bool {
        if !x.is_finite() || !reference.is_finite() {
            return false;
        }
        match self {
            Tolerance::Absolute(t) => (x - reference).abs() <= t,
            Tolerance::Relative(t) => (x - reference).abs() <= t * reference.abs(),
        }
    }
}

/// The reproducibility checks of one experiment's runs: finished, not deleted runs with a
/// `mlflow.source.git.commit` tag and the same params form a group; the earliest-started is
/// the reference; each later run is a check that passes when every configured metric agrees
/// with the reference within its tolerance (a missing metric, NaN or infinity fails).
/// Returns (run, passed, checked at).
pub fn checks(runs: &[Run], metrics: &[(String, Tolerance)]) -> Vec<(String, bool, i64)> {
    // (experiment, commit, params) → its runs.
    type Group = (String, String, Vec<(String, String)>);
    let mut groups: BTreeMap<Group, Vec<&Run>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.status == "FINISHED" && r.active) {
        let Some(commit) = r
            .tags
            .get("mlflow.source.git.commit")
            .filter(|c| !c.is_empty())
        else {
            continue;
        };
        let params: Vec<(String, String)> = r.params.clone().into_iter().collect();
        groups
            .entry((r.experiment_id.clone(), commit.clone(), params))
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for runs in groups.values_mut() {
        runs.sort_by(|a, b| (a.start_time, &a.id).cmp(&(b.start_time, &b.id)));
        let reference = runs[0];
        for r in &runs[1..] {
            let passed = metrics.iter().all(|(name, tolerance)| {
                match (
                    r.metrics.get(name).copied().flatten(),
                    reference.metrics.get(name).copied().flatten(),
                ) {
                    (Some(x), Some(reference)) => tolerance.agrees(x, reference),
                    _ => false,
                }
            });
            out.push((r.id.clone(), passed, r.end_time.unwrap_or(r.start_time)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: &str, start: i64, commit: &str, lr: &str, auc: Option<f64>, status: &str) -> Run {
        Run {
            id: id.into(),
            experiment_id: "1".into(),
            status: status.into(),
            active: true,
            user_id: "unknown".into(),
            start_time: start,
            end_time: Some(start + 10),
            metrics: [("auc".to_string(), auc)].into_iter().collect(),
            params: [("lr".to_string(), lr.to_string())].into_iter().collect(),
            tags: [("mlflow.source.git.commit".to_string(), commit.to_string())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn groups_share_a_commit_and_params_and_compare_with_the_earliest() {
        let runs = vec![
            r("b", 2, "c1", "0.1", Some(0.905), "FINISHED"),
            r("a", 1, "c1", "0.1", Some(0.90), "FINISHED"),
            r("c", 3, "c1", "0.1", Some(0.80), "FINISHED"),
            r("d", 4, "c1", "0.1", None, "FINISHED"),
            r("e", 5, "c1", "0.1", Some(f64::NAN), "FINISHED"),
            r("f", 6, "c1", "0.2", Some(0.5), "FINISHED"), // other params: its own group
            r("g", 7, "c1", "0.1", Some(0.9), "FAILED"),
            r("h", 8, "", "0.1", Some(0.9), "FINISHED"),
        ];
        let got = checks(&runs, &[("auc".into(), Tolerance::Absolute(0.01))]);
        let got: Vec<(&str, bool)> = got.iter().map(|(id, p, _)| (id.as_str(), *p)).collect();
        assert_eq!(
            got,
            vec![("b", true), ("c", false), ("d", false), ("e", false)]
        );
        // Relative: 0.905 is within 1% of 0.9; 0.80 is not.
        let rel = checks(&runs[..3], &[("auc".into(), Tolerance::Relative(0.01))]);
        assert_eq!(
            rel.iter().map(|c| c.1).collect::<Vec<_>>(),
            vec![true, false]
        );
        assert!(!Tolerance::Absolute(1.0).agrees(f64::INFINITY, 1.0));
    }

    #[test]
    fn answers_with_omitted_fields_strings_and_nan() {
        let (models, next) = models_page(b"{}").unwrap();
        assert!(models.is_empty() && next.is_none());
        let (runs, next) = runs_page(br#"{"runs": [{"info": {"run_uuid": "x", "status": "FINISHED", "user_id": "unknown", "start_time": "1700000000000"},
            "data": {"metrics": [{"key": "loss", "value": "NaN"}], "tags": [{"key": "mlflow.user", "value": ""}]}}],
            "next_page_token": "t2"}"#).unwrap();
        assert_eq!(next.as_deref(), Some("t2"));
        assert!(runs[0].metrics["loss"].unwrap().is_nan());
        assert_eq!(runs[0].start_time, 1_700_000_000);
        assert_eq!(person(&runs[0]), None);
        let (versions, _) = versions_page(br#"{"model_versions": [{"name": "m", "version": "3", "creation_timestamp": 1795902923839, "current_stage": "None", "run_id": ""}]}"#).unwrap();
        assert_eq!(versions[0].version, "3");
        assert!(versions[0].run_id.is_empty());
        assert!(versions_page(br#"{"model_versions": [{"name": "m"}]}"#).is_err());
    }
}
