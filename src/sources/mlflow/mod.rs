//! The `mlflow` source: registered models as assets (owner, stewards and lifecycle from tags
//! with configurable keys), their versions as `model_version` contributions, governance checks
//! per model, and reproducibility checks from the runs of configured experiments.

pub mod parse;

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use crate::collector::{CollectContext, CollectError};
use crate::config::{Secret, Section, LIFECYCLES};
use crate::facts::{
    Collection, Cursors, FactSet, ForgeCredit, ForgeItems, RegistryAsset, RegistrySnapshot,
    ReproCheck,
};
use crate::people::{People, Who};
use crate::sources::forge::{self, decode_error, urlencode};
use crate::sources::http::{Auth, Client, HttpConfig};
use crate::sources::{Collecting, Config as SourcesConfig, Kind, KindSettings, Source};
use parse::Tolerance;

/// The `mlflow` source kind.
pub const KIND: Kind = Kind {
    name: "mlflow",
    keys: &[KEYS],
    decode: |s| crate::sources::settings(decode(s)),
};

pub const KEYS: &[&str] = &[
    "url",
    "token",
    "token_file",
    "owner_tag",
    "stewards_tag",
    "lifecycle_tag",
    "license_tag",
    "model_card_min_chars",
    "reproducibility",
    "request_timeout",
    "ca_file",
    "client_certificate_file",
];
const REPRO_KEYS: &[&str] = &["experiments", "metrics", "environment_tag"];

/// The governance checks of a model, each 0 or 1.
pub const CHECKS: [&str; 5] = [
    "has_description",
    "has_owner",
    "has_model_card",
    "has_license",
    "champion_from_finished_run",
];

#[derive(Debug, Clone)]
pub struct MlflowSettings {
    pub url: String,
    /// The tags that name a model's owner, in order: the first one a model has wins.
    pub owner_tags: Vec<String>,
    pub stewards_tag: String,
    pub lifecycle_tag: String,
    pub license_tag: String,
    pub model_card_min_chars: usize,
    /// Experiment name → asset.
    pub experiments: Vec<(String, String)>,
    pub metrics: Vec<(String, Tolerance)>,
    pub environment_tag: String,
    pub http: HttpConfig,
}

/// `0.01` is an absolute tolerance, `5%` a relative one.
pub fn tolerance(text: &str) -> Result<Tolerance, String> {
    let t = text.trim();
    let (value, relative) = match t.strip_suffix('%') {
        Some(v) => (v.trim(), true),
        None => (t, false),
    };
    match value.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(if relative {
            Tolerance::Relative(v / 100.0)
        } else {
            Tolerance::Absolute(v)
        }),
        _ => Err(format!(
            "tolerance `{text}`: expected a number (absolute) or a percentage (relative)"
        )),
    }
}

pub fn decode(s: &mut Section) -> Option<MlflowSettings> {
    let mut ok = true;
    let url = match s.url("url", &["https", "http"]) {
        Some(u) => u.expose().trim_end_matches('/').to_string(),
        None => {
            if !s.has("url") {
                s.problem_here("an mlflow source needs `url`, the tracking server");
            }
            ok = false;
            String::new()
        }
    };
    let token: Option<Secret> = s.secret("token");
    let tag = |s: &mut Section, key: &str, default: &str| {
        s.string(key).unwrap_or_else(|| default.to_string())
    };
    let owner_tags = s
        .string_or_strings("owner_tag")
        .unwrap_or_else(|| vec!["owner".to_string()]);
    let stewards_tag = tag(s, "stewards_tag", "stewards");
    let lifecycle_tag = tag(s, "lifecycle_tag", "lifecycle");
    let license_tag = tag(s, "license_tag", "license");
    let model_card_min_chars = s.uint("model_card_min_chars").unwrap_or(200) as usize;
    let mut problems = Vec::new();
    let repro = s
        .nested("reproducibility", REPRO_KEYS, |r| {
            let experiments = r.string_map("experiments").unwrap_or_default();
            let metrics: Vec<(String, Tolerance)> = r
                .string_map("metrics")
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(name, t)| match tolerance(&t) {
                    Ok(t) => Some((name, t)),
                    Err(e) => {
                        problems.push(e);
                        None
                    }
                })
                .collect();
            if experiments.is_empty() || metrics.is_empty() {
                r.problem_here("`reproducibility` needs `experiments` (name: asset) and `metrics` (name: tolerance)");
                return None;
            }
            let env = r.string("environment_tag").unwrap_or_else(|| "environment".into());
            Some((experiments, metrics, env))
        });
    for p in problems {
        s.problem("reproducibility", p);
        ok = false;
    }
    if s.has("reproducibility") && repro.is_none() {
        ok = false;
    }
    let (experiments, metrics, environment_tag) =
        repro.unwrap_or_else(|| (Vec::new(), Vec::new(), "environment".into()));
    let http = forge::http_settings(s, token.map_or(Auth::None, Auth::Bearer));
    ok.then_some(MlflowSettings {
        url,
        owner_tags,
        stewards_tag,
        lifecycle_tag,
        license_tag,
        model_card_min_chars,
        experiments,
        metrics,
        environment_tag,
        http,
    })
}

