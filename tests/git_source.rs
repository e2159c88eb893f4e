//! The git source against hand-built repositories whose answers are known, and against this
//! repository's own history compared with `git shortlog`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

pub const ANN_OLD: &str = "Ann <ann@old.example>";
pub const BOB: &str = "Bob <bob@example.com>";

/// Builds the fixture repository in `dir/repo` and its config in `dir/mlsteward.yaml`.
/// The known answers are spelled out in `hand_built_history_has_known_credits`.
pub fn build_fixture(dir: &Path, extra_config: &str) -> (Repo, std::path::PathBuf) {
    let t0 = now();
    let repo = Repo::init(&dir.join("repo"));
    repo.commit(
        ANN_OLD,
        t0 - 100 * DAY,
        &[
            ("src/model.py", "def train():\n    return 1\n"),
            ("README.md", "# Churn\n"),
            (".mailmap", "Ann Lee <ann@example.com> <ann@old.example>\n"),
            (
                ".github/CODEOWNERS",
                "* @org/platform\n/src/ @org/ml-team\n!secret @org/platform\n",
            ),
        ],
        "Initial model",
    );
    repo.commit(BOB, t0 - 20 * DAY, &[("tests/test_model.py", "def test_train():\n    assert train()\n")], "Add tests\n\nCovers train().\n\nReviewed-by: Ann Lee <ann@example.com>\nCo-authored-by: Cy Park <cy@example.com>\n");
    repo.commit(
        ANN_OLD,
        t0 - 19 * DAY,
        &[("src/model.py", "def train():\n    return 2\n")],
        "Improve model",
    );
    repo.commit(
        BOB,
        t0 - 18 * DAY,
        &[("src/model.py", "def train():\n\treturn 2\n\n")],
        "Reformat",
    );
    repo.commit(
        "dependabot[bot] <49699333+dependabot[bot]@users.noreply.github.com>",
        t0 - 17 * DAY,
        &[("requirements.txt", "numpy==2.0\n")],
        "Bump numpy",
    );
    let bad = repo.commit(
        BOB,
        t0 - 16 * DAY,
        &[("src/model.py", "def train():\n\treturn -1\n")],
        "Break model",
    );
    repo.git_as(
        &["revert", "--no-edit", &bad],
        "Ann Lee",
        "ann@example.com",
        t0 - 15 * DAY,
    );
    repo.commit(
        "Cy Park <cy@example.com>",
        t0 - 14 * DAY,
        &[(
            "CHANGELOG.md",
            "# Changelog\n\n- Faster training (thanks @bobh and Ann Lee)\n",
        )],
        "Changelog",
    );
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.commit(
        "Dee <dee@example.com>",
        t0 - 13 * DAY,
        &[("data/train.csv", "a,b\n1,2\n")],
        "Add data",
    );
    repo.git(&["checkout", "-q", "main"]);
    repo.git_as(
        &["merge", "-q", "--no-ff", "-m", "Merge feature", "feature"],
        "Ann Lee",
        "ann@example.com",
        t0 - 12 * DAY,
    );
    repo.commit(
        "Eve <eve@example.com>",
        t0 - 11 * DAY,
        &[("docs/guide.md", "Guide\n")],
        "Docs",
    );
    repo.commit(
        "Fay <fay@example.com>",
        t0 - 10 * DAY,
        &[("lib/util.py", "x = 1\n")],
        "Util\n\nReviewed-by: Fay <fay@example.com>\n",
    );

    std::fs::write(
        dir.join("people.yaml"),
        "people:\n  - name: Bob Stone\n    email: bob@example.com\n    aliases: [\"@bobh\"]\n",
    )
    .unwrap();
    let config = dir.join("mlsteward.yaml");
    std::fs::write(
        &config,
        format!(
            r#"organisation: org
recognition:
  identities_file: people.yaml
  opt_out: ["eve@example.com"]
sources:
  - name: fixture
    type: git
    path: repo
    schedule: 20s
{extra_config}
catalog:
  - id: churn-model
    kind: model
    owner: ml-team
    lifecycle: production
    repository: fixture
    paths: ["src/**"]
  - id: feature-store-views
    kind: feature_view
    lifecycle: production
    repository: fixture
    paths: ["features/**"]
"#
        ),
    )
    .unwrap();
    (repo, config)
}

pub fn collect_once(config: &Path, storage: &Path) -> (bool, String) {
    collect_once_with(config, storage, &[])
}

/// `collect-once` with more arguments (`--shard K/N`, …).
pub fn collect_once_with(config: &Path, storage: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec![
        "collect-once",
        "--config.file",
        config.to_str().unwrap(),
        "--storage.path",
        storage.to_str().unwrap(),
    ];
    args.extend(extra);
    let out = mlsteward(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.success(), String::from_utf8(out.stdout).unwrap())
}

fn contributions(text: &str, asset: &str) -> BTreeMap<(String, String), f64> {
    let prefix = format!("mlsteward_contributions_total{{asset=\"{asset}\",contributor=\"");
    family_lines(text, "mlsteward_contributions_total")
        .iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| {
            let (who, rest) = rest.split_once("\",kind=\"").unwrap();
            let (kind, value) = rest.split_once("\"} ").unwrap();
            ((who.to_string(), kind.to_string()), value.parse().unwrap())
        })
        .collect()
}

fn map(entries: &[(&str, &str, f64)]) -> BTreeMap<(String, String), f64> {
    entries
        .iter()
        .map(|(a, b, v)| ((a.to_string(), b.to_string()), *v))
        .collect()
}

