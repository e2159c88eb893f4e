//! Every per-person credit figure, kept between derivations and brought up to date from what
//! changed: contributions per asset, label and kind, credited commits, the `top_n` ranking,
//! and what the time-dependent figures need (active and new contributors, the absence
//! factor's recent (co-)authors, each identity key's first and last credit).
//!
//! Distinct commits are counted as the store's definition says, by commit: the credits of one
//! commit arrive together, so each (asset, person, kind) and each (asset, person) counts once
//! per commit however many of the person's keys were credited.
//!
//! **Cost follows change.** The totals hold, per asset and person, the contributions, the
//! authored commits (and those authored alone), the first and last credit, and the
//! contributions per kind; per asset, the totals per kind, its credited commits, and the
//! people of each commit that several people authored. Every exported figure is computed
//! from these for any `top_n` ranking, so [`CreditTotals::update`] only adds the commits
//! stored since the last read (each repository's mark) and re-ranks the assets they touched.
//! It declines (and the caller reads everything again) when history was rewritten (a
//! repository's generation moved: a reset, dropped commits, a change of standing reverts)
//! or when identities were joined anew (a known key now belongs to another person). The
//! forges' credits are few and replaced as items change: their part is read again whole.
//!
//! The totals are kept between derivations: the time-dependent figures (windows that end at
//! `now`) are computed from them at any later `now`, so time passing never reads the credits.

use std::collections::{BTreeMap, HashMap};

use crate::people::Directory;
use crate::store::{CreditRef, Reader, StoreError};

/// Every map here uses foldhash (already in the build through hashbrown): the passes hash an
/// identity key, an asset and a kind per credit, a million times on a long history, and
/// SipHash doubled the cost of that. foldhash's seeds are random per process, which is
/// resistance enough for keys that come from the organisation's own repositories.
type IdMap<K, V> = foldhash::HashMap<K, V>;
type IdSet<T> = foldhash::HashSet<T>;

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

/// One person's figures on one asset.
#[derive(Clone, Copy, Default)]
struct Pair {
    /// Distinct commits summed over kinds: what `top_n` ranks by.
    contributions: u32,
    /// Distinct commits the person (co-)authored.
    authored: u32,
    /// Of those, the ones nobody else authored.
    solo: u32,
    /// Commit times of the first and last credit (active within a window when `last` is in
    /// it; new when `first` is).
    first: i64,
    last: i64,
}

/// One asset's figures in one part (git's or the forges').
#[derive(Default)]
struct AssetTotals {
    people: IdMap<u32, Pair>,
    /// (person, kind) → contributions.
    kinds: IdMap<(u32, u32), u32>,
    /// kind → contributions of everyone.
    kind_totals: IdMap<u32, u64>,
    /// The people of each commit that two or more people authored.
    shared: Vec<Box<[u32]>>,
    /// Distinct authored commits.
    credited: u64,
}

/// One authored commit: its time and its (co-)author people.
type Authorship = (i64, Box<[u32]>);

/// What one source of credits (git, or the forges) adds up to.
#[derive(Default)]
struct Part {
    assets: IdMap<u32, AssetTotals>,
    /// Authored commits at or after `recent_since`: per asset, each commit's time and people.
    recent: IdMap<u32, Vec<Authorship>>,
    /// Per identity key (opted-out keys too): the first and last commit time of its credits.
    spans: IdMap<u32, (i64, i64)>,
}

/// One commit's credits as they are collected: (asset, person, kind, authored).
type Group = Vec<(u32, u32, u32, bool)>;

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

impl Part {
    /// Counts one commit (committed at `at`) and empties `group`.
    fn add(&mut self, group: &mut Group, at: i64, recent_since: i64, touched: &mut IdSet<u32>) {
        if group.is_empty() {
            return;
        }
        distinct(group);
        for chunk in group.chunk_by(|a, b| a.0 == b.0) {
            let asset = chunk[0].0;
            touched.insert(asset);
            let totals = self.assets.entry(asset).or_default();
            for &(_, person, kind, _) in chunk {
                *totals.kinds.entry((person, kind)).or_default() += 1;
                *totals.kind_totals.entry(kind).or_default() += 1;
                let pair = totals.people.entry(person).or_insert(Pair {
                    first: at,
                    last: at,
                    ..Pair::default()
                });
                pair.contributions += 1;
                pair.first = pair.first.min(at);
                pair.last = pair.last.max(at);
            }
            // The commit's distinct (co-)author people on this asset.
            let mut authors: Vec<u32> = chunk.iter().filter(|c| c.3).map(|c| c.1).collect();
            authors.dedup();
            if authors.is_empty() {
                continue;
            }
            totals.credited += 1;
            for person in &authors {
                let pair = totals.people.get_mut(person).expect("counted above");
                pair.authored += 1;
                if authors.len() == 1 {
                    pair.solo += 1;
                }
            }
            if authors.len() > 1 {
                totals.shared.push(authors.clone().into_boxed_slice());
            }
            if at >= recent_since {
                self.recent
                    .entry(asset)
                    .or_default()
                    .push((at, authors.into_boxed_slice()));
            }
        }
        group.clear();
    }
}

