//! The `huggingface` source: the models of an author or organisation on the Hugging Face Hub
//! (or a compatible server: `api_url`, like the official client's `HF_ENDPOINT`) as model
//! assets with their usage (downloads over 30 days), likes, last modification, and whether
//! they have a model card and a license.

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::collector::{CollectContext, CollectError};
use crate::config::Section;
use crate::facts::{Collection, FactSet, RegistryAsset, RegistrySnapshot};
use crate::sources::forge::{self, decode_error, urlencode};
use crate::sources::http::{Auth, Client, Fetched, HttpConfig, Validators};
use crate::sources::{Collecting, Config as SourcesConfig, Kind, KindSettings, Source};

/// The `huggingface` source kind.
pub const KIND: Kind = Kind {
    name: "huggingface",
    keys: &[KEYS],
    decode: |s| crate::sources::settings(decode(s)),
};

pub const KEYS: &[&str] = &[
    "api_url",
    "author",
    "token",
    "token_file",
    "request_timeout",
    "ca_file",
    "client_certificate_file",
];
pub const DEFAULT_API_URL: &str = "https://huggingface.co";

#[derive(Debug, Clone)]
pub struct HuggingfaceSettings {
    pub api_url: String,
    pub author: String,
    pub http: HttpConfig,
}

pub fn decode(s: &mut Section) -> Option<HuggingfaceSettings> {
    let mut ok = true;
    let api_url = match s.url("api_url", &["https", "http"]) {
        Some(u) => u.expose().trim_end_matches('/').to_string(),
        None => {
            ok &= !s.has("api_url");
            DEFAULT_API_URL.to_string()
        }
    };
    let author = s.required_string("author");
    let token = s.secret("token");
    let http = forge::http_settings(s, token.map_or(Auth::None, Auth::Bearer));
    (ok && author.is_some()).then(|| HuggingfaceSettings {
        api_url,
        author: author.unwrap_or_default(),
        http,
    })
}

/// One model of `GET /api/models?author=…&full=true&cardData=true`.
#[derive(Debug, Clone, PartialEq)]
pub struct HubModel {
    pub id: String,
    pub downloads: f64,
    pub likes: f64,
    pub last_modified: Option<f64>,
    /// A `README.md` among the repository's files (the model card).
    pub card: bool,
    /// A license in the card's metadata or the tags (`license:apache-2.0`).
    pub license: bool,
}

/// A model as the Hub's list gives it, the fields read (unknown ones ignored).
#[derive(Deserialize)]
struct ModelJson {
    #[serde(default)]
    id: Option<String>,
    /// The older name of `id`.
    #[serde(default, rename = "modelId")]
    model_id: Option<String>,
    #[serde(default)]
    downloads: Option<f64>,
    #[serde(default)]
    likes: Option<f64>,
    #[serde(default, rename = "lastModified")]
    last_modified: Option<String>,
    #[serde(default, deserialize_with = "forge::null_as_default")]
    siblings: Vec<Sibling>,
    #[serde(default, rename = "cardData")]
    card_data: Option<CardData>,
    /// Tags are strings; anything else in the list is skipped.
    #[serde(default, deserialize_with = "forge::null_as_default")]
    tags: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Sibling {
    #[serde(default, deserialize_with = "forge::null_as_default")]
    rfilename: String,
}

#[derive(Deserialize)]
struct CardData {
    /// A string or a list of them, as model cards write it.
    #[serde(default)]
    license: Option<serde_json::Value>,
}

pub fn models_page(body: &[u8]) -> Result<Vec<HubModel>, String> {
    let models: Vec<ModelJson> =
        serde_json::from_slice(body).map_err(|e| format!("not the expected JSON: {e}"))?;
    models
        .into_iter()
        .map(|m| {
            let id =
                m.id.or(m.model_id)
                    .filter(|id| !id.is_empty())
                    .ok_or("a model without an id")?;
            let card = m.siblings.iter().any(|s| s.rfilename == "README.md");
            let license = m
                .card_data
                .and_then(|c| c.license)
                .is_some_and(|l| !l.is_null() && l.as_str() != Some(""))
                || m.tags
                    .iter()
                    .any(|t| t.as_str().is_some_and(|t| t.starts_with("license:")));
            Ok(HubModel {
                id,
                downloads: m.downloads.unwrap_or(0.0),
                likes: m.likes.unwrap_or(0.0),
                last_modified: m
                    .last_modified
                    .as_deref()
                    .and_then(forge::parse_time_precise),
                card,
                license,
            })
        })
        .collect()
}

pub struct HuggingfaceCollector {
    name: String,
    settings: HuggingfaceSettings,
    client: Client,
}

impl KindSettings for HuggingfaceSettings {
    fn build(
        &self,
        _: &SourcesConfig,
        name: &str,
        _: &std::path::Path,
    ) -> anyhow::Result<Box<dyn Source>> {
        Ok(Box::new(HuggingfaceCollector::new(name, self)?))
    }
}

impl Source for HuggingfaceCollector {
    fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a> {
        Box::pin(async move {
            let mut collection = self.collect_async(ctx.cancel.clone()).await?;
            // A sharded replica keeps the models it owns (the listing is read whole).
            if let Some(wants) = &ctx.wants {
                for set in &mut collection.sets {
                    if let FactSet::Registry(snapshot) = set {
                        snapshot.retain_assets(|a| wants(a));
                    }
                }
            }
            Ok(collection)
        })
    }

