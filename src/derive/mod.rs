//! Derive: stored facts → metric families. Pure reads of the store plus the catalog; every
//! definition here is also the metric's HELP text and the reference in docs/metrics.md.
//!
//! One module per metric group, listed once in [`families_from`]:
//! - [`contributions`]: credits per person and kind, credited commits, commit outcomes;
//! - [`activity`]: active and new contributors, the contributor absence factor;
//! - [`ownership`]: catalog metadata, owners, stewards, files and last update per asset;
//! - [`ci`]: build stability from every forge's CI facts (ratios, baselines, targets, streaks,
//!   flaky runs, recovery), for forge sources only;
//! - [`coverage`]: coverage per asset from CI pipelines and coverage reports;
//! - [`probes`]: serving health from probes (latency, results, value age);
//! - [`registry`]: model governance checks, versions, feature counts, freshness, dependencies;
//! - [`repro`]: reproducibility checks, whichever source made them;
//! - [`responses`]: time to first response on issues and pull requests, against objectives.
//!
//! Shared helpers: [`windowed_ratio`] and [`daily_baseline`].
//!
//! Every per-person figure is computed over unified people ([`crate::people`]): the store maps
//! each identity key to its person before counting, so a person with three emails is one person
//! in every label, rank, window and ratio.

mod activity;
pub mod ci;
mod contributions;
pub mod coverage;
pub mod credits;
mod ownership;
pub mod page;
pub mod probes;
pub mod registry;
pub mod repro;
pub mod responses;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::config::{Baseline, ContributorLabel, Recognition};
use crate::exposition::Family;
use crate::facts::FactType;
use crate::people::{self, Directory};
use crate::shard::{KeySpan, PeopleSummary};
use crate::sources::Config;
use crate::store::{Reader, Store, StoreError};
pub use credits::CreditTotals;

pub use activity::absence_factor;
pub use ownership::{normal_owner, resolve_owner};

/// Label value for contributors ranked below `top_n` on an asset.
pub const OTHER_CONTRIBUTORS: &str = "__other__";
pub const DAY_SECONDS: i64 = 86_400;
/// The windows of the windowed gauges, as label value and length.
pub const WINDOWS: [(&str, i64); 2] = [("30d", 30 * DAY_SECONDS), ("90d", 90 * DAY_SECONDS)];

/// The start of each of the [`WINDOWS`] ending at `now`, in their order.
pub fn window_starts(now: i64) -> Vec<i64> {
    WINDOWS.iter().map(|(_, seconds)| now - seconds).collect()
}

/// passes / (passes + failures) among `items` (time, `Some(passed)`, or `None` for an item
/// that counts in no ratio) whose time is in `[from, to)`; `None` without any.
pub fn windowed_ratio(
    items: impl IntoIterator<Item = (i64, Option<bool>)>,
    from: i64,
    to: i64,
) -> Option<f64> {
    let (mut ok, mut all) = (0u64, 0u64);
    for (at, outcome) in items {
        if at < from || at >= to {
            continue;
        }
        if let Some(passed) = outcome {
            all += 1;
            ok += passed as u64;
        }
    }
    (all > 0).then(|| ok as f64 / all as f64)
}

