//! The runner: the sources in force and everything about collecting them. It runs each
//! source on its schedule ([`schedule`]), collects and stores, keeps each source's status,
//! and applies reloads. It never derives: after a collection it tells the render task which
//! fact types changed ([`Signals`]); it answers the render task's questions through
//! [`render::Inputs`].

pub mod discovered;
pub mod schedule;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::collector::{
    join_error, AssetFilter, Checkpoint, CollectContext, CollectError, ErrorKind,
};
use crate::exposition::Family;
use crate::facts::FactType;
use crate::peers::PeerExchange;
use crate::render;
use crate::shard::{PeopleSummary, Shard};
use crate::signal::{Dirty, Signals};
use crate::sources::{Config, Configured};
use crate::status::{CollectorStatus, Statuses, StoreHealth, StoreProblem};
use crate::store::Store;
use crate::web::WebConfig;
use crate::webhooks::Webhooks;
use crate::{locked, now_seconds};
pub use schedule::Scheduler;

/// How long shutdown waits for in-flight collections before exiting anyway.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The configuration in force and the sources built from it; replaced whole by a reload.
struct Running {
    config: Arc<Config>,
    sources: Arc<Vec<Arc<Configured>>>,
    /// The configuration as the file says it, before discovered repositories are added.
    file: Arc<Config>,
    discovered: Arc<discovered::Discovered>,
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
    /// Sources whose settings (secrets by value included), or the catalog or recognition
    /// rules they read, changed: their source is rebuilt and rescheduled.
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

/// A reload that succeeded.
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub summary: ReloadSummary,
    /// The signal that asks for the families to be derived again under the new
    /// configuration, when it changed anything derived.
    pub render: Option<u64>,
}

/// A cheap-to-clone handle on the running daemon's collection side.
#[derive(Clone)]
pub struct Runner {
    pub store: Store,
    running: Arc<RwLock<Running>>,
    /// Where remote repositories are mirrored (the store's directory).
    storage_dir: Arc<PathBuf>,
    reload_state: Arc<Mutex<ReloadState>>,
    /// Serialises reloads; holds the scheduler that starts and stops source loops.
    reloader: Arc<tokio::sync::Mutex<Option<Scheduler>>>,
    /// The configuration file reloads read; `None` for runners built from a config in memory.
    config_file: Option<Arc<PathBuf>>,
    /// TLS, basic auth and headers (`--web.config.file`); reloads re-read its file too.
    web: Arc<RwLock<Arc<WebConfig>>>,
    web_config_file: Option<Arc<PathBuf>>,
    /// Where `mlsteward demo` wrote the data this daemon serves; the landing page says so.
    pub demo: Option<Arc<PathBuf>>,
    webhooks: Arc<Webhooks>,
    /// `--shard K/N`: only the git sources, forge repositories and derived series it owns.
    shard: Option<Shard>,
    /// `--shard.peers`: the other replicas' people summaries, polled.
    peers: Option<Arc<PeerExchange>>,
    statuses: Arc<Statuses>,
    health: Arc<StoreHealth>,
    signals: Arc<Signals>,
    /// When the runner was made (seconds since the epoch): where the self counters start.
    started_at: f64,
    /// Per discovery source, the permits its repositories' collections take (its
    /// `concurrency`).
    limits: Arc<Mutex<Limits>>,
}

/// Per discovery source: its concurrency and the semaphore of that many permits.
type Limits = std::collections::HashMap<String, (usize, Arc<tokio::sync::Semaphore>)>;

impl Runner {
    /// Builds every source of `config` (a sharded replica only those it runs).
    pub fn new(
        config: Config,
        store: Store,
        storage_dir: &Path,
        shard: Option<Shard>,
    ) -> anyhow::Result<Runner> {
        let file = Arc::new(config);
        let (config, found) = discovered::expand(&file, &store);
        let config = shard_sources(config, shard);
        let mut sources = Vec::new();
        for s in &config.sources {
            sources.push(Configured::build(&config, s, storage_dir)?);
        }
        let mut runner = Runner::with_sources(config, store, sources)?;
        {
            let mut running = runner.running.write().unwrap_or_else(|p| p.into_inner());
            running.file = file;
            running.discovered = Arc::new(found);
        }
        runner.storage_dir = Arc::new(storage_dir.to_path_buf());
        runner.shard = shard.filter(|s| s.count > 1);
        Ok(runner)
    }

