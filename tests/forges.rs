//! The forge sources against in-process fakes (GitHub here), through the real binary and a
//! real store: build-stability figures checked against values worked out by hand from the
//! scenario, steady-state cost (one conditional request per repository, none billable), runs
//! that finish and re-runs that come later, faults (bad token, 429 with Retry-After, broken
//! JSON, 5xx storms) that keep the last good values and count nothing twice, and restarts.

use std::path::Path;
use std::time::Duration;

use crate::fake_forge::*;
use crate::git_source::collect_once;
use crate::support::*;

pub(crate) const HOUR: i64 = 3600;

fn attempt(conclusion: Option<&'static str>, completed: i64) -> Attempt {
    Attempt {
        conclusion,
        started: completed - 600,
        updated: completed,
        jobs: Vec::new(),
    }
}

fn run(id: u64, workflow: &'static str, branch: &'static str, attempts: Vec<Attempt>) -> Run {
    Run {
        id,
        workflow,
        branch,
        sha: format!("{id:040x}"),
        created: attempts[0].started - 30,
        attempts,
    }
}

/// The scenario of `ci` on `main` of acme/feature-store, relative to `now` (hours ago):
/// r1 success −200; r2 failure −100, re-run success −99 (flaky); r3 failure −50; r4 cancelled
/// −40; r5 timed_out −30; r6 success −20; r7 failure −10; r8 still running. Plus a failure on
/// a feature branch and a nightly success, which the default settings leave out and keep apart.
fn scenario(now: i64) -> Vec<Run> {
    let t = |h: i64| now - h * HOUR;
    vec![
        run(1, "ci", "main", vec![attempt(Some("success"), t(200))]),
        run(
            2,
            "ci",
            "main",
            vec![
                attempt(Some("failure"), t(100)),
                attempt(Some("success"), t(99)),
            ],
        ),
        run(3, "ci", "main", vec![attempt(Some("failure"), t(50))]),
        run(4, "ci", "main", vec![attempt(Some("cancelled"), t(40))]),
        run(5, "ci", "main", vec![attempt(Some("timed_out"), t(30))]),
        run(6, "ci", "main", vec![attempt(Some("success"), t(20))]),
        run(7, "ci", "main", vec![attempt(Some("failure"), t(10))]),
        run(8, "ci", "main", vec![attempt(None, t(1))]),
        run(9, "ci", "feature/x", vec![attempt(Some("failure"), t(5))]),
        run(10, "nightly", "main", vec![attempt(Some("success"), t(12))]),
    ]
}

fn github_config(dir: &Path, api: &str, extra: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("token"), "s3cret-token\n").unwrap();
    let config = dir.join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: gh\n    type: github\n    api_url: {api}\n    token_file: token\n    repositories: [acme/feature-store]\n    schedule: 1s\n{extra}catalog:\n  - id: feature-store\n    kind: feature_view\n    targets:\n      build_success: 0.9\n"
        ),
    )
    .unwrap();
    config
}

fn ci(text: &str, family: &str, labels: &str) -> Option<f64> {
    sample(text, &format!("{family}{{{labels}}}"))
}

const CI_MAIN: &str = "asset=\"feature-store\",pipeline=\"ci\",branch=\"main\"";

fn runs(text: &str, result: &str) -> f64 {
    ci(
        text,
        "mlsteward_ci_runs_total",
        &format!("{CI_MAIN},result=\"{result}\""),
    )
    .unwrap_or_else(|| panic!("no runs_total for {result}:\n{text}"))
}

#[test]
fn github_runs_give_build_stability_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let gh = FakeGithub::start(Some("s3cret-token"), 3);
    gh.with(|s| {
        s.repos
            .insert("acme/feature-store".into(), ("main".into(), scenario(now)));
    });
    let config = github_config(dir.path(), &gh.url(), "");
    let storage = dir.path().join("s.db");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    assert!(!text.contains("s3cret"), "the token leaked");

    // Attempts by result: r1, r2's second attempt, r6 succeeded; r2's first attempt, r3 and
    // r7 failed; r4 was cancelled; r5 timed out; r8 is not finished; r9 is on another branch.
    assert_eq!(runs(&text, "success"), 3.0);
    assert_eq!(runs(&text, "failure"), 3.0);
    assert_eq!(runs(&text, "timed_out"), 1.0);
    assert_eq!(runs(&text, "cancelled"), 1.0);
    assert_eq!(runs(&text, "skipped"), 0.0);
    assert!(!text.contains("branch=\"feature/x\""), "{text}");
    let nightly = "asset=\"feature-store\",pipeline=\"nightly\",branch=\"main\"";
    assert_eq!(
        ci(
            &text,
            "mlsteward_ci_runs_total",
            &format!("{nightly},result=\"success\"")
        ),
        Some(1.0)
    );

    // Ratios: 1d holds r6 (success) and r7 (failure); 7d adds r2 (failure, success), r3 and r5
    // (failure-like), r4 is neutral: 2 of 6; 28d adds r1: 3 of 7.
    let ratio = |w: &str| {
        ci(
            &text,
            "mlsteward_ci_success_ratio",
            &format!("{CI_MAIN},window=\"{w}\""),
        )
    };
    assert_eq!(ratio("1d"), Some(0.5));
    assert!((ratio("7d").unwrap() - 2.0 / 6.0).abs() < 1e-9);
    assert!((ratio("28d").unwrap() - 3.0 / 7.0).abs() < 1e-9);
    // The asset's figure covers both pipelines on the default branch: 28d 4 of 8.
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_build_success_ratio{asset=\"feature-store\",window=\"28d\"}"
        ),
        Some(0.5)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_build_success_target{asset=\"feature-store\"}"
        ),
        Some(0.9)
    );

    // One flaky run (r2). Streaks: r2's failure recovered an hour later by its re-run; r3
    // (−50 h) was recovered by r6 (−20 h); r7 (−10 h) is still failing.
    assert_eq!(
        ci(&text, "mlsteward_ci_flaky_runs_total", CI_MAIN),
        Some(1.0)
    );
    assert_eq!(
        ci(&text, "mlsteward_ci_recovery_seconds_count", CI_MAIN),
        Some(2.0)
    );
    assert_eq!(
        ci(&text, "mlsteward_ci_recovery_seconds_sum", CI_MAIN),
        Some((HOUR + 30 * HOUR) as f64)
    );
    assert_eq!(
        ci(
            &text,
            "mlsteward_ci_failing_since_timestamp_seconds",
            CI_MAIN
        ),
        Some((now - 10 * HOUR) as f64)
    );
    assert_eq!(
        ci(
            &text,
            "mlsteward_ci_last_success_timestamp_seconds",
            CI_MAIN
        ),
        Some((now - 20 * HOUR) as f64)
    );
    assert_eq!(
        ci(
            &text,
            "mlsteward_ci_last_failure_timestamp_seconds",
            CI_MAIN
        ),
        Some((now - 10 * HOUR) as f64)
    );
    // Every attempt ran ten minutes.
    assert_eq!(
        ci(&text, "mlsteward_ci_run_duration_seconds_sum", CI_MAIN),
        Some(8.0 * 600.0)
    );
    // Three runs per page: pages were followed.
    assert!(gh.log_since(0).iter().any(|(p, _)| p.contains("page=2")));

    // Steady state: one conditional request per repository for its runs and one for its
    // issues and pull requests, both answered 304.
    let before = gh.log_len();
    let (ok, second) = collect_once(&config, &storage);
    assert!(ok);
    let log = gh.log_since(before);
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|(_, code)| *code == 304), "{log:?}");
    assert_same_families(
        &text,
        &second,
        &["mlsteward_ci_runs_total", "mlsteward_ci_flaky_runs_total"],
    );

    // r8 finishes, and r7 is re-run successfully: each new attempt is counted once, r7's first
    // attempt is not counted again, and the branch recovers.
    gh.with(|s| {
        let runs = &mut s.repos.get_mut("acme/feature-store").unwrap().1;
        runs[7].attempts[0] = attempt(Some("success"), now - 30 * 60);
        runs[6]
            .attempts
            .push(attempt(Some("success"), now - 20 * 60));
    });
    let (ok, third) = collect_once(&config, &storage);
    assert!(ok, "{third}");
    assert_eq!(runs(&third, "success"), 5.0);
    assert_eq!(runs(&third, "failure"), 3.0);
    assert_eq!(
        ci(&third, "mlsteward_ci_flaky_runs_total", CI_MAIN),
        Some(2.0)
    );
    assert_eq!(
        ci(
            &third,
            "mlsteward_ci_failing_since_timestamp_seconds",
            CI_MAIN
        ),
        None
    );
    // r7's streak ended with the next success in completion order: r8 at −30 min (r7's own
    // re-run came later, at −20 min).
    assert_eq!(
        ci(&third, "mlsteward_ci_recovery_seconds_sum", CI_MAIN),
        Some((HOUR + 30 * HOUR + 10 * HOUR - 30 * 60) as f64)
    );
}

