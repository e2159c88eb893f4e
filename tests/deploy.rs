//! The deployment files under `deploy/` and the Dockerfile, checked with the tools that can
//! run here: every path they copy or mount exists, hadolint passes the Dockerfile, promtool
//! passes the compose project's Prometheus config, and `systemd-analyze verify` passes the
//! unit. (Docker itself cannot pull images here.)

use std::process::Command;

use yaml_rust2::YamlLoader;

use crate::support::*;

#[test]
fn the_dockerfile_copies_what_exists_and_passes_hadolint() {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
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
            assert!(
                root.join(source).exists(),
                "Dockerfile copies {source}, which does not exist"
            );
            copied += 1;
        }
    }
    assert!(copied >= 4, "{copied}");
    let ignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == "target"),
        "the build context must leave out target/"
    );
    let out = Command::new(pyenv_bin("hadolint"))
        .arg(root.join("Dockerfile"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hadolint: {}{}",
        String::from_utf8_lossy(&out.stdout),
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
