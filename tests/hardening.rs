//! The daemon against unlucky disks, a second process, and odd repositories: each test pins one
//! failure found by probing it (the hardening issue).

use std::time::Duration;

use crate::git_source::{build_fixture, collect_once};
use crate::support::*;

#[test]
fn a_corrupt_store_is_loud_and_the_self_metrics_are_still_served() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    let (ok, _) = collect_once(&config, &storage);
    assert!(ok);
    corrupt_store(&storage);

    let out = mlsteward(&[
        "check-store",
        "--config.file",
        config.to_str().unwrap(),
        "--storage.path",
        storage.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(storage.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("damaged"), "{stderr}");

    let mut daemon = Daemon::run(&config, &storage, &[]);
    daemon.wait_ready();
    let addr = daemon.addr.clone();
    let mut text = String::new();
    wait_until(
        "the store to be reported unhealthy",
        Duration::from_secs(30),
        || {
            text = http_get(&addr, "/metrics", &[]).unwrap().text();
            sample(&text, "mlsteward_store_healthy") == Some(0.0)
        },
    );
    assert!(
        text.contains("mlsteward_collector_success{collector=\"git\",source=\"fixture\"}"),
        "{text}"
    );
    assert!(text.contains("mlsteward_build_info"), "{text}");
    let landing = http_get(&addr, "/", &[]).unwrap().text();
    assert!(landing.contains("Store unhealthy"), "{landing}");
    assert!(landing.contains(storage.to_str().unwrap()), "{landing}");

    // A healthy store says so.
    let fresh = dir.path().join("fresh/db.sqlite");
    collect_once(&config, &fresh);
    let out = mlsteward(&[
        "check-store",
        "--config.file",
        config.to_str().unwrap(),
        "--storage.path",
        fresh.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"));
}

#[test]
fn a_second_daemon_on_one_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    let mut first = Daemon::run(&config, &storage, &[]);
    first.wait_ready();
    let out = mlsteward(&[
        "collect-once",
        "--config.file",
        config.to_str().unwrap(),
        "--storage.path",
        storage.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("another mlsteward process"), "{stderr}");
    // Reading the store alongside the daemon is fine.
    let out = mlsteward(&[
        "report",
        "--config.file",
        config.to_str().unwrap(),
        "--storage.path",
        storage.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(first);
    // Once the first is gone, the store is free again.
    let (ok, _) = collect_once(&config, &storage);
    assert!(ok);
}

#[test]
fn simultaneous_starts_on_a_fresh_store_never_race_on_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    // Eight collectors at once on a store that does not exist yet: one holds the store, the
    // others are refused with a clear message; none trips over another's schema creation.
    let children: Vec<_> = (0..8)
        .map(|_| {
            std::process::Command::new(bin())
                .args([
                    "collect-once",
                    "--config.file",
                    config.to_str().unwrap(),
                    "--storage.path",
                    storage.to_str().unwrap(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut succeeded = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            succeeded += 1;
        } else {
            assert!(stderr.contains("another mlsteward process"), "{stderr}");
        }
    }
    assert!(succeeded >= 1);
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    assert_eq!(
        sample(
            &text,
            "mlsteward_git_commits{source=\"fixture\",outcome=\"credited\"}"
        ),
        Some(6.0)
    );
}

#[test]
fn a_config_without_sources_is_accepted_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("empty.yaml");
    std::fs::write(&config, "").unwrap();
    let out = mlsteward(&["check-config", "--config.file", config.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: no sources"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ready_means_every_source_is_in_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(
        dir.path(),
        "  - name: broken\n    type: git\n    path: does-not-exist\n    schedule: 10s\n",
    );
    let storage = dir.path().join("data/db.sqlite");
    let daemon = Daemon::run(&config, &storage, &[]);
    let addr = daemon.addr.clone();
    // Poll as fast as a client would; at the first 200, the metrics must hold both sources.
    wait_until("ready", Duration::from_secs(60), || {
        http_get(&addr, "/-/ready", &[]).is_ok_and(|r| r.status == 200)
    });
    let text = http_get(&addr, "/metrics", &[]).unwrap().text();
    for source in ["fixture", "broken"] {
        assert!(
            text.contains(&format!(
                "mlsteward_collector_success{{collector=\"git\",source=\"{source}\"}}"
            )),
            "{source} missing at the first ready:\n{text}"
        );
    }
}

#[test]
fn future_dated_commits_are_clamped_to_the_collection_time() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(&dir.path().join("repo"));
    repo.commit(
        "Tim Travel <tim@example.com>",
        253_402_300_799, // 9999-12-31
        &[("src/a.py", "a = 1\n")],
        "From the future",
    );
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "sources:\n  - name: r\n    type: git\n    path: repo\n",
    )
    .unwrap();
    let before = now();
    let (ok, text) = collect_once(&config, &dir.path().join("db.sqlite"));
    assert!(ok, "{text}");
    let last = sample(
        &text,
        "mlsteward_asset_last_update_timestamp_seconds{asset=\"r\"}",
    )
    .unwrap();
    assert!(
        last >= before as f64 && last <= now() as f64,
        "clamped to the collection: {last}"
    );
}

#[test]
fn a_malformed_commit_is_skipped_counted_and_the_rest_mined() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(&dir.path().join("repo"));
    let t0 = now() - 10 * DAY;
    repo.commit(
        "Ann Lee <ann@example.com>",
        t0,
        &[("a.txt", "a\n")],
        "First",
    );
    // A commit object without an author line, as old or foreign tools sometimes wrote them.
    let tree = repo.git(&["rev-parse", "HEAD^{tree}"]).trim().to_string();
    let parent = repo.head();
    let raw = format!(
        "tree {tree}\nparent {parent}\ncommitter Ghost <ghost@example.com> {t0} +0000\n\nNo author\n"
    );
    let path = dir.path().join("raw-commit");
    std::fs::write(&path, raw).unwrap();
    let bad = repo
        .git(&[
            "hash-object",
            "-t",
            "commit",
            "-w",
            "--literally",
            path.to_str().unwrap(),
        ])
        .trim()
        .to_string();
    repo.git(&["update-ref", "refs/heads/main", &bad]);
    repo.commit(
        "Bob Ray <bob@example.com>",
        t0 + DAY,
        &[("b.txt", "b\n")],
        "After the bad one",
    );
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "sources:\n  - name: r\n    type: git\n    path: repo\n",
    )
    .unwrap();
    let (ok, text) = collect_once(&config, &dir.path().join("db.sqlite"));
    assert!(ok, "{text}");
    assert_eq!(
        sample(
            &text,
            "mlsteward_git_commits{source=\"r\",outcome=\"unreadable\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_git_commits{source=\"r\",outcome=\"credited\"}"
        ),
        Some(2.0)
    );
}

#[test]
fn a_shallow_clone_is_mined_from_its_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, config) = build_fixture(dir.path(), "");
    let url = format!("file://{}", repo.dir.display());
    let shallow = dir.path().join("shallow");
    repo.git(&[
        "clone",
        "-q",
        "--depth",
        "4",
        &url,
        shallow.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("path: repo", "path: shallow")).unwrap();
    let (ok, text) = collect_once(&config, &dir.path().join("db.sqlite"));
    assert!(ok, "{text}");
    // Depth 4 keeps Util, Docs, the merge and the merge's two parents (Changelog and Add
    // data), which are the boundary git records in `.git/shallow`: their own parents are
    // absent, so they cannot be diffed and earn nothing.
    let boundary = std::fs::read_to_string(shallow.join(".git/shallow")).unwrap();
    assert_eq!(boundary.lines().count(), 2);
    assert_eq!(
        sample(&text, "mlsteward_git_shallow{source=\"fixture\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_git_commits{source=\"fixture\",outcome=\"shallow_boundary\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_credited_commits_total{asset=\"fixture\",contributor=\"Fay\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_credited_commits_total{asset=\"fixture\",contributor=\"Cy Park\"}"
        ),
        None,
        "the boundary commit is not credited"
    );
}

#[test]
fn sources_whose_names_differ_only_in_slashes_have_separate_mirrors() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = build_fixture(dir.path(), "");
    let other = Repo::init(&dir.path().join("other"));
    other.commit(
        "Olga Other <olga@example.com>",
        now() - DAY,
        &[("x.txt", "x\n")],
        "Other repository",
    );
    let config = dir.path().join("mirrors.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: team/x\n    type: git\n    url: file://{}\n  - name: team_x\n    type: git\n    url: file://{}\n",
            repo.dir.display(),
            other.dir.display()
        ),
    )
    .unwrap();
    let (ok, text) = collect_once(&config, &dir.path().join("data/db.sqlite"));
    assert!(ok, "{text}");
    assert!(
        sample(
            &text,
            "mlsteward_credited_commits_total{asset=\"team/x\",contributor=\"Olga Other\"}"
        )
        .is_none(),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_credited_commits_total{asset=\"team_x\",contributor=\"Olga Other\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_credited_commits_total{asset=\"team/x\",contributor=\"Ann Lee\"}"
        ),
        Some(2.0)
    );
}

