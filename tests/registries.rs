//! ML registries against real servers: MLflow (`mlflow server` on loopback, from the Python
//! environment scripts/test.sh builds), seeded through its own REST API with a scenario whose
//! answers are worked out by hand below.

use std::process::Command;

use serde_json::json;

use crate::git_source::{collect_once, collect_once_with};
use crate::support::*;

pub struct Mlflow {
    pub served: Served,
}

impl Mlflow {
    pub fn start(dir: &std::path::Path) -> Mlflow {
        let port = free_port();
        let mut command = Command::new(pyenv_bin("mlflow"));
        command
            .args(["server", "--host", "127.0.0.1", "--port", &port.to_string()])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", dir.join("mlflow.db").display()))
            .arg("--default-artifact-root")
            .arg(dir.join("artifacts"))
            .args(["--workers", "1"])
            .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
            .current_dir(dir);
        let served = Served::start(
            command,
            format!("127.0.0.1:{port}"),
            "/health",
            dir.join("mlflow.log"),
        );
        Mlflow { served }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.served.addr)
    }

    pub fn call(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let r = http_post_json(&self.served.addr, &format!("/api/2.0/mlflow/{path}"), &body)
            .expect("MLflow");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        serde_json::from_slice(&r.body).unwrap_or(json!({}))
    }

    /// A finished run with a metric value (a number, or a string such as "NaN").
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        experiment: &str,
        start_ms: i64,
        user: &str,
        tags: &[(&str, &str)],
        params: &[(&str, &str)],
        metric: Option<serde_json::Value>,
        status: &str,
    ) -> String {
        let tags: Vec<serde_json::Value> = tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        let run = self.call(
            "runs/create",
            json!({"experiment_id": experiment, "start_time": start_ms, "user_id": user, "tags": tags}),
        );
        let id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
        for (k, v) in params {
            self.call(
                "runs/log-parameter",
                json!({"run_id": id, "key": k, "value": v}),
            );
        }
        if let Some(value) = metric {
            self.call(
                "runs/log-metric",
                json!({"run_id": id, "key": "auc", "value": value, "timestamp": start_ms + 1000}),
            );
        }
        self.call(
            "runs/update",
            json!({"run_id": id, "status": status, "end_time": start_ms + 60_000}),
        );
        id
    }
}

