//! Catalog metadata, owners, stewards, files and last update per asset.
//!
//! Owners have one vocabulary: every owner is compared and exported in one normal form, without
//! a leading `@`, lower-cased, and without the prefix of the configured `organisation` (so with
//! `organisation: acme`, `@acme/ml-team`, `acme/ml-team` and `ml-team` are one owner).

use std::collections::BTreeSet;

use super::Context;
use crate::exposition::Family;
use crate::store::StoreError;

/// An owner in normal form.
pub fn normal_owner(owner: &str, organisation: Option<&str>) -> String {
    let lower = owner.trim().trim_start_matches('@').to_ascii_lowercase();
    match (organisation, lower.split_once('/')) {
        (Some(org), Some((prefix, team))) if prefix == org && !team.is_empty() => team.to_string(),
        _ => lower,
    }
}

/// An owner set (`a,b`) in normal form: each owner normalised, sorted, without repeats.
fn normal_set(set: &str, organisation: Option<&str>) -> BTreeSet<String> {
    set.split(',')
        .filter(|o| !o.trim().is_empty())
        .map(|o| normal_owner(o, organisation))
        .collect()
}

fn joined(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(",")
}

/// Owner of an asset and whether its ownership sources disagree.
///
/// - The `repo` asset of a repository: the catalog's owner, else the owners of CODEOWNERS's
///   default rule (`*`); in conflict only when both exist and the catalog owner is not among
///   the default rule's owners.
/// - Any other asset: the catalog's owner when set, in conflict when some file's CODEOWNERS
///   owner set lacks it; without one, CODEOWNERS decides when every owned file names the same
///   owners, and differing owner sets are a conflict with no owner.
///
/// `catalog_owner` and the sets must already be in normal form.
pub fn resolve_owner(
    is_repo: bool,
    catalog_owner: Option<&str>,
    default_rule: Option<&BTreeSet<String>>,
    file_sets: &[BTreeSet<String>],
) -> (String, bool) {
    if is_repo {
        return match (catalog_owner, default_rule) {
            (Some(owner), Some(default)) => (owner.to_string(), !default.contains(owner)),
            (Some(owner), None) => (owner.to_string(), false),
            (None, Some(default)) => (joined(default), false),
            (None, None) => (String::new(), false),
        };
    }
    match catalog_owner {
        Some(owner) => (
            owner.to_string(),
            !file_sets.iter().all(|set| set.contains(owner)),
        ),
        None => match file_sets {
            [] => (String::new(), false),
            [one] => (joined(one), false),
            _ => (String::new(), true),
        },
    }
}

/// One asset as every source of what it is says it: each field the catalog's where it sets it;
/// else (for the owner) CODEOWNERS's; else the first registry's that gives it (MLflow, Feast,
/// Hugging Face, a Backstage catalog, in the order of the configured sources); else the
/// default (no owner, `experimental`, no stewards).
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub id: String,
    pub kind: String,
    /// In normal form; empty when nobody owns it.
    pub owner: String,
    /// Whether its sources of ownership disagree.
    pub conflict: bool,
    pub lifecycle: String,
    pub stewards: Vec<String>,
}

