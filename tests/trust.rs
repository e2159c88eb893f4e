//! The recognition rules of the trust issue, each on a hand-built history whose answers are
//! spelled out here: squash merges with branch-local reverts, multi-target reverts, revert
//! chains, stray revert lines, empty and whitespace-only commits, one person with three emails,
//! a GitHub noreply address, the report and the identity review.

use std::path::{Path, PathBuf};

use crate::git_source::collect_once;
use crate::support::*;

const ALICE: &str = "Alice Ng <alice@example.com>";
const BOB: &str = "Bob Ray <bob@example.com>";
const CAROL: &str = "Carol Diaz <carol@example.com>";

fn config(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("mlsteward.yaml");
    std::fs::write(
        &path,
        format!(
            "{extra}sources:\n  - name: r\n    type: git\n    path: repo\ncatalog:\n  - id: lib\n    kind: library\n    repository: r\n    paths: [\"lib/**\"]\n  - id: ghost\n    kind: dataset\n    repository: r\n    paths: [\"nowhere/**\"]\n"
        ),
    )
    .unwrap();
    path
}

fn credited(text: &str, asset: &str, who: &str) -> Option<f64> {
    sample(
        text,
        &format!("mlsteward_credited_commits_total{{asset=\"{asset}\",contributor=\"{who}\"}}"),
    )
}

fn outcome(text: &str, outcome: &str) -> f64 {
    sample(
        text,
        &format!("mlsteward_git_commits{{source=\"r\",outcome=\"{outcome}\"}}"),
    )
    .unwrap_or_else(|| panic!("no outcome {outcome}\n{text}"))
}

