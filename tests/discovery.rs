//! Discovered git sources: a GitHub organisation and a GitLab group (fakes in the vendors'
//! documented shapes, paginated, with ETags) whose clone URLs are local repositories
//! (`file://`), mined as listed git sources are; include/exclude, archived and forks;
//! repositories added and removed between collections, mirrors removed, facts kept until the
//! retention; one failing repository among healthy ones.

use std::path::Path;
use std::time::Duration;

use crate::fake_forge::{FakeGithub, FakeGitlab, Listing};
use crate::support::*;

const DAY: i64 = 86_400;

/// A repository at `dir` with `n` commits by `who`, in the last days; returns its `file://`
/// URL.
fn repository(dir: &Path, who: &str, n: usize) -> String {
    let repo = Repo::init(dir);
    let t0 = now() - 20 * DAY;
    for i in 0..n {
        repo.commit(
            who,
            t0 + i as i64 * 3600,
            &[(&format!("src/f{i}.py"), &format!("x = {i}\n"))],
            &format!("change {i}"),
        );
    }
    format!("file://{}", dir.display())
}

/// Commits mined from `repo`, every outcome.
fn commits(metrics: &str, repo: &str) -> f64 {
    family_lines(metrics, "mlsteward_git_commits")
        .iter()
        .filter(|l| l.contains(&format!("source=\"{repo}\"")))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

fn value(metrics: &str, series: &str) -> Option<f64> {
    sample(metrics, series)
}

fn mirrors(storage: &Path) -> Vec<String> {
    let dir = storage.parent().unwrap().join("git");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn listing(url: &str, archived: bool, fork: bool) -> Listing {
    Listing {
        clone_url: url.to_string(),
        archived,
        fork,
    }
}

#[test]
fn a_github_organisation_is_discovered_mined_and_followed_as_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::start(Some("tok"), 2);
    let url =
        |name: &str, who: &str, n: usize| repository(&dir.path().join("up").join(name), who, n);
    let a = url("a", "Ann Lee <ann@example.com>", 3);
    let b = url("b", "Bob Roy <bob@example.com>", 2);
    let c = url("c", "Cy Fu <cy@example.com>", 2);
    let d = url("d", "Dee Oh <dee@example.com>", 4);
    let skip = url("skip-me", "Sam Oz <sam@example.com>", 1);
    gh.with(|s| {
        for (name, clone, archived, fork) in [
            ("acme/a", &a, false, false),
            ("acme/b", &b, true, false),
            ("acme/c", &c, false, true),
            ("acme/d", &d, false, false),
            ("acme/skip-me", &skip, false, false),
            (
                "acme/broken",
                &"file:///nonexistent/broken".to_string(),
                false,
                false,
            ),
        ] {
            s.repos.insert(name.into(), ("main".into(), Vec::new()));
            s.listing
                .insert(name.into(), listing(clone, archived, fork));
        }
        // Another organisation's repository is never listed.
        s.repos
            .insert("other/x".into(), ("main".into(), Vec::new()));
    });
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: org\n    type: git_discovery\n    github: acme\n    api_url: {}\n    token: tok\n    exclude: [\"acme/skip-*\"]\n    schedule: 1s\n    repository_schedule: 1s\n    concurrency: 2\n    retention: 4s\n\
             catalog:\n  - id: a-lib\n    kind: library\n    owner: ml-team\n    repository: acme/a\n    paths: [\"src/**\"]\n",
            gh.url()
        ),
    )
    .unwrap();
    let storage = dir.path().join("data/db.sqlite");
    let daemon = Daemon::run(&config, &storage, &[]);
    let state = |m: &str, st: &str| {
        value(
            m,
            &format!("mlsteward_discovered_repositories{{source=\"org\",state=\"{st}\"}}"),
        )
    };
    let success = |m: &str, repo: &str| {
        value(
            m,
            &format!("mlsteward_collector_success{{collector=\"git\",source=\"{repo}\"}}"),
        )
    };
    let mut m = String::new();
    wait_until("a, d and broken collected", Duration::from_secs(60), || {
        m = daemon.metrics();
        success(&m, "acme/a") == Some(1.0)
            && success(&m, "acme/d") == Some(1.0)
            && success(&m, "acme/broken") == Some(0.0)
    });
    // Archived, fork, excluded and other organisations' repositories are left out.
    assert_eq!(state(&m, "active"), Some(3.0), "{m}");
    for left_out in ["acme/b", "acme/c", "acme/skip-me", "other/x"] {
        assert!(!m.contains(&format!("source=\"{left_out}\"")), "{left_out}");
    }
    // Mined as a listed source is: every commit, the catalog bound by repository, the
    // repository's own asset named after it.
    assert_eq!(commits(&m, "acme/a"), 3.0);
    assert_eq!(commits(&m, "acme/d"), 4.0);
    assert!(
        m.contains("mlsteward_asset_info{asset=\"a-lib\",kind=\"library\",owner=\"ml-team\""),
        "{m}"
    );
    assert!(
        m.contains("mlsteward_asset_info{asset=\"acme/d\",kind=\"repo\""),
        "{m}"
    );
    assert!(m.contains("asset=\"a-lib\",contributor=\"Ann Lee\""), "{m}");
    // The failing one fails alone, with its error kind.
    assert!(
        family_lines(&m, "mlsteward_collector_errors_total")
            .iter()
            .any(|l| l.contains("source=\"acme/broken\"") && !l.ends_with(" 0")),
        "{m}"
    );
    // A discovered repository's asset has its page, its path percent-encoded in the URL.
    let page = http_get(&daemon.addr, "/", &[]).unwrap().text();
    assert!(page.contains("href=\"assets/acme%2Fd\""), "{page}");
    let asset = http_get(&daemon.addr, "/assets/acme%2Fd", &[]).unwrap();
    assert_eq!(asset.status, 200);
    assert!(asset.text().contains("<h1>acme/d</h1>"));
    let before = mirrors(&storage);
    assert_eq!(before.len(), 3, "{before:?}");
    // The listing was paginated (page size 2) and is then asked for conditionally.
    let log = gh.log_since(0);
    assert!(
        log.iter()
            .any(|(p, _)| p.contains("/orgs/acme/repos") && p.contains("page=2")),
        "{log:?}"
    );
    wait_until("a 304 on the listing", Duration::from_secs(20), || {
        gh.log_since(0)
            .iter()
            .any(|(p, s)| p.contains("/orgs/acme/repos") && *s == 304)
    });

    // d disappears, e appears.
    let e = url("e", "Eve Ng <eve@example.com>", 2);
    gh.with(|s| {
        s.repos.remove("acme/d");
        s.repos.insert("acme/e".into(), ("main".into(), Vec::new()));
        s.listing.insert("acme/e".into(), listing(&e, false, false));
    });
    wait_until("e collected, d removed", Duration::from_secs(60), || {
        m = daemon.metrics();
        success(&m, "acme/e") == Some(1.0) && state(&m, "removed") == Some(1.0)
    });
    assert_eq!(commits(&m, "acme/e"), 2.0);
    // d is no longer collected (its collector series go with its source) and its mirror is
    // gone; the credits its commits earned stay until the retention passes.
    assert!(!m.contains("source=\"acme/d\""), "{m}");
    assert!(m.contains("contributor=\"Dee Oh\""), "{m}");
    wait_until("d's mirror removed", Duration::from_secs(10), || {
        mirrors(&storage).len() == 3
    });
    wait_until(
        "d forgotten after its retention",
        Duration::from_secs(30),
        || {
            m = daemon.metrics();
            state(&m, "forgotten") == Some(1.0) && !m.contains("contributor=\"Dee Oh\"")
        },
    );

    // Archiving a repository removes it too.
    gh.with(|s| s.listing.get_mut("acme/a").unwrap().archived = true);
    wait_until("a removed once archived", Duration::from_secs(30), || {
        m = daemon.metrics();
        state(&m, "active") == Some(2.0)
            && !m.contains("mlsteward_collector_success{collector=\"git\",source=\"acme/a\"}")
    });
    // The token reached the listing and never a log.
    assert!(!daemon.logs().contains("tok\""), "the token was logged");
}