    /// A runner over sources built elsewhere (tests build their own).
    pub fn with_sources(
        config: Config,
        store: Store,
        sources: Vec<Configured>,
    ) -> anyhow::Result<Runner> {
        let last = store.last_successes()?;
        let statuses = Statuses::default();
        statuses.replace(
            |_| true,
            sources
                .iter()
                .map(|s| (s.config.name.clone(), last.get(&s.config.name).copied()))
                .collect(),
        );
        let config = Arc::new(config);
        Ok(Runner {
            store,
            running: Arc::new(RwLock::new(Running {
                file: config.clone(),
                config,
                sources: Arc::new(sources.into_iter().map(Arc::new).collect()),
                discovered: Arc::default(),
            })),
            storage_dir: Arc::new(PathBuf::from(".")),
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
            statuses: Arc::new(statuses),
            health: Arc::default(),
            signals: Arc::default(),
            started_at: now_seconds(),
            limits: Arc::default(),
        })
    }

    /// When the self counters started counting (the runner's making, with the process).
    pub fn started_at(&self) -> f64 {
        self.started_at
    }

    /// Reloads re-read `file`.
    pub fn with_config_file(mut self, file: &Path) -> Runner {
        self.config_file = Some(Arc::new(file.to_path_buf()));
        self
    }

    /// Exchanges people summaries with the other replicas (`--shard.peers`).
    pub fn with_peers(mut self, peers: Arc<PeerExchange>) -> Runner {
        self.peers = Some(peers);
        self
    }

    /// Marks the data as the demo's, written in `dir`.
    pub fn with_demo(mut self, dir: &Path) -> Runner {
        self.demo = Some(Arc::new(dir.to_path_buf()));
        self
    }

    /// Serves with `web` (read from `file`, which reloads read again).
    pub fn with_web_config(mut self, file: &Path, web: WebConfig) -> Runner {
        self.web = Arc::new(RwLock::new(Arc::new(web)));
        self.web_config_file = Some(Arc::new(file.to_path_buf()));
        self
    }

    /// This replica's shard, when sharded.
    pub fn shard(&self) -> Option<Shard> {
        self.shard
    }

    pub fn webhooks(&self) -> &Webhooks {
        &self.webhooks
    }

    /// The peer exchange, when `--shard.peers` is set.
    pub fn peers(&self) -> Option<Arc<PeerExchange>> {
        self.peers.clone()
    }

    /// The render side of this runner: the view HTTP serves and the render task that fills
    /// it from this runner's store, configuration and signals.
    pub fn renderer(&self) -> (crate::view::View, Arc<render::Renderer>) {
        let (view, renderer) = self.new_renderer();
        (view, Arc::new(renderer))
    }

    /// A render task for one exposition printed as text (see [`render::Renderer::text_only`]).
    pub fn text_renderer(&self) -> render::Renderer {
        self.new_renderer().1.text_only()
    }

    fn new_renderer(&self) -> (crate::view::View, render::Renderer) {
        let view = crate::view::View::default();
        let renderer = render::Renderer::new(
            self.store.clone(),
            view.clone(),
            Arc::new(self.clone()),
            self.health(),
            self.signals(),
        );
        (view, renderer)
    }

    /// Where the render task takes its signals from.
    pub fn signals(&self) -> Arc<Signals> {
        self.signals.clone()
    }

    /// The store's health, shared with the render task.
    pub fn health(&self) -> Arc<StoreHealth> {
        self.health.clone()
    }

