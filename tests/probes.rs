//! Probes through the real binary against an in-process server: results by reason, the
//! latency histogram as a client sees it (a 20 ms server is never measured faster), counters
//! that add up across collections and restarts.

use std::sync::Arc;
use std::time::Duration;

use crate::fake_forge::{FakeServer, Request, Response};
use crate::git_source::{collect_once, collect_once_with};
use crate::support::*;

fn server() -> FakeServer {
    FakeServer::start(Arc::new(|r: &Request| match r.path.as_str() {
        "/ok" => {
            std::thread::sleep(Duration::from_millis(20));
            Response::json(200, &serde_json::json!({"status": "ok"}))
        }
        "/down" => Response::json(200, &serde_json::json!({"status": "down"})),
        "/slow" => {
            std::thread::sleep(Duration::from_millis(1500));
            Response::json(200, &serde_json::json!({"status": "ok"}))
        }
        "/err" => Response::json(503, &serde_json::json!({"error": "overloaded"})),
        _ => Response::json(404, &serde_json::json!({})),
    }))
}

#[test]
fn probes_classify_time_and_count_what_a_client_sees() {
    let dir = tempfile::tempdir().unwrap();
    let s = server();
    let closed = format!("127.0.0.1:{}", free_port());
    let probe = |name: &str, path: &str, extra: &str| {
        format!(
            "  - name: {name}\n    type: http_probe\n    asset: ranker\n    url: {}{path}\n    probes: 3\n    request_timeout: 500ms\n{extra}",
            s.url()
        )
    };
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n{}{}{}{}{}  - name: gone\n    type: http_probe\n    asset: ranker\n    url: http://{closed}/\n",
            probe("healthy", "/ok", "    json_path: status\n    json_equals: ok\n    latency_target: 50ms\n"),
            probe("wrong", "/down", "    json_path: status\n    json_equals: ok\n"),
            probe("slow", "/slow", ""),
            probe("failing", "/err", ""),
            probe("missing", "/nope", ""),
        ),
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    let count = |text: &str, target: &str, result: &str| {
        sample(
            text,
            &format!("mlsteward_probes_total{{asset=\"ranker\",target=\"{target}\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(count(&text, "healthy", "ok"), Some(3.0));
    assert_eq!(count(&text, "wrong", "bad_body"), Some(3.0));
    assert_eq!(count(&text, "slow", "timeout"), Some(3.0), "{text}");
    assert_eq!(count(&text, "failing", "http_5xx"), Some(3.0));
    assert_eq!(count(&text, "missing", "http_4xx"), Some(3.0));
    assert_eq!(count(&text, "gone", "connect"), Some(1.0));
    assert_eq!(count(&text, "healthy", "timeout"), Some(0.0));
    let h = |part: &str, target: &str| {
        sample(
            &text,
            &format!(
                "mlsteward_probe_duration_seconds_{part}{{asset=\"ranker\",target=\"{target}\"}}"
            ),
        )
    };
    // Three answered probes of a server that waits 20 ms: never faster than that.
    assert_eq!(h("count", "healthy"), Some(3.0));
    let sum = h("sum", "healthy").unwrap();
    assert!((0.06..1.5).contains(&sum), "{sum}");
    // Timeouts and refused connections have no latency.
    assert_eq!(h("count", "slow"), Some(0.0));
    assert_eq!(h("count", "gone"), Some(0.0));
    let success = |text: &str, target: &str| {
        sample(
            text,
            &format!("mlsteward_probe_success{{asset=\"ranker\",target=\"{target}\"}}"),
        )
    };
    assert_eq!(success(&text, "healthy"), Some(1.0));
    assert_eq!(success(&text, "failing"), Some(0.0));
    assert_eq!(
        sample(
            &text,
            "mlsteward_probe_latency_target_seconds{asset=\"ranker\",target=\"healthy\"}"
        ),
        Some(0.05)
    );

    // The day's p95, against the stored latencies sorted here: nearest rank of 3 is the
    // largest; a target with no answered probe has none.
    let stored = || {
        let store = mlsteward::store::Store::open(&storage).unwrap();
        let mut healthy: Vec<f64> = store
            .read(|r| r.probe_samples())
            .unwrap()
            .iter()
            .filter(|r| r.target == "healthy")
            .filter_map(|r| r.latency)
            .collect();
        healthy.sort_by(f64::total_cmp);
        healthy
    };
    let healthy = stored();
    assert_eq!(healthy.len(), 3);
    let p95 = |text: &str, target: &str| {
        sample(
            text,
            &format!("mlsteward_probe_latency_p95_seconds{{asset=\"ranker\",target=\"{target}\"}}"),
        )
    };
    assert_eq!(p95(&text, "healthy"), Some(healthy[2]));
    assert_eq!(p95(&text, "slow"), None);

    // A second collection adds three more of each: counters add up from the store.
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok);
    assert_eq!(count(&text, "healthy", "ok"), Some(6.0));
    assert_eq!(count(&text, "slow", "timeout"), Some(6.0));
    assert_eq!(count(&text, "gone", "connect"), Some(2.0));
    // Six answered now: nearest rank ceil(0.95 * 6) = 6, the largest again.
    let healthy = stored();
    assert_eq!(healthy.len(), 6);
    assert_eq!(p95(&text, "healthy"), Some(healthy[5]));
}

#[test]
fn a_probe_target_comes_only_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "sources:\n  - name: p\n    type: http_probe\n    asset: a\n    url: file:///etc/passwd\n    expected_status: 700\n",
    )
    .unwrap();
    let out = mlsteward(&["check-config", "--config.file", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sources[0].url: expected a https://, http:// URL"),
        "{err}"
    );
    assert!(
        err.contains("sources[0].expected_status: 700 is not an HTTP status"),
        "{err}"
    );
}

