//! A real Prometheus scrapes a real `mlsteward run`; every dashboard panel expression, every
//! dashboard variable query and every alert rule expression is evaluated through Prometheus's
//! HTTP API and must succeed with data. The fixture is built so every alert fires.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mlsteward::store::Store;
use yaml_rust2::YamlLoader;

use crate::fake_forge::{Attempt, FakeGithub, FakeGitlab, Item, Pipeline, Run};
use crate::git_source::build_fixture;
use crate::support::*;

struct Prometheus {
    child: Child,
    addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Path, targets: &[&str]) -> Prometheus {
        Prometheus::start_with(dir, targets, &dir.join("tsdb"), &[])
    }

    /// Over the blocks in `tsdb`, with `extra` flags (a retention long enough for backfilled
    /// blocks).
    fn start_with(dir: &Path, targets: &[&str], tsdb: &Path, extra: &[&str]) -> Prometheus {
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let targets = targets.join(", ");
        let rules = repo_root().join("deploy/prometheus/alerts.yml");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: mlsteward\n    static_configs:\n      - targets: [{targets}]\n",
                rules.display()
            ),
        )
        .unwrap();
        Prometheus::spawn(Path::new("prometheus"), &config, tsdb, extra)
    }

    /// `bin` (Debian's `prometheus`, or another version) on `config` and `tsdb`, ready.
    fn spawn(bin: &Path, config: &Path, tsdb: &Path, extra: &[&str]) -> Prometheus {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", tsdb.display()))
            .arg(format!("--web.listen-address={addr}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{} (Debian package `prometheus`; scripts/test.sh installs it): {e}",
                    bin.display()
                )
            });
        let p = Prometheus { child, addr };
        wait_until("Prometheus to be ready", Duration::from_secs(60), || {
            http_get(&p.addr, "/-/ready", &[])
                .map(|r| r.status == 200)
                .unwrap_or(false)
        });
        p
    }

    fn api(&self, path: &str) -> serde_json::Value {
        let r = http_get(&self.addr, path, &[]).expect("Prometheus API");
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.text()))
    }

    /// Instant query: (status ok, number of result series, error text).
    fn query(&self, expr: &str) -> (bool, usize, String) {
        let v = self.api(&format!("/api/v1/query?query={}", urlencode(expr)));
        let ok = v["status"] == "success";
        let n = v["data"]["result"].as_array().map_or(0, |a| a.len());
        (ok, n, v["error"].as_str().unwrap_or("").to_string())
    }
}

/// Grafana's variables, replaced as Grafana would with "All" selected.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__range", "5m")
        .replace("$__interval", "15s")
        .replace("$asset", ".*")
        .replace("$kind", ".*")
        .replace("$source", ".*")
        .replace("$scope", "repo")
}

