//! Contributions per person and kind, credited commits, and what happened to each mined commit.

use std::collections::BTreeMap;

use super::{summed, Context, Credited, OTHER_CONTRIBUTORS};
use crate::config::ContributorLabel;
use crate::exposition::Family;
use crate::facts::COMMIT_OUTCOMES;
use crate::store::StoreError;

pub fn families(cx: &Context<'_>, credited: &Credited<'_>) -> Result<Vec<Family>, StoreError> {
    let recognition = &cx.config.recognition;
    let mut contributions = Family::of(&crate::metrics::CONTRIBUTIONS_TOTAL);
    let per_person = recognition.contributor_label != ContributorLabel::None;
    summed(
        &mut contributions,
        credited
            .shared
            .credits
            .contributions(per_person, OTHER_CONTRIBUTORS)
            .into_iter()
            .map(|(asset, label, kind, n)| {
                let mut labels = vec![("asset", asset.clone())];
                if per_person {
                    labels.extend(credited.label(recognition, &asset, &label));
                }
                labels.push(("kind", kind));
                (labels, n as f64)
            }),
    );

    let mut credited_commits = Family::of(&crate::metrics::CREDITED_COMMITS_TOTAL);
    summed(
        &mut credited_commits,
        credited
            .shared
            .credits
            .credited_commits(per_person, OTHER_CONTRIBUTORS)
            .into_iter()
            .map(|(asset, label, n)| {
                let mut labels = vec![("asset", asset.clone())];
                if per_person {
                    labels.extend(credited.label(recognition, &asset, &label));
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
    let mut commits = Family::of(&crate::metrics::GIT_COMMITS);
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

    let mut without_blobs = Family::of(&crate::metrics::GIT_COMMITS_WITHOUT_BLOBS);
    let missing = cx.reader.commits_without_blobs()?;
    for source in &git_sources {
        without_blobs.push(
            vec![("source", source.to_string())],
            missing.get(*source).copied().unwrap_or(0) as f64,
        );
    }

    let mut shallow = Family::of(&crate::metrics::GIT_SHALLOW);
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

    let mut invalid = Family::of(&crate::metrics::GIT_CODEOWNERS_INVALID_LINES);
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
