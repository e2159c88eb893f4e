//! Every per-person credit figure, from one pass over the valid credits
//! ([`Reader::for_each_valid_credit`]): contributions per asset, person and kind, credited
//! commits, the `top_n` ranking, active and new contributors, and the (co-)authors of recent
//! commits for the absence factor.
//!
//! Distinct commits are counted as the store's definition says, by commit: the credits of one
//! commit arrive together, so each (asset, person, kind) and each (asset, person) counts once
//! per commit however many of the person's keys were credited. What is held is bounded by
//! assets × people × kinds, plus the commits with several (co-)author people (for
//! `__other__`'s distinct commits) and the last 90 days' authorships; nothing per commit.

use std::collections::{BTreeMap, HashMap};

use crate::people::Directory;
use crate::store::{CreditRef, Reader, StoreError};

/// Maps keyed by small interned ids use foldhash (already in the build through hashbrown):
/// SipHash would slow them down for nothing. String keys keep the standard hasher.
type IdMap<K, V> = foldhash::HashMap<K, V>;
type IdSet<T> = foldhash::HashSet<T>;

/// Interned strings: an id per distinct value.
#[derive(Default)]
struct Names {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// The per-person credit figures of one derivation.
pub struct CreditTotals {
    assets: Names,
    people: Names,
    kinds: Names,
    /// (asset, person, kind) → distinct commits.
    tally: IdMap<(u32, u32, u32), u32>,
    /// (asset, person) → the first and last commit time of their credits.
    span: IdMap<(u32, u32), (i64, i64)>,
    /// (asset, person) → authored commits of which the person is the only (co-)author person.
    solo: IdMap<(u32, u32), u64>,
    /// Authored commits with several (co-)author people: (asset, those people, sorted).
    shared: Vec<(u32, Box<[u32]>)>,
    /// Authored commits at or after `recent_since`: per asset, each commit's people.
    recent: IdMap<u32, Vec<Box<[u32]>>>,
    /// Scratch: one commit's authored (asset, person, time).
    authored: Vec<(u32, u32, i64)>,
    /// Per identity key (before joining; opted-out keys too): the first and last commit time
    /// of its credits, sorted by key. What a sharded replica tells its peers.
    key_spans: Vec<crate::shard::KeySpan>,
}

impl CreditTotals {
    /// Reads every valid credit once; `people` joins identity keys into people (opted-out
    /// people's credits are dropped), `recent_since` bounds the authorships kept for
    /// [`CreditTotals::recent_authorships`].
    pub fn read(
        reader: &Reader<'_>,
        people: &Directory,
        recent_since: i64,
    ) -> Result<CreditTotals, StoreError> {
        Self::from_credits(|f| reader.for_each_valid_credit(f), people, recent_since)
    }