#[test]
fn hand_built_history_has_known_credits() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(dir.path(), "");
    let (ok, text) = collect_once(&config, &dir.path().join("data/db.sqlite"));
    assert!(ok, "{text}");

    // Whole repository (implicit asset `fixture`). Bob's whitespace-only commit, the bot,
    // the reverted commit and its revert, the merge and the opted-out Eve earn nothing;
    // Fay's review of her own commit earns nothing.
    assert_eq!(
        contributions(&text, "fixture"),
        map(&[
            ("Ann Lee", "changelog_mention", 1.0),
            ("Ann Lee", "code", 2.0),
            ("Ann Lee", "config", 1.0),
            ("Ann Lee", "docs", 1.0),
            ("Ann Lee", "review", 1.0),
            ("Bob Stone", "changelog_mention", 1.0),
            ("Bob Stone", "tests", 1.0),
            ("Cy Park", "docs", 1.0),
            ("Cy Park", "tests", 1.0),
            ("Dee", "data", 1.0),
            ("Fay", "code", 1.0),
        ])
    );
    assert_eq!(
        contributions(&text, "churn-model"),
        map(&[("Ann Lee", "code", 2.0)])
    );
    for (who, n) in [
        ("Ann Lee", 2.0),
        ("Bob Stone", 1.0),
        ("Cy Park", 2.0),
        ("Dee", 1.0),
        ("Fay", 1.0),
    ] {
        assert_eq!(
            sample(
                &text,
                &format!(
                    "mlsteward_credited_commits_total{{asset=\"fixture\",contributor=\"{who}\"}}"
                )
            ),
            Some(n),
            "{who}"
        );
    }
    for (outcome, n) in [
        ("credited", 6.0),
        ("whitespace_only", 1.0),
        ("bot", 1.0),
        ("reverted", 1.0),
        ("revert", 1.0),
        ("merge", 1.0),
        ("opted_out", 1.0),
    ] {
        assert_eq!(
            sample(
                &text,
                &format!("mlsteward_git_commits{{source=\"fixture\",outcome=\"{outcome}\"}}")
            ),
            Some(n),
            "{outcome}"
        );
    }
    let s =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("missing {series}\n{text}"));
    assert_eq!(
        s("mlsteward_asset_active_contributors{asset=\"fixture\",window=\"30d\"}"),
        5.0
    );
    assert_eq!(
        s("mlsteward_asset_new_contributors{asset=\"fixture\",window=\"30d\"}"),
        4.0
    );
    // Five distinct credited commits in 90 days (Bob and Cy's co-authored one counts once);
    // Cy (co-)authored two, any one other person a third: more than half is 3 of 5.
    assert_eq!(
        s("mlsteward_asset_contributor_absence_factor{asset=\"fixture\"}"),
        2.0
    );
    assert_eq!(
        s("mlsteward_asset_active_contributors{asset=\"churn-model\",window=\"90d\"}"),
        1.0
    );
    assert_eq!(
        s("mlsteward_asset_new_contributors{asset=\"churn-model\",window=\"90d\"}"),
        0.0
    );
    assert_eq!(
        s("mlsteward_asset_contributor_absence_factor{asset=\"churn-model\"}"),
        1.0
    );
    assert_eq!(
        s("mlsteward_asset_contributor_absence_factor{asset=\"feature-store-views\"}"),
        0.0
    );
    assert_eq!(s("mlsteward_asset_info{asset=\"churn-model\",kind=\"model\",owner=\"ml-team\",lifecycle=\"production\"}"), 1.0);
    // The repository's owner is CODEOWNERS's default rule (`* @org/platform`), in the normal
    // form without the organisation's prefix; src/ having another team is no conflict.
    assert_eq!(s("mlsteward_asset_info{asset=\"fixture\",kind=\"repo\",owner=\"platform\",lifecycle=\"experimental\"}"), 1.0);
    assert_eq!(
        s("mlsteward_asset_ownership_conflict{asset=\"churn-model\"}"),
        0.0,
        "`ml-team` in the catalog and `@org/ml-team` in CODEOWNERS are one owner"
    );
    assert_eq!(
        s("mlsteward_asset_ownership_conflict{asset=\"fixture\"}"),
        0.0
    );
    assert_eq!(s("mlsteward_asset_owned{asset=\"fixture\"}"), 1.0);
    assert_eq!(s("mlsteward_asset_files{asset=\"churn-model\"}"), 1.0);
    assert_eq!(
        s("mlsteward_asset_files{asset=\"feature-store-views\"}"),
        0.0
    );
    assert_eq!(
        s("mlsteward_asset_owned{asset=\"feature-store-views\"}"),
        0.0
    );
    assert_eq!(
        s("mlsteward_git_codeowners_invalid_lines{source=\"fixture\"}"),
        1.0
    );
    let t0 = now() as f64;
    let last = s("mlsteward_asset_last_update_timestamp_seconds{asset=\"churn-model\"}");
    assert!(
        (last - (t0 - 15.0 * DAY as f64)).abs() < 120.0,
        "the revert is the newest change to src/"
    );
    assert!(
        !text.contains("\"Eve\"") && !text.contains("eve@"),
        "opted-out people never appear"
    );
    assert!(!text.contains("dependabot"), "bots never appear");
}

#[test]
fn restart_exposes_the_same_counters_and_mines_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    let (_, first) = collect_once(&config, &storage);
    let (_, second) = collect_once(&config, &storage);
    assert_same_families(&first, &second, FACT_FAMILIES);
}

