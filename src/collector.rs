//! The frame every source shares: its errors (one bounded list of kinds) and the context a
//! collection gets (cursors, cancellation, the checkpoint for batches, the repositories a
//! webhook named, a sharded replica's filter). The sources are the registry in `sources`.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::facts::{Collection, Cursors};

/// Bounded error classes: the `error_kind` label. Never raw error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// A request to the upstream failed: a git fetch, an HTTP error answer, a broken connection.
    RequestFailed,
    /// The upstream answered something that cannot be decoded (bad JSON, a body over the cap).
    DecodeFailed,
    /// The upstream's rate limit is spent, or it asked to wait longer than allowed.
    RateLimited,
    /// The upstream refused the credentials (401, or 403 that is not a rate limit).
    AuthFailed,
    /// The repository could not be opened or read, or the branch does not exist.
    RepositoryFailed,
    /// The collection did not finish within the source's `timeout`.
    Timeout,
    /// The collector panicked.
    Panic,
    /// Storing the facts failed.
    StoreFailed,
    /// Shutdown interrupted the collection.
    Cancelled,
    /// The process ran out of a resource (open files, disk space): not the source's fault.
    ResourceExhausted,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::RequestFailed,
        ErrorKind::DecodeFailed,
        ErrorKind::RateLimited,
        ErrorKind::AuthFailed,
        ErrorKind::RepositoryFailed,
        ErrorKind::Timeout,
        ErrorKind::Panic,
        ErrorKind::StoreFailed,
        ErrorKind::Cancelled,
        ErrorKind::ResourceExhausted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::RequestFailed => "request_failed",
            ErrorKind::DecodeFailed => "decode_failed",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::AuthFailed => "auth_failed",
            ErrorKind::RepositoryFailed => "repository_failed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Panic => "panic",
            ErrorKind::StoreFailed => "store_failed",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::ResourceExhausted => "resource_exhausted",
        }
    }

    /// What the kind means, in one phrase: the errors metric's HELP and the README's table are
    /// generated from these.
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorKind::RequestFailed => {
                "a request to the upstream failed: a git fetch, an HTTP error answer, a broken connection"
            }
            ErrorKind::DecodeFailed => {
                "the upstream answered something that cannot be decoded (bad JSON, a body over the size cap)"
            }
            ErrorKind::RateLimited => {
                "the upstream's rate limit is spent, or it asked to wait longer than allowed"
            }
            ErrorKind::AuthFailed => {
                "the upstream refused the credentials (401, or a 403 that is not a rate limit)"
            }
            ErrorKind::RepositoryFailed => {
                "a repository could not be opened or read, or its branch does not exist"
            }
            ErrorKind::Timeout => "the collection did not finish within the source's timeout",
            ErrorKind::Panic => "the collector panicked",
            ErrorKind::StoreFailed => "storing the facts failed",
            ErrorKind::Cancelled => "shutdown interrupted the collection",
            ErrorKind::ResourceExhausted => {
                "the process ran out of open files or disk space, whichever operation hit it"
            }
        }
    }

    /// The HELP text of `mlsteward_collector_errors_total`, naming every kind.
    pub fn help() -> &'static str {
        static HELP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        HELP.get_or_init(|| {
            let kinds: Vec<String> = Self::ALL
                .iter()
                .map(|k| format!("{} ({})", k.as_str(), k.meaning()))
                .collect();
            format!(
                "Failed collections since the process started, by error kind, a fixed set shared by every source: {}.",
                kinds.join("; ")
            )
        })
    }

    /// The README's table of error kinds (between its `error-kinds` markers).
    pub fn markdown_table() -> String {
        let mut out = String::from("| `error_kind` | Meaning |\n|---|---|\n");
        for k in Self::ALL {
            out.push_str(&format!("| `{}` | {} |\n", k.as_str(), k.meaning()));
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CollectError {
    pub kind: ErrorKind,
    pub message: String,
    /// The upstream's HTTP status, when the error is an answer the upstream gave.
    pub status: Option<u16>,
}

impl CollectError {
    /// An error of `kind`; a message spanning several lines (some libraries' error chains do)
    /// is joined into one, so every log record stays one line.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        let message: String = message.into();
        let message = if message.contains('\n') {
            message
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        } else {
            message
        };
        // Running out of files or disk shows up deep inside library errors as the OS's error
        // text; it is reported as what it is, whichever operation hit it.
        let exhausted = ["(os error 23)", "(os error 24)", "(os error 28)"]
            .iter()
            .any(|code| message.contains(code));
        let kind = if exhausted {
            ErrorKind::ResourceExhausted
        } else {
            kind
        };
        CollectError {
            kind,
            message,
            status: None,
        }
    }
}

/// `collector panicked: <the panic's message>`, from a caught panic's payload.
pub fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned());
    format!(
        "collector panicked: {}",
        text.unwrap_or_else(|| "unknown cause".into())
    )
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn exhaustion_is_named_and_messages_are_one_line() {
        let e = CollectError::new(
            ErrorKind::RepositoryFailed,
            "opening x: Too many open files (os error 24)",
        );
        assert_eq!(e.kind, ErrorKind::ResourceExhausted);
        let e = CollectError::new(
            ErrorKind::RequestFailed,
            "fetching:\n  Caused by:\n 0: Io\n",
        );
        assert_eq!(e.message, "fetching:; Caused by:; 0: Io");
        assert_eq!(e.kind, ErrorKind::RequestFailed);
    }
}

/// The error of a collection whose task ended without a result: it panicked (with the
/// panic's message) or was cancelled.
pub fn join_error(e: tokio::task::JoinError) -> CollectError {
    if e.is_panic() {
        CollectError::new(ErrorKind::Panic, panic_message(&e.into_panic()))
    } else {
        CollectError::new(ErrorKind::Cancelled, "collection cancelled")
    }
}

/// Stores part of a collection's facts (with the cursors that say how far it got) in a
/// transaction of its own, before the collection ends. The collector never sees the store.
pub type Checkpoint = Arc<dyn Fn(&Collection) -> Result<(), CollectError> + Send + Sync>;

/// What a collection may know besides its configuration.
#[derive(Clone)]
pub struct CollectContext {
    /// The cursors the store holds for this source.
    pub cursors: Cursors,
    /// Cancelled on shutdown, on timeout, and when a reload replaces the source: requests in
    /// flight end at once, and long work stops at its next unit.
    pub cancel: CancellationToken,
    /// Where a long collection hands over finished batches (see [`Checkpoint`]).
    pub checkpoint: Checkpoint,
    /// Only these repositories (a webhook named them), for sources that can limit a
    /// collection; `None`: everything.
    pub targets: Option<std::collections::BTreeSet<String>>,
    /// Only repositories whose asset this says yes to (a sharded replica's); `None`: all.
    pub wants: Option<AssetFilter>,
}

/// Whether a replica wants an asset's facts (see `shard`).
pub type AssetFilter = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

impl CollectContext {
    /// Hands a finished batch (with the cursors that say how far it goes) to the checkpoint.
    pub fn checkpoint(&self, batch: &Collection) -> Result<(), CollectError> {
        (self.checkpoint)(batch)
    }
}