    /// As [`CreditTotals::read`], from `credits`, which hands every credit to the function it
    /// is given as [`Reader::for_each_valid_credit`] does.
    fn from_credits(
        credits: impl FnOnce(&mut dyn FnMut(bool, CreditRef<'_>)) -> Result<(), StoreError>,
        people: &Directory,
        recent_since: i64,
    ) -> Result<CreditTotals, StoreError> {
        let mut totals = CreditTotals {
            assets: Names::default(),
            people: Names::default(),
            kinds: Names::default(),
            tally: IdMap::default(),
            span: IdMap::default(),
            solo: IdMap::default(),
            shared: Vec::new(),
            recent: IdMap::default(),
            authored: Vec::new(),
            key_spans: Vec::new(),
        };
        // Identity key → person id (None: opted out), looked up once per key, and the key's
        // first and last credit.
        let mut who: HashMap<String, (Option<u32>, i64, i64)> = HashMap::new();
        // The current commit's credits: (asset, person, kind, authored, time).
        let mut group: Vec<(u32, u32, u32, bool, i64)> = Vec::new();
        credits(&mut |first, c| {
            if first {
                totals.close(&mut group, recent_since);
            }
            if c.person.is_empty() {
                return;
            }
            let person = match who.get_mut(c.person) {
                Some(entry) => {
                    entry.1 = entry.1.min(c.committed_at);
                    entry.2 = entry.2.max(c.committed_at);
                    entry.0
                }
                None => {
                    let p = match people.person(c.person) {
                        Some(p) if p.opted_out => None,
                        Some(p) => Some(totals.people.id(&p.id)),
                        None => Some(totals.people.id(c.person)),
                    };
                    who.insert(c.person.to_string(), (p, c.committed_at, c.committed_at));
                    p
                }
            };
            if let Some(person) = person {
                let asset = totals.assets.id(c.asset);
                let kind = totals.kinds.id(c.kind);
                group.push((asset, person, kind, c.authored, c.committed_at));
            }
        })?;
        totals.close(&mut group, recent_since);
        totals.key_spans = who
            .into_iter()
            .map(|(key, (_, first, last))| (key, first, last))
            .collect();
        totals.key_spans.sort_unstable();
        Ok(totals)
    }

    /// Counts one commit's credits and empties `group`.
    fn close(&mut self, group: &mut Vec<(u32, u32, u32, bool, i64)>, recent_since: i64) {
        if group.is_empty() {
            return;
        }
        group.sort_unstable();
        let mut previous: Option<(u32, u32, u32)> = None;
        for &(asset, person, kind, _, at) in group.iter() {
            let key = (asset, person, kind);
            if previous != Some(key) {
                *self.tally.entry(key).or_default() += 1;
            }
            let t = self.span.entry((asset, person)).or_insert((at, at));
            t.0 = t.0.min(at);
            t.1 = t.1.max(at);
            previous = Some(key);
        }
        // Authored credits, per asset: the commit's distinct (co-)author people.
        let mut authored = std::mem::take(&mut self.authored);
        authored.clear();
        authored.extend(
            group
                .iter()
                .filter(|c| c.3)
                .map(|&(asset, person, _, _, at)| (asset, person, at)),
        );
        authored.sort_unstable_by_key(|&(asset, person, _)| (asset, person));
        authored.dedup_by_key(|&mut (asset, person, _)| (asset, person));
        for chunk in authored.chunk_by(|a, b| a.0 == b.0) {
            let asset = chunk[0].0;
            let people: Box<[u32]> = chunk.iter().map(|c| c.1).collect();
            if people.len() == 1 {
                *self.solo.entry((asset, people[0])).or_default() += 1;
            } else {
                self.shared.push((asset, people.clone()));
            }
            if chunk.iter().any(|c| c.2 >= recent_since) {
                self.recent.entry(asset).or_default().push(people);
            }
        }
        self.authored = authored;
        group.clear();
    }

    /// Per identity key, the first and last commit time of its credits, sorted by key.
    pub fn key_spans(&self) -> &[crate::shard::KeySpan] {
        &self.key_spans
    }

    /// Per asset, the `top_n` people by contributions (distinct commits summed over kinds;
    /// ties by id): (asset, person id).
    pub fn top_people(&self, top_n: usize) -> Vec<(String, String)> {
        let mut totals: IdMap<(u32, u32), u64> = IdMap::default();
        for (&(asset, person, _), n) in &self.tally {
            *totals.entry((asset, person)).or_default() += *n as u64;
        }
        let mut per_asset: BTreeMap<&str, Vec<(u64, &str)>> = BTreeMap::new();
        for ((asset, person), total) in totals {
            per_asset
                .entry(self.assets.name(asset))
                .or_default()
                .push((total, self.people.name(person)));
        }
        let mut out = Vec::new();
        for (asset, mut ranked) in per_asset {
            ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let mut kept: Vec<&str> = ranked.iter().take(top_n).map(|r| r.1).collect();
            kept.sort();
            out.extend(kept.into_iter().map(|p| (asset.to_string(), p.to_string())));
        }
        out
    }

    /// `kept` (asset → person ids) as (asset, person) ids.
    fn kept_ids(&self, kept: &HashMap<String, Vec<String>>) -> IdSet<(u32, u32)> {
        kept.iter()
            .filter_map(|(asset, people)| Some((*self.assets.ids.get(asset)?, people)))
            .flat_map(|(asset, people)| {
                people
                    .iter()
                    .filter_map(move |p| Some((asset, *self.people.ids.get(p)?)))
            })
            .collect()
    }

    /// The label of `person` on `asset`: the person id when kept, else `other`; '' for
    /// everyone when not `per_person`.
    fn label<'a>(
        &'a self,
        kept: &IdSet<(u32, u32)>,
        per_person: bool,
        other: &'a str,
        asset: u32,
        person: u32,
    ) -> &'a str {
        if !per_person {
            ""
        } else if kept.contains(&(asset, person)) {
            self.people.name(person)
        } else {
            other
        }
    }