#[test]
fn incremental_mining_and_rewritten_history_match_a_fresh_mining() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, config) = build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    collect_once(&config, &storage);

    let t0 = now();
    repo.commit(
        "Gus <gus@example.com>",
        t0 - 5 * DAY,
        &[("src/extra.py", "y = 2\n")],
        "Extra",
    );
    repo.commit(
        "Hal <hal@example.com>",
        t0 - 4 * DAY,
        &[("docs/more.md", "More\n")],
        "More docs",
    );
    let (_, incremental) = collect_once(&config, &storage);
    assert_eq!(sample(&incremental, "mlsteward_contributions_total{asset=\"churn-model\",contributor=\"Gus\",kind=\"code\"}"), Some(1.0));

    // Force push: drop Gus's and Hal's commits, land Ivy's instead.
    repo.git(&["reset", "-q", "--hard", "HEAD~2"]);
    repo.commit(
        "Ivy <ivy@example.com>",
        t0 - 3 * DAY,
        &[("eval/score.py", "s = 1\n")],
        "Eval",
    );
    let (_, rewritten) = collect_once(&config, &storage);
    assert!(
        !rewritten.contains("Gus") && !rewritten.contains("Hal"),
        "facts of unreachable commits are removed"
    );
    assert_eq!(sample(&rewritten, "mlsteward_contributions_total{asset=\"fixture\",contributor=\"Ivy\",kind=\"evaluation\"}"), Some(1.0));

    let (_, fresh) = collect_once(&config, &dir.path().join("fresh/db.sqlite"));
    assert_same_families(&rewritten, &fresh, FACT_FAMILIES);

    // A new .mailmap renames Dee and merges Fay's address into Dee's, for commits mined
    // before it landed too: the repository is mined again.
    let mailmap = "Ann Lee <ann@example.com> <ann@old.example>\nDee Dee <dee@example.com>\nDee Dee <dee@example.com> <fay@example.com>\n";
    repo.commit(
        "Ann Lee <ann@example.com>",
        t0 - 2 * DAY,
        &[(".mailmap", mailmap)],
        "Mailmap",
    );
    let (_, renamed) = collect_once(&config, &storage);
    assert_eq!(
        sample(&renamed, "mlsteward_contributions_total{asset=\"fixture\",contributor=\"Dee Dee\",kind=\"data\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample(&renamed, "mlsteward_contributions_total{asset=\"fixture\",contributor=\"Dee Dee\",kind=\"code\"}"),
        Some(1.0)
    );
    assert!(
        !renamed.contains("contributor=\"Dee\"") && !renamed.contains("Fay"),
        "no series keeps an old identity"
    );
    let (_, fresh) = collect_once(&config, &dir.path().join("fresh2/db.sqlite"));
    assert_same_families(&renamed, &fresh, FACT_FAMILIES);
    assert_same_families(
        &renamed,
        &fresh,
        &["mlsteward_asset_contributor_absence_factor"],
    );
}

#[test]
fn a_failing_repository_reports_failure_and_keeps_the_last_good_data() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    let (ok, good) = collect_once(&config, &storage);
    assert!(ok);
    std::fs::rename(dir.path().join("repo"), dir.path().join("gone")).unwrap();
    let (ok, after) = collect_once(&config, &storage);
    assert!(!ok, "collect-once exits 1 when a source fails");
    assert_eq!(
        sample(
            &after,
            "mlsteward_collector_success{collector=\"git\",source=\"fixture\"}"
        ),
        Some(0.0)
    );
    assert_eq!(sample(&after, "mlsteward_collector_errors_total{collector=\"git\",source=\"fixture\",error_kind=\"repository_failed\"}"), Some(1.0));
    assert_eq!(
        family_lines(&good, "mlsteward_contributions_total"),
        family_lines(&after, "mlsteward_contributions_total")
    );
    assert!(sample(
        &after,
        "mlsteward_collector_last_success_timestamp_seconds{collector=\"git\",source=\"fixture\"}"
    )
    .is_some());
}

#[test]
fn labels_can_be_pseudonyms_capped_or_absent() {
    let dir = tempfile::tempdir().unwrap();
    let (_repo, config) = build_fixture(dir.path(), "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "recognition:\n",
            "recognition:\n  contributor_label: pseudonym\n  pseudonym_salt: s3cret\n  top_n: 2\n",
        ),
    )
    .unwrap();
    let (_, out) = collect_once(&config, &dir.path().join("a/db.sqlite"));
    let lines = family_lines(&out, "mlsteward_credited_commits_total");
    let fixture: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("asset=\"fixture\""))
        .collect();
    // Ann (6 contributions) and Bob (2, ahead of Cy on the tie by key) keep their labels.
    assert_eq!(fixture.len(), 3, "{fixture:?}");
    assert!(
        fixture
            .iter()
            .any(|l| l.contains("contributor=\"__other__\"} 4")),
        "{fixture:?}"
    );
    assert!(
        fixture
            .iter()
            .filter(|l| l.contains("contributor=\"p-"))
            .count()
            == 2
    );
    assert!(!out.contains("Ann Lee"));

    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("contributor_label: pseudonym", "contributor_label: none"),
    )
    .unwrap();
    let (_, out) = collect_once(&config, &dir.path().join("b/db.sqlite"));
    assert!(!out.contains("contributor="));
    // Six distinct credited commits: the co-authored one is counted once, not once per author.
    assert_eq!(
        sample(&out, "mlsteward_credited_commits_total{asset=\"fixture\"}"),
        Some(6.0)
    );
}

/// Mirrors the fixture through `url` as source `name`: writes the config, collects once and
/// checks the mirror saw the fixture's 7 credited commits (no opt-out in this config: Eve's
/// commit counts too). Returns the config, the store and the exposition.
fn mirror_fixture(dir: &Path, name: &str, url: &str) -> (PathBuf, PathBuf, String) {
    let config = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &config,
        format!("sources:\n  - name: {name}\n    type: git\n    url: {url}\n"),
    )
    .unwrap();
    let storage = dir.join("data/db.sqlite");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    let credited = format!("mlsteward_git_commits{{source=\"{name}\",outcome=\"credited\"}}");
    assert_eq!(sample(&text, &credited), Some(7.0));
    (config, storage, text)
}