/// The metrics once `check` holds and the derived families reflect every collection.
fn wait_for(daemon: &Daemon, what: &str, check: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    wait_until(what, Duration::from_secs(60), || {
        last = daemon.metrics();
        check(&last) && settled(&last)
    });
    last
}

fn errors(text: &str, kind: &str) -> f64 {
    sample(
        text,
        &format!("mlsteward_collector_errors_total{{collector=\"github\",source=\"gh\",error_kind=\"{kind}\"}}"),
    )
    .unwrap_or(0.0)
}

fn success(text: &str) -> Option<f64> {
    sample(
        text,
        "mlsteward_collector_success{collector=\"github\",source=\"gh\"}",
    )
}

const CI_FAMILIES: &[&str] = &[
    "mlsteward_ci_runs_total",
    "mlsteward_ci_success_ratio",
    "mlsteward_ci_flaky_runs_total",
    "mlsteward_ci_recovery_seconds_sum",
    "mlsteward_asset_build_success_ratio",
];

#[test]
fn a_failing_github_keeps_the_last_good_values_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let gh = FakeGithub::start(Some("s3cret-token"), 100);
    gh.with(|s| {
        s.repos
            .insert("acme/feature-store".into(), ("main".into(), scenario(now)));
    });
    let config = github_config(dir.path(), &gh.url(), "");
    let storage = dir.path().join("s.db");
    let mut daemon = Daemon::run(&config, &storage, &[]);
    daemon.wait_ready();
    let good = wait_for(&daemon, "a first collection", |t| success(t) == Some(1.0));

    // The token stops working: auth_failed, success 0, the figures stay.
    gh.with(|s| {
        s.sticky = Some(Fault::Answer(
            401,
            vec![],
            r#"{"message":"Bad credentials"}"#.into(),
        ))
    });
    let bad = wait_for(&daemon, "an auth failure", |t| {
        errors(t, "auth_failed") >= 1.0
    });
    assert_eq!(success(&bad), Some(0.0));
    assert_same_families(&good, &bad, CI_FAMILIES);
    assert!(
        !daemon.logs().contains("s3cret"),
        "the token leaked into the log"
    );
    // The landing page says what is wrong, without the token.
    let landing = http_get(&daemon.addr, "/", &[]).unwrap().text();
    assert!(landing.contains("auth_failed"), "{landing}");
    assert!(landing.contains("failing"), "{landing}");
    assert!(
        !landing.contains("s3cret"),
        "the token leaked into the landing page"
    );

    // Broken JSON: decode_failed.
    gh.with(|s| {
        s.sticky = Some(Fault::Answer(
            200,
            vec![],
            r#"{"total_count": 3, "workflow_runs": [{"id": 1,"#.into(),
        ))
    });
    let bad = wait_for(&daemon, "a decode failure", |t| {
        errors(t, "decode_failed") >= 1.0
    });
    assert_same_families(&good, &bad, CI_FAMILIES);

    // A 5xx storm longer than the retries: request_failed.
    gh.with(|s| s.sticky = Some(Fault::Answer(502, vec![], "bad gateway".into())));
    let bad = wait_for(&daemon, "a request failure", |t| {
        errors(t, "request_failed") >= 1.0
    });
    assert_same_families(&good, &bad, CI_FAMILIES);

    // Recovery behind a secondary rate limit: the 403 asks to wait 2 s, which is obeyed; a
    // new run arrives and is counted exactly once.
    let mark = gh.log_len();
    gh.with(|s| {
        s.sticky = None;
        s.faults.push_back(Fault::Answer(
            403,
            vec![("retry-after".into(), "2".into())],
            r#"{"message":"You have exceeded a secondary rate limit"}"#.into(),
        ));
        s.repos.get_mut("acme/feature-store").unwrap().1.push(run(
            11,
            "ci",
            "main",
            vec![attempt(Some("success"), now - 2 * 60)],
        ));
    });
    let recovered = wait_for(&daemon, "recovery", |t| {
        success(t) == Some(1.0) && runs(t, "success") == 4.0
    });
    assert_eq!(runs(&recovered, "failure"), 3.0);
    let (limited, retried) = gh.with(|s| {
        let log = &s.log[mark..];
        let i = log
            .iter()
            .position(|(_, c, _)| *c == 403)
            .expect("the 403 was served");
        (log[i].2, log[i + 1].2)
    });
    assert!(
        retried.duration_since(limited) >= Duration::from_millis(1900),
        "Retry-After was not obeyed"
    );

    // A restart exposes the same counters.
    let (status, _) = daemon.terminate_within(Duration::from_secs(20));
    assert!(status.success());
    let mut daemon = Daemon::run(&config, &storage, &[]);
    daemon.wait_ready();
    let restarted = daemon.metrics();
    assert_same_families(&recovered, &restarted, CI_FAMILIES);
}

