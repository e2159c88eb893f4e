//! Every per-person credit figure, from two passes over the valid credits
//! ([`Reader::for_each_valid_credit`]) in one read transaction: contributions per asset,
//! label and kind, credited commits, the `top_n` ranking, and what the time-dependent figures
//! need (active and new contributors, the absence factor's recent (co-)authors).
//!
//! Distinct commits are counted as the store's definition says, by commit: the credits of one
//! commit arrive together, so each (asset, person, kind) and each (asset, person) counts once
//! per commit however many of the person's keys were credited.
//!
//! What is held does not grow with the length of history. The first pass keeps, per (asset,
//! person), the contributions (distinct commits summed over kinds) that rank people for
//! `top_n` and the times of the person's first and last credit there; per identity key, its
//! first and last credit; and the authorships of the last 90 days. The second pass, with the
//! ranking known, counts straight into the exported label sets: per (asset, label, kind)
//! contributions and per (asset, label) distinct credited commits, `label` being a kept person
//! or everyone else. Nothing is held per commit or per (asset, person, kind).
//!
//! The totals are kept between derivations: the time-dependent figures (windows that end at
//! `now`) are computed from them at any later `now`, so time passing never reads the credits
//! again; only new facts do.

use std::collections::{BTreeMap, HashMap};

use crate::people::Directory;
use crate::store::{CreditRef, Reader, StoreError};

/// Every map here uses foldhash (already in the build through hashbrown): the passes hash an
/// identity key, an asset and a kind per credit, a million times on a long history, and
/// SipHash doubled the cost of that. foldhash's seeds are random per process, which is
/// resistance enough for keys that come from the organisation's own repositories.
type IdMap<K, V> = foldhash::HashMap<K, V>;
type IdSet<T> = foldhash::HashSet<T>;

/// The person id standing for everyone not kept on an asset.
const OTHERS: u32 = u32::MAX;

/// Interned strings: an id per distinct value.
#[derive(Default)]
struct Names {
    ids: IdMap<String, u32>,
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

/// What the first pass keeps per (asset, person).
#[derive(Clone, Copy)]
struct Pair {
    /// Distinct commits summed over kinds: what `top_n` ranks by.
    contributions: u32,
    /// Commit times of the first and last credit (active within a window when `last` is in it;
    /// new when `first` is).
    first: i64,
    last: i64,
}

/// One authored commit: its time and its (co-)author people.
type Authorship = (i64, Box<[u32]>);

/// One commit's credits as the passes collect them: (asset, person, kind, authored).
type Group = Vec<(u32, u32, u32, bool)>;

/// The per-person credit figures of one derivation.
pub struct CreditTotals {
    assets: Names,
    people: Names,
    kinds: Names,
    pairs: IdMap<(u32, u32), Pair>,
    /// Authored commits at or after `recent_since`: per asset, each commit's time and people.
    recent: IdMap<u32, Vec<Authorship>>,
    /// The earliest time [`CreditTotals::recent_authorships`] can answer from.
    recent_since: i64,
    /// Per identity key (before joining; opted-out keys too): the first and last commit time
    /// of its credits, sorted by key. What a sharded replica tells its peers.
    key_spans: Vec<crate::shard::KeySpan>,
    /// (asset, person) ids of the `top_n` people per asset.
    kept: IdSet<(u32, u32)>,
    /// (asset, kept person or [`OTHERS`], kind) → contributions.
    by_label: IdMap<(u32, u32, u32), u64>,
    /// (asset, kept person or [`OTHERS`]) → distinct (co-)authored commits.
    credited_by_label: IdMap<(u32, u32), u64>,
    /// asset → distinct (co-)authored commits.
    credited: IdMap<u32, u64>,
}

/// `group` sorted, without repeated (asset, person, kind) (several keys of one person).
fn distinct(group: &mut Group) {
    group.sort_unstable();
    // A credit is authored when any of the person's keys' credits is.
    group.dedup_by(|next, kept| {
        let same = (next.0, next.1, next.2) == (kept.0, kept.1, kept.2);
        kept.3 |= same && next.3;
        same
    });
}

impl CreditTotals {
    /// Reads every valid credit twice; `people` joins identity keys into people (opted-out
    /// people's credits are dropped), `recent_since` bounds the authorships kept for
    /// [`CreditTotals::recent_authorships`], and `top_n` people per asset keep their label.
    pub fn read(
        reader: &Reader<'_>,
        people: &Directory,
        recent_since: i64,
        top_n: usize,
    ) -> Result<CreditTotals, StoreError> {
        Self::from_credits(
            |f| reader.for_each_valid_credit(f),
            people,
            recent_since,
            top_n,
        )
    }