/// The per-person credit figures, brought up to date by [`CreditTotals::update`].
pub struct CreditTotals {
    assets: Names,
    people: Names,
    kinds: Names,
    keys: Names,
    git: Part,
    forge: Part,
    /// Each identity key's person (`None`: opted out) as the totals were counted with.
    who: IdMap<u32, Option<u32>>,
    /// Per git repository, its mark (mining order, generation) as of the totals.
    marks: BTreeMap<String, (i64, i64)>,
    /// The earliest time the recent authorships reach back to.
    recent_since: i64,
    top_n: usize,
    /// (asset, person) of the `top_n` people per asset.
    kept: IdMap<u32, Vec<u32>>,
}

impl CreditTotals {
    /// Reads every valid credit once; `people` joins identity keys into people (opted-out
    /// people's credits are dropped), `recent_since` bounds the authorships kept for
    /// [`CreditTotals::recent_authorships`], and `top_n` people per asset keep their label.
    pub fn read(
        reader: &Reader<'_>,
        people: &Directory,
        recent_since: i64,
        top_n: usize,
    ) -> Result<CreditTotals, StoreError> {
        let marks = reader.git_marks()?;
        let mut totals = CreditTotals::empty(recent_since, top_n);
        totals.marks = marks;
        let mut touched = IdSet::default();
        totals.add_git(
            |f| reader.for_each_git_credit(None, f),
            people,
            &mut touched,
        )?;
        totals.read_forge(|f| reader.for_each_forge_credit(f), people, &mut touched)?;
        totals.rank(&touched);
        Ok(totals)
    }

    fn empty(recent_since: i64, top_n: usize) -> CreditTotals {
        CreditTotals {
            assets: Names::default(),
            people: Names::default(),
            kinds: Names::default(),
            keys: Names::default(),
            git: Part::default(),
            forge: Part::default(),
            who: IdMap::default(),
            marks: BTreeMap::new(),
            recent_since,
            top_n,
            kept: IdMap::default(),
        }
    }

    /// Brings the totals up to date with the store, adding only the git commits stored since
    /// they were read and reading the forges' part again when `forge_changed`; authorships
    /// older than `recent_since` are let go. Returns the assets whose figures changed, or
    /// `None`, changing nothing, when that cannot be exact (history rewritten, identities
    /// joined anew): the caller reads everything.
    pub fn update(
        &mut self,
        reader: &Reader<'_>,
        people: &Directory,
        forge_changed: bool,
        recent_since: i64,
    ) -> Result<Option<Vec<String>>, StoreError> {
        // Every key counted so far must still belong to the same person.
        for (&key, &was) in &self.who {
            let now = match people.person(self.keys.name(key)) {
                Some(p) if p.opted_out => None,
                Some(p) => self.people.ids.get(&p.id).copied().or(Some(u32::MAX)),
                None => self
                    .people
                    .ids
                    .get(self.keys.name(key))
                    .copied()
                    .or(Some(u32::MAX)),
            };
            if now != was {
                return Ok(None);
            }
        }
        let marks = reader.git_marks()?;
        let mut after = BTreeMap::new();
        for (repo, &(seq, generation)) in &self.marks {
            match marks.get(repo) {
                Some(&(now_seq, now_generation))
                    if now_generation == generation && now_seq >= seq =>
                {
                    after.insert(repo.clone(), seq);
                }
                _ => return Ok(None),
            }
        }
        if recent_since > self.recent_since {
            self.recent_since = recent_since;
            for commits in self.git.recent.values_mut() {
                commits.retain(|(at, _)| *at >= recent_since);
            }
        }
        let mut touched = IdSet::default();
        self.add_git(
            |f| reader.for_each_git_credit(Some(&after), f),
            people,
            &mut touched,
        )?;
        if forge_changed {
            touched.extend(self.forge.assets.keys().copied());
            self.forge = Part::default();
            self.read_forge(|f| reader.for_each_forge_credit(f), people, &mut touched)?;
        }
        self.marks = marks;
        self.rank(&touched);
        Ok(Some(
            touched
                .into_iter()
                .map(|a| self.assets.name(a).to_string())
                .collect(),
        ))
    }

