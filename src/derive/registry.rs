//! What registries report beyond ownership: governance checks per model, version counts,
//! feature counts and freshness of feature views, and the dependencies between assets.

use super::Context;
use crate::exposition::{Family, MetricType};
use crate::store::StoreError;

/// Registry numbers and the families they become: (name, family, help).
pub const NUMBERS: [(&str, &str, &str); 8] = [
    (
        "description_chars",
        "mlsteward_model_description_chars",
        "Length of the model's description (its model card in MLflow), in characters (Unicode scalar values).",
    ),
    (
        "versions",
        "mlsteward_model_versions",
        "Versions of the registered model (MLflow).",
    ),
    (
        "unattributed_versions",
        "mlsteward_model_versions_unattributed",
        "Versions of the model credited to nobody: without a run, or whose run names nobody (no `mlflow.user` tag and a `user_id` empty or `unknown`).",
    ),
    (
        "features",
        "mlsteward_asset_features",
        "Features of a feature view, or features a feature service projects (Feast).",
    ),
    (
        "materialized_until",
        "mlsteward_feature_view_materialized_timestamp_seconds",
        "Materialized up to: the largest end time over the feature view's materialization intervals (Feast).",
    ),
    (
        "downloads_30d",
        "mlsteward_asset_downloads_30d",
        "Usage: downloads of the model over the last 30 days, as its hub reports them (Hugging Face).",
    ),
    (
        "likes",
        "mlsteward_model_likes",
        "Likes of the model on its hub (Hugging Face).",
    ),
    (
        "ttl_seconds",
        "mlsteward_feature_view_ttl_seconds",
        "The feature view's time to live (Feast does not enforce it online; see the values' age).",
    ),
];

pub fn families(cx: &Context) -> Result<Vec<Family>, StoreError> {
    // Only what configured sources hold: a source removed from the config is gone.
    let configured = |source: &str| cx.config.sources.iter().any(|s| s.name == source);
    let checks: Vec<_> = cx
        .reader
        .registry_checks()?
        .into_iter()
        .filter(|r| configured(&r.0))
        .collect();
    let numbers: Vec<_> = cx
        .reader
        .registry_numbers()?
        .into_iter()
        .filter(|r| configured(&r.0))
        .collect();
    let mut edges: Vec<_> = cx
        .reader
        .registry_edges()?
        .into_iter()
        .filter(|r| configured(&r.0))
        .map(|(_, a, on)| (a, on))
        .collect();
    edges.dedup();
    if checks.is_empty() && numbers.is_empty() && edges.is_empty() {
        return Ok(Vec::new());
    }
    let mut check = Family::new(
        "mlsteward_model_check",
        MetricType::Gauge,
        "Governance checks of a model, 1 passed or 0 failed. MLflow: has_description, has_owner (from the owner tag), has_model_card (a description of at least model_card_min_chars characters), has_license (the license tag), champion_from_finished_run (the `champion` alias, else the newest Production version, comes from a FINISHED run). Hugging Face: has_model_card (a README.md), has_license (card metadata or a license: tag).",
    );
    for (_, asset, name, passed) in checks {
        check.push(vec![("asset", asset), ("check", name)], passed as u8 as f64);
    }
    let mut out = vec![check];
    for (name, family, help) in NUMBERS {
        let mut f = Family::new(family, MetricType::Gauge, help);
        for (_, asset, _, value) in numbers.iter().filter(|(_, _, n, _)| n == name) {
            f.push(vec![("asset", asset.clone())], *value);
        }
        out.push(f);
    }
    // Labels: a model's aliases and its versions per stage.
    let labels: Vec<_> = cx
        .reader
        .registry_labels()?
        .into_iter()
        .filter(|r| configured(&r.0))
        .collect();
    let mut aliases = Family::new(
        "mlsteward_model_alias_info",
        MetricType::Gauge,
        "Always 1: the model version an alias (`champion`, …) points to.",
    );
    let mut stages = Family::new(
        "mlsteward_model_versions_by_stage",
        MetricType::Gauge,
        "Versions of the model per stage (MLflow's None, Staging, Production, Archived).",
    );
    for (_, asset, name, value) in labels {
        if let Some(alias) = name.strip_prefix("alias:") {
            aliases.push(
                vec![
                    ("asset", asset),
                    ("alias", alias.to_string()),
                    ("version", value),
                ],
                1.0,
            );
        } else if let Some(stage) = name.strip_prefix("stage:") {
            stages.push(
                vec![("asset", asset), ("stage", stage.to_string())],
                value.parse().unwrap_or(0.0),
            );
        }
    }
    out.push(aliases);
    out.push(stages);
    let mut deps = Family::new(
        "mlsteward_asset_dependency_info",
        MetricType::Gauge,
        "Always 1: the asset depends on `depends_on` (a feature service on the feature views it projects; a Backstage entity on its spec.dependsOn and spec.system), for Grafana's node graph.",
    );
    for (asset, on) in edges {
        deps.push(vec![("asset", asset), ("depends_on", on)], 1.0);
    }
    out.push(deps);
    Ok(out)
}
