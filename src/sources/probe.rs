//! Probing a serving endpoint as a client sees it: one request, no retries, timed on a
//! monotonic clock from sending it to reading the whole body, and classified into `ok` or one
//! failure reason (`timeout`, `connect`, `http_4xx`, `http_5xx`, `bad_body`,
//! `values_missing`). Shared by the `http_probe` and `feast` sources.

use std::time::{Duration, Instant};

use crate::collector::{CollectError, ErrorKind};

/// What one request got.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A status and the whole body, with the latency in seconds.
    Http {
        status: u16,
        body: Vec<u8>,
        latency: f64,
        /// The server asked to close the connection after this answer.
        closes: bool,
    },
    Timeout,
    Connect,
}

/// A prober: an HTTP client without retries, keeping connections alive or not.
#[derive(Clone)]
pub struct Prober {
    client: reqwest::Client,
    timeout: Duration,
    keep_alive: bool,
    /// The previous answer asked to close its connection: the next probe reconnects.
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The last probe's time stamp, so that each probe of a target gets its own.
    last_ms: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

/// The largest probe answer read.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

impl Prober {
    pub fn new(timeout: Duration, keep_alive: bool) -> Result<Prober, CollectError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("mlsteward/", env!("CARGO_PKG_VERSION"), " (probe)"))
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none());
        if !keep_alive {
            builder = builder.pool_max_idle_per_host(0);
        }
        let client = builder.build().map_err(|e| {
            CollectError::new(
                ErrorKind::RequestFailed,
                format!("building the prober: {e}"),
            )
        })?;
        Ok(Prober {
            client,
            timeout,
            keep_alive,
            closed: Default::default(),
            last_ms: Default::default(),
        })
    }

    /// A time stamp for a probe about to be sent, in milliseconds since the epoch: now, or one
    /// past the previous probe's when that was the same millisecond (a sample's identity is
    /// its target and time, and fast probes can share a millisecond).
    pub fn stamp(&self) -> i64 {
        use std::sync::atomic::Ordering;
        let now = chrono::Utc::now().timestamp_millis();
        let mut last = self.last_ms.load(Ordering::SeqCst);
        loop {
            let next = now.max(last + 1);
            match self
                .last_ms
                .compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(actual) => last = actual,
            }
        }
    }

    /// Sends one probe; also says whether it went over a new connection because the server
    /// closed the kept one (`Connection: close` on the previous answer).
    pub async fn probe(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> (Answer, bool) {
        use std::sync::atomic::Ordering;
        let answer = self.send(method, url, headers, body).await;
        let reconnected = self.keep_alive && self.closed.swap(false, Ordering::SeqCst);
        if let Answer::Http { closes, .. } = &answer {
            self.closed.store(*closes, Ordering::SeqCst);
        }
        (answer, reconnected)
    }

    /// Sends one request and reads its answer.
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self.client.request(method, url);
        for (k, v) in headers {
            request = request.header(k.as_str(), v.as_str());
        }
        if let Some(b) = body {
            request = request.body(b.to_vec());
        }
        let started = Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Answer::Timeout,
            Err(_) => return Answer::Connect,
        };
        let status = response.status().as_u16();
        let closes = response
            .headers()
            .get("connection")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let mut body = Vec::new();
        let mut response = response;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY {
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Answer::Timeout,
                Err(_) => return Answer::Connect,
            }
            if started.elapsed() > self.timeout {
                return Answer::Timeout;
            }
        }
        Answer::Http {
            status,
            body,
            latency: started.elapsed().as_secs_f64(),
            closes,
        }
    }
}

/// The failure reason of an HTTP answer whose status is not `expected`.
pub fn status_reason(status: u16) -> &'static str {
    if status >= 500 {
        "http_5xx"
    } else {
        "http_4xx"
    }
}

/// The value at a dot path (`results.0.status`) of a JSON document.
pub fn json_at<'v>(v: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(v, |v, part| match part.parse::<usize>() {
            Ok(i) if v.is_array() => v.get(i),
            _ => v.get(part),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_reasons() {
        let v: serde_json::Value =
            serde_json::from_str(r#"{"status": "ok", "results": [{"values": [1, 2]}]}"#).unwrap();
        assert_eq!(json_at(&v, "status").unwrap(), "ok");
        assert_eq!(json_at(&v, "results.0.values.1").unwrap(), 2);
        assert!(json_at(&v, "results.3").is_none());
        assert_eq!(status_reason(503), "http_5xx");
        assert_eq!(status_reason(404), "http_4xx");
        assert_eq!(status_reason(302), "http_4xx");
    }
}
