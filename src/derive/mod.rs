//! Derive: stored facts → metric families. Pure reads of the store plus the catalog; every
//! definition here is also the metric's HELP text and the README's metrics reference.
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
mod credits;
mod ownership;
pub mod probes;
pub mod registry;
pub mod repro;
pub mod responses;

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use crate::config::{Baseline, ContributorLabel, Recognition};
use crate::exposition::Family;
use crate::people::{self, Directory};
use crate::shard::{KeySpan, PeopleSummary};
use crate::sources::Config;
use crate::store::{Reader, Store, StoreError};

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
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("p-{hex}")
}

/// Everyone the store knows, joined into people by the configured rules.
pub fn directory(reader: &Reader<'_>, recognition: &Recognition) -> Result<Directory, StoreError> {
    Ok(people::unify(
        &reader.people()?,
        &reader.name_uses()?,
        recognition,
    ))
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

/// What every group needs: the read view, the catalog, the people, and the label rules.
pub struct Context<'a> {
    pub reader: &'a Reader<'a>,
    pub config: &'a Config,
    pub now: i64,
    pub people: Directory,
    /// A sharded replica's and its peers' credited spans per identity key
    /// ([`crate::shard::PeopleSummary`]): the organisation-wide distinct-people families are
    /// counted from them instead of this store alone.
    pub organisation: Option<Vec<KeySpan>>,
    /// Every per-person credit figure, from two passes over the credits.
    pub credits: credits::CreditTotals,
    /// asset → people whose own label is kept (the top `top_n` by contributions).
    kept: HashMap<String, Vec<String>>,
}

impl Context<'_> {
    /// The contributor label pair for `person` (an id) on `asset`, or nothing in `none` mode.
    pub fn label(&self, asset: &str, person: &str) -> Option<(&'static str, String)> {
        let recognition = &self.config.recognition;
        let value = if person == OTHER_CONTRIBUTORS
            || !self
                .kept
                .get(asset)
                .is_some_and(|k| k.iter().any(|p| p == person))
        {
            OTHER_CONTRIBUTORS.to_string()
        } else {
            match recognition.contributor_label {
                ContributorLabel::None => return None,
                ContributorLabel::Name => self
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
    store.read(|reader| {
        let people = directory(reader, &config.recognition)?;
        Ok(families_from(reader, config, now, people, None)?.0)
    })
}

/// A sharded replica's derivation ([`crate::shard`]): people are joined over this store's and
/// the `peers`' identity inputs, and the organisation-wide families counted over every
/// replica's credited spans. Also returns this replica's own [`PeopleSummary`], read in the
/// same transaction, for its peers.
pub fn sharded_families(
    store: &Store,
    config: &Config,
    now: i64,
    shard: crate::shard::Shard,
    ready: bool,
    peers: &[PeopleSummary],
) -> Result<(Vec<Family>, PeopleSummary), StoreError> {
    store.read(|reader| {
        let mut local = PeopleSummary {
            shard: shard.index,
            shards: shard.count,
            ready,
            stored: reader.people()?,
            name_uses: reader.name_uses()?,
            credited: Vec::new(),
        };
        let (stored, uses) = crate::shard::merged_inputs(&local, peers);
        let people = people::unify(&stored, &uses, &config.recognition);
        let (families, spans) = families_from(reader, config, now, people, Some(peers))?;
        // This replica's spans come from the same pass over the credits as its families.
        local.credited = spans;
        Ok((families, local))
    })
}

/// The shared start of every derivation: people unified, forge repositories mapped to assets,
/// the per-person credit figures read and the `top_n` ranking made.
fn context<'a>(
    reader: &'a Reader<'a>,
    config: &'a Config,
    now: i64,
    people: Directory,
    peers: Option<&[PeopleSummary]>,
) -> Result<Context<'a>, StoreError> {
    reader.set_people(&people.key_map())?;
    map_forge_assets(reader, config)?;
    // Two passes over the credits; what they hold does not grow with history.
    let credits = credits::CreditTotals::read(
        reader,
        &people,
        &window_starts(now),
        now - 90 * DAY_SECONDS,
        config.recognition.top_n,
    )?;
    // A sharded replica counts the organisation over its own and its peers' key spans.
    let organisation = peers.map(|peers| {
        credits
            .key_spans()
            .iter()
            .chain(peers.iter().flat_map(|p| &p.credited))
            .cloned()
            .collect()
    });
    let kept_rows = credits.top_people();
    let mut kept: HashMap<String, Vec<String>> = HashMap::new();
    for (asset, person) in kept_rows {
        kept.entry(asset).or_default().push(person);
    }
    Ok(Context {
        reader,
        config,
        now,
        people,
        organisation,
        credits,
        kept,
    })
}

/// Every family, and this store's credit spans per identity key (what a sharded replica
/// publishes).
fn families_from(
    reader: &Reader<'_>,
    config: &Config,
    now: i64,
    people: Directory,
    peers: Option<&[PeopleSummary]>,
) -> Result<(Vec<Family>, Vec<KeySpan>), StoreError> {
    let cx = context(reader, config, now, people, peers)?;
    let mut out = Vec::new();
    out.extend(contributions::families(&cx)?);
    out.extend(ownership::families(&cx)?);
    out.extend(activity::families(&cx)?);
    // CI attempts are read and mapped once, for the ci and coverage groups.
    let attempts = ci::mapped(&cx)?;
    out.extend(ci::families(&cx, &attempts)?);
    out.extend(coverage::families(&cx, &attempts)?);
    out.extend(repro::families(&cx)?);
    out.extend(probes::families(&cx)?);
    out.extend(registry::families(&cx)?);
    out.extend(responses::families(&cx)?);
    Ok((out, cx.credits.key_spans().to_vec()))
}

/// The recognition and activity families as `now` saw them, from a store that holds only what
/// had happened by then ([`crate::store::AsOf`]): what `mlsteward backfill` writes.
pub fn history_families(
    store: &Store,
    config: &Config,
    now: i64,
) -> Result<Vec<Family>, StoreError> {
    store.read(|reader| {
        let people = directory(reader, &config.recognition)?;
        let cx = context(reader, config, now, people, None)?;
        let mut out = contributions::families(&cx)?;
        out.extend(activity::families(&cx)?);
        Ok(out)
    })
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
