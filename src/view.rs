//! The rendered view: what HTTP handlers serve. The render task publishes the derived part
//! (every metric group's families, joined and compressed, with the assets JSON and the
//! landing page's counts from the same families); handlers read the last one and never wait
//! on a derivation, a collection or an upstream.
//!
//! The self metrics (collectors, store, reloads, webhooks, the render pipeline) are added
//! when serving: rendered from the daemon's live state at most once a second, or sooner when
//! something they show changed ([`crate::signal::Signals::touch`]), so a change that touches
//! only them (a refused webhook, a skipped tick) costs no render of the derived families.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::exposition::{self, Family, Joined, Part, Snapshot};
use crate::locked;

/// A people summary as served to peer replicas: its JSON and its ETag.
pub type Published = (Arc<String>, String);

/// How long served self metrics may be reused when nothing they show has changed.
pub const SELF_METRICS_MAX_AGE: Duration = Duration::from_secs(1);

/// What the landing page counts, as of the served metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Assets that `mlsteward_asset_info` names.
    pub assets: usize,
    /// `mlsteward_active_contributors{window="90d"}`; `None` on a replica that does not count
    /// people (see [`crate::shard`]).
    pub active_90d: Option<f64>,
}

/// The render pipeline's own figures, as of the last render.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    /// Per metric group (and `credits`): its last derivation's duration and how many there
    /// have been.
    pub derive_seconds: BTreeMap<&'static str, f64>,
    pub derivations: BTreeMap<&'static str, u64>,
    pub render_seconds: f64,
    pub renders: u64,
    pub coalesced: u64,
}

/// What one render publishes, swapped in at once.
#[derive(Clone, Default)]
pub struct Derived {
    /// Every metric group's families, rendered and compressed (shared with the render task:
    /// publishing copies nothing; they are joined when served).
    pub parts: Vec<Arc<Part>>,
    /// Samples in `parts`.
    pub series: usize,
    /// Per group, its asset-level series, and the configuration they were derived under: what
    /// `/api/v1/assets` is built from, when it is asked for.
    pub api: Vec<Arc<Vec<Family>>>,
    /// Per group, what it derived for the pages ([`crate::derive::page`]).
    pub page: Vec<Arc<crate::derive::page::PageData>>,
    pub config: Option<Arc<crate::sources::Config>>,
    /// The asset alert rules evaluated over these series, on first request.
    pub evaluated: std::sync::OnceLock<Arc<crate::derive::page::Evaluated>>,
    assets_json: std::sync::OnceLock<Arc<String>>,
    pub counts: Counts,
    /// When it was rendered (seconds since the epoch; 0: nothing rendered yet).
    pub at: f64,
    pub pipeline: Pipeline,
}

impl Derived {
    pub fn new(
        parts: Vec<Arc<Part>>,
        api: Vec<Arc<Vec<Family>>>,
        page: Vec<Arc<crate::derive::page::PageData>>,
        config: Arc<crate::sources::Config>,
        counts: Counts,
        at: f64,
        pipeline: Pipeline,
    ) -> Derived {
        Derived {
            series: parts.iter().map(|p| p.samples()).sum(),
            parts,
            api,
            page,
            config: Some(config),
            evaluated: Default::default(),
            assets_json: Default::default(),
            counts,
            at,
            pipeline,
        }
    }

    /// The derived families' text, joined.
    pub fn text(&self) -> String {
        self.parts.iter().map(|p| p.text.as_str()).collect()
    }

    /// `/api/v1/assets` as of these families, built on first request.
    pub fn assets_json(&self) -> Arc<String> {
        self.assets_json
            .get_or_init(|| {
                let families: Vec<Family> =
                    self.api.iter().flat_map(|f| f.iter().cloned()).collect();
                match &self.config {
                    Some(config) => Arc::new(crate::api::assets_json(config, &families)),
                    None => Arc::new("{\"assets\": []}\n".to_string()),
                }
            })
            .clone()
    }

    /// Bytes of text in `parts`.
    pub fn bytes(&self) -> usize {
        self.parts.iter().map(|p| p.len()).sum()
    }
}

/// The last served snapshot, with what it was rendered from.
struct Served {
    derived: Arc<Derived>,
    generation: u64,
    at: Instant,
    snapshot: Snapshot,
}

/// A cheap-to-clone handle on the rendered view. std locks: held only to swap or clone an
/// `Arc`, or to render the self metrics (no `.await` while held).
#[derive(Clone, Default)]
pub struct View {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    derived: RwLock<Arc<Derived>>,
    served: Mutex<Option<Served>>,
    /// The same, in the OpenMetrics format.
    served_openmetrics: Mutex<Option<Served>>,
    /// Set once a render holding every source's first collection is published.
    ready: AtomicBool,
    /// A sharded replica's own people summary, from its last derivation of the people.
    own_people: Mutex<Option<Published>>,
    /// The number of the last signal a published render took.
    covered: tokio::sync::watch::Sender<u64>,
    /// The recognition board the pages show, once one has asked for it.
    board: RwLock<Option<Arc<crate::report::Board>>>,
    board_wanted: AtomicBool,
    /// Set while a board is being built (one at a time).
    pub(crate) board_building: AtomicBool,
}

