//! Derive: stored facts → metric families. Pure reads of the store plus the catalog; every
//! definition here is also the metric's HELP text and the README's metrics reference.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sha2::{Digest, Sha256};

use crate::config::{Config, ContributorLabel, Recognition};
use crate::exposition::{Family, MetricType};
use crate::store::{Reader, Store, StoreError};

/// Label value for contributors ranked below `top_n` on an asset.
pub const OTHER_CONTRIBUTORS: &str = "__other__";
pub const DAY_SECONDS: i64 = 86_400;
/// The windows of the windowed gauges, as label value and length.
pub const WINDOWS: [(&str, i64); 2] = [("30d", 30 * DAY_SECONDS), ("90d", 90 * DAY_SECONDS)];

/// Stable pseudonym: the first 12 hex digits of SHA-256(salt, person key).
pub fn pseudonym(salt: &str, person: &str) -> String {
    let digest = Sha256::digest(format!("{salt}\0{person}").as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("p-{hex}")
}

/// Owner of an asset from the catalog and CODEOWNERS, and whether the two disagree.
///
/// The catalog wins when set; CODEOWNERS conflicts with it when any file's owner set lacks the
/// catalog owner. Without a catalog owner, CODEOWNERS decides only when all of the asset's owned
/// files name the same owners; otherwise the asset has no owner and a conflict.
pub fn resolve_owner(catalog_owner: Option<&str>, codeowner_sets: &[String]) -> (String, bool) {
    match catalog_owner {
        Some(owner) => {
            let want = owner.trim_start_matches('@').to_ascii_lowercase();
            let agrees = |set: &String| {
                set.split(',')
                    .any(|o| o == want || o.rsplit_once('/').is_some_and(|(_, team)| team == want))
            };
            (owner.to_string(), !codeowner_sets.iter().all(agrees))
        }
        None => match codeowner_sets {
            [] => (String::new(), false),
            [one] => (one.clone(), false),
            _ => (String::new(), true),
        },
    }
}

/// The fewest contributors whose commits add up to more than half of all (CHAOSS contributor
/// absence factor); 0 when there are none.
pub fn absence_factor(mut commits: Vec<u64>) -> u64 {
    let total: u64 = commits.iter().sum();
    commits.sort_unstable_by(|a, b| b.cmp(a));
    let mut sum = 0;
    for (i, c) in commits.iter().enumerate() {
        sum += c;
        if sum * 2 > total {
            return i as u64 + 1;
        }
    }
    0
}

struct Labeler<'a> {
    recognition: &'a Recognition,
    people: BTreeMap<String, String>,
    /// asset → people whose own label is kept (the top `top_n` by contributions).
    kept: HashMap<String, BTreeSet<String>>,
}

impl Labeler<'_> {
    /// The contributor label pair for `person` on `asset`, or nothing in `none` mode.
    fn label(&self, asset: &str, person: &str) -> Option<(&'static str, String)> {
        let value = if !self.kept.get(asset).is_some_and(|k| k.contains(person)) {
            OTHER_CONTRIBUTORS.to_string()
        } else {
            match self.recognition.contributor_label {
                ContributorLabel::None => return None,
                ContributorLabel::Name => self
                    .people
                    .get(person)
                    .cloned()
                    .unwrap_or_else(|| person.to_string()),
                ContributorLabel::Pseudonym => {
                    pseudonym(self.recognition.pseudonym_salt.expose(), person)
                }
            }
        };
        match self.recognition.contributor_label {
            ContributorLabel::None => None,
            _ => Some(("contributor", value)),
        }
    }
}

