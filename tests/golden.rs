//! The whole `/metrics` exposition for a fixed store, compared with `tests/golden/exposition.prom`
//! and linted by `promtool check metrics`. Regenerate with `UPDATE_GOLDEN=1`.

use std::io::Write;
use std::process::{Command, Stdio};

use mlsteward::app::App;
use mlsteward::facts::{
    Collection, CommitFact, CommitOutcome, Credit, FactSet, GitHistory, OwnershipSnapshot, Person,
    Signer,
};
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

fn fixed_app(dir: &std::path::Path) -> App {
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
    App::with_sources(cfg, store, vec![]).unwrap()
}

#[test]
fn exposition_matches_golden_file_and_passes_promtool() {
    let dir = tempfile::tempdir().unwrap();
    // The one wall-clock value, when the app loaded its configuration, is pinned.
    let text: String = fixed_app(dir.path())
        .render_text_at(NOW)
        .lines()
        .map(
            |l| match l.strip_prefix("mlsteward_config_last_reload_success_timestamp_seconds ") {
                Some(_) => "mlsteward_config_last_reload_success_timestamp_seconds 1700000000\n"
                    .to_string(),
                None => format!("{l}\n"),
            },
        )
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

/// Every metric the code defines is documented in the README's metrics reference, and the
/// reference documents no metric the code does not define.
#[test]
fn readme_documents_exactly_the_metrics_the_code_defines() {
    let mut defined = std::collections::BTreeSet::new();
    let mut files = vec![repo_root().join("src")];
    let mut sources = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if path.extension().is_some_and(|e| e == "rs") {
            sources.push(path);
        }
    }
    for file in sources {
        let text = std::fs::read_to_string(&file).unwrap();
        for piece in text.split("Family::new(").skip(1) {
            // A name given through a variable comes from a table (below).
            let Some(name) = piece
                .trim_start()
                .strip_prefix('"')
                .and_then(|r| r.split('"').next())
            else {
                continue;
            };
            if name.starts_with("mlsteward_") {
                defined.insert(name.to_string());
            }
        }
    }
    for (_, family, _) in mlsteward::derive::registry::NUMBERS {
        defined.insert(family.to_string());
    }
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let documented: std::collections::BTreeSet<String> = readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `mlsteward_"))
        .map(|rest| format!("mlsteward_{}", rest.split('`').next().unwrap()))
        .collect();
    assert!(defined.len() >= 18, "{defined:?}");
    assert_eq!(defined, documented);
}

/// The bounded error kinds are one list: the errors metric's HELP and the README's table are
/// generated from it (`UPDATE_GOLDEN=1` rewrites the README's table between its markers).
#[test]
fn every_error_kind_is_documented() {
    use mlsteward::collector::ErrorKind;
    for kind in ErrorKind::ALL {
        assert!(ErrorKind::help().contains(kind.as_str()));
    }
    let path = repo_root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- error-kinds:start -->\n", "<!-- error-kinds:end -->");
    let a = readme
        .find(start)
        .expect("README has an error-kinds:start marker")
        + start.len();
    let b = readme
        .find(end)
        .expect("README has an error-kinds:end marker");
    let table = ErrorKind::markdown_table();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, format!("{}{table}{}", &readme[..a], &readme[b..])).unwrap();
        return;
    }
    assert_eq!(
        &readme[a..b],
        table,
        "the README's error kinds differ from ErrorKind (UPDATE_GOLDEN=1 regenerates them)"
    );
}
