//! The source registry: one module per source kind, each with its collector, pure parsers and
//! tests, and the closed [`Collector`] enum with one variant per kind. Adding a source kind is a
//! module here, a variant and an arm in each `match` below (the compiler checks they are
//! exhaustive). `http` is the upstream HTTP client every HTTP source shares.

pub mod git;
pub mod http;

use crate::collector::{CollectContext, CollectError};
use crate::config::{Config, SourceConfig, SourceKind};
use crate::facts::Collection;
use git::GitCollector;

/// One configured source, ready to collect.
pub enum Collector {
    Git(Box<GitCollector>),
    /// Test double with scripted outcomes (succeed, fail, panic, hang).
    #[cfg(test)]
    Scripted(scripted::Scripted),
}

impl Collector {
    /// Builds the collector for `source`; `storage_dir` holds mirrors of remote repositories.
    pub fn build(
        config: &Config,
        source: &SourceConfig,
        storage_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        match &source.kind {
            SourceKind::Git(git) => Ok(Collector::Git(Box::new(GitCollector::new(
                config,
                &source.name,
                git,
                storage_dir,
            )?))),
        }
    }

    /// The source's upstream HTTP statistics, for sources that speak HTTP.
    pub fn http_stats(&self) -> Option<http::Stats> {
        match self {
            Collector::Git(_) => None,
            #[cfg(test)]
            Collector::Scripted(_) => None,
        }
    }

    /// Runs one collection. Blocking: the scheduler calls it on a blocking thread.
    pub fn collect(&self, ctx: &CollectContext) -> Result<Collection, CollectError> {
        match self {
            Collector::Git(c) => c.collect(ctx),
            #[cfg(test)]
            Collector::Scripted(c) => c.collect(ctx),
        }
    }
}

#[cfg(test)]
pub mod scripted {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use crate::collector::{CollectContext, CollectError, ErrorKind};
    use crate::facts::Collection;

    #[derive(Clone, Copy, Debug)]
    pub enum Behaviour {
        Succeed,
        Fail,
        Panic,
        /// Blocks until cancelled.
        Hang,
    }

    pub struct Scripted {
        pub name: String,
        pub behaviour: Behaviour,
        pub calls: Arc<AtomicUsize>,
    }

    impl Scripted {
        pub fn collect(&self, ctx: &CollectContext) -> Result<Collection, CollectError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
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
                    while !ctx.cancel.is_cancelled() {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(CollectError::new(
                        ErrorKind::Cancelled,
                        "scripted hang cancelled",
                    ))
                }
            }
        }
    }
}