#[test]
fn bad_github_settings_are_reported_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        "sources:\n  - name: gh\n    type: github\n    api_url: ftp://x\n    repositories: [acme]\n    windows: [1d, soon]\n    assets: [a]\n",
    )
    .unwrap();
    let out = mlsteward(&["check-config", "--config.file", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "c.yaml:4:14: sources[0].api_url: expected a https://, http:// URL",
        "c.yaml:5:19: sources[0].repositories: `acme` is not a repository",
        "sources[0].windows: window `soon`",
        "c.yaml:7:13: sources[0].assets: expected a mapping",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
}

fn pipeline(
    id: u64,
    branch: &'static str,
    source: &'static str,
    status: &'static str,
    finished: Option<i64>,
    coverage: Option<&'static str>,
) -> Pipeline {
    let end = finished.unwrap_or(now() - HOUR);
    Pipeline {
        id,
        branch,
        source,
        status,
        created: end - 900,
        started: end - 600,
        finished,
        updated: end,
        coverage,
    }
}

#[test]
fn gitlab_pipelines_and_coverage_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let t = |h: i64| Some(now - h * HOUR);
    let gl = FakeGitlab::start(Some("glpat-secret"), 2);
    gl.with(|s| {
        s.projects.insert(
            "acme/ml/feature-store".into(),
            (
                "main".into(),
                vec![
                    pipeline(1, "main", "push", "success", t(50), Some("80.00")),
                    pipeline(2, "main", "push", "failed", t(30), None),
                    pipeline(3, "main", "push", "canceled", t(25), None),
                    pipeline(4, "main", "push", "success", t(20), Some("82.5")),
                    pipeline(5, "main", "push", "running", None, None),
                    pipeline(6, "feature", "push", "success", t(10), Some("10")),
                    pipeline(7, "main", "schedule", "success", t(5), Some("79.0")),
                    // Skipped (it never ran), and blocked on a manual job (not finished).
                    pipeline(8, "main", "push", "skipped", t(15), None),
                    pipeline(9, "main", "push", "manual", None, None),
                ],
            ),
        );
    });
    std::fs::write(dir.path().join("token"), "glpat-secret").unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: gl\n    type: gitlab\n    api_url: {}\n    token_file: token\n    group: acme\n    windows: [28d]\ncatalog:\n  - id: feature-store\n    kind: feature_view\n    targets: {{coverage: 0.85}}\n",
            gl.url()
        ),
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    let push = "asset=\"feature-store\",pipeline=\"push\",branch=\"main\"";
    let count = |text: &str, result: &str| {
        sample(
            text,
            &format!("mlsteward_ci_runs_total{{{push},result=\"{result}\"}}"),
        )
        .unwrap()
    };
    // p1 and p4 succeeded, p2 failed, p3 was cancelled; p5 runs; p6 is another branch; p7 is
    // the scheduled pipeline.
    assert_eq!(count(&text, "success"), 2.0);
    assert_eq!(count(&text, "failure"), 1.0);
    assert_eq!(count(&text, "cancelled"), 1.0);
    assert_eq!(count(&text, "skipped"), 1.0);
    assert_eq!(
        count(&text, "action_required"),
        0.0,
        "p9 waits on a manual job"
    );
    // Durations: the four that ran (600 s each); the skipped one has none.
    assert_eq!(
        sample(
            &text,
            &format!("mlsteward_ci_run_duration_seconds_count{{{push}}}")
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("mlsteward_ci_run_duration_seconds_sum{{{push}}}")
        ),
        Some(2400.0)
    );
    assert_eq!(
        sample(
            &text,
            &format!("mlsteward_ci_success_ratio{{{push},window=\"28d\"}}")
        ),
        Some(2.0 / 3.0)
    );
    // Coverage: the newest reported per pipeline (p4: 82.5 %, p7: 79 %); the asset's is the
    // newest of all (p7); its target comes from the catalog.
    assert_eq!(
        sample(&text, &format!("mlsteward_ci_coverage_ratio{{{push}}}")),
        Some(0.825)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_coverage_ratio{asset=\"feature-store\"}"
        ),
        Some(0.79)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_coverage_target{asset=\"feature-store\"}"
        ),
        Some(0.85)
    );
    // Two per page: pages were followed through x-next-page.
    assert!(gl.log_since(0).iter().any(|(p, _)| p.contains("page=2")));

    // Steady state: the group list, and per project its pipelines, merge requests and issues,
    // all 304.
    let mark = gl.log_len();
    let (ok, _) = collect_once(&config, &storage);
    assert!(ok);
    let log = gl.log_since(mark);
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(log.iter().all(|(_, code)| *code == 304), "{log:?}");

    // p5 finishes: its details are read, and no other pipeline's again.
    gl.with(|s| {
        let p = &mut s.projects.get_mut("acme/ml/feature-store").unwrap().1[4];
        p.status = "failed";
        p.finished = Some(now - 600);
        p.updated = now - 600;
        p.coverage = Some("81");
    });
    let mark = gl.log_len();
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok);
    let details: Vec<String> = gl
        .log_since(mark)
        .into_iter()
        .filter(|(p, _)| p.contains("/pipelines/"))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(details.len(), 1, "{details:?}");
    assert!(details[0].contains("/pipelines/5"), "{details:?}");
    assert_eq!(count(&text, "failure"), 2.0);
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_coverage_ratio{asset=\"feature-store\"}"
        ),
        Some(0.81)
    );

    // p2's failed job is retried and passes: the pipeline's new finish is its second
    // attempt. The failure stays counted (counters never go down) and the run is flaky.
    let flaky = |text: &str| sample(text, &format!("mlsteward_ci_flaky_runs_total{{{push}}}"));
    assert_eq!(flaky(&text), Some(0.0));
    gl.with(|s| {
        let p = &mut s.projects.get_mut("acme/ml/feature-store").unwrap().1[1];
        p.status = "success";
        p.updated = now - 60;
        p.finished = Some(now - 60);
    });
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok);
    assert_eq!(count(&text, "success"), 3.0);
    assert_eq!(count(&text, "failure"), 2.0);
    assert_eq!(flaky(&text), Some(1.0));
    // Read again (its update moves once more, its finish does not): nothing new.
    gl.with(|s| {
        s.projects.get_mut("acme/ml/feature-store").unwrap().1[1].updated = now - 30;
    });
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok);
    assert_eq!(
        (count(&text, "success"), count(&text, "failure")),
        (3.0, 2.0)
    );
}

fn build(
    number: u64,
    result: Option<&'static str>,
    completed: i64,
    tests: Option<(u64, u64, u64)>,
) -> Build {
    Build {
        number,
        result,
        timestamp: completed - 600,
        duration: 600,
        millis: 0,
        tests,
    }
}

#[test]
fn jenkins_builds_of_folders_and_multibranch_projects_worked_out_by_hand() {
    assert_eq!(base64(b"ci:tok"), "Y2k6dG9r");
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let t = |h: i64| now - h * HOUR;
    let jenkins = FakeJenkins::start(Some(("ci", "api-token")));
    jenkins.with(|s| {
        s.tree = r#"{"_class": "hudson.model.Hudson", "jobs": [
          {"_class": "hudson.model.FreeStyleProject", "name": "nightly-eval", "url": "URL/job/nightly-eval/"},
          {"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": "ml", "url": "URL/job/ml/", "jobs": [
            {"_class": "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject", "name": "feature-store",
             "url": "URL/job/ml/job/feature-store/", "jobs": [
               {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "main", "url": "URL/job/ml/job/feature-store/job/main/"},
               {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "feature%2Fx", "url": "URL/job/ml/job/feature-store/job/feature%252Fx/"}
            ]}
          ]}
        ]}"#
        .into();
        s.builds.insert(
            "ml/feature-store/main".into(),
            vec![
                build(1, Some("SUCCESS"), t(50), None),
                build(2, Some("FAILURE"), t(40), None),
                build(3, Some("UNSTABLE"), t(30), Some((40, 2, 3))),
                build(4, Some("ABORTED"), t(20), None),
                build(5, Some("SUCCESS"), t(10), Some((40, 0, 1))),
                build(6, None, t(1), None),
            ],
        );
        s.builds.insert(
            "ml/feature-store/feature%2Fx".into(),
            vec![build(1, Some("FAILURE"), t(3), None)],
        );
        s.builds
            .insert("nightly-eval".into(), vec![build(7, Some("SUCCESS"), t(5), None)]);
    });
    std::fs::write(dir.path().join("token"), "api-token\n").unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: jk\n    type: jenkins\n    url: {}\n    username: ci\n    token_file: token\n    windows: [28d]\n",
            jenkins.url()
        ),
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    let main = "asset=\"feature-store\",pipeline=\"feature-store\",branch=\"main\"";
    let count = |text: &str, result: &str| {
        sample(
            text,
            &format!("mlsteward_ci_runs_total{{{main},result=\"{result}\"}}"),
        )
        .unwrap()
    };
    assert_eq!(count(&text, "success"), 2.0);
    assert_eq!(count(&text, "failure"), 1.0);
    assert_eq!(count(&text, "unstable"), 1.0);
    assert_eq!(count(&text, "cancelled"), 1.0);
    assert!(
        !text.contains("feature/x"),
        "another branch than the default"
    );
    // UNSTABLE is failure-like: 2 of 4. The streak #2 (−40 h) … #5 (−10 h): 30 h.
    assert_eq!(
        sample(
            &text,
            &format!("mlsteward_ci_success_ratio{{{main},window=\"28d\"}}")
        ),
        Some(0.5)
    );
    assert_eq!(
        sample(
            &text,
            &format!("mlsteward_ci_recovery_seconds_sum{{{main}}}")
        ),
        Some((30 * HOUR) as f64)
    );
    // The newest test report, #5's: 40 tests, one skipped.
    for (outcome, n) in [("passed", 39.0), ("failed", 0.0), ("skipped", 1.0)] {
        assert_eq!(
            sample(
                &text,
                &format!("mlsteward_ci_tests{{{main},outcome=\"{outcome}\"}}")
            ),
            Some(n),
            "{outcome}"
        );
    }
    // A plain job builds the default branch; its asset is its own name.
    assert_eq!(
        sample(
            &text,
            "mlsteward_ci_runs_total{asset=\"nightly-eval\",pipeline=\"nightly-eval\",branch=\"main\",result=\"success\"}"
        ),
        Some(1.0)
    );

    // #6 finishes and a rebuild (#8) fails: each counted once, the rest not again.
    jenkins.with(|s| {
        let builds = s.builds.get_mut("ml/feature-store/main").unwrap();
        builds[5] = build(6, Some("SUCCESS"), now - 600, None);
        builds.push(build(8, Some("FAILURE"), now - 60, None));
    });
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok);
    assert_eq!(count(&text, "success"), 3.0);
    assert_eq!(count(&text, "failure"), 2.0);
    assert_eq!(count(&text, "unstable"), 1.0);

    // Wrong credentials: auth_failed, nothing lost.
    jenkins.with(|s| s.basic = Some("Basic bm9ib2R5Om5vbmU=".into()));
    let (ok, after) = collect_once(&config, &storage);
    assert!(!ok);
    assert_eq!(count(&after, "success"), 3.0);
    assert_eq!(
        sample(&after, "mlsteward_collector_errors_total{collector=\"jenkins\",source=\"jk\",error_kind=\"auth_failed\"}"),
        Some(1.0)
    );
}

