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

    /// What the kind means, in one phrase: the errors metric's HELP and docs/metrics.md's table are
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

    /// docs/metrics.md's table of error kinds (between its `error-kinds` markers).
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
        // No URL in a message shows its credentials, whoever wrote the message.
        let message = if message.contains("://") {
            redact_urls(&message)
        } else {
            message
        };
        CollectError {
            kind,
            message,
            status: None,
        }
    }
}

/// A URL as logs, errors, metrics and pages show it: userinfo masked (`***@`) and every
/// query value masked (`?private_token=***`), since either may carry a credential; the
/// fragment dropped.
pub fn shown_url(url: &str) -> String {
    let url = url.split('#').next().unwrap_or(url);
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match (base.find("://"), base.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &base[..scheme_end], &base[at + 1..])
        }
        _ => base.to_string(),
    };
    match query {
        None => base,
        Some(query) => {
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) => format!("{key}=***"),
                    None => pair.to_string(),
                })
                .collect();
            format!("{base}?{}", masked.join("&"))
        }
    }
}

/// `text` with every URL in it shown as [`shown_url`] shows it (an error message that
/// quotes the URL it failed on).
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The URL starts at its scheme, the run of letters before `://`.
        let start = rest[..at]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |i| i + 1);
        let mut end = rest[at..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(rest.len(), |i| at + i);
        // A closing parenthesis that closes the prose around the URL is not part of it.
        while rest[start..end].ends_with([')', ',', '.', ';'])
            && !(rest[start..end].ends_with(')') && rest[start..end].contains('('))
        {
            end -= 1;
        }
        out.push_str(&rest[..start]);
        out.push_str(&shown_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Which resource the process has run out of now, if any: open files (`EMFILE`, `ENFILE`,
/// asked of the system by opening a file) or disk space where `storage` lives (`statvfs`).
/// A failure while one has run out is reported as `resource_exhausted`, whatever the
/// failing library made of it (a repository that "does not appear to be a git repository"
/// because its files could not be opened).
pub fn exhausted(storage: &std::path::Path) -> Option<&'static str> {
    if let Err(e) = std::fs::File::open("/dev/null") {
        if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
            return Some("open files");
        }
    }
    disk_full(storage).then_some("disk space")
}

#[cfg(unix)]
fn disk_full(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statvfs writes only the struct it is given; the path is a valid C string.
    unsafe {
        let mut stat: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c_path.as_ptr(), &mut stat) == 0 && stat.f_bavail == 0
    }
}

#[cfg(not(unix))]
fn disk_full(_: &std::path::Path) -> bool {
    false
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
    fn messages_are_one_line_and_name_no_credentials() {
        // A kind is what the caller says: exhaustion is found by asking the system, never
        // by reading a message.
        let e = CollectError::new(
            ErrorKind::RepositoryFailed,
            "opening x: Too many open files (os error 24)",
        );
        assert_eq!(e.kind, ErrorKind::RepositoryFailed);
        assert_eq!(exhausted(std::path::Path::new("/")), None);
        let e = CollectError::new(
            ErrorKind::RequestFailed,
            "fetching https://u:tok@h/r.git?private_token=t failed",
        );
        assert_eq!(
            e.message,
            "fetching https://***@h/r.git?private_token=*** failed"
        );
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