/// Every asset, merged (see [`Merged`]): the catalog's (its implicit `repo` assets included),
/// then the registries' that the catalog does not name. Sorted by id.
pub fn merged(cx: &Context<'_>) -> Result<Vec<Merged>, StoreError> {
    let org = cx.config.organisation.as_deref();
    let assets = cx.config.assets();
    let codeowners = cx.reader.codeowners()?;
    let defaults = cx.reader.codeowners_default()?;
    // What registries say about assets, in the order of the configured sources: the first
    // registry that gives a field gives it.
    let mut registry: Vec<_> = cx
        .reader
        .registry_assets()?
        .into_iter()
        .filter_map(|(source, r)| {
            let at = cx.config.sources.iter().position(|s| s.name == source)?;
            Some((at, r))
        })
        .collect();
    registry.sort_by_key(|(at, _)| *at);
    let registry: Vec<_> = registry.into_iter().map(|(_, r)| r).collect();
    let mut out = Vec::new();
    for a in &assets {
        let mine: Vec<_> = registry.iter().filter(|r| r.id == a.id).collect();
        let catalog_owner = a.owner.as_deref().map(|o| normal_owner(o, org));
        // A registry owner that disagrees with the catalog's is a conflict, as with CODEOWNERS.
        let registry_disagrees = mine.iter().any(|r| match (&catalog_owner, &r.owner) {
            (Some(c), Some(o)) => *c != normal_owner(o, org),
            _ => false,
        });
        let file_sets: Vec<BTreeSet<String>> = codeowners
            .get(&a.id)
            .into_iter()
            .flatten()
            .map(|s| normal_set(s, org))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let default_rule = a
            .repository
            .as_ref()
            .and_then(|r| defaults.get(r))
            .map(|s| normal_set(s, org));
        let (owner, disagree) = resolve_owner(
            a.kind == "repo",
            catalog_owner.as_deref(),
            default_rule.as_ref(),
            &file_sets,
        );
        // Without an owner from the catalog or CODEOWNERS, the registry's.
        let owner = if owner.is_empty() {
            mine.iter()
                .find_map(|r| r.owner.as_deref())
                .map(|o| normal_owner(o, org))
                .unwrap_or_default()
        } else {
            owner
        };
        let lifecycle = a
            .lifecycle
            .clone()
            .or_else(|| mine.iter().find_map(|r| r.lifecycle.clone()))
            .unwrap_or_else(|| DEFAULT_LIFECYCLE.to_string());
        let stewards = if a.stewards.is_empty() {
            mine.iter()
                .map(|r| &r.stewards)
                .find(|s| !s.is_empty())
                .cloned()
                .unwrap_or_default()
        } else {
            a.stewards.clone()
        };
        out.push(Merged {
            id: a.id.clone(),
            kind: a.kind.clone(),
            owner,
            conflict: disagree || registry_disagrees,
            lifecycle,
            stewards,
        });
    }
    // Registry assets the catalog does not name.
    let mut seen: BTreeSet<&str> = assets.iter().map(|a| a.id.as_str()).collect();
    for r in &registry {
        if !seen.insert(r.id.as_str()) {
            continue;
        }
        out.push(Merged {
            id: r.id.clone(),
            kind: r.kind.clone(),
            owner: r
                .owner
                .as_deref()
                .map(|o| normal_owner(o, org))
                .unwrap_or_default(),
            conflict: false,
            lifecycle: r
                .lifecycle
                .clone()
                .unwrap_or_else(|| DEFAULT_LIFECYCLE.to_string()),
            stewards: r.stewards.clone(),
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The lifecycle of an asset no source gives one.
pub const DEFAULT_LIFECYCLE: &str = "experimental";

pub fn families(cx: &Context<'_>) -> Result<Vec<Family>, StoreError> {
    let assets = cx.config.assets();
    let merged = merged(cx)?;
    let mut info = Family::of(&crate::metrics::ASSET_INFO);
    let mut owned = Family::of(&crate::metrics::ASSET_OWNED);
    let mut conflict = Family::of(&crate::metrics::ASSET_OWNERSHIP_CONFLICT);
    let mut stewards = Family::of(&crate::metrics::ASSET_STEWARD_INFO);
    for m in &merged {
        let asset = || vec![("asset", m.id.clone())];
        owned.push(asset(), if m.owner.is_empty() { 0.0 } else { 1.0 });
        conflict.push(asset(), if m.conflict { 1.0 } else { 0.0 });
        info.push(
            vec![
                ("asset", m.id.clone()),
                ("kind", m.kind.clone()),
                ("owner", m.owner.clone()),
                ("lifecycle", m.lifecycle.clone()),
            ],
            1.0,
        );
        for steward in m.stewards.iter().collect::<BTreeSet<_>>() {
            stewards.push(
                vec![("asset", m.id.clone()), ("steward", steward.clone())],
                1.0,
            );
        }
    }
    let registry: Vec<_> = cx
        .reader
        .registry_assets()?
        .into_iter()
        .filter(|(source, _)| cx.config.sources.iter().any(|s| &s.name == source))
        .collect();

    let mut files = Family::of(&crate::metrics::ASSET_FILES);
    let counts = cx.reader.asset_files()?;
    for a in &assets {
        if let Some(n) = counts.get(&a.id) {
            files.push(vec![("asset", a.id.clone())], *n as f64);
        }
    }

    let mut last_update = Family::of(&crate::metrics::ASSET_LAST_UPDATE_TIMESTAMP_SECONDS);
    let updates = cx.reader.asset_last_updates()?;
    let mut newest: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    for a in &assets {
        if let Some(at) = updates.get(&a.id) {
            newest.insert(a.id.clone(), *at as f64);
        }
    }
    // A registry's last update of the asset counts too (a new model version, a
    // materialization).
    for (_, r) in &registry {
        if let Some(at) = r.updated_at {
            let e = newest.entry(r.id.clone()).or_insert(at);
            *e = e.max(at);
        }
    }
    for (asset, at) in &newest {
        last_update.push(vec![("asset", asset.clone())], *at);
    }

    // Deprecation candidates: production assets with a cadence, unchanged for twice it, and
    // without usage recorded over the last 30 days (no usage source counts as none recorded).
    let mut candidate = Family::of(&crate::metrics::ASSET_DEPRECATION_CANDIDATE);
    let usage: std::collections::BTreeMap<String, f64> = cx
        .reader
        .registry_numbers()?
        .into_iter()
        .filter(|(source, _, name, _)| {
            name == "downloads_30d" && cx.config.sources.iter().any(|s| &s.name == source)
        })
        .map(|(_, asset, _, v)| (asset, v))
        .collect();
    for a in &assets {
        let Some(cadence) = a.update_cadence else {
            continue;
        };
        let stale = newest
            .get(&a.id)
            .is_none_or(|at| cx.now as f64 - at > 2.0 * cadence.as_secs_f64());
        let unused = usage.get(&a.id).is_none_or(|d| *d <= 0.0);
        let production = merged
            .iter()
            .any(|m| m.id == a.id && m.lifecycle == "production");
        let is = production && stale && unused;
        candidate.push(vec![("asset", a.id.clone())], is as u8 as f64);
    }
    let mut out = vec![info, owned, conflict, stewards, files, last_update];
    if !candidate.samples.is_empty() {
        out.push(candidate);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(owners: &str) -> BTreeSet<String> {
        normal_set(owners, Some("acme"))
    }

    #[test]
    fn one_vocabulary() {
        for o in ["@acme/ml-team", "acme/ml-team", "ml-team", "@ACME/ML-Team"] {
            assert_eq!(normal_owner(o, Some("acme")), "ml-team");
        }
        assert_eq!(
            normal_owner("@other/ml-team", Some("acme")),
            "other/ml-team"
        );
        assert_eq!(normal_owner("@acme/ml-team", None), "acme/ml-team");
        assert_eq!(normal_owner("Ann@Corp.com", Some("acme")), "ann@corp.com");
    }

    #[test]
    fn repository_owner_comes_from_the_default_rule() {
        let default = set("@acme/platform");
        assert_eq!(
            resolve_owner(
                true,
                None,
                Some(&default),
                &[set("ml-team"), set("platform")]
            ),
            ("platform".into(), false),
            "two teams in CODEOWNERS are no conflict for the repository"
        );
        assert_eq!(
            resolve_owner(true, Some("platform"), Some(&default), &[]),
            ("platform".into(), false)
        );
        assert_eq!(
            resolve_owner(true, Some("ml-team"), Some(&default), &[]),
            ("ml-team".into(), true)
        );
        assert_eq!(
            resolve_owner(true, None, None, &[set("a")]),
            ("".into(), false)
        );
    }

    #[test]
    fn other_assets() {
        assert_eq!(
            resolve_owner(false, Some("ml-team"), None, &[set("acme/ml-team")]),
            ("ml-team".into(), false)
        );
        assert_eq!(
            resolve_owner(
                false,
                Some("ml-team"),
                None,
                &[set("ml-team"), set("alice")]
            ),
            ("ml-team".into(), true)
        );
        assert_eq!(
            resolve_owner(false, None, None, &[set("alice,bob")]),
            ("alice,bob".into(), false)
        );
        assert_eq!(
            resolve_owner(false, None, None, &[set("alice"), set("bob")]),
            ("".into(), true)
        );
        assert_eq!(resolve_owner(false, None, None, &[]), ("".into(), false));
    }
}