    /// As [`CreditTotals::read`], from `credits`, which hands every credit to the function it
    /// is given as [`Reader::for_each_valid_credit`] does, the same way each time it is called.
    fn from_credits(
        mut credits: impl FnMut(&mut dyn FnMut(bool, CreditRef<'_>)) -> Result<(), StoreError>,
        people: &Directory,
        recent_since: i64,
        top_n: usize,
    ) -> Result<CreditTotals, StoreError> {
        let mut totals = CreditTotals {
            assets: Names::default(),
            people: Names::default(),
            kinds: Names::default(),
            pairs: IdMap::default(),
            recent: IdMap::default(),
            recent_since,
            key_spans: Vec::new(),
            kept: IdSet::default(),
            by_label: IdMap::default(),
            credited_by_label: IdMap::default(),
            credited: IdMap::default(),
        };
        // Identity key → person id (None: opted out), looked up once per key, and the key's
        // first and last credit.
        let mut who: IdMap<String, (Option<u32>, i64, i64)> = IdMap::default();
        let mut group: Group = Vec::new();
        // The current commit's time: every credit of one commit has it.
        let mut at = 0;
        credits(&mut |first, c| {
            if first {
                totals.first_close(&mut group, at, recent_since);
            }
            at = c.committed_at;
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
                group.push((asset, person, kind, c.authored));
            }
        })?;
        totals.first_close(&mut group, at, recent_since);
        totals.kept = totals.ranking(top_n);

        credits(&mut |first, c| {
            if first {
                totals.second_close(&mut group);
            }
            let Some(&(Some(person), _, _)) = who.get(c.person) else {
                return;
            };
            // Every asset and kind was named in the first pass.
            if let (Some(&asset), Some(&kind)) =
                (totals.assets.ids.get(c.asset), totals.kinds.ids.get(c.kind))
            {
                group.push((asset, person, kind, c.authored));
            }
        })?;
        totals.second_close(&mut group);

        totals.key_spans = who
            .into_iter()
            .map(|(key, (_, first, last))| (key, first, last))
            .collect();
        totals.key_spans.sort_unstable();
        Ok(totals)
    }

    /// First pass: counts one commit (committed at `at`) into the per-(asset, person) figures
    /// and empties `group`.
    fn first_close(&mut self, group: &mut Group, at: i64, recent_since: i64) {
        if group.is_empty() {
            return;
        }
        distinct(group);
        for &(asset, person, _, _) in group.iter() {
            let pair = self.pairs.entry((asset, person)).or_insert(Pair {
                contributions: 0,
                first: at,
                last: at,
            });
            pair.contributions += 1;
            pair.first = pair.first.min(at);
            pair.last = pair.last.max(at);
        }
        if at >= recent_since {
            // Per asset, the commit's distinct (co-)author people.
            group.retain(|c| c.3);
            group.dedup_by_key(|c| (c.0, c.1));
            for chunk in group.chunk_by(|a, b| a.0 == b.0) {
                let people: Box<[u32]> = chunk.iter().map(|c| c.1).collect();
                self.recent
                    .entry(chunk[0].0)
                    .or_default()
                    .push((at, people));
            }
        }
        group.clear();
    }

    /// Second pass: counts one commit into the exported label sets and empties `group`.
    fn second_close(&mut self, group: &mut Group) {
        if group.is_empty() {
            return;
        }
        distinct(group);
        for c in group.iter_mut() {
            if !self.kept.contains(&(c.0, c.1)) {
                c.1 = OTHERS;
            }
            *self.by_label.entry((c.0, c.1, c.2)).or_default() += 1;
        }
        // Authored credits: each of the commit's labels once per asset, and the asset once.
        group.retain(|c| c.3);
        group.sort_unstable();
        group.dedup_by_key(|c| (c.0, c.1));
        for &(asset, label, _, _) in group.iter() {
            *self.credited_by_label.entry((asset, label)).or_default() += 1;
        }
        group.dedup_by_key(|c| c.0);
        for &(asset, _, _, _) in group.iter() {
            *self.credited.entry(asset).or_default() += 1;
        }
        group.clear();
    }

    /// Per asset, the `top_n` people by contributions (ties by id).
    fn ranking(&self, top_n: usize) -> IdSet<(u32, u32)> {
        let mut per_asset: IdMap<u32, Vec<(u32, &str, u32)>> = IdMap::default();
        for (&(asset, person), pair) in &self.pairs {
            per_asset.entry(asset).or_default().push((
                pair.contributions,
                self.people.name(person),
                person,
            ));
        }
        let mut kept = IdSet::default();
        for (asset, mut ranked) in per_asset {
            ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            kept.extend(ranked.iter().take(top_n).map(|r| (asset, r.2)));
        }
        kept
    }

    /// The earliest commit time the recent authorships reach back to.
    pub fn recent_since(&self) -> i64 {
        self.recent_since
    }

    /// Per identity key, the first and last commit time of its credits, sorted by key.
    pub fn key_spans(&self) -> &[crate::shard::KeySpan] {
        &self.key_spans
    }

    /// Per asset, the `top_n` people by contributions (distinct commits summed over kinds;
    /// ties by id): (asset, person id), sorted.
    pub fn top_people(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .kept
            .iter()
            .map(|&(asset, person)| {
                (
                    self.assets.name(asset).to_string(),
                    self.people.name(person).to_string(),
                )
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// The label of `person` (an id or [`OTHERS`]): its id, or `other`; '' for everyone when
    /// not `per_person`.
    fn label<'a>(&'a self, per_person: bool, other: &'a str, person: u32) -> &'a str {
        if !per_person {
            ""
        } else if person == OTHERS {
            other
        } else {
            self.people.name(person)
        }
    }

    /// Contributions per asset, label and kind: the `top_n` people per asset by id, everyone
    /// else as `other` (summed over them); with `per_person` false, per asset and kind under
    /// the label ''.
    pub fn contributions(
        &self,
        per_person: bool,
        other: &str,
    ) -> Vec<(String, String, String, u64)> {
        let mut out: BTreeMap<(&str, &str, &str), u64> = BTreeMap::new();
        for (&(asset, person, kind), n) in &self.by_label {
            let label = self.label(per_person, other, person);
            *out.entry((self.assets.name(asset), label, self.kinds.name(kind)))
                .or_default() += n;
        }
        out.into_iter()
            .map(|((a, l, k), n)| (a.to_string(), l.to_string(), k.to_string(), n))
            .collect()
    }

    /// Distinct (co-)authored commits per asset and label (see
    /// [`CreditTotals::contributions`]): a commit counts once for each label among its
    /// (co-)author people; with `per_person` false, the asset's distinct commits under ''.
    pub fn credited_commits(&self, per_person: bool, other: &str) -> Vec<(String, String, u64)> {
        let mut out: Vec<(String, String, u64)> = if per_person {
            self.credited_by_label
                .iter()
                .map(|(&(asset, person), &n)| {
                    let label = self.label(per_person, other, person);
                    (self.assets.name(asset).to_string(), label.to_string(), n)
                })
                .collect()
        } else {
            self.credited
                .iter()
                .map(|(&asset, &n)| (self.assets.name(asset).to_string(), String::new(), n))
                .collect()
        };
        out.sort_unstable();
        out
    }

    /// Per asset, for each window starting at `since[i]` (and ending at the derivation's
    /// `now`): the distinct people with a credit at or after its start, and those whose first
    /// credit is.
    pub fn activity(&self, since: &[i64]) -> BTreeMap<String, Vec<(u64, u64)>> {
        let mut out: IdMap<u32, Vec<(u64, u64)>> = IdMap::default();
        for (&(asset, _), pair) in &self.pairs {
            let counts = out
                .entry(asset)
                .or_insert_with(|| vec![(0, 0); since.len()]);
            for (c, start) in counts.iter_mut().zip(since) {
                c.0 += (pair.last >= *start) as u64;
                c.1 += (pair.first >= *start) as u64;
            }
        }
        out.into_iter()
            .map(|(asset, counts)| (self.assets.name(asset).to_string(), counts))
            .collect()
    }

    /// Per asset, the (co-)author people (ids) of each authored commit at or after `since`,
    /// which must not be before the `recent_since` the totals were read with (older commits
    /// were not kept).
    pub fn recent_authorships(&self, since: i64) -> HashMap<&str, Vec<Vec<&str>>> {
        debug_assert!(
            since >= self.recent_since,
            "older authorships were not kept"
        );
        self.recent
            .iter()
            .map(|(asset, commits)| {
                let commits = commits
                    .iter()
                    .filter(|(at, _)| *at >= since)
                    .map(|(_, people)| people.iter().map(|p| self.people.name(*p)).collect())
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
        let since = [1_200, 1_700];
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
            2,
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
        let top = totals.top_people();
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
            .contributions(true, "other")
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
            .credited_commits(true, "other")
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
            .credited_commits(false, "other")
            .into_iter()
            .map(|(a, _, n)| (a, n))
            .collect();
        let want: Vec<(String, u64)> = per_asset
            .iter()
            .map(|(a, s)| (a.clone(), s.len() as u64))
            .collect();
        assert_eq!(got, want);
        // Activity: people with a credit at or after each time, and whose first is.
        let got = totals.activity(&since);
        // Per window start: the spans whose last credit is at or after it, and whose first is.
        let counts = |spans: &[(i64, i64)]| -> Vec<(u64, u64)> {
            since
                .iter()
                .map(|s| {
                    (
                        spans.iter().filter(|t| t.1 >= *s).count() as u64,
                        spans.iter().filter(|t| t.0 >= *s).count() as u64,
                    )
                })
                .collect()
        };
        for asset in ["a0", "a1", "a2"] {
            let spans: Vec<(i64, i64)> = times
                .iter()
                .filter(|((a, _), _)| a == asset)
                .map(|(_, t)| *t)
                .collect();
            assert_eq!(got[asset], counts(&spans), "{asset}");
        }
        let mut overall: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for ((_, p), (first, last)) in &times {
            let t = overall.entry(p).or_insert((*first, *last));
            t.0 = t.0.min(*first);
            t.1 = t.1.max(*last);
        }
        let want = counts(&overall.into_values().collect::<Vec<_>>());
        // Organisation-wide, from the key spans as a sharded replica counts it.
        assert_eq!(
            crate::shard::organisation_activity(&directory, totals.key_spans(), &since),
            want
        );
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
            .recent_authorships(recent_since)
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
