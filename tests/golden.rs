//! The whole `/metrics` exposition for a fixed store, compared with `tests/golden/exposition.prom`
//! and linted by `promtool check metrics`. Regenerate with `UPDATE_GOLDEN=1`.

use std::io::Write;
use std::process::{Command, Stdio};

use mlsteward::facts::{
    Collection, CommitFact, CommitOutcome, Credit, FactSet, GitHistory, OwnershipSnapshot, Person,
    Signer,
};
use mlsteward::runner::Runner;
use mlsteward::store::Store;

use crate::support::*;

const NOW: i64 = 1_800_000_000;

fn credit(asset: &str, person: &str, kind: &str, authored: bool) -> Credit {
    Credit {
        asset: asset.into(),
        person: person.into(),
        kind: kind.into(),
        authored,
    }
}

fn fixed_app(dir: &std::path::Path) -> Runner {
    let yaml = "organisation: org\nsources:\n  - name: repo\n    type: git\n    path: .\ncatalog:\n  - id: churn-model\n    kind: model\n    owner: ml-team\n    stewards: [\"ann@x\"]\n    lifecycle: production\n    repository: repo\n    paths: [\"src/**\"]\n";
    let cfg = mlsteward::sources::parse_config(&dir.join("golden.yaml"), yaml, &|_| None).unwrap();
    let store = Store::open(&dir.join("golden.db")).unwrap();
    let commit =
        |sha: &str, days_ago: i64, outcome, credits: Vec<Credit>, reverts: Option<&str>| {
            CommitFact {
                sha: sha.into(),
                committed_at: NOW - days_ago * 86_400,
                outcome,
                assets: credits
                    .iter()
                    .map(|c| c.asset.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                signers: credits
                    .iter()
                    .filter(|c| c.authored)
                    .map(|c| c.person.clone())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .map(|person| Signer {
                        name: if person == "ann@x" {
                            "Ann \"Quoted\" Lee".into()
                        } else {
                            "Bob".into()
                        },
                        raw_email: person.clone(),
                        person,
                        via: String::new(),
                    })
                    .collect(),
                credits,
                reverts: reverts.into_iter().map(String::from).collect(),
                blobs_missing: false,
            }
        };
    store
        .apply(&Collection {
            source: "repo".into(),
            sets: vec![
                FactSet::GitHistory(GitHistory {
                    commits: vec![
                        commit(
                            "a1",
                            100,
                            CommitOutcome::Credited,
                            vec![
                                credit("repo", "ann@x", "code", true),
                                credit("churn-model", "ann@x", "code", true),
                                credit("repo", "ann@x", "docs", true),
                            ],
                            None,
                        ),
                        commit(
                            "a2",
                            10,
                            CommitOutcome::Credited,
                            vec![
                                credit("repo", "bob@x", "tests", true),
                                credit("repo", "ann@x", "review", false),
                            ],
                            None,
                        ),
                        commit(
                            "a3",
                            5,
                            CommitOutcome::Credited,
                            vec![
                                credit("repo", "bob@x", "code", true),
                                credit("churn-model", "bob@x", "code", true),
                            ],
                            None,
                        ),
                        commit("a4", 4, CommitOutcome::Credited, vec![], Some("a3")),
                        commit("a5", 3, CommitOutcome::Bot, vec![], None),
                        commit("a6", 2, CommitOutcome::Merge, vec![], None),
                    ],
                    people: vec![
                        Person {
                            key: "ann@x".into(),
                            name: "Ann \"Quoted\" Lee".into(),
                        },
                        Person {
                            key: "bob@x".into(),
                            name: "Bob".into(),
                        },
                    ],
                    ..GitHistory::default()
                }),
                FactSet::Ownership(OwnershipSnapshot {
                    asset_owners: vec![("churn-model".into(), vec!["org/ml-team".into()])],
                    default_owners: Some("org/platform".into()),
                    invalid_lines: vec![(3, "negated patterns".into())],
                    asset_files: vec![("churn-model".into(), 4), ("repo".into(), 9)],
                }),
            ],
            cursors: Default::default(),
        })
        .unwrap();
    Runner::with_sources(cfg, store, vec![]).unwrap()
}

#[test]
fn exposition_matches_golden_file_and_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    // The one wall-clock value, when the app loaded its configuration, is pinned.
    let (_, renderer) = fixed_app(dir.path()).renderer();
    let rendered = renderer.render_all(NOW as f64);
    // The snapshot states its own size and samples exactly.
    let stated = |name: &str| {
        rendered
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{name} in {rendered}"))
    };
    assert_eq!(stated("mlsteward_snapshot_bytes") as usize, rendered.len());
    assert_eq!(
        stated("mlsteward_snapshot_series") as usize,
        rendered.lines().filter(|l| !l.starts_with('#')).count()
    );
    // The wall-clock values (when the configuration was loaded, how long deriving took, and
    // the size that their digits change) are pinned.
    let pinned = [
        "mlsteward_config_last_reload_success_timestamp_seconds",
        "mlsteward_derive_duration_seconds",
        "mlsteward_render_duration_seconds",
        "mlsteward_snapshot_bytes",
    ];
    let text: String = rendered
        .lines()
        .map(|l| match pinned.iter().find(|p| l.starts_with(*p)) {
            Some(_) => match l.rsplit_once(' ') {
                Some((series, _)) => format!("{series} 1\n"),
                None => format!("{l}\n"),
            },
            None => format!("{l}\n"),
        })
        .collect();
    let golden = repo_root().join("tests/golden/exposition.prom");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    let expected = std::fs::read_to_string(&golden)
        .expect("tests/golden/exposition.prom (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(
        text, expected,
        "exposition changed; review and rerun with UPDATE_GOLDEN=1"
    );

    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package `prometheus`; scripts/test.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Replaces what lies between `<!-- NAME:start -->` and `<!-- NAME:end -->` in `path` with
/// `generated` when `UPDATE_GOLDEN` is set; otherwise asserts they are equal.
fn generated_section(path: &std::path::Path, name: &str, generated: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    let (start, end) = (
        format!("<!-- {name}:start -->\n"),
        format!("<!-- {name}:end -->"),
    );
    let a = text
        .find(&start)
        .unwrap_or_else(|| panic!("{} has a {name}:start marker", path.display()))
        + start.len();
    let b = text
        .find(&end)
        .unwrap_or_else(|| panic!("{} has a {name}:end marker", path.display()));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, format!("{}{generated}{}", &text[..a], &text[b..])).unwrap();
        return;
    }
    assert_eq!(
        &text[a..b],
        generated,
        "{}'s {name} section differs from the code (UPDATE_GOLDEN=1 regenerates it)",
        path.display()
    );
}

