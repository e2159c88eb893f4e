//! Contributions per person and kind, credited commits, and what happened to each mined commit.

use std::collections::BTreeMap;

use super::{summed, Context, OTHER_CONTRIBUTORS};
use crate::config::ContributorLabel;
use crate::exposition::{Family, MetricType};
use crate::facts::COMMIT_OUTCOMES;
use crate::store::StoreError;

pub fn families(cx: &Context<'_>) -> Result<Vec<Family>, StoreError> {
    let mut contributions = Family::new(
        "mlsteward_contributions_total",
        MetricType::Counter,
        "Contributions credited per asset, contributor and kind, from the mined branch: one per commit and kind of file it changed (author and Co-authored-by), one per Reviewed-by/Tested-by/Reported-by/Suggested-by trailer (review, testing, report, suggestion), one per person newly named in a changelog (changelog_mention). Merges, bots, opted-out people, empty and whitespace-only commits, reverts and commits with a standing revert earn nothing. People are unified across emails, names and handles. Decreases when history is rewritten or a revert lands.",
    );
    let per_person = cx.config.recognition.contributor_label != ContributorLabel::None;
    summed(
        &mut contributions,
        cx.credits
            .contributions(per_person, OTHER_CONTRIBUTORS)
            .into_iter()
            .map(|(asset, label, kind, n)| {
                let mut labels = vec![("asset", asset.clone())];
                if per_person {
                    labels.extend(cx.label(&asset, &label));
                }
                labels.push(("kind", kind));
                (labels, n as f64)
            }),
    );

    let mut credited_commits = Family::new(
        "mlsteward_credited_commits_total",
        MetricType::Counter,
        "Distinct commits per asset and contributor that earned the contributor credit as author or co-author, each commit counted once whatever kinds of files it changed; for __other__, the distinct commits of everyone ranked below top_n; with contributor_label none, the asset's distinct credited commits.",
    );
    summed(
        &mut credited_commits,
        cx.credits
            .credited_commits(per_person, OTHER_CONTRIBUTORS)
            .into_iter()
            .map(|(asset, label, n)| {
                let mut labels = vec![("asset", asset.clone())];
                if per_person {
                    labels.extend(cx.label(&asset, &label));
                }
                (labels, n as f64)
            }),
    );

    let git_sources: Vec<&str> = cx
        .config
        .sources
        .iter()
        .filter(|s| s.kind == "git")
        .map(|s| s.name.as_str())
        .collect();
    let mut commits = Family::new(
        "mlsteward_git_commits",
        MetricType::Gauge,
        "Commits mined from the source's branch by outcome, every outcome always exported: credited, merge, bot, opted_out, whitespace_only (every changed file stays a regular file with its mode and equal content once whitespace is removed), empty (changes no file), unreadable (a malformed commit object, skipped), shallow_boundary (the oldest commit of a shallow clone), revert (names an ancestor that changed a path it changes) or reverted (has a standing revert).",
    );
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

    let mut without_blobs = Family::new(
        "mlsteward_git_commits_without_blobs",
        MetricType::Gauge,
        "Mined commits whose file contents were absent (a partial, blobless clone): they are credited from their trees, without the whitespace-only check and changelog mentions.",
    );
    let missing = cx.reader.commits_without_blobs()?;
    for source in &git_sources {
        without_blobs.push(
            vec![("source", source.to_string())],
            missing.get(*source).copied().unwrap_or(0) as f64,
        );
    }

    let mut shallow = Family::new(
        "mlsteward_git_shallow",
        MetricType::Gauge,
        "1 if the source's repository is a shallow clone: history starts at its boundary commits, which cannot be diffed and earn nothing (outcome shallow_boundary); else 0.",
    );
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

    let mut invalid = Family::new("mlsteward_git_codeowners_invalid_lines", MetricType::Gauge, "CODEOWNERS lines at the branch tip that GitHub would skip as invalid (negation, character ranges, bad owners).");
    let invalid_counts = cx.reader.codeowners_invalid_lines()?;
    for source in &git_sources {
        invalid.push(
            vec![("source", source.to_string())],
            invalid_counts.get(*source).copied().unwrap_or(0) as f64,
        );
    }
    Ok(vec![
        contributions,
        credited_commits,
        commits,
        without_blobs,
        shallow,
        invalid,
    ])
}