/// Jenkins behind a proxy advertises its own root URL in every `url` field: requests are
/// built from the configured address instead (with the credentials going nowhere else), and a
/// folder deeper than the four levels one request reads is read on its own. A build's
/// milliseconds are kept in its duration.
#[test]
fn jenkins_behind_a_proxy_and_folders_deeper_than_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let jenkins = FakeJenkins::start(Some(("ci", "api-token")));
    let folder = "com.cloudbees.hudson.plugins.folder.Folder";
    jenkins.with(|s| {
        s.tree = format!(
            r#"{{"_class": "hudson.model.Hudson", "jobs": [
              {{"_class": "{folder}", "name": "a", "url": "http://jenkins.internal.invalid/job/a/", "jobs": [
                {{"_class": "{folder}", "name": "b", "url": "http://jenkins.internal.invalid/job/a/job/b/", "jobs": [
                  {{"_class": "{folder}", "name": "c", "url": "http://jenkins.internal.invalid/job/a/job/b/job/c/", "jobs": [
                    {{"_class": "{folder}", "name": "d", "url": "http://jenkins.internal.invalid/job/a/job/b/job/c/job/d/"}}
                  ]}},
                  {{"_class": "hudson.model.FreeStyleProject", "name": "shallow", "url": "http://jenkins.internal.invalid/job/a/job/b/job/shallow/"}}
                ]}}
              ]}}
            ]}}"#
        );
        s.folders.insert(
            "a/b/c/d".into(),
            r#"{"_class": "com.cloudbees.hudson.plugins.folder.Folder", "jobs": [
              {"_class": "hudson.model.FreeStyleProject", "name": "deep", "url": "http://jenkins.internal.invalid/job/a/job/b/job/c/job/d/job/deep/"}
            ]}"#
            .into(),
        );
        s.builds.insert(
            "a/b/shallow".into(),
            vec![Build {
                number: 1,
                result: Some("SUCCESS"),
                timestamp: now - 3600,
                duration: 30,
                millis: 250,
                tests: None,
            }],
        );
        s.builds.insert(
            "a/b/c/d/deep".into(),
            vec![Build {
                number: 1,
                result: Some("FAILURE"),
                timestamp: now - 1800,
                duration: 720,
                millis: 900,
                tests: None,
            }],
        );
    });
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: jk\n    type: jenkins\n    url: {}\n    username: ci\n    token: api-token\n",
            jenkins.url()
        ),
    )
    .unwrap();
    let (ok, text) = collect_once(&config, &dir.path().join("s.db"));
    assert!(ok, "{text}");
    let series = |family: &str, job: &str, more: &str| {
        sample(
            &text,
            &format!("{family}{{asset=\"{job}\",pipeline=\"{job}\",branch=\"main\"{more}}}"),
        )
    };
    let runs = "mlsteward_ci_runs_total";
    assert_eq!(
        series(runs, "shallow", ",result=\"success\""),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        series(runs, "deep", ",result=\"failure\""),
        Some(1.0),
        "{text}"
    );
    // 30.25 s is past the 30 s bucket; 720.9 s is not 721.
    let hist = "mlsteward_ci_run_duration_seconds";
    assert_eq!(series(&format!("{hist}_sum"), "shallow", ""), Some(30.25));
    assert_eq!(
        series(&format!("{hist}_bucket"), "shallow", ",le=\"30\""),
        Some(0.0)
    );
    assert_eq!(series(&format!("{hist}_sum"), "deep", ""), Some(720.9));
    let log: Vec<String> = jenkins.with(|s| s.log.iter().map(|(p, _, _)| p.clone()).collect());
    assert!(
        log.iter().any(|p| p == "/job/a/job/b/job/c/job/d/api/json"),
        "{log:?}"
    );
}

fn with_jobs(mut a: Attempt, jobs: &[(&'static str, &'static str)]) -> Attempt {
    a.jobs = jobs.iter().map(|(n, c)| (*n, Some(*c))).collect();
    a
}

#[test]
fn reproducibility_checks_are_the_jobs_of_a_marked_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let t = |h: i64| now - h * HOUR;
    let gh = FakeGithub::start(None, 100);
    let all = |c: &'static str| {
        [
            ("reproduce (linux)", c),
            ("reproduce (mac)", c),
            ("lint", "skipped"),
        ]
    };
    gh.with(|s| {
        s.repos.insert(
            "acme/churn".into(),
            (
                "main".into(),
                vec![
                    run(
                        1,
                        "reproduce",
                        "main",
                        vec![with_jobs(attempt(Some("success"), t(30)), &all("success"))],
                    ),
                    run(
                        2,
                        "reproduce",
                        "main",
                        vec![
                            with_jobs(attempt(Some("failure"), t(5)), &all("failure")),
                            with_jobs(attempt(Some("success"), t(4)), &all("success")),
                        ],
                    ),
                    run(
                        3,
                        "ci",
                        "main",
                        vec![with_jobs(attempt(Some("failure"), t(3)), &all("failure"))],
                    ),
                ],
            ),
        );
    });
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: gh\n    type: github\n    api_url: {}\n    repositories: [acme/churn]\n    reproducibility: [reproduce]\ncatalog:\n  - id: churn\n    kind: model\n    targets: {{reproducibility: 0.95}}\n",
            gh.url()
        ),
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    let checks = |text: &str, env: &str, result: &str| {
        sample(
            text,
            &format!("mlsteward_repro_checks_total{{asset=\"churn\",environment=\"{env}\",result=\"{result}\"}}"),
        )
    };
    // linux and mac: run 1 passed, run 2's first attempt failed and its re-run passed. The
    // skipped `lint` job is no check, and `ci` is not the marked workflow.
    for env in ["linux", "mac"] {
        assert_eq!(checks(&text, env, "pass"), Some(2.0), "{env}");
        assert_eq!(checks(&text, env, "fail"), Some(1.0), "{env}");
    }
    assert_eq!(checks(&text, "lint", "pass"), None);
    // 1d: run 2's two attempts, 2 of 4; 7d adds run 1: 4 of 6.
    assert_eq!(
        sample(
            &text,
            "mlsteward_repro_pass_ratio{asset=\"churn\",window=\"1d\"}"
        ),
        Some(0.5)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_repro_pass_ratio{asset=\"churn\",window=\"7d\"}"
        ),
        Some(4.0 / 6.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_reproducibility_target{asset=\"churn\"}"
        ),
        Some(0.95)
    );

    // A new run of the check: only its jobs are read; nothing is counted twice.
    gh.with(|s| {
        s.repos.get_mut("acme/churn").unwrap().1.push(run(
            4,
            "reproduce",
            "main",
            vec![with_jobs(
                attempt(Some("failure"), t(1)),
                &[
                    ("reproduce (linux)", "failure"),
                    ("reproduce (mac)", "success"),
                ],
            )],
        ));
    });
    let mark = gh.log_len();
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok);
    let jobs: Vec<String> = gh
        .log_since(mark)
        .into_iter()
        .filter(|(p, _)| p.contains("/jobs"))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert!(jobs[0].contains("/runs/4/attempts/1/jobs"), "{jobs:?}");
    assert_eq!(checks(&text, "linux", "fail"), Some(2.0));
    assert_eq!(checks(&text, "mac", "pass"), Some(3.0));
}

