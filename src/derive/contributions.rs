//! Contributions per person and kind, credited commits, and what happened to each mined commit.
//!
//! The two per-person families are by far the largest of the exposition (an asset, its `top_n`
//! people and `__other__`, times the kinds of work). [`blocks`] renders them asset by asset and
//! keeps each asset's text until its figures change ([`Shared`](super::Shared) forgets the
//! assets an update touched), so a few new commits render and compress a few assets, not all.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{summed, Context, Credited, Output, OTHER_CONTRIBUTORS};
use crate::config::ContributorLabel;
use crate::exposition::{self, Family};
use crate::facts::COMMIT_OUTCOMES;
use crate::metrics::{self, Spec};
use crate::store::StoreError;

/// The per-person families, in exposition order.
const PER_ASSET: [&Spec; 2] = [
    &metrics::CONTRIBUTIONS_TOTAL,
    &metrics::CREDITED_COMMITS_TOTAL,
];

/// The samples of `spec` (one of [`PER_ASSET`]) on `asset`, into `family`.
fn asset_samples(
    credited: &Credited<'_>,
    recognition: &crate::config::Recognition,
    spec: &Spec,
    asset: &str,
    family: &mut Family,
) {
    let per_person = recognition.contributor_label != ContributorLabel::None;
    let credits = &credited.shared.credits;
    let labels = |label: &str| {
        let mut labels = vec![("asset", asset.to_string())];
        if per_person {
            labels.extend(credited.label(recognition, label));
        }
        labels
    };
    if spec.name == metrics::CONTRIBUTIONS_TOTAL.name {
        summed(
            family,
            credits
                .contributions_of(asset, per_person, OTHER_CONTRIBUTORS)
                .into_iter()
                .map(|(label, kind, n)| {
                    let mut l = labels(&label);
                    l.push(("kind", kind));
                    (l, n as f64)
                }),
        );
    } else {
        summed(
            family,
            credits
                .credited_commits_of(asset, per_person, OTHER_CONTRIBUTORS)
                .into_iter()
                .map(|(label, n)| (labels(&label), n as f64)),
        );
    }
}

/// Every family of the group, whole.
pub fn families(cx: &Context<'_>, credited: &Credited<'_>) -> Result<Vec<Family>, StoreError> {
    let recognition = &cx.config.recognition;
    let mut out = Vec::new();
    for spec in PER_ASSET {
        let mut family = Family::of(spec);
        for asset in credited.shared.credits.asset_names() {
            asset_samples(credited, recognition, spec, asset, &mut family);
        }
        out.push(family);
    }
    out.extend(git_families(cx)?);
    Ok(out)
}

/// The group's text in blocks: each per-person family's header, then a block per asset
/// (kept from the last derivation unless the asset's figures changed), then the git
/// families.
pub fn blocks(cx: &Context<'_>, credited: &Credited<'_>) -> Result<Output, StoreError> {
    let recognition = &cx.config.recognition;
    let assets = credited.shared.credits.asset_names();
    let mut blocks = Vec::with_capacity(2 * assets.len() + 3);
    let mut kept = crate::locked(&credited.shared.blocks);
    let mut rendered = 0;
    for spec in PER_ASSET {
        blocks.push((
            spec.name.to_string(),
            Arc::from(exposition::render_header(&Family::of(spec))),
        ));
        for asset in &assets {
            let text = kept
                .entry((spec.name, asset.to_string()))
                .or_insert_with(|| {
                    rendered += 1;
                    let mut family = Family::of(spec);
                    asset_samples(credited, recognition, spec, asset, &mut family);
                    Arc::from(exposition::render_samples(&family))
                })
                .clone();
            blocks.push((format!("{} {asset}", spec.name), text));
        }
    }
    drop(kept);
    tracing::debug!(
        blocks = rendered,
        of = 2 * assets.len(),
        "contributions rendered"
    );
    let git = git_families(cx)?;
    blocks.push(("git".to_string(), Arc::from(exposition::render(&git))));
    // Without per-person labels, every sample of the per-person families is asset-level.
    let api = match recognition.contributor_label {
        ContributorLabel::None => families(cx, credited)?,
        _ => Vec::new(),
    };
    Ok(Output::Blocks { blocks, api })
}

/// What happened to each mined commit, per git source.
fn git_families(cx: &Context<'_>) -> Result<Vec<Family>, StoreError> {
    let git_sources: Vec<&str> = cx
        .config
        .sources
        .iter()
        .filter(|s| s.kind == "git")
        .map(|s| s.name.as_str())
        .collect();
    let mut commits = Family::of(&metrics::GIT_COMMITS);
    let mut outcomes: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (repo, outcome, n) in cx.reader.commit_outcomes()? {
        outcomes.insert((repo, outcome), n);
    }
    for source in &git_sources {
        for outcome in COMMIT_OUTCOMES {
            let n = outcomes
                .get(&(source.to_string(), outcome.to_string()))
                .copied()
                .unwrap_or(0);
            commits.push(
                vec![("source", source.to_string()), ("outcome", outcome.into())],
                n as f64,
            );
        }
    }

    let mut without_blobs = Family::of(&metrics::GIT_COMMITS_WITHOUT_BLOBS);
    let missing = cx.reader.commits_without_blobs()?;
    for source in &git_sources {
        without_blobs.push(
            vec![("source", source.to_string())],
            missing.get(*source).copied().unwrap_or(0) as f64,
        );
    }

    let mut shallow = Family::of(&metrics::GIT_SHALLOW);
    let shallow_repos = cx.reader.shallow_repositories()?;
    for source in &git_sources {
        shallow.push(
            vec![("source", source.to_string())],
            if shallow_repos.iter().any(|r| r == source) {
                1.0
            } else {
                0.0
            },
        );
    }

    let mut invalid = Family::of(&metrics::GIT_CODEOWNERS_INVALID_LINES);
    let invalid_counts = cx.reader.codeowners_invalid_lines()?;
    for source in &git_sources {
        invalid.push(
            vec![("source", source.to_string())],
            invalid_counts.get(*source).copied().unwrap_or(0) as f64,
        );
    }
    Ok(vec![commits, without_blobs, shallow, invalid])
}