impl View {
    /// The last published derived part.
    pub fn derived(&self) -> Arc<Derived> {
        self.inner
            .derived
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The exposition to serve: the derived part and the self metrics, which are rendered
    /// again from `self_families` when the derived part or `generation` (the daemon's count
    /// of self-metric changes) moved, or they are older than [`SELF_METRICS_MAX_AGE`].
    pub fn snapshot(
        &self,
        generation: u64,
        self_families: impl FnOnce() -> Vec<Family>,
    ) -> Snapshot {
        let derived = self.derived();
        let mut served = locked(&self.inner.served);
        if let Some(s) = served.as_ref() {
            if Arc::ptr_eq(&s.derived, &derived)
                && s.generation == generation
                && s.at.elapsed() < SELF_METRICS_MAX_AGE
            {
                return s.snapshot.clone();
            }
        }
        let text = self_text(&derived, self_families());
        let parts: Vec<&Part> = derived.parts.iter().map(|p| p.as_ref()).collect();
        let snapshot = Joined::join(&parts).finish(&Part::new(text));
        *served = Some(Served {
            derived,
            generation,
            at: Instant::now(),
            snapshot: snapshot.clone(),
        });
        snapshot
    }

    /// The exposition as text alone, the self metrics rendered from `self_families` now.
    pub fn text(&self, self_families: Vec<Family>) -> String {
        let derived = self.derived();
        let own = self_text(&derived, self_families);
        let mut text = String::with_capacity(derived.bytes() + own.len());
        for part in &derived.parts {
            text.push_str(&part.text);
        }
        text.push_str(&own);
        text
    }

    /// Whether the OpenMetrics format has been served (so renders prepare it too).
    pub fn serves_openmetrics(&self) -> bool {
        locked(&self.inner.served_openmetrics).is_some()
    }

    /// The exposition in the OpenMetrics 1.0 format ([`exposition::openmetrics`]): the
    /// derived parts' OpenMetrics pieces (each made once, on the first such scrape), then the
    /// self metrics, whose counters (every one counts since the process started, at
    /// `started`) carry `_created`, and `# EOF`. Cached as [`View::snapshot`] is.
    pub fn openmetrics(
        &self,
        generation: u64,
        self_families: impl FnOnce() -> Vec<Family>,
        started: f64,
    ) -> Snapshot {
        let derived = self.derived();
        let mut served = locked(&self.inner.served_openmetrics);
        if let Some(s) = served.as_ref() {
            if Arc::ptr_eq(&s.derived, &derived)
                && s.generation == generation
                && s.at.elapsed() < SELF_METRICS_MAX_AGE
            {
                return s.snapshot.clone();
            }
        }
        let mut own = exposition::openmetrics(&self_text(&derived, self_families()), Some(started));
        own.push_str("# EOF\n");
        let parts: Vec<&Part> = derived.parts.iter().map(|p| p.openmetrics()).collect();
        let snapshot = Joined::join(&parts).finish(&Part::new(own));
        *served = Some(Served {
            derived,
            generation,
            at: Instant::now(),
            snapshot: snapshot.clone(),
        });
        snapshot
    }

    /// Ready once the served snapshot holds every source's first collection (finished or
    /// failed): a scraper that waits for ready never sees a source missing.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }

    /// A sharded replica's own people summary (JSON) and its ETag, once derived.
    pub fn own_people(&self) -> Option<Published> {
        locked(&self.inner.own_people).clone()
    }

    /// Waits until a render that took signal `number` (see [`crate::signal::Signals::send`])
    /// is published, or `limit` passes; says whether it was.
    pub async fn rendered(&self, number: u64, limit: Duration) -> bool {
        let mut covered = self.inner.covered.subscribe();
        tokio::time::timeout(limit, covered.wait_for(|c| *c >= number))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Records that what the render task published covers signal `number`.
    pub fn cover(&self, number: u64) {
        self.inner.covered.send_if_modified(|c| {
            let newer = number > *c;
            *c = (*c).max(number);
            newer
        });
    }

    /// Publishes a render; `complete` says it holds every source's first collection.
    pub fn publish(&self, derived: Derived, complete: bool) {
        *self
            .inner
            .derived
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(derived);
        if complete {
            self.inner.ready.store(true, Ordering::SeqCst);
        }
    }

    /// Marks the view ready without a new render (the last one already holds everything).
    pub fn set_ready(&self) {
        self.inner.ready.store(true, Ordering::SeqCst);
    }

    /// The recognition board as last built, and a note that a page wants it: from now on
    /// the render task keeps it up to date ([`crate::render::Renderer`]). Says whether this
    /// was the first time anyone asked.
    pub fn board(&self) -> (Option<Arc<crate::report::Board>>, bool) {
        let first = !self.inner.board_wanted.swap(true, Ordering::SeqCst);
        (
            self.inner
                .board
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            first,
        )
    }

    /// Whether a page has asked for the board.
    pub fn board_wanted(&self) -> bool {
        self.inner.board_wanted.load(Ordering::SeqCst)
    }

    /// The board as last built, without asking for it.
    pub fn last_board(&self) -> Option<Arc<crate::report::Board>> {
        self.inner
            .board
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn publish_board(&self, board: crate::report::Board) {
        *self.inner.board.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(board));
    }

    /// Builds the recognition board as of `now` from `store` on a thread of its own (as
    /// `mlsteward report` reads it; `peers` join people on a sharded replica) and publishes
    /// it; `failed` runs if that fails, and the last board stays. One build at a time: false
    /// when one is under way.
    pub fn build_board(
        &self,
        store: crate::store::Store,
        config: Arc<crate::sources::Config>,
        now: i64,
        peers: (u64, Vec<crate::shard::PeopleSummary>),
        failed: impl FnOnce() + Send + 'static,
    ) -> bool {
        if self.inner.board_building.swap(true, Ordering::SeqCst) {
            return false;
        }
        let view = self.clone();
        let spawned = std::thread::Builder::new()
            .name("board".into())
            .spawn(move || {
                let started = Instant::now();
                match crate::report::Board::build(&store, &config, now, (peers.0, &peers.1)) {
                    Ok(board) => {
                        view.publish_board(board);
                        tracing::debug!(
                            seconds = started.elapsed().as_secs_f64(),
                            "recognition board built"
                        );
                    }
                    Err(e) => {
                        failed();
                        tracing::warn!(error = %e, "building the recognition board failed");
                    }
                }
                view.inner.board_building.store(false, Ordering::SeqCst);
            });
        if spawned.is_err() {
            self.inner.board_building.store(false, Ordering::SeqCst);
        }
        true
    }

    pub fn publish_people(&self, published: Published) {
        *locked(&self.inner.own_people) = Some(published);
    }
}

/// The self metrics' text: `families`, then the render pipeline's. The snapshot's size counts
/// this text too, so it is rendered until the size it states is its own (the digits of a size
/// settle within two rounds).
fn self_text(derived: &Derived, families: Vec<Family>) -> String {
    let series = derived.series
        + families.iter().map(|f| f.samples.len()).sum::<usize>()
        + pipeline_samples(&derived.pipeline);
    let derived_bytes = derived.bytes();
    let mut guess = derived_bytes;
    let mut text = String::new();
    for _ in 0..4 {
        let mut all = families.clone();
        all.extend(pipeline_families(derived, guess, series));
        text = exposition::render(&all);
        let total = derived_bytes + text.len();
        if total == guess {
            break;
        }
        guess = total;
    }
    text
}

/// The samples [`pipeline_families`] renders.
fn pipeline_samples(p: &Pipeline) -> usize {
    2 * p.derive_seconds.len() + 6
}

fn pipeline_families(derived: &Derived, bytes: usize, samples: usize) -> Vec<Family> {
    let p = &derived.pipeline;
    let mut duration = Family::of(&crate::metrics::DERIVE_DURATION_SECONDS);
    let mut derivations = Family::of(&crate::metrics::DERIVATIONS_TOTAL);
    for (group, seconds) in &p.derive_seconds {
        duration.push(vec![("group", group.to_string())], *seconds);
        derivations.push(
            vec![("group", group.to_string())],
            p.derivations.get(group).copied().unwrap_or(0) as f64,
        );
    }
    let mut render = Family::of(&crate::metrics::RENDER_DURATION_SECONDS);
    render.push(vec![], p.render_seconds);
    let mut renders = Family::of(&crate::metrics::RENDERS_TOTAL);
    renders.push(vec![], p.renders as f64);
    let mut coalesced = Family::of(&crate::metrics::RENDER_SIGNALS_COALESCED_TOTAL);
    coalesced.push(vec![], p.coalesced as f64);
    let mut size = Family::of(&crate::metrics::SNAPSHOT_BYTES);
    size.push(vec![], bytes as f64);
    let mut series = Family::of(&crate::metrics::SNAPSHOT_SERIES);
    series.push(vec![], samples as f64);
    let mut at = Family::of(&crate::metrics::SNAPSHOT_TIMESTAMP_SECONDS);
    at.push(vec![], derived.at);
    vec![
        duration,
        derivations,
        render,
        renders,
        coalesced,
        size,
        series,
        at,
    ]
}