#[test]
fn a_gitlab_group_with_subgroups_is_discovered_by_collect_once() {
    let dir = tempfile::tempdir().unwrap();
    let gl = FakeGitlab::start(Some("gltok"), 2);
    let url = |name: &str, n: usize| {
        repository(
            &dir.path().join("up").join(name),
            "Ann Lee <ann@example.com>",
            n,
        )
    };
    let (x, y, z, w) = (url("x", 1), url("y", 2), url("z", 3), url("w", 1));
    gl.with(|s| {
        for (path, clone, archived, fork) in [
            ("ml/x", &x, false, false),
            ("ml/sub/y", &y, false, false),
            ("ml/sub/z", &z, true, false),
            ("ml/w", &w, false, true),
            ("web/site", &w, false, false),
        ] {
            s.projects.insert(path.into(), ("main".into(), Vec::new()));
            s.listing
                .insert(path.into(), listing(clone, archived, fork));
        }
    });
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: group\n    type: git_discovery\n    gitlab: ml\n    api_url: {}\n    token: gltok\n    include: [\"ml/**\"]\n",
            gl.url()
        ),
    )
    .unwrap();
    let (ok, m) = crate::git_source::collect_once(&config, &dir.path().join("data/db.sqlite"));
    assert!(ok, "{m}");
    // Subgroups included; archived (asked for as `archived=false`) and forks left out.
    for (repo, n) in [("ml/x", 1.0), ("ml/sub/y", 2.0)] {
        assert_eq!(commits(&m, repo), n, "{repo}\n{m}");
    }
    for left_out in ["ml/sub/z", "ml/w", "web/site"] {
        assert!(
            !m.contains(&format!("source=\"{left_out}\"")),
            "{left_out}\n{m}"
        );
    }
    assert!(gl
        .log_since(0)
        .iter()
        .any(|(p, _)| p.contains("archived=false")));
    assert_eq!(
        sample(
            &m,
            "mlsteward_discovered_repositories{source=\"group\",state=\"active\"}"
        ),
        Some(2.0)
    );
    // Sharded replicas each mine the discovered repositories whose name they own: together
    // every one, none twice.
    let mut mined: Vec<String> = Vec::new();
    for k in 0..2 {
        let (ok, text) = crate::git_source::collect_once_with(
            &config,
            &dir.path().join(format!("shard{k}/db.sqlite")),
            &["--shard", &format!("{k}/2")],
        );
        assert!(ok, "{text}");
        let mut here = label_values(&text, "mlsteward_git_commits", "source");
        here.dedup();
        mined.extend(here);
    }
    mined.sort();
    assert_eq!(mined, vec!["ml/sub/y".to_string(), "ml/x".to_string()]);
}

