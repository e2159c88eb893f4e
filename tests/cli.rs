//! The command line: exit codes, `check-config` on good and bad files, and the HTTP endpoints
//! of a running daemon, including shutdown on SIGTERM.

use std::io::Read;
use std::time::Duration;

use crate::support::*;

/// One bad config file per error case, with what `check-config` must say about it
/// (`LINE:COLUMN: key path: message`, after the file name).
const BAD_CONFIGS: &[(&str, &[&str])] = &[
    ("unknown_top_level_key", &["1:1: sourcez: unknown key; known keys: organisation, baseline, recognition, sources, catalog"]),
    ("unknown_source_key", &["5:5: sources[0].schedul: unknown key"]),
    ("missing_type", &["2:5: sources[0]: missing required key `type`"]),
    ("unknown_type", &["3:11: sources[0].type: unknown value `svn`; expected one of: git, github, gitlab, jenkins, coverage"]),
    ("bad_duration", &["5:14: sources[0].timeout: invalid duration `5x`"]),
    ("second_document", &["2:1: YAML syntax error: a second YAML document (after `---`): the configuration is one document"]),
    ("too_deep", &["65:68: YAML syntax error: nested deeper than 64 levels"]),
    ("secret_from_a_device", &["3:24: recognition.pseudonym_salt_file: cannot read /dev/zero: not a regular file"]),
    ("bad_cron", &["5:15: sources[0].schedule: invalid cron expression `61 * * * *`: minute `61` is out of range 0–59"]),
    ("cron_four_fields", &["5:15: sources[0].schedule: invalid cron expression `*/15 * * *`: a cron expression has 5 fields (minute hour day-of-month month day-of-week), or 6–7 starting with seconds; this one has 4"]),
    ("schedule_duration_words", &["5:15: sources[0].schedule: invalid schedule `5 minutes`: write a duration without spaces, such as `5m`"]),
    ("cron_unknown_shortcut", &["5:15: sources[0].schedule: unknown cron shortcut `@fortnightly`; known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"]),
    ("cron_never_fires", &["5:15: sources[0].schedule: cron expression `0 0 30 2 *` never fires"]),
    ("not_a_repository", &["4:11: sources[0].path: cannot open the repository:", "does not appear to be a git repository"]),
    ("missing_branch", &["5:13: sources[0].branch: branch not found (tried refs/heads/no-such-branch, refs/remotes/origin/no-such-branch)"]),
    (
        "unsorted_problems",
        &[
            "5:15: sources[0].schedule: invalid duration `sometimes`",
            "6:14: sources[0].timeout: invalid duration `5x`",
            "7:1: extra: unknown key",
            "9:10: recognition.top_n: expected a non-negative integer, found `lots`",
        ],
    ),
    ("duplicate_source_name", &["5:5: sources[1].name: another source is already named `r`"]),
    ("path_and_url", &["2:5: sources[0]: set `path` or `url`, not both"]),
    ("neither_path_nor_url", &["2:5: sources[0]: a git source needs `path` (a local clone) or `url` (a remote to mirror)"]),
    ("unset_environment_variable", &["4:11: sources[0].path: environment variable `MLSTEWARD_TEST_UNSET_VARIABLE` is not set"]),
    ("bad_glob", &["9:13: catalog[0].paths[0]: invalid glob: unclosed character class"]),
    ("catalog_unknown_repository", &["4:17: catalog[0].repository: no git source is named `nowhere`"]),
    ("bad_asset_kind", &["3:11: catalog[0].kind: unknown value `modle`; expected one of: model, feature_view"]),
    ("bad_lifecycle", &["4:16: catalog[0].lifecycle: unknown value `retired`; expected one of: experimental, production, deprecated"]),
    ("duplicate_key", &["2:1: sources: duplicate key"]),
    ("syntax_error", &["3:1: YAML syntax error"]),
    ("wrong_type", &["1:10: sources: expected a list, found a scalar"]),
    ("pseudonym_without_salt", &["2:3: recognition: `contributor_label: pseudonym` needs `pseudonym_salt`"]),
    ("missing_secret_file", &["3:24: recognition.pseudonym_salt_file: cannot read", "does-not-exist.txt"]),
    ("bad_kind_rule", &["3:13: recognition.path_kinds[0].kind: kind `Docs` must be lower_snake_case", "5:7: recognition.path_kinds[1]: missing required key `paths`"]),
    (
        "credentials_over_http",
        &[
            "4:10: sources[0].url: `username` and `password` are only sent over https:// (never in clear text)",
            "6:15: sources[0].password: environment variable `MLSTEWARD_TEST_UNSET_VARIABLE` is not set",
        ],
    ),
    (
        "many_problems",
        &[
            "2:10: recognition.top_n: expected a non-negative integer, found `lots`",
            "7:15: sources[0].schedule: invalid duration `sometimes`",
            "10:11: catalog[0].kind: unknown value `gizmo`",
            "11:16: catalog[0].lifecycle: unknown value `forever`",
            "12:1: extra: unknown key",
        ],
    ),
];

