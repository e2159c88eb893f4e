//! The render task: the one place that derives families from the store and publishes what
//! HTTP serves. Everything else only sends it [`Dirty`] signals.
//!
//! Cost follows change. Every metric group ([`Group`]) keeps its rendered text (and that
//! text's compressed segment); a render derives again only the groups whose inputs changed:
//! the fact types a collection wrote, the configuration, a peer's people summary, or, for
//! groups that depend on time, the passing of [`Renderer::time_step`]. The people and the
//! per-person credit totals that two groups share are read once per change of the credits,
//! not per group or per render. Signals sent while a render runs are merged into the next
//! one. The self metrics are not rendered here: the view adds them when serving
//! ([`crate::view`]), so what changes only them renders nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest;
use tokio_util::sync::CancellationToken;

use crate::derive::{self, Context, Credited, Group, Output, Shared};
use crate::exposition::{self, Family, Part};
use crate::facts::FactType;
use crate::locked;
use crate::shard::{KeySpan, PeopleSummary, Shard};
use crate::signal::{Dirty, Signals};
use crate::sources::Config;
use crate::status::{StoreHealth, StoreProblem};
use crate::store::{Store, StoreError};
use crate::view::{Counts, Derived, Pipeline, View};

/// A derivation of the shared credit totals that took this long read them whole (a large
/// table built and dropped): the render gives that memory back afterwards. Bringing them up
/// to date takes milliseconds and frees little.
const HEAVY_CREDITS_SECONDS: f64 = 0.25;

/// What the render task reads from the rest of the daemon (the runner implements it): the
/// configuration in force, the self metrics it keeps, and what sharding needs.
pub trait Inputs: Send + Sync {
    fn config(&self) -> Arc<Config>;
    /// The self metrics besides the render pipeline's own (collectors, store, build, reload,
    /// webhooks, peers, upstream requests); `collect-once` prints them after the families.
    fn self_families(&self) -> Vec<Family>;
    /// How many times the self metrics changed (see [`Signals::touch`]).
    fn generation(&self) -> u64;
    /// Whether every source has finished (or failed) a collection in this run.
    fn all_collected_once(&self) -> bool;
    /// Whether every source has finished a collection in this run or an earlier one.
    fn all_collected_ever(&self) -> bool;
    /// `--shard K/N` with N > 1.
    fn shard(&self) -> Option<Shard>;
    /// The peers' last good people summaries, and whether every peer has answered with the
    /// summary of a replica whose sources have all collected.
    fn peers(&self) -> (Vec<PeopleSummary>, bool);
}

/// One group's last derivation.
#[derive(Default)]
struct Slot {
    /// Its text in exposition order: one part, or one per block of a group that derives in
    /// blocks.
    parts: Vec<Arc<Part>>,
    /// The parts by block key (blocks only), so an unchanged block keeps its part.
    keyed: HashMap<String, Arc<Part>>,
    /// Its asset-level series (an `asset` label and no `contributor`), for `/api/v1/assets`.
    api: Arc<Vec<Family>>,
    /// What it derived for the pages.
    page: Arc<crate::derive::page::PageData>,
    derived: bool,
}

impl Slot {
    /// Takes a group's new output: only text that changed is compressed again.
    fn take(&mut self, output: Output, page: crate::derive::page::PageData) {
        self.page = Arc::new(page);
        match output {
            Output::Families(families) => {
                let text = exposition::render(&families);
                // Unchanged text (a timed group with nothing new) keeps its segment.
                if !self.derived
                    || !self.keyed.is_empty()
                    || self.parts.len() != 1
                    || self.parts[0].text != text
                {
                    self.parts = vec![Arc::new(Part::plain(text))];
                    self.keyed.clear();
                    self.api = Arc::new(asset_level(families));
                }
            }
            Output::Blocks { blocks, api } => {
                let mut keyed = HashMap::with_capacity(blocks.len());
                let mut parts = Vec::with_capacity(blocks.len());
                for (key, text) in blocks {
                    let part = match self.keyed.remove(&key) {
                        Some(part) if part.text.as_str() == &*text => part,
                        _ => Arc::new(Part::plain(text.to_string())),
                    };
                    parts.push(part.clone());
                    keyed.insert(key, part);
                }
                self.parts = parts;
                self.keyed = keyed;
                self.api = Arc::new(api);
            }
        }
        self.derived = true;
    }
}

