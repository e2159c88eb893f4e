//! Pure parsers of MLflow's REST answers (`/api/2.0/mlflow/`) and the reproducibility rule,
//! tested on literal fixtures. MLflow omits empty fields, sends ids and versions as strings,
//! timestamps in epoch milliseconds, and NaN as the string `"NaN"`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::sources::forge::{json, null_as_default};

/// A number MLflow may send as a JSON number or as a string (ids, timestamps, `"NaN"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Loose {
    Integer(i64),
    Float(f64),
    Text(String),
}

impl Loose {
    fn integer(&self) -> Option<i64> {
        match self {
            Loose::Integer(n) => Some(*n),
            Loose::Float(_) => None,
            Loose::Text(s) => s.parse().ok(),
        }
    }

    fn float(&self) -> Option<f64> {
        match self {
            Loose::Integer(n) => Some(*n as f64),
            Loose::Float(f) => Some(*f),
            Loose::Text(s) => s.parse().ok(),
        }
    }
}

/// A time in milliseconds since the epoch, as seconds with the milliseconds kept.
fn precise_millis(v: &Option<Loose>) -> Option<f64> {
    v.as_ref()?.integer().map(|ms| ms as f64 / 1000.0)
}

fn millis(v: &Option<Loose>) -> Option<i64> {
    v.as_ref()?.integer().map(|ms| ms.div_euclid(1000))
}

/// MLflow's `{"key": …, "value": …}` pairs (tags, params).
#[derive(Deserialize)]
struct Pair {
    #[serde(default, deserialize_with = "null_as_default")]
    key: String,
    #[serde(default, deserialize_with = "null_as_default")]
    value: String,
}

fn pairs(list: Vec<Pair>) -> BTreeMap<String, String> {
    list.into_iter().map(|p| (p.key, p.value)).collect()
}