    /// The web configuration in force.
    pub fn web(&self) -> Arc<WebConfig> {
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
    pub fn sources(&self) -> Arc<Vec<Arc<Configured>>> {
        self.running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .sources
            .clone()
    }

    pub fn status(&self, source: &str) -> Option<CollectorStatus> {
        self.statuses.get(source)
    }

    /// Why the store is unhealthy, if it is.
    pub fn store_problem(&self) -> Option<String> {
        self.health.problem()
    }

    /// Replaces the sources in force as a reload would, for tests with scripted sources.
    #[cfg(test)]
    pub(crate) fn set_sources(&self, sources: Vec<Arc<Configured>>) {
        self.running
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .sources = Arc::new(sources);
    }

    /// Hands the scheduler to the runner, which starts every source's loop; reloads then
    /// start, stop and reschedule loops through it.
    pub async fn start_scheduler(&self, scheduler: Scheduler) {
        let mut slot = self.reloader.lock().await;
        let mut scheduler = scheduler;
        scheduler.sync(self);
        *slot = Some(scheduler);
    }

    /// Re-reads the configuration file (and the web config file) and applies them: sources
    /// added, removed or changed are started, stopped or rescheduled, and the others keep
    /// running untouched. A bad file keeps the running configuration; the error says why
    /// (every problem with its position). A reload that changed nothing derives nothing.
    pub async fn reload(&self) -> Result<Reloaded, String> {
        let mut scheduler = self.reloader.lock().await;
        let result = self.reload_files().await;
        {
            let mut state = locked(&self.reload_state);
            state.successful = result.is_ok();
            if result.is_ok() {
                state.success_seconds = now_seconds();
            }
        }
        let changed = match &result {
            Ok((summary, changed)) => {
                if let Some(s) = scheduler.as_mut() {
                    s.sync(self);
                }
                tracing::info!(%summary, "configuration reloaded");
                *changed
            }
            Err(why) => {
                tracing::error!(error = %why, "reloading the configuration failed; the running configuration stays");
                false
            }
        };
        drop(scheduler);
        // The reload's own metrics change either way; the derived families only when the
        // configuration did.
        let render = if changed {
            Some(self.signals.send(Dirty::config()))
        } else {
            self.signals.touch();
            None
        };
        result.map(|(summary, _)| Reloaded { summary, render })
    }

    /// Reads both files and applies them; returns what changed and whether the configuration
    /// (anything derive reads) changed.
    async fn reload_files(&self) -> Result<(ReloadSummary, bool), String> {
        let Some(file) = self.config_file.clone() else {
            return Err("this daemon has no configuration file to reload".to_string());
        };
        let loaded = tokio::task::spawn_blocking(move || crate::sources::load_config(&file))
            .await
            .map_err(|e| format!("reading the configuration panicked: {e}"))?;
        let web_file = self.web_config_file.clone();
        let web = tokio::task::spawn_blocking(move || web_file.map(|f| WebConfig::reload(&f)))
            .await
            .map_err(|e| format!("reading the web configuration panicked: {e}"))?;
        let lines = |problems: &[crate::config::Problem]| {
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let (config, web) = match (loaded, web) {
            (Err(a), Some(Err(b))) => return Err(format!("{}\n{}", lines(&a), lines(&b))),
            (Err(problems), _) | (Ok(_), Some(Err(problems))) => return Err(lines(&problems)),
            (Ok(config), web) => (config, web.and_then(Result::ok)),
        };
        if let Some(web) = &web {
            self.web().check_reload(web)?;
        }
        let applied = self.apply_config(config)?;
        if let Some(web) = web {
            *self.web.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(web);
        }
        Ok(applied)
    }

    /// Replaces the configuration in force with `config`. A source keeps its source (and its
    /// loop) when its own settings, its secrets (by value) and everything sources read from
    /// the rest of the configuration (organisation, recognition rules, catalog) are unchanged;
    /// otherwise it is built anew. Nothing is replaced when a source cannot be built. Returns
    /// what changed, and whether anything in the configuration did.
    pub fn apply_config(&self, config: Config) -> Result<(ReloadSummary, bool), String> {
        let file = Arc::new(config);
        let (config, found) = discovered::expand(&file, &self.store);
        let config = shard_sources(config, self.shard);
        let was_discovered = self.discovered();
        let old_config = self.config();
        let old_sources = self.sources();
        let shared = |c: &Config| {
            (
                format!("{:?}|{:?}|{:?}", c.organisation, c.recognition, c.catalog),
                c.secrets,
            )
        };
        let shared_same = shared(&old_config) == shared(&config);
        let config_changed = !shared_same
            || format!("{:?}", old_config.baseline) != format!("{:?}", config.baseline)
            || old_config.sources.len() != config.sources.len();
        let mut summary = ReloadSummary::default();
        let mut sources = Vec::new();
        for s in &config.sources {
            let old = old_sources.iter().find(|o| o.config.name == s.name);
            match old {
                Some(o) if shared_same && same_source(&o.config, s) => {
                    summary.unchanged.push(s.name.clone());
                    sources.push(o.clone());
                }
                _ => {
                    let built = Configured::build(&config, s, &self.storage_dir)
                        .map_err(|e| format!("sources: {}: {e:#}", s.name))?;
                    if old.is_some() {
                        summary.changed.push(s.name.clone());
                    } else {
                        summary.added.push(s.name.clone());
                    }
                    sources.push(Arc::new(built));
                }
            }
        }
        summary.removed = old_sources
            .iter()
            .filter(|o| !config.sources.iter().any(|s| s.name == o.config.name))
            .map(|o| o.config.name.clone())
            .collect();
        let last = self.store.last_successes().unwrap_or_default();
        self.statuses.replace(
            |name| !summary.removed.iter().any(|r| r == name),
            summary
                .added
                .iter()
                .map(|name| (name.clone(), last.get(name).copied()))
                .collect(),
        );
        let changed = config_changed
            || !summary.added.is_empty()
            || !summary.removed.is_empty()
            || !summary.changed.is_empty();
        let found = Arc::new(found);
        *self.running.write().unwrap_or_else(|p| p.into_inner()) = Running {
            config: Arc::new(config),
            sources: Arc::new(sources),
            file,
            discovered: found.clone(),
        };
        self.let_go(&was_discovered, &found, &summary.removed);
        Ok((summary, changed))
    }

    /// The discovered repositories in force.
    pub fn discovered(&self) -> Arc<discovered::Discovered> {
        self.running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .discovered
            .clone()
    }

    /// After an expansion: deletes the mirrors of discovered repositories no longer
    /// collected, and drops the stored facts of the forgotten ones (once: a forgotten
    /// repository's cursors are gone with them).
    fn let_go(
        &self,
        before: &discovered::Discovered,
        now: &discovered::Discovered,
        removed: &[String],
    ) {
        let mirrors: Vec<PathBuf> = removed
            .iter()
            .filter(|r| {
                before.by_repository.contains_key(*r) && !now.by_repository.contains_key(*r)
            })
            .map(|r| {
                self.storage_dir
                    .join("git")
                    .join(crate::sources::git::mirror_name(r))
            })
            .collect();
        let forgotten = now.forgotten.clone();
        if mirrors.is_empty() && forgotten.is_empty() {
            return;
        }
        let (store, signals) = (self.store.clone(), self.signals.clone());
        // Off the caller's path: a mirror can be large, and an expansion runs under the
        // reload lock.
        std::thread::spawn(move || {
            for m in mirrors {
                match std::fs::remove_dir_all(&m) {
                    Ok(()) => {
                        tracing::info!(mirror = %m.display(), "removed the mirror of a repository no longer discovered")
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(mirror = %m.display(), error = %e, "could not remove a mirror")
                    }
                }
            }
            let mut wrote = BTreeSet::new();
            for repository in forgotten {
                if store.cursors(&repository).map_or(true, |c| c.is_empty()) {
                    continue;
                }
                let forget = crate::facts::Collection {
                    source: repository.clone(),
                    sets: vec![
                        crate::facts::FactSet::GitHistory(crate::facts::GitHistory {
                            reset: true,
                            ..Default::default()
                        }),
                        crate::facts::FactSet::Ownership(Default::default()),
                    ],
                    cursors: Default::default(),
                };
                match store.apply(&forget) {
                    Ok(w) => {
                        tracing::info!(repository = %repository, "forgot the facts of a repository removed longer than its retention");
                        wrote.extend(w.types);
                    }
                    Err(e) => {
                        tracing::warn!(repository = %repository, error = %e, "forgetting a removed repository failed")
                    }
                }
            }
            if !wrote.is_empty() {
                signals.send(Dirty::facts(wrote));
            }
        });
    }

    /// Expands the file's configuration again with what the discovery sources found, and
    /// applies it as a reload would (repositories found start, those gone stop).
    pub async fn rediscover(&self) {
        let mut scheduler = self.reloader.lock().await;
        let file = self
            .running
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .file
            .clone();
        match self.apply_config((*file).clone()) {
            Ok((summary, changed)) => {
                if let Some(s) = scheduler.as_mut() {
                    s.sync(self);
                }
                if changed {
                    tracing::info!(%summary, "discovered repositories applied");
                    self.signals.send(Dirty::config());
                }
            }
            Err(why) => {
                tracing::error!(error = %why, "applying the discovered repositories failed; the sources in force stay");
            }
        }
    }

    /// Records a skipped tick (the self metrics change; nothing is derived).
    pub fn note_skipped(&self, source: &str) {
        self.statuses.update(source, |s| s.skipped += 1);
        self.signals.touch();
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
            if self.health.note(StoreProblem::Damaged(damage)) {
                self.signals.touch();
            }
        }
    }

    fn finish(&self, source: &str, started: Instant, result: &mut Result<(), CollectError>) {
        // A failure while the process is out of files or disk is that, not the source's.
        if let Err(e) = result.as_mut() {
            if e.kind != ErrorKind::ResourceExhausted && e.kind != ErrorKind::Cancelled {
                if let Some(what) = crate::collector::exhausted(&self.storage_dir) {
                    e.kind = ErrorKind::ResourceExhausted;
                    e.message = format!("the process ran out of {what}: {}", e.message);
                }
            }
        }
        let now = now_seconds();
        self.statuses.update(source, |s| {
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
        });
        // A failed write marks the store unhealthy; a successful collection (which wrote its
        // facts) clears that, never damage found by a check.
        match result {
            Err(e) if e.kind == ErrorKind::StoreFailed => {
                self.health
                    .note(StoreProblem::WriteFailed(e.message.clone()));
            }
            Ok(()) => {
                self.health.recovered(false);
            }
            Err(_) => {}
        }
    }

    /// Runs one collection of `source` and stores its facts, then tells the render task what
    /// it wrote. The source's timeout cancels the collection (its requests in flight end);
    /// a collection that works on blocking threads stops at its next unit of work, and its
    /// task's handle is returned so the scheduler can skip ticks until it is gone.
    pub async fn collect(
        &self,
        source: &Arc<Configured>,
        shutdown: &CancellationToken,
        targets: Option<BTreeSet<String>>,
    ) -> (
        Result<(), CollectError>,
        Option<tokio::task::JoinHandle<()>>,
    ) {
        let name = source.config.name.clone();
        // A discovered repository waits for one of its discovery source's permits: an
        // organisation's first mine runs `concurrency` repositories at a time.
        let _permit = match self.discovered().by_repository.get(&name) {
            Some(discovery) => {
                let limit = self.discovered().sources.get(discovery).map_or(1, |s| s.0);
                let semaphore = {
                    let mut limits = locked(&self.limits);
                    let entry = limits
                        .entry(discovery.clone())
                        .or_insert_with(|| (limit, Arc::new(tokio::sync::Semaphore::new(limit))));
                    // A reload that changed the limit: new collections take the new one.
                    if entry.0 != limit {
                        *entry = (limit, Arc::new(tokio::sync::Semaphore::new(limit)));
                    }
                    entry.1.clone()
                };
                tokio::select! {
                    permit = semaphore.acquire_owned() => permit.ok(),
                    _ = shutdown.cancelled() => None,
                }
            }
            None => None,
        };
        let started = Instant::now();
        let cancel = shutdown.child_token();
        let written: Arc<Mutex<BTreeSet<FactType>>> = Arc::default();
        let (mut result, leftover) = self
            .collect_and_store(source, &cancel, shutdown, targets, &written)
            .await;
        self.finish(&name, started, &mut result);
        match &result {
            Ok(()) => {
                tracing::info!(source = %name, collector = source.kind(), duration_seconds = started.elapsed().as_secs_f64(), "collection succeeded")
            }
            Err(e) => {
                tracing::warn!(source = %name, collector = source.kind(), error_kind = e.kind.as_str(), error = %e, "collection failed")
            }
        }
        // What it wrote (a timed-out mine may have stored batches) and its own status, to the
        // render task first: nothing below delays it.
        let taken = std::mem::take(&mut *locked(&written));
        let wrote = !taken.is_empty();
        self.signals.send(Dirty::facts(taken));
        // A timed-out mine on blocking threads may still store a batch before it notices:
        // what it writes then is signalled when it is gone, or the next attempt (which finds
        // those facts stored, so writes nothing) would leave them underived.
        let leftover = leftover.map(|task| {
            let signals = self.signals.clone();
            tokio::spawn(async move {
                let _ = task.await;
                let late = std::mem::take(&mut *locked(&written));
                if !late.is_empty() {
                    signals.send(Dirty::facts(late));
                }
            })
        });
        // A collection that read large answers (it wrote facts, or refused a body over its
        // cap) freed them: give that back to the system rather than keep it in the
        // allocator's arenas. One that found nothing new has little to give back.
        // A quick one (under a second) read little: trimming a large heap costs 10-20 ms
        // whatever was freed.
        let trim = (wrote && started.elapsed() >= Duration::from_secs(1))
            || result
                .as_ref()
                .is_err_and(|e| e.kind == ErrorKind::DecodeFailed);
        let (store, at, ok) = (self.store.clone(), now_seconds(), result.is_ok());
        let persisted = tokio::task::spawn_blocking(move || {
            if trim {
                crate::trim_heap();
            }
            if ok {
                store.record_success(&name, at)
            } else {
                Ok(())
            }
        })
        .await;
        if let Ok(Err(e)) = persisted {
            tracing::warn!(source = %source.config.name, error = %e, "could not persist the collector's last success time");
        }
        self.check_store_file();
        if source.config.settings.discovery().is_some() && result.is_ok() {
            let runner = self.clone();
            tokio::spawn(async move { runner.rediscover().await });
        }
        (result, leftover)
    }

    async fn collect_and_store(
        &self,
        source: &Arc<Configured>,
        cancel: &CancellationToken,
        shutdown: &CancellationToken,
        targets: Option<BTreeSet<String>>,
        written: &Arc<Mutex<BTreeSet<FactType>>>,
    ) -> (
        Result<(), CollectError>,
        Option<tokio::task::JoinHandle<()>>,
    ) {
        let store_error =
            |e: crate::store::StoreError| CollectError::new(ErrorKind::StoreFailed, e.to_string());
        let cursors = {
            let store = self.store.clone();
            let name = source.config.name.clone();
            match tokio::task::spawn_blocking(move || store.cursors(&name)).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => return (Err(store_error(e)), None),
                Err(e) => return (Err(join_error(e)), None),
            }
        };
        // A sharded replica reads only the forge repositories whose asset it owns.
        let wants: Option<AssetFilter> = self.shard.map(|shard| {
            let config = self.config();
            Arc::new(move |asset: &str| shard.owns_asset(&config, asset)) as AssetFilter
        });
        let checkpoint: Checkpoint = {
            let (store, written) = (self.store.clone(), written.clone());
            Arc::new(move |facts| {
                let w = store.apply(facts).map_err(store_error)?;
                locked(&written).extend(w.types);
                Ok(())
            })
        };
        let ctx = CollectContext {
            cursors,
            cancel: cancel.clone(),
            checkpoint,
            targets,
            wants,
        };
        let (runner, store, token, written) = (
            source.clone(),
            self.store.clone(),
            cancel.clone(),
            written.clone(),
        );
        // Its own task: a collection that panics or hangs stays there.
        let mut task = tokio::spawn(async move {
            let facts = runner.source.collect(&ctx).await?;
            // A timed-out or cancelled collection never stores what it found late.
            if token.is_cancelled() {
                return Err(CollectError::new(
                    ErrorKind::Cancelled,
                    "collection cancelled",
                ));
            }
            let w = tokio::task::spawn_blocking(move || store.apply(&facts))
                .await
                .map_err(join_error)?
                .map_err(store_error)?;
            locked(&written).extend(w.types);
            Ok(())
        });
        let timeout = source.config.timeout;
        tokio::select! {
            biased;
            joined = &mut task => (joined.unwrap_or_else(|e| Err(join_error(e))), None),
            _ = tokio::time::sleep(timeout) => {
                cancel.cancel();
                (Err(CollectError::new(ErrorKind::Timeout, format!("collection exceeded its timeout of {timeout:?}"))), Some(tokio::spawn(async move { let _ = task.await; })))
            }
            _ = shutdown.cancelled() => {
                // Wait for the collection to notice; shutdown bounds the total wait.
                let _ = task.await;
                (Err(CollectError::new(ErrorKind::Cancelled, "collection cancelled by shutdown or a reload that changed the source")), None)
            }
        }
    }

