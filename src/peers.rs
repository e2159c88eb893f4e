//! `--shard.peers`: how a sharded replica hears what its peers know about people (see
//! [`crate::shard`] for why). Every `--shard.peer-interval` it GETs each peer's
//! `/api/v1/shard/people` with the ETag of the last answer; a changed summary makes it derive
//! again. A peer that fails keeps its last good summary; `mlsteward_shard_peer_up` goes to 0.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::exposition::Family;
use crate::locked;
use crate::shard::{PeopleSummary, Shard};
use crate::signal::{Dirty, Signals};
use crate::sources::http::{Client, Fetched, HttpConfig, Validators};

/// The path every replica serves its own summary on.
pub const PEOPLE_PATH: &str = "/api/v1/shard/people";

pub use crate::view::Published;

/// How a replica reaches its peers.
#[derive(Debug, Clone)]
pub struct PeerOptions {
    /// Base URLs, one per shard in shard order (this replica's own is skipped).
    pub urls: Vec<String>,
    pub interval: Duration,
    pub http: HttpConfig,
}

#[derive(Debug, Default)]
struct Heard {
    summary: Option<PeopleSummary>,
    validators: Validators,
    up: bool,
    last_success: Option<f64>,
}

/// A replica's exchange with the other replicas.
pub struct PeerExchange {
    shard: Shard,
    /// (shard index, summary URL) of every other replica.
    peers: Vec<(u64, String)>,
    client: Client,
    pub interval: Duration,
    heard: Mutex<BTreeMap<u64, Heard>>,
}

impl PeerExchange {
    pub fn new(shard: Shard, options: PeerOptions) -> Result<PeerExchange, String> {
        let peers: Vec<(u64, String)> = options
            .urls
            .iter()
            .enumerate()
            .filter(|(k, _)| *k as u64 != shard.index)
            .map(|(k, u)| (k as u64, format!("{u}{PEOPLE_PATH}")))
            .collect();
        let client = Client::new(options.http).map_err(|e| e.message)?;
        let heard = peers.iter().map(|(k, _)| (*k, Heard::default())).collect();
        Ok(PeerExchange {
            shard,
            peers,
            client,
            interval: options.interval,
            heard: Mutex::new(heard),
        })
    }

    /// The last good summary of every peer that has answered, in shard order.
    pub fn summaries(&self) -> Vec<PeopleSummary> {
        locked(&self.heard)
            .values()
            .filter_map(|h| h.summary.clone())
            .collect()
    }

    /// Whether every peer has answered with the summary of a replica whose every source has
    /// finished a collection (see [`PeopleSummary::ready`]).
    pub fn complete(&self) -> bool {
        locked(&self.heard)
            .values()
            .all(|h| h.summary.as_ref().is_some_and(|s| s.ready))
    }

    /// Asks every peer once: whether a summary changed, and whether a peer's state did.
    pub async fn poll(&self, cancel: &CancellationToken) -> (bool, bool) {
        let (mut changed, mut state_changed) = (false, false);
        for (k, url) in &self.peers {
            let validators = locked(&self.heard)
                .get(k)
                .map(|h| h.validators.clone())
                .unwrap_or_default();
            let answer = match self.client.get(url, &validators, cancel).await {
                Ok(Fetched::NotModified) => Ok(None),
                Ok(Fetched::Body {
                    body, validators, ..
                }) => PeopleSummary::from_json(&body).and_then(|s| {
                    if s.shard == *k && s.shards == self.shard.count {
                        Ok(Some((s, validators)))
                    } else {
                        Err(format!(
                            "it says it is shard {}/{}, where shard {k}/{} was expected: check --shard.peers",
                            s.shard, s.shards, self.shard.count
                        ))
                    }
                }),
                Err(e) => Err(e.message),
            };
            let mut heard = locked(&self.heard);
            let h = heard.entry(*k).or_default();
            match answer {
                Ok(fresh) => {
                    if !h.up {
                        state_changed = true;
                        tracing::info!(peer = *k, url = %crate::collector::shown_url(url), "shard peer answers");
                    }
                    h.up = true;
                    h.last_success = Some(crate::now_seconds());
                    if let Some((summary, validators)) = fresh {
                        h.validators = validators;
                        if h.summary.as_ref() != Some(&summary) {
                            h.summary = Some(summary);
                            changed = true;
                        }
                    }
                }
                Err(why) => {
                    if h.up || h.last_success.is_none() {
                        tracing::warn!(peer = *k, url = %crate::collector::shown_url(url), error = %why, "shard peer does not answer; its last summary stays");
                    }
                    state_changed |= h.up;
                    h.up = false;
                }
            }
        }
        (changed, state_changed)
    }

    /// How many peers answered their last request, of how many.
    pub fn answering(&self) -> (usize, usize) {
        let heard = locked(&self.heard);
        (heard.values().filter(|h| h.up).count(), heard.len())
    }

    /// `mlsteward_shard_peer_up` and `mlsteward_shard_peer_last_success_timestamp_seconds`.
    pub fn families(&self) -> Vec<Family> {
        let mut up = Family::of(&crate::metrics::SHARD_PEER_UP);
        let mut last = Family::of(&crate::metrics::SHARD_PEER_LAST_SUCCESS_TIMESTAMP_SECONDS);
        for (k, h) in locked(&self.heard).iter() {
            let labels = vec![("peer_shard", k.to_string())];
            up.push(labels.clone(), if h.up { 1.0 } else { 0.0 });
            if let Some(at) = h.last_success {
                last.push(labels, at.floor());
            }
        }
        vec![up, last]
    }
}

/// Polls the peers until `shutdown`: a changed summary makes the people derive again, a peer
/// that comes or goes only the self metrics.
pub async fn run(exchange: Arc<PeerExchange>, signals: Arc<Signals>, shutdown: CancellationToken) {
    loop {
        match exchange.poll(&shutdown).await {
            (true, _) => {
                signals.send(Dirty::peers());
            }
            (false, true) => signals.touch(),
            (false, false) => {}
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(exchange.interval) => {}
        }
    }
}
