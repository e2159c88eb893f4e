//! The JSON API (`/api/v1/…`): the same numbers as `/metrics` and `mlsteward report`, shaped
//! for programs (a developer portal, a chat bot). `/api/v1/assets` is built with each exposition
//! from the families just derived, so it never disagrees with the metrics it sits beside.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::exposition::Family;
use crate::sources::Config;

/// Every asset that `mlsteward_asset_info` names, with its catalog entry (when it has one) and
/// every derived asset-level series: `{"assets": [{"id", "kind", "owner", "lifecycle",
/// "repository", "stewards", "paths", "metrics": {family: [{"labels", "value"}]}}]}`.
/// Per-person series (those with a `contributor` label) are left to `/api/v1/recognition`.
pub fn assets_json(config: &Config, families: &[Family]) -> String {
    let catalog = config.assets();
    let mut assets: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for family in families
        .iter()
        .filter(|f| f.name == crate::metrics::ASSET_INFO.name)
    {
        for sample in &family.samples {
            let label = |name: &str| {
                sample
                    .labels
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let id = label("asset");
            let entry = catalog.iter().find(|a| a.id == id);
            let mut asset = Map::new();
            asset.insert("id".into(), json!(id));
            asset.insert("kind".into(), json!(label("kind")));
            asset.insert("owner".into(), json!(label("owner")));
            asset.insert("lifecycle".into(), json!(label("lifecycle")));
            asset.insert(
                "repository".into(),
                json!(entry.and_then(|a| a.repository.clone())),
            );
            asset.insert(
                "stewards".into(),
                json!(entry.map(|a| a.stewards.clone()).unwrap_or_default()),
            );
            asset.insert(
                "paths".into(),
                json!(entry.map(|a| a.paths.clone()).unwrap_or_default()),
            );
            asset.insert("metrics".into(), Value::Object(Map::new()));
            assets.insert(id, asset);
        }
    }
    for family in families {
        for sample in &family.samples {
            if sample.labels.iter().any(|(k, _)| *k == "contributor") {
                continue;
            }
            let Some((_, id)) = sample.labels.iter().find(|(k, _)| *k == "asset") else {
                continue;
            };
            let Some(Value::Object(metrics)) =
                assets.get_mut(id).and_then(|a| a.get_mut("metrics"))
            else {
                continue;
            };
            let labels: Map<String, Value> = sample
                .labels
                .iter()
                .filter(|(k, _)| *k != "asset")
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            let name = format!("{}{}", family.name, sample.suffix);
            let value = if sample.value.is_finite() {
                json!(sample.value)
            } else {
                json!(sample.value.to_string())
            };
            if let Value::Array(list) = metrics.entry(name).or_insert_with(|| json!([])) {
                list.push(json!({"labels": labels, "value": value}));
            }
        }
    }
    let list: Vec<Value> = assets.into_values().map(Value::Object).collect();
    let mut text = serde_json::to_string_pretty(&json!({ "assets": list }))
        .unwrap_or_else(|_| "{\"assets\": []}".into());
    text.push('\n');
    text
}