#[test]
fn idle_and_slow_connections_cannot_take_metrics_down() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    // A hard limit of 256 open files: the daemon caps itself at 96 connections.
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(format!(
        "ulimit -n 256 && exec {} run --config.file {} --web.listen-address 127.0.0.1:0 --storage.path {}",
        bin().display(),
        config.display(),
        storage.display()
    ));
    let mut daemon = Daemon::spawn(command);
    let addr = daemon.addr.clone();
    daemon.wait_ready();

    // 300 peers that connect and say nothing, and one that trickles a header byte by byte.
    let idle: Vec<TcpStream> = (0..300)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    assert!(idle.len() > 200, "only {} connected", idle.len());
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let r = http_get(&addr, "/metrics", &[]).expect("a scrape during the flood");
        assert_eq!(r.status, 200);
        assert!(r.text().contains("mlsteward_build_info"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    // The trickling peer is cut off once its header read times out (10 s).
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "a slow header held the connection for {:?}",
        started.elapsed()
    );
    // Collections kept working meanwhile: the source never failed.
    let text = daemon.metrics();
    assert_eq!(
        sample(
            &text,
            "mlsteward_collector_success{collector=\"git\",source=\"fixture\"}"
        ),
        Some(1.0)
    );
    drop(idle);
}

#[test]
fn error_logs_are_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(
        dir.path(),
        "  - name: broken\n    type: git\n    url: file:///does/not/exist.git\n",
    );
    let out = mlsteward(&[
        "collect-once",
        "--config.file",
        config.to_str().unwrap(),
        "--storage.path",
        dir.path().join("db.sqlite").to_str().unwrap(),
    ]);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("collection failed"), "{logs}");
    for line in logs.lines() {
        assert!(
            line.starts_with("20") && line.contains('Z'),
            "a log record spans lines: `{line}` in\n{logs}"
        );
    }
}