fn review(
    id: u64,
    login: &'static str,
    state: &'static str,
    body: &'static str,
    at: i64,
) -> (u64, &'static str, &'static str, &'static str, i64) {
    (id, login, state, body, at)
}

#[test]
fn pull_requests_reviews_and_responses_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let t = |h: i64| now - h * HOUR;
    // The git side: Bob commits with his GitHub noreply address, so `@bob` is him.
    let repo = Repo::init(&dir.path().join("churn"));
    repo.commit(
        "Bob Builder <1+bob@users.noreply.github.com>",
        t(60),
        &[("train.py", "print(1)\n")],
        "Train",
    );
    repo.commit(
        "Ann Lee <ann@example.com>",
        t(55),
        &[("eval.py", "print(2)\n")],
        "Eval",
    );
    let gh = FakeGithub::start(None, 100);
    gh.with(|s| {
        s.repos.insert("acme/churn".into(), ("main".into(), vec![]));
        s.items.insert(
            "acme/churn".into(),
            vec![
                // Merged into main. carol's empty comment review answers first (2 h) but earns
                // nothing; annlee's approval and dave's review with an inline comment earn a
                // review each; bob's own review, eve's dismissed one and frank's approval after
                // the merge earn nothing.
                Item {
                    number: 1,
                    pull: true,
                    author: "bob",
                    created: t(50),
                    updated: t(40),
                    closed: Some(t(40)),
                    merged: Some(t(40)),
                    base: "main",
                    reviews: vec![
                        review(10, "carol", "COMMENTED", "", t(48)),
                        review(11, "annlee", "APPROVED", "", t(45)),
                        review(12, "dave", "COMMENTED", "", t(44)),
                        review(13, "bob", "COMMENTED", "self", t(43)),
                        review(14, "eve", "DISMISSED", "no", t(42)),
                        review(15, "frank", "APPROVED", "late", t(39)),
                    ],
                    inline: vec![("dave", t(44), 12)],
                    ..Item::default()
                },
                // A bot's pull request is no item and earns its author nothing; reviewing it is
                // work like any other (the review rule does not ask who opened it).
                Item {
                    number: 2,
                    pull: true,
                    author: "renovate[bot]",
                    created: t(35),
                    updated: t(34),
                    closed: Some(t(34)),
                    merged: Some(t(34)),
                    base: "main",
                    reviews: vec![review(20, "annlee", "APPROVED", "", t(34))],
                    ..Item::default()
                },
                // Merged into another branch: no credit. annlee's approval answered it after
                // 9 h, before bob's comment (10 h).
                Item {
                    number: 3,
                    pull: true,
                    author: "carol",
                    created: t(30),
                    updated: t(20),
                    closed: Some(t(20)),
                    merged: Some(t(20)),
                    base: "release",
                    comments: vec![("bob", t(20))],
                    reviews: vec![review(30, "annlee", "APPROVED", "", t(21))],
                    ..Item::default()
                },
                // Unanswered for 100 h and open: beyond the 2-day objective.
                Item {
                    number: 4,
                    author: "erin",
                    created: t(100),
                    updated: t(100),
                    ..Item::default()
                },
                // Unanswered for 10 h: its objective has not elapsed.
                Item {
                    number: 5,
                    author: "erin",
                    created: t(10),
                    updated: t(10),
                    ..Item::default()
                },
                // A bot's comment is no response; bob answered after 50 h, late.
                Item {
                    number: 6,
                    author: "annlee",
                    created: t(70),
                    updated: t(20),
                    comments: vec![("dependabot[bot]", t(69)), ("bob", t(20))],
                    ..Item::default()
                },
            ],
        );
    });
    // Releases: bob names himself (nothing), @annlee (a mention) and an email (nothing); a
    // prerelease's mention counts but it is no "last release"; a draft counts for nothing; a
    // bot's release still credits the person it names.
    gh.with(|s| {
        s.releases.insert(
            "acme/churn".into(),
            vec![
                (
                    1,
                    "v1.0",
                    false,
                    false,
                    t(30),
                    "bob",
                    "Thanks @annlee!\nAlso @bob and carol@example.com",
                ),
                (2, "v1.1-rc1", false, true, t(10), "bob", "- fix by @dave"),
                (3, "v2.0", true, false, t(1), "bob", "@erin"),
                (4, "v0.9", false, false, t(200), "renovate[bot]", "@dave"),
            ],
        );
    });
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: churn\n    type: git\n    path: churn\n  - name: gh\n    type: github\n    api_url: {}\n    repositories: [acme/churn]\n    windows: [1d, 7d]\n",
            gh.url()
        ),
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    let credit = |text: &str, who: &str, kind: &str| {
        sample(
            text,
            &format!("mlsteward_contributions_total{{asset=\"churn\",contributor=\"{who}\",kind=\"{kind}\"}}"),
        )
    };
    // Bob is one person across git and GitHub: his commit and his pull request.
    assert_eq!(
        credit(&text, "Bob Builder", "pull_request"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(credit(&text, "Bob Builder", "code"), Some(1.0), "{text}");
    assert_eq!(credit(&text, "@annlee", "review"), Some(2.0));
    assert_eq!(credit(&text, "@dave", "review"), Some(1.0));
    for nobody in ["@carol", "@eve", "@frank", "@renovate[bot]"] {
        assert!(
            !text.contains(&format!("contributor=\"{nobody}\"")),
            "{nobody}"
        );
    }
    assert_eq!(credit(&text, "Bob Builder", "review"), None);
    assert_eq!(credit(&text, "@annlee", "changelog_mention"), Some(1.0));
    assert_eq!(credit(&text, "@dave", "changelog_mention"), Some(2.0));
    assert_eq!(credit(&text, "Bob Builder", "changelog_mention"), None);
    assert!(!text.contains("contributor=\"@erin\""));
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_last_release_timestamp_seconds{asset=\"churn\"}"
        ),
        Some(t(30) as f64)
    );
    // Active in 30 days: Bob Builder, Ann Lee (git), @annlee and @dave.
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_active_contributors{asset=\"churn\",window=\"30d\"}"
        ),
        Some(4.0)
    );
    // First responses: pull requests #1 (2 h) and #3 (9 h); issue #6 (50 h).
    let rs = |kind: &str, part: &str| {
        sample(
            &text,
            &format!("mlsteward_first_response_seconds_{part}{{asset=\"churn\",kind=\"{kind}\"}}"),
        )
    };
    assert_eq!(rs("pull_request", "count"), Some(2.0));
    assert_eq!(rs("pull_request", "sum"), Some((11 * HOUR) as f64));
    assert_eq!(rs("issue", "count"), Some(1.0));
    assert_eq!(rs("issue", "sum"), Some((50 * HOUR) as f64));
    // Within the 2-day objective, over 7 days: #1 and #3 yes; #4 (unanswered past it) and #6
    // (late) no; #5 not yet counted: 2 of 4. Over 1 day only #5, not counted: absent.
    assert_eq!(
        sample(
            &text,
            "mlsteward_responses_within_objective_ratio{asset=\"churn\",window=\"7d\"}"
        ),
        Some(0.5)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_responses_within_objective_ratio{asset=\"churn\",window=\"1d\"}"
        ),
        None
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_items_waiting_beyond_objective{asset=\"churn\",kind=\"issue\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_response_objective_seconds{asset=\"churn\"}"
        ),
        Some(172800.0)
    );

    // annlee's approval is dismissed later: the pull request is read again, and her credit goes.
    gh.with(|s| {
        let pr = &mut s.items.get_mut("acme/churn").unwrap()[0];
        pr.reviews[1].2 = "DISMISSED";
        pr.updated = now - 60;
    });
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok);
    assert_eq!(credit(&text, "@annlee", "review"), Some(1.0));
    assert_eq!(credit(&text, "@dave", "review"), Some(1.0));
    assert_eq!(credit(&text, "Bob Builder", "pull_request"), Some(1.0));

    // The report names everyone's forge handles: a handle-only reviewer's, a noreply
    // address's login, and (with an identity file that lists `@annlee` for Ann Lee) the handle
    // a forge user was resolved through.
    std::fs::write(
        dir.path().join("people.yaml"),
        "people:\n  - name: Ann Lee\n    email: ann@example.com\n    aliases: [\"@annlee\"]\n",
    )
    .unwrap();
    let with_identities = dir.path().join("i.yaml");
    std::fs::write(
        &with_identities,
        format!(
            "recognition:\n  identities_file: people.yaml\nsources:\n  - name: churn\n    type: git\n    path: churn\n  - name: gh\n    type: github\n    api_url: {}\n    repositories: [acme/churn]\n",
            gh.url()
        ),
    )
    .unwrap();
    let storage = dir.path().join("i.db");
    let (ok, _) = collect_once(&with_identities, &storage);
    assert!(ok);
    let out = mlsteward(&[
        "report",
        "--format",
        "json",
        "--config.file",
        with_identities.to_str().unwrap(),
        "--storage.path",
        storage.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let handles = |name: &str| {
        json["people"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {json}"))["handles"]
            .clone()
    };
    assert_eq!(handles("Ann Lee"), serde_json::json!(["@annlee"]), "{json}");
    assert_eq!(handles("Bob Builder"), serde_json::json!(["@bob"]));
    assert_eq!(handles("@dave"), serde_json::json!(["@dave"]));
}

#[test]
fn ten_pages_a_huge_answer_and_a_slow_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let gh = FakeGithub::start(None, 3);
    gh.with(|s| {
        let runs = (1..=30)
            .map(|i| {
                run(
                    i,
                    "ci",
                    "main",
                    vec![attempt(Some("success"), now - i as i64 * HOUR)],
                )
            })
            .collect();
        s.repos.insert("acme/big".into(), ("main".into(), runs));
    });
    let config = github_config(dir.path(), &gh.url(), "    request_timeout: 1s\n");
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("acme/feature-store", "acme/big"),
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let (ok, good) = collect_once(&config, &storage);
    assert!(ok, "{good}");
    let count = |text: &str| {
        sample(
            text,
            "mlsteward_ci_runs_total{asset=\"big\",pipeline=\"ci\",branch=\"main\",result=\"success\"}",
        )
    };
    // Thirty runs, three per page: all ten pages were read.
    assert_eq!(count(&good), Some(30.0));
    assert!(gh.log_since(0).iter().any(|(p, _)| p.contains("page=10")));
    let kind = |text: &str, k: &str| {
        sample(
            text,
            &format!("mlsteward_collector_errors_total{{collector=\"github\",source=\"gh\",error_kind=\"{k}\"}}"),
        )
    };

    // A 50 MB answer is over the body cap: decode_failed, and nothing is lost.
    gh.with(|s| s.sticky = Some(Fault::Answer(200, vec![], " ".repeat(50 * 1024 * 1024))));
    let (ok, text) = collect_once(&config, &storage);
    assert!(!ok);
    assert_eq!(kind(&text, "decode_failed"), Some(1.0));
    assert_eq!(count(&text), Some(30.0));

    // An upstream slower than `request_timeout`: timeout, and nothing is lost.
    gh.with(|s| {
        s.sticky = None;
        s.delay = Duration::from_millis(1500);
    });
    let (ok, text) = collect_once(&config, &storage);
    assert!(!ok);
    assert_eq!(kind(&text, "timeout"), Some(1.0));
    assert_eq!(count(&text), Some(30.0));

    // Back to normal: the same thirty runs, none twice.
    gh.with(|s| s.delay = Duration::ZERO);
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok);
    assert_eq!(count(&text), Some(30.0));
}