#[test]
fn squash_merges_multi_target_reverts_and_revert_chains() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(&dir.path().join("repo"));
    let t0 = now() - 40 * DAY;
    let day = |n: i64| t0 + n * DAY;
    repo.commit(ALICE, day(0), &[("lib/base.py", "base = 1\n")], "Base");

    // A feature branch adds a file, reverts that commit on the branch, then adds another; the
    // squash merge's message concatenates all three messages, `This reverts commit` included.
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let local = repo.commit(BOB, day(1), &[("lib/tmp.py", "tmp = 1\n")], "Try tmp");
    repo.git_as(
        &["revert", "--no-edit", &local],
        "Bob Ray",
        "bob@example.com",
        day(2),
    );
    repo.commit(
        BOB,
        day(3),
        &[("lib/feature.py", "feature = 1\n")],
        "Add feature",
    );
    repo.git(&["checkout", "-q", "main"]);
    repo.git_as(
        &["merge", "-q", "--squash", "feature"],
        "Bob Ray",
        "bob@example.com",
        day(4),
    );
    let squash_message = format!(
        "Feature (#1)\n\n* Try tmp\n\n* Revert \"Try tmp\"\n\nThis reverts commit {local}.\n\n* Add feature\n"
    );
    repo.git_as(
        &["commit", "-q", "-m", &squash_message],
        "Bob Ray",
        "bob@example.com",
        day(4),
    );
    repo.git(&["branch", "-q", "-D", "feature"]);

    // A stray line naming an ancestor that changed other paths cancels nobody.
    let base = repo.git(&["rev-parse", "HEAD~1"]).trim().to_string();
    repo.commit(
        CAROL,
        day(5),
        &[("lib/other.py", "other = 1\n")],
        &format!("Other\n\nThis reverts commit {}.\n", &base[..10]),
    );

    // Three commits by three people, reverted by one squashed commit naming all three.
    let p1 = repo.commit(ALICE, day(6), &[("lib/p1.py", "p1 = 1\n")], "P1");
    let p2 = repo.commit(BOB, day(7), &[("lib/p2.py", "p2 = 1\n")], "P2");
    let p3 = repo.commit(CAROL, day(8), &[("lib/p3.py", "p3 = 1\n")], "P3");
    for f in ["lib/p1.py", "lib/p2.py", "lib/p3.py"] {
        std::fs::remove_file(repo.dir.join(f)).unwrap();
    }
    repo.commit(
        ALICE,
        day(9),
        &[],
        &format!("Revert three PRs (#7)\n\n* Revert P1\n\nThis reverts commit {p1}.\n\n* Revert P2\n\nThis reverts commit {p2}.\n\n* Revert P3\n\nThis reverts commit {}.\n", &p3[..8]),
    );

    // A ← B ← C: Carol's A stands again once C reverts B.
    let a = repo.commit(CAROL, day(10), &[("lib/chain.py", "chain = 1\n")], "Chain");
    repo.git_as(
        &["revert", "--no-edit", &a],
        "Bob Ray",
        "bob@example.com",
        day(11),
    );
    let b = repo.head();
    repo.git_as(
        &["revert", "--no-edit", &b],
        "Alice Ng",
        "alice@example.com",
        day(12),
    );

    // Empty, whitespace-only, an added blank file, and a mode change.
    repo.commit(BOB, day(13), &[], "Empty");
    repo.commit(BOB, day(14), &[("lib/base.py", "base  =  1\n\n")], "Spaces");
    repo.commit(CAROL, day(15), &[("lib/blank.py", "\n")], "Blank file");
    std::fs::set_permissions(
        repo.dir.join("lib/feature.py"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    repo.commit(ALICE, day(16), &[], "Executable");

    let cfg = config(dir.path(), "");
    let (ok, text) = collect_once(&cfg, &dir.path().join("db.sqlite"));
    assert!(ok, "{text}");

    // Alice: Base, Executable. Bob: the squash merge. Carol: Other, Chain, Blank file.
    // P1–P3 and their revert, B and C, Empty and Spaces earn nothing.
    assert_eq!(credited(&text, "lib", "Alice Ng"), Some(2.0), "{text}");
    assert_eq!(credited(&text, "lib", "Bob Ray"), Some(1.0));
    assert_eq!(credited(&text, "lib", "Carol Diaz"), Some(3.0));
    // The git program agrees on what was mined: 16 commits on main.
    let total: f64 = mlsteward::facts::COMMIT_OUTCOMES
        .iter()
        .map(|o| outcome(&text, o))
        .sum();
    let git_count: f64 = repo
        .git(&["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap();
    assert_eq!(total, git_count);
    assert_eq!(outcome(&text, "credited"), 6.0);
    assert_eq!(
        outcome(&text, "revert"),
        3.0,
        "the multi-target revert, B and C"
    );
    assert_eq!(outcome(&text, "reverted"), 3.0, "P1, P2, P3; not A");
    assert_eq!(outcome(&text, "empty"), 1.0);
    assert_eq!(outcome(&text, "whitespace_only"), 1.0);
    assert_eq!(outcome(&text, "merge"), 0.0);

    // A catalog asset whose globs match nothing says so.
    assert_eq!(
        sample(&text, "mlsteward_asset_files{asset=\"ghost\"}"),
        Some(0.0)
    );

    // The report names the same people with the same counts.
    let out = mlsteward(&[
        "report",
        "--format",
        "json",
        "--config.file",
        cfg.to_str().unwrap(),
        "--storage.path",
        dir.path().join("db.sqlite").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let people = json["people"].as_array().unwrap();
    let find = |name: &str| {
        people
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {json}"))
    };
    assert_eq!(people[0]["name"], "Carol Diaz");
    assert_eq!(find("Carol Diaz")["credited_commits"], 3);
    assert_eq!(find("Alice Ng")["credited_commits"], 2);
    assert_eq!(find("Bob Ray")["credited_commits"], 1);
    assert_eq!(
        find("Bob Ray")["emails"],
        serde_json::json!(["bob@example.com"])
    );
    assert_eq!(find("Alice Ng")["assets"]["lib"]["credited_commits"], 2);
    assert_eq!(find("Alice Ng")["contributions"]["code"], 2);
}

#[test]
fn one_person_with_three_emails_and_a_noreply_address() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(&dir.path().join("repo"));
    let t0 = now() - 20 * DAY;
    repo.commit(
        "Dana Smith <dana@corp.com>",
        t0,
        &[("lib/a.py", "a = 1\n")],
        "A",
    );
    repo.commit(
        "Dana Smith <DANA@corp.com>",
        t0 + DAY,
        &[("lib/b.py", "b = 1\n")],
        "B",
    );
    repo.commit(
        "dana  smith <dana@home.net>",
        t0 + 2 * DAY,
        &[("lib/c.py", "c = 1\n")],
        "C",
    );
    repo.commit(
        "Eli <4711+eli-k@users.noreply.github.com>",
        t0 + 3 * DAY,
        &[("lib/d.py", "d = 1\n")],
        "D",
    );
    repo.commit(
        "Dana Smith <dana@corp.com>",
        t0 + 4 * DAY,
        &[("lib/e.py", "e = 1\n")],
        "E\n\nReviewed-by: @eli-k\nCo-authored-by: Dana Smith <dana@home.net>\n",
    );
    let cfg = config(dir.path(), "");
    let storage = dir.path().join("db.sqlite");
    let (ok, text) = collect_once(&cfg, &storage);
    assert!(ok, "{text}");
    // Dana is one person with four credited commits (E once, although she signed it twice).
    assert_eq!(credited(&text, "lib", "Dana Smith"), Some(4.0), "{text}");
    assert_eq!(credited(&text, "lib", "dana  smith"), None);
    // Eli's noreply address and the handle @eli-k are one person, named as he signs.
    assert_eq!(credited(&text, "lib", "Eli"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "mlsteward_contributions_total{asset=\"lib\",contributor=\"Eli\",kind=\"review\"}"
        ),
        Some(1.0)
    );
    assert!(!text.contains("@eli-k"), "{text}");
    for window in ["30d", "90d"] {
        assert_eq!(
            sample(
                &text,
                &format!("mlsteward_asset_new_contributors{{asset=\"lib\",window=\"{window}\"}}")
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("mlsteward_new_contributors{{window=\"{window}\"}}")
            ),
            Some(2.0),
            "organisation-wide, each person once although they touched two assets"
        );
    }
    // Five commits, Dana (co-)authored four: she alone covers more than half.
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_contributor_absence_factor{asset=\"lib\"}"
        ),
        Some(1.0)
    );

    let out = mlsteward(&[
        "identities",
        "--config.file",
        cfg.to_str().unwrap(),
        "--storage.path",
        storage.to_str().unwrap(),
    ]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        listing.contains("by rule email (dana@corp.com)"),
        "{listing}"
    );
    assert!(listing.contains("by rule name (dana smith)"), "{listing}");
    assert!(
        listing.contains("by rule github_noreply (eli-k)"),
        "{listing}"
    );

    assert_eq!(
        sample(&text, "mlsteward_active_contributors{window=\"30d\"}"),
        Some(2.0)
    );

    // Each rule can be switched off: without them Dana is three identities and Eli two.
    let cfg = config(
        dir.path(),
        "recognition:\n  unify:\n    email: false\n    name: false\n    github_noreply: false\n",
    );
    let (_, text) = collect_once(&cfg, &dir.path().join("db2.sqlite"));
    assert_eq!(
        sample(&text, "mlsteward_active_contributors{window=\"30d\"}"),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_contributions_total{asset=\"lib\",contributor=\"@eli-k\",kind=\"review\"}"
        ),
        Some(1.0)
    );
}

#[test]
fn a_blobless_clone_is_mined_from_its_trees() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, config) = crate::git_source::build_fixture(dir.path(), "");
    repo.git(&["config", "uploadpack.allowFilter", "true"]);
    let url = format!("file://{}", repo.dir.display());
    let clone = dir.path().join("blobless");
    repo.git(&[
        "clone",
        "-q",
        "--filter=blob:none",
        &url,
        clone.to_str().unwrap(),
    ]);
    let (ok, full) = collect_once(&config, &dir.path().join("full.sqlite"));
    assert!(ok, "{full}");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("path: repo", "path: blobless")).unwrap();
    let (ok, partial) = collect_once(&config, &dir.path().join("partial.sqlite"));
    assert!(ok, "{partial}");

    // The checkout fetched only the tip's blobs. Four commits only modify files whose older
    // contents are absent (Improve, Reformat, Break and its revert): they are mined from their
    // trees, so Bob's whitespace-only Reformat cannot be told apart and is credited.
    let missing = "mlsteward_git_commits_without_blobs{source=\"fixture\"}";
    assert_eq!(sample(&full, missing), Some(0.0));
    assert_eq!(sample(&partial, missing), Some(4.0), "{partial}");
    let ws = "mlsteward_git_commits{source=\"fixture\",outcome=\"whitespace_only\"}";
    assert_eq!(sample(&full, ws), Some(1.0));
    assert_eq!(sample(&partial, ws), Some(0.0));
    let bob = "mlsteward_contributions_total{asset=\"churn-model\",contributor=\"Bob Stone\",kind=\"code\"}";
    assert_eq!(sample(&full, bob), None);
    assert_eq!(sample(&partial, bob), Some(1.0));
    // Everything else is as in the full clone: reverts, mailmap, CODEOWNERS, changelog mentions.
    for series in [
        "mlsteward_git_commits{source=\"fixture\",outcome=\"revert\"}",
        "mlsteward_git_commits{source=\"fixture\",outcome=\"reverted\"}",
        "mlsteward_contributions_total{asset=\"fixture\",contributor=\"Ann Lee\",kind=\"changelog_mention\"}",
        "mlsteward_asset_info{asset=\"fixture\",kind=\"repo\",owner=\"platform\",lifecycle=\"experimental\"}",
        "mlsteward_credited_commits_total{asset=\"fixture\",contributor=\"Ann Lee\"}",
    ] {
        assert_eq!(sample(&full, series), sample(&partial, series), "{series}");
        assert!(sample(&full, series).is_some(), "{series}");
    }
}

