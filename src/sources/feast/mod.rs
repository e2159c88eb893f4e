//! The `feast` source: the registry (through Feast's REST registry server) as feature view and
//! feature service assets with their owners, feature counts, freshness and dependencies; and
//! retrieval probes against the feature server (`POST /get-online-features`), timed as a
//! client sees them, with the age of the values they return.

pub mod parse;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::collector::{CollectContext, CollectError};
use crate::config::Section;
use crate::facts::{Collection, FactSet, ProbeSample, RegistrySnapshot};
use crate::sources::forge::{self, decode_error, urlencode};
use crate::sources::http::{Auth, Client, HttpConfig};
use crate::sources::probe::{status_reason, Answer, Prober};
use crate::sources::{Collecting, Config as SourcesConfig, Kind, KindSettings, Source};

/// The `feast` source kind.
pub const KIND: Kind = Kind {
    name: "feast",
    keys: &[KEYS],
    decode: |s| crate::sources::settings(decode(s)),
};

pub const KEYS: &[&str] = &[
    "registry_url",
    "project",
    "server_url",
    "owner_tag",
    "probes",
    "keep_alive",
    "request_timeout",
    "ca_file",
    "client_certificate_file",
];
const PROBE_KEYS: &[&str] = &[
    "name",
    "asset",
    "feature_service",
    "features",
    "entities",
    "latency_target",
];

#[derive(Debug, Clone)]
pub struct FeastProbe {
    /// The `target` label.
    pub name: String,
    pub asset: String,
    /// The request body (`feature_service` or `features`, and `entities`).
    pub body: String,
    /// The request's entity (and request data) columns, which answers echo back.
    pub entity_keys: Vec<String>,
    pub latency_target: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct FeastSettings {
    pub registry_url: Option<String>,
    pub project: String,
    pub server_url: Option<String>,
    /// The tags that name a view's owner when its `owner` field is empty, in order: the first
    /// one present wins.
    pub owner_tags: Vec<String>,
    pub probes: Vec<FeastProbe>,
    pub keep_alive: bool,
    pub http: HttpConfig,
}

pub fn decode(s: &mut Section) -> Option<FeastSettings> {
    let mut ok = true;
    let registry_url = s
        .url("registry_url", &["https", "http"])
        .map(|u| u.expose().trim_end_matches('/').to_string());
    let server_url = s
        .url("server_url", &["https", "http"])
        .map(|u| u.expose().trim_end_matches('/').to_string());
    ok &= registry_url.is_some() || !s.has("registry_url");
    ok &= server_url.is_some() || !s.has("server_url");
    let project = s.required_string("project");
    let owner_tags = s
        .string_or_strings("owner_tag")
        .unwrap_or_else(|| vec!["owner".to_string()]);
    let probes = s
        .list("probes", PROBE_KEYS, |p| {
            let name = p.required_string("name")?;
            let entities_text = p.required_string("entities")?;
            let entities: serde_json::Value = match serde_json::from_str(&entities_text) {
                Ok(v @ serde_json::Value::Object(_)) => v,
                _ => {
                    p.problem(
                        "entities",
                        "expected a JSON object of columns, such as {\"driver_id\": [1001]}",
                    );
                    return None;
                }
            };
            let entity_keys: Vec<String> = entities
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            let service = p.string("feature_service");
            let features = p.strings("features");
            let (body, default_asset) = match (service, features) {
                (Some(svc), None) => (
                    serde_json::json!({"feature_service": svc, "entities": entities, "full_feature_names": true}),
                    svc,
                ),
                (None, Some(f)) if !f.is_empty() => {
                    let view = f[0].split(':').next().unwrap_or("").to_string();
                    (
                        serde_json::json!({"features": f, "entities": entities, "full_feature_names": true}),
                        view,
                    )
                }
                _ => {
                    p.problem_here(
                        "a probe needs `feature_service` or `features` (view:feature), not both",
                    );
                    return None;
                }
            };
            Some(FeastProbe {
                name,
                asset: p.string("asset").unwrap_or(default_asset),
                body: body.to_string(),
                entity_keys,
                latency_target: p.duration("latency_target"),
            })
        })
        .unwrap_or_default();
    if s.has("probes") && server_url.is_none() {
        s.problem("probes", "probes need `server_url`, the feature server");
        ok = false;
    }
    if registry_url.is_none() && server_url.is_none() {
        s.problem_here("a feast source needs `registry_url`, `server_url`, or both");
        ok = false;
    }
    let keep_alive = s.boolean("keep_alive").unwrap_or(true);
    let http = forge::http_settings(s, Auth::None);
    (ok && project.is_some()).then(|| FeastSettings {
        registry_url,
        project: project.unwrap_or_default(),
        server_url,
        owner_tags,
        probes,
        keep_alive,
        http,
    })
}

pub struct FeastCollector {
    name: String,
    settings: FeastSettings,
    client: Client,
    prober: Prober,
}

impl KindSettings for FeastSettings {
    fn build(
        &self,
        _: &SourcesConfig,
        name: &str,
        _: &std::path::Path,
    ) -> anyhow::Result<Box<dyn Source>> {
        Ok(Box::new(FeastCollector::new(name, self)?))
    }