#[test]
fn gitlab_merge_requests_approvals_notes_and_issues_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let t = |h: i64| now - h * HOUR;
    let gl = FakeGitlab::start(None, 100);
    gl.with(|s| {
        s.projects
            .insert("acme/churn".into(), ("main".into(), Vec::new()));
        s.items.insert(
            "acme/churn".into(),
            vec![
                // Merged into main: root approved; pipin's note (before the merge) is a
                // review and the first response (1 h); a system note is no one's; the
                // author's own note and a note after the merge earn nothing.
                GlItem {
                    iid: 1,
                    mr: true,
                    author: "ann",
                    created: t(20),
                    updated: t(10),
                    merged: Some(t(10)),
                    target: "main",
                    notes: vec![
                        ("ann", t(19) - 60, true),
                        ("pipin", t(19), false),
                        ("ann", t(18), false),
                        ("merry", t(9), false),
                    ],
                    approvers: vec!["root"],
                    ..GlItem::default()
                },
                // Merged elsewhere: no credits.
                GlItem {
                    iid: 2,
                    mr: true,
                    author: "bob",
                    created: t(8),
                    updated: t(7),
                    merged: Some(t(7)),
                    target: "stable",
                    approvers: vec!["root"],
                    ..GlItem::default()
                },
                // An issue waiting 3 days.
                GlItem {
                    iid: 1,
                    author: "erin",
                    created: t(72),
                    updated: t(72),
                    ..GlItem::default()
                },
            ],
        );
        // Releases: root's notes thank @pipin (a mention) and root (the author: nothing); an
        // upcoming release is not published yet.
        s.releases.insert(
            "acme/churn".into(),
            vec![
                ("v1.0", "Thanks @pipin and @root!", t(5), false, "root"),
                ("v2.0", "@merry", now + 30 * 24 * HOUR, true, "root"),
            ],
        );
    });
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: gl\n    type: gitlab\n    api_url: {}\n    projects: [acme/churn]\n",
            gl.url()
        ),
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    let credit = |who: &str, kind: &str| {
        sample(
            &text,
            &format!("mlsteward_contributions_total{{asset=\"churn\",contributor=\"{who}\",kind=\"{kind}\"}}"),
        )
    };
    assert_eq!(credit("@ann", "pull_request"), Some(1.0), "{text}");
    assert_eq!(credit("@root", "review"), Some(1.0));
    assert_eq!(credit("@pipin", "review"), Some(1.0));
    assert_eq!(credit("@merry", "review"), None);
    assert_eq!(credit("@ann", "review"), None);
    assert_eq!(credit("@bob", "pull_request"), None);
    let rs = |kind: &str, part: &str| {
        sample(
            &text,
            &format!("mlsteward_first_response_seconds_{part}{{asset=\"churn\",kind=\"{kind}\"}}"),
        )
    };
    assert_eq!(rs("pull_request", "count"), Some(1.0));
    assert_eq!(rs("pull_request", "sum"), Some(HOUR as f64));
    assert_eq!(rs("issue", "count"), Some(0.0));
    assert_eq!(
        sample(
            &text,
            "mlsteward_items_waiting_beyond_objective{asset=\"churn\",kind=\"issue\"}"
        ),
        Some(1.0)
    );
    // GitLab releases as GitHub's: the last published one, and the mentions in its notes.
    assert_eq!(credit("@pipin", "changelog_mention"), Some(1.0));
    assert_eq!(credit("@root", "changelog_mention"), None);
    assert_eq!(credit("@merry", "changelog_mention"), None);
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_last_release_timestamp_seconds{asset=\"churn\"}"
        ),
        Some(t(5) as f64)
    );
}

