//! Runs each source on its own schedule: an initial jitter, then every interval (or at each
//! cron time). Missed ticks are skipped, never queued. Each source is its own task, so a
//! collector that fails, panics or hangs never delays another.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::{App, Source};
use crate::config::Schedule;

/// Initial jitter: uniform in [0, min(interval / 10, 15s)], so sources configured alike do
/// not all hit their upstreams at the same instant, yet readiness is not delayed long.
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
            schedule.after(&now).next().and_then(|next| (next - now).to_std().ok()).unwrap_or(Duration::from_secs(60))
        }
    }
}

/// Spawns one loop per source on `tracker`; each ends when `shutdown` is cancelled.
pub fn spawn(app: &App, tracker: &TaskTracker, shutdown: &CancellationToken) {
    for source in app.sources.iter() {
        tracker.spawn(run_source(app.clone(), source.clone(), shutdown.clone()));
    }
}

async fn run_source(app: App, source: Arc<Source>, shutdown: CancellationToken) {
    let jitter = initial_jitter(&source.config.schedule);
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
    loop {
        let wait = async {
            match interval.as_mut() {
                Some(i) => {
                    i.tick().await;
                }
                None => tokio::time::sleep(until_next(&source.config.schedule)).await,
            }
        };
        tokio::select! {
            _ = wait => {}
            _ = shutdown.cancelled() => break,
        }
        if leftover.as_ref().is_some_and(|h| !h.is_finished()) {
            tracing::warn!(source = %source.config.name, "previous collection still running; skipping this tick");
            app.note_skipped(&source.config.name);
            app.render().await;
            continue;
        }
        let (_, still_running) = app.collect(&source, &shutdown).await;
        leftover = still_running;
        app.render().await;
    }
}