#[test]
fn every_bad_config_is_reported_with_position_and_exit_code_2() {
    let dir = repo_root().join("tests/fixtures/bad-config");
    let mut listed: Vec<String> = BAD_CONFIGS.iter().map(|(n, _)| n.to_string()).collect();
    for (name, expected) in BAD_CONFIGS {
        let file = dir.join(format!("{name}.yaml"));
        let out = mlsteward(&["check-config", "--config.file", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        // Each expected problem, in the order listed: problems come sorted by position.
        let mut from = 0;
        for e in *expected {
            let want = format!("{}:{e}", file.display());
            let at = stderr[from..]
                .find(&want)
                .or_else(|| (!e.contains(':')).then(|| stderr[from..].find(e)).flatten());
            assert!(
                at.is_some(),
                "{name}: expected `{want}` after byte {from} in:\n{stderr}"
            );
            if e.contains(": ") {
                from += at.unwrap_or(0) + 1;
            }
        }
        let problems = stderr
            .lines()
            .filter(|l| !l.ends_with("problem(s) found"))
            .count();
        assert_eq!(
            problems,
            expected.iter().filter(|e| e.contains(": ")).count(),
            "{name}: exactly the expected problems:\n{stderr}"
        );
    }
    // Every fixture file has a case.
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".yaml")
                .map(String::from)
        })
        .collect();
    // Their own tests below: problems in another file; more problems than are printed.
    files.retain(|f| f != "bad_identities_file" && f != "too_many_problems");
    files.sort();
    listed.sort();
    assert_eq!(files, listed);
}

