//! Security and reliability at the boundaries an attacker or an unlucky operator touches:
//! rotated secrets, webhooks refused before their body, a store deleted under the daemon,
//! credentials in URLs, large upstream answers, and the store commands.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::fake_forge::FakeGithub;
use crate::forges::{github_signature, one_run_each, HOUR};
use crate::git_source::build_fixture;
use crate::support::*;

fn post_reload(addr: &str) -> HttpResponse {
    http_post(addr, "/-/reload", &[], b"").unwrap()
}

/// A rotated webhook secret (in its file) and a rotated token take effect: after a reload
/// the old secret gets 401 and the new one 202; a token rotated in its file without a reload
/// is read again when the forge refuses the old one, and the collection succeeds.
#[test]
fn rotated_webhook_secrets_and_tokens_take_effect() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::start(Some("token-one"), 100);
    one_run_each(&gh, &[("acme/a", 1)], now() - 2 * HOUR);
    let (old, new) = ("9f2c6c1e0d8a4b7e3f5a1c2d", "0a1b2c3d4e5f60718293a4b5");
    std::fs::write(dir.path().join("hook"), format!("{old}\n")).unwrap();
    std::fs::write(dir.path().join("token"), "token-one\n").unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: gh\n    type: github\n    api_url: {}\n    repositories: [acme/a]\n    pull_requests_and_issues: false\n    token_file: token\n    webhook_secret_file: hook\n    schedule: 1h\n",
            gh.url()
        ),
    )
    .unwrap();
    let mut daemon = Daemon::run(&config, &dir.path().join("s.db"), &[]);
    daemon.wait_ready();
    let addr = daemon.addr.clone();
    let event = br#"{"action": "completed", "repository": {"full_name": "acme/a"}}"#;
    let hook = |secret: &str, delivery: &str| {
        http_post(
            &addr,
            "/webhooks/github",
            &[
                ("X-GitHub-Event", "workflow_run"),
                ("X-GitHub-Delivery", delivery),
                ("X-Hub-Signature-256", &github_signature(secret, event)),
            ],
            event,
        )
        .unwrap()
        .status
    };
    assert_eq!(hook(old, "d1"), 202);
    std::fs::write(dir.path().join("hook"), format!("{new}\n")).unwrap();
    let reloaded = post_reload(&addr);
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());
    assert!(
        reloaded.text().contains("changed: gh"),
        "{}",
        reloaded.text()
    );
    assert_eq!(hook(old, "d2"), 401, "the old secret is refused");
    assert_eq!(hook(new, "d3"), 202, "the new secret is taken");

    // The token rotates upstream and in its file, without a reload.
    gh.with(|s| s.token = Some("token-two".into()));
    std::fs::write(dir.path().join("token"), "token-two\n").unwrap();
    let mark = gh.log_len();
    assert_eq!(hook(new, "d4"), 202);
    let started = Instant::now();
    loop {
        let log = gh.log_since(mark);
        // Refused, then answered (a 304: nothing new since the last collection).
        let refused = log.iter().position(|(_, code)| *code == 401);
        if refused.is_some_and(|i| log[i + 1..].iter().any(|(_, c)| matches!(*c, 200 | 304))) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no collection with the new token: {log:?}\n{}",
            daemon.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = daemon.metrics();
    assert_eq!(
        sample(
            &m,
            "mlsteward_collector_success{collector=\"github\",source=\"gh\"}"
        ),
        Some(1.0),
        "{m}"
    );
    assert!(!daemon.logs().contains("token-two") && !daemon.logs().contains(new));
}

/// A webhook without a valid signature header is answered before its body is read (a
/// client that never sends the body still gets its 401 at once), on a daemon without any
/// webhook source too (404); refusals are counted without a render.
#[test]
fn webhooks_are_refused_before_their_body_and_render_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::start(None, 100);
    one_run_each(&gh, &[("acme/a", 1)], now() - 2 * HOUR);
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: gh\n    type: github\n    api_url: {}\n    repositories: [acme/a]\n    pull_requests_and_issues: false\n    webhook_secret: 9f2c6c1e0d8a4b7e3f5a1c2d\n    schedule: 1h\n",
            gh.url()
        ),
    )
    .unwrap();
    let mut daemon = Daemon::run(&config, &dir.path().join("s.db"), &[]);
    daemon.wait_ready();
    let headers_only = |path: &str, extra: &str| -> (String, Duration) {
        let mut stream = std::net::TcpStream::connect(&daemon.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let started = Instant::now();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n{extra}\r\n"
        )
        .unwrap();
        let mut answer = [0u8; 512];
        let n = stream.read(&mut answer).unwrap_or(0);
        (
            String::from_utf8_lossy(&answer[..n]).into_owned(),
            started.elapsed(),
        )
    };
    let before = daemon.metrics();
    for (extra, status) in [
        ("", "401"),
        ("X-Hub-Signature-256: sha256=nothex\r\n", "401"),
    ] {
        let (answer, took) = headers_only("/webhooks/github", extra);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer}"
        );
        assert!(took < Duration::from_secs(2), "waited {took:?} for a body");
    }
    let (answer, _) = headers_only("/webhooks/gitlab", "X-Gitlab-Token: t\r\n");
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    // Many refusals, then the counters: no derivation, no render.
    for _ in 0..200 {
        let r = http_post(&daemon.addr, "/webhooks/github", &[], b"{}").unwrap();
        assert_eq!(r.status, 401);
    }
    std::thread::sleep(Duration::from_millis(1100));
    let after = daemon.metrics();
    assert_eq!(
        sample(
            &after,
            "mlsteward_webhook_requests_total{forge=\"github\",result=\"unauthorized\"}"
        ),
        Some(202.0)
    );
    for series in [
        "mlsteward_renders_total",
        "mlsteward_derivations_total{group=\"ci\"}",
    ] {
        assert_eq!(sample(&after, series), sample(&before, series), "{series}");
    }
}

