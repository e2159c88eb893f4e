//! The upstream HTTP client against an in-process server that scripts each behaviour the
//! forges and registries show: ETags and 304s, Link and x-next-page pagination, 5xx storms,
//! 429 and 403 secondary limits with Retry-After, spent rate limits, bad credentials, huge and
//! truncated bodies, slow answers and cancellation. Everything on 127.0.0.1.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::certificates;
use mlsteward::collector::ErrorKind;
use mlsteward::config::Secret;
use mlsteward::sources::http::{Auth, Client, Fetched, HttpConfig, Validators};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
struct Scripted {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Duration,
    /// Announce this many bytes but send only the body, then close.
    announce: Option<usize>,
}

fn answer(status: u16) -> Scripted {
    Scripted {
        status,
        ..Scripted::default()
    }
}

impl Scripted {
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    fn body(mut self, body: &str) -> Self {
        self.body = body.as_bytes().to_vec();
        self
    }
}

/// A server that answers requests with the script, in order, and records each request's head.
struct Server {
    addr: String,
    requests: Arc<Mutex<Vec<String>>>,
    script: Arc<Mutex<VecDeque<Scripted>>>,
}

impl Server {
    async fn start(script: Vec<Scripted>) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let recorded = requests.clone();
        let queued = script.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let script = script.clone();
                let recorded = recorded.clone();
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        let head_end = loop {
                            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                                break at + 4;
                            }
                            let mut chunk = [0u8; 4096];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head: Vec<u8> = buffer.drain(..head_end).collect();
                        recorded
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&head).to_lowercase());
                        let next = script.lock().unwrap().pop_front();
                        let reply = next.unwrap_or_else(|| answer(500).body("script exhausted"));
                        tokio::time::sleep(reply.delay).await;
                        let mut out = format!("HTTP/1.1 {} Scripted\r\n", reply.status);
                        for (name, value) in &reply.headers {
                            out.push_str(&format!("{name}: {value}\r\n"));
                        }
                        let length = reply.announce.unwrap_or(reply.body.len());
                        out.push_str(&format!("content-length: {length}\r\n\r\n"));
                        if stream.write_all(out.as_bytes()).await.is_err()
                            || stream.write_all(&reply.body).await.is_err()
                        {
                            return;
                        }
                        if reply.announce.is_some() {
                            return; // cut the body short
                        }
                    }
                });
            }
        });
        Server {
            addr,
            requests,
            script: queued,
        }
    }

    /// Appends answers (for scripts that need the server's own address).
    fn then(&self, reply: Scripted) {
        self.script.lock().unwrap().push_back(reply);
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn quick() -> HttpConfig {
    HttpConfig {
        timeout: Duration::from_secs(5),
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_wait: Duration::from_secs(5),
        ..HttpConfig::default()
    }
}

async fn get(client: &Client, url: &str) -> Result<Fetched, mlsteward::collector::CollectError> {
    client
        .get(url, &Validators::default(), &CancellationToken::new())
        .await
}

#[tokio::test]
async fn an_unchanged_resource_costs_a_304_that_is_not_billable() {
    let server = Server::start(vec![
        answer(200)
            .header("etag", "\"v1\"")
            .header("last-modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            .body("[1]"),
        answer(304),
    ])
    .await;
    let client = Client::new(quick()).unwrap();
    let Fetched::Body {
        body, validators, ..
    } = get(&client, &server.url("/runs")).await.unwrap()
    else {
        panic!("expected a body")
    };
    assert_eq!(body, b"[1]");
    assert_eq!(validators.etag.as_deref(), Some("\"v1\""));
    let again = client
        .get(&server.url("/runs"), &validators, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(again, Fetched::NotModified);
    let requests = server.requests();
    assert!(
        requests[1].contains("if-none-match: \"v1\""),
        "{requests:?}"
    );
    assert!(requests[1].contains("if-modified-since: wed, 21 oct 2015"));
    assert!(requests[0].contains("user-agent: mlsteward/"));
    let stats = client.stats();
    assert_eq!(stats.billable(), 1);
    assert_eq!(stats.requests.get("304"), Some(&1));
}

#[tokio::test]
async fn pages_are_followed_through_link_and_x_next_page() {
    let server = Server::start(vec![]).await;
    server.then(
        answer(200)
            .header(
                "link",
                &format!(
                    "<{}>; rel=\"next\", <{}>; rel=\"last\"",
                    server.url("/items?per_page=2&page=2"),
                    server.url("/items?per_page=2&page=3")
                ),
            )
            .body("[1,2]"),
    );
    server.then(answer(200).header("x-next-page", "3").body("[3,4]"));
    server.then(answer(200).header("x-next-page", "").body("[5]"));
    let client = Client::new(quick()).unwrap();
    let pages = client
        .get_pages(
            &server.url("/items?per_page=2"),
            10,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    let pages: Vec<String> = pages
        .into_iter()
        .map(|p| String::from_utf8(p).unwrap())
        .collect();
    assert_eq!(pages, ["[1,2]", "[3,4]", "[5]"]);
    let requests = server.requests();
    assert!(
        requests[2].starts_with("get /items?per_page=2&page=3 "),
        "{requests:?}"
    );
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_then_given_up() {
    let server = Server::start(vec![answer(500), answer(502), answer(200).body("ok")]).await;
    let client = Client::new(quick()).unwrap();
    assert!(matches!(
        get(&client, &server.url("/x")).await.unwrap(),
        Fetched::Body { .. }
    ));
    assert_eq!(server.requests().len(), 3);

    let server = Server::start(vec![answer(500); 10]).await;
    let e = get(&client, &server.url("/x")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RequestFailed);
    assert_eq!(server.requests().len(), 4, "one attempt and three retries");
}

#[tokio::test]
async fn retry_after_is_obeyed_on_429_and_on_a_secondary_rate_limit() {
    let server = Server::start(vec![
        answer(429).header("retry-after", "1"),
        answer(403)
            .header("retry-after", "1")
            .body("{\"message\": \"You have exceeded a secondary rate limit.\"}"),
        answer(200).body("ok"),
    ])
    .await;
    let client = Client::new(quick()).unwrap();
    let started = Instant::now();
    assert!(matches!(
        get(&client, &server.url("/x")).await.unwrap(),
        Fetched::Body { .. }
    ));
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Asked to wait longer than allowed: a rate_limited error now, the next collection retries.
    let server = Server::start(vec![answer(429).header("retry-after", "3600")]).await;
    let e = get(&client, &server.url("/x")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited);
}

#[tokio::test]
async fn a_spent_rate_limit_is_waited_out_and_a_low_one_slows_down() {
    let reset = chrono::Utc::now().timestamp() + 2;
    let server = Server::start(vec![
        answer(200)
            .header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", &reset.to_string())
            .body("a"),
        answer(200)
            .header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", "4999")
            .header("x-ratelimit-reset", &(reset + 3600).to_string())
            .body("b"),
    ])
    .await;
    let client = Client::new(quick()).unwrap();
    get(&client, &server.url("/a")).await.unwrap();
    let limit = client.stats().rate_limit;
    assert_eq!(limit.remaining, Some(0));
    assert_eq!(limit.limit, Some(5000));
    let started = Instant::now();
    get(&client, &server.url("/b")).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited only {:?} for the reset",
        started.elapsed()
    );
    assert_eq!(client.stats().rate_limit.remaining, Some(4999));
}

#[tokio::test]
async fn bad_credentials_fail_at_once_and_the_token_never_shows() {
    let server = Server::start(vec![
        answer(401),
        answer(500),
        answer(500),
        answer(500),
        answer(500),
    ])
    .await;
    let client = Client::new(HttpConfig {
        auth: Auth::Bearer(Secret::new("s3cr3t-t0ken")),
        ..quick()
    })
    .unwrap();
    let e = get(&client, &server.url("/x?private_token=qu3ry-s3cret"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::AuthFailed);
    assert_eq!(server.requests().len(), 1, "no retry on 401");
    assert!(server.requests()[0].contains("authorization: bearer s3cr3t-t0ken"));
    let e = get(&client, &server.url("/x?private_token=qu3ry-s3cret"))
        .await
        .unwrap_err();
    for secret in ["s3cr3t-t0ken", "qu3ry-s3cret"] {
        assert!(!e.message.contains(secret), "{}", e.message);
    }

    let server = Server::start(vec![answer(401)]).await;
    let basic = Client::new(HttpConfig {
        auth: Auth::Basic {
            username: "jenkins".into(),
            password: Secret::new("api-token"),
        },
        ..quick()
    })
    .unwrap();
    let _ = get(&basic, &server.url("/job/x/api/json")).await;
    assert!(server.requests()[0].contains("authorization: basic amvua2luczphcgktdg9rzw4="));
}

#[tokio::test]
async fn huge_truncated_and_slow_answers_are_bounded() {
    let client = Client::new(HttpConfig {
        max_body_bytes: 1024,
        max_retries: 1,
        timeout: Duration::from_millis(300),
        ..quick()
    })
    .unwrap();
    let server = Server::start(vec![answer(200).body(&"x".repeat(50_000))]).await;
    let e = get(&client, &server.url("/big")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::DecodeFailed, "{}", e.message);

    let truncated = Scripted {
        announce: Some(500),
        ..answer(200).body("[{\"id\": 1")
    };
    let server = Server::start(vec![truncated.clone(), truncated]).await;
    let e = get(&client, &server.url("/cut")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::RequestFailed, "{}", e.message);
    assert_eq!(server.requests().len(), 2, "a broken body is retried");

    let slow = Scripted {
        delay: Duration::from_secs(3),
        ..answer(200)
    };
    let server = Server::start(vec![slow.clone(), slow]).await;
    let started = Instant::now();
    let e = get(&client, &server.url("/slow")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Timeout, "{}", e.message);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn cancellation_ends_a_request_in_flight() {
    let slow = Scripted {
        delay: Duration::from_secs(10),
        ..answer(200)
    };
    let server = Server::start(vec![slow]).await;
    let client = Client::new(quick()).unwrap();
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let started = Instant::now();
    let e = client
        .get(&server.url("/slow"), &Validators::default(), &cancel)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Cancelled);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_client_statistics_render_as_metrics_that_pass_promtool() {
    let reset = chrono::Utc::now().timestamp() + 3600;
    let server = Server::start(vec![
        answer(500),
        answer(200)
            .header("etag", "\"e\"")
            .header("x-ratelimit-limit", "5000")
            .header("x-ratelimit-remaining", "4321")
            .header("x-ratelimit-reset", &reset.to_string()),
        answer(304),
    ])
    .await;
    let client = Client::new(quick()).unwrap();
    let Fetched::Body { validators, .. } = get(&client, &server.url("/a")).await.unwrap() else {
        panic!("expected a body")
    };
    client
        .get(&server.url("/a"), &validators, &CancellationToken::new())
        .await
        .unwrap();
    let families =
        mlsteward::runner::upstream_families(std::iter::once(("github", "gh", client.stats())));
    let text = mlsteward::exposition::render(&families);
    for line in [
        "mlsteward_upstream_requests_total{collector=\"github\",source=\"gh\",code=\"200\"} 1",
        "mlsteward_upstream_requests_total{collector=\"github\",source=\"gh\",code=\"304\"} 1",
        "mlsteward_upstream_requests_total{collector=\"github\",source=\"gh\",code=\"500\"} 1",
        "mlsteward_upstream_request_duration_seconds_count{collector=\"github\",source=\"gh\"} 3",
        "mlsteward_upstream_request_duration_seconds_bucket{collector=\"github\",source=\"gh\",le=\"+Inf\"} 3",
        "mlsteward_upstream_rate_limit_remaining{collector=\"github\",source=\"gh\"} 4321",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
    assert_eq!(client.stats().billable(), 2, "the 304 is not billed");
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (scripts/test.sh installs it)");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_private_server_is_reached_with_its_ca_and_a_client_certificate() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let [ca, server_cert, server_key, identity] = certificates(dir.path());
    let mut server = std::process::Command::new("python3")
        .arg(crate::support::repo_root().join("tests/fixtures/tls_server.py"))
        .args([&server_cert, &server_key, &ca])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let url = format!("https://127.0.0.1:{}/api", port.trim());
    let config = |ca: Option<&std::path::Path>, identity: Option<&std::path::Path>| HttpConfig {
        ca_bundle: ca.map(Into::into),
        client_identity: identity.map(Into::into),
        max_retries: 0,
        ..quick()
    };

    let client = Client::new(config(Some(&ca), Some(&identity))).unwrap();
    let Fetched::Body { body, .. } = get(&client, &url).await.unwrap() else {
        panic!("expected a body")
    };
    assert_eq!(body, b"ok");

    // Without the private CA the server is not trusted; without a certificate it refuses us.
    let untrusted = Client::new(config(None, Some(&identity))).unwrap();
    assert_eq!(
        get(&untrusted, &url).await.unwrap_err().kind,
        ErrorKind::RequestFailed
    );
    let anonymous = Client::new(config(Some(&ca), None)).unwrap();
    assert!(get(&anonymous, &url).await.is_err());
    let _ = server.kill();
    let _ = server.wait();
}

#[tokio::test]
async fn requests_in_flight_are_bounded_per_source() {
    let slow = Scripted {
        delay: Duration::from_millis(300),
        ..answer(200).body("ok")
    };
    let server = Server::start(vec![slow; 6]).await;
    let client = Client::new(HttpConfig {
        concurrency: 2,
        ..quick()
    })
    .unwrap();
    let started = Instant::now();
    let gets: Vec<_> = (0..6)
        .map(|i| {
            let client = client.clone();
            let url = server.url(&format!("/item/{i}"));
            tokio::spawn(async move { get(&client, &url).await })
        })
        .collect();
    for g in gets {
        assert!(g.await.unwrap().is_ok());
    }
    // Six answers of 300 ms, two at a time: three rounds.
    assert!(
        started.elapsed() >= Duration::from_millis(850),
        "{:?}: more than two requests were in flight",
        started.elapsed()
    );
}

/// No credential crosses to another host: a redirect to another origin is not followed by a
/// client with credentials of any scheme (bearer, a header of its own such as GitLab's
/// `PRIVATE-TOKEN`, basic), and the error says so; a redirect on the same origin is followed
/// with them, and a client without credentials follows any.
#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_host() {
    let schemes = [
        Auth::Bearer(Secret::new("bearer-s3cret")),
        Auth::Header {
            name: "PRIVATE-TOKEN".into(),
            token: Secret::new("gitlab-s3cret"),
        },
        Auth::Basic {
            username: "jenkins".into(),
            password: Secret::new("basic-s3cret"),
        },
    ];
    for auth in schemes {
        let elsewhere = Server::start(vec![answer(200).body("{}")]).await;
        let origin = Server::start(vec![
            answer(302).header("location", &elsewhere.url("/stolen"))
        ])
        .await;
        let client = Client::new(HttpConfig {
            auth: auth.clone(),
            ..quick()
        })
        .unwrap();
        let e = get(&client, &origin.url("/api")).await.unwrap_err();
        assert!(e.message.contains("redirected"), "{auth:?}: {}", e.message);
        assert!(
            elsewhere.requests().is_empty(),
            "{auth:?}: the other host was asked: {:?}",
            elsewhere.requests()
        );
        // On the same origin, the redirect is followed, with the credentials.
        let same = Server::start(vec![]).await;
        same.then(answer(301).header("location", &same.url("/moved")));
        same.then(answer(200).body("{}"));
        get(&client, &same.url("/api")).await.unwrap();
        assert_eq!(same.requests().len(), 2, "{auth:?}");
        let second = &same.requests()[1];
        assert!(
            second.contains("authorization") || second.contains("private-token"),
            "{auth:?}: {second}"
        );
    }
    // Without credentials, a redirect anywhere is followed.
    let elsewhere = Server::start(vec![answer(200).body("{}")]).await;
    let origin = Server::start(vec![answer(302).header("location", &elsewhere.url("/x"))]).await;
    let anonymous = Client::new(quick()).unwrap();
    get(&anonymous, &origin.url("/api")).await.unwrap();
    assert_eq!(elsewhere.requests().len(), 1);
}

/// A token read from a file that the upstream refuses is read again, once: after a rotation
/// the request succeeds with the new token without a reload; an unchanged file fails at once.
#[tokio::test]
async fn a_refused_token_from_a_file_is_read_again_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "old-token\n").unwrap();
    let server = Server::start(vec![
        answer(200).body("{}"),
        answer(401),
        answer(200).body("{}"),
    ])
    .await;
    let client = Client::new(HttpConfig {
        auth: Auth::Bearer(Secret::from_file(&file).unwrap()),
        ..quick()
    })
    .unwrap();
    get(&client, &server.url("/a")).await.unwrap();
    std::fs::write(&file, "new-token\n").unwrap();
    get(&client, &server.url("/b")).await.unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests[1].contains("bearer old-token"), "{}", requests[1]);
    assert!(requests[2].contains("bearer new-token"), "{}", requests[2]);
    // Refused again with the file unchanged: one request, then the error.
    let server = Server::start(vec![answer(401), answer(200)]).await;
    let e = get(&client, &server.url("/c")).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AuthFailed);
    assert_eq!(server.requests().len(), 1);
}