    /// Contributions per asset, label and kind (see [`CreditTotals::label`]).
    pub fn contributions(
        &self,
        kept: &HashMap<String, Vec<String>>,
        per_person: bool,
        other: &str,
    ) -> Vec<(String, String, String, u64)> {
        let kept = self.kept_ids(kept);
        let mut out: BTreeMap<(&str, &str, &str), u64> = BTreeMap::new();
        for (&(asset, person, kind), n) in &self.tally {
            let label = self.label(&kept, per_person, other, asset, person);
            *out.entry((self.assets.name(asset), label, self.kinds.name(kind)))
                .or_default() += *n as u64;
        }
        out.into_iter()
            .map(|((a, l, k), n)| (a.to_string(), l.to_string(), k.to_string(), n))
            .collect()
    }

    /// Distinct (co-)authored commits per asset and label (see [`CreditTotals::label`]): a
    /// commit counts once for each label among its (co-)author people.
    pub fn credited_commits(
        &self,
        kept: &HashMap<String, Vec<String>>,
        per_person: bool,
        other: &str,
    ) -> Vec<(String, String, u64)> {
        let kept = self.kept_ids(kept);
        let mut out: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for (&(asset, person), n) in &self.solo {
            let label = self.label(&kept, per_person, other, asset, person);
            *out.entry((self.assets.name(asset), label)).or_default() += n;
        }
        for (asset, people) in &self.shared {
            let mut labels: Vec<&str> = people
                .iter()
                .map(|p| self.label(&kept, per_person, other, *asset, *p))
                .collect();
            labels.sort_unstable();
            labels.dedup();
            for label in labels {
                *out.entry((self.assets.name(*asset), label)).or_default() += 1;
            }
        }
        out.into_iter()
            .map(|((a, l), n)| (a.to_string(), l.to_string(), n))
            .collect()
    }

    /// Per asset (or, with `per_asset` false, once for everyone under the asset ''), for each
    /// time in `since`: the distinct people with a credit at or after it, and those whose
    /// first credit is at or after it.
    pub fn activity(&self, per_asset: bool, since: &[i64]) -> BTreeMap<String, Vec<(u64, u64)>> {
        // Everyone: each person's first and last credit over every asset.
        let mut everyone: IdMap<u32, (i64, i64)> = IdMap::default();
        if !per_asset {
            for (&(_, person), &(first, last)) in &self.span {
                let e = everyone.entry(person).or_insert((first, last));
                e.0 = e.0.min(first);
                e.1 = e.1.max(last);
            }
        }
        let spans: Box<dyn Iterator<Item = (Option<u32>, (i64, i64))>> = if per_asset {
            Box::new(self.span.iter().map(|(&(asset, _), &t)| (Some(asset), t)))
        } else {
            Box::new(everyone.into_values().map(|t| (None, t)))
        };
        let mut out: IdMap<Option<u32>, Vec<(u64, u64)>> = IdMap::default();
        for (asset, (first, last)) in spans {
            let counts = out
                .entry(asset)
                .or_insert_with(|| vec![(0, 0); since.len()]);
            for (i, s) in since.iter().enumerate() {
                counts[i].0 += (last >= *s) as u64;
                counts[i].1 += (first >= *s) as u64;
            }
        }
        out.into_iter()
            .map(|(asset, counts)| {
                (
                    asset.map_or("", |a| self.assets.name(a)).to_string(),
                    counts,
                )
            })
            .collect()
    }