/// The median of `value_of(day start, day end)` over the `b.days` UTC days before `now`'s
/// day, skipping days without a value; `None` with fewer than `b.min_days` values.
pub fn daily_baseline(
    now: i64,
    b: &Baseline,
    value_of: impl Fn(i64, i64) -> Option<f64>,
) -> Option<f64> {
    let today = now.div_euclid(DAY_SECONDS) * DAY_SECONDS;
    let mut values: Vec<f64> = (1..=b.days as i64)
        .filter_map(|d| {
            let from = today - d * DAY_SECONDS;
            value_of(from, from + DAY_SECONDS)
        })
        .collect();
    if values.len() < b.min_days as usize {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// Stable pseudonym: the first 12 hex digits of SHA-256(salt, person id).
pub fn pseudonym(salt: &str, person: &str) -> String {
    let digest = Sha256::digest(format!("{salt}\0{}", person.to_lowercase()).as_bytes());
    format!("p-{}", crate::hex(&digest[..6]))
}

/// Everyone the store knows, joined into people by the configured rules.
pub fn directory(reader: &Reader<'_>, recognition: &Recognition) -> Result<Directory, StoreError> {
    Ok(people::unify(
        &reader.people()?,
        &reader.name_uses()?,
        recognition,
    ))
}

/// The people as last joined and what they were joined from (the stored names, the name uses
/// and the git marks they were read at). A render after commits were appended reads only the
/// name uses of the appended commits; the people are joined again only when a key or a
/// (key, name) pair is new or a stored name changed, and otherwise only the people whose
/// counts changed are named again ([`people::rename`]), so a collection that changed no
/// identity (a forge's items, commits by known people under known names) joins nobody. The
/// caller forgets them when the recognition settings change.
#[derive(Default)]
pub struct PeopleCache {
    last: Option<JoinedPeople>,
    /// How often the people were joined.
    pub joins: u64,
    /// How often only some people were named again.
    pub renames: u64,
}

struct JoinedPeople {
    stored: std::collections::BTreeMap<String, String>,
    /// Sorted by key, then name (as [`Reader::name_uses`] reads them).
    uses: Vec<people::NameUse>,
    marks: std::collections::BTreeMap<String, (i64, i64)>,
    directory: Arc<Directory>,
}

impl PeopleCache {
    /// The people as the store's identity inputs make them now.
    pub fn directory(
        &mut self,
        reader: &Reader<'_>,
        recognition: &Recognition,
    ) -> Result<Arc<Directory>, StoreError> {
        let started = std::time::Instant::now();
        let marks = reader.git_marks()?;
        let stored = reader.people()?;
        let Some(last) = self
            .last
            .as_mut()
            .filter(|l| appended_only(&l.marks, &marks))
        else {
            return self.join(stored, reader.name_uses()?, marks, recognition);
        };
        // What the appended commits used, summed into the uses as the store sums them.
        let mut changed: BTreeSet<String> = BTreeSet::new();
        let mut new_pair = false;
        for (repository, &(seq, _)) in &marks {
            let after = last.marks.get(repository).map_or(0, |m| m.0);
            if seq == after {
                continue;
            }
            for u in reader.name_uses_after(repository, after)? {
                let at = last.uses.binary_search_by(|x| {
                    (x.key.as_str(), x.name.as_str()).cmp(&(&u.key, &u.name))
                });
                match at {
                    Ok(i) => {
                        last.uses[i].uses += u.uses;
                        last.uses[i].last_at = last.uses[i].last_at.max(u.last_at);
                    }
                    Err(i) => {
                        new_pair = true;
                        last.uses.insert(i, u.clone());
                    }
                }
                changed.insert(u.key);
            }
        }
        last.marks = marks;
        if new_pair || last.stored != stored {
            let last = self.last.take().expect("checked above");
            return self.join(stored, last.uses, last.marks, recognition);
        }
        if !changed.is_empty() {
            self.renames += 1;
            people::rename(
                Arc::make_mut(&mut last.directory),
                changed.iter().map(String::as_str),
                &last.stored,
                &last.uses,
                recognition,
            );
        }
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            renamed_keys = changed.len(),
            "people brought up to date"
        );
        Ok(last.directory.clone())
    }

    fn join(
        &mut self,
        stored: std::collections::BTreeMap<String, String>,
        uses: Vec<people::NameUse>,
        marks: std::collections::BTreeMap<String, (i64, i64)>,
        recognition: &Recognition,
    ) -> Result<Arc<Directory>, StoreError> {
        let directory = Arc::new(people::unify(&stored, &uses, recognition));
        self.joins += 1;
        self.last = Some(JoinedPeople {
            stored,
            uses,
            marks,
            directory: directory.clone(),
        });
        Ok(directory)
    }

    pub fn forget(&mut self) {
        self.last = None;
    }

    /// The people as last joined or named again.
    #[cfg(test)]
    pub fn last(&self) -> Option<Arc<Directory>> {
        self.last.as_ref().map(|l| l.directory.clone())
    }
}

/// Whether the store's git history at `now` only appended commits to what it held at `then`
/// (marks as [`Reader::git_marks`] reads them: no repository gone, rewritten or shortened).
fn appended_only(
    then: &std::collections::BTreeMap<String, (i64, i64)>,
    now: &std::collections::BTreeMap<String, (i64, i64)>,
) -> bool {
    then.iter().all(|(repository, &(seq, generation))| {
        now.get(repository)
            .is_some_and(|&(s, g)| g == generation && s >= seq)
    })
}

/// [`directory`], joined over the `peers`' identity inputs too (the [`PeopleSummary`]s of
/// the other replicas of shard `local_shard`).
pub fn directory_with(
    reader: &Reader<'_>,
    recognition: &Recognition,
    local_shard: u64,
    peers: &[PeopleSummary],
) -> Result<Directory, StoreError> {
    if peers.is_empty() {
        return directory(reader, recognition);
    }
    let local = PeopleSummary {
        shard: local_shard,
        stored: reader.people()?,
        name_uses: reader.name_uses()?,
        ..PeopleSummary::default()
    };
    let (stored, uses) = crate::shard::merged_inputs(&local, peers);
    Ok(people::unify(&stored, &uses, recognition))
}

/// A sharded replica's people, joined over this store's and the `peers`' identity inputs, and
/// its own [`PeopleSummary`] for its peers, still without its credited spans (they come from
/// the credit totals, [`Shared::key_spans`]).
pub fn sharded_people(
    reader: &Reader<'_>,
    recognition: &Recognition,
    shard: crate::shard::Shard,
    ready: bool,
    peers: &[PeopleSummary],
) -> Result<(Directory, PeopleSummary), StoreError> {
    let local = PeopleSummary {
        shard: shard.index,
        shards: shard.count,
        ready,
        stored: reader.people()?,
        name_uses: reader.name_uses()?,
        credited: Vec::new(),
    };
    let (stored, uses) = crate::shard::merged_inputs(&local, peers);
    Ok((people::unify(&stored, &uses, recognition), local))
}

/// Tells the store which asset each forge repository's credits count on (the forge source's
/// `assets` mapping, read from the current config), so they join the git credits.
pub fn map_forge_assets(reader: &Reader<'_>, config: &Config) -> Result<(), StoreError> {
    let rows: Vec<(String, String, String)> = reader
        .forge_credit_repositories()?
        .into_iter()
        .filter_map(|(source, repository)| {
            let asset = config
                .sources
                .iter()
                .find(|s| s.name == source)?
                .settings
                .asset_of_repository(&repository)?;
            Some((source, repository, asset))
        })
        .collect();
    reader.set_forge_assets(&rows)
}

/// The metric groups, in the order their families appear in the exposition. A group derives
/// its families from the fact types it [reads](Group::reads), the configuration and, for some,
/// the people and the per-person credit totals ([`Shared`]); a group that
/// [depends on time](Group::timed) also changes as `now` moves (windows, baselines, ages).
/// The render task derives a group again only when one of these changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    Contributions,
    Ownership,
    Activity,
    Ci,
    Coverage,
    Repro,
    Probes,
    Registry,
    Responses,
}

