//! `POST /webhooks/github` and `/webhooks/gitlab`: an authenticated event that names a
//! repository wakes the sources covering it for a collection of just that repository. Polling
//! stays the source of truth; a webhook only makes it sooner.
//!
//! GitHub signs the body with HMAC-SHA256 under the webhook's secret
//! (`X-Hub-Signature-256: sha256=HEX`); GitLab sends the secret token as `X-Gitlab-Token`.
//! Both are compared in constant time. Nothing is collected, and nothing is written, for an
//! unsigned or badly signed request.
//!
//! What can be checked without the body is checked before a byte of it is read ([`intake`]):
//! the route's forge, that a source takes its webhooks, and the signature header (GitLab's
//! token in full; GitHub's signature's form). Only then is the body read, under a size cap,
//! a deadline, and a bound on how many are read at once (see the server), and a GitHub
//! signature checked against it ([`handle`]). A refused request is counted; it derives and
//! renders nothing (the counter shows with the next render).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use sha2::Sha256;

use crate::config::Secret;
use crate::exposition::Family;
use crate::sources::Configured;

/// The largest body read. GitHub caps payloads at 25 MB, but the events that matter here
/// (runs, pull requests, issues, pushes) are far smaller; a bigger one is refused with 413.
pub const MAX_BODY: usize = 5 * 1024 * 1024;

pub const FORGES: [&str; 2] = ["github", "gitlab"];
const RESULTS: [&str; 6] = [
    "accepted",
    "duplicate",
    "ignored",
    "unauthorized",
    "too_large",
    "bad_request",
];

/// Delivery ids remembered to drop redeliveries.
const REMEMBERED: usize = 1024;

/// What the webhook endpoints have seen, for the metric and for deduplication.
#[derive(Default)]
pub struct Webhooks {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    seen: Mutex<(VecDeque<String>, HashSet<String>)>,
}

impl Webhooks {
    fn count(&self, forge: &'static str, result: &'static str) {
        *crate::locked(&self.counts)
            .entry((forge, result))
            .or_default() += 1;
    }

    /// True the first time `delivery` is seen (among the last [`REMEMBERED`]).
    fn first_delivery(&self, delivery: &str) -> bool {
        let mut seen = crate::locked(&self.seen);
        if seen.1.contains(delivery) {
            return false;
        }
        if seen.0.len() >= REMEMBERED {
            if let Some(old) = seen.0.pop_front() {
                seen.1.remove(&old);
            }
        }
        seen.0.push_back(delivery.to_string());
        seen.1.insert(delivery.to_string());
        true
    }

    /// `mlsteward_webhook_requests_total` for each forge in `forges` (those with a source that
    /// takes webhooks), every result exported, zeros included.
    pub fn family(&self, forges: &[&'static str]) -> Option<Family> {
        if forges.is_empty() {
            return None;
        }
        let mut family = Family::of(&crate::metrics::WEBHOOK_REQUESTS_TOTAL);
        let counts = crate::locked(&self.counts);
        for forge in forges {
            for result in RESULTS {
                family.push(
                    vec![("forge", forge.to_string()), ("result", result.to_string())],
                    counts.get(&(*forge, result)).copied().unwrap_or(0) as f64,
                );
            }
        }
        Some(family)
    }
}

/// Whether `signature` (hex) is the HMAC-SHA256 of `message` under `key`, compared in
/// constant time (the `hmac` crate's verification).
fn signed(key: &[u8], message: &[u8], signature: &str) -> bool {
    use hmac::Mac;
    let Some(tag) = unhex(signature) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(message);
    mac.verify_slice(&tag).is_ok()
}

/// Hex digits as bytes (either case); `None` for anything else.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Equal in constant time (`subtle`; lengths are not secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether a request with `headers` and `body` is authentic for a source with `secret`.
fn authentic(forge: &str, secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    match forge {
        "github" => header(headers, "x-hub-signature-256")
            .and_then(|v| v.strip_prefix("sha256="))
            .is_some_and(|sig| signed(secret.as_bytes(), body, sig)),
        _ => header(headers, "x-gitlab-token")
            .is_some_and(|token| same(token.as_bytes(), secret.as_bytes())),
    }
}

/// The repository an event is about: GitHub's `repository.full_name`, GitLab's
/// `project.path_with_namespace`.
fn repository(forge: &str, event: &serde_json::Value) -> Option<String> {
    let name = match forge {
        "github" => &event["repository"]["full_name"],
        _ => &event["project"]["path_with_namespace"],
    };
    name.as_str().map(String::from)
}

/// The sources of one forge that may take a request, with their secrets.
pub type Takers = Vec<(Arc<Configured>, Secret)>;

/// What went wrong reading a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over [`MAX_BODY`].
    TooLarge,
    /// Not all of it arrived within the deadline, or the connection broke.
    Incomplete,
}