/// A zip archive made by Python's `zipfile` (deflated), as GitHub serves artifacts.
fn zip_of(dir: &std::path::Path, name: &str, content: &str) -> Vec<u8> {
    let src = dir.join("zip-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join(name), content).unwrap();
    let out = dir.join("artifact.zip");
    let status = std::process::Command::new("python3")
        .args(["-c", "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z: z.write(sys.argv[2], sys.argv[3])"])
        .arg(&out)
        .arg(src.join(name))
        .arg(name)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

#[test]
fn coverage_reports_from_a_path_a_url_and_ci_artifacts() {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    std::fs::write(
        dir.path().join("lcov.info"),
        "TN:\nSF:a.py\nLF:10\nLH:8\nBRF:4\nBRH:2\nend_of_record\n",
    )
    .unwrap();
    let zip = zip_of(
        dir.path(),
        "coverage.json",
        r#"{"meta": {"version": "7.4.0"}, "totals": {"covered_lines": 45, "num_statements": 60, "covered_branches": 5, "num_branches": 20}}"#,
    );
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = log.clone();
    let created = crate::fake_forge::rfc3339(now - 3600);
    let server = FakeServer::start(Arc::new(move |r: &Request| {
        seen.lock().unwrap().push(r.path.clone());
        match r.path.as_str() {
            "/cov.xml" => {
                let body = r#"<?xml version="1.0"?><coverage lines-valid="200" lines-covered="150" line-rate="0.75" branch-rate="0" version="1"></coverage>"#;
                if r.headers.get("if-none-match").map(String::as_str) == Some("\"v1\"") {
                    return Response {
                        status: 304,
                        headers: vec![("etag".into(), "\"v1\"".into())],
                        body: vec![],
                    };
                }
                Response {
                    status: 200,
                    headers: vec![("etag".into(), "\"v1\"".into())],
                    body: body.as_bytes().to_vec(),
                }
            }
            "/repos/acme/churn/actions/artifacts" => Response::json(
                200,
                &serde_json::json!({"total_count": 2, "artifacts": [
                    {"id": 7, "name": "coverage", "expired": false, "created_at": created,
                     "workflow_run": {"id": 1, "head_sha": "abc123", "head_branch": "main"}},
                    {"id": 6, "name": "coverage", "expired": true}]}),
            ),
            "/repos/acme/churn/actions/artifacts/7/zip" => Response {
                status: 200,
                headers: vec![],
                body: zip.clone(),
            },
            "/api/v4/projects/acme%2Ffs2/jobs" => Response::json(
                200,
                &serde_json::json!([{"id": 8, "name": "lint", "commit": {"id": "zzz"}},
                                    {"id": 9, "name": "test", "commit": {"id": "def456"}, "finished_at": created}]),
            ),
            "/api/v4/projects/acme%2Ffs2/jobs/9/artifacts/coverage.xml" => Response {
                status: 200,
                headers: vec![],
                body: br#"<coverage line-rate="0.9" branch-rate="0.5" version="1">"#.to_vec(),
            },
            _ => Response::json(404, &serde_json::json!({"message": "Not Found"})),
        }
    }));
    let base = server.url();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:
  - name: cov
    type: coverage
    reports:
      - {{asset: fs, path: lcov.info}}
      - {{asset: model, url: {base}/cov.xml}}
      - asset: churn
        github_artifact: {{repository: acme/churn, name: coverage, api_url: {base}}}
  - name: glcov
    type: coverage
    token: glpat-x
    reports:
      - asset: fs2
        gitlab_artifact: {{project: acme/fs2, job: test, file: coverage.xml, api_url: {base}/api/v4}}
catalog:
  - id: fs
    kind: library
    targets: {{coverage: 0.85}}
"
        ),
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    let line = |text: &str, asset: &str| {
        sample(
            text,
            &format!("mlsteward_asset_coverage_ratio{{asset=\"{asset}\"}}"),
        )
    };
    let branch = |text: &str, asset: &str| {
        sample(
            text,
            &format!("mlsteward_asset_branch_coverage_ratio{{asset=\"{asset}\"}}"),
        )
    };
    assert_eq!(line(&text, "fs"), Some(0.8));
    assert_eq!(branch(&text, "fs"), Some(0.5));
    assert_eq!(line(&text, "model"), Some(0.75));
    assert_eq!(line(&text, "churn"), Some(0.75));
    assert_eq!(branch(&text, "churn"), Some(0.25));
    assert_eq!(line(&text, "fs2"), Some(0.9));
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_coverage_commit_info{asset=\"churn\",commit=\"abc123\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "mlsteward_asset_coverage_commit_info{asset=\"fs2\",commit=\"def456\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "mlsteward_asset_coverage_target{asset=\"fs\"}"),
        Some(0.85)
    );

    // Nothing changed: no report is read again (the URL answers 304, the artifacts are the same).
    log.lock().unwrap().clear();
    let (ok, _) = collect_once(&config, &storage);
    assert!(ok);
    let paths = log.lock().unwrap().clone();
    assert!(
        !paths
            .iter()
            .any(|p| p.ends_with("/zip") || p.contains("/artifacts/coverage.xml")),
        "{paths:?}"
    );
    let store = mlsteward::store::Store::open(&storage).unwrap();
    assert_eq!(
        mlsteward::store::count_rows(&store, "coverage_reports").unwrap(),
        4
    );
    drop(store);

    // The file changes: a new report, and the asset's coverage follows it.
    std::fs::write(
        dir.path().join("lcov.info"),
        "SF:a.py\nLF:10\nLH:6\nend_of_record\n",
    )
    .unwrap();
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok);
    assert_eq!(line(&text, "fs"), Some(0.6));
}

/// One successful `ci` run on `main`, finished at `at`, in each (repository, run id).
pub(crate) fn one_run_each(gh: &FakeGithub, repos: &[(&str, u64)], at: i64) {
    gh.with(|s| {
        for (name, id) in repos {
            s.repos.insert(
                name.to_string(),
                (
                    "main".into(),
                    vec![run(*id, "ci", "main", vec![attempt(Some("success"), at)])],
                ),
            );
        }
    });
}

#[test]
fn every_repository_of_an_organisation_is_read_and_its_list_costs_a_304() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let gh = FakeGithub::start(None, 100);
    one_run_each(
        &gh,
        &[("acme/a", 1), ("acme/b", 2), ("other/c", 3)],
        now - HOUR,
    );
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: gh\n    type: github\n    api_url: {}\n    organisation: acme\n    pull_requests_and_issues: false\n",
            gh.url()
        ),
    )
    .unwrap();
    let storage = dir.path().join("s.db");
    let (ok, text) = collect_once(&config, &storage);
    assert!(ok, "{text}");
    for asset in ["a", "b"] {
        assert_eq!(
            sample(
                &text,
                &format!("mlsteward_ci_runs_total{{asset=\"{asset}\",pipeline=\"ci\",branch=\"main\",result=\"success\"}}")
            ),
            Some(1.0),
            "{asset}"
        );
    }
    assert!(!text.contains("asset=\"c\""));
    // Steady state: the organisation's list and each repository's runs, all 304.
    let mark = gh.log_len();
    let (ok, _) = collect_once(&config, &storage);
    assert!(ok);
    let log = gh.log_since(mark);
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(log.iter().all(|(_, c)| *c == 304), "{log:?}");
}