    fn latency_targets(&self, _: &str) -> Vec<(String, Duration)> {
        self.probes
            .iter()
            .filter_map(|p| Some((p.name.clone(), p.latency_target?)))
            .collect()
    }
}

impl Source for FeastCollector {
    fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a> {
        Box::pin(self.collect_async(ctx, ctx.cancel.clone()))
    }

    fn http_stats(&self) -> Option<crate::sources::http::Stats> {
        Some(self.client.stats())
    }
}

impl FeastCollector {
    pub fn new(name: &str, settings: &FeastSettings) -> Result<Self, CollectError> {
        Ok(FeastCollector {
            name: name.to_string(),
            client: Client::new(settings.http.clone())?,
            prober: Prober::new(settings.http.timeout, settings.keep_alive)?,
            settings: settings.clone(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn collect_async(
        &self,
        ctx: &CollectContext,
        cancel: CancellationToken,
    ) -> Result<Collection, CollectError> {
        // A sharded replica keeps the feature views and services it owns (the listing is read
        // whole: it cannot be split) and probes only for its own assets.
        let wanted = |asset: &str| ctx.wants.as_ref().is_none_or(|w| w(asset));
        let mut sets = Vec::new();
        if let Some(registry) = &self.settings.registry_url {
            let mut snapshot = self.registry(registry, &cancel).await?;
            snapshot.retain_assets(wanted);
            sets.push(FactSet::Registry(snapshot));
        }
        if let Some(server) = &self.settings.server_url {
            let mut samples = Vec::new();
            for p in self.settings.probes.iter().filter(|p| wanted(&p.asset)) {
                samples.push(self.probe(server, p).await);
            }
            sets.push(FactSet::ProbeSamples(samples));
        }
        Ok(Collection {
            source: self.name.clone(),
            sets,
            cursors: Default::default(),
        })
    }

    /// Every feature view and feature service of the project, read through the list endpoints
    /// (a single-object GET writes a "recently visited" record into the registry).
    async fn registry(
        &self,
        base: &str,
        cancel: &CancellationToken,
    ) -> Result<RegistrySnapshot, CollectError> {
        let mut snapshot = RegistrySnapshot::default();
        for path in ["feature_views", "feature_services"] {
            for page in 1..=1000 {
                let url = format!(
                    "{base}/api/v1/{path}?project={}&limit=100&page={page}",
                    urlencode(&self.settings.project)
                );
                let body = self.client.get_body(&url, cancel).await?;
                let (objects, more) =
                    parse::page(&body, &self.settings.owner_tags).map_err(decode_error(&url))?;
                for o in objects {
                    for (name, value) in o.numbers {
                        snapshot.numbers.push((o.asset.id.clone(), name, value));
                    }
                    for on in o.depends_on {
                        snapshot.edges.push((o.asset.id.clone(), on));
                    }
                    snapshot.assets.push(o.asset);
                }
                if !more {
                    break;
                }
            }
        }
        Ok(snapshot)
    }

    async fn probe(&self, server: &str, p: &FeastProbe) -> ProbeSample {
        let at_ms = self.prober.stamp();
        let headers = [("content-type".to_string(), "application/json".to_string())];
        let (answer, reconnected) = self
            .prober
            .probe(
                "POST",
                &format!("{server}/get-online-features"),
                &headers,
                Some(p.body.as_bytes()),
            )
            .await;
        let mut view_ages = Vec::new();
        let (result, latency, value_age) = match answer {
            Answer::Timeout => ("timeout", None, None),
            Answer::Connect => ("connect", None, None),
            Answer::Http {
                status,
                body,
                latency,
                ..
            } => {
                if status != 200 {
                    (status_reason(status), Some(latency), None)
                } else {
                    match parse::retrieved(&body, &p.entity_keys) {
                        Err(_) => ("bad_body", Some(latency), None),
                        Ok(r) => {
                            let age_of = |o: i64| (at_ms / 1000 - o).max(0) as f64;
                            let age = r.oldest.map(age_of);
                            view_ages = r
                                .oldest_by_view
                                .iter()
                                .map(|(view, o)| (view.clone(), age_of(*o)))
                                .collect();
                            let result = if r.missing { "values_missing" } else { "ok" };
                            (result, Some(latency), age)
                        }
                    }
                }
            }
        };
        ProbeSample {
            target: p.name.clone(),
            asset: p.asset.clone(),
            at_ms,
            result: result.to_string(),
            latency,
            value_age,
            view_ages,
            reconnected,
        }
    }
}