    /// Per asset, the (co-)author people (ids) of each authored commit since `recent_since`.
    pub fn recent_authorships(&self) -> HashMap<&str, Vec<Vec<&str>>> {
        self.recent
            .iter()
            .map(|(asset, commits)| {
                let commits = commits
                    .iter()
                    .map(|people| people.iter().map(|p| self.people.name(*p)).collect())
                    .collect();
                (self.assets.name(*asset), commits)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Random commits, each with credits for some of a few people (under several keys each)
    /// on some assets and kinds; the figures against counts made the slow way, with sets of
    /// commit ids.
    #[test]
    fn figures_equal_counting_distinct_commits_with_sets() {
        // Keys k0..k9 belong to people p0..p4 (two keys each); p4 opted out.
        let stored: BTreeMap<String, String> = (0..10)
            .map(|k| (format!("k{k}@x"), format!("Person {}", k / 2)))
            .collect();
        let uses: Vec<crate::people::NameUse> = (0..10)
            .map(|k| crate::people::NameUse {
                key: format!("k{k}@x"),
                name: format!("Person {}", k / 2),
                uses: 1,
                last_at: 0,
            })
            .collect();
        let recognition = crate::config::Recognition {
            opt_out: vec!["k9@x".into()],
            ..Default::default()
        };
        let directory = crate::people::unify(&stored, &uses, &recognition);
        let person = |key: &str| -> Option<String> {
            let p = directory.person(key)?;
            (!p.opted_out).then(|| p.id.clone())
        };
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        // (sha, asset, key, kind, authored, time), grouped by sha, in key order within one.
        let mut rows: Vec<(String, String, String, String, bool, i64)> = Vec::new();
        for c in 0..400 {
            let at = 1_000 + next(1_000) as i64;
            let mut credits = BTreeSet::new();
            for _ in 0..1 + next(5) {
                let asset = format!("a{}", next(3));
                let key = format!("k{}@x", next(10));
                let kind = ["code", "docs", "review"][next(3) as usize].to_string();
                credits.insert((asset, key, kind.clone(), kind != "review"));
            }
            for (asset, key, kind, authored) in credits {
                rows.push((format!("{c:04}"), asset, key, kind, authored, at));
            }
        }
        let recent_since = 1_500;
        let totals = CreditTotals::from_credits(
            |f| {
                let mut last = "";
                for (sha, asset, key, kind, authored, at) in &rows {
                    f(
                        sha != last,
                        CreditRef {
                            sha,
                            asset,
                            person: key,
                            kind,
                            authored: *authored,
                            committed_at: *at,
                        },
                    );
                    last = sha;
                }
                Ok(())
            },
            &directory,
            recent_since,
        )
        .unwrap();

        // The slow way: sets of commits per (asset, person, kind) and per (asset, person).
        let mut by_kind: BTreeMap<(String, String, String), BTreeSet<String>> = BTreeMap::new();
        let mut authored: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        let mut times: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        for (sha, asset, key, kind, is_authored, at) in &rows {
            let Some(p) = person(key) else { continue };
            by_kind
                .entry((asset.clone(), p.clone(), kind.clone()))
                .or_default()
                .insert(sha.clone());
            if *is_authored {
                authored
                    .entry((asset.clone(), p.clone()))
                    .or_default()
                    .insert(sha.clone());
            }
            let t = times.entry((asset.clone(), p)).or_insert((*at, *at));
            t.0 = t.0.min(*at);
            t.1 = t.1.max(*at);
        }
        assert!(by_kind.keys().all(|(_, p, _)| p != "k8@x"), "p4 opted out");
        let top = totals.top_people(2);
        let mut kept: HashMap<String, Vec<String>> = HashMap::new();
        for (a, p) in &top {
            kept.entry(a.clone()).or_default().push(p.clone());
        }
        // top_n: the two people with the most contributions per asset, ties by id.
        for asset in ["a0", "a1", "a2"] {
            let mut ranked: Vec<(usize, String)> = by_kind
                .iter()
                .filter(|((a, _, _), _)| a == asset)
                .fold(BTreeMap::<String, usize>::new(), |mut m, ((_, p, _), s)| {
                    *m.entry(p.clone()).or_default() += s.len();
                    m
                })
                .into_iter()
                .map(|(p, n)| (n, p))
                .collect();
            ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut expected: Vec<String> = ranked.into_iter().take(2).map(|r| r.1).collect();
            expected.sort();
            assert_eq!(kept.get(asset), Some(&expected), "{asset}");
        }
        let label = |asset: &str, p: &str| {
            if kept.get(asset).is_some_and(|k| k.iter().any(|x| x == p)) {
                p.to_string()
            } else {
                "other".to_string()
            }
        };
        // Contributions: summed distinct commits per (asset, label, kind).
        let mut expected: BTreeMap<(String, String, String), u64> = BTreeMap::new();
        for ((a, p, k), shas) in &by_kind {
            *expected
                .entry((a.clone(), label(a, p), k.clone()))
                .or_default() += shas.len() as u64;
        }
        let got: BTreeMap<(String, String, String), u64> = totals
            .contributions(&kept, true, "other")
            .into_iter()
            .map(|(a, l, k, n)| ((a, l, k), n))
            .collect();
        assert_eq!(got, expected);
        // Credited commits: distinct authored commits per (asset, label), and per asset.
        let mut per_label: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
        let mut per_asset: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for ((a, p), shas) in &authored {
            per_label
                .entry((a.clone(), label(a, p)))
                .or_default()
                .extend(shas.iter().cloned());
            per_asset
                .entry(a.clone())
                .or_default()
                .extend(shas.iter().cloned());
        }
        let got: BTreeMap<(String, String), u64> = totals
            .credited_commits(&kept, true, "other")
            .into_iter()
            .map(|(a, l, n)| ((a, l), n))
            .collect();
        let want: BTreeMap<(String, String), u64> = per_label
            .iter()
            .map(|(k, s)| (k.clone(), s.len() as u64))
            .collect();
        assert_eq!(got, want);
        assert!(want.keys().any(|(_, l)| l == "other"));
        let got: Vec<(String, u64)> = totals
            .credited_commits(&kept, false, "other")
            .into_iter()
            .map(|(a, _, n)| (a, n))
            .collect();
        let want: Vec<(String, u64)> = per_asset
            .iter()
            .map(|(a, s)| (a.clone(), s.len() as u64))
            .collect();
        assert_eq!(got, want);
        // Activity: people with a credit at or after each time, and whose first is.
        let since = [1_200, 1_700];
        let got = totals.activity(true, &since);
        for asset in ["a0", "a1", "a2"] {
            let spans: Vec<&(i64, i64)> = times
                .iter()
                .filter(|((a, _), _)| a == asset)
                .map(|(_, t)| t)
                .collect();
            let want: Vec<(u64, u64)> = since
                .iter()
                .map(|s| {
                    (
                        spans.iter().filter(|t| t.1 >= *s).count() as u64,
                        spans.iter().filter(|t| t.0 >= *s).count() as u64,
                    )
                })
                .collect();
            assert_eq!(got[asset], want, "{asset}");
        }
        let mut overall: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for ((_, p), (first, last)) in &times {
            let t = overall.entry(p).or_insert((*first, *last));
            t.0 = t.0.min(*first);
            t.1 = t.1.max(*last);
        }
        let want: Vec<(u64, u64)> = since
            .iter()
            .map(|s| {
                (
                    overall.values().filter(|t| t.1 >= *s).count() as u64,
                    overall.values().filter(|t| t.0 >= *s).count() as u64,
                )
            })
            .collect();
        assert_eq!(totals.activity(false, &since)[""], want);
        // Key spans: every key's first and last credit, opted-out keys included.
        let mut spans: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for (_, _, key, _, _, at) in &rows {
            let t = spans.entry(key).or_insert((*at, *at));
            t.0 = t.0.min(*at);
            t.1 = t.1.max(*at);
        }
        let want: Vec<(String, i64, i64)> = spans
            .into_iter()
            .map(|(k, (first, last))| (k.to_string(), first, last))
            .collect();
        assert_eq!(totals.key_spans(), want.as_slice());
        assert!(want.iter().any(|(k, _, _)| k == "k9@x"));
        // Recent authorships: each recent authored commit's people, per asset.
        let mut want: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
        let mut commits: BTreeMap<(String, String), (i64, BTreeSet<String>)> = BTreeMap::new();
        for (sha, asset, key, _, is_authored, at) in &rows {
            if let (true, Some(p)) = (*is_authored, person(key)) {
                let e = commits
                    .entry((asset.clone(), sha.clone()))
                    .or_insert((*at, BTreeSet::new()));
                e.1.insert(p);
            }
        }
        for ((asset, _), (at, people)) in commits {
            if at >= recent_since {
                want.entry(asset)
                    .or_default()
                    .push(people.into_iter().collect());
            }
        }
        let mut got: BTreeMap<String, Vec<Vec<String>>> = totals
            .recent_authorships()
            .into_iter()
            .map(|(a, commits)| {
                let mut commits: Vec<Vec<String>> = commits
                    .into_iter()
                    .map(|c| {
                        let mut people: Vec<String> = c.into_iter().map(String::from).collect();
                        people.sort();
                        people
                    })
                    .collect();
                commits.sort();
                (a.to_string(), commits)
            })
            .collect();
        for v in want.values_mut() {
            v.sort();
        }
        got.retain(|_, v| !v.is_empty());
        assert_eq!(got, want);
    }
}