/// What the render task keeps between renders; only it touches this.
#[derive(Default)]
struct State {
    /// One per [`Group::ALL`], in order.
    slots: Vec<Slot>,
    shared: Option<Shared>,
    /// A sharded replica's own summary (without its spans) and the organisation's spans.
    own_summary: Option<PeopleSummary>,
    organisation: Option<Vec<KeySpan>>,
    /// What the last derivation of the credit groups assumed on a sharded replica.
    sharded_ready: Option<bool>,
    org_wide: Option<bool>,
    counts: Counts,
    /// The time the derivations run at: the last time step's.
    tick: Option<i64>,
    /// How often the credit totals were read whole, and how often brought up to date.
    credit_reads: u64,
    credit_updates: u64,
    /// The people as last joined (not on a sharded replica, whose peers' inputs count too).
    people: derive::PeopleCache,
}

/// The name under which the shared read of the people and the credit totals is timed.
const CREDITS: &str = "credits";

pub struct Renderer {
    store: Store,
    view: View,
    inputs: Arc<dyn Inputs>,
    health: Arc<StoreHealth>,
    signals: Arc<Signals>,
    /// How often the groups that depend on time derive again when no fact changed.
    pub time_step: Duration,
    /// Whether scrapes are served gzipped from these parts (not for `collect-once`).
    compressed: bool,
    state: Mutex<State>,
    pipeline: Mutex<Pipeline>,
    /// Set when the credits changed since the recognition board was last built.
    board_stale: Arc<std::sync::atomic::AtomicBool>,
}

/// The recognition board is built again at least this often (its windows end at its time).
pub const BOARD_MAX_AGE_SECONDS: i64 = 3600;

impl Renderer {
    pub fn new(
        store: Store,
        view: View,
        inputs: Arc<dyn Inputs>,
        health: Arc<StoreHealth>,
        signals: Arc<Signals>,
    ) -> Renderer {
        Renderer {
            store,
            view,
            inputs,
            health,
            signals,
            time_step: Duration::from_secs(60),
            compressed: true,
            state: Mutex::new(State {
                slots: Group::ALL.iter().map(|_| Slot::default()).collect(),
                ..State::default()
            }),
            pipeline: Mutex::default(),
            board_stale: Default::default(),
        }
    }

    /// Builds the recognition board again, on a thread of its own, when a page has asked for
    /// it and it is missing, older than [`BOARD_MAX_AGE_SECONDS`], or the credits or the
    /// configuration changed since. It reads the store as `mlsteward report` does (people
    /// joined over the peers on a sharded replica); renders and scrapes go on meanwhile.
    fn refresh_board(&self, config: &Arc<Config>, now: i64) {
        use std::sync::atomic::Ordering;
        if !self.view.board_wanted() {
            return;
        }
        let old = self
            .view
            .last_board()
            .is_none_or(|b| now - b.at >= BOARD_MAX_AGE_SECONDS);
        if !(old || self.board_stale.load(Ordering::SeqCst)) {
            return;
        }
        let was_stale = self.board_stale.swap(false, Ordering::SeqCst);
        let peers = match self.inputs.shard() {
            Some(shard) => (shard.index, self.inputs.peers().0),
            None => (0, Vec::new()),
        };
        // Tried again on the next render when it fails.
        let stale = self.board_stale.clone();
        let started =
            self.view
                .build_board(self.store.clone(), config.clone(), now, peers, move || {
                    stale.store(true, Ordering::SeqCst)
                });
        if !started && was_stale {
            self.board_stale.store(true, Ordering::SeqCst);
        }
    }

