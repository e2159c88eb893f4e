//! Durability with a real process: `kill -9` in the middle of a collection loses nothing that
//! was committed and corrupts nothing; the next run ends where a fresh one would.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mlsteward::store::{count_rows, Store};

use crate::git_source::collect_once;
use crate::support::*;

/// A repository of `commits` commits made by `bench/make_repo.py` (the benchmark's generator)
/// in `dir/repo`, and a config mining it on `schedule`.
fn synthetic_repo(dir: &Path, commits: usize, schedule: &str) -> PathBuf {
    let repo = Repo::init(&dir.join("repo"));
    let stream = Command::new("python3")
        .arg(repo_root().join("bench/make_repo.py"))
        .arg(commits.to_string())
        .output()
        .unwrap();
    assert!(stream.status.success());
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(&repo.dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&stream.stdout)
        .unwrap();
    assert!(child.wait().unwrap().success());
    repo.git(&["reset", "-q", "--hard", "main"]);
    let config = dir.join("c.yaml");
    let yaml = format!(
        "sources:\n  - name: big\n    type: git\n    path: repo\n    schedule: {schedule}\n"
    );
    std::fs::write(&config, yaml).unwrap();
    config
}

/// The store is intact and holds exactly what its cursors say was mined: every commit of a
/// finished mine (`tip` without `mining_done_from_oldest`), the oldest `mining_done_from_oldest` commits of an
/// unfinished one, or nothing. A batch is all there or not at all.
fn assert_store_matches_its_progress(storage: &Path, total: i64) -> i64 {
    let store = Store::open(storage).unwrap();
    assert_eq!(store.integrity_check().unwrap(), ["ok"]);
    let commits = count_rows(&store, "commits").unwrap();
    let cursors = store.cursors("big").unwrap();
    let expected = match (cursors.get("mining_done_from_oldest"), cursors.get("tip")) {
        (Some(done), _) => done.parse::<i64>().unwrap(),
        (None, Some(_)) => total,
        (None, None) => 0,
    };
    assert_eq!(commits, expected, "cursors={cursors:?}");
    commits
}

#[test]
fn kill_9_mid_collection_loses_nothing_and_corrupts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = synthetic_repo(dir.path(), 3000, "10s");
    let storage = dir.path().join("data/db.sqlite");
    let mut saw_partial_run = false;
    for delay_ms in [300u64, 900, 1700] {
        let mut daemon = Daemon::run(&config, &storage, &[]);
        let addr = daemon.addr.clone();
        wait_until("the daemon to listen", Duration::from_secs(30), || {
            http_get(&addr, "/-/healthy", &[]).is_ok()
        });
        std::thread::sleep(Duration::from_millis(delay_ms));
        let ready_before_kill = http_get(&addr, "/-/ready", &[])
            .map(|r| r.status == 200)
            .unwrap_or(false);
        saw_partial_run |= !ready_before_kill;
        daemon.child.kill().unwrap(); // SIGKILL
        daemon.child.wait().unwrap();

        assert_store_matches_its_progress(&storage, 3000);
    }
    assert!(
        saw_partial_run,
        "at least one kill landed before the first collection finished"
    );

    let (ok, resumed) = collect_once(&config, &storage);
    assert!(ok);
    let (_, fresh) = collect_once(&config, &dir.path().join("fresh/db.sqlite"));
    assert_same_families(&resumed, &fresh, FACT_FAMILIES);
    assert_eq!(
        sample(
            &fresh,
            "mlsteward_git_commits{source=\"big\",outcome=\"credited\"}"
        ),
        Some(3000.0)
    );
}

#[test]
fn sigterm_mid_collection_cancels_it_flushes_and_exits_0_within_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let config = synthetic_repo(dir.path(), 3000, "1s");
    let storage = dir.path().join("data/db.sqlite");
    let mut daemon = Daemon::run(&config, &storage, &[]);
    let addr = daemon.addr.clone();
    wait_until("the daemon to listen", Duration::from_secs(30), || {
        http_get(&addr, "/-/healthy", &[]).is_ok()
    });
    std::thread::sleep(Duration::from_millis(150));
    // The documented bound: 10 s for collections, 2 s for the server, then the flush.
    let (status, logs) = daemon.terminate_within(Duration::from_secs(13));
    assert!(status.success(), "{status}");
    let commits = assert_store_matches_its_progress(&storage, 3000);
    if commits < 3000 {
        assert!(logs.contains("collection cancelled by shutdown"), "{logs}");
    }
    assert!(logs.contains("store flushed"), "{logs}");
}

/// A first mine longer than the timeout: each attempt keeps what it mined, the next one
/// resumes after it, and the mine completes with the numbers of a mine without timeouts.
#[test]
fn a_first_mine_longer_than_the_timeout_completes_across_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let config = synthetic_repo(dir.path(), 6000, "1s");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}    timeout: 150ms\n")).unwrap();
    let storage = dir.path().join("data/db.sqlite");
    let daemon = Daemon::run(&config, &storage, &[]);
    let addr = daemon.addr.clone();
    let mut last = String::new();
    wait_until("the mine to complete", Duration::from_secs(60), || {
        let Ok(response) = http_get(&addr, "/metrics", &[]) else {
            return false;
        };
        last = response.text();
        // Succeeded, and the derived families served were rendered after it.
        sample(
            &last,
            "mlsteward_collector_success{collector=\"git\",source=\"big\"}",
        ) == Some(1.0)
            && settled(&last)
    });
    let timeouts = sample(
        &last,
        "mlsteward_collector_errors_total{collector=\"git\",source=\"big\",error_kind=\"timeout\"}",
    )
    .unwrap_or(0.0);
    assert!(timeouts >= 1.0, "the mine never timed out: {last}");
    drop(daemon);
    std::fs::write(&config, text).unwrap();
    let (_, fresh) = collect_once(&config, &dir.path().join("fresh/db.sqlite"));
    assert_same_families(&last, &fresh, FACT_FAMILIES);
}