#[test]
fn the_report_filters_by_asset_and_time_and_writes_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init(&dir.path().join("repo"));
    repo.commit(
        ALICE,
        now() - 200 * DAY,
        &[("lib/old.py", "old = 1\n")],
        "Old",
    );
    repo.commit(
        BOB,
        now() - 5 * DAY,
        &[("docs/guide.md", "Guide\n")],
        "Docs outside lib",
    );
    repo.commit(
        CAROL,
        now() - 3 * DAY,
        &[("lib/new.py", "new = 1\n")],
        "New\n\nReviewed-by: Bob Ray <bob@example.com>\n",
    );
    let cfg = config(dir.path(), "");
    let storage = dir.path().join("db.sqlite");
    let (ok, _) = collect_once(&cfg, &storage);
    assert!(ok);
    let report = |args: &[&str]| {
        let mut all = vec![
            "report",
            "--config.file",
            cfg.to_str().unwrap(),
            "--storage.path",
            storage.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        let out = mlsteward(&all);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let json = |text: String| -> serde_json::Value { serde_json::from_str(&text).unwrap() };

    // Only `lib` and only the last 30 days: Carol's commit and Bob's review of it.
    let recent = json(report(&[
        "--format", "json", "--asset", "lib", "--since", "30d",
    ]));
    let names: Vec<&str> = recent["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Carol Diaz", "Bob Ray"]);
    assert_eq!(
        recent["people"][1]["contributions"],
        serde_json::json!({"review": 1})
    );
    assert_eq!(recent["people"][1]["credited_commits"], 0);
    // All time on `lib`: Alice's old commit too; Bob's docs are outside the asset.
    let lib = json(report(&["--format", "json", "--asset", "lib"]));
    assert_eq!(lib["people"].as_array().unwrap().len(), 3);
    let bob = lib["people"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Bob Ray")
        .unwrap();
    assert_eq!(bob["contributions"], serde_json::json!({"review": 1}));

    let markdown = report(&["--since", "30d"]);
    assert!(
        markdown.contains("| Carol Diaz | 1 | code 1 |"),
        "{markdown}"
    );
    assert!(markdown.contains("## Definitions"), "{markdown}");

    // The HTML page parses cleanly with a strict HTML5 parser (html5lib) and lists exactly the
    // people and counts of the JSON report, overall and per asset.
    let whole = json(report(&["--format", "json"]));
    let html = report(&["--format", "html"]);
    assert!(!html.contains("<script"), "no scripts");
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    let out = std::process::Command::new(pyenv_bin("python"))
        .arg("-c")
        .arg(HTML_TABLES)
        .arg(&page)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "html5lib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tables: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The JSON report in the same shape: [name, credited commits, {kind: count}].
    let people: Vec<serde_json::Value> = whole["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| serde_json::json!([p["name"], p["credited_commits"], p["contributions"]]))
        .collect();
    assert_eq!(tables["people"], serde_json::Value::Array(people));
    let mut per_asset = serde_json::Map::new();
    for p in whole["people"].as_array().unwrap() {
        for (asset, c) in p["assets"].as_object().unwrap() {
            per_asset
                .entry(asset.clone())
                .or_insert_with(|| serde_json::json!([]))
                .as_array_mut()
                .unwrap()
                .push(serde_json::json!([
                    p["name"],
                    c["credited_commits"],
                    c["contributions"]
                ]));
        }
    }
    assert_eq!(tables["assets"], serde_json::Value::Object(per_asset));

    let rc = json(report(&["--format", "all-contributors"]));
    let contributors = rc["contributors"].as_array().unwrap();
    let bob = contributors
        .iter()
        .find(|c| c["name"] == "Bob Ray")
        .unwrap();
    assert_eq!(bob["contributions"], serde_json::json!(["doc", "review"]));

    let out = mlsteward(&[
        "report",
        "--asset",
        "nowhere",
        "--config.file",
        cfg.to_str().unwrap(),
        "--storage.path",
        storage.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// A history with the authors, addresses and commit times of a real project's newest 600
/// commits (tests/fixtures/real-authors), each changing one file, built with `git
/// fast-import`; `extra` (name, email, time) commits come after.
fn real_authors_repo(dir: &Path, project: &str, extra: &[(&str, &str, i64)]) {
    let fixture = std::fs::read_to_string(
        repo_root().join(format!("tests/fixtures/real-authors/{project}.tsv")),
    )
    .unwrap();
    let mut authors: Vec<(String, String, i64)> = fixture
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
        })
        .collect();
    authors.reverse();
    authors.extend(
        extra
            .iter()
            .map(|(n, e, t)| (n.to_string(), e.to_string(), *t)),
    );
    let mut stream = String::new();
    for (i, (name, email, at)) in authors.iter().enumerate() {
        let body = format!("change {i}\n");
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{}\nauthor {name} <{email}> {at} +0000\ncommitter {name} <{email}> {at} +0000\ndata 7\nchange\n",
            i + 1
        ));
        if i > 0 {
            stream.push_str(&format!("from :{i}\n"));
        }
        stream.push_str(&format!(
            "M 100644 inline src/f{}.py\ndata {}\n{body}\n",
            i % 40,
            body.len()
        ));
    }
    std::fs::create_dir_all(dir).unwrap();
    let git = |args: &[&str], input: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = input {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        assert!(child.wait().unwrap().success(), "git {args:?}");
    };
    git(&["init", "-q", "-b", "main"], None);
    git(&["fast-import", "--quiet"], Some(&stream));
}

/// On the authors of two real projects' recent histories, `identities` points out the
/// projects' own automation (pytest's "pytest bot", feast's CI and code bots) and nobody else,
/// and the AI coding agents that sign commits are bots by default: they earn nothing and are
/// no new contributors.
#[test]
fn identities_points_out_automation_in_real_histories() {
    for (project, expected) in [
        ("pytest", &["pytest bot"][..]),
        (
            "feast",
            &["feast-ci-bot", "aipcc-bot", "Ambient Code Bot"][..],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let newest = now();
        real_authors_repo(
            &dir.path().join("repo"),
            project,
            &[
                ("AI Assistant", "noreply@cursor.com", newest - 300),
                ("Copilot", "copilot@github.com", newest - 200),
                ("pi", "noreply@pi.dev", newest - 100),
            ],
        );
        let cfg = config(dir.path(), "");
        let storage = dir.path().join("db.sqlite");
        let (ok, text) = collect_once(&cfg, &storage);
        assert!(ok, "{text}");
        // Counted from the fixture: GitHub Apps' commits (the `[bot]` names: dependabot,
        // pre-commit.ci, GitHub Actions) and Copilot's noreply address are bots', and so are
        // the three agents' commits added above.
        let fixture = std::fs::read_to_string(format!(
            "{}/tests/fixtures/real-authors/{project}.tsv",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let apps = fixture
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                let mut fields = l.split('\t');
                let name = fields.next().unwrap_or("");
                let email = fields.next().unwrap_or("");
                name.ends_with("[bot]") || email.ends_with("+Copilot@users.noreply.github.com")
            })
            .count();
        assert!(apps > 0, "{project}: the fixture has no GitHub App commits");
        assert_eq!(outcome(&text, "bot"), 3.0 + apps as f64, "{project}");
        let out = mlsteward(&[
            "identities",
            "--config.file",
            cfg.to_str().unwrap(),
            "--storage.path",
            storage.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        let report = String::from_utf8(out.stdout).unwrap();
        let listed: Vec<&str> = report
            .split("Likely automation")
            .nth(1)
            .unwrap_or_else(|| panic!("{project}: no automation listed:\n{report}"))
            .lines()
            .skip(1)
            .filter_map(|l| l.trim().split(" <").next())
            .filter(|l| !l.is_empty())
            .collect();
        let mut want = expected.to_vec();
        want.sort();
        let mut got = listed.clone();
        got.sort();
        assert_eq!(got, want, "{project}:\n{report}");
    }
}

/// Parses an HTML report strictly with html5lib (any parse error raises) and prints its
/// tables as JSON: "people" and, per asset, rows of [name, credited commits, {kind: count}]
/// (zero counts left out, as the JSON report leaves them out).
const HTML_TABLES: &str = r#"
import json, sys, html5lib
doc = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(open(sys.argv[1], encoding="utf-8").read())
def rows(table):
    kinds = [th.text for th in table.find("thead").iter("th")][2:]
    kinds = [k for k in kinds if k not in ("first", "last")]
    out = []
    for tr in table.find("tbody").iter("tr"):
        name = tr.find("th").text
        cells = [td.text for td in tr.iter("td")]
        counts = {k: int(v) for k, v in zip(kinds, cells[1:]) if int(v) != 0}
        out.append([name, int(cells[0]), counts])
    return out
tables = list(doc.iter("table"))
people = [t for t in tables if t.get("id") == "people"][0]
assets = {t.get("data-asset"): rows(t) for t in tables if t.get("class") == "asset"}
print(json.dumps({"people": rows(people), "assets": assets}))
"#;