#[test]
fn the_open_files_limit_is_raised_to_the_hard_limit_at_start() {
    let hard = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "ulimit -H -n"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(dir.path(), "");
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg(format!(
        "ulimit -S -n 128 && exec {} run --config.file {} --web.listen-address 127.0.0.1:0 --storage.path {}",
        bin().display(),
        config.display(),
        dir.path().join("db.sqlite").display()
    ));
    let daemon = Daemon::spawn(command);
    let logs = daemon.logs();
    let expected = if hard == "unlimited" {
        "open_files_limit=".to_string()
    } else {
        format!("open_files_limit={hard}")
    };
    assert!(
        logs.contains(&expected),
        "soft limit 128 not raised to {hard}:\n{logs}"
    );
    assert!(!logs.contains("open_files_limit=128 "), "{logs}");
}

#[test]
fn a_config_file_over_the_size_cap_is_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("huge.yaml");
    let line = "# padding padding padding padding padding padding padding padding\n";
    std::fs::write(&config, line.repeat(5 * 1024 * 1024 / line.len())).unwrap();
    let out = mlsteward(&["check-config", "--config.file", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("more than the 4194304 allowed"), "{stderr}");
}

/// A source's timeout ends its requests in flight: against an upstream that accepts and
/// never answers (the request's own timeout is a minute), the connection is closed soon
/// after the source's 1 s timeout, and the collection counts as a timeout.
#[test]
fn a_source_timeout_cancels_its_requests_in_flight() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let accepted = std::time::Instant::now();
        let mut buf = [0u8; 4096];
        // Read the request, answer nothing, and wait for the client to hang up.
        loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = tx.send(accepted.elapsed());
    });
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: hub\n    type: huggingface\n    author: acme\n    api_url: http://{upstream}\n    request_timeout: 60s\n    timeout: 1s\n    schedule: 1h\n"
        ),
    )
    .unwrap();
    let daemon = Daemon::run(&config, &dir.path().join("s.db"), &[]);
    let held = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the request was closed");
    assert!(
        held < Duration::from_secs(5),
        "the request outlived the source's timeout: {held:?}"
    );
    wait_until("the timeout counted", Duration::from_secs(30), || {
        sample(
            &daemon.metrics(),
            "mlsteward_collector_errors_total{collector=\"huggingface\",source=\"hub\",error_kind=\"timeout\"}",
        ) == Some(1.0)
    });
}
