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
///
/// With keep-alive, a request that fails after its connection was made and before any answer
/// (a server such as Feast's resets a kept connection after a 404 or a 500 without saying
/// `Connection: close`) is sent once more on a new connection: the probe is that second
/// request's, with its latency, and it counts as a reconnect, never as `connect`.
#[derive(Clone)]
pub struct Prober {
    client: reqwest::Client,
    /// A client that never keeps a connection: the retry of a request a kept connection lost.
    fresh: reqwest::Client,
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
        let build = |keep: bool| {
            crate::install_crypto();
            let mut builder = reqwest::Client::builder()
                .user_agent(concat!("mlsteward/", env!("CARGO_PKG_VERSION"), " (probe)"))
                .timeout(timeout)
                .connect_timeout(timeout)
                .redirect(reqwest::redirect::Policy::none());
            if !keep {
                builder = builder.pool_max_idle_per_host(0);
            }
            builder.build().map_err(|e| {
                CollectError::new(
                    ErrorKind::RequestFailed,
                    format!("building the prober: {e}"),
                )
            })
        };
        Ok(Prober {
            client: build(keep_alive)?,
            fresh: build(false)?,
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
    /// closed the kept one (`Connection: close` on the previous answer, or a kept connection
    /// lost before any answer: see [`Prober`]).
    pub async fn probe(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> (Answer, bool) {
        use std::sync::atomic::Ordering;
        let (mut answer, lost) = self.send(&self.client, method, url, headers, body).await;
        let mut reconnected = self.keep_alive && self.closed.swap(false, Ordering::SeqCst);
        if lost && self.keep_alive {
            answer = self.send(&self.fresh, method, url, headers, body).await.0;
            reconnected = true;
        }
        if let Answer::Http { closes, .. } = &answer {
            self.closed.store(*closes, Ordering::SeqCst);
        }
        (answer, reconnected)
    }

    /// Sends one request on `client` and reads its answer; also says whether the request was
    /// lost after its connection was made and before any answer (only a kept connection that
    /// the server dropped does that: a new one fails as `Connect`).
    async fn send(
        &self,
        client: &reqwest::Client,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<&[u8]>,
    ) -> (Answer, bool) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = client.request(method, url);
        for (k, v) in headers {
            request = request.header(k.as_str(), v.as_str());
        }
        if let Some(b) = body {
            request = request.body(b.to_vec());
        }
        let started = Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return (Answer::Timeout, false),
            Err(e) => return (Answer::Connect, !e.is_connect()),
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
                Err(e) if e.is_timeout() => return (Answer::Timeout, false),
                Err(_) => return (Answer::Connect, false),
            }
            if started.elapsed() > self.timeout {
                return (Answer::Timeout, false);
            }
        }
        (
            Answer::Http {
                status,
                body,
                latency: started.elapsed().as_secs_f64(),
                closes,
            },
            false,
        )
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

    /// A server that answers 404 on a kept connection, then drops that connection when the
    /// next request arrives on it (as Feast's server does after an error), and answers a new
    /// connection: the second probe is that new connection's answer, a reconnect, not
    /// `connect`.
    #[tokio::test]
    async fn a_kept_connection_lost_before_any_answer_is_retried_on_a_new_one() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let read_request = |conn: &mut std::net::TcpStream| {
                let mut seen = Vec::new();
                let mut buf = [0u8; 1024];
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = conn.read(&mut buf).unwrap();
                    if n == 0 {
                        return false;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                true
            };
            let (mut first, _) = listener.accept().unwrap();
            assert!(read_request(&mut first));
            first
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            // The next request on the kept connection: dropped unanswered.
            assert!(read_request(&mut first));
            drop(first);
            let (mut second, _) = listener.accept().unwrap();
            assert!(read_request(&mut second));
            second
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .unwrap();
        });
        let prober = Prober::new(Duration::from_secs(5), true).unwrap();
        let url = format!("http://{addr}/");
        let (answer, reconnected) = prober.probe("GET", &url, &[], None).await;
        assert!(
            matches!(answer, Answer::Http { status: 404, .. }),
            "{answer:?}"
        );
        assert!(!reconnected);
        let (answer, reconnected) = prober.probe("GET", &url, &[], None).await;
        assert!(
            matches!(&answer, Answer::Http { status: 200, body, .. } if body == b"ok"),
            "{answer:?}"
        );
        assert!(reconnected);
        server.join().unwrap();
    }

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