impl Group {
    pub const ALL: [Group; 9] = [
        Group::Contributions,
        Group::Ownership,
        Group::Activity,
        Group::Ci,
        Group::Coverage,
        Group::Repro,
        Group::Probes,
        Group::Registry,
        Group::Responses,
    ];

    /// The `group` label of the pipeline's self metrics.
    pub fn name(self) -> &'static str {
        match self {
            Group::Contributions => "contributions",
            Group::Ownership => "ownership",
            Group::Activity => "activity",
            Group::Ci => "ci",
            Group::Coverage => "coverage",
            Group::Repro => "repro",
            Group::Probes => "probes",
            Group::Registry => "registry",
            Group::Responses => "responses",
        }
    }

    /// The fact types (store tables) the group reads, directly or through [`Shared`].
    pub fn reads(self) -> &'static [FactType] {
        use FactType::*;
        match self {
            // Credits (git's and the forges'), commit outcomes, CODEOWNERS' invalid lines.
            Group::Contributions => &[GitHistory, ForgeItems, Ownership],
            // CODEOWNERS, files, last updates, registry owners.
            Group::Ownership => &[Ownership, GitHistory, Registry],
            Group::Activity => &[GitHistory, ForgeItems],
            Group::Ci => &[Ci],
            Group::Coverage => &[Ci, Coverage],
            Group::Repro => &[Repro],
            Group::Probes => &[Probes],
            // Registries, and (for `has_owner`) what else says who owns an asset.
            Group::Registry => &[Registry, Ownership],
            Group::Responses => &[ForgeItems],
        }
    }

    /// Whether the group reads the per-person credit totals (and so the people).
    pub fn uses_credits(self) -> bool {
        matches!(self, Group::Contributions | Group::Activity)
    }

    /// Whether the group's families change as time passes with no new facts: windows that
    /// end at `now`, daily baselines, ages, deprecation by update cadence.
    pub fn timed(self) -> bool {
        !matches!(self, Group::Contributions | Group::Registry)
    }
}

