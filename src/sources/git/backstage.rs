//! Backstage catalog files (`catalog-info.yaml`) at the branch tip: the entities of kinds
//! Component, Resource, System and API become assets with their owner, lifecycle and kind,
//! merged in derive like a registry's assets (the configuration's catalog wins; an owner that
//! disagrees with it is an ownership conflict). See docs/configuration.md, "Backstage catalog".

use yaml_rust2::{Yaml, YamlLoader};

use crate::facts::{RegistryAsset, RegistrySnapshot};

/// File names read as Backstage catalog files, anywhere in the tree.
pub const FILE_NAMES: &[&str] = &["catalog-info.yaml", "catalog-info.yml"];

/// Catalog files larger than this are skipped (Backstage's own processing limits are similar).
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// How many entities one repository may declare; the rest are skipped with a warning.
const MAX_ENTITIES: usize = 2000;

/// Whether `path` names a catalog file.
pub fn is_catalog_file(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    FILE_NAMES.contains(&name)
}

/// An entity reference (`[kind:][namespace/]name`) as an asset id: the name, prefixed with its
/// namespace unless that is `default`.
pub fn entity_id(reference: &str) -> String {
    let without_kind = match reference.split_once(':') {
        Some((kind, rest)) if !kind.contains('/') => rest,
        _ => reference,
    };
    match without_kind.split_once('/') {
        Some(("default", name)) => name.to_string(),
        _ => without_kind.to_string(),
    }
}

/// An owner reference (`group:default/ml-team`, `user:jane`, `ml-team`) as an owner: the
/// name, without its kind and the `default` namespace.
pub fn owner(reference: &str) -> String {
    entity_id(reference)
}

/// The asset kind of an entity: the `mlsteward.io/kind` annotation when set, else by kind and
/// `spec.type`.
pub fn asset_kind(kind: &str, spec_type: &str, annotation: Option<&str>) -> String {
    if let Some(k) = annotation {
        return k.to_string();
    }
    let t = spec_type.to_ascii_lowercase().replace('-', "_");
    let by_type = match t.as_str() {
        "library" => Some("library"),
        "model" | "ml_model" | "machine_learning_model" => Some("model"),
        "pipeline" | "workflow" | "ml_pipeline" | "data_pipeline" => Some("pipeline"),
        "feature_view" => Some("feature_view"),
        "feature_service" => Some("feature_service"),
        "dataset" | "database" | "data" | "table" | "bucket" => Some("dataset"),
        _ => None,
    };
    match (kind, by_type) {
        (_, Some(k)) => k.to_string(),
        ("Component", None) => "service".into(),
        ("Resource", None) => "resource".into(),
        ("System", None) => "system".into(),
        _ => "api".into(),
    }
}

/// Backstage's lifecycle as ours: `production`, `deprecated` and `experimental` as they are,
/// anything else (`development`, `beta`, …) as `experimental`.
pub fn lifecycle(value: &str) -> String {
    match value {
        "production" | "deprecated" => value.to_string(),
        _ => "experimental".into(),
    }
}