/// A fake GitHub whose `acme/churn` (the asset `churn-model`) makes every build-stability
/// panel and alert return data: a week and more of daily successes (a baseline of 1), two
/// failures in the last day (a ratio of 0), a flaky run, and a `nightly` pipeline recovered
/// once and failing for 30 hours. Its rate-limit budget is small, so that alert fires too.
fn fake_github(now: i64) -> FakeGithub {
    let hour = 3600;
    let day = 24 * hour;
    let done = |conclusion: &'static str, at: i64| Attempt {
        conclusion: Some(conclusion),
        started: at - 300,
        updated: at,
        jobs: vec![("reproduce (linux)", Some(conclusion))],
    };
    let run = |id: u64, workflow: &'static str, attempts: Vec<Attempt>| Run {
        id,
        workflow,
        branch: "main",
        sha: format!("{id:040x}"),
        created: attempts[0].started - 10,
        attempts,
    };
    let mut runs: Vec<Run> = (1..=12)
        .map(|d| run(d, "ci", vec![done("success", now - d as i64 * day - hour)]))
        .collect();
    runs.push(run(
        20,
        "ci",
        vec![
            done("failure", now - 5 * day - 3 * hour),
            done("success", now - 5 * day - 2 * hour),
        ],
    ));
    runs.push(run(21, "ci", vec![done("failure", now - 2 * hour)]));
    runs.push(run(22, "ci", vec![done("failure", now - hour)]));
    runs.push(run(30, "nightly", vec![done("failure", now - 50 * hour)]));
    runs.push(run(31, "nightly", vec![done("success", now - 40 * hour)]));
    runs.push(run(32, "nightly", vec![done("failure", now - 30 * hour)]));
    runs.push(run(33, "nightly", vec![done("failure", now - 6 * hour)]));
    let gh = FakeGithub::start(None, 100);
    gh.with(|s| {
        s.limit = 90;
        s.repos.insert("acme/churn".into(), ("main".into(), runs));
        // Ten days of issues answered within the hour (a baseline), an issue waiting for 3 days,
        // and a pull request answered and merged.
        let daily = (1..=10).map(|d| Item {
            number: 100 + d as u64,
            author: "erin",
            created: now - d * day - 2 * hour,
            updated: now - d * day - hour,
            comments: vec![("bob", now - d * day - hour)],
            ..Item::default()
        });
        s.items.insert(
            "acme/churn".into(),
            daily
                .chain([
                    Item {
                        number: 1,
                        author: "erin",
                        created: now - 3 * day,
                        updated: now - 3 * day,
                        ..Item::default()
                    },
                    Item {
                        number: 2,
                        pull: true,
                        author: "bob",
                        created: now - 5 * hour,
                        updated: now - 2 * hour,
                        closed: Some(now - 2 * hour),
                        merged: Some(now - 2 * hour),
                        base: "main",
                        reviews: vec![(1, "ann", "APPROVED", "", now - 3 * hour)],
                        ..Item::default()
                    },
                ])
                .collect(),
        );
    });
    gh
}

/// A fake GitLab whose `acme/feature-store-views` reported 85 % coverage every day for ten
/// days and 80 % today, so the coverage panels have data and the coverage alert fires.
fn fake_gitlab(now: i64) -> FakeGitlab {
    let day = 86_400;
    let mut pipelines: Vec<Pipeline> = (1..=10)
        .map(|d| {
            let end = now - d * day - 3600;
            Pipeline {
                id: d as u64,
                branch: "main",
                source: "push",
                status: "success",
                created: end - 900,
                started: end - 600,
                finished: Some(end),
                updated: end,
                coverage: Some("85.00"),
            }
        })
        .collect();
    let end = now - 1800;
    pipelines.push(Pipeline {
        id: 11,
        branch: "main",
        source: "push",
        status: "success",
        created: end - 900,
        started: end - 600,
        finished: Some(end),
        updated: end,
        coverage: Some("80.00"),
    });
    let gl = FakeGitlab::start(None, 100);
    gl.with(|s| {
        s.projects.insert(
            "acme/feature-store-views".into(),
            ("main".into(), pipelines),
        );
    });
    gl
}