    /// Renders until `shutdown`: whenever signals are pending (all of them at once), and every
    /// [`Renderer::time_step`] for the groups that depend on time. Renders run one at a time,
    /// on a blocking thread; /metrics keeps serving the last published one meanwhile.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut next_tick = tokio::time::Instant::now() + self.time_step;
        loop {
            let timed = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = self.signals.pending() => false,
                _ = tokio::time::sleep_until(next_tick) => true,
            };
            let taken = self.signals.take().unwrap_or_default();
            if timed {
                next_tick = tokio::time::Instant::now() + self.time_step;
            }
            let this = self.clone();
            let rendered = tokio::task::spawn_blocking(move || {
                this.render(taken.dirty, taken.signals, timed, crate::now_seconds());
            })
            .await;
            if let Err(e) = rendered {
                tracing::error!(error = %e, "rendering metrics panicked; serving the previous snapshot");
            }
            // Published (or kept, after a failure): whoever waits for these signals goes on.
            self.view.cover(taken.last);
        }
    }

    /// One render with everything derived, as of `now` (seconds since the epoch), and the
    /// self metrics: what `collect-once` prints. Returns the exposition text.
    pub fn render_all(&self, now: f64) -> String {
        self.render(Dirty::everything(), 1, true, now);
        self.view.text(self.inputs.self_families())
    }

    /// A renderer for one exposition printed as text (`collect-once`): its parts are not
    /// compressed unless a gzip exposition is made of them. (A daemon's renderer compresses
    /// the parts that changed right after deriving them, each once: see
    /// [`exposition::segments`].)
    pub fn text_only(mut self) -> Renderer {
        self.compressed = false;
        self
    }

    /// How often the credit totals were read whole rather than brought up to date.
    pub fn credit_reads(&self) -> (u64, u64) {
        let state = locked(&self.state);
        (state.credit_reads, state.credit_updates)
    }

    /// How often the people were joined (their identity inputs had changed).
    pub fn people_joins(&self) -> u64 {
        locked(&self.state).people.joins
    }

    /// How often only the people whose name counts changed were named again.
    #[cfg(test)]
    fn people_renames(&self) -> u64 {
        locked(&self.state).people.renames
    }

    /// How many group derivations there have been (the shared credits read not counted).
    pub fn derivations(&self) -> u64 {
        locked(&self.pipeline)
            .derivations
            .iter()
            .filter(|(g, _)| **g != CREDITS)
            .map(|(_, n)| n)
            .sum()
    }

    /// Derives the groups `dirty` (and, with `timed`, time) names as of `at` (seconds since
    /// the epoch) and publishes the joined families. `signals` is how many signals `dirty`
    /// merges.
    pub fn render(&self, dirty: Dirty, signals: u64, timed: bool, at: f64) {
        let started = Instant::now();
        let config = self.inputs.config();
        if dirty.config
            || dirty
                .facts
                .iter()
                .any(|f| matches!(f, FactType::GitHistory | FactType::ForgeItems))
        {
            self.board_stale
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self.refresh_board(&config, at.floor() as i64);
        // Decided before deriving, so the render holds what readiness promises.
        let complete = self.inputs.all_collected_once();
        let last = self.view.derived();
        if dirty.is_empty() && !timed && last.at > 0.0 {
            // Nothing derived changed (a collection that found nothing new): the families
            // served reflect everything stored up to now.
            let mut same = (*last).clone();
            same.at = at;
            same.evaluated = Default::default();
            self.view.publish(same, complete);
            return;
        }
        let mut state = locked(&self.state);
        // Windows, baselines and ages end at the last time step (in whole seconds), so that
        // what a group keeps between derivations holds until the next step.
        if timed || state.tick.is_none() {
            state.tick = Some(at.floor() as i64);
        }
        let now = state.tick.unwrap_or(at.floor() as i64);
        let derived = self.derive(&mut state, &config, &dirty, timed, now);
        let mut derived_groups = Vec::new();
        let mut heavy = false;
        match derived {
            Ok(timings) => {
                self.health.recovered(true);
                let mut pipeline = locked(&self.pipeline);
                for (group, seconds) in timings {
                    // Reading the credit totals whole (not bringing them up to date)
                    // builds and drops large tables.
                    heavy |= group == CREDITS && seconds >= HEAVY_CREDITS_SECONDS;
                    derived_groups.push((group, seconds));
                    pipeline.derive_seconds.insert(group, seconds);
                    *pipeline.derivations.entry(group).or_default() += 1;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "deriving metrics failed; serving the last good ones");
                self.health.note(StoreProblem::ReadFailed(e.to_string()));
            }
        }
        let derive_seconds = started.elapsed().as_secs_f64();
        let parts: Vec<Arc<Part>> = state
            .slots
            .iter()
            .flat_map(|s| s.parts.iter().cloned())
            .collect();
        if self.compressed {
            // Each part's segment after its neighbour, made here so that a scrape never
            // compresses: only the parts that changed and those right after them.
            let refs: Vec<&Part> = parts.iter().map(|p| p.as_ref()).collect();
            crate::exposition::segments(&refs);
            // The same for the OpenMetrics pieces once anyone has asked for them (Prometheus
            // does by default): converted and compressed here, not on its next scrape.
            if self.view.serves_openmetrics() {
                let om: Vec<&Part> = parts.iter().map(|p| p.openmetrics()).collect();
                crate::exposition::segments(&om);
            }
        }
        let api: Vec<Arc<Vec<Family>>> = state.slots.iter().map(|s| s.api.clone()).collect();
        let page: Vec<Arc<crate::derive::page::PageData>> =
            state.slots.iter().map(|s| s.page.clone()).collect();
        let counts = state.counts;
        drop(state);
        let pipeline = {
            let mut p = locked(&self.pipeline);
            p.renders += 1;
            p.coalesced += signals.saturating_sub(1);
            p.render_seconds = started.elapsed().as_secs_f64();
            p.clone()
        };
        self.view.publish(
            Derived::new(parts, api, page, config, counts, at, pipeline),
            complete,
        );
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            derive_seconds,
            derived = ?derived_groups,
            "rendered"
        );
        // The per-person totals built and dropped tables: give that memory back, once what
        // they were for is served.
        if heavy {
            crate::trim_heap();
        }
    }

    /// Derives the dirty groups in one read transaction (every group sees the same store);
    /// on success replaces their slots and returns how long each took.
    fn derive(
        &self,
        state: &mut State,
        config: &Config,
        dirty: &Dirty,
        timed: bool,
        now: i64,
    ) -> Result<Vec<(&'static str, f64)>, StoreError> {
        let shard = self.inputs.shard();
        let (peers, peers_complete) = match shard {
            Some(_) => self.inputs.peers(),
            None => (Vec::new(), false),
        };
        let ready = self.inputs.all_collected_ever();
        let org_wide = shard.is_some_and(|s| s.index == 0) && ready && peers_complete;
        let credits_facts = [FactType::GitHistory, FactType::ForgeItems];
        let shared_stale = state.shared.as_ref().is_none_or(|s| !s.covers(now))
            || dirty.config
            || dirty.facts.iter().any(|f| credits_facts.contains(f))
            || (shard.is_some() && (dirty.peers || state.sharded_ready != Some(ready)));
        let org_changed = state.org_wide != Some(org_wide);
        let wanted: Vec<(usize, Group)> = Group::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, group)| {
                !state.slots[*i].derived
                    || dirty.config
                    || group.reads().iter().any(|f| dirty.facts.contains(f))
                    || (group.uses_credits() && shared_stale)
                    || (*group == Group::Activity && org_changed)
                    || (timed && group.timed())
            })
            .collect();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let needs_credits = wanted.iter().any(|(_, g)| g.uses_credits());
        let mut timings = Vec::new();
        let derived = self.store.read(|reader| {
            if needs_credits && shared_stale {
                let started = Instant::now();
                let people = match shard {
                    Some(shard) => {
                        let (people, own) = derive::sharded_people(
                            reader,
                            &config.recognition,
                            shard,
                            ready,
                            &peers,
                        )?;
                        state.own_summary = Some(own);
                        Arc::new(people)
                    }
                    None => {
                        if dirty.config {
                            state.people.forget();
                        }
                        state.people.directory(reader, &config.recognition)?
                    }
                };
                let people_seconds = started.elapsed().as_secs_f64();
                // Brought up to date from what changed when that is exact; else read anew
                // (the old totals dropped first: both would otherwise peak together).
                let forge_changed = dirty.facts.contains(&FactType::ForgeItems);
                let declined = match state.shared.as_mut() {
                    Some(shared) if !dirty.config => {
                        shared.update(reader, config, now, people, forge_changed)?
                    }
                    _ => Some(people),
                };
                let declined_whole = declined.is_some();
                if declined.is_none() {
                    state.credit_updates += 1;
                }
                if let Some(people) = declined {
                    state.shared = None;
                    state.shared = Some(Shared::read(reader, config, now, people)?);
                    state.credit_reads += 1;
                }
                tracing::debug!(
                    people_seconds,
                    totals_seconds = started.elapsed().as_secs_f64() - people_seconds,
                    read_whole = declined_whole,
                    "credit totals"
                );
                let spans = state
                    .shared
                    .as_ref()
                    .map(|s| s.key_spans())
                    .unwrap_or_default();
                if let Some(own) = state.own_summary.as_mut() {
                    state.organisation = Some(
                        spans
                            .iter()
                            .chain(peers.iter().flat_map(|p| &p.credited))
                            .cloned()
                            .collect(),
                    );
                    own.credited = spans;
                    let json = own.to_json();
                    let etag = format!(
                        "\"{}\"",
                        crate::hex(&sha2::Sha256::digest(json.as_bytes())[..16])
                    );
                    self.view.publish_people((Arc::new(json), etag));
                }
                state.sharded_ready = Some(ready);
                timings.push((CREDITS, started.elapsed().as_secs_f64()));
            }
            let credited = state.shared.as_ref().map(|shared| Credited {
                shared,
                organisation: state.organisation.as_deref(),
            });
            let mut out = Vec::new();
            for (i, group) in &wanted {
                let started = Instant::now();
                let page = Mutex::new(crate::derive::page::PageData::default());
                let cx = Context {
                    reader,
                    config,
                    now,
                    page: Some(&page),
                };
                // A sharded replica filters whole families, so it takes no blocks.
                let output = derive::derive_group(&cx, credited.as_ref(), *group, shard.is_none())?;
                let output = match (shard, output) {
                    (Some(shard), Output::Families(families)) => {
                        Output::Families(shard.filter(config, families, org_wide))
                    }
                    (_, output) => output,
                };
                timings.push((group.name(), started.elapsed().as_secs_f64()));
                if let Output::Families(families) = &output {
                    debug_assert!(
                        families.iter().all(|f| crate::metrics::spec(f.name)
                            .is_some_and(|s| s.group == group.name())),
                        "group {} rendered a family of another group",
                        group.name()
                    );
                }
                let mut page = page.into_inner().unwrap_or_else(|p| p.into_inner());
                if let Some(shard) = shard {
                    page.daily.retain(|d| shard.owns_asset(config, &d.asset));
                }
                out.push((*i, output, page));
            }
            Ok(out)
        })?;
        state.org_wide = Some(org_wide);
        for (i, output, page) in derived {
            if let Output::Families(families) = &output {
                if Group::ALL[i] == Group::Ownership {
                    state.counts.assets =
                        find(families, &crate::metrics::ASSET_INFO).map_or(0, |f| f.samples.len());
                }
                if Group::ALL[i] == Group::Activity {
                    state.counts.active_90d = find(families, &crate::metrics::ACTIVE_CONTRIBUTORS)
                        .and_then(|f| {
                            f.samples.iter().find(|s| {
                                s.labels.iter().any(|(k, v)| *k == "window" && v == "90d")
                            })
                        })
                        .map(|s| s.value);
                }
            }
            state.slots[i].take(output, page);
        }
        Ok(timings)
    }
}