/// A catalog entry may bind to a repository a discovery source can find, and only to one.
#[test]
fn the_catalog_binds_to_discoverable_repositories_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "sources:\n  - name: org\n    type: git_discovery\n    github: acme\n  - name: urls\n    type: git_discovery\n    urls: [\"https://git.example.com/ml/churn.git\"]\n\
         catalog:\n  - {id: a, kind: library, repository: acme/anything}\n  - {id: b, kind: library, repository: ml/churn}\n  - {id: c, kind: library, repository: other/x}\n",
    )
    .unwrap();
    let out = mlsteward(&["check-config", "--config.file", config.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("catalog[2].repository: no git source is named `other/x`"),
        "{err}"
    );
    assert!(
        !err.contains("catalog[0]") && !err.contains("catalog[1]"),
        "{err}"
    );
}

/// The token rides on discovered https clone URLs and never shows: not in the log, the metrics
/// or the pages, even when the fetch fails.
#[test]
fn the_token_on_discovered_https_clones_never_shows() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::start(Some("s3cret-tok"), 100);
    let port = free_port();
    gh.with(|s| {
        s.repos.insert("acme/x".into(), ("main".into(), Vec::new()));
        s.listing.insert(
            "acme/x".into(),
            listing(
                &format!("https://127.0.0.1:{port}/acme/x.git"),
                false,
                false,
            ),
        );
    });
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: org\n    type: git_discovery\n    github: acme\n    api_url: {}\n    token: s3cret-tok\n    schedule: 1h\n    repository_schedule: 1h\n",
            gh.url()
        ),
    )
    .unwrap();
    let daemon = Daemon::run(&config, &dir.path().join("data/db.sqlite"), &[]);
    wait_until("the clone failed", Duration::from_secs(30), || {
        sample(
            &daemon.metrics(),
            "mlsteward_collector_success{collector=\"git\",source=\"acme/x\"}",
        ) == Some(0.0)
    });
    let shown = [
        daemon.logs(),
        daemon.metrics(),
        http_get(&daemon.addr, "/", &[]).unwrap().text(),
    ];
    assert!(shown[2].contains("acme/x"), "{}", shown[2]);
    for text in shown {
        assert!(!text.contains("s3cret-tok"), "{text}");
    }
}

/// `concurrency: 1`: an organisation's repositories are collected one at a time (the
/// collections' intervals, from the log, never overlap), and every one is collected.
#[test]
fn concurrency_bounds_the_collections_running_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let gh = FakeGithub::start(None, 100);
    for k in 0..6 {
        let url = repository(
            &dir.path().join("up").join(format!("r{k}")),
            "Ann Lee <ann@example.com>",
            40,
        );
        gh.with(|s| {
            s.repos
                .insert(format!("acme/r{k}"), ("main".into(), Vec::new()));
            s.listing
                .insert(format!("acme/r{k}"), listing(&url, false, false));
        });
    }
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: org\n    type: git_discovery\n    github: acme\n    api_url: {}\n    schedule: 1h\n    repository_schedule: 1h\n    concurrency: 1\n",
            gh.url()
        ),
    )
    .unwrap();
    let daemon = Daemon::run(&config, &dir.path().join("data/db.sqlite"), &[]);
    let mut spans: Vec<(f64, f64)> = Vec::new();
    wait_until(
        "six repositories collected",
        Duration::from_secs(60),
        || {
            spans = daemon
                .logs()
                .lines()
                .filter(|l| l.contains("collection succeeded") && l.contains("collector=\"git\""))
                .map(|l| {
                    let end =
                        chrono::DateTime::parse_from_rfc3339(l.split_whitespace().next().unwrap())
                            .unwrap()
                            .timestamp_micros() as f64
                            / 1e6;
                    let took: f64 = l
                        .rsplit("duration_seconds=")
                        .next()
                        .unwrap()
                        .trim()
                        .parse()
                        .unwrap();
                    (end - took, end)
                })
                .collect();
            spans.len() == 6
        },
    );
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    for pair in spans.windows(2) {
        // A millisecond of slack for the log's own timing.
        assert!(
            pair[1].0 >= pair[0].1 - 0.001,
            "collections overlap: {spans:?}"
        );
    }
}