/// What several groups read, derived once per change of what it comes from (not per group,
/// and not per render): the people, and every per-person credit figure; and what those
/// groups made of each asset, kept until the asset's figures change.
pub struct Shared {
    pub people: Arc<Directory>,
    pub credits: CreditTotals,
    /// The per-asset families' samples as text, by (family, asset): kept until the asset's
    /// figures, or the names of its kept people, change.
    blocks: std::sync::Mutex<HashMap<(&'static str, String), Arc<str>>>,
    /// Activity per asset as of a time: (the time, asset → the windows' (active, new) and
    /// the absence factor).
    activity: std::sync::Mutex<(i64, HashMap<String, AssetActivity>)>,
}

/// One asset's activity: each window's (active, new) people, and its absence factor.
pub type AssetActivity = (Vec<(u64, u64)>, u64);

/// What a group's derivation produces: its families, or (for a group whose families are
/// mostly per asset) its text in blocks, in exposition order, each keyed so that an unchanged
/// block keeps its compressed part, with the asset-level families `/api/v1/assets` shows.
pub enum Output {
    Families(Vec<Family>),
    Blocks {
        blocks: Vec<(String, Arc<str>)>,
        api: Vec<Family>,
    },
}

impl Shared {
    /// Reads the people (joined over `peers`' identity inputs too, on a sharded replica) and
    /// the per-person credit totals. `now` bounds the recent authorships kept for the absence
    /// factor: derivations at `now` or later can use these totals.
    pub fn read(
        reader: &Reader<'_>,
        config: &Config,
        now: i64,
        people: Arc<Directory>,
    ) -> Result<Shared, StoreError> {
        map_forge_assets(reader, config)?;
        // Two passes over the credits; what they hold does not grow with history.
        let credits = credits::CreditTotals::read(
            reader,
            &people,
            now - RECENT_SECONDS,
            config.recognition.top_n,
        )?;
        Ok(Shared {
            people,
            credits,
            blocks: Default::default(),
            activity: Default::default(),
        })
    }

    /// Brings the totals up to date from what changed since they were read (see
    /// [`CreditTotals::update`]), with `people` as identities are now. Gives `people` back
    /// when that cannot be exact, and the caller reads everything ([`Shared::read`]).
    pub fn update(
        &mut self,
        reader: &Reader<'_>,
        config: &Config,
        now: i64,
        people: Arc<Directory>,
        forge_changed: bool,
    ) -> Result<Option<Arc<Directory>>, StoreError> {
        map_forge_assets(reader, config)?;
        let Some(mut touched) =
            self.credits
                .update(reader, &people, forge_changed, now - RECENT_SECONDS)?
        else {
            return Ok(Some(people));
        };
        // An asset whose kept people are named otherwise now is shown otherwise.
        fn name<'d>(d: &'d Directory, id: &str) -> Option<&'d str> {
            d.by_id(id).map(|p| p.name.as_str())
        }
        for asset in self.credits.asset_names() {
            if self
                .credits
                .kept_of(asset)
                .iter()
                .any(|p| name(&self.people, p) != name(&people, p))
            {
                touched.push(asset.to_string());
            }
        }
        self.people = people;
        let touched: std::collections::HashSet<String> = touched.into_iter().collect();
        tracing::debug!(assets = touched.len(), "credit totals brought up to date");
        crate::locked(&self.blocks).retain(|(_, asset), _| !touched.contains(asset));
        crate::locked(&self.activity)
            .1
            .retain(|asset, _| !touched.contains(asset));
        Ok(None)
    }

    /// Whether derivations at `now` can use these totals: the recent authorships they kept
    /// reach back far enough.
    pub fn covers(&self, now: i64) -> bool {
        now - RECENT_SECONDS >= self.credits.recent_since()
    }

    /// This store's credited spans per identity key (what a sharded replica publishes).
    pub fn key_spans(&self) -> Vec<KeySpan> {
        self.credits.key_spans()
    }
}

/// How far back the absence factor looks.
pub const RECENT_SECONDS: i64 = 90 * DAY_SECONDS;

/// What every group reads: the read view, the catalog, the time.
pub struct Context<'a> {
    pub reader: &'a Reader<'a>,
    pub config: &'a Config,
    pub now: i64,
    /// Where a group puts what it derives for the pages ([`page::PageData`]);
    /// `None` when nothing serves pages.
    pub page: Option<&'a std::sync::Mutex<page::PageData>>,
}

/// What the per-person groups read besides the [`Context`].
pub struct Credited<'a> {
    pub shared: &'a Shared,
    /// A sharded replica's and its peers' credited spans per identity key
    /// ([`crate::shard::PeopleSummary`]): the organisation-wide distinct-people families are
    /// counted from them instead of this store alone.
    pub organisation: Option<&'a [KeySpan]>,
}