#[test]
fn mlflow_models_versions_governance_and_reproducibility_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let m = Mlflow::start(dir.path());
    let exp = m.call("experiments/create", json!({"name": "churn-train"}))["experiment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let t0 = (now() - 3 * DAY) * 1000;
    let c1 = ("mlflow.source.git.commit", "c1");
    let lr = [("lr", "0.1")];
    // r1 is the group's reference (the earliest); r2 agrees within 0.01; r3 does not; r4's
    // NaN never agrees; r5 has other params (a group of its own); r6 failed; r7 has no commit.
    let r1 = m.run(
        &exp,
        t0,
        "ann",
        &[
            c1,
            ("mlflow.user", "ann@example.com"),
            ("environment", "linux"),
        ],
        &lr,
        Some(json!(0.900)),
        "FINISHED",
    );
    let r2 = m.run(
        &exp,
        t0 + 1000,
        "unknown",
        &[c1, ("environment", "linux")],
        &lr,
        Some(json!(0.905)),
        "FINISHED",
    );
    let r3 = m.run(
        &exp,
        t0 + 2000,
        "carol",
        &[c1, ("environment", "mac")],
        &lr,
        Some(json!(0.85)),
        "FINISHED",
    );
    m.run(
        &exp,
        t0 + 3000,
        "unknown",
        &[c1],
        &lr,
        Some(json!("NaN")),
        "FINISHED",
    );
    m.run(
        &exp,
        t0 + 4000,
        "unknown",
        &[c1],
        &[("lr", "0.2")],
        Some(json!(0.5)),
        "FINISHED",
    );
    m.run(
        &exp,
        t0 + 5000,
        "unknown",
        &[c1],
        &lr,
        Some(json!(0.9)),
        "FAILED",
    );
    m.run(
        &exp,
        t0 + 6000,
        "unknown",
        &[],
        &lr,
        Some(json!(0.9)),
        "FINISHED",
    );

    // `churn`: documented, owned, licensed, in production; v1 from r1 (ann), v2 from r2 (no
    // user), v3 without a run; its champion v1 comes from a finished run.
    let tags = |pairs: &[(&str, &str)]| -> Vec<serde_json::Value> {
        pairs
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect()
    };
    m.call(
        "registered-models/create",
        json!({"name": "churn", "description": "Churn model: which customers will leave next month.",
               "tags": tags(&[("owner", "@acme/ml-team"), ("license", "apache-2.0"), ("stewards", "ann, bob"), ("lifecycle", "Production")])}),
    );
    for run in [Some(&r1), Some(&r2), None] {
        let body = match run {
            Some(r) => json!({"name": "churn", "source": format!("runs:/{r}/model"), "run_id": r}),
            None => json!({"name": "churn", "source": "s3://models/churn/3"}),
        };
        m.call("model-versions/create", body);
    }
    m.call(
        "registered-models/alias",
        json!({"name": "churn", "alias": "champion", "version": "1"}),
    );
    // `fraud`: nothing but a version from r3 (carol, by her user id).
    m.call("registered-models/create", json!({"name": "fraud"}));
    m.call(
        "model-versions/create",
        json!({"name": "fraud", "source": format!("runs:/{r3}/model"), "run_id": r3}),
    );

    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "organisation: acme\nsources:\n  - name: mlflow\n    type: mlflow\n    url: {}\n    model_card_min_chars: 20\n    reproducibility:\n      experiments: {{churn-train: churn}}\n      metrics: {{auc: '0.01'}}\n",
            m.url()
        ),
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");

    let repro = |env: &str, result: &str| {
        sample(
            &text,
            &format!("mlsteward_repro_checks_total{{asset=\"churn\",environment=\"{env}\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(repro("linux", "pass"), Some(1.0), "{text}");
    assert_eq!(repro("linux", "fail"), Some(0.0));
    assert_eq!(repro("mac", "fail"), Some(1.0));
    assert_eq!(repro("mlflow", "fail"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "mlsteward_repro_pass_ratio{asset=\"churn\",window=\"7d\"}"
        ),
        Some(1.0 / 3.0)
    );

    let check = |asset: &str, name: &str| {
        sample(
            &text,
            &format!("mlsteward_model_check{{asset=\"{asset}\",check=\"{name}\"}}"),
        )
    };
    for name in [
        "has_description",
        "has_owner",
        "has_model_card",
        "has_license",
        "champion_from_finished_run",
    ] {
        assert_eq!(check("churn", name), Some(1.0), "churn {name}");
        assert_eq!(check("fraud", name), Some(0.0), "fraud {name}");
    }
    assert_eq!(
        sample(&text, "mlsteward_model_versions{asset=\"churn\"}"),
        Some(3.0)
    );
    // Kept as they are: the alias, the stages, the description's length.
    assert_eq!(
        sample(
            &text,
            "mlsteward_model_alias_info{asset=\"churn\",alias=\"champion\",version=\"1\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_model_versions_by_stage{asset=\"churn\",stage=\"None\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "mlsteward_model_description_chars{asset=\"churn\"}"),
        Some(
            "Churn model: which customers will leave next month."
                .chars()
                .count() as f64
        )
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_model_versions_unattributed{asset=\"churn\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_model_versions_unattributed{asset=\"fraud\"}"
        ),
        Some(0.0)
    );
    let credit = |asset: &str, who: &str| {
        sample(
            &text,
            &format!("mlsteward_contributions_total{{asset=\"{asset}\",contributor=\"{who}\",kind=\"model_version\"}}"),
        )
    };
    assert_eq!(credit("churn", "ann@example.com"), Some(1.0));
    assert_eq!(credit("fraud", "carol"), Some(1.0));
    // Models are assets, with their owner in normal form and their stewards.
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_info{asset=\"churn\",kind=\"model\",owner=\"ml-team\",lifecycle=\"production\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_steward_info{asset=\"churn\",steward=\"bob\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "mlsteward_asset_owned{asset=\"fraud\"}"),
        Some(0.0)
    );

    // A second collection reads finished runs from the cursors, and counts nothing twice.
    let (ok, again) = collect_once(&config, &storage);
    assert!(ok);
    let families = [
        "mlsteward_repro_checks_total",
        "mlsteward_contributions_total",
        "mlsteward_model_check",
    ];
    assert_same_families(&text, &again, &families);

    // Two replicas (`--shard K/2`, fresh stores): each reads the versions' runs and the
    // reproducibility experiments of its own models only, so together they make one process's
    // requests plus one more pair of searches, and export one process's series.
    let run = |store: &str, shard: Option<&str>| -> String {
        let extra: Vec<&str> = shard.map(|s| vec!["--shard", s]).unwrap_or_default();
        let (ok, text) = collect_once_with(&config, &dir.path().join(store), &extra);
        assert!(ok, "{text}");
        text
    };
    let requests = |t: &str| -> f64 {
        t.lines()
            .filter(|l| l.starts_with("mlsteward_upstream_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let derived = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#') && l.contains("asset=\""))
            .map(String::from)
            .collect()
    };
    let whole = run("whole.db", None);
    let shards = [run("shard0.db", Some("0/2")), run("shard1.db", Some("1/2"))];
    assert_eq!(
        requests(&shards[0]) + requests(&shards[1]),
        requests(&whole) + 2.0
    );
    let mut expected = derived(&whole);
    expected.sort();
    let mut union: Vec<String> = shards.iter().flat_map(|t| derived(t)).collect();
    union.sort();
    assert_eq!(union, expected);

    // The catalog overrides only what it sets. `churn` is listed for its update cadence
    // alone: its lifecycle and stewards stay the registry's (production, ann and bob).
    // `fraud` gets its owner from the catalog: owned, and so `has_owner` passes too. `risk`
    // names its owner under `team`, the second of two owner tags.
    m.call(
        "registered-models/create",
        json!({"name": "risk", "tags": tags(&[("team", "@acme/risk-team")])}),
    );
    let catalog = dir.path().join("catalog.yaml");
    std::fs::write(
        &catalog,
        format!(
            "organisation: acme\nsources:\n  - name: mlflow\n    type: mlflow\n    url: {}\n    owner_tag: [owner, team]\ncatalog:\n  - id: churn\n    kind: model\n    update_cadence: 30d\n  - id: fraud\n    kind: model\n    owner: fraud-team\n",
            m.url()
        ),
    )
    .unwrap();
    let (ok, merged) = collect_once(&catalog, &dir.path().join("catalog.db"));
    assert!(ok, "{merged}");
    let info = |asset: &str| {
        merged
            .lines()
            .find(|l| l.starts_with(&format!("mlsteward_asset_info{{asset=\"{asset}\",")))
            .unwrap_or_else(|| panic!("no asset_info for {asset}:\n{merged}"))
            .to_string()
    };
    assert!(
        info("churn").contains("owner=\"ml-team\",lifecycle=\"production\""),
        "{}",
        info("churn")
    );
    for steward in ["ann", "bob"] {
        assert_eq!(
            sample(
                &merged,
                &format!("mlsteward_asset_steward_info{{asset=\"churn\",steward=\"{steward}\"}}")
            ),
            Some(1.0),
            "{steward}"
        );
    }
    assert!(info("fraud").contains("owner=\"fraud-team\",lifecycle=\"experimental\""));
    // MLflow's milliseconds are kept in the last update.
    let got = http_get(
        &m.served.addr,
        "/api/2.0/mlflow/registered-models/get?name=fraud",
        &[],
    )
    .unwrap();
    let got: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    let ms = got["registered_model"]["last_updated_timestamp"]
        .as_i64()
        .or_else(|| {
            got["registered_model"]["last_updated_timestamp"]
                .as_str()?
                .parse()
                .ok()
        })
        .unwrap();
    assert_eq!(
        sample(
            &merged,
            "mlsteward_asset_last_update_timestamp_seconds{asset=\"fraud\"}"
        ),
        Some(ms as f64 / 1000.0)
    );
    assert!(
        info("risk").contains("owner=\"risk-team\""),
        "{}",
        info("risk")
    );
    for asset in ["fraud", "risk"] {
        assert_eq!(
            sample(
                &merged,
                &format!("mlsteward_asset_owned{{asset=\"{asset}\"}}")
            ),
            Some(1.0),
            "{asset}"
        );
        assert_eq!(
            sample(
                &merged,
                &format!("mlsteward_model_check{{asset=\"{asset}\",check=\"has_owner\"}}")
            ),
            Some(1.0),
            "{asset}: governance agrees with ownership"
        );
    }

    // The server goes away: request_failed, and every figure stays.
    drop(m);
    let (ok, down) = collect_once(&config, &storage);
    assert!(!ok);
    assert_eq!(
        sample(&down, "mlsteward_collector_errors_total{collector=\"mlflow\",source=\"mlflow\",error_kind=\"request_failed\"}"),
        Some(1.0)
    );
    assert_same_families(&text, &down, &families);
}

/// A real Feast repository (`feast init`, `apply`, `materialize-incremental`), its feature
/// server and its REST registry server, each in its own process group.
pub struct Feast {
    pub server: Served,
    pub registry: Served,
}

impl Feast {
    pub fn start(dir: &std::path::Path) -> Feast {
        let feast = pyenv_bin("feast");
        let run = |args: &[&str]| {
            let out = Command::new(&feast)
                .args(args)
                .current_dir(dir)
                .env("XDG_RUNTIME_DIR", dir)
                .env("TMPDIR", dir)
                .env("PYTHONHASHSEED", "7")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "feast {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&["init", "demo"]);
        run(&["-c", "demo/feature_repo", "apply"]);
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
        run(&["-c", "demo/feature_repo", "materialize-incremental", &now]);
        let command = |args: Vec<String>| {
            let mut c = Command::new(&feast);
            c.args(args)
                .current_dir(dir)
                .env("XDG_RUNTIME_DIR", dir)
                .env("TMPDIR", dir)
                .env("PYTHONHASHSEED", "7");
            c
        };
        let port = free_port();
        let server = Served::start(
            command(
                [
                    "-c",
                    "demo/feature_repo",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                ]
                .map(String::from)
                .to_vec(),
            ),
            format!("127.0.0.1:{port}"),
            "/health",
            dir.join("feast-serve.log"),
        );
        let rport = free_port();
        let registry = Served::start(
            command(
                [
                    "-c",
                    "demo/feature_repo",
                    "serve_registry",
                    "--rest-api",
                    "--no-grpc",
                    "--rest-port",
                    &rport.to_string(),
                    "--host",
                    "127.0.0.1",
                ]
                .map(String::from)
                .to_vec(),
            ),
            format!("127.0.0.1:{rport}"),
            "/api/v1/projects",
            dir.join("feast-registry.log"),
        );
        Feast { server, registry }
    }
}

#[test]
fn feast_registry_and_retrieval_probes_against_real_servers() {
    let dir = tempfile::tempdir().unwrap();
    let feast = Feast::start(dir.path());
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            r#"sources:
  - name: feast
    type: feast
    registry_url: http://{}
    server_url: http://{}
    project: demo
    owner_tag: team
    probes:
      - name: unknown-feature
        features: ["driver_hourly_stats:nope"]
        entities: '{{"driver_id": [1001]}}'
      - name: stats
        features: ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"]
        entities: '{{"driver_id": [1001, 1002]}}'
        latency_target: 50ms
      - name: unknown-driver
        features: ["driver_hourly_stats:conv_rate"]
        entities: '{{"driver_id": [999999]}}'
      - name: service
        feature_service: driver_activity_v1
        entities: '{{"driver_id": [1001, 1002], "val_to_add": [1, 2], "val_to_add_2": [10, 20]}}'
"#,
            feast.registry.addr, feast.server.addr
        ),
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let probed_at = now();
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");

    // Expected values, read independently from the registry's own answers.
    let views = http_get(
        &feast.registry.addr,
        "/api/v1/feature_views?project=demo&limit=100",
        &[],
    )
    .unwrap();
    let views: serde_json::Value = serde_json::from_slice(&views.body).unwrap();
    for v in views["featureViews"].as_array().unwrap() {
        let name = v["spec"]["name"].as_str().unwrap();
        let features = v["spec"]["features"].as_array().unwrap().len() as f64;
        assert_eq!(
            sample(
                &text,
                &format!("mlsteward_asset_features{{asset=\"{name}\"}}")
            ),
            Some(features),
            "{name}"
        );
        let ends: Vec<i64> = v["meta"]["materializationIntervals"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                chrono::DateTime::parse_from_rfc3339(i["endTime"].as_str().unwrap())
                    .unwrap()
                    .timestamp()
            })
            .collect();
        if let Some(until) = ends.iter().max() {
            assert_eq!(
                sample(
                    &text,
                    &format!(
                        "mlsteward_feature_view_materialized_timestamp_seconds{{asset=\"{name}\"}}"
                    )
                ),
                Some(*until as f64),
                "{name}"
            );
        }
    }
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_info{asset=\"driver_hourly_stats\",kind=\"feature_view\",owner=\"driver_performance\",lifecycle=\"experimental\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "mlsteward_asset_dependency_info{asset=\"driver_activity_v1\",depends_on=\"driver_hourly_stats\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_feature_view_ttl_seconds{asset=\"driver_hourly_stats\"}"
        ),
        Some(86400.0)
    );

    // Probes: ok; an unknown entity comes back NOT_FOUND; an unknown feature is a 500.
    let probes = |target: &str, result: &str| {
        sample(
            &text,
            &format!("mlsteward_probes_total{{asset=\"driver_hourly_stats\",target=\"{target}\",result=\"{result}\"}}"),
        )
    };
    // `stats` follows the 500 on the kept connection, which Feast may reset: it is sent again
    // on a new one, never counted as `connect`.
    assert_eq!(probes("stats", "ok"), Some(1.0), "{text}");
    assert_eq!(probes("stats", "connect"), Some(0.0));
    assert_eq!(probes("unknown-driver", "values_missing"), Some(1.0));
    assert_eq!(probes("unknown-feature", "http_5xx"), Some(1.0));
    // The values' age: the probe's time minus the oldest event time the server returns for
    // the same request, read here from the server directly.
    let direct = http_post_json(
        &feast.server.addr,
        "/get-online-features",
        &json!({"features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate"], "entities": {"driver_id": [1001, 1002]}}),
    )
    .unwrap();
    let direct: serde_json::Value = serde_json::from_slice(&direct.body).unwrap();
    let names = direct["metadata"]["feature_names"].as_array().unwrap();
    let oldest = names
        .iter()
        .zip(direct["results"].as_array().unwrap())
        .filter(|(n, _)| n.as_str() != Some("driver_id"))
        .flat_map(|(_, c)| c["event_timestamps"].as_array().unwrap().clone())
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
                .unwrap()
                .timestamp()
        })
        .min()
        .unwrap();
    let age = sample(
        &text,
        "mlsteward_probe_value_age_seconds{asset=\"driver_hourly_stats\",target=\"stats\"}",
    )
    .unwrap();
    let expected = (probed_at - oldest) as f64;
    assert!(
        (age - expected).abs() <= 5.0,
        "age {age}, expected about {expected}"
    );
    assert_eq!(
        sample(&text, "mlsteward_probe_duration_seconds_count{asset=\"driver_hourly_stats\",target=\"stats\"}"),
        Some(1.0)
    );
    // A feature service spanning views: each view's oldest value has its own age, and the
    // probe's is the oldest of them. The view the `stats` probe reads has the same age there.
    let service = |family: &str, more: &str| {
        sample(
            &text,
            &format!("{family}{{asset=\"driver_activity_v1\",target=\"service\"{more}}}"),
        )
    };
    assert_eq!(
        service("mlsteward_probes_total", ",result=\"ok\""),
        Some(1.0),
        "{text}"
    );
    let per_view: Vec<(String, f64)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(
                "mlsteward_probe_feature_view_value_age_seconds{asset=\"driver_activity_v1\",target=\"service\",feature_view=\"",
            )?;
            let (view, value) = rest.split_once("\"} ")?;
            Some((view.to_string(), value.parse().ok()?))
        })
        .collect();
    assert!(
        per_view.iter().any(|(v, _)| v == "driver_hourly_stats"),
        "{per_view:?}\n{text}"
    );
    let oldest = per_view.iter().map(|(_, a)| *a).fold(f64::MIN, f64::max);
    assert_eq!(
        service("mlsteward_probe_value_age_seconds", ""),
        Some(oldest)
    );
    let stats_view = per_view
        .iter()
        .find(|(v, _)| v == "driver_hourly_stats")
        .unwrap()
        .1;
    assert!(
        (stats_view - age).abs() <= 5.0,
        "{stats_view} against {age}"
    );

    // Two replicas (`--shard K/2`, fresh stores): each stores only the feature views and
    // services it owns and runs only its own assets' probes, so together they store one
    // process's rows, run each probe once, and export one process's series.
    let replica = |store: &str, shard: &str| -> (String, i64, i64) {
        let storage = dir.path().join(store);
        let (ok, text) = collect_once_with(&config, &storage, &["--shard", shard]);
        assert!(ok, "{text}");
        let store = mlsteward::store::Store::open(&storage).unwrap();
        let rows = |table| mlsteward::store::count_rows(&store, table).unwrap();
        (text, rows("registry_assets"), rows("probe_samples"))
    };
    // Series by name and labels (probe latencies differ from run to run).
    let series = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#') && l.contains("asset=\""))
            .filter_map(|l| Some(l.rsplit_once(' ')?.0.to_string()))
            .collect()
    };
    let whole_store = mlsteward::store::Store::open(&storage).unwrap();
    let whole_assets = mlsteward::store::count_rows(&whole_store, "registry_assets").unwrap();
    drop(whole_store);
    let shards = [replica("shard0.db", "0/2"), replica("shard1.db", "1/2")];
    assert_eq!(shards[0].1 + shards[1].1, whole_assets);
    assert!(
        shards.iter().all(|s| s.1 < whole_assets),
        "each stores a part"
    );
    assert_eq!(
        shards[0].2 + shards[1].2,
        4,
        "each probe runs on one replica"
    );
    let mut expected = series(&text);
    expected.sort();
    let mut union: Vec<String> = shards.iter().flat_map(|s| series(&s.0)).collect();
    union.sort();
    assert_eq!(union, expected);

    // The feature server goes down: connect, and the registry figures stay.
    drop(feast.server);
    let (_, down) = collect_once(&config, &storage);
    assert_eq!(
        sample(&down, "mlsteward_probes_total{asset=\"driver_hourly_stats\",target=\"stats\",result=\"connect\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &down,
            "mlsteward_asset_features{asset=\"driver_hourly_stats\"}"
        ),
        Some(6.0)
    );
}

