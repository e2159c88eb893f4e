//! What registries report beyond ownership: governance checks per model, version counts,
//! feature counts and freshness of feature views, and the dependencies between assets.

use super::Context;
use crate::exposition::Family;
use crate::metrics::{self, Spec};
use crate::store::StoreError;

/// Registry numbers and the families they become: (number name, family).
pub const NUMBERS: [(&str, &Spec); 8] = [
    ("description_chars", &metrics::MODEL_DESCRIPTION_CHARS),
    ("versions", &metrics::MODEL_VERSIONS),
    (
        "unattributed_versions",
        &metrics::MODEL_VERSIONS_UNATTRIBUTED,
    ),
    ("features", &metrics::ASSET_FEATURES),
    (
        "materialized_until",
        &metrics::FEATURE_VIEW_MATERIALIZED_TIMESTAMP_SECONDS,
    ),
    ("downloads_30d", &metrics::ASSET_DOWNLOADS_30D),
    ("likes", &metrics::MODEL_LIKES),
    ("ttl_seconds", &metrics::FEATURE_VIEW_TTL_SECONDS),
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
    // `has_owner` reads the merged asset (the catalog's owner, CODEOWNERS's, the registry's),
    // as `mlsteward_asset_owned` does: governance never contradicts ownership.
    let owners: std::collections::BTreeMap<String, bool> = super::ownership::merged(cx)?
        .into_iter()
        .map(|m| (m.id, !m.owner.is_empty()))
        .collect();
    let mut check = Family::of(&crate::metrics::MODEL_CHECK);
    for (_, asset, name, passed) in checks {
        let passed = match (name.as_str(), owners.get(&asset)) {
            ("has_owner", Some(owned)) => *owned,
            _ => passed,
        };
        check.push(vec![("asset", asset), ("check", name)], passed as u8 as f64);
    }
    let mut out = vec![check];
    for (name, spec) in NUMBERS {
        let mut f = Family::of(spec);
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
    let mut aliases = Family::of(&crate::metrics::MODEL_ALIAS_INFO);
    let mut stages = Family::of(&crate::metrics::MODEL_VERSIONS_BY_STAGE);
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
        } else if let (Some(version), Some(page)) = (name.strip_prefix("run:"), cx.page) {
            // The run that made each model version: the asset's page shows them.
            let (run, status) = value.split_once('\t').unwrap_or((value.as_str(), ""));
            crate::locked(page).runs.push(super::page::ModelRun {
                asset,
                version: version.to_string(),
                run: run.to_string(),
                status: status.to_string(),
            });
        }
    }
    out.push(aliases);
    out.push(stages);
    let mut deps = Family::of(&crate::metrics::ASSET_DEPENDENCY_INFO);
    for (asset, on) in edges {
        deps.push(vec![("asset", asset), ("depends_on", on)], 1.0);
    }
    out.push(deps);
    Ok(out)
}