/// The entities of every catalog file, in file order (the first declaration of an id wins),
/// as a registry snapshot (assets, and dependency edges from `spec.dependsOn` and
/// `spec.system`), with a message for every file or entity that was skipped.
pub fn read(files: &[(String, Vec<u8>)]) -> (RegistrySnapshot, Vec<String>) {
    let mut snapshot = RegistrySnapshot::default();
    let mut problems = Vec::new();
    for (path, data) in files {
        if data.len() > MAX_FILE_BYTES {
            problems.push(format!("{path}: over {MAX_FILE_BYTES} bytes, skipped"));
            continue;
        }
        let text = String::from_utf8_lossy(data);
        let docs = match YamlLoader::load_from_str(&text) {
            Ok(d) => d,
            Err(e) => {
                problems.push(format!("{path}: not valid YAML: {e}"));
                continue;
            }
        };
        for (i, doc) in docs.iter().enumerate() {
            if matches!(doc, Yaml::Null | Yaml::BadValue) {
                continue;
            }
            let kind = doc["kind"].as_str().unwrap_or("");
            if !["Component", "Resource", "System", "API"].contains(&kind) {
                // Groups, Users, Domains, Locations, Templates: not assets.
                continue;
            }
            let Some(name) = doc["metadata"]["name"].as_str().filter(|n| !n.is_empty()) else {
                problems.push(format!(
                    "{path}: document {}: a {kind} without metadata.name, skipped",
                    i + 1
                ));
                continue;
            };
            let namespace = doc["metadata"]["namespace"].as_str().unwrap_or("default");
            let id = entity_id(&format!("{namespace}/{name}"));
            if snapshot.assets.iter().any(|a| a.id == id) {
                problems.push(format!(
                    "{path}: document {}: {id} is declared again, skipped",
                    i + 1
                ));
                continue;
            }
            if snapshot.assets.len() >= MAX_ENTITIES {
                problems.push(format!(
                    "{path}: over {MAX_ENTITIES} entities, the rest skipped"
                ));
                break;
            }
            let spec = &doc["spec"];
            let annotations = &doc["metadata"]["annotations"];
            let stewards = annotations["mlsteward.io/stewards"]
                .as_str()
                .map(|s| {
                    s.split(',')
                        .map(|x| x.trim().to_string())
                        .filter(|x| !x.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            snapshot.assets.push(RegistryAsset {
                id: id.clone(),
                kind: asset_kind(
                    kind,
                    spec["type"].as_str().unwrap_or(""),
                    annotations["mlsteward.io/kind"].as_str(),
                ),
                owner: spec["owner"].as_str().map(owner),
                stewards,
                lifecycle: spec["lifecycle"].as_str().map(lifecycle),
                updated_at: None,
            });
            if let Some(system) = spec["system"].as_str() {
                snapshot.edges.push((id.clone(), entity_id(system)));
            }
            for dep in spec["dependsOn"].as_vec().into_iter().flatten() {
                if let Some(dep) = dep.as_str() {
                    snapshot.edges.push((id.clone(), entity_id(dep)));
                }
            }
        }
    }
    (snapshot, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_kinds_and_lifecycles() {
        assert_eq!(entity_id("component:default/churn"), "churn");
        assert_eq!(entity_id("resource:ml/feature-db"), "ml/feature-db");
        assert_eq!(entity_id("churn"), "churn");
        assert_eq!(owner("group:default/ml-team"), "ml-team");
        assert_eq!(owner("user:jane"), "jane");
        assert_eq!(asset_kind("Component", "ml-model", None), "model");
        assert_eq!(asset_kind("Component", "service", None), "service");
        assert_eq!(asset_kind("Resource", "database", None), "dataset");
        assert_eq!(asset_kind("System", "", None), "system");
        assert_eq!(asset_kind("API", "openapi", None), "api");
        assert_eq!(
            asset_kind("Component", "service", Some("feature_view")),
            "feature_view"
        );
        assert_eq!(lifecycle("production"), "production");
        assert_eq!(lifecycle("beta"), "experimental");
        assert!(is_catalog_file("services/churn/catalog-info.yaml"));
        assert!(!is_catalog_file("services/churn/catalog-info.yaml.bak"));
    }

    #[test]
    fn a_multi_document_file_gives_its_entities_and_skips_the_rest_with_reasons() {
        let text = br#"apiVersion: backstage.io/v1alpha1
kind: System
metadata:
  name: churn-platform
spec:
  owner: group:default/ml-team
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: churn-model
  annotations:
    mlsteward.io/stewards: ana@example.com, ben@example.com
spec:
  type: ml-model
  lifecycle: production
  owner: ml-team
  system: churn-platform
  dependsOn: [resource:default/customer-features]
---
kind: Group
metadata:
  name: ml-team
---
kind: Component
spec:
  type: service
"#;
        let (s, problems) = read(&[("catalog-info.yaml".into(), text.to_vec())]);
        let ids: Vec<&str> = s.assets.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["churn-platform", "churn-model"]);
        let model = &s.assets[1];
        assert_eq!(model.kind, "model");
        assert_eq!(model.owner.as_deref(), Some("ml-team"));
        assert_eq!(model.lifecycle.as_deref(), Some("production"));
        assert_eq!(model.stewards, ["ana@example.com", "ben@example.com"]);
        assert_eq!(s.assets[0].lifecycle, None);
        assert_eq!(
            s.edges,
            [
                ("churn-model".to_string(), "churn-platform".to_string()),
                ("churn-model".to_string(), "customer-features".to_string())
            ]
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("document 4"), "{problems:?}");
        let (_, bad) = read(&[("x/catalog-info.yaml".into(), b"kind: [".to_vec())]);
        assert!(
            bad[0].starts_with("x/catalog-info.yaml: not valid YAML"),
            "{bad:?}"
        );
    }
}