    /// Notices a store file deleted or replaced under the daemon (writes would go to an
    /// unlinked file and be lost at the next start).
    fn check_store_file(&self) {
        if let Some(why) = self.store.file_gone() {
            if self.health.note(StoreProblem::Gone(why)) {
                self.signals.touch();
            }
        }
    }

    /// The self metrics the runner keeps: collectors, store, build, reload, webhooks, peers,
    /// shard, upstream requests.
    pub fn self_families(&self) -> Vec<Family> {
        let mut success = Family::of(&crate::metrics::COLLECTOR_SUCCESS);
        let mut duration = Family::of(&crate::metrics::COLLECTOR_DURATION_SECONDS);
        let mut last = Family::of(&crate::metrics::COLLECTOR_LAST_SUCCESS_TIMESTAMP_SECONDS);
        let mut errors = Family::of(&crate::metrics::COLLECTOR_ERRORS_TOTAL);
        let mut interval = Family::of(&crate::metrics::COLLECTOR_INTERVAL_SECONDS);
        let mut skipped = Family::of(&crate::metrics::COLLECTOR_SKIPPED_TOTAL);
        let status = self.statuses.all();
        let sources = self.sources();
        for source in sources.iter() {
            let name = &source.config.name;
            let Some(s) = status.get(name) else { continue };
            let labels = || {
                vec![
                    ("collector", source.kind().to_string()),
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
            let stats = source.source.http_stats()?;
            Some((source.kind(), source.config.name.as_str(), stats))
        }));
        let mut healthy = Family::of(&crate::metrics::STORE_HEALTHY);
        healthy.push(vec![], if self.health.is_healthy() { 1.0 } else { 0.0 });
        let mut build = Family::of(&crate::metrics::BUILD_INFO);
        build.push(
            vec![("version", env!("CARGO_PKG_VERSION").to_string())],
            1.0,
        );
        let reload = *locked(&self.reload_state);
        let mut reload_ok = Family::of(&crate::metrics::CONFIG_LAST_RELOAD_SUCCESSFUL);
        reload_ok.push(vec![], if reload.successful { 1.0 } else { 0.0 });
        let mut reload_at =
            Family::of(&crate::metrics::CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS);
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
        let mut discovered = Family::of(&crate::metrics::DISCOVERED_REPOSITORIES);
        for (source, (_, states)) in &self.discovered().sources {
            for (state, n) in states {
                discovered.push(
                    vec![("source", source.clone()), ("state", state.to_string())],
                    *n as f64,
                );
            }
        }
        let mut families = vec![success, duration, last, interval, errors, skipped];
        // Only with a discovery source.
        if !discovered.samples.is_empty() {
            families.push(discovered);
        }
        families.extend([healthy, build, reload_ok, reload_at]);
        families.extend(self.webhooks.family(&forges));
        if let Some(peers) = &self.peers {
            families.extend(peers.families());
        }
        if let Some(shard) = self.shard {
            let mut info = Family::of(&crate::metrics::SHARD_INFO);
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

impl render::Inputs for Runner {
    fn config(&self) -> Arc<Config> {
        Runner::config(self)
    }

    fn self_families(&self) -> Vec<Family> {
        Runner::self_families(self)
    }

    fn generation(&self) -> u64 {
        self.signals.generation()
    }

    fn all_collected_once(&self) -> bool {
        self.statuses.all_collected_once()
    }

    fn all_collected_ever(&self) -> bool {
        self.statuses.all_collected_ever()
    }

    fn shard(&self) -> Option<Shard> {
        self.shard
    }

    fn peers(&self) -> (Vec<PeopleSummary>, bool) {
        match &self.peers {
            Some(p) => (p.summaries(), p.complete()),
            None => (Vec::new(), false),
        }
    }
}

/// Whether two configurations of one source are the same by value: their settings and their
/// secrets' fingerprints (a `Debug` that hides secrets cannot tell a rotated one).
fn same_source(a: &crate::sources::SourceConfig, b: &crate::sources::SourceConfig) -> bool {
    a.secrets == b.secrets && format!("{a:?}") == format!("{b:?}")
}

/// The configuration a sharded replica runs: only the git sources it owns (the others are
/// mined by their owners) and the probing sources whose asset it owns (a probe runs on one
/// replica, not on every one); every other source stays and slices what it reads.
fn shard_sources(mut config: Config, shard: Option<Shard>) -> Config {
    if let Some(shard) = shard {
        let owned: Vec<bool> = config
            .sources
            .iter()
            .map(|s| match s.settings.probed_asset() {
                Some(asset) => shard.owns_asset(&config, asset),
                None => s.kind != "git" || shard.owns(&s.name),
            })
            .collect();
        let mut owned = owned.into_iter();
        config.sources.retain(|_| owned.next().unwrap_or(true));
    }
    config
}

/// The upstream HTTP families, from each HTTP source's client statistics: (collector kind,
/// source name, statistics); none when there is no HTTP source.
pub fn upstream_families<'a>(
    sources: impl Iterator<Item = (&'static str, &'a str, crate::sources::http::Stats)>,
) -> Vec<Family> {
    let mut requests = Family::of(&crate::metrics::UPSTREAM_REQUESTS_TOTAL);
    let mut durations = Family::of(&crate::metrics::UPSTREAM_REQUEST_DURATION_SECONDS);
    let mut remaining = Family::of(&crate::metrics::UPSTREAM_RATE_LIMIT_REMAINING);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// One source of each kind that reads a secret, with the secret written as `SECRET` (or,
    /// for `*_file` keys, in a file whose content is `SECRET`).
    const SOURCES: &[(&str, &str)] = &[
        ("git url", "type: git\n    url: https://u:SECRET@git.example/r.git"),
        ("git password", "type: git\n    url: https://git.example/r.git\n    username: u\n    password: SECRET"),
        ("git password_file", "type: git\n    url: https://git.example/r.git\n    username: u\n    password_file: secret.txt"),
        ("github token", "type: github\n    repositories: [a/b]\n    token: SECRET"),
        ("github token_file", "type: github\n    repositories: [a/b]\n    token_file: secret.txt"),
        ("github webhook_secret", "type: github\n    repositories: [a/b]\n    webhook_secret: SECRET-0123456789abcdef"),
        ("github webhook_secret_file", "type: github\n    repositories: [a/b]\n    webhook_secret_file: secret.txt"),
        ("github api_url", "type: github\n    repositories: [a/b]\n    api_url: https://u:SECRET@gh.example/api"),
        ("gitlab token", "type: gitlab\n    projects: [a/b]\n    token: SECRET"),
        ("gitlab webhook_secret", "type: gitlab\n    projects: [a/b]\n    webhook_secret: SECRET-0123456789abcdef"),
        ("jenkins token", "type: jenkins\n    url: https://ci.example/\n    username: u\n    token: SECRET"),
        ("coverage token", "type: coverage\n    token: SECRET\n    reports:\n      - asset: a\n        url: https://cov.example/c.xml"),
        ("mlflow token", "type: mlflow\n    url: https://mlflow.example\n    token: SECRET"),
        ("huggingface token", "type: huggingface\n    author: acme\n    token: SECRET"),
        ("feast registry_url", "type: feast\n    registry_url: https://u:SECRET@feast.example\n    project: p"),
        ("http_probe url", "type: http_probe\n    asset: a\n    url: https://probe.example/?key=SECRET"),
    ];

    fn config(dir: &Path, source: &str, secret: &str, salt: &str) -> Config {
        std::fs::write(
            dir.join("secret.txt"),
            format!("{secret}-0123456789abcdef\n"),
        )
        .unwrap();
        let yaml = format!(
            "recognition:\n  pseudonym_salt: {salt}\nsources:\n  - name: s\n    {}\n",
            source.replace("SECRET", secret)
        );
        crate::sources::parse_config(&dir.join("c.yaml"), &yaml, &|_| None)
            .unwrap_or_else(|p| panic!("{yaml}\n{p:?}"))
    }

    /// A reload compares secrets by value: every kind of secret, rotated (inline, in its file,
    /// or in a URL), rebuilds the source; the same secret keeps it.
    #[test]
    fn every_rotated_secret_rebuilds_its_source() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        for (what, source) in SOURCES {
            let runner = Runner::new(
                config(dir.path(), source, "one", "salt"),
                store.clone(),
                dir.path(),
                None,
            )
            .unwrap();
            let (same, changed) = runner
                .apply_config(config(dir.path(), source, "one", "salt"))
                .unwrap();
            assert_eq!(same.unchanged, ["s"], "{what}: an unchanged secret");
            assert!(!changed, "{what}: nothing derive reads changed");
            let (rotated, changed) = runner
                .apply_config(config(dir.path(), source, "two", "salt"))
                .unwrap();
            assert_eq!(rotated.changed, ["s"], "{what}: a rotated secret");
            assert!(changed, "{what}");
            let (salted, _) = runner
                .apply_config(config(dir.path(), source, "two", "pepper"))
                .unwrap();
            assert_eq!(salted.changed, ["s"], "{what}: a new pseudonym salt");
        }
    }
}