/// The metrics reference is generated from the catalog, so it documents exactly the families
/// the code can export, with the definition their HELP carries.
#[test]
fn the_metrics_reference_is_the_catalog() {
    generated_section(
        &repo_root().join("docs/metrics.md"),
        "metrics",
        &mlsteward::metrics::markdown_table(),
    );
    assert!(mlsteward::metrics::ALL.len() >= 90);
}

/// Every family in the golden exposition is in the catalog, with its type and definition.
#[test]
fn exposed_families_are_the_catalog_s() {
    let golden = std::fs::read_to_string(repo_root().join("tests/golden/exposition.prom")).unwrap();
    let mut seen = 0;
    for line in golden.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap();
            let spec = mlsteward::metrics::spec(name)
                .unwrap_or_else(|| panic!("{name} is exported but not in the catalog"));
            assert_eq!(help.replace("\\\\", "\\"), spec.help(), "{name}");
            seen += 1;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            let spec = mlsteward::metrics::spec(name).unwrap();
            assert_eq!(
                kind,
                format!("{:?}", spec.metric_type).to_lowercase(),
                "{name}"
            );
        }
    }
    assert!(seen >= 30, "{seen} families in the golden exposition");
}

/// The bounded error kinds are one list: the errors metric's HELP and the reference's table
/// are generated from it.
#[test]
fn every_error_kind_is_documented() {
    use mlsteward::collector::ErrorKind;
    for kind in ErrorKind::ALL {
        assert!(ErrorKind::help().contains(kind.as_str()));
    }
    generated_section(
        &repo_root().join("docs/metrics.md"),
        "error-kinds",
        &ErrorKind::markdown_table(),
    );
}

/// docs/dashboards.md lists exactly the alerts `deploy/prometheus/alerts.yml` holds.
#[test]
fn the_documented_alerts_are_the_shipped_ones() {
    let names = |text: &str, prefix: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.trim_start().strip_prefix(prefix))
            .map(|rest| {
                rest.trim_start_matches('`')
                    .split(|c: char| !c.is_ascii_alphanumeric())
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    let rules = std::fs::read_to_string(repo_root().join("deploy/prometheus/alerts.yml")).unwrap();
    let docs = std::fs::read_to_string(repo_root().join("docs/dashboards.md")).unwrap();
    let shipped = names(&rules, "- alert: ");
    assert!(shipped.len() >= 20, "{shipped:?}");
    assert_eq!(names(&docs, "- `Mlsteward").len(), shipped.len());
    let documented: std::collections::BTreeSet<String> = names(&docs, "- `Mlsteward")
        .into_iter()
        .map(|n| format!("Mlsteward{n}"))
        .collect();
    assert_eq!(documented, shipped);
}