#[test]
fn a_remote_url_is_mirrored_into_storage_and_fetched_on_each_collection() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = build_fixture(dir.path(), "");
    let (config, storage, _) = mirror_fixture(
        dir.path(),
        "mirror",
        &format!("file://{}", repo.dir.display()),
    );
    assert!(dir
        .path()
        .join("data/git")
        .join(mlsteward::sources::git::mirror_name("mirror"))
        .join("HEAD")
        .exists());
    repo.commit(
        "Jo <jo@example.com>",
        now() - DAY,
        &[("src/new.py", "z = 3\n")],
        "New",
    );
    let (ok, second) = collect_once(&config, &storage);
    assert!(ok);
    assert_eq!(
        sample(
            &second,
            "mlsteward_contributions_total{asset=\"mirror\",contributor=\"Jo\",kind=\"code\"}"
        ),
        Some(1.0)
    );
}

/// The per-author commit counts of this repository's own history agree with
/// `git shortlog -sn --no-merges` (which applies `.mailmap`), bots excluded.
#[test]
fn this_repository_matches_git_shortlog() {
    let root = repo_root();
    let shortlog = Command::new("git")
        .args(["shortlog", "-sn", "--no-merges", "HEAD"])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        shortlog.status.success(),
        "{}",
        String::from_utf8_lossy(&shortlog.stderr)
    );
    let expected: BTreeMap<String, f64> = String::from_utf8(shortlog.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().split_once('\t'))
        .filter(|(_, name)| !name.ends_with("[bot]"))
        .map(|(n, name)| (name.to_string(), n.parse().unwrap()))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("self.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: self\n    type: git\n    path: {}\n",
            root.display()
        ),
    )
    .unwrap();
    let (ok, text) = collect_once(&config, &dir.path().join("db.sqlite"));
    assert!(ok);
    let excluded: f64 = ["whitespace_only", "revert", "reverted"]
        .iter()
        .filter_map(|o| {
            sample(
                &text,
                &format!("mlsteward_git_commits{{source=\"self\",outcome=\"{o}\"}}"),
            )
        })
        .sum();
    let got: BTreeMap<String, f64> = family_lines(&text, "mlsteward_credited_commits_total")
        .iter()
        .filter_map(|l| {
            l.strip_prefix("mlsteward_credited_commits_total{asset=\"self\",contributor=\"")
        })
        .map(|rest| {
            let (who, value) = rest.split_once("\"} ").unwrap();
            (who.to_string(), value.parse().unwrap())
        })
        .collect();
    if excluded == 0.0 {
        assert_eq!(got, expected);
    } else {
        assert_eq!(
            got.values().sum::<f64>() + excluded,
            expected.values().sum::<f64>()
        );
    }
}

#[test]
fn bare_repositories_named_branches_and_path_rule_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = build_fixture(dir.path(), "");
    let bare = dir.path().join("bare.git");
    repo.git(&[
        "clone",
        "-q",
        "--bare",
        repo.dir.to_str().unwrap(),
        bare.to_str().unwrap(),
    ]);
    let config = dir.path().join("overrides.yaml");
    std::fs::write(
        &config,
        r#"recognition:
  path_kinds:                     # organisation-wide: before the built-in rules
    - kind: evaluation
      paths: ["data/**"]
sources:
  - name: bare
    type: git
    path: bare.git
    branch: feature               # Dee's branch: no merge, no Eve, no Fay
    path_kinds:                   # this repository: before the organisation's rules
      - kind: notebooks
        paths: ["tests/**"]
catalog:
  - id: model
    kind: model
    repository: bare
    paths: ["src/**", "README.md"]
    path_kinds:                   # this asset: before everything else
      - kind: docs
        paths: ["src/**"]
"#,
    )
    .unwrap();
    let (ok, text) = collect_once(&config, &dir.path().join("data/db.sqlite"));
    assert!(ok, "{text}");
    let bare_asset = contributions(&text, "bare");
    assert_eq!(
        bare_asset.get(&("Dee".into(), "evaluation".into())),
        Some(&1.0)
    );
    assert_eq!(
        bare_asset.get(&("Bob".into(), "notebooks".into())),
        Some(&1.0)
    );
    assert_eq!(
        bare_asset.get(&("Cy Park".into(), "notebooks".into())),
        Some(&1.0)
    );
    assert_eq!(
        bare_asset.get(&("Ann Lee".into(), "code".into())),
        Some(&2.0),
        "outside the asset, src/ is still code"
    );
    assert_eq!(
        contributions(&text, "model"),
        map(&[("Ann Lee", "docs", 2.0)])
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_git_commits{source=\"bare\",outcome=\"merge\"}"
        ),
        Some(0.0),
        "every outcome is exported, zero included"
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_git_commits{source=\"bare\",outcome=\"credited\"}"
        ),
        Some(5.0)
    );
}

