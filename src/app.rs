//! Stage two of configuration: runtime objects built from a valid [`Config`], and the state
//! the scheduler, derive and the server share.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::collector::{CancelFlag, CollectContext, CollectError, ErrorKind};
use crate::exposition::{self, Family, MetricType, Snapshot};
use crate::locked;
use crate::sources::Collector;
use crate::sources::{Config, SourceConfig};
use crate::store::Store;
use sha2::Digest;

/// Health of one collector, as the self metrics show it.
#[derive(Debug, Clone, Default)]
pub struct CollectorStatus {
    /// `None` until the first collection ends.
    pub success: Option<bool>,
    pub duration_seconds: f64,
    pub last_success_seconds: Option<f64>,
    pub errors: BTreeMap<ErrorKind, u64>,
    /// Ticks skipped because the previous collection had not finished.
    pub skipped: u64,
    /// The last failure's kind and its one-line message (secrets never reach messages:
    /// credentials travel in headers, URLs are shown without their query).
    pub last_error: Option<(ErrorKind, String)>,
}

/// One configured source with its collector.
pub struct Source {
    pub config: SourceConfig,
    pub collector: Collector,
    /// Wakes the source's loop for a collection now (a webhook); wake-ups while one is
    /// pending or running coalesce into one.
    pub wake: tokio::sync::Notify,
    /// The repositories webhooks asked for since the last collection.
    pending: Mutex<std::collections::BTreeSet<String>>,
}

impl Source {
    pub fn new(config: SourceConfig, collector: Collector) -> Source {
        Source {
            config,
            collector,
            wake: tokio::sync::Notify::new(),
            pending: Mutex::default(),
        }
    }

    /// Asks for a collection of `repository` now; a repository already asked for is asked once.
    pub fn request(&self, repository: &str) {
        locked(&self.pending).insert(repository.to_string());
        self.wake.notify_one();
    }

    /// The repositories asked for, emptied.
    pub fn take_requests(&self) -> std::collections::BTreeSet<String> {
        std::mem::take(&mut *locked(&self.pending))
    }
}

/// The configuration in force and the sources built from it; replaced whole by a reload.
struct Running {
    config: Arc<Config>,
    sources: Arc<Vec<Arc<Source>>>,
}

/// How the last reload went, as Prometheus exports it about itself.
#[derive(Debug, Clone, Copy)]
struct ReloadState {
    successful: bool,
    /// When the configuration in force was loaded (start-up or the last good reload).
    success_seconds: f64,
}

/// What a reload changed, by source name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Sources whose settings (or the catalog or recognition rules they read) changed: their
    /// collector is rebuilt and rescheduled.
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
}

impl std::fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        write!(
            f,
            "added: {}; removed: {}; changed: {}; unchanged: {}",
            names(&self.added),
            names(&self.removed),
            names(&self.changed),
            names(&self.unchanged)
        )
    }
}

/// Shared, cheap-to-clone state of a running daemon.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    running: Arc<RwLock<Running>>,
    /// Where remote repositories are mirrored (the store's directory).
    storage_dir: Arc<std::path::PathBuf>,
    reload_state: Arc<Mutex<ReloadState>>,
    /// Serialises reloads; holds the scheduler that starts and stops source tasks.
    reloader: Arc<tokio::sync::Mutex<Option<crate::scheduler::Scheduler>>>,
    /// The configuration file reloads read; `None` for apps built from a config in memory.
    config_file: Option<Arc<std::path::PathBuf>>,
    /// TLS, basic auth and headers (`--web.config.file`); reloads re-read its file too.
    web: Arc<RwLock<Arc<crate::web::WebConfig>>>,
    web_config_file: Option<Arc<std::path::PathBuf>>,
    /// Where `mlsteward demo` wrote the data this daemon serves; the landing page says so.
    pub demo: Option<Arc<std::path::PathBuf>>,
    webhooks: Arc<crate::webhooks::Webhooks>,
    /// `--shard K/N`: only the git sources, forge repositories and derived series it owns.
    shard: Option<crate::shard::Shard>,
    /// `--shard.peers`: the other replicas' people summaries, polled.
    peers: Option<Arc<crate::peers::PeerExchange>>,
    /// A sharded replica's own people summary as JSON and its ETag, from the last derivation.
    own_people: Arc<Mutex<Option<crate::peers::Published>>>,
    /// std locks: held only briefly and never across an `.await`.
    status: Arc<Mutex<BTreeMap<String, CollectorStatus>>>,
    snapshot: Arc<RwLock<Snapshot>>,
    /// The derived part of the last good exposition: kept when deriving fails, so a failing
    /// store never empties /metrics (the self metrics are rendered fresh every time).
    derived: Arc<Mutex<String>>,
    /// `/api/v1/assets`, built from the same derived families as `derived`.
    assets_json: Arc<Mutex<Arc<String>>>,
    /// For the landing page, from the same families: the assets `mlsteward_asset_info` names
    /// and `mlsteward_active_contributors{window="90d"}`.
    counts: Arc<Mutex<(usize, Option<f64>)>>,
    /// Why the store is unhealthy; `None` while healthy.
    store_problem: Arc<Mutex<Option<StoreProblem>>>,
    /// Set once a snapshot holding every source's first collection is served.
    ready: Arc<std::sync::atomic::AtomicBool>,
    /// Serialises derive-and-render so an older snapshot never replaces a newer one.
    render_lock: Arc<tokio::sync::Mutex<()>>,
}

