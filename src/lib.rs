//! mlsteward measures shared ML resources and the people who keep them alive, and serves what
//! it learns as Prometheus metrics.
//!
//! The flow, and the module that owns each step:
//!
//! - [`config`]: the YAML file, decoded strictly and with positions. Only this module knows YAML.
//! - [`runner`]: the sources in force, each run on its own schedule; collections, their
//!   statuses, reloads. It sends [`signal`]s saying what changed.
//! - [`collector`]: the frame every source shares: errors, the collection context, URLs shown.
//! - [`sources`]: the registry: one module per source kind (git, github, gitlab, jenkins,
//!   coverage, http_probe, feast, mlflow, huggingface), each one [`sources::Kind`] in
//!   [`sources::KINDS`], its settings a [`sources::KindSettings`] that builds its async
//!   [`sources::Source`]; [`sources::http`] is the shared upstream HTTP client and
//!   [`sources::probe`] the shared prober. A source returns [`facts`] and never touches the
//!   store, the server or the exposition.
//! - [`store`]: the SQLite fact store, one transaction per collection, which says which fact
//!   types it changed. Only this module knows SQL.
//! - [`people`]: identity for every source (aliases, bots, opt-outs) and one person
//!   everywhere (identity keys joined into people).
//! - [`derive`](mod@derive): stored facts → metric families, one module per group
//!   ([`derive::Group`]), and the per-person credit totals they share.
//! - [`render`]: the one render task: derives only the dirty groups and publishes to the
//!   [`view`], which HTTP serves (with the self metrics added when serving).
//! - [`metrics`]: every metric family as data; [`exposition`]: families → the text format and
//!   the compressed parts joined into a snapshot.
//! - [`report`]: the recognition report and the identity review (the only JSON writer).
//! - [`server`]: HTTP serving of the view: binding, limits, shutdown.
//!
//! `docs/architecture.md` has the invariants and cross-cutting concerns.

pub mod api;
pub mod backfill;
pub mod badge;
pub mod collector;
pub mod config;
pub mod deflate;
pub mod demo;
pub mod derive;
pub mod docs;
pub mod exposition;
pub mod facts;
pub mod metrics;
pub mod overview;
pub mod peers;
pub mod people;
pub mod promql;
pub mod render;
pub mod report;
pub mod runner;
pub mod server;
pub mod shard;
pub mod signal;
pub mod sources;
pub mod status;
pub mod store;
pub mod view;
pub mod web;
pub mod webhooks;

/// Locks a std mutex, ignoring poisoning: every value this crate keeps behind one is replaced
/// or updated in a single step (never left half-written), and SQLite rolls back a transaction
/// cut short by a panic, so the data is valid whoever panicked while holding the lock.
pub(crate) fn locked<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Seconds since the Unix epoch, now (0 if the clock is before it).
/// Makes rustls's ring provider the process's default, once: the HTTP clients (reqwest's,
/// and gix's for mirrored repositories) take their TLS from it. Called before any client is
/// built; calling it again does nothing.
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only when a provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Lower-case hexadecimal of `bytes` (digests, ETags, fingerprints).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Gives the heap's free memory back to the kernel. glibc keeps what a thread frees in that
/// thread's arena: after a mine, the mining threads' arenas hold tens of MiB that the next
/// step (deriving, on another thread) cannot reuse, so resident memory would be the sum of
/// both phases instead of the larger. `malloc_trim` releases the free pages of every arena.
/// Elsewhere than glibc this does nothing.
pub(crate) fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it touches no live
    // allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `text` safe inside HTML or XML text and double-quoted attributes.
pub fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