/// Smart HTTP through gix's pure-Rust transport (no `git` program involved); a remote that is
/// down fails as `request_failed` and keeps the mirror's last good data.
#[test]
fn a_remote_over_http_and_a_remote_that_goes_down() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, _) = build_fixture(dir.path(), "");
    let served = dir.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    repo.git(&[
        "clone",
        "-q",
        "--bare",
        repo.dir.to_str().unwrap(),
        served.join("r.git").to_str().unwrap(),
    ]);
    let port_file = dir.path().join("port");
    let mut server = Command::new("python3")
        .arg(repo_root().join("tests/fixtures/git_http_server.py"))
        .args([served.to_str().unwrap(), port_file.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(
        "the git HTTP server",
        std::time::Duration::from_secs(20),
        || port_file.exists(),
    );
    let port = std::fs::read_to_string(&port_file).unwrap();
    let (config, storage, text) =
        mirror_fixture(dir.path(), "web", &format!("http://127.0.0.1:{port}/r.git"));

    drop(server.stdin.take()); // the server exits
    server.wait().unwrap();
    let (ok, after) = collect_once(&config, &storage);
    assert!(!ok, "collect-once exits 1 when the remote is down");
    assert_eq!(sample(&after, "mlsteward_collector_errors_total{collector=\"git\",source=\"web\",error_kind=\"request_failed\"}"), Some(1.0));
    assert_same_families(&text, &after, FACT_FAMILIES);
}

/// A realistic Backstage catalog: a System, a model Component with stewards and dependencies,
/// a Resource, an API, a Group (not an asset), a second file in a subdirectory, and one broken
/// document; the config's catalog names one entity with another owner.
#[test]
fn backstage_catalog_files_become_assets_and_the_config_wins() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(&dir.path().join("repo"));
    repo.commit(
        "Ann Lee <ann@example.com>",
        now() - 5 * 86_400,
        &[
            (
                "catalog-info.yaml",
                r#"apiVersion: backstage.io/v1alpha1
kind: System
metadata:
  name: churn-platform
  description: Predicts churn.
spec:
  owner: group:default/ml-platform
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: churn-model
  annotations:
    mlsteward.io/stewards: ann@example.com
    github.com/project-slug: acme/churn
spec:
  type: ml-model
  lifecycle: production
  owner: group:default/ml-team
  system: churn-platform
  dependsOn: [resource:default/customer-features]
---
apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: customer-features
spec:
  type: feature-view
  owner: data-platform
  system: churn-platform
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: churn-api
spec:
  type: openapi
  lifecycle: beta
  owner: user:default/ann
  system: churn-platform
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: ml-team
spec:
  type: team
  children: []
"#,
            ),
            (
                "services/scorer/catalog-info.yml",
                "kind: Component\nmetadata:\n  name: churn-scorer\nspec:\n  type: service\n  lifecycle: deprecated\n  owner: ml-team\n---\nkind: Component\nspec:\n  type: service\n",
            ),
            ("src/model.py", "x = 1\n"),
        ],
        "Describe the churn platform in Backstage",
    );
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "sources:\n  - name: churn\n    type: git\n    path: repo\ncatalog:\n  - id: churn-model\n    kind: model\n    owner: risk-team\n    lifecycle: experimental\n    repository: churn\n    paths: [\"src/**\"]\n",
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    let info = |asset: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("mlsteward_asset_info{{asset=\"{asset}\",")))
            .unwrap_or_else(|| panic!("no asset_info for {asset}:\n{text}"))
            .to_string()
    };
    // The config wins: kind, owner and lifecycle are the catalog's, and the owners disagree.
    assert!(
        info("churn-model")
            .contains("kind=\"model\",owner=\"risk-team\",lifecycle=\"experimental\""),
        "{}",
        info("churn-model")
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_ownership_conflict{asset=\"churn-model\"}"
        ),
        Some(1.0)
    );
    // Entities the catalog does not name are assets of their own.
    assert!(
        info("churn-platform")
            .contains("kind=\"system\",owner=\"ml-platform\",lifecycle=\"experimental\""),
        "{}",
        info("churn-platform")
    );
    assert!(
        info("customer-features").contains("kind=\"feature_view\",owner=\"data-platform\""),
        "{}",
        info("customer-features")
    );
    assert!(
        info("churn-api").contains("kind=\"api\",owner=\"ann\",lifecycle=\"experimental\""),
        "{}",
        info("churn-api")
    );
    assert!(
        info("churn-scorer")
            .contains("kind=\"service\",owner=\"ml-team\",lifecycle=\"deprecated\""),
        "{}",
        info("churn-scorer")
    );
    assert!(
        !text.contains("asset=\"ml-team\""),
        "a Group is not an asset"
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_ownership_conflict{asset=\"customer-features\"}"
        ),
        Some(0.0)
    );
    // The catalog names no stewards for churn-model; Backstage's are not taken over it, but
    // its dependencies are edges.
    for (asset, on) in [
        ("churn-model", "churn-platform"),
        ("churn-model", "customer-features"),
        ("customer-features", "churn-platform"),
        ("churn-api", "churn-platform"),
    ] {
        assert_eq!(
            sample(
                &text,
                &format!(
                    "mlsteward_asset_dependency_info{{asset=\"{asset}\",depends_on=\"{on}\"}}"
                )
            ),
            Some(1.0),
            "{asset} → {on}"
        );
    }
    // Switched off, the entities go.
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("    path: repo\n", "    path: repo\n    backstage: false\n"),
    )
    .unwrap();
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok);
    assert!(!text.contains("asset=\"churn-platform\""), "{text}");
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_ownership_conflict{asset=\"churn-model\"}"
        ),
        Some(0.0)
    );
}

/// Nine git repositories `r0`..`r8` in `dir`: Ann, Bob and Cy commit to the first 1, 2 or 3
/// of them by turns, days before `t0`; `more(i, repo)` adds to each. Returns the `sources:`
/// entries.
fn nine_repositories(dir: &Path, t0: i64, mut more: impl FnMut(usize, &Repo)) -> String {
    let people = [
        "Ann Lee <ann@example.com>",
        "Bob Stone <bob@example.com>",
        "Cy Park <cy@example.com>",
    ];
    let mut sources = String::new();
    for i in 0..9 {
        let repo = Repo::init(&dir.join(format!("r{i}")));
        for (j, who) in people.iter().enumerate().take(1 + i % 3) {
            repo.commit(
                who,
                t0 - (10 + i * 3 + j) as i64 * 86_400,
                &[(&format!("src/m{j}.py"), &format!("x = {i}{j}\n"))],
                &format!("Work {i}.{j}"),
            );
        }
        more(i, &repo);
        sources.push_str(&format!("  - name: r{i}\n    type: git\n    path: r{i}\n"));
    }
    sources
}

