//! The `http_probe` source: probes any HTTP endpoint (a feature server of any vendor, a model
//! server, an in-house service) as a client sees it. Targets come only from the config: there
//! is no way to make mlsteward request an address a scrape names (no open proxy).

use std::time::Duration;

use crate::collector::{CollectContext, CollectError};
use crate::config::Section;
use crate::facts::{Collection, FactSet, ProbeSample};
use crate::sources::probe::{json_at, status_reason, Answer, Prober};
use crate::sources::{Collecting, Config as SourcesConfig, Kind, KindSettings, Source};

/// The `http_probe` source kind.
pub const KIND: Kind = Kind {
    name: "http_probe",
    keys: &[KEYS],
    decode: |s| crate::sources::settings(decode(s)),
};

pub const KEYS: &[&str] = &[
    "asset",
    "url",
    "method",
    "headers",
    "body",
    "expected_status",
    "json_path",
    "json_equals",
    "request_timeout",
    "latency_target",
    "keep_alive",
    "probes",
];

#[derive(Debug, Clone)]
pub struct HttpProbeSettings {
    pub asset: String,
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub expected_status: u16,
    /// The answer must be JSON with a value at this path (equal to `json_equals` when set).
    pub json_path: Option<String>,
    pub json_equals: Option<String>,
    pub request_timeout: Duration,
    pub latency_target: Option<Duration>,
    pub keep_alive: bool,
    /// Probes per collection.
    pub probes: u32,
}

pub fn decode(s: &mut Section) -> Option<HttpProbeSettings> {
    let mut ok = true;
    let asset = s.required_string("asset");
    let url = s
        .url("url", &["https", "http"])
        .map(|u| u.expose().to_string());
    if url.is_none() {
        if !s.has("url") {
            s.problem_here("an http_probe source needs `url`");
        }
        ok = false;
    }
    let method = s
        .choice("method", &["GET", "POST", "PUT", "HEAD"])
        .unwrap_or_else(|| "GET".into());
    let headers = s.string_map("headers").unwrap_or_default();
    let body = s.string("body");
    let expected_status = match s.uint("expected_status") {
        Some(n) if (100..600).contains(&n) => n as u16,
        Some(n) => {
            s.problem("expected_status", format!("{n} is not an HTTP status"));
            ok = false;
            200
        }
        None => 200,
    };
    let json_path = s.string("json_path");
    let json_equals = s.string("json_equals");
    if json_equals.is_some() && json_path.is_none() {
        s.problem("json_equals", "`json_equals` needs `json_path`");
        ok = false;
    }
    let request_timeout = s
        .duration("request_timeout")
        .filter(|d| !d.is_zero())
        .unwrap_or(Duration::from_secs(5));
    let latency_target = s.duration("latency_target");
    let keep_alive = s.boolean("keep_alive").unwrap_or(true);
    let probes = s.uint("probes").unwrap_or(1).clamp(1, 100) as u32;
    (ok && asset.is_some()).then(|| HttpProbeSettings {
        asset: asset.unwrap_or_default(),
        url: url.unwrap_or_default(),
        method,
        headers,
        body,
        expected_status,
        json_path,
        json_equals,
        request_timeout,
        latency_target,
        keep_alive,
        probes,
    })
}

pub struct HttpProbeCollector {
    name: String,
    settings: HttpProbeSettings,
    prober: Prober,
}

impl KindSettings for HttpProbeSettings {
    fn build(
        &self,
        _: &SourcesConfig,
        name: &str,
        _: &std::path::Path,
    ) -> anyhow::Result<Box<dyn Source>> {
        Ok(Box::new(HttpProbeCollector::new(name, self)?))
    }

    fn latency_targets(&self, name: &str) -> Vec<(String, Duration)> {
        self.latency_target
            .map(|t| vec![(name.to_string(), t)])
            .unwrap_or_default()
    }

    fn probed_asset(&self) -> Option<&str> {
        Some(&self.asset)
    }
}

impl Source for HttpProbeCollector {
    fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a> {
        Box::pin(self.collect_async(ctx))
    }
}

impl HttpProbeCollector {
    pub fn new(name: &str, settings: &HttpProbeSettings) -> Result<Self, CollectError> {
        Ok(HttpProbeCollector {
            name: name.to_string(),
            prober: Prober::new(settings.request_timeout, settings.keep_alive)?,
            settings: settings.clone(),
        })
    }

    async fn collect_async(&self, ctx: &CollectContext) -> Result<Collection, CollectError> {
        let s = &self.settings;
        let probing = async {
            let mut samples = Vec::new();
            for _ in 0..s.probes {
                let at_ms = self.prober.stamp();
                let (answer, reconnected) = self
                    .prober
                    .probe(
                        &s.method,
                        &s.url,
                        &s.headers,
                        s.body.as_deref().map(str::as_bytes),
                    )
                    .await;
                let (result, latency) = match answer {
                    Answer::Timeout => ("timeout", None),
                    Answer::Connect => ("connect", None),
                    Answer::Http {
                        status,
                        body,
                        latency,
                        ..
                    } => {
                        let result = if status != s.expected_status {
                            status_reason(status)
                        } else if let Some(path) = &s.json_path {
                            match serde_json::from_slice::<serde_json::Value>(&body)
                                .ok()
                                .as_ref()
                                .and_then(|v| json_at(v, path))
                            {
                                Some(v) => match &s.json_equals {
                                    Some(want) => {
                                        let got = v
                                            .as_str()
                                            .map(str::to_string)
                                            .unwrap_or_else(|| v.to_string());
                                        if &got == want {
                                            "ok"
                                        } else {
                                            "bad_body"
                                        }
                                    }
                                    None => "ok",
                                },
                                None => "bad_body",
                            }
                        } else {
                            "ok"
                        };
                        (result, Some(latency))
                    }
                };
                samples.push(ProbeSample {
                    target: self.name.clone(),
                    asset: s.asset.clone(),
                    at_ms,
                    result: result.to_string(),
                    latency,
                    value_age: None,
                    view_ages: Vec::new(),
                    reconnected,
                });
            }
            samples
        };
        let samples = tokio::select! {
            samples = probing => samples,
            _ = ctx.cancel.cancelled() => return Err(CollectError::new(crate::collector::ErrorKind::Cancelled, "collection cancelled")),
        };
        Ok(Collection {
            source: self.name.clone(),
            sets: vec![FactSet::ProbeSamples(samples)],
            cursors: Default::default(),
        })
    }
}