/// A server that closes the kept connection after every answer (as gunicorn does every
/// ~1,000 requests): each later probe reconnects, and says so, unless keep-alive is off.
#[test]
fn reconnects_after_connection_close_are_counted() {
    let s = FakeServer::start(Arc::new(|_: &Request| {
        let mut r = Response::json(200, &serde_json::json!({"status": "ok"}));
        r.headers.push(("connection".into(), "close".into()));
        r
    }));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: closing\n    type: http_probe\n    asset: a\n    url: {0}/\n    probes: 3\n  - name: fresh\n    type: http_probe\n    asset: a\n    url: {0}/\n    probes: 3\n    keep_alive: false\n",
            s.url()
        ),
    )
    .unwrap();
    let (ok, text) = collect_once(&config, &dir.path().join("s.db"));
    assert!(ok, "{text}");
    let reconnects = |target: &str| {
        sample(
            &text,
            &format!("mlsteward_probe_reconnects_total{{asset=\"a\",target=\"{target}\"}}"),
        )
    };
    // Probes 2 and 3 follow an answer that closed the connection.
    assert_eq!(reconnects("closing"), Some(2.0));
    // Without keep-alive every probe connects anyway: nothing to report.
    assert_eq!(reconnects("fresh"), Some(0.0));
    assert_eq!(
        sample(
            &text,
            "mlsteward_probes_total{asset=\"a\",target=\"closing\",result=\"ok\"}"
        ),
        Some(3.0)
    );
}

/// `--shard K/N`: an `http_probe` source runs on the replica that owns its asset only, so two
/// replicas probe each target once between them, not once each.
#[test]
fn sharded_replicas_probe_each_target_once() {
    let hits = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = hits.clone();
    let s = FakeServer::start(Arc::new(move |r: &Request| {
        seen.lock().unwrap().push(r.path.clone());
        Response::json(200, &serde_json::json!({"status": "ok"}))
    }));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    let sources: String = (0..6)
        .map(|i| {
            format!(
                "  - name: p{i}\n    type: http_probe\n    asset: model-{i}\n    url: {}/p{i}\n    probes: 1\n",
                s.url()
            )
        })
        .collect();
    std::fs::write(&config, format!("sources:\n{sources}")).unwrap();
    let run = |store: &str, shard: &str| -> String {
        let (ok, text) = collect_once_with(&config, &dir.path().join(store), &["--shard", shard]);
        assert!(ok, "{text}");
        text
    };
    let replicas = [run("s0.db", "0/2"), run("s1.db", "1/2")];
    let mut paths = hits.lock().unwrap().clone();
    paths.sort();
    let expected: Vec<String> = (0..6).map(|i| format!("/p{i}")).collect();
    assert_eq!(paths, expected, "each target once, across both replicas");
    for i in 0..6 {
        let runs = replicas
            .iter()
            .filter(|t| {
                sample(
                    t,
                    &format!(
                        "mlsteward_collector_success{{collector=\"http_probe\",source=\"p{i}\"}}"
                    ),
                ) == Some(1.0)
            })
            .count();
        assert_eq!(runs, 1, "p{i} runs on exactly one replica");
    }
    assert!(
        replicas
            .iter()
            .all(|t| t.contains("mlsteward_collector_success{collector=\"http_probe\"")),
        "both replicas probe something (six assets split by hash)"
    );
}