/// Three replicas over nine repositories (git sources, and the same repositories on a GitHub
/// fake): each mines and reads only its own, and the union of their derived series is one
/// process's, each series once.
#[test]
fn three_shards_split_nine_repositories_and_their_union_is_one_process() {
    use crate::fake_forge::{Attempt, Build, FakeGithub, FakeJenkins, Run};
    let dir = tempfile::tempdir().unwrap();
    let t0 = now();
    // The same nine repositories as Jenkins jobs too.
    let jenkins = FakeJenkins::start(None);
    jenkins.with(|s| {
        let jobs: Vec<String> = (0..9)
            .map(|i| format!(r#"{{"_class": "hudson.model.FreeStyleProject", "name": "r{i}", "url": "URL/job/r{i}/"}}"#))
            .collect();
        s.tree = format!(r#"{{"_class": "hudson.model.Hudson", "jobs": [{}]}}"#, jobs.join(","));
        for i in 0..9 {
            s.builds.insert(
                format!("r{i}"),
                vec![Build { number: 1, result: Some("SUCCESS"), timestamp: t0 - 7200, duration: 600, millis: 0, tests: None }],
            );
        }
    });
    let gh = FakeGithub::start(None, 100);
    let sources = nine_repositories(dir.path(), t0, |i, _| {
        gh.with(|s| {
            s.repos.insert(
                format!("acme/r{i}"),
                (
                    "main".into(),
                    vec![Run {
                        id: i as u64 + 1,
                        workflow: "ci",
                        branch: "main",
                        sha: format!("{i:040x}"),
                        created: t0 - 7200,
                        attempts: vec![Attempt {
                            conclusion: Some(if i % 2 == 0 { "success" } else { "failure" }),
                            started: t0 - 7200,
                            updated: t0 - 3600,
                            jobs: vec![],
                        }],
                    }],
                ),
            );
        });
    });
    let repos: Vec<String> = (0..9).map(|i| format!("acme/r{i}")).collect();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n{sources}  - name: gh\n    type: github\n    api_url: {}\n    repositories: [{}]\n    pull_requests_and_issues: false\n  - name: jk\n    type: jenkins\n    url: {}\ncatalog:\n  - id: model-3\n    kind: model\n    owner: ml-team\n    repository: r3\n    paths: [\"src/m0.py\"]\n",
            gh.url(),
            repos.join(", "),
            jenkins.url()
        ),
    )
    .unwrap();
    let self_metric = |l: &str| {
        [
            "mlsteward_collector_",
            "mlsteward_store_healthy",
            "mlsteward_build_info",
            "mlsteward_config_",
            "mlsteward_upstream_",
            "mlsteward_shard_info",
            "mlsteward_webhook_",
            "mlsteward_deriv",
            "mlsteward_render",
            "mlsteward_snapshot_",
        ]
        .iter()
        .any(|p| l.starts_with(p))
    };
    let derived = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !self_metric(l))
            .map(String::from)
            .collect()
    };
    let run = |extra: &[&str], store: &str| -> String {
        let (ok, text) = collect_once_with(&config, &dir.path().join(store), extra);
        assert!(ok, "{text}");
        text
    };
    let whole = run(&[], "whole.db");
    let mut expected: Vec<String> = derived(&whole)
        .into_iter()
        .filter(|l| {
            !l.starts_with("mlsteward_active_contributors")
                && !l.starts_with("mlsteward_new_contributors")
        })
        .collect();
    expected.sort();
    let mut union = Vec::new();
    let mut mined = 0;
    let mut read_repos = 0;
    let mut read_jobs = 0;
    for k in 0..3 {
        let mark = gh.log_len();
        let jenkins_mark = jenkins.with(|s| s.log.len());
        let text = run(&["--shard", &format!("{k}/3")], &format!("shard{k}.db"));
        assert!(text.contains(&format!(
            "mlsteward_shard_info{{shard=\"{k}\",shards=\"3\"}} 1"
        )));
        assert!(
            !text.contains("mlsteward_active_contributors{"),
            "organisation-wide families are left out"
        );
        let git_sources = text
            .lines()
            .filter(|l| l.starts_with("mlsteward_collector_success{collector=\"git\""))
            .count();
        assert!(git_sources < 9, "shard {k} mines only its part");
        mined += git_sources;
        // The forge repositories this replica read: those of its git sources, no others.
        let log = gh.log_since(mark);
        let read: std::collections::BTreeSet<String> = log
            .iter()
            .filter_map(|(p, _)| {
                p.strip_prefix("/repos/acme/")?
                    .split(['/', '?'])
                    .next()
                    .map(String::from)
            })
            .collect();
        for r in &read {
            assert!(
                text.contains(&format!(
                    "mlsteward_collector_success{{collector=\"git\",source=\"{r}\"}} 1"
                )),
                "shard {k} read {r} but does not mine it"
            );
        }
        read_repos += read.len();
        // The same for the Jenkins jobs whose builds it read.
        let jobs: std::collections::BTreeSet<String> = jenkins.with(|s| {
            s.log[jenkins_mark..]
                .iter()
                .filter_map(|(p, _, _)| {
                    p.strip_prefix("/job/")?.split('/').next().map(String::from)
                })
                .collect()
        });
        for j in &jobs {
            assert!(
                text.contains(&format!(
                    "mlsteward_collector_success{{collector=\"git\",source=\"{j}\"}} 1"
                )),
                "shard {k} read job {j} but does not mine it"
            );
        }
        read_jobs += jobs.len();
        union.extend(derived(&text));
    }
    assert_eq!(mined, 9, "each git source is mined by exactly one replica");
    assert!(expected.len() > 100, "{} derived series", expected.len());
    assert!(expected
        .iter()
        .any(|l| l.starts_with("mlsteward_ci_runs_total{asset=\"r4\"")));
    assert!(expected
        .iter()
        .any(|l| l.starts_with("mlsteward_contributions_total{asset=\"model-3\"")));
    assert_eq!(
        read_repos, 9,
        "each forge repository is read by exactly one replica"
    );
    assert_eq!(
        read_jobs, 9,
        "each Jenkins job is read by exactly one replica"
    );
    assert!(
        expected
            .iter()
            .any(|l| l.starts_with("mlsteward_ci_runs_total{asset=\"r4\",pipeline=\"r4\"")),
        "Jenkins runs are in the comparison"
    );
    union.sort();
    let mut deduped = union.clone();
    deduped.dedup();
    assert_eq!(deduped.len(), union.len(), "a series exported twice");
    assert_eq!(union, expected);
}