impl Credited<'_> {
    /// The contributor label pair for `person`, one of the people kept on an asset (an id) or
    /// [`OTHER_CONTRIBUTORS`], as [`credits::CreditTotals`] hands them out; nothing in `none`
    /// mode.
    pub fn label(&self, recognition: &Recognition, person: &str) -> Option<(&'static str, String)> {
        let value = if person == OTHER_CONTRIBUTORS {
            OTHER_CONTRIBUTORS.to_string()
        } else {
            match recognition.contributor_label {
                ContributorLabel::None => return None,
                ContributorLabel::Name => self
                    .shared
                    .people
                    .by_id(person)
                    .map_or_else(|| person.to_string(), |p| p.name.clone()),
                ContributorLabel::Pseudonym => {
                    pseudonym(recognition.pseudonym_salt.expose(), person)
                }
            }
        };
        match recognition.contributor_label {
            ContributorLabel::None => None,
            _ => Some(("contributor", value)),
        }
    }
}

/// Sums values that end up with identical label sets (two people sharing a display name, or
/// everyone aggregated as `__other__`) and sorts them for a stable exposition.
pub fn summed(
    family: &mut Family,
    rows: impl IntoIterator<Item = (Vec<(&'static str, String)>, f64)>,
) {
    // Sorted (stably: equal label sets are summed in the order they came) and merged, which
    // at tens of thousands of rows per asset is several times cheaper than a map by labels.
    let mut rows: Vec<(Vec<(&'static str, String)>, f64)> = rows.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rows = rows.into_iter().peekable();
    while let Some((labels, mut v)) = rows.next() {
        while let Some((_, more)) = rows.next_if(|(next, _)| *next == labels) {
            v += more;
        }
        family.push(labels, v);
    }
}

/// The families of one `group`. `credited` is needed by the groups that
/// [use credits](Group::uses_credits); without it they derive nothing.
pub fn derive_group(
    cx: &Context<'_>,
    credited: Option<&Credited<'_>>,
    group: Group,
    blocks: bool,
) -> Result<Output, StoreError> {
    if let (true, Group::Contributions, Some(c)) = (blocks, group, credited) {
        return contributions::blocks(cx, c);
    }
    derive_families(cx, credited, group).map(Output::Families)
}

/// The families of one `group`, whole (see [`derive_group`]).
pub fn derive_families(
    cx: &Context<'_>,
    credited: Option<&Credited<'_>>,
    group: Group,
) -> Result<Vec<Family>, StoreError> {
    match (group, credited) {
        (Group::Contributions, Some(c)) => contributions::families(cx, c),
        (Group::Activity, Some(c)) => activity::families(cx, c),
        (Group::Contributions | Group::Activity, None) => Ok(Vec::new()),
        (Group::Ownership, _) => ownership::families(cx),
        (Group::Ci, _) => ci::families(cx, &ci::mapped(cx)?),
        (Group::Coverage, _) => coverage::families(cx, &ci::mapped(cx)?),
        (Group::Repro, _) => repro::families(cx),
        (Group::Probes, _) => probes::families(cx),
        (Group::Registry, _) => registry::families(cx),
        (Group::Responses, _) => responses::families(cx),
    }
}

impl Output {
    /// The exposition text.
    pub fn text(&self) -> String {
        match self {
            Output::Families(f) => crate::exposition::render(f),
            Output::Blocks { blocks, .. } => blocks.iter().map(|(_, t)| t.as_ref()).collect(),
        }
    }
}

/// The families of `groups` derived from the store at time `now` (seconds since the epoch)
/// in one read, as a fresh render task would.
pub fn families_of(
    store: &Store,
    config: &Config,
    now: i64,
    groups: &[Group],
) -> Result<Vec<Family>, StoreError> {
    store.read(|reader| {
        let people = directory(reader, &config.recognition)?;
        let shared = Shared::read(reader, config, now, Arc::new(people))?;
        let cx = Context {
            reader,
            config,
            now,
            page: None,
        };
        let credited = Credited {
            shared: &shared,
            organisation: None,
        };
        let mut out = Vec::new();
        for group in groups {
            out.extend(derive_families(&cx, Some(&credited), *group)?);
        }
        Ok(out)
    })
}

/// The recognition and activity families as `now` saw them, from a store that holds only what
/// had happened by then ([`crate::store::AsOf`]): what `mlsteward backfill` writes.
pub fn history_families(
    store: &Store,
    config: &Config,
    now: i64,
) -> Result<Vec<Family>, StoreError> {
    families_of(store, config, now, &[Group::Contributions, Group::Activity])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_salted_and_case_blind() {
        assert_eq!(pseudonym("s", "a@x"), pseudonym("s", "A@x"));
        assert_ne!(pseudonym("s", "a@x"), pseudonym("t", "a@x"));
        assert_eq!(pseudonym("s", "a@x").len(), 14);
    }
}