fn token(t: Option<String>) -> Option<String> {
    t.filter(|t| !t.is_empty())
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
    #[derive(Deserialize)]
    struct Alias {
        #[serde(default, deserialize_with = "null_as_default")]
        alias: String,
        #[serde(default, deserialize_with = "null_as_default")]
        version: String,
    }
    #[derive(Deserialize)]
    struct ModelJson {
        #[serde(default, deserialize_with = "null_as_default")]
        name: String,
        #[serde(default, deserialize_with = "null_as_default")]
        description: String,
        #[serde(default, deserialize_with = "null_as_default")]
        tags: Vec<Pair>,
        #[serde(default, deserialize_with = "null_as_default")]
        aliases: Vec<Alias>,
        #[serde(default)]
        last_updated_timestamp: Option<Loose>,
    }
    #[derive(Deserialize)]
    struct PageJson {
        #[serde(default, deserialize_with = "null_as_default")]
        registered_models: Vec<ModelJson>,
        #[serde(default)]
        next_page_token: Option<String>,
    }
    let page: PageJson = json(body)?;
    let models = page
        .registered_models
        .into_iter()
        .map(|m| {
            if m.name.is_empty() {
                return Err("a registered model without a name".to_string());
            }
            Ok(Model {
                updated_at: precise_millis(&m.last_updated_timestamp),
                name: m.name,
                description: m.description,
                tags: pairs(m.tags),
                aliases: m
                    .aliases
                    .into_iter()
                    .map(|a| (a.alias, a.version))
                    .collect(),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((models, token(page.next_page_token)))
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
    #[derive(Deserialize)]
    struct VersionJson {
        #[serde(default, deserialize_with = "null_as_default")]
        name: String,
        #[serde(default)]
        version: Option<Loose>,
        #[serde(default)]
        creation_timestamp: Option<Loose>,
        #[serde(default, deserialize_with = "null_as_default")]
        current_stage: String,
        #[serde(default, deserialize_with = "null_as_default")]
        run_id: String,
    }
    #[derive(Deserialize)]
    struct PageJson {
        #[serde(default, deserialize_with = "null_as_default")]
        model_versions: Vec<VersionJson>,
        #[serde(default)]
        next_page_token: Option<String>,
    }
    let page: PageJson = json(body)?;
    let versions = page
        .model_versions
        .into_iter()
        .map(|m| {
            Ok(Version {
                created_at: millis(&m.creation_timestamp)
                    .ok_or("a model version without `creation_timestamp`")?,
                version: match m.version {
                    Some(Loose::Text(s)) => s,
                    Some(Loose::Integer(n)) => n.to_string(),
                    _ => String::new(),
                },
                model: m.name,
                stage: m.current_stage,
                run_id: m.run_id,
            })
        })
        .collect::<Result<_, String>>()?;
    Ok((versions, token(page.next_page_token)))
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

#[derive(Deserialize)]
struct RunJson {
    info: RunInfo,
    #[serde(default)]
    data: Option<RunData>,
}

#[derive(Deserialize)]
struct RunInfo {
    #[serde(default, deserialize_with = "null_as_default")]
    run_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    run_uuid: String,
    #[serde(default, deserialize_with = "null_as_default")]
    experiment_id: String,
    #[serde(default, deserialize_with = "null_as_default")]
    status: String,
    #[serde(default, deserialize_with = "null_as_default")]
    lifecycle_stage: String,
    #[serde(default, deserialize_with = "null_as_default")]
    user_id: String,
    #[serde(default)]
    start_time: Option<Loose>,
    #[serde(default)]
    end_time: Option<Loose>,
}

#[derive(Deserialize)]
struct RunData {
    #[serde(default, deserialize_with = "null_as_default")]
    metrics: Vec<Metric>,
    #[serde(default, deserialize_with = "null_as_default")]
    params: Vec<Pair>,
    #[serde(default, deserialize_with = "null_as_default")]
    tags: Vec<Pair>,
}

#[derive(Deserialize)]
struct Metric {
    #[serde(default, deserialize_with = "null_as_default")]
    key: String,
    #[serde(default)]
    value: Option<Loose>,
}

fn run(r: RunJson) -> Result<Run, String> {
    let info = r.info;
    let id = if info.run_id.is_empty() {
        info.run_uuid
    } else {
        info.run_id
    };
    if id.is_empty() {
        return Err("a run without an id".into());
    }
    let data = r.data.unwrap_or(RunData {
        metrics: Vec::new(),
        params: Vec::new(),
        tags: Vec::new(),
    });
    Ok(Run {
        id,
        experiment_id: info.experiment_id,
        status: info.status,
        active: info.lifecycle_stage != "deleted",
        user_id: info.user_id,
        start_time: millis(&info.start_time).unwrap_or(0),
        end_time: millis(&info.end_time),
        metrics: data
            .metrics
            .into_iter()
            .map(|m| (m.key, m.value.as_ref().and_then(Loose::float)))
            .collect(),
        params: pairs(data.params),
        tags: pairs(data.tags),
    })
}

pub fn runs_page(body: &[u8]) -> Page<Run> {
    #[derive(Deserialize)]
    struct PageJson {
        #[serde(default, deserialize_with = "null_as_default")]
        runs: Vec<RunJson>,
        #[serde(default)]
        next_page_token: Option<String>,
    }
    let page: PageJson = json(body)?;
    let runs = page.runs.into_iter().map(run).collect::<Result<_, _>>()?;
    Ok((runs, token(page.next_page_token)))
}

pub fn run_body(body: &[u8]) -> Result<Run, String> {
    #[derive(Deserialize)]
    struct Body {
        run: RunJson,
    }
    run(json::<Body>(body)?.run)
}

/// The experiment ids of `experiments/search`, by name.
pub fn experiments(body: &[u8]) -> Result<(BTreeMap<String, String>, Option<String>), String> {
    #[derive(Deserialize)]
    struct Experiment {
        #[serde(default, deserialize_with = "null_as_default")]
        name: String,
        #[serde(default, deserialize_with = "null_as_default")]
        experiment_id: String,
    }
    #[derive(Deserialize)]
    struct PageJson {
        #[serde(default, deserialize_with = "null_as_default")]
        experiments: Vec<Experiment>,
        #[serde(default)]
        next_page_token: Option<String>,
    }
    let page: PageJson = json(body)?;
    let map = page
        .experiments
        .into_iter()
        .map(|e| (e.name, e.experiment_id))
        .collect();
    Ok((map, token(page.next_page_token)))
}

/// The id of `experiments/get-by-name`'s experiment (none when the answer has none).
pub fn experiment_id(body: &[u8]) -> Result<Option<String>, String> {
    #[derive(Deserialize)]
    struct Experiment {
        #[serde(default)]
        experiment_id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Body {
        #[serde(default)]
        experiment: Option<Experiment>,
    }
    Ok(json::<Body>(body)?
        .experiment
        .and_then(|e| e.experiment_id)
        .filter(|id| !id.is_empty()))
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
