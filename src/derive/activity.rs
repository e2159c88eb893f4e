//! Who is active: active and new contributors per asset and organisation-wide, and the CHAOSS
//! contributor absence factor.

use std::collections::{BTreeSet, HashMap};

use super::{window_starts, Context, Credited, RECENT_SECONDS, WINDOWS};
use crate::exposition::Family;
use crate::store::StoreError;

/// How many people, taken greedily (each time the one who (co-)authored the most commits not yet
/// covered; ties by id), cover more than half of the distinct commits; 0 when there are none.
/// `commits` maps each commit to the people who (co-)authored it.
pub fn absence_factor(commits: &[Vec<&str>]) -> u64 {
    let total = commits.len();
    let mut covered = vec![false; total];
    let mut n_covered = 0;
    let mut taken = 0;
    while n_covered * 2 <= total && n_covered < total {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for (_, authors) in commits.iter().enumerate().filter(|(i, _)| !covered[*i]) {
            for a in authors.iter().collect::<BTreeSet<_>>() {
                *counts.entry(*a).or_default() += 1;
            }
        }
        let Some((best, _)) = counts
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        else {
            break;
        };
        for (i, authors) in commits.iter().enumerate() {
            if !covered[i] && authors.contains(&best) {
                covered[i] = true;
                n_covered += 1;
            }
        }
        taken += 1;
    }
    if total == 0 {
        0
    } else {
        taken
    }
}

pub fn families(cx: &Context<'_>, credited: &Credited<'_>) -> Result<Vec<Family>, StoreError> {
    let credits = &credited.shared.credits;
    let assets = cx.config.assets();
    let mut active = Family::of(&crate::metrics::ASSET_ACTIVE_CONTRIBUTORS);
    let mut newcomers = Family::of(&crate::metrics::ASSET_NEW_CONTRIBUTORS);
    let mut org_active = Family::of(&crate::metrics::ACTIVE_CONTRIBUTORS);
    let mut org_new = Family::of(&crate::metrics::NEW_CONTRIBUTORS);
    // Per catalog asset, its windows and absence factor as of `now`: kept between derivations
    // at the same time, except for the assets an update touched.
    let mut cache = crate::locked(&credited.shared.activity);
    if cache.0 != cx.now {
        *cache = (cx.now, Default::default());
    }
    let starts = window_starts(cx.now);
    for a in &assets {
        cache.1.entry(a.id.clone()).or_insert_with(|| {
            (
                credits.activity_of(&a.id, &starts),
                absence_factor(&credits.recent_authorships_of(&a.id, cx.now - RECENT_SECONDS)),
            )
        });
    }
    // Each person's first and last credit over every asset, from the identity keys' spans: a
    // sharded replica's and its peers', else this store's, joined into the same people.
    let own;
    let spans = match credited.organisation {
        Some(spans) => spans,
        None => {
            own = credits.key_spans();
            &own
        }
    };
    let overall =
        crate::shard::organisation_activity(&credited.shared.people, spans, &window_starts(cx.now));
    for (i, (window, _)) in WINDOWS.iter().enumerate() {
        for a in &assets {
            let (n_active, n_new) = cache.1[&a.id].0[i];
            let labels = vec![("asset", a.id.clone()), ("window", window.to_string())];
            active.push(labels.clone(), n_active as f64);
            newcomers.push(labels, n_new as f64);
        }
        let (n_active, n_new) = overall[i];
        org_active.push(vec![("window", window.to_string())], n_active as f64);
        org_new.push(vec![("window", window.to_string())], n_new as f64);
    }

    let mut absence = Family::of(&crate::metrics::ASSET_CONTRIBUTOR_ABSENCE_FACTOR);
    for a in &assets {
        absence.push(vec![("asset", a.id.clone())], cache.1[&a.id].1 as f64);
    }
    Ok(vec![active, newcomers, org_active, org_new, absence])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(commits: &[&[&str]], expected: u64) {
        let commits: Vec<Vec<&str>> = commits.iter().map(|c| c.to_vec()).collect();
        assert_eq!(absence_factor(&commits), expected, "{commits:?}");
    }

    #[test]
    fn absence_factor_cases() {
        check(&[], 0);
        check(&[&["a"]], 1);
        check(&[&["a"], &["b"]], 2); // exactly half is not more than half
        check(&[&["a"], &["a"], &["b"]], 1);
        check(&[&["a"], &["b"], &["c"], &["d"], &["e"]], 3);
    }

    #[test]
    fn co_authored_commits_count_once_in_the_total() {
        // Three commits; Alice (co-)authored two of them: she alone covers more than half.
        check(&[&["alice", "bob"], &["alice"], &["carol"]], 1);
        // Greedy: Bob covers 2 of 4, not more than half; then Alice or Carol adds one more.
        check(&[&["bob", "alice"], &["bob"], &["carol"], &["dan"]], 2);
    }
}