/// Three replicas with `--shard.peers`: people who span shards are joined over every
/// replica's history (one id, one display name), shard 0 counts the organisation-wide
/// distinct people, and the union of the replicas' derived series is one process's, every
/// family included. A peer that stops answering is reported and its last summary stays.
#[test]
fn replicas_exchanging_people_summaries_export_exactly_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = now();
    let day = 86_400;
    // By the stable split (pinned in shard.rs): r4 and r8 are shard 0's, r0, r2, r3 and r7
    // shard 1's, r1, r5 and r6 shard 2's.
    let owner = |i: u64| {
        (0..3)
            .find(|k| {
                mlsteward::shard::Shard {
                    index: *k,
                    count: 3,
                }
                .owns(&format!("r{i}"))
            })
            .unwrap()
    };
    assert_eq!((owner(4), owner(0), owner(1)), (0, 1, 2));
    let sources = nine_repositories(dir.path(), t0, |i, repo| {
        // Dana: three old commits as "Dana Wu" on shard 0's r4; on shard 2's r1, under another
        // email, one recent commit as "Dana Wu" and two as "Dana Wu-Smith". One process joins
        // the two emails by name, calls her "Dana Wu" (4 uses against 2) and never counts her
        // as new; shard 2 alone would see a new "Dana Wu-Smith".
        let dana: &[(&str, i64)] = match i {
            4 => &[
                ("Dana Wu <dana@a.example>", 120),
                ("Dana Wu <dana@a.example>", 110),
                ("Dana Wu <dana@a.example>", 100),
            ],
            1 => &[
                ("Dana Wu <dana@b.example>", 20),
                ("Dana Wu-Smith <dana@b.example>", 15),
                ("Dana Wu-Smith <dana@b.example>", 5),
            ],
            _ => &[],
        };
        for (n, (who, ago)) in dana.iter().enumerate() {
            repo.commit(
                who,
                t0 - ago * day,
                &[(&format!("src/d{n}.py"), &format!("d = {n}\n"))],
                &format!("Dana's work {n}"),
            );
        }
    });
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, format!("sources:\n{sources}")).unwrap();
    let derived = |text: &str| -> Vec<String> {
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| {
                !l.starts_with('#')
                    && ![
                        "mlsteward_collector_",
                        "mlsteward_store_healthy",
                        "mlsteward_build_info",
                        "mlsteward_config_",
                        "mlsteward_shard_",
                        "mlsteward_webhook_",
                        "mlsteward_deriv",
                        "mlsteward_render",
                        "mlsteward_snapshot_",
                    ]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(String::from)
            .collect();
        lines.sort();
        lines
    };
    let (ok, whole) = collect_once_with(&config, &dir.path().join("whole.db"), &[]);
    assert!(ok, "{whole}");
    let expected = derived(&whole);
    for series in [
        "mlsteward_active_contributors{window=\"30d\"}",
        "mlsteward_new_contributors{window=\"90d\"}",
    ] {
        assert!(sample(&whole, series).is_some(), "{series}");
    }
    assert!(whole.contains("contributor=\"Dana Wu\""));
    assert!(!whole.contains("Dana Wu-Smith"));

    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let peers = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect::<Vec<_>>()
        .join(",");
    let start = |k: usize| {
        Daemon::run_at(
            &config,
            &format!("127.0.0.1:{}", ports[k]),
            &dir.path().join(format!("shard{k}.db")),
            &[
                "--shard",
                &format!("{k}/3"),
                "--shard.peers",
                &peers,
                "--shard.peer-interval",
                "1s",
            ],
        )
    };
    let mut replicas: Vec<Daemon> = (0..3).map(start).collect();
    for r in &mut replicas {
        r.wait_ready();
    }
    let union = |replicas: &[Daemon]| -> Vec<String> {
        let mut all: Vec<String> = replicas
            .iter()
            .flat_map(|r| derived(&r.metrics()))
            .collect();
        all.sort();
        all
    };
    let mut last = Vec::new();
    let converged = (0..600).any(|_| {
        last = union(&replicas);
        if last == expected {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        false
    });
    if !converged {
        let missing: Vec<&String> = expected.iter().filter(|l| !last.contains(l)).collect();
        let extra: Vec<&String> = last.iter().filter(|l| !expected.contains(l)).collect();
        panic!(
            "the replicas' union never equalled one process's\nmissing: {missing:#?}\nextra: {extra:#?}\n{}",
            replicas.iter().map(|r| r.logs()).collect::<Vec<_>>().join("\n")
        );
    }
    let shard0 = replicas[0].metrics();
    assert!(shard0.contains("mlsteward_active_contributors{"));
    for replica in &replicas[1..] {
        assert!(
            !replica.metrics().contains("mlsteward_active_contributors{"),
            "only shard 0 counts the organisation"
        );
    }
    for peer in ["1", "2"] {
        assert_eq!(
            sample(
                &shard0,
                &format!("mlsteward_shard_peer_up{{peer_shard=\"{peer}\"}}")
            ),
            Some(1.0)
        );
    }
    // The landing page says who counts people and whether the peers answer.
    let landing = http_get(&replicas[1].addr, "/", &[]).unwrap().text();
    assert!(
        landing.contains("people are counted by shard 0"),
        "{landing}"
    );
    assert!(
        landing.contains("Shard 1 of 3 (0-based): the assets below are this replica's; people are joined over every replica's history; 2 of 2 peers answer."),
        "{landing}"
    );
    // Each replica's overview has a row for each of its own assets and no other; together
    // they are the organisation's.
    let mut rows_everywhere = Vec::new();
    let mut serves_r1 = None;
    for (k, replica) in replicas.iter().enumerate() {
        let page = http_get(&replica.addr, "/", &[]).unwrap().text();
        let mut rows: Vec<String> = page
            .match_indices("<tr data-asset=\"")
            .map(|(i, _)| page[i + 16..].split('"').next().unwrap().to_string())
            .collect();
        rows.sort();
        let mut own: Vec<String> =
            label_values(&replica.metrics(), "mlsteward_asset_info", "asset");
        own.sort();
        assert_eq!(rows, own, "{page}");
        if rows.iter().any(|r| r == "r1") {
            serves_r1 = Some(k);
        }
        rows_everywhere.extend(rows);
    }
    rows_everywhere.sort();
    let mut all: Vec<String> = label_values(&whole, "mlsteward_asset_info", "asset");
    all.sort();
    assert_eq!(rows_everywhere, all);
    // Asset pages name people as the recognition API does, over every replica's history.
    let serves_r1 = &replicas[serves_r1.expect("a replica serves r1")];
    let page = |path: &str| http_get(&serves_r1.addr, path, &[]).unwrap().text();
    let r1 = (0..300)
        .map(|_| {
            let p = page("/assets/r1");
            std::thread::sleep(std::time::Duration::from_millis(100));
            p
        })
        .find(|p| !p.contains("board-pending"));
    let r1 = r1.expect("the asset page's contributors");
    assert!(
        r1.contains("<tr data-person=\"Dana Wu\"><td>Dana Wu</td><td data-credited=\"3\">"),
        "{r1}"
    );
    let landing = http_get(&replicas[0].addr, "/", &[]).unwrap().text();
    assert!(
        landing.contains("credited in the last 90 days"),
        "{landing}"
    );
    // The recognition API names people as /metrics does, over every replica's history.
    let recognition: serde_json::Value = serde_json::from_slice(
        &http_get(&replicas[2].addr, "/api/v1/recognition?asset=r1", &[])
            .unwrap()
            .body,
    )
    .unwrap();
    let dana = recognition["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Dana Wu")
        .unwrap_or_else(|| panic!("{recognition}"));
    assert_eq!(
        dana["emails"],
        serde_json::json!(["dana@a.example", "dana@b.example"])
    );
    assert_eq!(dana["credited_commits"], 3);
    // The summary answers a matching If-None-Match with 304.
    let answer = http_get(&replicas[1].addr, "/api/v1/shard/people", &[]).unwrap();
    assert_eq!(answer.status, 200);
    let summary = mlsteward::shard::PeopleSummary::from_json(&answer.body).unwrap();
    assert_eq!((summary.shard, summary.shards), (1, 3));
    assert!(
        summary.stored.contains_key("ann@example.com"),
        "{summary:?}"
    );
    assert!(
        !summary.stored.contains_key("dana@a.example"),
        "only its own history"
    );
    let etag = answer.header("etag").expect("an ETag").to_string();
    let again = http_get(
        &replicas[1].addr,
        "/api/v1/shard/people",
        &[("If-None-Match", &etag)],
    )
    .unwrap();
    assert_eq!(again.status, 304);

    // Shard 2 stops: shard 0 says so and keeps counting with its last summary.
    let active = sample(&shard0, "mlsteward_active_contributors{window=\"30d\"}");
    replicas.pop();
    wait_until(
        "shard 0 to see peer 2 down",
        std::time::Duration::from_secs(30),
        || {
            sample(
                &replicas[0].metrics(),
                "mlsteward_shard_peer_up{peer_shard=\"2\"}",
            ) == Some(0.0)
        },
    );
    let shard0 = replicas[0].metrics();
    assert_eq!(
        sample(&shard0, "mlsteward_active_contributors{window=\"30d\"}"),
        active
    );
    assert!(shard0.contains("contributor=\"Dana Wu\""));
}

/// A replica's people summary says it is ready once every source has finished a collection,
/// in this run or an earlier one its store remembers: a restarted replica does not make shard
/// 0 drop the organisation-wide counts while it collects again.
#[test]
fn a_restarted_replica_is_ready_at_once_when_its_store_remembers_its_collections() {
    let dir = tempfile::tempdir().unwrap();
    Repo::init(&dir.path().join("r1")).commit(
        "Ann Lee <ann@example.com>",
        now() - 86_400,
        &[("a.py", "a = 1\n")],
        "A",
    );
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "sources:\n  - name: r1\n    type: git\n    path: r1\n",
    )
    .unwrap();
    let shard = mlsteward::shard::Shard { index: 2, count: 3 };
    assert!(shard.owns("r1"));
    let summary = |storage: &str, remembered: bool| {
        let store = mlsteward::store::Store::open(&dir.path().join(storage)).unwrap();
        if remembered {
            store.record_success("r1", 1_700_000_000.0).unwrap();
        }
        let config = mlsteward::sources::load_config(&config).unwrap();
        let runner =
            mlsteward::runner::Runner::new(config, store, dir.path(), Some(shard)).unwrap();
        let (view, renderer) = runner.renderer();
        // Rendered before any collection of this run, as at start-up.
        renderer.render_all(mlsteward::now_seconds());
        let (json, _) = view.own_people().expect("a summary once derived");
        mlsteward::shard::PeopleSummary::from_json(json.as_bytes()).unwrap()
    };
    assert!(
        !summary("fresh.db", false).ready,
        "a first mine is not ready"
    );
    assert!(summary("restarted.db", true).ready);
}