pub struct MlflowCollector {
    name: String,
    settings: MlflowSettings,
    client: Client,
    people: People,
}

impl KindSettings for MlflowSettings {
    fn build(
        &self,
        config: &SourcesConfig,
        name: &str,
        _: &std::path::Path,
    ) -> anyhow::Result<Box<dyn Source>> {
        Ok(Box::new(MlflowCollector::new(config, name, self)?))
    }

    /// A model's credits count on the model itself.
    fn asset_of_repository(&self, repository: &str) -> Option<String> {
        Some(repository.to_string())
    }
}

impl Source for MlflowCollector {
    fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a> {
        Box::pin(self.collect_async(ctx, ctx.cancel.clone()))
    }

    fn http_stats(&self) -> Option<crate::sources::http::Stats> {
        Some(self.client.stats())
    }
}

impl MlflowCollector {
    pub fn new(
        config: &crate::sources::Config,
        name: &str,
        settings: &MlflowSettings,
    ) -> Result<Self, CollectError> {
        Ok(MlflowCollector {
            name: name.to_string(),
            client: Client::new(settings.http.clone())?,
            settings: settings.clone(),
            people: People::new(&config.recognition),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn api(&self, path: &str) -> String {
        format!("{}/api/2.0/mlflow/{path}", self.settings.url)
    }

    async fn get(&self, url: &str, cancel: &CancellationToken) -> Result<Vec<u8>, CollectError> {
        self.client.get_body(url, cancel).await
    }

    async fn post(
        &self,
        url: &str,
        body: &serde_json::Value,
        cancel: &CancellationToken,
    ) -> Result<Vec<u8>, CollectError> {
        self.client.post_json(url, body, cancel).await
    }

    /// Every page of a GET search (`page_token`).
    async fn pages<T>(
        &self,
        url: &str,
        parse: fn(&[u8]) -> parse::Page<T>,
        cancel: &CancellationToken,
    ) -> Result<Vec<T>, CollectError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..1000 {
            let page_url = match &token {
                Some(t) => format!("{url}&page_token={}", urlencode(t)),
                None => url.to_string(),
            };
            let (items, next) =
                parse(&self.get(&page_url, cancel).await?).map_err(decode_error(&page_url))?;
            out.extend(items);
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }

    async fn collect_async(
        &self,
        ctx: &CollectContext,
        cancel: CancellationToken,
    ) -> Result<Collection, CollectError> {
        let (s, old) = (&self.settings, &ctx.cursors);
        // A sharded replica reads what concerns the models (assets) it owns.
        let wanted = |asset: &str| ctx.wants.as_ref().is_none_or(|w| w(asset));
        let mut cursors = Cursors::new();
        let mut models = self
            .pages(
                &self.api("registered-models/search?max_results=1000"),
                parse::models_page,
                &cancel,
            )
            .await?;
        let mut versions = self
            .pages(
                &self.api(
                    "model-versions/search?max_results=1000&order_by=creation_timestamp%20ASC",
                ),
                parse::versions_page,
                &cancel,
            )
            .await?;
        models.retain(|m| wanted(&m.name));
        versions.retain(|v| wanted(&v.model));
        // The runs behind versions: status and person, kept in the cursors once finished.
        let mut runs: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
        for v in versions.iter().filter(|v| !v.run_id.is_empty()) {
            if runs.contains_key(&v.run_id) {
                continue;
            }
            let key = format!("run {}", v.run_id);
            let known = old.get(&key).and_then(|k| k.split_once('|'));
            let (status, person) = match known {
                Some((status, person)) => (
                    status.to_string(),
                    Some(person.to_string()).filter(|p| !p.is_empty()),
                ),
                None => {
                    let url = self.api(&format!("runs/get?run_id={}", urlencode(&v.run_id)));
                    match self.client.get_if_exists(&url, &cancel).await? {
                        Some(body) => {
                            let run = parse::run_body(&body).map_err(decode_error(&url))?;
                            (run.status.clone(), parse::person(&run))
                        }
                        // A run that is gone (deleted, or in another server) names nobody.
                        None => ("MISSING".into(), None),
                    }
                }
            };
            if status != "RUNNING" && status != "SCHEDULED" {
                cursors.insert(
                    key,
                    format!("{status}|{}", person.clone().unwrap_or_default()),
                );
            }
            runs.insert(v.run_id.clone(), (status, person));
        }

        let mut snapshot = RegistrySnapshot::default();
        let mut items = ForgeItems::default();
        for m in &models {
            let own: Vec<&parse::Version> = versions.iter().filter(|v| v.model == m.name).collect();
            let tag = |k: &str| {
                m.tags
                    .get(k)
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            let owner = s.owner_tags.iter().find_map(|k| tag(k));
            let lifecycle = tag(&s.lifecycle_tag)
                .map(|l| l.to_lowercase())
                .filter(|l| LIFECYCLES.contains(&l.as_str()));
            snapshot.assets.push(RegistryAsset {
                id: m.name.clone(),
                kind: "model".into(),
                owner: owner.clone(),
                stewards: tag(&s.stewards_tag)
                    .map(|t| {
                        t.split(',')
                            .map(|x| x.trim().to_string())
                            .filter(|x| !x.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                lifecycle,
                updated_at: m.updated_at,
            });
            // The champion: the `champion` alias, else the newest Production version.
            let champion = m
                .aliases
                .get("champion")
                .and_then(|v| own.iter().find(|x| &x.version == v))
                .or_else(|| {
                    own.iter()
                        .filter(|x| x.stage == "Production")
                        .max_by_key(|x| x.version.parse::<u64>().unwrap_or(0))
                });
            let finished = champion.is_some_and(|c| {
                runs.get(&c.run_id)
                    .is_some_and(|(status, _)| status == "FINISHED")
            });
            let card = m.description.chars().count();
            for (check, passed) in [
                ("has_description", !m.description.trim().is_empty()),
                ("has_owner", owner.is_some()),
                ("has_model_card", card >= s.model_card_min_chars && card > 0),
                ("has_license", tag(&s.license_tag).is_some()),
                ("champion_from_finished_run", finished),
            ] {
                snapshot.checks.push((m.name.clone(), check.into(), passed));
            }
            let mut unattributed = 0;
            for v in &own {
                // Which run made the version, for the asset's page (model → runs).
                if !v.run_id.is_empty() {
                    let status = runs.get(&v.run_id).map_or("", |(s, _)| s.as_str());
                    snapshot.labels.push((
                        m.name.clone(),
                        format!("run:{}", v.version),
                        format!("{}\t{status}", v.run_id),
                    ));
                }
                let person = runs.get(&v.run_id).and_then(|(_, p)| p.clone());
                let who = person.map(|p| {
                    if p.contains('@') {
                        self.people.resolve("", &p)
                    } else {
                        self.people.resolve(&p, "")
                    }
                });
                match who {
                    Some(Who::Person(p)) => {
                        items.credits.push(ForgeCredit {
                            repository: m.name.clone(),
                            number: v.version.parse::<i64>().unwrap_or(0),
                            person: p.key.clone(),
                            kind: "model_version".into(),
                            at: v.created_at,
                        });
                        items.people.push(p);
                    }
                    Some(Who::Bot | Who::OptedOut) => {}
                    None => unattributed += 1,
                }
            }
            snapshot
                .numbers
                .push((m.name.clone(), "versions".into(), own.len() as f64));
            snapshot.numbers.push((
                m.name.clone(),
                "description_chars".into(),
                m.description.chars().count() as f64,
            ));
            for (alias, version) in &m.aliases {
                snapshot
                    .labels
                    .push((m.name.clone(), format!("alias:{alias}"), version.clone()));
            }
            let mut stages: std::collections::BTreeMap<&str, u64> =
                std::collections::BTreeMap::new();
            for v in &own {
                *stages.entry(v.stage.as_str()).or_default() += 1;
            }
            for (stage, n) in stages {
                snapshot
                    .labels
                    .push((m.name.clone(), format!("stage:{stage}"), n.to_string()));
            }
            snapshot.numbers.push((
                m.name.clone(),
                "unattributed_versions".into(),
                unattributed as f64,
            ));
        }

        // Reproducibility from the runs of the configured experiments.
        let mut checks = Vec::new();
        for (experiment, asset) in s.experiments.iter().filter(|(_, a)| wanted(a)) {
            let url = self.api(&format!(
                "experiments/get-by-name?experiment_name={}",
                urlencode(experiment)
            ));
            let Some(body) = self.client.get_if_exists(&url, &cancel).await? else {
                continue; // not created yet
            };
            let id = parse::experiment_id(&body).map_err(decode_error(&url))?;
            let Some(id) = id.as_deref() else {
                continue;
            };
            let mut all = Vec::new();
            let mut token: Option<String> = None;
            let search = self.api("runs/search");
            for _ in 0..1000 {
                let mut body = serde_json::json!({"experiment_ids": [id], "max_results": 1000});
                if let Some(t) = &token {
                    body["page_token"] = serde_json::Value::String(t.clone());
                }
                let (page, next) = parse::runs_page(&self.post(&search, &body, &cancel).await?)
                    .map_err(decode_error(&search))?;
                all.extend(page);
                match next {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            let env_of: BTreeMap<&str, String> = all
                .iter()
                .map(|r| {
                    (
                        r.id.as_str(),
                        r.tags
                            .get(&s.environment_tag)
                            .filter(|e| !e.is_empty())
                            .cloned()
                            .unwrap_or_else(|| "mlflow".into()),
                    )
                })
                .collect();
            for (run, passed, at) in parse::checks(&all, &s.metrics) {
                checks.push(ReproCheck {
                    repository: asset.clone(),
                    environment: env_of.get(run.as_str()).cloned().unwrap_or_default(),
                    check_id: format!("mlflow:{run}"),
                    passed,
                    checked_at: at,
                });
            }
        }
        Ok(Collection {
            source: self.name.clone(),
            sets: vec![
                FactSet::Registry(snapshot),
                FactSet::ForgeItems(items),
                FactSet::ReproChecks(checks),
            ],
            cursors,
        })
    }
}
