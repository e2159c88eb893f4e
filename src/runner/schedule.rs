//! Runs each source on its own schedule: an initial jitter, then every interval (or at each
//! cron time). Missed ticks are skipped, never queued. Each source is its own task, so a
//! collector that fails, panics or hangs never delays another.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Runner;
use crate::config::Schedule;
use crate::sources::Configured;

/// Initial jitter: uniform in [0, min(interval / 10, 15s)], so sources configured alike do
/// not all hit their upstreams at the same instant, yet readiness is not delayed long. Cron
/// sources collect at start-up without jitter, then at their cron times.
pub fn initial_jitter(schedule: &Schedule) -> Duration {
    match schedule {
        Schedule::Interval(every) => {
            let cap = (*every / 10).min(Duration::from_secs(15));
            cap.mul_f64(fastrand::f64())
        }
        Schedule::Cron { .. } => Duration::ZERO,
    }
}

/// Time until the schedule's next firing after now.
fn until_next(schedule: &Schedule) -> Duration {
    match schedule {
        Schedule::Interval(every) => *every,
        Schedule::Cron { schedule, .. } => {
            let now = chrono::Utc::now();
            schedule
                .after(&now)
                .next()
                .and_then(|next| (next - now).to_std().ok())
                .unwrap_or(Duration::from_secs(60))
        }
    }
}

/// One loop per source, each with its own cancellation under `shutdown`, so a reload can stop
/// or replace one source's loop without touching the others.
pub struct Scheduler {
    tracker: TaskTracker,
    shutdown: CancellationToken,
    /// Source name → the source its loop runs and the token that stops that loop.
    running: BTreeMap<String, (Arc<Configured>, CancellationToken)>,
}

impl Scheduler {
    pub fn new(tracker: &TaskTracker, shutdown: &CancellationToken) -> Scheduler {
        Scheduler {
            tracker: tracker.clone(),
            shutdown: shutdown.clone(),
            running: BTreeMap::new(),
        }
    }

    /// Makes the running loops match the runner's sources: a loop whose source is still in
    /// force (the same one) keeps running; the others stop, and sources without a loop get one.
    pub fn sync(&mut self, runner: &Runner) {
        let sources = runner.sources();
        self.running.retain(|name, (source, token)| {
            let keep = sources
                .iter()
                .any(|s| &s.config.name == name && Arc::ptr_eq(s, source));
            if !keep {
                token.cancel();
            }
            keep
        });
        if self.shutdown.is_cancelled() {
            return;
        }
        for source in sources.iter() {
            if self.running.contains_key(&source.config.name) {
                continue;
            }
            let token = self.shutdown.child_token();
            self.tracker
                .spawn(run_source(runner.clone(), source.clone(), token.clone()));
            self.running
                .insert(source.config.name.clone(), (source.clone(), token));
        }
    }
}