/// Why the store is unhealthy. A later successful read clears a failed read and a later
/// successful write a failed write; damage found by the start-up check stays until restart.
#[derive(Debug, Clone, PartialEq)]
enum StoreProblem {
    Damaged(String),
    ReadFailed(String),
    WriteFailed(String),
}

impl std::fmt::Display for StoreProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreProblem::Damaged(why) => write!(f, "{why}"),
            StoreProblem::ReadFailed(why) => write!(f, "reading the store failed: {why}"),
            StoreProblem::WriteFailed(why) => write!(f, "writing the store failed: {why}"),
        }
    }
}

pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl App {
    pub fn new(
        config: Config,
        store: Store,
        storage_dir: &Path,
        shard: Option<crate::shard::Shard>,
    ) -> anyhow::Result<App> {
        let config = shard_sources(config, shard);
        let mut sources = Vec::new();
        for s in &config.sources {
            sources.push(Source::new(
                s.clone(),
                Collector::build(&config, s, storage_dir)?,
            ));
        }
        let mut app = App::with_sources(config, store, sources)?;
        app.storage_dir = Arc::new(storage_dir.to_path_buf());
        app.shard = shard;
        Ok(app)
    }

    /// This replica's shard, when sharded.
    pub fn shard(&self) -> Option<crate::shard::Shard> {
        self.shard
    }

    /// Reloads re-read `file`.
    pub fn with_config_file(mut self, file: &Path) -> App {
        self.config_file = Some(Arc::new(file.to_path_buf()));
        self
    }

    pub fn webhooks(&self) -> &crate::webhooks::Webhooks {
        &self.webhooks
    }

    /// Exchanges people summaries with the other replicas (`--shard.peers`).
    pub fn with_peers(mut self, peers: Arc<crate::peers::PeerExchange>) -> App {
        self.peers = Some(peers);
        self
    }

    /// The peer exchange, when `--shard.peers` is set.
    pub fn peers(&self) -> Option<Arc<crate::peers::PeerExchange>> {
        self.peers.clone()
    }

    /// A sharded replica's own people summary (JSON) and its ETag, once derived.
    pub fn own_people(&self) -> Option<crate::peers::Published> {
        locked(&self.own_people).clone()
    }

    /// Marks the data as the demo's, written in `dir`.
    pub fn with_demo(mut self, dir: &Path) -> App {
        self.demo = Some(Arc::new(dir.to_path_buf()));
        self
    }

    /// Serves with `web` (read from `file`, which reloads read again).
    pub fn with_web_config(mut self, file: &Path, web: crate::web::WebConfig) -> App {
        self.web = Arc::new(RwLock::new(Arc::new(web)));
        self.web_config_file = Some(Arc::new(file.to_path_buf()));
        self
    }

    /// The web configuration in force.
    pub fn web(&self) -> Arc<crate::web::WebConfig> {
        self.web.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .config
            .clone()
    }

    /// The sources in force.
    pub fn sources(&self) -> Arc<Vec<Arc<Source>>> {
        self.running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .sources
            .clone()
    }

    /// Replaces the sources in force as a reload would, for tests with scripted collectors.
    #[cfg(test)]
    pub(crate) fn set_sources(&self, sources: Vec<Arc<Source>>) {
        self.running
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .sources = Arc::new(sources);
    }

    /// Hands the scheduler to the app, which starts every source's task; reloads then start,
    /// stop and reschedule tasks through it.
    pub async fn start_scheduler(&self, scheduler: crate::scheduler::Scheduler) {
        let mut slot = self.reloader.lock().await;
        let mut scheduler = scheduler;
        scheduler.sync(self);
        *slot = Some(scheduler);
    }

    /// Re-reads the configuration file and applies it: sources added, removed or changed are
    /// started, stopped or rescheduled, and the others keep running untouched. A bad file keeps
    /// the running configuration; the error says why (every problem with its position).
    pub async fn reload(&self) -> Result<ReloadSummary, String> {
        let mut scheduler = self.reloader.lock().await;
        let result = match &self.config_file {
            None => Err("this daemon has no configuration file to reload".to_string()),
            Some(file) => {
                let file = file.clone();
                let loaded =
                    tokio::task::spawn_blocking(move || crate::sources::load_config(&file))
                        .await
                        .map_err(|e| format!("reading the configuration panicked: {e}"))?;
                let web_file = self.web_config_file.clone();
                let web = tokio::task::spawn_blocking(move || {
                    web_file.map(|f| crate::web::WebConfig::load(&f))
                })
                .await
                .map_err(|e| format!("reading the web configuration panicked: {e}"))?;
                let lines = |problems: &[crate::config::Problem]| {
                    problems
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                match (loaded, web) {
                    (Err(a), Some(Err(b))) => Err(format!("{}\n{}", lines(&a), lines(&b))),
                    (Err(problems), _) | (Ok(_), Some(Err(problems))) => Err(lines(&problems)),
                    (Ok(config), web) => {
                        let summary = self.apply_config(config);
                        if let (Ok(_), Some(Ok(web))) = (&summary, web) {
                            *self.web.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(web);
                        }
                        summary
                    }
                }
            }
        };
        {
            let mut state = locked(&self.reload_state);
            state.successful = result.is_ok();
            if result.is_ok() {
                state.success_seconds = now_seconds();
            }
        }
        match &result {
            Ok(summary) => {
                if let Some(s) = scheduler.as_mut() {
                    s.sync(self);
                }
                tracing::info!(%summary, "configuration reloaded");
            }
            Err(why) => {
                tracing::error!(error = %why, "reloading the configuration failed; the running configuration stays")
            }
        }
        drop(scheduler);
        self.render().await;
        result
    }

    /// Replaces the configuration in force with `config`. A source keeps its collector (and
    /// its task) when its own settings and everything collectors read from the rest of the
    /// configuration (organisation, recognition rules, catalog) are unchanged; otherwise it
    /// gets a new collector. Nothing is replaced when a collector cannot be built.
    pub fn apply_config(&self, config: Config) -> Result<ReloadSummary, String> {
        let config = shard_sources(config, self.shard);
        let old_config = self.config();
        let old_sources = self.sources();
        let shared =
            |c: &Config| format!("{:?}|{:?}|{:?}", c.organisation, c.recognition, c.catalog);
        let shared_same = shared(&old_config) == shared(&config);
        let mut summary = ReloadSummary::default();
        let mut sources = Vec::new();
        for s in &config.sources {
            let old = old_sources.iter().find(|o| o.config.name == s.name);
            match old {
                Some(o) if shared_same && format!("{:?}", o.config) == format!("{s:?}") => {
                    summary.unchanged.push(s.name.clone());
                    sources.push(o.clone());
                }
                _ => {
                    let collector = Collector::build(&config, s, &self.storage_dir)
                        .map_err(|e| format!("sources: {}: {e:#}", s.name))?;
                    if old.is_some() {
                        summary.changed.push(s.name.clone());
                    } else {
                        summary.added.push(s.name.clone());
                    }
                    sources.push(Arc::new(Source::new(s.clone(), collector)));
                }
            }
        }
        summary.removed = old_sources
            .iter()
            .filter(|o| !config.sources.iter().any(|s| s.name == o.config.name))
            .map(|o| o.config.name.clone())
            .collect();
        let last = self.store.last_successes().unwrap_or_default();
        {
            let mut status = locked(&self.status);
            status.retain(|name, _| !summary.removed.contains(name));
            for name in summary.added.iter() {
                status.insert(
                    name.clone(),
                    CollectorStatus {
                        last_success_seconds: last.get(name).copied(),
                        ..Default::default()
                    },
                );
            }
        }
        *self.running.write().unwrap_or_else(|p| p.into_inner()) = Running {
            config: Arc::new(config),
            sources: Arc::new(sources),
        };
        Ok(summary)
    }

    /// An app over sources built elsewhere (tests use scripted collectors).
    pub fn with_sources(config: Config, store: Store, sources: Vec<Source>) -> anyhow::Result<App> {
        let last = store.last_successes()?;
        let status = sources
            .iter()
            .map(|s| {
                (
                    s.config.name.clone(),
                    CollectorStatus {
                        last_success_seconds: last.get(&s.config.name).copied(),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let sources = sources.into_iter().map(Arc::new).collect();
        Ok(App {
            store,
            running: Arc::new(RwLock::new(Running {
                config: Arc::new(config),
                sources: Arc::new(sources),
            })),
            storage_dir: Arc::new(std::path::PathBuf::from(".")),
            reload_state: Arc::new(Mutex::new(ReloadState {
                successful: true,
                success_seconds: now_seconds(),
            })),
            reloader: Arc::default(),
            config_file: None,
            web: Arc::default(),
            web_config_file: None,
            demo: None,
            webhooks: Arc::default(),
            shard: None,
            peers: None,
            own_people: Arc::default(),
            status: Arc::new(Mutex::new(status)),
            snapshot: Arc::new(RwLock::new(Snapshot::default())),
            derived: Arc::new(Mutex::new(String::new())),
            assets_json: Arc::new(Mutex::new(Arc::new("{\"assets\": []}\n".to_string()))),
            counts: Arc::default(),
            store_problem: Arc::new(Mutex::new(None)),
            ready: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            render_lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    pub fn snapshot(&self) -> Snapshot {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Assets and people active over 90 days, as of the served metrics.
    /// (`None`: this replica does not count people, see [`crate::shard`]).
    pub fn counts(&self) -> (usize, Option<f64>) {
        *locked(&self.counts)
    }

    /// `/api/v1/assets` as of the served metrics.
    pub fn assets_json(&self) -> Arc<String> {
        locked(&self.assets_json).clone()
    }

    /// Ready once the served snapshot holds every source's first collection (finished or
    /// failed): a scraper that waits for ready never sees a source missing.
    pub fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn all_collected_once(&self) -> bool {
        locked(&self.status).values().all(|s| s.success.is_some())
    }

    /// Whether every source has finished a collection, in this run or (as the store
    /// remembers) an earlier one: the store then holds everyone its sources name, so a
    /// restarted replica's people summary stays complete.
    fn all_collected_ever(&self) -> bool {
        locked(&self.status)
            .values()
            .all(|s| s.success.is_some() || s.last_success_seconds.is_some())
    }

    /// Why the store is unhealthy, if it is.
    pub fn store_problem(&self) -> Option<String> {
        locked(&self.store_problem).as_ref().map(|p| p.to_string())
    }

    /// Records a store failure for `mlsteward_store_healthy`; damage is never replaced by a
    /// lesser problem.
    fn note_store(&self, problem: StoreProblem) {
        tracing::error!(error = %problem, "the store is unhealthy");
        let mut current = locked(&self.store_problem);
        if !matches!(*current, Some(StoreProblem::Damaged(_))) {
            *current = Some(problem);
        }
    }

    /// Clears a store problem that `cleared` says a success has resolved.
    fn store_recovered(&self, cleared: fn(&StoreProblem) -> bool) {
        let mut current = locked(&self.store_problem);
        if current.as_ref().is_some_and(cleared) {
            *current = None;
        }
    }

    /// Checks the store file for damage (SQLite's quick check); run once at start-up, off the
    /// request path.
    pub async fn check_store(&self) {
        let store = self.store.clone();
        let checked = tokio::task::spawn_blocking(move || store.quick_check()).await;
        let damage = match checked {
            Ok(Ok(lines)) if lines == ["ok"] => None,
            Ok(Ok(lines)) => Some(format!(
                "{}: damaged: {}",
                self.store.path(),
                lines.join("; ")
            )),
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(format!("checking the store panicked: {e}")),
        };
        if let Some(damage) = damage {
            self.note_store(StoreProblem::Damaged(damage));
            self.render().await;
        }
    }

    pub fn status(&self, source: &str) -> Option<CollectorStatus> {
        locked(&self.status).get(source).cloned()
    }

    pub fn note_skipped(&self, source: &str) {
        if let Some(s) = locked(&self.status).get_mut(source) {
            s.skipped += 1;
        }
    }

    fn finish(&self, source: &str, started: std::time::Instant, result: &Result<(), CollectError>) {
        let now = now_seconds();
        if let Some(s) = locked(&self.status).get_mut(source) {
            s.duration_seconds = started.elapsed().as_secs_f64();
            match result {
                Ok(()) => {
                    s.success = Some(true);
                    s.last_success_seconds = Some(now);
                    s.last_error = None;
                }
                Err(e) => {
                    s.success = Some(false);
                    *s.errors.entry(e.kind).or_default() += 1;
                    s.last_error = Some((e.kind, e.message.chars().take(300).collect()));
                }
            }
        }
        // A failed write marks the store unhealthy; a successful collection (which wrote its
        // facts) clears that, never damage found by a check.
        match result {
            Err(e) if e.kind == ErrorKind::StoreFailed => {
                self.note_store(StoreProblem::WriteFailed(e.message.clone()))
            }
            Ok(()) => self.store_recovered(|p| matches!(p, StoreProblem::WriteFailed(_))),
            Err(_) => {}
        }
        if result.is_ok() {
            if let Err(e) = self.store.record_success(source, now) {
                tracing::warn!(source, error = %e, "could not persist the collector's last success time");
            }
        }
    }

    /// Runs one collection of `source` and stores its facts. A timed-out collection keeps
    /// running on its blocking thread until it notices `cancel`; its handle is returned so the
    /// scheduler can skip ticks until it is gone.
    pub async fn collect(
        &self,
        source: &Arc<Source>,
        shutdown: &tokio_util::sync::CancellationToken,
        targets: Option<std::collections::BTreeSet<String>>,
    ) -> (
        Result<(), CollectError>,
        Option<tokio::task::JoinHandle<()>>,
    ) {
        let name = source.config.name.clone();
        let started = std::time::Instant::now();
        let cancel = CancelFlag::default();
        let store = self.store.clone();
        let runner = source.clone();
        let flag = cancel.clone();
        // A sharded replica reads only the forge repositories whose asset it owns.
        let wants: Option<crate::collector::AssetFilter> = self.shard.map(|shard| {
            let config = self.config();
            Arc::new(move |asset: &str| shard.owns_asset(&config, asset))
                as crate::collector::AssetFilter
        });
        let (tx, rx) = tokio::sync::oneshot::channel();
        // The blocking task reads cursors, collects and applies in one go, so a timed-out
        // collection can never apply stale facts after a newer one (it checks `flag` first).
        let handle = tokio::task::spawn_blocking(move || {
            let result = (|| {
                let cursors = store
                    .cursors(&runner.config.name)
                    .map_err(|e| CollectError::new(ErrorKind::StoreFailed, e.to_string()))?;
                let batches = store.clone();
                let checkpoint: crate::collector::Checkpoint = Box::new(move |facts| {
                    batches
                        .apply(facts)
                        .map_err(|e| CollectError::new(ErrorKind::StoreFailed, e.to_string()))
                });
                let facts = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    runner.collector.collect(&CollectContext {
                        cursors,
                        cancel: flag.clone(),
                        checkpoint,
                        targets,
                        wants,
                    })
                }))
                .map_err(|p| {
                    CollectError::new(ErrorKind::Panic, crate::collector::panic_message(&p))
                })??;
                if flag.is_cancelled() {
                    return Err(CollectError::new(
                        ErrorKind::Cancelled,
                        "collection cancelled",
                    ));
                }
                store
                    .apply(&facts)
                    .map_err(|e| CollectError::new(ErrorKind::StoreFailed, e.to_string()))
            })();
            let _ = tx.send(result);
        });
        let timeout = source.config.timeout;
        let mut leftover = None;
        let result = tokio::select! {
            biased;
            r = rx => r.unwrap_or_else(|_| Err(CollectError::new(ErrorKind::Panic, "collector thread ended without a result"))),
            _ = tokio::time::sleep(timeout) => {
                cancel.cancel();
                leftover = Some(handle);
                Err(CollectError::new(ErrorKind::Timeout, format!("collection exceeded its timeout of {timeout:?}")))
            }
            _ = shutdown.cancelled() => {
                cancel.cancel();
                // Wait for the collector to notice; shutdown bounds the total wait.
                let _ = handle.await;
                Err(CollectError::new(ErrorKind::Cancelled, "collection cancelled by shutdown or a reload that changed the source"))
            }
        };
        match &result {
            Ok(()) => {
                tracing::info!(source = %name, collector = source.collector_kind(), duration_seconds = started.elapsed().as_secs_f64(), "collection succeeded")
            }
            Err(e) => {
                tracing::warn!(source = %name, collector = source.collector_kind(), error_kind = e.kind.as_str(), error = %e, "collection failed")
            }
        }
        self.finish(&name, started, &result);
        (result, leftover)
    }

    /// Derives every family from the store and replaces the served snapshot. When deriving
    /// fails, the last good derived families are served with fresh self metrics, among them
    /// `mlsteward_store_healthy 0`.
    pub async fn render(&self) {
        let _guard = self.render_lock.lock().await;
        // Decided before deriving, so the snapshot holds what readiness promises.
        let complete = self.all_collected_once();
        let app = self.clone();
        let rendered = tokio::task::spawn_blocking(move || app.render_text()).await;
        match rendered {
            Ok(text) => {
                *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Snapshot::new(text);
                if complete {
                    self.ready.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "rendering metrics panicked; serving the previous snapshot")
            }
        }
    }

    /// Re-renders the self metrics beside the last derived families, without deriving again
    /// (a webhook's counters changed). Serialised with [`App::render`], so it never replaces a
    /// newer snapshot.
    pub async fn render_self(&self) {
        let _guard = self.render_lock.lock().await;
        let app = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut text = locked(&app.derived).clone();
            text.push_str(&exposition::render(&app.self_families()));
            *app.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Snapshot::new(text);
        })
        .await;
    }

    /// The exposition text: derived families (the last good ones when deriving fails), then
    /// self metrics.
    pub fn render_text(&self) -> String {
        self.render_text_at(now_seconds() as i64)
    }

    /// The exposition as of `now` (seconds since the epoch), for windows.
    pub fn render_text_at(&self, now: i64) -> String {
        let config = self.config();
        let derived = match self.shard.filter(|s| s.count > 1) {
            Some(shard) => {
                let peers = self
                    .peers
                    .as_ref()
                    .map(|p| p.summaries())
                    .unwrap_or_default();
                let ready = self.all_collected_ever();
                let org_wide =
                    shard.index == 0 && ready && self.peers.as_ref().is_some_and(|p| p.complete());
                crate::derive::sharded_families(&self.store, &config, now, shard, ready, &peers)
                    .map(|(families, own)| {
                        let json = own.to_json();
                        let etag = format!(
                            "\"{}\"",
                            crate::webhooks::hex(&sha2::Sha256::digest(json.as_bytes())[..16])
                        );
                        *locked(&self.own_people) = Some((Arc::new(json), etag));
                        shard.filter(&config, families, org_wide)
                    })
            }
            None => crate::derive::families(&self.store, &config, now),
        };
        match derived {
            Ok(families) => {
                *locked(&self.derived) = exposition::render(&families);
                *locked(&self.assets_json) = Arc::new(crate::api::assets_json(&config, &families));
                let find = |name: &str| families.iter().find(|f| f.name == name);
                let assets = find("mlsteward_asset_info").map_or(0, |f| f.samples.len());
                let active = find("mlsteward_active_contributors")
                    .and_then(|f| {
                        f.samples
                            .iter()
                            .find(|s| s.labels.iter().any(|(k, v)| *k == "window" && v == "90d"))
                    })
                    .map(|s| s.value);
                *locked(&self.counts) = (assets, active);
                self.store_recovered(|p| matches!(p, StoreProblem::ReadFailed(_)));
            }
            Err(e) => {
                tracing::warn!("deriving metrics failed; serving the last good ones");
                self.note_store(StoreProblem::ReadFailed(e.to_string()));
            }
        }
        // Deriving built and dropped every per-person table: give that memory back.
        crate::trim_heap();
        let mut text = locked(&self.derived).clone();
        text.push_str(&exposition::render(&self.self_families()));
        text
    }

    fn self_families(&self) -> Vec<Family> {
        let mut success = Family::new("mlsteward_collector_success", MetricType::Gauge, "1 if the source's last collection succeeded, 0 if it failed; absent until its first collection ends.");
        let mut duration = Family::new(
            "mlsteward_collector_duration_seconds",
            MetricType::Gauge,
            "Wall-clock duration of the source's last collection, including storing its facts.",
        );
        let mut last = Family::new(
            "mlsteward_collector_last_success_timestamp_seconds",
            MetricType::Gauge,
            "When the source last collected successfully (persisted across restarts). Every other metric of the source is cached as of this time.",
        );
        let mut errors = Family::new(
            "mlsteward_collector_errors_total",
            MetricType::Counter,
            ErrorKind::help(),
        );
        let mut interval = Family::new(
            "mlsteward_collector_interval_seconds",
            MetricType::Gauge,
            "The source's configured schedule period: its interval, or the time between its cron expression's next two firings.",
        );
        let mut skipped = Family::new(
            "mlsteward_collector_skipped_total",
            MetricType::Counter,
            "Scheduled collections skipped because the previous one (e.g. a timed-out one) had not finished yet.",
        );
        let status = locked(&self.status).clone();
        let sources = self.sources();
        for source in sources.iter() {
            let name = &source.config.name;
            let Some(s) = status.get(name) else { continue };
            let labels = || {
                vec![
                    ("collector", source.collector_kind().to_string()),
                    ("source", name.clone()),
                ]
            };
            if let Some(ok) = s.success {
                success.push(labels(), if ok { 1.0 } else { 0.0 });
                duration.push(labels(), s.duration_seconds);
            }
            if let Some(at) = s.last_success_seconds {
                last.push(labels(), at);
            }
            for kind in ErrorKind::ALL {
                let mut l = labels();
                l.push(("error_kind", kind.as_str().to_string()));
                errors.push(l, s.errors.get(&kind).copied().unwrap_or(0) as f64);
            }
            skipped.push(labels(), s.skipped as f64);
            interval.push(
                labels(),
                source.config.schedule.nominal_interval().as_secs_f64(),
            );
        }
        let upstream = upstream_families(sources.iter().filter_map(|source| {
            let stats = source.collector.http_stats()?;
            Some((source.collector_kind(), source.config.name.as_str(), stats))
        }));
        let mut healthy = Family::new(
            "mlsteward_store_healthy",
            MetricType::Gauge,
            "1 if the fact store is usable: its start-up check found no damage and its last read and write succeeded; 0 otherwise (the last good metrics keep being served; see the landing page and logs for why).",
        );
        healthy.push(
            vec![],
            if self.store_problem().is_some() {
                0.0
            } else {
                1.0
            },
        );
        let mut build = Family::new(
            "mlsteward_build_info",
            MetricType::Gauge,
            "Always 1; labels name the running build.",
        );
        build.push(
            vec![("version", env!("CARGO_PKG_VERSION").to_string())],
            1.0,
        );
        let reload = *locked(&self.reload_state);
        let mut reload_ok = Family::new(
            "mlsteward_config_last_reload_successful",
            MetricType::Gauge,
            "1 if the last attempt to reload the configuration (SIGHUP or POST /-/reload) succeeded, or none was made; 0 if it failed and the previous configuration stays in force.",
        );
        reload_ok.push(vec![], if reload.successful { 1.0 } else { 0.0 });
        let mut reload_at = Family::new(
            "mlsteward_config_last_reload_success_timestamp_seconds",
            MetricType::Gauge,
            "When the configuration in force was loaded: start-up, or the last successful reload.",
        );
        reload_at.push(vec![], reload.success_seconds.floor());
        let forges: Vec<&'static str> = crate::webhooks::FORGES
            .into_iter()
            .filter(|f| {
                sources.iter().any(|s| {
                    s.config
                        .settings
                        .webhook()
                        .is_some_and(|(forge, _)| forge == *f)
                })
            })
            .collect();
        let mut families = vec![
            success, duration, last, interval, errors, skipped, healthy, build, reload_ok,
            reload_at,
        ];
        families.extend(self.webhooks.family(&forges));
        if let Some(peers) = &self.peers {
            families.extend(peers.families());
        }
        if let Some(shard) = self.shard.filter(|s| s.count > 1) {
            let mut info = Family::new(
                "mlsteward_shard_info",
                MetricType::Gauge,
                "Always 1: this replica's shard (0-based) of how many (`--shard K/N`). It exports only the assets and git sources it owns; shard 0 also exports the organisation-wide distinct-people families once it has every peer's people summary (`--shard.peers`).",
            );
            info.push(
                vec![
                    ("shard", shard.index.to_string()),
                    ("shards", shard.count.to_string()),
                ],
                1.0,
            );
            families.push(info);
        }
        families.extend(upstream);
        families
    }
}

/// The configuration a sharded replica runs: only the git sources it owns (the others are
/// mined by their owners) and the `http_probe` sources whose asset it owns (a probe runs on
/// one replica, not on every one); every other source stays and slices what it reads.
fn shard_sources(mut config: Config, shard: Option<crate::shard::Shard>) -> Config {
    if let Some(shard) = shard {
        let owned_probes: Vec<bool> = config
            .sources
            .iter()
            .map(|s| match &s.settings {
                crate::sources::Settings::HttpProbe(p) => shard.owns_asset(&config, &p.asset),
                _ => true,
            })
            .collect();
        let mut owned = owned_probes.into_iter();
        config
            .sources
            .retain(|s| owned.next().unwrap_or(true) && (s.kind != "git" || shard.owns(&s.name)));
    }
    config
}

impl Source {
    pub fn collector_kind(&self) -> &'static str {
        self.config.kind
    }
}

/// The upstream HTTP families, from each HTTP source's client statistics: (collector kind,
/// source name, statistics); none when there is no HTTP source.
pub fn upstream_families<'a>(
    sources: impl Iterator<Item = (&'static str, &'a str, crate::sources::http::Stats)>,
) -> Vec<Family> {
    let mut requests = Family::new(
        "mlsteward_upstream_requests_total",
        MetricType::Counter,
        "HTTP requests to the source's upstream since the process started, by status code (`error`: no answer). A 304 answers a conditional request and is not billed by GitHub.",
    );
    let mut durations = Family::new(
        "mlsteward_upstream_request_duration_seconds",
        MetricType::Histogram,
        "Time from sending a request to the source's upstream to reading its whole answer, for requests that got one.",
    );
    let mut remaining = Family::new(
        "mlsteward_upstream_rate_limit_remaining",
        MetricType::Gauge,
        "Requests left in the upstream's rate-limit budget, as its last answer stated (x-ratelimit-remaining or ratelimit-remaining); absent when it states none.",
    );
    let mut any = false;
    for (kind, source, stats) in sources {
        any = true;
        let labels = || {
            vec![
                ("collector", kind.to_string()),
                ("source", source.to_string()),
            ]
        };
        for (code, n) in &stats.requests {
            let mut l = labels();
            l.push(("code", code.clone()));
            requests.push(l, *n as f64);
        }
        durations.push_histogram(labels(), &stats.durations);
        if let Some(left) = stats.rate_limit.remaining {
            remaining.push(labels(), left as f64);
        }
    }
    // A daemon without HTTP sources shows none of these families.
    if any {
        vec![requests, durations, remaining]
    } else {
        Vec::new()
    }
}

/// How long shutdown waits for in-flight collections before exiting anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