#[test]
fn dashboards_and_rules_return_data_from_a_real_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let gh = fake_github(now());
    let gl = fake_gitlab(now());
    // A real MLflow with a production model that fails a check, and one version by ann.
    let mlflow = crate::registries::Mlflow::start(dir.path());
    let exp = mlflow.call(
        "experiments/create",
        serde_json::json!({"name": "churn-train"}),
    )["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = mlflow.run(
        &exp,
        (now() - 3600) * 1000,
        "ann",
        &[("mlflow.user", "ann@example.com")],
        &[],
        Some(serde_json::json!(0.9)),
        "FINISHED",
    );
    mlflow.call(
        "registered-models/create",
        serde_json::json!({"name": "churn-registry", "description": "A churn model",
            "tags": [{"key": "owner", "value": "ml-team"}, {"key": "lifecycle", "value": "production"}]}),
    );
    mlflow.call(
        "model-versions/create",
        serde_json::json!({"name": "churn-registry", "source": format!("runs:/{run}/model"), "run_id": run}),
    );
    // A model server that answers in 30 ms against a 10 ms target, and one that fails.
    let serving = crate::fake_forge::FakeServer::start(std::sync::Arc::new(
        |r: &crate::fake_forge::Request| match r.path.as_str() {
            "/predict" => {
                std::thread::sleep(Duration::from_millis(30));
                crate::fake_forge::Response::json(200, &serde_json::json!({"status": "ok"}))
            }
            // Feast's registry: one view materialized two days ago with a one-day TTL.
            "/api/v1/feature_views" => crate::fake_forge::Response::json(
                200,
                &serde_json::json!({"featureViews": [{"type": "featureView",
                    "spec": {"name": "driver_stats", "features": [{"name": "conv_rate"}], "ttl": "86400s", "owner": "ml-team"},
                    "meta": {"lastUpdatedTimestamp": crate::fake_forge::rfc3339(now() - 2 * 86_400),
                             "materializationIntervals": [{"startTime": crate::fake_forge::rfc3339(now() - 3 * 86_400),
                                                           "endTime": crate::fake_forge::rfc3339(now() - 2 * 86_400)}]}}],
                    "pagination": {}}),
            ),
            "/api/v1/feature_services" => crate::fake_forge::Response::json(
                200,
                &serde_json::json!({"featureServices": [{"spec": {"name": "driver_service",
                    "features": [{"featureViewName": "driver_stats", "featureColumns": [{"name": "conv_rate"}]}]}}]}),
            ),
            // Feast's feature server: values an hour old.
            "/get-online-features" => crate::fake_forge::Response::json(
                200,
                &serde_json::json!({"metadata": {"feature_names": ["driver_id", "conv_rate"]},
                    "results": [{"values": [1001], "statuses": ["PRESENT"], "event_timestamps": ["1970-01-01T00:00:00Z"]},
                                {"values": [0.5], "statuses": ["PRESENT"], "event_timestamps": [crate::fake_forge::rfc3339(now() - 3600)]}]}),
            ),
            _ => crate::fake_forge::Response::json(503, &serde_json::json!({})),
        },
    ));
    let (_repo, config) = build_fixture(
        dir.path(),
        &format!(
            "  - name: broken\n    type: git\n    path: does-not-exist\n    schedule: 10s\n  - name: gh\n    type: github\n    api_url: {}\n    repositories: [acme/churn]\n    assets: {{acme/churn: churn-model}}\n    reproducibility: [ci]\n    schedule: 10s\n  - name: gl\n    type: gitlab\n    api_url: {}\n    projects: [acme/feature-store-views]\n    schedule: 10s\n  - name: predict\n    type: http_probe\n    asset: churn-model\n    url: {}/predict\n    latency_target: 10ms\n    schedule: 1s\n  - name: down\n    type: http_probe\n    asset: churn-model\n    url: {}/down\n    schedule: 1s\n  - name: mlflow\n    type: mlflow\n    url: {}\n    schedule: 10s\n  - name: feast\n    type: feast\n    registry_url: {}\n    server_url: {}\n    project: demo\n    schedule: 2s\n    probes:\n      - name: driver-stats\n        features: [\"driver_stats:conv_rate\"]\n        entities: '{{\"driver_id\": [1001]}}'\n",
            gh.url(),
            gl.url(),
            serving.url(),
            serving.url(),
            mlflow.url(),
            serving.url(),
            serving.url()
        ),
    );
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen(
            "    paths: [\"src/**\"]\n",
            "    paths: [\"src/**\"]\n    targets:\n      build_success: 0.99\n      coverage: 0.9\n      reproducibility: 0.95\n      responses_within_objective: 0.9\n    stewards: [ann]\n",
            1,
        ),
    )
    .unwrap();
    let storage = dir.path().join("data/db.sqlite");
    // The broken source last worked two hours ago: its data is stale, and it is failing now.
    let store = Store::open(&storage).unwrap();
    store
        .record_success("broken", (now() - 7200) as f64)
        .unwrap();
    // Ten days of 5 ms probes: a baseline the 30 ms server is far above.
    let history: Vec<mlsteward::facts::ProbeSample> = (1..=10)
        .map(|d| mlsteward::facts::ProbeSample {
            target: "predict".into(),
            asset: "churn-model".into(),
            at_ms: (now() - d * 86_400) * 1000,
            result: "ok".into(),
            latency: Some(0.005),
            ..Default::default()
        })
        .collect();
    store
        .apply(&mlsteward::facts::Collection {
            source: "predict".into(),
            sets: vec![mlsteward::facts::FactSet::ProbeSamples(history)],
            cursors: Default::default(),
        })
        .unwrap();
    drop(store);

    let mut daemon = Daemon::run(&config, &storage, &[]);
    let addr = daemon.addr.clone();
    daemon.wait_ready();
    // A second replica whose store is damaged, so that the store alert fires too.
    let damaged = dir.path().join("damaged/db.sqlite");
    crate::git_source::collect_once(&config, &damaged);
    corrupt_store(&damaged);
    // Its own copy of the config (beside the original, so relative paths hold), which then
    // turns bad: its reload fails, so that the reload alert fires too.
    let broken_config = config.with_file_name("broken-replica.yaml");
    std::fs::copy(&config, &broken_config).unwrap();
    // It is also shard 0 of 2 with a peer that never answers, so the peer alert fires too.
    let mut broken_daemon = Daemon::run(
        &broken_config,
        &damaged,
        &[
            "--shard",
            "0/2",
            "--shard.peers",
            "http://127.0.0.1:9,http://127.0.0.1:9",
        ],
    );
    broken_daemon.wait_ready();
    std::fs::write(&broken_config, "sources: [").unwrap();
    let reload = http_post_json(&broken_daemon.addr, "/-/reload", &serde_json::json!({})).unwrap();
    assert_eq!(reload.status, 500, "{}", reload.text());
    let prom = Prometheus::start(dir.path(), &[&addr, &broken_daemon.addr]);
    wait_until(
        "samples of every family in Prometheus",
        Duration::from_secs(60),
        || {
            prom.query("mlsteward_contributions_total").1 > 0
                && prom.query("mlsteward_ci_runs_total").1 > 0
                && prom
                    .query("count_over_time(mlsteward_build_info[1m]) >= 3")
                    .1
                    > 0
        },
    );

    // Prometheus asks for OpenMetrics first and got it: the `_created` series of the self
    // counters exist only in that format (Prometheus 2.x stores them as samples).
    assert!(
        prom.query("mlsteward_renders_created").1 > 0,
        "Prometheus did not scrape OpenMetrics"
    );

    let mut failures = Vec::new();
    let mut checked = 0;
    for name in [
        "recognition.json",
        "mlsteward-health.json",
        "build-stability.json",
        "reproducibility.json",
        "ownership.json",
        "feature-serving.json",
        "models.json",
    ] {
        let text =
            std::fs::read_to_string(repo_root().join("grafana/dashboards").join(name)).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = substitute(target["expr"].as_str().unwrap());
                let (ok, n, err) = prom.query(&expr);
                checked += 1;
                if !ok || n == 0 {
                    failures.push(format!(
                        "{name} / {}: `{expr}`: ok={ok} series={n} {err}",
                        panel["title"]
                    ));
                }
            }
        }
        for var in dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["type"] == "query")
        {
            let q = var["query"]["query"].as_str().unwrap();
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'))
                .unwrap();
            let (metric, label) = inner.rsplit_once(", ").unwrap();
            let v = prom.api(&format!(
                "/api/v1/label/{label}/values?match[]={}",
                urlencode(&substitute(metric))
            ));
            checked += 1;
            if v["data"].as_array().is_none_or(|a| a.is_empty()) {
                failures.push(format!(
                    "{name} variable {}: `{q}` has no values",
                    var["name"]
                ));
            }
        }
    }

    let rules = YamlLoader::load_from_str(
        &std::fs::read_to_string(repo_root().join("deploy/prometheus/alerts.yml")).unwrap(),
    )
    .unwrap();
    for group in rules[0]["groups"].as_vec().unwrap() {
        for rule in group["rules"].as_vec().unwrap() {
            let expr = rule["expr"].as_str().unwrap();
            let (ok, n, err) = prom.query(expr);
            checked += 1;
            if !ok || n == 0 {
                failures.push(format!(
                    "rule {}: `{expr}`: ok={ok} series={n} {err}",
                    rule["alert"].as_str().unwrap_or("?")
                ));
            }
            // An asset alert carries its asset's owner and lifecycle, as mlsteward_asset_info
            // says them (the owner absent for an unowned asset).
            if expr.contains("group_left (owner, lifecycle)") {
                let v = prom.api(&format!("/api/v1/query?query={}", urlencode(expr)));
                for series in v["data"]["result"].as_array().into_iter().flatten() {
                    let m = &series["metric"];
                    let asset = m["asset"].as_str().unwrap_or("");
                    let info = prom.api(&format!(
                        "/api/v1/query?query={}",
                        urlencode(&format!(
                            "max by (owner, lifecycle) (mlsteward_asset_info{{asset=\"{asset}\"}})"
                        ))
                    ));
                    let info = &info["data"]["result"][0]["metric"];
                    if m["lifecycle"] != info["lifecycle"] || m["owner"] != info["owner"] {
                        failures.push(format!(
                            "rule {}: {m} does not carry the owner and lifecycle of {info}",
                            rule["alert"].as_str().unwrap_or("?")
                        ));
                    }
                }
            }
        }
    }
    let loaded = prom.api("/api/v1/rules");
    for group in loaded["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            if rule["health"] == "err" {
                failures.push(format!(
                    "rule {} is unhealthy: {}",
                    rule["name"], rule["lastError"]
                ));
            }
        }
    }
    assert!(checked >= 20, "checked only {checked} expressions");
    assert!(
        failures.is_empty(),
        "{} of {checked} expressions failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    overview_problems_are_what_prometheus_evaluates(&prom, &daemon.addr, &rules[0]);
    // The model's page names the run that made its version (model → runs).
    let model = http_get(&daemon.addr, "/assets/churn-registry", &[])
        .unwrap()
        .text();
    assert!(
        model.contains(&format!(
            "<tr data-version=\"1\"><td>1</td><td><code>{run}</code></td><td>FINISHED</td></tr>"
        )),
        "{model}"
    );
    drop(daemon);
    drop(broken_daemon);
}