    fn http_stats(&self) -> Option<crate::sources::http::Stats> {
        Some(self.client.stats())
    }
}

impl HuggingfaceCollector {
    pub fn new(name: &str, settings: &HuggingfaceSettings) -> Result<Self, CollectError> {
        Ok(HuggingfaceCollector {
            name: name.to_string(),
            client: Client::new(settings.http.clone())?,
            settings: settings.clone(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn collect_async(&self, cancel: CancellationToken) -> Result<Collection, CollectError> {
        let mut next = Some(format!(
            "{}/api/models?author={}&limit=100&full=true&cardData=true",
            self.settings.api_url,
            urlencode(&self.settings.author)
        ));
        let mut snapshot = RegistrySnapshot::default();
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > 1000 {
                break;
            }
            let Fetched::Body { body, next: n, .. } = self
                .client
                .get(&url, &Validators::default(), &cancel)
                .await?
            else {
                break;
            };
            for m in models_page(&body).map_err(decode_error(&url))? {
                snapshot.assets.push(RegistryAsset {
                    id: m.id.clone(),
                    kind: "model".into(),
                    updated_at: m.last_modified,
                    ..RegistryAsset::default()
                });
                snapshot
                    .checks
                    .push((m.id.clone(), "has_model_card".into(), m.card));
                snapshot
                    .checks
                    .push((m.id.clone(), "has_license".into(), m.license));
                snapshot
                    .numbers
                    .push((m.id.clone(), "downloads_30d".into(), m.downloads));
                snapshot.numbers.push((m.id, "likes".into(), m.likes));
            }
            next = n;
        }
        Ok(Collection {
            source: self.name.clone(),
            sets: vec![FactSet::Registry(snapshot)],
            cursors: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_with_cards_licenses_and_usage() {
        let body = br#"[
          {"_id": "1", "id": "acme/churn", "likes": 3, "downloads": 120, "lastModified": "2026-11-01T10:00:00.000Z",
           "tags": ["transformers", "license:apache-2.0"], "siblings": [{"rfilename": "README.md"}, {"rfilename": "config.json"}]},
          {"_id": "2", "modelId": "acme/raw", "siblings": [], "cardData": {"license": null}}
        ]"#;
        let models = models_page(body).unwrap();
        assert_eq!(models[0].id, "acme/churn");
        assert!(models[0].card && models[0].license);
        assert_eq!((models[0].downloads, models[0].likes), (120.0, 3.0));
        assert!(models[0].last_modified.is_some());
        assert!(!models[1].card && !models[1].license);
        assert!(models_page(b"{}").is_err());
    }
}