async fn run_source(runner: Runner, source: Arc<Configured>, shutdown: CancellationToken) {
    // A discovered repository starts at once: its discovery source's permits already spread
    // an organisation's collections ([`Runner::collect`]).
    let discovered = runner
        .discovered()
        .by_repository
        .contains_key(&source.config.name);
    let jitter = if discovered {
        Duration::ZERO
    } else {
        initial_jitter(&source.config.schedule)
    };
    tokio::select! {
        _ = tokio::time::sleep(jitter) => {}
        _ = shutdown.cancelled() => return,
    }
    let mut interval = match source.config.schedule {
        Schedule::Interval(every) => {
            let mut i = tokio::time::interval(every);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            Some(i)
        }
        Schedule::Cron { .. } => None,
    };
    let mut leftover: Option<tokio::task::JoinHandle<()>> = None;
    // Every source collects once at start-up (readiness waits for it), then on schedule.
    let mut first = true;
    loop {
        let wait = async {
            match interval.as_mut() {
                Some(i) => {
                    i.tick().await;
                }
                None if first => {}
                None => tokio::time::sleep(until_next(&source.config.schedule)).await,
            }
        };
        // A webhook wakes the loop for a collection of just the repositories it named.
        let woken = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            _ = wait => false,
            _ = source.wake.notified() => true,
        };
        first = false;
        if leftover.as_ref().is_some_and(|h| !h.is_finished()) {
            if woken {
                // Asked for again: the request stays pending until the collection can run.
                source.wake.notify_one();
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            tracing::warn!(source = %source.config.name, "previous collection still running; skipping this tick");
            runner.note_skipped(&source.config.name);
            continue;
        }
        // A scheduled collection reads everything, so it answers pending requests too.
        let requested = source.take_requests();
        let targets = match (woken, requested.is_empty()) {
            (false, _) => None,
            (true, true) => continue,
            (true, false) => {
                tracing::info!(source = %source.config.name, repositories = ?requested, "collecting what a webhook named");
                Some(requested)
            }
        };
        let (_, still_running) = runner.collect(&source, &shutdown, targets).await;
        leftover = still_running;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::collector::{CollectContext, CollectError, ErrorKind};
    use crate::config::Recognition;
    use crate::facts::Collection;
    use crate::render::Renderer;
    use crate::sources::git::{GitLocation, GitSettings};
    use crate::sources::{Collecting, Config, Source, SourceConfig};
    use crate::view::View;

    #[derive(Clone, Copy, Debug)]
    enum Behaviour {
        Succeed,
        Fail,
        Panic,
        /// Waits until cancelled.
        Hang,
    }

    /// A test double with scripted outcomes.
    struct Scripted {
        name: String,
        behaviour: Behaviour,
        calls: Arc<AtomicUsize>,
    }

    impl Source for Scripted {
        fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                match self.behaviour {
                    Behaviour::Succeed => Ok(Collection {
                        source: self.name.clone(),
                        ..Collection::default()
                    }),
                    Behaviour::Fail => Err(CollectError::new(
                        ErrorKind::RepositoryFailed,
                        "scripted failure",
                    )),
                    Behaviour::Panic => panic!("scripted panic"),
                    Behaviour::Hang => {
                        ctx.cancel.cancelled().await;
                        Err(CollectError::new(
                            ErrorKind::Cancelled,
                            "scripted hang cancelled",
                        ))
                    }
                }
            })
        }
    }

    fn source(
        name: &str,
        behaviour: Behaviour,
        every: Duration,
        timeout: Duration,
    ) -> (Configured, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let config = SourceConfig {
            name: name.into(),
            schedule: Schedule::Interval(every),
            timeout,
            kind: "git",
            settings: Arc::new(GitSettings {
                location: GitLocation::Path(".".into()),
                branch: None,
                path_kinds: vec![],
                changelog_paths: None,
                backstage: false,
                path_at: None,
                branch_at: None,
                keep_packs: true,
            }),
            secrets: Default::default(),
        };
        let scripted = Scripted {
            name: name.into(),
            behaviour,
            calls: calls.clone(),
        };
        (Configured::new(config, Box::new(scripted)), calls)
    }

    fn empty_config() -> Config {
        Config {
            organisation: None,
            baseline: Default::default(),
            recognition: Recognition::default(),
            sources: vec![],
            catalog: vec![],
            secrets: Default::default(),
        }
    }

    /// Advances paused time in small steps, letting blocking threads run in between.
    async fn advance(total: Duration) {
        let step = Duration::from_millis(100);
        let mut done = Duration::ZERO;
        while done < total {
            tokio::time::advance(step).await;
            for _ in 0..5 {
                tokio::task::yield_now().await;
                std::thread::sleep(Duration::from_millis(2));
            }
            done += step;
        }
    }

    /// A runner over `sources` with its scheduler loops and its render task running; the
    /// store lives in `dir`.
    fn start(
        dir: &std::path::Path,
        sources: Vec<Configured>,
    ) -> (Runner, View, Arc<Renderer>, CancellationToken, TaskTracker) {
        let store = crate::store::Store::open(&dir.join("s.db")).unwrap();
        let runner = Runner::with_sources(empty_config(), store.clone(), sources).unwrap();
        let view = View::default();
        let renderer = Arc::new(Renderer::new(
            store,
            view.clone(),
            Arc::new(runner.clone()),
            runner.health(),
            runner.signals(),
        ));
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        tracker.spawn(renderer.clone().run(shutdown.clone()));
        Scheduler::new(&tracker, &shutdown).sync(&runner);
        tracker.close();
        (runner, view, renderer, shutdown, tracker)
    }

    #[tokio::test(start_paused = true)]
    async fn failing_panicking_and_hanging_collectors_do_not_affect_others() {
        let dir = tempfile::tempdir().unwrap();
        let every = Duration::from_secs(10);
        // Only the hanging source has a short timeout; the others finish in real milliseconds,
        // and a generous timeout keeps a slow (loaded) machine from turning them into timeouts.
        let generous = Duration::from_secs(60);
        let (ok, ok_calls) = source("ok", Behaviour::Succeed, every, generous);
        let (fail, _) = source("fail", Behaviour::Fail, every, generous);
        let (boom, _) = source("boom", Behaviour::Panic, every, generous);
        let (hang, hang_calls) = source("hang", Behaviour::Hang, every, Duration::from_secs(5));
        let (app, view, renderer, shutdown, tracker) =
            start(dir.path(), vec![ok, fail, boom, hang]);
        assert!(!view.is_ready());

        // First ticks (after at most 1s of jitter) plus the hanging one's 5s timeout.
        advance(Duration::from_secs(7)).await;
        assert!(
            view.is_ready(),
            "every source finished or failed its first collection"
        );
        assert_eq!(app.status("ok").unwrap().success, Some(true));
        let fail = app.status("fail").unwrap();
        assert_eq!(
            (fail.success, fail.errors.get(&ErrorKind::RepositoryFailed)),
            (Some(false), Some(&1))
        );
        assert_eq!(
            app.status("boom").unwrap().errors.get(&ErrorKind::Panic),
            Some(&1)
        );
        assert_eq!(
            app.status("hang").unwrap().errors.get(&ErrorKind::Timeout),
            Some(&1)
        );

        // The healthy source keeps its schedule: one collection per 10s interval.
        advance(Duration::from_secs(30)).await;
        assert_eq!(ok_calls.load(Ordering::SeqCst), 4);
        assert!(hang_calls.load(Ordering::SeqCst) >= 1);
        let text = renderer.render_all(crate::now_seconds());
        assert!(
            text.contains("mlsteward_collector_success{collector=\"git\",source=\"ok\"} 1"),
            "{text}"
        );
        assert!(text.contains("mlsteward_collector_errors_total{collector=\"git\",source=\"boom\",error_kind=\"panic\"} 4"), "{text}");

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .expect("loops stop promptly on shutdown");
    }

    #[tokio::test(start_paused = true)]
    async fn a_sync_restarts_only_the_loops_whose_source_changed() {
        let dir = tempfile::tempdir().unwrap();
        let every = Duration::from_secs(10);
        let generous = Duration::from_secs(60);
        let (kept, kept_calls) = source("kept", Behaviour::Succeed, every, generous);
        let (old, old_calls) = source("changed", Behaviour::Succeed, every, generous);
        let (gone, gone_calls) = source("removed", Behaviour::Succeed, every, generous);
        let store = crate::store::Store::open(&dir.path().join("s.db")).unwrap();
        let app = Runner::with_sources(empty_config(), store, vec![kept, old, gone]).unwrap();
        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let mut scheduler = Scheduler::new(&tracker, &shutdown);
        scheduler.sync(&app);
        advance(Duration::from_secs(5)).await;
        for calls in [&kept_calls, &old_calls, &gone_calls] {
            assert_eq!(calls.load(Ordering::SeqCst), 1, "first collections");
        }

        // A reload: `kept` is the same source, `changed` a new one of that name, `removed`
        // goes and `added` comes.
        let kept = app.sources()[0].clone();
        let (changed, changed_calls) = source("changed", Behaviour::Succeed, every, generous);
        let (added, added_calls) = source("added", Behaviour::Succeed, every, generous);
        app.set_sources(vec![kept, Arc::new(changed), Arc::new(added)]);
        scheduler.sync(&app);
        advance(Duration::from_secs(3)).await;
        assert_eq!(
            kept_calls.load(Ordering::SeqCst),
            1,
            "an unchanged loop keeps its schedule"
        );
        assert_eq!(
            changed_calls.load(Ordering::SeqCst),
            1,
            "a changed source collects at once"
        );
        assert_eq!(
            added_calls.load(Ordering::SeqCst),
            1,
            "an added source collects at once"
        );
        advance(Duration::from_secs(30)).await;
        assert_eq!(
            old_calls.load(Ordering::SeqCst),
            1,
            "the replaced loop stopped"
        );
        assert_eq!(
            gone_calls.load(Ordering::SeqCst),
            1,
            "the removed loop stopped"
        );
        assert!(
            kept_calls.load(Ordering::SeqCst) >= 3,
            "the kept loop runs on"
        );
        shutdown.cancel();
        tracker.close();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .expect("stops");
    }

    #[tokio::test(start_paused = true)]
    async fn a_collection_still_running_skips_ticks_instead_of_piling_up() {
        let dir = tempfile::tempdir().unwrap();
        // The timeout is longer than the interval: ticks arrive while the collection runs.
        let (hang, hang_calls) = source(
            "hang",
            Behaviour::Hang,
            Duration::from_secs(2),
            Duration::from_secs(60),
        );
        let (app, _view, _renderer, shutdown, tracker) = start(dir.path(), vec![hang]);
        advance(Duration::from_secs(20)).await;
        assert_eq!(
            hang_calls.load(Ordering::SeqCst),
            1,
            "no second collection starts while the first runs"
        );
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .expect("shutdown cancels the in-flight collection");
        assert_eq!(
            app.status("hang")
                .unwrap()
                .errors
                .get(&ErrorKind::Cancelled),
            Some(&1)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cron_source_collects_at_start_up_then_waits_for_its_time() {
        let dir = tempfile::tempdir().unwrap();
        let (mut yearly, calls) = source(
            "yearly",
            Behaviour::Succeed,
            Duration::from_secs(1),
            Duration::from_secs(5),
        );
        yearly.config.schedule = crate::config::parse_schedule("0 0 1 1 *").unwrap();
        let (_app, view, _renderer, shutdown, tracker) = start(dir.path(), vec![yearly]);
        advance(Duration::from_secs(60)).await;
        assert!(view.is_ready());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), tracker.wait())
            .await
            .expect("stops");
    }

    #[test]
    fn jitter_is_bounded() {
        for _ in 0..100 {
            assert!(
                initial_jitter(&Schedule::Interval(Duration::from_secs(60)))
                    <= Duration::from_secs(6)
            );
            assert!(
                initial_jitter(&Schedule::Interval(Duration::from_secs(3600)))
                    <= Duration::from_secs(15)
            );
        }
    }
}