fn find<'a>(families: &'a [Family], spec: &crate::metrics::Spec) -> Option<&'a Family> {
    families.iter().find(|f| f.name == spec.name)
}

/// The asset-level series of `families`: those with an `asset` label and no `contributor`
/// (per-person series are left to `/api/v1/recognition`).
fn asset_level(families: Vec<Family>) -> Vec<Family> {
    families
        .into_iter()
        .filter_map(|mut f| {
            f.samples.retain(|s| {
                s.labels.iter().any(|(k, _)| *k == "asset")
                    && !s.labels.iter().any(|(k, _)| *k == "contributor")
            });
            (!f.samples.is_empty()).then_some(f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{
        CiAttempt, CiRepository, CiRuns, Collection, CommitFact, CommitOutcome, CoverageReport,
        Credit, FactSet, ForgeCredit, ForgeItem, ForgeItems, GitHistory, OwnershipSnapshot, Person,
        ProbeSample, RegistryAsset, RegistrySnapshot, ReproCheck, Signer,
    };
    use crate::signal::Dirty;
    use crate::status::StoreHealth;

    const NOW: f64 = 1_800_000_000.0;
    const DAY: i64 = 86_400;

    /// Inputs with a fixed configuration and no self metrics.
    struct Fixed(Arc<Config>);

    impl Inputs for Fixed {
        fn config(&self) -> Arc<Config> {
            self.0.clone()
        }
        fn self_families(&self) -> Vec<Family> {
            Vec::new()
        }
        fn generation(&self) -> u64 {
            0
        }
        fn all_collected_once(&self) -> bool {
            true
        }
        fn all_collected_ever(&self) -> bool {
            true
        }
        fn shard(&self) -> Option<Shard> {
            None
        }
        fn peers(&self) -> (Vec<PeopleSummary>, bool) {
            (Vec::new(), false)
        }
    }

    fn config() -> Config {
        let yaml = "organisation: org\nsources:\n  - name: repo\n    type: git\n    path: .\n  - name: gh\n    type: github\n    repositories: [acme/repo]\n  - name: probe\n    type: http_probe\n    asset: churn-model\n    url: http://127.0.0.1:1/\n    latency_target: 50ms\n  - name: reg\n    type: huggingface\n    author: acme\ncatalog:\n  - id: churn-model\n    kind: model\n    owner: ml-team\n    lifecycle: production\n    update_cadence: 30d\n    repository: repo\n    paths: [\"src/**\"]\n    targets:\n      build_success: 0.9\n      coverage: 0.8\n  - id: features\n    kind: feature_view\n    repository: repo\n    paths: [\"features/**\"]\nrecognition:\n  top_n: 2\n";
        crate::sources::parse_config(std::path::Path::new("c.yaml"), yaml, &|_| None).unwrap()
    }

    fn renderer(store: &Store, config: &Arc<Config>) -> (View, Renderer) {
        let view = View::default();
        let renderer = Renderer::new(
            store.clone(),
            view.clone(),
            Arc::new(Fixed(config.clone())),
            Arc::new(StoreHealth::default()),
            Arc::default(),
        );
        (view, renderer)
    }

    /// A random collection of one source, as the sources make them.
    fn collection(rng: &mut fastrand::Rng, step: usize, shas: &mut Vec<String>) -> Collection {
        let people = ["ann@x", "bob@x", "cy@x", "dee@x", "eve@x"];
        let at = |rng: &mut fastrand::Rng| NOW as i64 - rng.i64(0..60 * DAY);
        match rng.usize(0..9) {
            7 if !shas.is_empty() => {
                // History rewritten: a commit dropped, or everything mined again.
                let reset = rng.usize(0..4) == 0;
                let dropped = if reset {
                    vec![]
                } else {
                    vec![shas[rng.usize(0..shas.len())].clone()]
                };
                if reset {
                    shas.clear();
                }
                Collection {
                    source: "repo".into(),
                    sets: vec![FactSet::GitHistory(GitHistory {
                        reset,
                        dropped,
                        ..GitHistory::default()
                    })],
                    cursors: Default::default(),
                }
            }
            0 | 1 | 7 | 8 => {
                let mut commits = Vec::new();
                for i in 0..rng.usize(1..6) {
                    let sha = format!("c{step}x{i}");
                    let asset = ["churn-model", "features", "repo"][rng.usize(0..3)];
                    // Now and then a known person signs with a new email (joined by name).
                    let alt;
                    let (who, name) = match rng.usize(0..40) {
                        0 => {
                            let p = people[rng.usize(0..people.len())];
                            alt = format!("{}.{step}@y", &p[..3]);
                            (alt.as_str(), format!("Name {p}"))
                        }
                        // Another spelling of the same name: the display name is the one
                        // used most, so it changes as the counts of both go up.
                        1..=16 => {
                            let p = people[rng.usize(0..people.len())];
                            (p, format!("NAME {}", p.to_uppercase()))
                        }
                        _ => {
                            let p = people[rng.usize(0..people.len())];
                            (p, format!("Name {p}"))
                        }
                    };
                    let mut credits = vec![Credit {
                        asset: asset.into(),
                        person: who.into(),
                        kind: ["code", "docs", "tests"][rng.usize(0..3)].into(),
                        authored: true,
                    }];
                    if rng.bool() {
                        credits.push(Credit {
                            asset: asset.into(),
                            person: people[rng.usize(0..people.len())].into(),
                            kind: "review".into(),
                            authored: false,
                        });
                    }
                    let reverts = match (shas.is_empty(), rng.usize(0..6)) {
                        (false, 0) => vec![shas[rng.usize(0..shas.len())].clone()],
                        _ => vec![],
                    };
                    commits.push(CommitFact {
                        sha: sha.clone(),
                        committed_at: at(rng),
                        outcome: CommitOutcome::Credited,
                        assets: vec![asset.into()],
                        signers: vec![Signer {
                            person: who.into(),
                            name,
                            raw_email: who.into(),
                            via: String::new(),
                        }],
                        credits,
                        reverts,
                        blobs_missing: false,
                    });
                    shas.push(sha);
                }
                let people = commits
                    .iter()
                    .flat_map(|c| &c.signers)
                    .map(|s| Person {
                        key: s.person.clone(),
                        name: s.name.clone(),
                    })
                    .collect();
                Collection {
                    source: "repo".into(),
                    sets: vec![
                        FactSet::GitHistory(GitHistory {
                            commits,
                            people,
                            ..GitHistory::default()
                        }),
                        FactSet::Ownership(OwnershipSnapshot {
                            asset_files: vec![("churn-model".into(), rng.u64(1..9))],
                            default_owners: Some(
                                ["org/platform", "org/ml-team"][rng.usize(0..2)].into(),
                            ),
                            ..OwnershipSnapshot::default()
                        }),
                    ],
                    cursors: Default::default(),
                }
            }
            2 => {
                let attempts = (0..rng.usize(1..5))
                    .map(|i| {
                        let done = at(rng);
                        CiAttempt {
                            repository: "acme/repo".into(),
                            pipeline: "ci".into(),
                            run_id: format!("{}", rng.usize(0..30)),
                            attempt: 1 + i as u32 % 2,
                            branch: "main".into(),
                            result: ["success", "failure", "cancelled"][rng.usize(0..3)].into(),
                            started_at: done - 300,
                            completed_at: done,
                            duration: rng.bool().then_some(300.25),
                            coverage: rng.bool().then(|| rng.f64()),
                            ..CiAttempt::default()
                        }
                    })
                    .collect();
                Collection {
                    source: "gh".into(),
                    sets: vec![
                        FactSet::CiRuns(CiRuns {
                            repositories: vec![CiRepository {
                                name: "acme/repo".into(),
                                default_branch: "main".into(),
                            }],
                            attempts,
                        }),
                        FactSet::ReproChecks(vec![ReproCheck {
                            repository: "acme/repo".into(),
                            check_id: format!("r{step}"),
                            environment: "linux".into(),
                            passed: rng.bool(),
                            checked_at: at(rng),
                        }]),
                    ],
                    cursors: Default::default(),
                }
            }
            3 => {
                let number = rng.u64(1..20);
                let who = people[rng.usize(0..people.len())];
                Collection {
                    source: "gh".into(),
                    sets: vec![FactSet::ForgeItems(ForgeItems {
                        items: vec![ForgeItem {
                            repository: "acme/repo".into(),
                            kind: "pull_request".into(),
                            number,
                            author: who.into(),
                            opened_at: at(rng),
                            first_response_at: rng.bool().then_some(NOW as i64 - DAY),
                            closed_at: None,
                        }],
                        credits: vec![ForgeCredit {
                            repository: "acme/repo".into(),
                            number: number as i64,
                            person: format!("handle:{}", &who[..3]),
                            kind: "review".into(),
                            at: at(rng),
                        }],
                        people: vec![Person {
                            key: format!("handle:{}", &who[..3]),
                            name: who[..3].into(),
                        }],
                        releases: vec![],
                    })],
                    cursors: Default::default(),
                }
            }
            4 => Collection {
                source: "probe".into(),
                sets: vec![FactSet::ProbeSamples(
                    (0..rng.usize(1..4))
                        .map(|i| ProbeSample {
                            target: "probe".into(),
                            asset: "churn-model".into(),
                            at_ms: at(rng) * 1000 + i as i64,
                            result: ["ok", "timeout", "http_5xx"][rng.usize(0..3)].into(),
                            latency: Some(rng.f64() / 10.0),
                            value_age: None,
                            view_ages: Vec::new(),
                            reconnected: rng.bool(),
                        })
                        .collect(),
                )],
                cursors: Default::default(),
            },
            5 => Collection {
                source: "gh".into(),
                sets: vec![FactSet::CoverageReports(vec![CoverageReport {
                    asset: "churn-model".into(),
                    at: at(rng),
                    line: Some(rng.f64()),
                    branch: None,
                    commit: String::new(),
                }])],
                cursors: Default::default(),
            },
            _ => Collection {
                source: "reg".into(),
                sets: vec![FactSet::Registry(RegistrySnapshot {
                    assets: vec![RegistryAsset {
                        id: "churn-model".into(),
                        kind: "model".into(),
                        owner: Some(["ml-team", "other-team"][rng.usize(0..2)].into()),
                        updated_at: Some(at(rng) as f64 + 0.25),
                        ..RegistryAsset::default()
                    }],
                    numbers: vec![("churn-model".into(), "likes".into(), rng.u64(0..9) as f64)],
                    ..RegistrySnapshot::default()
                })],
                cursors: Default::default(),
            },
        }
    }

    /// Random sequences of collections: after each, the render that derives only the groups
    /// the written fact types dirty serves exactly what a fresh full derivation does.
    #[test]
    fn incremental_renders_equal_a_full_derivation_byte_for_byte() {
        let config = Arc::new(config());
        let (mut updates, mut reads, mut joins, mut renames) = (0, 0, 0, 0);
        for seed in 0..8 {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("s.db")).unwrap();
            let (view, incremental) = renderer(&store, &config);
            incremental.render(Dirty::everything(), 1, true, NOW);
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut shas = Vec::new();
            let mut skipped = 0;
            for step in 0..40 {
                let c = collection(&mut rng, step, &mut shas);
                let written = store.apply(&c).unwrap();
                // The same facts again change nothing.
                if rng.usize(0..4) == 0 {
                    assert!(
                        store
                            .apply(&c)
                            .unwrap()
                            .types
                            .iter()
                            .all(|t| *t == FactType::GitHistory),
                        "a repeated snapshot is written again"
                    );
                }
                let before = incremental.derivations();
                incremental.render(Dirty::facts(written.types.clone()), 1, false, NOW);
                let derived: u64 = incremental.derivations() - before;
                skipped += Group::ALL.len() as u64 - derived.min(Group::ALL.len() as u64);
                let (full_view, full) = renderer(&store, &config);
                full.render(Dirty::everything(), 1, true, NOW);
                // The people brought up to date are the people joined afresh.
                if let Some(kept) = locked(&incremental.state).people.last() {
                    let fresh = store
                        .read(|r| derive::directory(r, &config.recognition))
                        .unwrap();
                    assert_eq!(kept.people, fresh.people, "seed {seed}, step {step}");
                    assert_eq!(kept.joins, fresh.joins, "seed {seed}, step {step}");
                }
                assert_eq!(
                    view.derived().text(),
                    full_view.derived().text(),
                    "seed {seed}, step {step}: {:?}",
                    written.types
                );
            }
            assert!(skipped > 0, "some renders derived fewer groups than all");
            let (r, u) = incremental.credit_reads();
            reads += r;
            updates += u;
            joins += incremental.people_joins();
            renames += incremental.people_renames();
        }
        // Commits by known people under known names only name people again.
        assert!(renames > 3, "{renames} renames, {joins} joins");
        // People are joined again only when their inputs changed: not for every derivation
        // of the credits (a forge's items by known people, a config-free render).
        assert!(
            joins > 0 && joins < reads + updates,
            "{joins} joins for {} derivations of the credits",
            reads + updates
        );
        // Both ways were taken, often (reverts, drops and joined identities make reads).
        assert!(
            updates > 50 && reads > 16,
            "credit totals: {updates} updates, {reads} whole reads"
        );
    }
}