/// The overview page's problems are the shipped asset rules as Prometheus evaluates them over
/// the same daemon: for every asset the page shows, the same alerts (each asset rule fires for
/// some asset in this fixture), and its sparklines and values hold the fixture's data.
fn overview_problems_are_what_prometheus_evaluates(
    prom: &Prometheus,
    addr: &str,
    rules: &yaml_rust2::Yaml,
) {
    use std::collections::BTreeSet;
    // Prometheus's view: (asset, alert) for every series of every asset rule, from this
    // daemon (the left side's instance, where the expression keeps it).
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    for group in rules["groups"].as_vec().unwrap() {
        for rule in group["rules"].as_vec().unwrap() {
            let expr = rule["expr"].as_str().unwrap();
            if !expr.contains("mlsteward_asset_info") {
                continue;
            }
            let v = prom.api(&format!("/api/v1/query?query={}", urlencode(expr)));
            for series in v["data"]["result"].as_array().into_iter().flatten() {
                let m = &series["metric"];
                if m["instance"].as_str().is_some_and(|i| i != addr) {
                    continue;
                }
                expected.insert((
                    m["asset"].as_str().unwrap().to_string(),
                    rule["alert"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    // The probes render every second: each value is checked against /metrics just before
    // and just after the page.
    let before = http_get(addr, "/metrics", &[]).unwrap().text();
    let page = http_get(addr, "/", &[]).unwrap().text();
    let after = http_get(addr, "/metrics", &[]).unwrap().text();
    let mut shown: BTreeSet<(String, String)> = BTreeSet::new();
    let mut assets = BTreeSet::new();
    for (at, _) in page.match_indices("<tr data-asset=\"") {
        let row = &page[at..at + page[at..].find("</tr>").unwrap()];
        let asset = row["<tr data-asset=\"".len()..]
            .split('"')
            .next()
            .unwrap()
            .to_string();
        for (i, _) in row.match_indices("data-alert=\"") {
            let alert = row[i + "data-alert=\"".len()..].split('"').next().unwrap();
            shown.insert((asset.clone(), alert.to_string()));
        }
        assets.insert(asset);
    }
    expected.retain(|(asset, _)| assets.contains(asset));
    // Each pending or firing asset alert links to its asset's page, which answers.
    let alerts = prom.api("/api/v1/alerts");
    let mut linked = 0;
    for alert in alerts["data"]["alerts"].as_array().into_iter().flatten() {
        let Some(page) = alert["annotations"]["page"].as_str() else {
            continue;
        };
        let asset = alert["labels"]["asset"].as_str().unwrap();
        let (host, path) = page
            .strip_prefix("http://")
            .unwrap()
            .split_once('/')
            .unwrap();
        assert_eq!(format!("/{path}"), format!("/assets/{asset}"), "{alert}");
        assert_eq!(
            http_get(host, &format!("/{path}"), &[]).unwrap().status,
            200,
            "{alert}"
        );
        linked += 1;
    }
    assert!(linked >= 10, "{alerts}");
    assert_eq!(
        shown, expected,
        "the page's problems differ from Prometheus's:\n{page}"
    );
    let alerts: BTreeSet<&str> = shown.iter().map(|(_, a)| a.as_str()).collect();
    assert!(alerts.len() >= 10, "only {alerts:?} fire");
    // The churn model's row: a build sparkline over its week of runs and a latency one.
    let row = &page[page.find("<tr data-asset=\"churn-model\">").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    let days: Vec<usize> = row
        .match_indices("data-days=\"")
        .map(|(i, _)| row[i + 11..].split('"').next().unwrap().parse().unwrap())
        .collect();
    // Build (a week and more of daily runs), `down` (probed today only), `predict` (ten
    // days of history and today).
    assert_eq!(days.len(), 3, "{row}");
    assert!(
        days[0] >= 8 && days[1] == 1 && days[2] == 11,
        "{days:?} in {row}"
    );
    for s in shown_values(&page) {
        let value = |m: &str| sample_labeled(m, &s.metric, &s.labels);
        assert!(
            value(&before) == Some(s.value) || value(&after) == Some(s.value),
            "{s:?}: {:?} / {:?} in /metrics",
            value(&before),
            value(&after)
        );
    }
}

#[test]
fn backfilled_history_is_queryable_at_past_instants_in_a_real_prometheus() {
    const DAY: i64 = 86_400;
    let dir = tempfile::tempdir().unwrap();
    let t0 = now();
    let (_repo, config) = crate::git_source::build_fixture(dir.path(), "");
    let storage = dir.path().join("s.db");
    let (ok, text) = crate::git_source::collect_once(&config, &storage);
    assert!(ok, "{text}");
    let output = dir.path().join("history.om");
    let out = mlsteward(&[
        "backfill",
        "--config.file",
        config.to_str().unwrap(),
        "--storage.path",
        storage.to_str().unwrap(),
        "--since",
        "120d",
        "--step",
        "1d",
        "--output",
        output.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let history = std::fs::read_to_string(&output).unwrap();
    assert!(history.ends_with("# EOF\n"));
    assert!(history.contains("# TYPE mlsteward_credited_commits counter\n"));

    // The README's second and third commands: blocks, then a Prometheus over them.
    let tsdb = dir.path().join("tsdb");
    let blocks = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&output)
        .arg(&tsdb)
        .output()
        .unwrap();
    assert!(
        blocks.status.success(),
        "{}",
        String::from_utf8_lossy(&blocks.stderr)
    );
    let prom_dir = dir.path().join("prom");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let prom = Prometheus::start_with(
        &prom_dir,
        &[],
        &tsdb,
        &["--storage.tsdb.retention.time=10y"],
    );
    // The last daily step at or before `t`: what a scrape that day had seen.
    let step_before = |t: i64| t.div_euclid(DAY) * DAY;
    let at = |expr: &str, t: i64| -> Option<f64> {
        let v = prom.api(&format!(
            "/api/v1/query?query={}&time={}",
            urlencode(expr),
            step_before(t)
        ));
        assert_eq!(v["status"], "success", "{v}");
        v["data"]["result"][0]["value"][1]
            .as_str()
            .map(|x| x.parse().unwrap())
    };
    let credited = |who: &str| {
        format!("mlsteward_credited_commits_total{{asset=\"fixture\",contributor=\"{who}\"}}")
    };
    // Worked out from the fixture's script (see git_source::build_fixture): 50 days ago only
    // Ann's first commit existed.
    let t = t0 - 50 * DAY;
    assert_eq!(at(&credited("Ann Lee"), t), Some(1.0));
    assert_eq!(
        at(&credited("Bob Stone"), t),
        None,
        "Bob had not committed yet"
    );
    assert_eq!(
        at("mlsteward_active_contributors{window=\"30d\"}", t),
        Some(0.0)
    );
    // Between Bob's breaking commit (16 days ago) and Ann's revert of it (15 days ago): it
    // still earned credit. Bob: his tests and the break (the reformat is whitespace-only).
    let t = t0 - 15 * DAY - 1;
    assert_eq!(at(&credited("Bob Stone"), t), Some(2.0));
    assert_eq!(at(&credited("Ann Lee"), t), Some(2.0));
    assert_eq!(
        at(&credited("Cy Park"), t),
        Some(1.0),
        "co-author of the tests"
    );
    // Five days ago: the revert stands, so the break earns nothing; Dee's branch was merged,
    // Cy wrote the changelog, Fay the utilities; Eve opted out.
    let t = t0 - 5 * DAY;
    assert_eq!(at(&credited("Bob Stone"), t), Some(1.0));
    assert_eq!(at(&credited("Ann Lee"), t), Some(2.0));
    assert_eq!(at(&credited("Cy Park"), t), Some(2.0));
    assert_eq!(at(&credited("Dee"), t), Some(1.0));
    assert_eq!(at(&credited("Fay"), t), Some(1.0));
    assert_eq!(at(&credited("Eve"), t), None);
    assert_eq!(
        at(
            "mlsteward_git_commits{source=\"fixture\",outcome=\"reverted\"}",
            t
        ),
        Some(1.0)
    );
    assert_eq!(
        at(
            "mlsteward_git_commits{source=\"fixture\",outcome=\"reverted\"}",
            t0 - 15 * DAY - 1
        ),
        Some(0.0)
    );
    // Active over 30 days, five days ago: Ann, Bob, Cy, Dee, Fay (Eve opted out, the bot is none).
    assert_eq!(
        at("mlsteward_active_contributors{window=\"30d\"}", t),
        Some(5.0)
    );
}

/// The Prometheus that knows `scrape_protocols` (2.49 and later; Debian 12's is 2.42):
/// Debian 13's 2.53, which scripts/test.sh unpacks under target/. Fails loudly when missing.
fn prometheus_with_scrape_protocols() -> std::path::PathBuf {
    let bin = std::env::var_os("MLSTEWARD_PROMETHEUS_253")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/prometheus-2.53.3/usr/bin/prometheus"));
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which unpacks Debian 13's Prometheus 2.53 there",
        bin.display()
    );
    bin
}

/// Two jobs of a real Prometheus 2.53 scrape the same daemon, one allowed only OpenMetrics
/// 1.0 (`scrape_protocols: [OpenMetricsText1.0.0]`), the other only the text format 0.0.4:
/// both targets are up with no scrape error, the OpenMetrics job stores the self counters'
/// `_created` series (which only OpenMetrics carries) and the text job does not, and both
/// hold the same contributions.
#[test]
fn scrape_protocols_openmetrics_and_text_in_a_real_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let config = one_library(dir.path());
    let mut daemon = Daemon::run(&config, &dir.path().join("s.db"), &[]);
    daemon.wait_ready();
    let target = &daemon.addr;
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n\
             \x20 - job_name: openmetrics\n    scrape_protocols: [OpenMetricsText1.0.0]\n    static_configs:\n      - targets: ['{target}']\n\
             \x20 - job_name: text\n    scrape_protocols: [PrometheusText0.0.4]\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let prom = Prometheus::spawn(
        &prometheus_with_scrape_protocols(),
        &prom_config,
        &dir.path().join("tsdb"),
        &[],
    );
    wait_until(
        "both jobs to have scraped twice",
        Duration::from_secs(60),
        || prom.query("count_over_time(up[1m]) >= 2").1 == 2,
    );
    let targets = prom.api("/api/v1/targets");
    let active = targets["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 2, "{targets}");
    for t in active {
        assert_eq!(t["health"], "up", "{t}");
        assert_eq!(t["lastError"], "", "{t}");
    }
    assert_eq!(prom.query("up == 1").1, 2);
    assert_eq!(
        prom.query("mlsteward_renders_created{job=\"openmetrics\"}")
            .1,
        1,
        "the OpenMetrics job stores `_created`"
    );
    assert_eq!(
        prom.query("mlsteward_renders_created{job=\"text\"}").1,
        0,
        "the text job has no `_created`"
    );
    let om = prom
        .query("mlsteward_contributions_total{job=\"openmetrics\"}")
        .1;
    assert!(om > 0);
    assert_eq!(
        prom.query("mlsteward_contributions_total{job=\"text\"}").1,
        om
    );
}