/// The checks made before any body byte is read: the forge `route` names one of [`FORGES`],
/// some source of it takes webhooks, and the request's signature header can be one of theirs
/// (GitLab's token is checked in full, GitHub's signature for its form). Returns the forge
/// and the sources the request may be for, or the answer to give at once.
pub fn intake(
    webhooks: &Webhooks,
    sources: &[Arc<Configured>],
    route: &str,
    headers: &HeaderMap,
) -> Result<(&'static str, Takers), (StatusCode, String)> {
    let Some(forge) = FORGES.into_iter().find(|f| *f == route) else {
        return Err((
            StatusCode::NOT_FOUND,
            "webhooks are taken from github and gitlab".into(),
        ));
    };
    let takers: Takers = sources
        .iter()
        .filter_map(|s| match s.config.settings.webhook() {
            Some((f, secret)) if f == forge => Some((s.clone(), secret.clone())),
            _ => None,
        })
        .collect();
    if takers.is_empty() {
        return Err((
            StatusCode::NOT_FOUND,
            format!("no {forge} source takes webhooks (set its webhook_secret)"),
        ));
    }
    // A body declared over the cap is refused before it is read, whoever sent it.
    let declared = header(headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        webhooks.count(forge, "too_large");
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {MAX_BODY} bytes"),
        ));
    }
    let plausible: Takers = match forge {
        "github" => {
            let well_formed = header(headers, "x-hub-signature-256")
                .and_then(|v| v.strip_prefix("sha256="))
                .is_some_and(|sig| sig.len() == 64 && sig.bytes().all(|b| b.is_ascii_hexdigit()));
            if well_formed {
                takers
            } else {
                Vec::new()
            }
        }
        _ => takers
            .into_iter()
            .filter(|(_, secret)| {
                header(headers, "x-gitlab-token")
                    .is_some_and(|token| same(token.as_bytes(), secret.expose().as_bytes()))
            })
            .collect(),
    };
    if plausible.is_empty() {
        return Err(unauthorized(webhooks, forge));
    }
    Ok((forge, plausible))
}

fn unauthorized(webhooks: &Webhooks, forge: &'static str) -> (StatusCode, String) {
    webhooks.count(forge, "unauthorized");
    tracing::debug!(forge, "webhook refused: unsigned or badly signed");
    (
        StatusCode::UNAUTHORIZED,
        "unsigned, or signed with another secret".into(),
    )
}

/// Handles one webhook request for `forge` whose [`intake`] passed, once its body is read;
/// returns the status and a one-line answer (shown in the forge's delivery log).
pub fn handle(
    webhooks: &Webhooks,
    takers: &Takers,
    forge: &'static str,
    headers: &HeaderMap,
    body: Result<&[u8], BodyError>,
) -> (StatusCode, String) {
    let body = match body {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            webhooks.count(forge, "too_large");
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {MAX_BODY} bytes"),
            );
        }
        Err(BodyError::Incomplete) => {
            webhooks.count(forge, "bad_request");
            return (
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive in time".into(),
            );
        }
    };
    let signed: Vec<&Arc<Configured>> = takers
        .iter()
        .filter(|(_, secret)| authentic(forge, secret.expose(), headers, body))
        .map(|(s, _)| s)
        .collect();
    if signed.is_empty() {
        return unauthorized(webhooks, forge);
    }
    let delivery = match forge {
        "github" => header(headers, "x-github-delivery"),
        _ => header(headers, "x-gitlab-event-uuid").or_else(|| header(headers, "idempotency-key")),
    };
    if let Some(id) = delivery {
        if !webhooks.first_delivery(&format!("{forge} {id}")) {
            webhooks.count(forge, "duplicate");
            return (StatusCode::OK, format!("delivery {id} was already taken"));
        }
    }
    if forge == "github" && header(headers, "x-github-event") == Some("ping") {
        webhooks.count(forge, "ignored");
        return (StatusCode::OK, "pong".into());
    }
    let event: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            webhooks.count(forge, "bad_request");
            return (
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {e}"),
            );
        }
    };
    let Some(repo) = repository(forge, &event) else {
        webhooks.count(forge, "ignored");
        return (
            StatusCode::OK,
            "ignored: the event names no repository".into(),
        );
    };
    let mut woken = Vec::new();
    for source in signed {
        if let Some(name) = source.config.settings.covered_repository(&repo) {
            source.request(&name);
            woken.push(source.config.name.clone());
        }
    }
    if woken.is_empty() {
        webhooks.count(forge, "ignored");
        return (
            StatusCode::OK,
            format!("ignored: {repo} is not a repository of a source with this secret"),
        );
    }
    webhooks.count(forge, "accepted");
    tracing::info!(forge, repository = %repo, sources = ?woken, "webhook: collecting the repository");
    (
        StatusCode::ACCEPTED,
        format!("collecting {repo} (source {})", woken.join(", ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        // RFC 4231, test cases 2 and 6 (a key longer than the block); either hex case.
        assert!(signed(
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        ));
        assert!(signed(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60E431591EE0B67F0D8A26AACBF5B77F8E0BC6213728C5140546040F0EE37F54"
        ));
        assert!(!signed(b"Jefe", b"what do ya want for nothing?", "5bdc"));
        assert!(!signed(b"Jefe", b"x", "zz"));
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }

    #[test]
    fn github_s_documented_example_signature_verifies() {
        // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
                .parse()
                .unwrap(),
        );
        assert!(authentic(
            "github",
            "It's a Secret to Everybody",
            &headers,
            b"Hello, World!"
        ));
        assert!(!authentic(
            "github",
            "another secret",
            &headers,
            b"Hello, World!"
        ));
        assert!(!authentic(
            "github",
            "It's a Secret to Everybody",
            &HeaderMap::new(),
            b"Hello, World!"
        ));
    }

    #[test]
    fn deliveries_are_taken_once() {
        let w = Webhooks::default();
        assert!(w.first_delivery("a"));
        assert!(!w.first_delivery("a"));
        for i in 0..REMEMBERED {
            w.first_delivery(&i.to_string());
        }
        assert!(w.first_delivery("a"), "forgotten after {REMEMBERED} others");
    }
}
