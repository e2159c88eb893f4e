//! What the daemon knows about its own health: each source's collections and the store's
//! health. The runner writes it; the render task (self metrics) and the landing page read it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::collector::ErrorKind;
use crate::locked;

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
    /// credentials travel in headers, URLs are shown with their query values masked).
    pub last_error: Option<(ErrorKind, String)>,
}

/// Every source's status, by source name. A std mutex: held only briefly, never across an
/// `.await`.
#[derive(Default)]
pub struct Statuses(Mutex<BTreeMap<String, CollectorStatus>>);

impl Statuses {
    pub fn get(&self, source: &str) -> Option<CollectorStatus> {
        locked(&self.0).get(source).cloned()
    }

    pub fn all(&self) -> BTreeMap<String, CollectorStatus> {
        locked(&self.0).clone()
    }

    /// Changes the status of `source`, if it is known.
    pub fn update(&self, source: &str, change: impl FnOnce(&mut CollectorStatus)) {
        if let Some(s) = locked(&self.0).get_mut(source) {
            change(s);
        }
    }

    /// Keeps the statuses of `keep` only, adding `add` (name, last success the store
    /// remembers) for new sources.
    pub fn replace(&self, keep: impl Fn(&str) -> bool, add: Vec<(String, Option<f64>)>) {
        let mut all = locked(&self.0);
        all.retain(|name, _| keep(name));
        for (name, last_success_seconds) in add {
            all.entry(name).or_insert_with(|| CollectorStatus {
                last_success_seconds,
                ..Default::default()
            });
        }
    }

    /// Whether every source has finished (or failed) a collection in this run.
    pub fn all_collected_once(&self) -> bool {
        locked(&self.0).values().all(|s| s.success.is_some())
    }

    /// Whether every source has finished a collection, in this run or (as the store
    /// remembers) an earlier one: the store then holds everyone its sources name, so a
    /// restarted replica's people summary stays complete.
    pub fn all_collected_ever(&self) -> bool {
        locked(&self.0)
            .values()
            .all(|s| s.success.is_some() || s.last_success_seconds.is_some())
    }
}

/// Why the store is unhealthy. A later successful read clears a failed read and a later
/// successful write a failed write; damage found by the start-up check, and a store file
/// that was deleted or replaced under the daemon, stay until restart.
#[derive(Debug, Clone, PartialEq)]
pub enum StoreProblem {
    Damaged(String),
    /// The path no longer names the file the daemon has open.
    Gone(String),
    ReadFailed(String),
    WriteFailed(String),
}

impl StoreProblem {
    /// Problems that only a restart (or an operator) can clear.
    fn lasting(&self) -> bool {
        matches!(self, StoreProblem::Damaged(_) | StoreProblem::Gone(_))
    }
}

impl std::fmt::Display for StoreProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreProblem::Damaged(why) | StoreProblem::Gone(why) => write!(f, "{why}"),
            StoreProblem::ReadFailed(why) => write!(f, "reading the store failed: {why}"),
            StoreProblem::WriteFailed(why) => write!(f, "writing the store failed: {why}"),
        }
    }
}

/// The store's health, as `mlsteward_store_healthy` and the landing page show it.
#[derive(Default)]
pub struct StoreHealth(Mutex<Option<StoreProblem>>);

impl StoreHealth {
    /// Why the store is unhealthy, if it is.
    pub fn problem(&self) -> Option<String> {
        locked(&self.0).as_ref().map(|p| p.to_string())
    }

    pub fn is_healthy(&self) -> bool {
        locked(&self.0).is_none()
    }

    /// Records a problem; a lasting one is never replaced by a lesser problem. Returns whether
    /// the recorded problem changed.
    pub fn note(&self, problem: StoreProblem) -> bool {
        let mut current = locked(&self.0);
        if current.as_ref().is_some_and(StoreProblem::lasting) || current.as_ref() == Some(&problem)
        {
            return false;
        }
        tracing::error!(error = %problem, "the store is unhealthy");
        *current = Some(problem);
        true
    }

    /// Clears a failed read (`read`) or a failed write (otherwise) after a success of that
    /// kind; never a lasting problem. Returns whether it cleared one.
    pub fn recovered(&self, read: bool) -> bool {
        let mut current = locked(&self.0);
        let clears = match current.as_ref() {
            Some(StoreProblem::ReadFailed(_)) => read,
            Some(StoreProblem::WriteFailed(_)) => !read,
            _ => false,
        };
        if clears {
            tracing::info!("the store is healthy again");
            *current = None;
        }
        clears
    }
}