/// `sha256=HEX` of `body` under `secret`, as GitHub signs webhooks; computed here with
/// `openssl` so the daemon's HMAC is checked against another implementation.
pub(crate) fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut child = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret, "-r"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    format!("sha256={}", hex.split_whitespace().next().unwrap())
}

#[test]
fn a_signed_github_webhook_collects_just_its_repository_and_anything_else_collects_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let gh = FakeGithub::start(None, 100);
    one_run_each(&gh, &[("acme/a", 1), ("acme/b", 2)], now - 2 * HOUR);
    let secret = "9f2c6c1e0d8a4b7e3f5a1c2d";
    std::fs::write(dir.path().join("hook"), format!("{secret}\n")).unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: gh\n    type: github\n    api_url: {}\n    repositories: [acme/a, acme/b]\n    pull_requests_and_issues: false\n    webhook_secret_file: hook\n    schedule: 1h\n",
            gh.url()
        ),
    )
    .unwrap();
    let mut daemon = Daemon::run(&config, &dir.path().join("s.db"), &[]);
    daemon.wait_ready();
    let addr = daemon.addr.clone();
    let runs_of = |text: &str, asset: &str| {
        sample(text, &format!("mlsteward_ci_runs_total{{asset=\"{asset}\",pipeline=\"ci\",branch=\"main\",result=\"success\"}}"))
    };
    let before = daemon.metrics();
    assert_eq!(
        (runs_of(&before, "a"), runs_of(&before, "b")),
        (Some(1.0), Some(1.0))
    );
    let hook = |headers: &[(&str, &str)], body: &[u8]| {
        http_post(&addr, "/webhooks/github", headers, body).unwrap()
    };

    // A new run on acme/b, then an event about it: unsigned and badly signed ones collect
    // nothing.
    gh.with(|s| {
        s.repos.get_mut("acme/b").unwrap().1.push(run(
            3,
            "ci",
            "main",
            vec![attempt(Some("success"), now - HOUR)],
        ))
    });
    let event = br#"{"action": "completed", "repository": {"full_name": "acme/b"}}"#;
    let mark = gh.log_len();
    assert_eq!(
        hook(&[("X-GitHub-Event", "workflow_run")], event).status,
        401
    );
    let forged = github_signature("not the secret at all!", event);
    assert_eq!(
        hook(
            &[
                ("X-GitHub-Event", "workflow_run"),
                ("X-Hub-Signature-256", &forged)
            ],
            event
        )
        .status,
        401
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(gh.log_since(mark).is_empty(), "{:?}", gh.log_since(mark));

    // Signed: 202, and a collection of acme/b alone.
    let signature = github_signature(secret, event);
    let signed = [
        ("X-GitHub-Event", "workflow_run"),
        ("X-GitHub-Delivery", "d-1"),
        ("X-Hub-Signature-256", signature.as_str()),
    ];
    let accepted = hook(&signed, event);
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    let after = wait_for(&daemon, "acme/b's new run", |m| {
        runs_of(m, "b") == Some(2.0)
    });
    assert_eq!(runs_of(&after, "a"), Some(1.0), "acme/a's facts stay");
    let requests = gh.log_since(mark);
    assert!(!requests.is_empty());
    assert!(
        requests.iter().all(|(path, _)| {
            let path = path.split('?').next().unwrap();
            path == "/repos/acme/b" || path.starts_with("/repos/acme/b/")
        }),
        "only acme/b is read: {requests:?}"
    );

    // The same delivery again, a repository of no source, a ping, a huge body, not JSON.
    let mark = gh.log_len();
    assert_eq!(hook(&signed, event).status, 200);
    let elsewhere = br#"{"repository": {"full_name": "other/c"}}"#;
    let sig = github_signature(secret, elsewhere);
    let r = hook(&[("X-Hub-Signature-256", &sig)], elsewhere);
    assert_eq!(
        (r.status, r.text().contains("ignored")),
        (200, true),
        "{}",
        r.text()
    );
    let ping = br#"{"zen": "Keep it logically awesome."}"#;
    let sig = github_signature(secret, ping);
    assert_eq!(
        hook(
            &[("X-GitHub-Event", "ping"), ("X-Hub-Signature-256", &sig)],
            ping
        )
        .text(),
        "pong\n"
    );
    let huge = vec![b' '; 6 * 1024 * 1024];
    assert_eq!(hook(&[], &huge).status, 413);
    let sig = github_signature(secret, b"not json");
    assert_eq!(
        hook(&[("X-Hub-Signature-256", &sig)], b"not json").status,
        400
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(gh.log_since(mark).is_empty(), "{:?}", gh.log_since(mark));

    let m = daemon.metrics();
    for (result, n) in [
        ("accepted", 1.0),
        ("duplicate", 1.0),
        ("ignored", 2.0),
        ("unauthorized", 2.0),
        ("too_large", 1.0),
        ("bad_request", 1.0),
    ] {
        assert_eq!(
            sample(
                &m,
                &format!(
                    "mlsteward_webhook_requests_total{{forge=\"github\",result=\"{result}\"}}"
                )
            ),
            Some(n),
            "{result}"
        );
    }
    assert!(
        !m.contains("forge=\"gitlab\""),
        "no gitlab source takes webhooks"
    );
    assert_eq!(
        http_post(&addr, "/webhooks/gitlab", &[], b"{}")
            .unwrap()
            .status,
        404
    );
}

#[test]
fn a_gitlab_webhook_needs_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let now = now();
    let gl = FakeGitlab::start(None, 100);
    gl.with(|s| {
        for (name, id) in [("acme/x", 1), ("acme/y", 2)] {
            s.projects.insert(
                name.into(),
                (
                    "main".into(),
                    vec![pipeline(
                        id,
                        "main",
                        "push",
                        "success",
                        Some(now - 2 * HOUR),
                        None,
                    )],
                ),
            );
        }
    });
    let token = "a7d1f0c3e5b2948c6e1d";
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "sources:\n  - name: gl\n    type: gitlab\n    api_url: {}\n    group: acme\n    merge_requests_and_issues: false\n    webhook_secret: {token}\n    schedule: 1h\n",
            gl.url()
        ),
    )
    .unwrap();
    let mut daemon = Daemon::run(&config, &dir.path().join("s.db"), &[]);
    daemon.wait_ready();
    let pushes = |text: &str, asset: &str| {
        sample(text, &format!("mlsteward_ci_runs_total{{asset=\"{asset}\",pipeline=\"push\",branch=\"main\",result=\"success\"}}"))
    };
    gl.with(|s| {
        s.projects.get_mut("acme/y").unwrap().1.push(pipeline(
            3,
            "main",
            "push",
            "success",
            Some(now - HOUR),
            None,
        ))
    });
    let event = br#"{"object_kind": "pipeline", "project": {"path_with_namespace": "acme/y"}}"#;
    let mark = gl.log_len();
    let wrong = http_post(
        &daemon.addr,
        "/webhooks/gitlab",
        &[("X-Gitlab-Token", "a7d1f0c3e5b2948c6e1e")],
        event,
    )
    .unwrap();
    assert_eq!(wrong.status, 401);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(gl.log_since(mark).is_empty());
    let right = http_post(
        &daemon.addr,
        "/webhooks/gitlab",
        &[("X-Gitlab-Token", token), ("X-Gitlab-Event-UUID", "u-1")],
        event,
    )
    .unwrap();
    assert_eq!(right.status, 202, "{}", right.text());
    let after = wait_for(&daemon, "acme/y's new pipeline", |m| {
        pushes(m, "y") == Some(2.0)
    });
    assert_eq!(pushes(&after, "x"), Some(1.0));
    let requests = gl.log_since(mark);
    assert!(
        requests
            .iter()
            .all(|(p, _)| !p.contains("acme%2Fx") && !p.contains("acme/x")),
        "acme/x is not read: {requests:?}"
    );
}