/// A store file deleted under the running daemon is noticed at the next collection: the
/// store is unhealthy, the log says why, and so does the landing page.
#[test]
fn a_store_deleted_while_running_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("schedule: 20s", "schedule: 1s")).unwrap();
    let storage = dir.path().join("data/db.sqlite");
    let mut daemon = Daemon::run(&config, &storage, &[]);
    daemon.wait_ready();
    assert_eq!(
        sample(&daemon.metrics(), "mlsteward_store_healthy"),
        Some(1.0)
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", storage.display()));
    }
    wait_until("the store to be unhealthy", Duration::from_secs(30), || {
        sample(&daemon.metrics(), "mlsteward_store_healthy") == Some(0.0)
    });
    assert!(
        daemon.logs().contains("the store file was deleted"),
        "{}",
        daemon.logs()
    );
    let page = http_get(&daemon.addr, "/", &[]).unwrap().text();
    assert!(
        page.contains("Store unhealthy") && page.contains("deleted"),
        "{page}"
    );
}

/// A token in a git URL's query string never shows: not in the log, the metrics, or the
/// landing page (the fetch fails, and its error names the URL with the value masked).
#[test]
fn a_token_in_a_git_url_query_is_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    let port = free_port();
    std::fs::write(
        &config,
        format!("sources:\n  - name: remote\n    type: git\n    url: http://127.0.0.1:{port}/r.git?private_token=qu3ry-s3cret\n    schedule: 1h\n"),
    )
    .unwrap();
    let mut daemon = Daemon::run(&config, &dir.path().join("s.db"), &[]);
    daemon.wait_ready();
    let shown = [
        daemon.logs(),
        daemon.metrics(),
        http_get(&daemon.addr, "/", &[]).unwrap().text(),
    ];
    assert!(shown[2].contains("private_token=***"), "{}", shown[2]);
    for text in shown {
        assert!(!text.contains("qu3ry-s3cret"), "{text}");
    }
}

/// `check-store` checks the store alone (no configuration needed), and an empty store file
/// at start is said in the log before it is initialised.
#[test]
fn check_store_needs_no_config_and_an_empty_store_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s.db");
    mlsteward::store::Store::open(&store).unwrap();
    let out = mlsteward(&[
        "check-store",
        "--storage.path",
        store.to_str().unwrap(),
        "--config.file",
        dir.path().join("absent.yaml").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok"));
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let (_repo, config) = build_fixture(dir.path(), "");
    let out = mlsteward(&[
        "collect-once",
        "--config.file",
        config.to_str().unwrap(),
        "--storage.path",
        empty.to_str().unwrap(),
    ]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("the store file is empty"), "{log}");
}

/// `VmHWM` and `VmRSS` of a process, in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap()
            / 1024.0
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Answers 50 MB streamed without a length (after a first, small answer) are refused at the
/// 32 MiB cap while streaming: the daemon's peak stays within the cap and a margin of its
/// resident size before, and the memory goes back afterwards.
#[test]
fn large_upstream_answers_are_refused_at_the_cap_while_streaming() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut served = 0;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut head = [0u8; 4096];
            let _ = conn.read(&mut head);
            served += 1;
            if served == 1 {
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]");
                continue;
            }
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..800 {
                let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
                framed.extend_from_slice(&chunk);
                framed.extend_from_slice(b"\r\n");
                if conn.write_all(&framed).is_err() {
                    break;
                }
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!("sources:\n  - name: hub\n    type: huggingface\n    author: acme\n    api_url: http://{upstream}\n    schedule: 2s\n"),
    )
    .unwrap();
    let mut daemon = Daemon::run(&config, &dir.path().join("s.db"), &[]);
    daemon.wait_ready();
    let pid = daemon.child.id();
    let (_, before) = memory_mib(pid);
    wait_until("three refused answers", Duration::from_secs(60), || {
        sample(
            &daemon.metrics(),
            "mlsteward_collector_errors_total{collector=\"huggingface\",source=\"hub\",error_kind=\"decode_failed\"}",
        )
        .is_some_and(|n| n >= 3.0)
    });
    std::thread::sleep(Duration::from_millis(500));
    let (peak, after) = memory_mib(pid);
    eprintln!("RSS before {before:.1} MiB, peak {peak:.1} MiB, after {after:.1} MiB");
    assert!(
        peak < before + 32.0 + 24.0,
        "peak {peak:.1} MiB from {before:.1} MiB"
    );
    assert!(
        after < before + 16.0,
        "{after:.1} MiB stayed, from {before:.1} MiB"
    );
}