/// Sums values that end up with identical label sets (two people sharing a display name, or
/// everyone aggregated as `__other__`) and sorts them for a stable exposition.
fn summed(family: &mut Family, rows: impl IntoIterator<Item = (Vec<(&'static str, String)>, f64)>) {
    let mut acc: BTreeMap<Vec<(&'static str, String)>, f64> = BTreeMap::new();
    for (labels, v) in rows {
        *acc.entry(labels).or_default() += v;
    }
    for (labels, v) in acc {
        family.push(labels, v);
    }
}

/// All families derived from the store at time `now` (seconds since the epoch).
pub fn families(store: &Store, config: &Config, now: i64) -> Result<Vec<Family>, StoreError> {
    store.read(|reader| families_from(reader, config, now))
}

fn families_from(
    reader: &Reader<'_>,
    config: &Config,
    now: i64,
) -> Result<Vec<Family>, StoreError> {
    let assets = config.assets();
    let credits = reader.credits()?;

    // Rank contributors per asset by all-time contributions to decide whose label is kept.
    let mut totals: HashMap<&str, HashMap<&str, u64>> = HashMap::new();
    for c in &credits {
        *totals
            .entry(&c.asset)
            .or_default()
            .entry(&c.person)
            .or_default() += c.count;
    }
    let kept = totals
        .iter()
        .map(|(asset, people)| {
            let mut ranked: Vec<(&str, u64)> = people.iter().map(|(p, n)| (*p, *n)).collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let top = ranked
                .into_iter()
                .take(config.recognition.top_n)
                .map(|(p, _)| p.to_string())
                .collect();
            (asset.to_string(), top)
        })
        .collect();
    let labeler = Labeler {
        recognition: &config.recognition,
        people: reader.people()?,
        kept,
    };

    let mut contributions = Family::new(
        "mlsteward_contributions_total",
        MetricType::Counter,
        "Contributions credited per asset, contributor and kind, from the mined branch: one per commit and kind of file it changed (author and Co-authored-by), one per Reviewed-by/Tested-by/Reported-by/Suggested-by trailer (review, testing, report, suggestion), one per person newly named in a changelog (changelog_mention). Merges, bots, opted-out people, whitespace-only commits, reverted commits and reverts earn nothing. Decreases when history is rewritten or a revert lands.",
    );
    summed(
        &mut contributions,
        credits.iter().map(|c| {
            let mut labels = vec![("asset", c.asset.clone())];
            labels.extend(labeler.label(&c.asset, &c.person));
            labels.push(("kind", c.kind.clone()));
            (labels, c.count as f64)
        }),
    );

    let mut credited_commits = Family::new(
        "mlsteward_credited_commits_total",
        MetricType::Counter,
        "Commits per asset and contributor that earned the contributor credit as author or co-author, each commit counted once whatever kinds of files it changed.",
    );
    summed(
        &mut credited_commits,
        reader.authored_commits(i64::MIN)?.into_iter().map(|r| {
            let mut labels = vec![("asset", r.asset.clone())];
            labels.extend(labeler.label(&r.asset, &r.person));
            (labels, r.commits as f64)
        }),
    );

    let codeowners = reader.codeowners()?;
    let mut info = Family::new("mlsteward_asset_info", MetricType::Gauge, "Catalog metadata of an asset, always 1: kind, owner (the catalog's, else the one owner CODEOWNERS agrees on, else empty) and lifecycle.");
    let mut owned = Family::new(
        "mlsteward_asset_owned",
        MetricType::Gauge,
        "1 if the asset has an owner (catalog, or unambiguous CODEOWNERS), else 0.",
    );
    let mut conflict = Family::new(
        "mlsteward_asset_ownership_conflict",
        MetricType::Gauge,
        "1 if ownership sources disagree about the asset: CODEOWNERS assigns some of its files to owners without the catalog owner, or, with no catalog owner, to different owners; else 0.",
    );
    for a in &assets {
        let (owner, disagree) = resolve_owner(
            a.owner.as_deref(),
            codeowners.get(&a.id).map_or(&[][..], |v| v.as_slice()),
        );
        owned.push(
            vec![("asset", a.id.clone())],
            if owner.is_empty() { 0.0 } else { 1.0 },
        );
        conflict.push(
            vec![("asset", a.id.clone())],
            if disagree { 1.0 } else { 0.0 },
        );
        info.push(
            vec![
                ("asset", a.id.clone()),
                ("kind", a.kind.clone()),
                ("owner", owner),
                ("lifecycle", a.lifecycle.clone()),
            ],
            1.0,
        );
    }

    let mut last_update = Family::new(
        "mlsteward_asset_last_update_timestamp_seconds",
        MetricType::Gauge,
        "Committer time of the newest non-merge commit on the mined branch that changed a file of the asset (any author, bots included).",
    );
    let updates = reader.asset_last_updates()?;
    for a in &assets {
        if let Some(at) = updates.get(&a.id) {
            last_update.push(vec![("asset", a.id.clone())], *at as f64);
        }
    }

    let mut active = Family::new(
        "mlsteward_asset_active_contributors",
        MetricType::Gauge,
        "Distinct people credited with any contribution to the asset by commits committed within the window (30d or 90d) before the last derivation.",
    );
    let mut newcomers = Family::new(
        "mlsteward_asset_new_contributors",
        MetricType::Gauge,
        "Distinct people whose first credited contribution to the asset was committed within the window (30d or 90d) before the last derivation.",
    );
    // asset → person → (first, last) commit time of any credited contribution.
    let mut span: HashMap<&str, HashMap<&str, (i64, i64)>> = HashMap::new();
    for c in &credits {
        let e = span
            .entry(&c.asset)
            .or_default()
            .entry(&c.person)
            .or_insert((i64::MAX, i64::MIN));
        e.0 = e.0.min(c.first_at);
        e.1 = e.1.max(c.last_at);
    }
    for (window, seconds) in WINDOWS {
        let since = now - seconds;
        for a in &assets {
            let (mut n_active, mut n_new) = (0u64, 0u64);
            for (first, last) in span.get(a.id.as_str()).into_iter().flat_map(|p| p.values()) {
                n_active += u64::from(*last >= since);
                n_new += u64::from(*first >= since);
            }
            active.push(
                vec![("asset", a.id.clone()), ("window", window.into())],
                n_active as f64,
            );
            newcomers.push(
                vec![("asset", a.id.clone()), ("window", window.into())],
                n_new as f64,
            );
        }
    }

    let mut absence = Family::new(
        "mlsteward_asset_contributor_absence_factor",
        MetricType::Gauge,
        "CHAOSS contributor absence factor over 90 days: the fewest people who (co-)authored more than half of the asset's credited commits committed in the last 90 days; 0 when there were none.",
    );
    let mut recent: HashMap<String, Vec<u64>> = HashMap::new();
    for r in reader.authored_commits(now - 90 * DAY_SECONDS)? {
        recent.entry(r.asset).or_default().push(r.commits);
    }
    for a in &assets {
        absence.push(
            vec![("asset", a.id.clone())],
            absence_factor(recent.remove(&a.id).unwrap_or_default()) as f64,
        );
    }

    let mut commits = Family::new(
        "mlsteward_git_commits",
        MetricType::Gauge,
        "Commits mined from the source's branch by outcome: credited, merge, bot, opted_out, whitespace_only, revert (says it reverts a commit) or reverted (a mined revert names it).",
    );
    for (repo, outcome, n) in reader.commit_outcomes()? {
        commits.push(vec![("source", repo), ("outcome", outcome)], n as f64);
    }
    let mut invalid = Family::new("mlsteward_git_codeowners_invalid_lines", MetricType::Gauge, "CODEOWNERS lines at the branch tip that GitHub would skip as invalid (negation, character ranges, bad owners).");
    let invalid_counts = reader.codeowners_invalid_lines()?;
    for s in &config.sources {
        invalid.push(
            vec![("source", s.name.clone())],
            invalid_counts.get(&s.name).copied().unwrap_or(0) as f64,
        );
    }

    Ok(vec![
        contributions,
        credited_commits,
        info,
        owned,
        conflict,
        last_update,
        active,
        newcomers,
        absence,
        commits,
        invalid,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absence_factor_cases() {
        assert_eq!(absence_factor(vec![]), 0);
        assert_eq!(absence_factor(vec![10]), 1);
        assert_eq!(
            absence_factor(vec![5, 5]),
            2,
            "exactly half is not more than half"
        );
        assert_eq!(absence_factor(vec![6, 5]), 1);
        assert_eq!(absence_factor(vec![1, 1, 1, 1, 1]), 3);
        assert_eq!(absence_factor(vec![3, 10, 2, 1]), 1);
    }

    #[test]
    fn owners() {
        assert_eq!(
            resolve_owner(Some("ml-team"), &["org/ml-team".into()]),
            ("ml-team".into(), false)
        );
        assert_eq!(
            resolve_owner(Some("ml-team"), &["org/ml-team".into(), "alice".into()]),
            ("ml-team".into(), true)
        );
        assert_eq!(
            resolve_owner(None, &["alice,bob".into()]),
            ("alice,bob".into(), false)
        );
        assert_eq!(
            resolve_owner(None, &["alice".into(), "bob".into()]),
            ("".into(), true)
        );
        assert_eq!(resolve_owner(None, &[]), ("".into(), false));
    }

    #[test]
    fn pseudonyms_are_stable_and_salted() {
        assert_eq!(pseudonym("s", "a@x"), pseudonym("s", "a@x"));
        assert_ne!(pseudonym("s", "a@x"), pseudonym("t", "a@x"));
        assert_eq!(pseudonym("s", "a@x").len(), 14);
    }
}
