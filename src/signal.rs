//! Dirty signals: how the rest of the daemon tells the render task what changed. Collections
//! (the fact types they wrote), reloads (the configuration) and peers (a people summary) send
//! a [`Dirty`]; the render task takes every pending one at once, so many signals make one
//! render, and derives only what they name. What changes only the self metrics (a skipped
//! tick, a reload's status, a peer that stops answering) [touches](Signals::touch) the
//! signals instead: nothing renders, and the next scrape renders the self metrics afresh.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::facts::FactType;
use crate::locked;

/// What changed since the last render. Empty: only the self metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirty {
    /// Fact types a collection changed in the store.
    pub facts: BTreeSet<FactType>,
    /// The configuration in force changed (a reload that changed something).
    pub config: bool,
    /// A peer replica's people summary changed.
    pub peers: bool,
}

impl Dirty {
    pub fn facts(types: impl IntoIterator<Item = FactType>) -> Dirty {
        Dirty {
            facts: types.into_iter().collect(),
            ..Dirty::default()
        }
    }

    pub fn config() -> Dirty {
        Dirty {
            config: true,
            ..Dirty::default()
        }
    }

    pub fn peers() -> Dirty {
        Dirty {
            peers: true,
            ..Dirty::default()
        }
    }

    /// Everything: a first render.
    pub fn everything() -> Dirty {
        Dirty {
            facts: FactType::ALL.into_iter().collect(),
            config: true,
            peers: true,
        }
    }

    /// Whether nothing derived changed.
    pub fn is_empty(&self) -> bool {
        self.facts.is_empty() && !self.config && !self.peers
    }

    pub fn merge(&mut self, other: Dirty) {
        self.facts.extend(other.facts);
        self.config |= other.config;
        self.peers |= other.peers;
    }
}

/// Signals waiting for the render task, merged.
#[derive(Default)]
struct Pending {
    dirty: Dirty,
    /// Signals merged since the render task last took them (0: nothing pending).
    signals: u64,
    /// The number of the last signal merged.
    last: u64,
}

/// The render task's mailbox. Sending never waits and never fails; signals sent while a
/// render runs are merged and taken by the next one.
#[derive(Default)]
pub struct Signals {
    pending: Mutex<Pending>,
    wake: tokio::sync::Notify,
    /// Bumped by every signal and every touch: the self metrics served are rendered again
    /// when it moved.
    generation: AtomicU64,
    /// Signals sent so far (their numbers).
    numbered: AtomicU64,
}

/// Pending signals as the render task takes them.
#[derive(Debug, Default)]
pub struct Taken {
    pub dirty: Dirty,
    /// How many signals were merged.
    pub signals: u64,
    /// The number of the last of them.
    pub last: u64,
}

impl Signals {
    /// The self metrics changed (and nothing derived did).
    pub fn touch(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// How many changes there have been (see [`Signals::touch`]).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Sends a signal; returns its number, which the render that takes it publishes (see
    /// [`crate::view::View::rendered`]).
    pub fn send(&self, dirty: Dirty) -> u64 {
        self.touch();
        let number = {
            let mut pending = locked(&self.pending);
            pending.dirty.merge(dirty);
            pending.signals += 1;
            pending.last = self.numbered.fetch_add(1, Ordering::SeqCst) + 1;
            pending.last
        };
        self.wake.notify_one();
        number
    }

    /// Takes every pending signal: merged, how many there were, and the number of the last;
    /// `None` when none is.
    pub fn take(&self) -> Option<Taken> {
        let mut pending = locked(&self.pending);
        if pending.signals == 0 {
            return None;
        }
        let taken = std::mem::take(&mut *pending);
        Some(Taken {
            dirty: taken.dirty,
            signals: taken.signals,
            last: taken.last,
        })
    }

    /// Waits until a signal is pending (returns at once if one is).
    pub async fn pending(&self) {
        loop {
            let notified = self.wake.notified();
            if locked(&self.pending).signals > 0 {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_merge_until_taken() {
        let s = Signals::default();
        assert!(s.take().is_none());
        s.send(Dirty::facts([FactType::Probes]));
        s.send(Dirty::default());
        s.send(Dirty::facts([FactType::Ci]));
        let Taken {
            dirty,
            signals: n,
            last,
        } = s.take().unwrap();
        assert_eq!((n, last), (3, 3));
        assert_eq!(
            dirty.facts.into_iter().collect::<Vec<_>>(),
            [FactType::Ci, FactType::Probes]
        );
        assert!(!dirty.config);
        assert!(s.take().is_none());
        let g = s.generation();
        s.touch();
        assert!(s.take().is_none(), "a touch asks for no render");
        assert_eq!(s.generation(), g + 1);
    }
}
