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

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest;
use tokio_util::sync::CancellationToken;

use crate::derive::{self, Context, Credited, Group, Shared};
use crate::exposition::{self, Family, Joined, Part};
use crate::facts::FactType;
use crate::locked;
use crate::shard::{KeySpan, PeopleSummary, Shard};
use crate::signal::{Dirty, Signals};
use crate::sources::Config;
use crate::status::{StoreHealth, StoreProblem};
use crate::store::{Store, StoreError};
use crate::view::{Counts, Derived, Pipeline, View};

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
struct Slot {
    part: Part,
    /// Samples in `part`.
    series: usize,
    /// Its asset-level series (an `asset` label and no `contributor`), for `/api/v1/assets`.
    api: Vec<Family>,
    derived: bool,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            part: Part::new(String::new()),
            series: 0,
            api: Vec::new(),
            derived: false,
        }
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
    state: Mutex<State>,
    pipeline: Mutex<Pipeline>,
}

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
            state: Mutex::new(State {
                slots: Group::ALL.iter().map(|_| Slot::default()).collect(),
                ..State::default()
            }),
            pipeline: Mutex::default(),
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
        let snapshot = self
            .view
            .snapshot(self.inputs.generation(), || self.inputs.self_families());
        String::from_utf8_lossy(&snapshot.text).into_owned()
    }

    /// Derives the groups `dirty` (and, with `timed`, time) names as of `at` (seconds since
    /// the epoch) and publishes the joined families. `signals` is how many signals `dirty`
    /// merges.
    pub fn render(&self, dirty: Dirty, signals: u64, timed: bool, at: f64) {
        let started = Instant::now();
        // Windows and baselines count whole seconds.
        let now = at.floor() as i64;
        let config = self.inputs.config();
        // Decided before deriving, so the render holds what readiness promises.
        let complete = self.inputs.all_collected_once();
        if dirty.is_empty() && !timed && self.view.derived().at > 0.0 {
            // Nothing derived changed (a collection that found nothing new): at most the
            // readiness it waited for.
            if complete {
                self.view.set_ready();
            }
            return;
        }
        let mut state = locked(&self.state);
        let derived = self.derive(&mut state, &config, &dirty, timed, now);
        match derived {
            Ok(timings) => {
                self.health.recovered(true);
                let mut pipeline = locked(&self.pipeline);
                for (group, seconds) in timings {
                    pipeline.derive_seconds.insert(group, seconds);
                    *pipeline.derivations.entry(group).or_default() += 1;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "deriving metrics failed; serving the last good ones");
                self.health.note(StoreProblem::ReadFailed(e.to_string()));
            }
        }
        let assets_json = Arc::new(crate::api::assets_json(
            &config,
            &state
                .slots
                .iter()
                .flat_map(|s| s.api.iter().cloned())
                .collect::<Vec<_>>(),
        ));
        let series: usize = state.slots.iter().map(|s| s.series).sum();
        let parts: Vec<&Part> = state.slots.iter().map(|s| &s.part).collect();
        let joined = Joined::join(&parts);
        drop(parts);
        let counts = state.counts;
        drop(state);
        let pipeline = {
            let mut p = locked(&self.pipeline);
            p.renders += 1;
            p.coalesced += signals.saturating_sub(1);
            p.render_seconds = started.elapsed().as_secs_f64();
            p.clone()
        };
        // Deriving built and dropped per-person tables: give that memory back.
        crate::trim_heap();
        self.view.publish(
            Derived {
                joined,
                series,
                assets_json,
                counts,
                at,
                pipeline,
            },
            complete,
        );
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
        let derived =
            self.store.read(|reader| {
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
                            people
                        }
                        None => derive::directory(reader, &config.recognition)?,
                    };
                    // Dropped first: the old totals and the new would otherwise peak together.
                    state.shared = None;
                    let shared = Shared::read(reader, config, now, people)?;
                    if let Some(own) = state.own_summary.as_mut() {
                        own.credited = shared.key_spans().to_vec();
                        state.organisation = Some(
                            shared
                                .key_spans()
                                .iter()
                                .chain(peers.iter().flat_map(|p| &p.credited))
                                .cloned()
                                .collect(),
                        );
                        let json = own.to_json();
                        let etag = format!(
                            "\"{}\"",
                            crate::hex(&sha2::Sha256::digest(json.as_bytes())[..16])
                        );
                        self.view.publish_people((Arc::new(json), etag));
                    }
                    state.shared = Some(shared);
                    state.sharded_ready = Some(ready);
                    timings.push((CREDITS, started.elapsed().as_secs_f64()));
                }
                let cx = Context {
                    reader,
                    config,
                    now,
                };
                let credited = state.shared.as_ref().map(|shared| Credited {
                    shared,
                    organisation: state.organisation.as_deref(),
                });
                let mut out = Vec::new();
                for (i, group) in &wanted {
                    let started = Instant::now();
                    let families = derive::derive_group(&cx, credited.as_ref(), *group)?;
                    let families = match shard {
                        Some(shard) => shard.filter(config, families, org_wide),
                        None => families,
                    };
                    timings.push((group.name(), started.elapsed().as_secs_f64()));
                    debug_assert!(
                        families.iter().all(|f| crate::metrics::spec(f.name)
                            .is_some_and(|s| s.group == group.name())),
                        "group {} rendered a family of another group",
                        group.name()
                    );
                    out.push((*i, families));
                }
                Ok(out)
            })?;
        state.org_wide = Some(org_wide);
        for (i, families) in derived {
            if Group::ALL[i] == Group::Ownership {
                state.counts.assets =
                    find(&families, &crate::metrics::ASSET_INFO).map_or(0, |f| f.samples.len());
            }
            if Group::ALL[i] == Group::Activity {
                state.counts.active_90d = find(&families, &crate::metrics::ACTIVE_CONTRIBUTORS)
                    .and_then(|f| {
                        f.samples
                            .iter()
                            .find(|s| s.labels.iter().any(|(k, v)| *k == "window" && v == "90d"))
                    })
                    .map(|s| s.value);
            }
            let slot = &mut state.slots[i];
            slot.series = families.iter().map(|f| f.samples.len()).sum();
            let text = exposition::render(&families);
            // Unchanged text (a timed group with nothing new) keeps its compressed segment.
            if !slot.derived || slot.part.text != text {
                slot.part = Part::new(text);
            }
            slot.api = asset_level(families);
            slot.derived = true;
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