/// The Hugging Face Hub cannot run here: a fake built from its documented shapes, two pages
/// joined by a `Link` header.
#[test]
fn hugging_face_models_usage_and_cards_from_a_fake_hub() {
    use std::sync::Arc;

    use crate::fake_forge::{FakeServer, Request, Response};
    let base: Arc<std::sync::Mutex<String>> = Arc::default();
    let b = base.clone();
    let hub = FakeServer::start(Arc::new(move |r: &Request| {
        if r.path != "/api/models" || r.query.get("author").map(String::as_str) != Some("acme") {
            return Response::json(404, &json!({"error": "not found"}));
        }
        if !r.query.contains_key("cursor") {
            let mut page = Response::json(
                200,
                &json!([{"_id": "1", "id": "acme/churn", "likes": 3, "downloads": 120,
                         "lastModified": "2026-11-01T10:00:00.000Z", "tags": ["license:apache-2.0"],
                         "siblings": [{"rfilename": "README.md"}]}]),
            );
            let next = format!("<{}/api/models?author=acme&limit=100&full=true&cardData=true&cursor=p2>; rel=\"next\"", b.lock().unwrap());
            page.headers.push(("link".into(), next));
            page
        } else {
            Response::json(
                200,
                &json!([{"_id": "2", "id": "acme/raw", "likes": 0, "downloads": 0, "siblings": []}]),
            )
        }
    }));
    *base.lock().unwrap() = hub.url();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: hf\n    type: huggingface\n    api_url: {}\n    author: acme\ncatalog:\n  - {{id: acme/churn, kind: model, lifecycle: production, update_cadence: 1d}}\n  - {{id: acme/raw, kind: model, lifecycle: production, update_cadence: 1d}}\n",
            hub.url()
        ),
    )
    .unwrap();
    let (ok, text) = collect_once(&config, &dir.path().join("s.db"));
    assert!(ok, "{text}");
    assert_eq!(
        sample(&text, "mlsteward_asset_downloads_30d{asset=\"acme/churn\"}"),
        Some(120.0)
    );
    assert_eq!(
        sample(&text, "mlsteward_model_likes{asset=\"acme/churn\"}"),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_model_check{asset=\"acme/churn\",check=\"has_license\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_model_check{asset=\"acme/raw\",check=\"has_model_card\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_info{asset=\"acme/raw\",kind=\"model\",owner=\"\",lifecycle=\"production\"}"
        ),
        Some(1.0)
    );
    // Both unchanged for longer than twice a day: churn is downloaded, raw is not.
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_deprecation_candidate{asset=\"acme/churn\"}"
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_deprecation_candidate{asset=\"acme/raw\"}"
        ),
        Some(1.0)
    );
}