    /// The person id of identity key `key` (`None`: opted out), recorded for later updates.
    fn person_of(&mut self, people: &Directory, key: &str) -> (u32, Option<u32>) {
        let key_id = self.keys.id(key);
        if let Some(&p) = self.who.get(&key_id) {
            return (key_id, p);
        }
        let p = match people.person(key) {
            Some(p) if p.opted_out => None,
            Some(p) => Some(self.people.id(&p.id)),
            None => Some(self.people.id(key)),
        };
        self.who.insert(key_id, p);
        (key_id, p)
    }

    /// Adds what `credits` hands over (grouped by commit) to the git part.
    fn add_git(
        &mut self,
        credits: impl FnOnce(&mut dyn FnMut(bool, CreditRef<'_>)) -> Result<(), StoreError>,
        people: &Directory,
        touched: &mut IdSet<u32>,
    ) -> Result<(), StoreError> {
        let mut git = std::mem::take(&mut self.git);
        let result = self.count(&mut git, credits, people, touched);
        self.git = git;
        result
    }

    /// Reads the forges' part (into an empty one).
    fn read_forge(
        &mut self,
        credits: impl FnOnce(&mut dyn FnMut(bool, CreditRef<'_>)) -> Result<(), StoreError>,
        people: &Directory,
        touched: &mut IdSet<u32>,
    ) -> Result<(), StoreError> {
        let mut forge = std::mem::take(&mut self.forge);
        let result = self.count(&mut forge, credits, people, touched);
        self.forge = forge;
        result
    }

    fn count(
        &mut self,
        part: &mut Part,
        credits: impl FnOnce(&mut dyn FnMut(bool, CreditRef<'_>)) -> Result<(), StoreError>,
        people: &Directory,
        touched: &mut IdSet<u32>,
    ) -> Result<(), StoreError> {
        let recent_since = self.recent_since;
        let mut group: Group = Vec::new();
        // The current commit's time: every credit of one commit has it.
        let mut at = 0;
        credits(&mut |first, c| {
            if first {
                part.add(&mut group, at, recent_since, touched);
            }
            at = c.committed_at;
            if c.person.is_empty() {
                return;
            }
            let (key, person) = self.person_of(people, c.person);
            let span = part.spans.entry(key).or_insert((at, at));
            span.0 = span.0.min(at);
            span.1 = span.1.max(at);
            if let Some(person) = person {
                let asset = self.assets.id(c.asset);
                let kind = self.kinds.id(c.kind);
                group.push((asset, person, kind, c.authored));
            }
        })?;
        part.add(&mut group, at, recent_since, touched);
        Ok(())
    }

    /// Calls `f` with every person with a credit on `asset` and both parts' figures, summed:
    /// git's people (with the forges' added where they have some), then the forges' others.
    fn for_each_pair(&self, asset: u32, mut f: impl FnMut(u32, Pair)) {
        let git = self.git.assets.get(&asset);
        let forge = self.forge.assets.get(&asset);
        if let Some(g) = git {
            for (&person, &pair) in &g.people {
                match forge.and_then(|a| a.people.get(&person)) {
                    Some(p) => f(
                        person,
                        Pair {
                            contributions: pair.contributions + p.contributions,
                            authored: pair.authored + p.authored,
                            solo: pair.solo + p.solo,
                            first: pair.first.min(p.first),
                            last: pair.last.max(p.last),
                        },
                    ),
                    None => f(person, pair),
                }
            }
        }
        if let Some(a) = forge {
            for (&person, &pair) in &a.people {
                if !git.is_some_and(|g| g.people.contains_key(&person)) {
                    f(person, pair);
                }
            }
        }
    }

    /// Every asset with a credit in either part.
    fn all_assets(&self) -> IdSet<u32> {
        self.git
            .assets
            .keys()
            .chain(self.forge.assets.keys())
            .copied()
            .collect()
    }

    /// Ranks the `touched` assets again: the `top_n` people by contributions (ties by id).
    fn rank(&mut self, touched: &IdSet<u32>) {
        for &asset in touched {
            let mut ranked: Vec<(u32, &str, u32)> = Vec::new();
            self.for_each_pair(asset, |p, pair| {
                ranked.push((pair.contributions, self.people.name(p), p))
            });
            ranked.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let mut kept: Vec<u32> = ranked.iter().take(self.top_n).map(|r| r.2).collect();
            kept.sort_unstable();
            if kept.is_empty() {
                self.kept.remove(&asset);
            } else {
                self.kept.insert(asset, kept);
            }
        }
    }

    fn is_kept(&self, asset: u32, person: u32) -> bool {
        self.kept
            .get(&asset)
            .is_some_and(|k| k.binary_search(&person).is_ok())
    }

    /// Per identity key, the first and last commit time of its credits, sorted by key.
    pub fn key_spans(&self) -> Vec<crate::shard::KeySpan> {
        let mut spans: IdMap<u32, (i64, i64)> = self.git.spans.clone();
        for (&key, &(first, last)) in &self.forge.spans {
            let s = spans.entry(key).or_insert((first, last));
            s.0 = s.0.min(first);
            s.1 = s.1.max(last);
        }
        let mut out: Vec<crate::shard::KeySpan> = spans
            .into_iter()
            .map(|(key, (first, last))| (self.keys.name(key).to_string(), first, last))
            .collect();
        out.sort_unstable();
        out
    }

    /// The earliest commit time the recent authorships reach back to.
    pub fn recent_since(&self) -> i64 {
        self.recent_since
    }

    /// Per asset, the `top_n` people by contributions (distinct commits summed over kinds;
    /// ties by id): (asset, person id), sorted.
    #[cfg(test)]
    pub fn top_people(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .kept
            .iter()
            .flat_map(|(&asset, people)| {
                people.iter().map(move |&p| {
                    (
                        self.assets.name(asset).to_string(),
                        self.people.name(p).to_string(),
                    )
                })
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// The label of `person` (an id, or `None` for everyone not kept): its id, or `other`;
    /// '' for everyone when not `per_person`.
    fn label<'a>(&'a self, per_person: bool, other: &'a str, person: Option<u32>) -> &'a str {
        match (per_person, person) {
            (false, _) => "",
            (true, None) => other,
            (true, Some(p)) => self.people.name(p),
        }
    }

    /// Every asset with a credit, by name.
    pub fn asset_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .all_assets()
            .into_iter()
            .map(|a| self.assets.name(a))
            .collect();
        out.sort_unstable();
        out
    }

    /// The kept people (ids) of `asset`.
    pub fn kept_of(&self, asset: &str) -> Vec<&str> {
        self.assets
            .ids
            .get(asset)
            .and_then(|a| self.kept.get(a))
            .map(|k| k.iter().map(|p| self.people.name(*p)).collect())
            .unwrap_or_default()
    }

    /// Contributions on `asset` per label and kind, sorted: the `top_n` people by id, everyone
    /// else as `other` (summed over them); with `per_person` false, per kind under ''.
    pub fn contributions_of(
        &self,
        asset: &str,
        per_person: bool,
        other: &str,
    ) -> Vec<(String, String, u64)> {
        let Some(&asset) = self.assets.ids.get(asset) else {
            return Vec::new();
        };
        let mut out: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        // Everyone's per kind, then the kept people's own taken out of the rest.
        let mut rest: IdMap<u32, u64> = IdMap::default();
        for part in [&self.git, &self.forge] {
            let Some(a) = part.assets.get(&asset) else {
                continue;
            };
            for (&kind, &n) in &a.kind_totals {
                *rest.entry(kind).or_default() += n;
            }
            if !per_person {
                continue;
            }
            for &person in self.kept.get(&asset).into_iter().flatten() {
                for &kind in a.kind_totals.keys() {
                    if let Some(&n) = a.kinds.get(&(person, kind)) {
                        *out.entry((
                            self.label(true, other, Some(person)),
                            self.kinds.name(kind),
                        ))
                        .or_default() += n as u64;
                        *rest.entry(kind).or_default() -= n as u64;
                    }
                }
            }
        }
        for (kind, n) in rest {
            if n > 0 {
                *out.entry((self.label(per_person, other, None), self.kinds.name(kind)))
                    .or_default() += n;
            }
        }
        out.into_iter()
            .map(|((l, k), n)| (l.to_string(), k.to_string(), n))
            .collect()
    }

    /// Contributions per asset, label and kind (see [`CreditTotals::contributions_of`]).
    pub fn contributions(
        &self,
        per_person: bool,
        other: &str,
    ) -> Vec<(String, String, String, u64)> {
        self.asset_names()
            .into_iter()
            .flat_map(|asset| {
                self.contributions_of(asset, per_person, other)
                    .into_iter()
                    .map(move |(l, k, n)| (asset.to_string(), l, k, n))
            })
            .collect()
    }

    /// Distinct (co-)authored commits on `asset` per label, sorted: a commit counts once for
    /// each label among its (co-)author people; with `per_person` false, the asset's distinct
    /// commits under ''. Only git's commits are authored.
    pub fn credited_commits_of(
        &self,
        asset: &str,
        per_person: bool,
        other: &str,
    ) -> Vec<(String, u64)> {
        let Some(a) = self
            .assets
            .ids
            .get(asset)
            .and_then(|id| self.git.assets.get(id).map(|a| (*id, a)))
        else {
            return Vec::new();
        };
        let (asset, a) = a;
        if a.credited == 0 {
            return Vec::new();
        }
        if !per_person {
            return vec![(String::new(), a.credited)];
        }
        let mut out = Vec::new();
        // Commits every author of which is kept: the kept people's solo ones, and the shared
        // ones with no author below `top_n`.
        let mut all_kept = 0u64;
        for &person in self.kept.get(&asset).into_iter().flatten() {
            if let Some(p) = a.people.get(&person) {
                if p.authored > 0 {
                    out.push((self.people.name(person).to_string(), p.authored as u64));
                }
                all_kept += p.solo as u64;
            }
        }
        all_kept += a
            .shared
            .iter()
            .filter(|people| people.iter().all(|p| self.is_kept(asset, *p)))
            .count() as u64;
        if a.credited > all_kept {
            out.push((other.to_string(), a.credited - all_kept));
        }
        out.sort_unstable();
        out
    }

    /// Distinct (co-)authored commits per asset and label (see
    /// [`CreditTotals::credited_commits_of`]).
    pub fn credited_commits(&self, per_person: bool, other: &str) -> Vec<(String, String, u64)> {
        self.asset_names()
            .into_iter()
            .flat_map(|asset| {
                self.credited_commits_of(asset, per_person, other)
                    .into_iter()
                    .map(move |(l, n)| (asset.to_string(), l, n))
            })
            .collect()
    }

    /// For each window starting at `since[i]` (and ending at the derivation's `now`): the
    /// distinct people with a credit on `asset` at or after its start, and those whose first
    /// credit is.
    pub fn activity_of(&self, asset: &str, since: &[i64]) -> Vec<(u64, u64)> {
        let mut counts = vec![(0u64, 0u64); since.len()];
        let Some(&asset) = self.assets.ids.get(asset) else {
            return counts;
        };
        self.for_each_pair(asset, |_, pair| {
            for (c, start) in counts.iter_mut().zip(since) {
                c.0 += (pair.last >= *start) as u64;
                c.1 += (pair.first >= *start) as u64;
            }
        });
        counts
    }

    /// Per asset, [`CreditTotals::activity_of`].
    pub fn activity(&self, since: &[i64]) -> BTreeMap<String, Vec<(u64, u64)>> {
        self.asset_names()
            .into_iter()
            .map(|a| (a.to_string(), self.activity_of(a, since)))
            .collect()
    }

    /// The (co-)author people (ids) of each authored commit on `asset` at or after `since`,
    /// which must not be before the `recent_since` the totals hold.
    pub fn recent_authorships_of(&self, asset: &str, since: i64) -> Vec<Vec<&str>> {
        debug_assert!(
            since >= self.recent_since,
            "older authorships were not kept"
        );
        self.assets
            .ids
            .get(asset)
            .and_then(|a| self.git.recent.get(a))
            .map(|commits| {
                commits
                    .iter()
                    .filter(|(at, _)| *at >= since)
                    .map(|(_, people)| people.iter().map(|p| self.people.name(*p)).collect())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Per asset, the (co-)author people (ids) of each authored commit at or after `since`,
    /// which must not be before the `recent_since` the totals hold (older commits were not
    /// kept).
    pub fn recent_authorships(&self, since: i64) -> HashMap<&str, Vec<Vec<&str>>> {
        debug_assert!(
            since >= self.recent_since,
            "older authorships were not kept"
        );
        self.git
            .recent
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

    /// As [`CreditTotals::read`], from `credits` alone (as git's), for tests.
    #[cfg(test)]
    fn from_credits(
        credits: impl FnOnce(&mut dyn FnMut(bool, CreditRef<'_>)) -> Result<(), StoreError>,
        people: &Directory,
        recent_since: i64,
        top_n: usize,
    ) -> Result<CreditTotals, StoreError> {
        let mut totals = CreditTotals::empty(recent_since, top_n);
        let mut touched = IdSet::default();
        totals.add_git(credits, people, &mut touched)?;
        totals.rank(&touched);
        Ok(totals)
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
            crate::shard::organisation_activity(&directory, &totals.key_spans(), &since),
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
        assert_eq!(totals.key_spans(), want);
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