#[test]
fn a_flood_of_problems_is_capped_and_counted() {
    let file = repo_root().join("tests/fixtures/bad-config/too_many_problems.yaml");
    let out = mlsteward(&["check-config", "--config.file", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr.matches("unknown key").count(), 100, "{stderr}");
    assert!(
        stderr.contains("… and 50 more problem(s) not shown"),
        "{stderr}"
    );
    assert!(stderr.contains(": 150 problem(s) found"), "{stderr}");
}

#[test]
fn identity_file_problems_name_that_file() {
    let file = repo_root().join("tests/fixtures/bad-config/bad_identities_file.yaml");
    let out = mlsteward(&["check-config", "--config.file", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("bad_identities_people.data:3:5: people[0].emial: unknown key"),
        "{stderr}"
    );
    assert!(
        stderr.contains("bad_identities_people.data:2:5: people[0]: missing required key `email`"),
        "{stderr}"
    );
}

#[test]
fn shipped_configs_are_valid() {
    for name in ["config/example.yaml", "config/reference.yaml"] {
        let out = mlsteward(&[
            "check-config",
            "--config.file",
            repo_root().join(name).to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn usage_errors_exit_2_and_missing_config_exits_2() {
    assert_eq!(mlsteward(&["frobnicate"]).status.code(), Some(2));
    // The metrics path must be a path of its own.
    for path in ["/docs", "/-/reload", "metrics", "/api/v1/x"] {
        let out = mlsteward(&["--web.telemetry-path", path, "check-config"]);
        assert_eq!(out.status.code(), Some(2), "{path}");
    }
    // A mistyped flag or command is answered with the one meant.
    for (args, meant) in [
        (
            &["check-config", "--config.fil", "x.yaml"][..],
            "--config.file",
        ),
        (&["check-confg"][..], "check-config"),
    ] {
        let out = mlsteward(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("similar") && stderr.contains(meant),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(
        mlsteward(&["run", "--log.format=xml"]).status.code(),
        Some(2)
    );
    assert_eq!(
        mlsteward(&[
            "check-config",
            "--config.file",
            "/nonexistent/mlsteward.yaml"
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(mlsteward(&["--help"]).status.code(), Some(0));
    // `--shard.peers` must name one URL per shard (or a `{shard}` template) and needs --shard.
    let config = repo_root().join("deploy/kubernetes/config.yaml");
    let config = config.to_str().unwrap();
    for (args, says) in [
        (
            vec!["--shard.peers", "http://a:1,http://b:1"],
            "needs --shard K/N",
        ),
        (
            vec!["--shard", "0/3", "--shard.peers", "http://a:1,http://b:1"],
            "names 2 peers; give one URL per shard (3)",
        ),
        (
            vec!["--shard", "0/2", "--shard.peers", "ftp://a/{shard}"],
            "not an http or https URL",
        ),
        (
            vec!["--shard", "0/2", "--shard.peers", "nota url {shard}"],
            "is not a URL",
        ),
    ] {
        let mut all = vec!["check-config", "--config.file", config];
        all.extend(args);
        let out = mlsteward(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{all:?}: {stderr}");
        assert!(stderr.contains(says), "{all:?}: {stderr}");
    }
    let out = mlsteward(&[
        "check-config",
        "--config.file",
        config,
        "--shard",
        "1/3",
        "--shard.peers",
        "http://mlsteward-{shard}.peers:9717",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn daemon_serves_metrics_health_readiness_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = crate::git_source::build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    let mut daemon = Daemon::run(&config, &storage, &["--log.format", "json"]);
    let addr = daemon.addr.clone();
    daemon.wait_ready();
    assert_eq!(http_get(&addr, "/-/healthy", &[]).unwrap().status, 200);
    let landing = http_get(&addr, "/", &[]).unwrap();
    assert!(landing.text().contains("href=\"metrics\"") && landing.text().contains("fixture"));

    let plain = http_get(&addr, "/metrics", &[]).unwrap();
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(plain
        .text()
        .contains("mlsteward_collector_success{collector=\"git\",source=\"fixture\"} 1"));
    let gz = http_get(&addr, "/metrics", &[("Accept-Encoding", "gzip")]).unwrap();
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.text());
    assert_eq!(http_get(&addr, "/nope", &[]).unwrap().status, 404);
    // The landing page's links: every bundled dashboard, the alert rules and the docs, as built.
    let mut on_disk: Vec<String> = std::fs::read_dir(repo_root().join("grafana/dashboards"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    for name in &on_disk {
        assert!(
            landing
                .text()
                .contains(&format!("href=\"dashboards/{name}\"")),
            "{name} is not linked"
        );
        let served = http_get(&addr, &format!("/dashboards/{name}"), &[]).unwrap();
        assert_eq!(served.header("content-type"), Some("application/json"));
        assert_eq!(
            served.text(),
            std::fs::read_to_string(repo_root().join("grafana/dashboards").join(name)).unwrap()
        );
    }
    assert_eq!(
        http_get(&addr, "/dashboards/nope.json", &[])
            .unwrap()
            .status,
        404
    );
    assert!(landing.text().contains("href=\"alerts.yml\""));
    assert_eq!(
        http_get(&addr, "/alerts.yml", &[]).unwrap().text(),
        std::fs::read_to_string(repo_root().join("deploy/prometheus/alerts.yml")).unwrap()
    );
    // The documentation, as HTML: the README at /docs, each file of docs/ under it, linked
    // from one another.
    assert!(
        landing.text().contains("href=\"docs\""),
        "/docs is not linked"
    );
    let readme = http_get(&addr, "/docs", &[]).unwrap();
    assert_eq!(
        readme.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(readme
        .text()
        .contains("<h2 id=\"quick-start\">Quick start</h2>"));
    assert!(readme.text().contains("href=\"docs/configuration.md\""));
    let metrics = http_get(&addr, "/docs/metrics.md", &[]).unwrap();
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .text()
        .contains("<code>mlsteward_contributions_total</code>"));
    assert_eq!(http_get(&addr, "/docs/nope.md", &[]).unwrap().status, 404);

    // SIGTERM: flush and exit 0 within the documented bound (10s grace + 2s server + flush).
    let (status, logs) = daemon.terminate_within(Duration::from_secs(15));
    assert!(status.success(), "{status}");
    assert!(
        logs.lines().all(|l| l.trim_start().starts_with('{')),
        "--log.format json logs JSON lines:\n{logs}"
    );
    assert!(logs.contains("store flushed"), "{logs}");
}

#[test]
fn runtime_failures_exit_1_with_a_clear_message() {
    let example = repo_root().join("config/example.yaml");
    let example = example.to_str().unwrap();
    let out = mlsteward(&[
        "collect-once",
        "--config.file",
        example,
        "--storage.path",
        "/proc/mlsteward/db.sqlite",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("storage"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("db.sqlite");
    let out = mlsteward(&[
        "run",
        "--config.file",
        example,
        "--web.listen-address",
        &addr,
        "--storage.path",
        storage.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("cannot listen on {addr}")),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends `signal` (a `kill` name such as HUP) to the daemon.
pub fn signal(daemon: &Daemon, name: &str) {
    assert!(std::process::Command::new("kill")
        .args([&format!("-{name}"), &daemon.child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn the_configuration_reloads_on_sighup_and_post_and_a_bad_one_keeps_the_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = crate::git_source::build_fixture(dir.path(), "");
    let original = std::fs::read_to_string(&config).unwrap();
    let storage = dir.path().join("data/db.sqlite");
    let mut daemon = Daemon::run(&config, &storage, &[]);
    daemon.wait_ready();
    let addr = daemon.addr.clone();
    let m = daemon.metrics();
    assert_eq!(
        sample(&m, "mlsteward_config_last_reload_successful"),
        Some(1.0)
    );
    let loaded_at = sample(&m, "mlsteward_config_last_reload_success_timestamp_seconds").unwrap();
    assert!((loaded_at - now() as f64).abs() < 120.0, "{loaded_at}");

    // Added: a second source on SIGHUP; the first keeps running untouched.
    let added = original.replace(
        "catalog:\n",
        "  - name: second\n    type: git\n    path: repo\n    schedule: 1h\ncatalog:\n",
    );
    std::fs::write(&config, &added).unwrap();
    signal(&daemon, "HUP");
    let second = "mlsteward_collector_success{collector=\"git\",source=\"second\"} 1";
    wait_until(
        "the added source to collect",
        Duration::from_secs(60),
        || daemon.metrics().contains(second),
    );
    assert!(
        daemon
            .logs()
            .contains("added: second; removed: none; changed: none; unchanged: fixture"),
        "{}",
        daemon.logs()
    );
    let reloaded_at = sample(
        &daemon.metrics(),
        "mlsteward_config_last_reload_success_timestamp_seconds",
    )
    .unwrap();
    assert!(reloaded_at >= loaded_at);

    // A bad file: 500 with every problem and its position; the running configuration stays.
    std::fs::write(
        &config,
        added.replace("schedule: 1h", "schedule: sometimes"),
    )
    .unwrap();
    let bad = http_request_post(&addr, "/-/reload");
    assert_eq!(bad.status, 500, "{}", bad.text());
    assert!(
        bad.text().contains("mlsteward.yaml:")
            && bad.text().contains("invalid duration `sometimes`"),
        "{}",
        bad.text()
    );
    let m = daemon.metrics();
    assert_eq!(
        sample(&m, "mlsteward_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(
        sample(&m, "mlsteward_config_last_reload_success_timestamp_seconds"),
        Some(reloaded_at),
        "a failed reload leaves the last success time"
    );
    assert!(m.contains(second), "the running configuration stays");
    assert_eq!(
        http_get(&addr, "/-/reload", &[]).unwrap().status,
        405,
        "reload is POST only"
    );

    // Removed and changed: `second` goes, `fixture` is rescheduled; the metric recovers.
    std::fs::write(&config, original.replace("schedule: 20s", "schedule: 30s")).unwrap();
    let ok = http_request_post(&addr, "/-/reload");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert!(
        ok.text()
            .contains("added: none; removed: second; changed: fixture; unchanged: none"),
        "{}",
        ok.text()
    );
    let m = daemon.metrics();
    assert_eq!(
        sample(&m, "mlsteward_config_last_reload_successful"),
        Some(1.0)
    );
    assert!(
        !m.contains("source=\"second\""),
        "a removed source's self metrics go:\n{m}"
    );
    assert_eq!(
        sample(
            &m,
            "mlsteward_collector_interval_seconds{collector=\"git\",source=\"fixture\"}"
        ),
        Some(30.0)
    );
    let (status, logs) = daemon.terminate_within(Duration::from_secs(15));
    assert!(status.success(), "{status}\n{logs}");
}

fn http_request_post(addr: &str, path: &str) -> HttpResponse {
    http_post_json(addr, path, &serde_json::json!({})).unwrap()
}

#[test]
fn the_json_api_serves_assets_and_recognition_as_metrics_and_report_do() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = crate::git_source::build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    let mut daemon = Daemon::run(&config, &storage, &[]);
    daemon.wait_ready();
    let addr = daemon.addr.clone();

    // Assets: every asset of mlsteward_asset_info, each asset-level series of /metrics once.
    let metrics = daemon.metrics();
    let assets = http_get(&addr, "/api/v1/assets", &[]).unwrap();
    assert_eq!(assets.header("content-type"), Some("application/json"));
    let assets: serde_json::Value = serde_json::from_slice(&assets.body).unwrap();
    let list = assets["assets"].as_array().unwrap();
    let ids: Vec<&str> = list.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["churn-model", "feature-store-views", "fixture"]);
    let churn = &list[0];
    assert_eq!(
        (
            &churn["kind"],
            &churn["owner"],
            &churn["lifecycle"],
            &churn["repository"]
        ),
        (
            &serde_json::json!("model"),
            &serde_json::json!("ml-team"),
            &serde_json::json!("production"),
            &serde_json::json!("fixture")
        )
    );
    let mut from_api = 0;
    for asset in list {
        let id = asset["id"].as_str().unwrap();
        for (family, series) in asset["metrics"].as_object().unwrap() {
            for s in series.as_array().unwrap() {
                from_api += 1;
                let mut labels = vec![format!("asset=\"{id}\"")];
                labels.extend(
                    s["labels"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap())),
                );
                // The exposition's label order: find the line holding the same label set.
                let line = metrics
                    .lines()
                    .find(|l| {
                        l.starts_with(&format!("{family}{{"))
                            && l.split_once('}').is_some_and(|(head, _)| {
                                let mut have: Vec<&str> =
                                    head[family.len() + 1..].split(',').collect();
                                let mut want: Vec<&str> =
                                    labels.iter().map(String::as_str).collect();
                                have.sort();
                                want.sort();
                                have == want
                            })
                    })
                    .unwrap_or_else(|| panic!("{family} {labels:?} is not in /metrics"));
                let value: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
                assert_eq!(Some(value), s["value"].as_f64(), "{line}");
            }
        }
    }
    let in_metrics = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains("asset=\"") && !l.contains("contributor=\""))
        .count();
    assert!(from_api > 10, "{from_api} series");
    assert_eq!(from_api, in_metrics, "every asset-level series, once");

    // Recognition: exactly what `mlsteward report --format json` prints from the same store.
    for query in [
        "",
        "?asset=churn-model",
        "?since=90d",
        "?asset=fixture&since=15d",
    ] {
        let api = http_get(&addr, &format!("/api/v1/recognition{query}"), &[]).unwrap();
        assert_eq!(api.status, 200, "{query}: {}", api.text());
        let mut args = vec![
            "report",
            "--format",
            "json",
            "--config.file",
            config.to_str().unwrap(),
            "--storage.path",
            storage.to_str().unwrap(),
        ];
        if let Some(a) = query
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("asset="))
        {
            args.extend(["--asset", a]);
        }
        if let Some(s) = query
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("since="))
        {
            args.extend(["--since", s]);
        }
        let cli = mlsteward(&args);
        assert!(cli.status.success());
        assert_eq!(api.text(), String::from_utf8_lossy(&cli.stdout), "{query}");
    }
    let people: serde_json::Value =
        serde_json::from_slice(&http_get(&addr, "/api/v1/recognition", &[]).unwrap().body).unwrap();
    assert!(!people["people"].as_array().unwrap().is_empty());
    for (query, status) in [
        ("?asset=nope", 404),
        ("?since=soon", 400),
        ("?who=me", 400),
        ("?asset=%zz", 400),
    ] {
        let r = http_get(&addr, &format!("/api/v1/recognition{query}"), &[]).unwrap();
        assert_eq!(r.status, status, "{query}");
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(body["error"].is_string(), "{query}");
    }
}

/// Runs headless Chromium (Debian's; scripts/test.sh installs it) on `url` with `args`.
fn chromium(profile: &std::path::Path, args: &[&str], url: &str) -> std::process::Output {
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium (Debian package `chromium`; scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A PNG's width, height and decompressed (still filtered) image bytes.
fn png_pixels(png: &[u8]) -> (u32, u32, Vec<u8>) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    let (mut at, mut size, mut idat) = (8, (0, 0), Vec::new());
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                size = (
                    u32::from_be_bytes(data[0..4].try_into().unwrap()),
                    u32::from_be_bytes(data[4..8].try_into().unwrap()),
                )
            }
            b"IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut pixels = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut pixels)
        .unwrap();
    (size.0, size.1, pixels)
}

#[test]
fn the_landing_page_renders_its_sources_table_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = crate::git_source::build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    let mut daemon = Daemon::run(&config, &storage, &[]);
    daemon.wait_ready();
    let url = format!("http://{}/", daemon.addr);
    let metrics = daemon.metrics();
    let profile = dir.path().join("chromium-profile");

    // The DOM Chromium built: the sources table with the source's row, and the counts that
    // /metrics gives.
    let dom = String::from_utf8(chromium(&profile, &["--dump-dom"], &url).stdout).unwrap();
    assert!(
        dom.contains("<th>source</th>") && dom.contains("<td>fixture</td><td>git</td><td>ok</td>"),
        "{dom}"
    );
    let assets = metrics
        .lines()
        .filter(|l| l.starts_with("mlsteward_asset_info{"))
        .count();
    let active = sample(&metrics, "mlsteward_active_contributors{window=\"90d\"}").unwrap();
    let people = if active == 1.0 { "person" } else { "people" };
    assert!(
        dom.contains(&format!(
            "{assets} assets; {active} {people} credited in the last 90 days"
        )),
        "{dom}"
    );

    // The screenshot: a PNG of the window's size with something drawn on it (not one colour).
    let shot = dir.path().join("landing.png");
    chromium(
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,700",
        ],
        &url,
    );
    let (width, height, pixels) = png_pixels(&std::fs::read(&shot).unwrap());
    assert_eq!((width, height), (1000, 700));
    let distinct: std::collections::BTreeSet<u8> = pixels.iter().copied().collect();
    assert!(
        distinct.len() > 16,
        "the screenshot is blank ({} distinct byte values)",
        distinct.len()
    );
}

/// The README's run command (the first `cargo run -- …` line of its Quick start), as the
/// binary's arguments.
fn readme_run_command() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let quick = readme.split("## Quick start").nth(1).unwrap();
    let line = quick
        .lines()
        .find_map(|l| l.trim().strip_prefix("cargo run -- "))
        .expect("a `cargo run -- …` line in the Quick start");
    line.split_whitespace().map(String::from).collect()
}

#[test]
fn the_readme_run_command_shows_what_the_product_is_for() {
    let args = readme_run_command();
    assert_eq!(args[0], "demo", "the run command is the demo: {args:?}");
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    let mut command = std::process::Command::new(bin());
    command
        .args(&args)
        .arg("--dir")
        .arg(&demo_dir)
        .args(["--web.listen-address", "127.0.0.1:0"]);
    let mut daemon = Daemon::spawn(command);
    daemon.wait_ready();
    let m = daemon.metrics();
    let value = |series: &str| sample(&m, series).unwrap_or_else(|| panic!("no {series} in:\n{m}"));

    // Several people, a bot, a merge, a revert and what it reverted, a whitespace-only change.
    assert_eq!(value("mlsteward_active_contributors{window=\"90d\"}"), 5.0);
    for (outcome, n) in [
        ("bot", 2.0),
        ("merge", 1.0),
        ("revert", 1.0),
        ("reverted", 1.0),
        ("whitespace_only", 1.0),
    ] {
        assert_eq!(
            value(&format!(
                "mlsteward_git_commits{{source=\"demo\",outcome=\"{outcome}\"}}"
            )),
            n,
            "{outcome}"
        );
    }
    // Several kinds of work, and a co-author credited beside the author.
    let kinds: std::collections::BTreeSet<&str> = m
        .lines()
        .filter(|l| l.starts_with("mlsteward_contributions_total{asset=\"demo\","))
        .filter_map(|l| l.split("kind=\"").nth(1)?.split('"').next())
        .collect();
    for kind in [
        "code",
        "tests",
        "docs",
        "review",
        "testing",
        "suggestion",
        "changelog_mention",
    ] {
        assert!(kinds.contains(kind), "kind {kind} missing from {kinds:?}");
    }
    assert_eq!(value("mlsteward_credited_commits_total{asset=\"demo-churn-model\",contributor=\"Dara Demo\"}"), 3.0);
    assert_eq!(
        value(
            "mlsteward_credited_commits_total{asset=\"demo-churn-model\",contributor=\"Ben Demo\"}"
        ),
        1.0
    );
    // Owned and unowned assets, and a CODEOWNERS conflict.
    assert_eq!(
        value("mlsteward_asset_owned{asset=\"demo-churn-model\"}"),
        1.0
    );
    assert_eq!(
        value("mlsteward_asset_owned{asset=\"demo-metrics-lib\"}"),
        0.0
    );
    assert_eq!(
        value("mlsteward_asset_ownership_conflict{asset=\"demo-customer-features\"}"),
        1.0
    );
    assert!(
        (value("mlsteward_asset_coverage_ratio{asset=\"demo-churn-model\"}") - 182.0 / 220.0).abs()
            < 1e-9
    );
    // Labelled demo data wherever it shows.
    let landing = http_get(&daemon.addr, "/", &[]).unwrap().text();
    assert!(landing.contains("<strong>Demo data.</strong>"), "{landing}");
    for line in m.lines().filter(|l| l.contains("contributor=\"")) {
        assert!(
            line.contains(" Demo\"") || line.contains("__other__"),
            "{line}"
        );
    }
    for line in m.lines().filter(|l| l.starts_with("mlsteward_asset_info{")) {
        assert!(line.contains("asset=\"demo"), "{line}");
    }
}

/// `--web.telemetry-path` moves the metrics (the landing page links them there), and a
/// scraper that prefers OpenMetrics (as Prometheus does by default) gets OpenMetrics 1.0:
/// counters' families named without `_total`, the self counters' `_created` at the daemon's
/// start, `# EOF` last; the reference parser (prometheus_client's, strict) reads all of it.
/// Without that preference, the text format 0.0.4 as before.
#[test]
fn openmetrics_when_asked_and_metrics_at_the_telemetry_path() {
    let dir = tempfile::tempdir().unwrap();
    let config = one_library(dir.path());
    let started = now();
    let mut daemon = Daemon::run(
        &config,
        &dir.path().join("s.db"),
        &["--web.telemetry-path", "/prom"],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while http_get(&daemon.addr, "/-/ready", &[]).unwrap().status != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(http_get(&daemon.addr, "/metrics", &[]).unwrap().status, 404);
    let landing = http_get(&daemon.addr, "/", &[]).unwrap().text();
    assert!(landing.contains("href=\"prom\""), "{landing}");
    let plain = http_get(&daemon.addr, "/prom", &[]).unwrap();
    assert_eq!(
        plain.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(plain
        .text()
        .contains("# TYPE mlsteward_contributions_total counter"));
    // Prometheus's own Accept header, preferring OpenMetrics.
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let om = http_get(&daemon.addr, "/prom", &[("Accept", prometheus)]).unwrap();
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = om.text();
    assert!(
        text.ends_with("# EOF\n"),
        "{}",
        &text[text.len().saturating_sub(200)..]
    );
    assert_eq!(text.matches("# EOF").count(), 1);
    assert!(text.contains("# TYPE mlsteward_contributions counter"));
    assert!(text.contains(
        "mlsteward_contributions_total{asset=\"lib\",contributor=\"Ann Lee\",kind=\"code\"} 1"
    ));
    let created: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("mlsteward_renders_created "))
        .expect("the self counters' _created")
        .parse()
        .unwrap();
    assert!(
        (started as f64 - 5.0..=now() as f64).contains(&created),
        "{created}"
    );
    // The same exposition as the text format, sample for sample (the `_created` lines aside).
    let samples = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.contains("_created"))
            .filter(|l| !l.starts_with("mlsteward_snapshot_") && !l.contains("_duration_seconds"))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
            .collect()
    };
    assert_eq!(samples(&text), samples(&plain.text()));
    // Strictly valid, as the reference parser reads it.
    let file = dir.path().join("om.txt");
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new(pyenv_bin("python"))
        .args([
            "-c",
            "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families\nn = sum(1 for _ in text_string_to_metric_families(open(sys.argv[1]).read()))\nprint(n)",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(families > 30, "{families}");
    // Asked for the text format, or for nothing in particular: 0.0.4.
    for accept in ["text/plain;version=0.0.4", "*/*"] {
        let r = http_get(&daemon.addr, "/prom", &[("Accept", accept)]).unwrap();
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8"),
            "{accept}"
        );
    }
    let _ = daemon.terminate_within(Duration::from_secs(15));
}

/// The text and box colours of a badge's SVG, read with an XML parser: (label, message,
/// message box fill).
fn badge_parts(svg: &str) -> (String, String, String) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(svg);
    let (mut label, mut message, mut fills) = (String::new(), String::new(), Vec::new());
    let mut inside: Option<String> = None;
    loop {
        match reader.read_event().expect("well-formed SVG") {
            Event::Start(e) | Event::Empty(e) => {
                let attr = |name: &str| {
                    e.attributes().flatten().find_map(|a| {
                        (a.key.local_name().as_ref() == name).then(|| {
                            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                                .unwrap()
                                .to_string()
                        })
                    })
                };
                if e.local_name().as_ref() == "rect" {
                    if let Some(fill) = attr("fill") {
                        fills.push(fill);
                    }
                }
                if e.local_name().as_ref() == "text" {
                    inside = attr("id");
                }
            }
            Event::Text(t) => match inside.as_deref() {
                Some("label") => label += t.as_ref(),
                Some("message") => message += t.as_ref(),
                _ => {}
            },
            Event::End(_) => inside = None,
            Event::Eof => break,
            _ => {}
        }
    }
    // The clip path's, the grey label box's, the message box's, then the gradient over both.
    (label, message, fills[2].clone())
}

/// `/badge/ASSET/SIGNAL.svg` through the real daemon: valid SVG (parsed), the owner and the
/// day's p95 as /metrics has them with the documented colours, grey when there is no data,
/// an ETag and Cache-Control with 304 on a repeated request, 404 for an unknown asset,
/// signal or extension.
#[test]
fn badges_show_owner_and_health_with_etags() {
    let dir = tempfile::tempdir().unwrap();
    let repo = crate::support::Repo::init(&dir.path().join("repo"));
    repo.commit(
        "Ann Lee <ann@example.com>",
        now() - 3 * 86_400,
        &[("src/a.py", "a = 1\n")],
        "A",
    );
    let server = crate::fake_forge::FakeServer::start(std::sync::Arc::new(
        |_: &crate::fake_forge::Request| {
            std::thread::sleep(Duration::from_millis(15));
            crate::fake_forge::Response::json(200, &serde_json::json!({"status": "ok"}))
        },
    ));
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: repo\n    type: git\n    path: repo\n  - name: predict\n    type: http_probe\n    asset: lib\n    url: {}/predict\n    probes: 3\n    latency_target: 2s\n\
             catalog:\n  - id: lib\n    kind: library\n    owner: \"@ML-Team\"\n    lifecycle: production\n    repository: repo\n    paths: [\"src/**\"]\n  - id: orphan\n    kind: model\n    lifecycle: production\n    repository: repo\n    paths: [\"models/**\"]\n",
            server.url()
        ),
    )
    .unwrap();
    let mut daemon = Daemon::run(&config, &dir.path().join("s.db"), &[]);
    daemon.wait_ready();
    let get = |path: &str, headers: &[(&str, &str)]| http_get(&daemon.addr, path, headers).unwrap();

    let owner = get("/badge/lib/owner.svg", &[]);
    assert_eq!(owner.status, 200);
    assert_eq!(
        owner.header("content-type"),
        Some("image/svg+xml; charset=utf-8")
    );
    assert_eq!(owner.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(
        badge_parts(&owner.text()),
        ("owner".into(), "ml-team".into(), "#007ec6".into())
    );
    let etag = owner.header("etag").unwrap().to_string();
    let again = get("/badge/lib/owner.svg", &[("If-None-Match", etag.as_str())]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let other = get("/badge/lib/owner.svg", &[("If-None-Match", "\"0000\"")]);
    assert_eq!(other.status, 200);

    // An unowned production asset is red; no CI and no coverage are grey.
    assert_eq!(
        badge_parts(&get("/badge/orphan/owner.svg", &[]).text()),
        ("owner".into(), "none".into(), "#e05d44".into())
    );
    assert_eq!(
        badge_parts(&get("/badge/lib/build.svg", &[]).text()),
        ("build".into(), "no runs".into(), "#9f9f9f".into())
    );
    assert_eq!(
        badge_parts(&get("/badge/lib/coverage.svg", &[]).text()).2,
        "#9f9f9f"
    );

    // The day's p95 as /metrics has it, under its 2 s target.
    let metrics = daemon.metrics();
    let p95 = sample(
        &metrics,
        "mlsteward_probe_latency_p95_seconds{asset=\"lib\",target=\"predict\"}",
    )
    .expect("a p95 of the day's probes");
    assert!(p95 >= 0.015, "{p95}");
    let (label, message, fill) = badge_parts(&get("/badge/lib/latency.svg", &[]).text());
    assert_eq!(label, "p95 latency");
    assert_eq!(message, format!("{} ms", (p95 * 1000.0).round() as i64));
    assert_eq!(fill, "#4c1");
    let (label, message, _) = badge_parts(&get("/badge/lib/freshness.svg", &[]).text());
    assert_eq!((label.as_str(), message.as_str()), ("updated", "3 d ago"));

    for path in [
        "/badge/nope/owner.svg",
        "/badge/lib/mood.svg",
        "/badge/lib/owner.png",
    ] {
        assert_eq!(get(path, &[]).status, 404, "{path}");
    }
}

/// The demo's overview and asset pages in a real headless Chromium: a row per asset
/// `mlsteward_asset_info` names, every value shown equal to its series in /metrics, the
/// recognition board equal to the report, no console messages, no scripts or external
/// resources; screenshots under target/overview-screenshots/ for a person to look at.
///
/// JavaScript off: headless Chromium's `--dump-dom` and `--screenshot` stop working with
/// `--blink-settings=scriptEnabled=false`, so the pages are served with a
/// Content-Security-Policy that forbids every script (`default-src 'none'`): the DOM below is
/// what Chromium built with no script allowed to run, and a blocked script or resource would
/// be a console message, which fails the test.
#[test]
fn the_overview_and_asset_pages_render_the_demo_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(bin());
    command
        .args(["demo", "--dir"])
        .arg(dir.path().join("demo"))
        .args(["--web.listen-address", "127.0.0.1:0"]);
    let mut daemon = Daemon::spawn(command);
    daemon.wait_ready();
    // The first page asks for the recognition board; it is built off the request path.
    wait_until("the recognition board", Duration::from_secs(30), || {
        let page = http_get(&daemon.addr, "/", &[]).unwrap();
        assert_eq!(page.status, 200);
        assert!(page
            .header("server-timing")
            .is_some_and(|t| t.starts_with("render;dur=")));
        assert!(page
            .header("content-security-policy")
            .is_some_and(|c| c.starts_with("default-src 'none';") && !c.contains("script")));
        !page.text().contains("board-pending")
    });
    let metrics = daemon.metrics();
    let profile = dir.path().join("chromium-profile");
    let shots = repo_root().join("target/overview-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let url = format!("http://{}/", daemon.addr);
    let no_js = ["--enable-logging=stderr", "--v=0"];

    let run = chromium(&profile, &[&["--dump-dom"], &no_js[..]].concat(), &url);
    let dom = String::from_utf8(run.stdout).unwrap();
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(!log.contains(":CONSOLE"), "console messages:\n{log}");
    assert!(
        !dom.contains("<script") && !dom.contains("stylesheet"),
        "{dom}"
    );
    for (i, _) in dom.match_indices('<') {
        let handlers: Vec<String> = attributes(&dom[i..])
            .into_iter()
            .filter(|(name, _)| name.starts_with("on"))
            .map(|(name, _)| name)
            .collect();
        assert!(handlers.is_empty(), "event handlers {handlers:?}");
    }

    // A row per asset, in the DOM Chromium built.
    let assets: Vec<String> = label_values(&metrics, "mlsteward_asset_info", "asset");
    assert_eq!(assets.len(), 5, "{metrics}");
    for a in &assets {
        assert!(
            dom.contains(&format!("<tr data-asset=\"{a}\">")),
            "no row for {a}:\n{dom}"
        );
        assert!(dom.contains(&format!("href=\"assets/{a}\"")), "{a}");
    }
    // Every value shown is its series' value in /metrics, and reads as it.
    let shown = shown_values(&dom);
    assert!(shown.len() >= 10, "{shown:?}");
    for s in &shown {
        let v = sample_labeled(&metrics, &s.metric, &s.labels)
            .unwrap_or_else(|| panic!("{} {:?} is not in /metrics", s.metric, s.labels));
        assert_eq!(v, s.value, "{s:?}");
        if s.metric.ends_with("_ratio") {
            assert_eq!(s.text, format!("{}%", (v * 100.0 + 1e-9).floor()), "{s:?}");
        }
    }
    // Ownership as the info series says it; the conflict where there is one.
    for line in family_lines(&metrics, "mlsteward_asset_info") {
        let asset = line
            .split("asset=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let owner = line
            .split("owner=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let row = &dom[dom.find(&format!("<tr data-asset=\"{asset}\">")).unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(row.contains(&format!("data-owner=\"{owner}\"")), "{row}");
        let conflict = sample(
            &metrics,
            &format!("mlsteward_asset_ownership_conflict{{asset=\"{asset}\"}}"),
        );
        assert_eq!(
            row.contains("CODEOWNERS disagrees"),
            conflict == Some(1.0),
            "{row}"
        );
        // The problems are the shipped rules': the production asset without an owner is
        // flagged, and only it.
        let lifecycle = line
            .split("lifecycle=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(
            row.contains("data-alert=\"MlstewardProductionAssetWithoutOwner\""),
            owner.is_empty() && lifecycle == "production",
            "{row}"
        );
    }
    // The board: the report's people for the last 90 days, with their credited commits.
    let report = http_get(&daemon.addr, "/api/v1/recognition?since=90d", &[]).unwrap();
    let report: serde_json::Value = serde_json::from_slice(&report.body).unwrap();
    let people = report["people"].as_array().unwrap();
    assert_eq!(people.len(), 5);
    for p in people {
        let name = p["name"].as_str().unwrap();
        let at = dom
            .find(&format!("<tr data-person=\"{name}\">"))
            .unwrap_or_else(|| panic!("{name} is not on the board"));
        let row = &dom[at..at + dom[at..].find("</tr>").unwrap()];
        assert!(
            row.contains(&format!("data-credited=\"{}\"", p["credited_commits"])),
            "{row} vs {p}"
        );
        for (kind, n) in p["contributions"].as_object().unwrap() {
            assert!(
                row.contains(&format!("data-kind=\"{kind}\">{kind} {n}<")),
                "{row} vs {p}"
            );
        }
    }
    // The sources table is still there, below.
    assert!(dom.find("id=\"sources-table\"").unwrap() > dom.find("id=\"board\"").unwrap());

    // Each asset's page: its values equal /metrics too, its contributors are the report's.
    for a in &assets {
        let page = chromium(
            &profile,
            &[&["--dump-dom"], &no_js[..]].concat(),
            &format!("{url}assets/{a}"),
        );
        let dom = String::from_utf8(page.stdout).unwrap();
        assert!(dom.contains(&format!("<h1>{a}</h1>")), "{dom}");
        for s in shown_values(&dom) {
            assert_eq!(
                sample_labeled(&metrics, &s.metric, &s.labels),
                Some(s.value),
                "{s:?}"
            );
        }
        let report =
            http_get(&daemon.addr, &format!("/api/v1/recognition?asset={a}"), &[]).unwrap();
        let report: serde_json::Value = serde_json::from_slice(&report.body).unwrap();
        for p in report["people"].as_array().unwrap() {
            let credit = &p["assets"][a.as_str()];
            let name = p["name"].as_str().unwrap();
            let at = dom
                .find(&format!("<tr data-person=\"{name}\">"))
                .unwrap_or_else(|| panic!("{name} on {a}"));
            let row = &dom[at..at + dom[at..].find("</tr>").unwrap()];
            assert!(
                row.contains(&format!("data-credited=\"{}\"", credit["credited_commits"])),
                "{row} vs {credit}"
            );
        }
        // Its badges are served.
        for img in dom
            .match_indices("<img ")
            .map(|(i, _)| attributes(&dom[i..]))
        {
            let src = &img.iter().find(|(k, _)| k == "src").unwrap().1;
            let path = format!("/assets/{src}");
            let path = path.replace("/assets/../", "/");
            assert_eq!(
                http_get(&daemon.addr, &path, &[]).unwrap().status,
                200,
                "{path}"
            );
        }
    }
    assert_eq!(
        http_get(&daemon.addr, "/assets/no-such-asset", &[])
            .unwrap()
            .status,
        404
    );

    // Screenshots, wide and phone-sized, for a person to look at.
    for (name, size, page) in [
        ("overview.png", "1400,1100", url.clone()),
        ("overview-phone.png", "390,844", url.clone()),
        (
            "asset.png",
            "1000,1200",
            format!("{url}assets/demo-churn-model"),
        ),
    ] {
        let shot = shots.join(name);
        chromium(
            &profile,
            &[
                &format!("--screenshot={}", shot.display()),
                &format!("--window-size={size}"),
            ],
            &page,
        );
        let (_, _, pixels) = png_pixels(&std::fs::read(&shot).unwrap());
        let distinct: std::collections::BTreeSet<u8> = pixels.iter().copied().collect();
        assert!(distinct.len() > 16, "{name} is blank");
    }
}
