//! Every metric family mlsteward exports, as data: its name, type, labels, the group that
//! renders it (a derive group, or `self` for the daemon's own metrics) and its definition,
//! which is both its HELP text and the reference in `docs/metrics.md` (generated from this
//! list). Code builds a family from its [`Spec`]; no metric name is spelled anywhere else.

use crate::collector::ErrorKind;

/// A family's type in the exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    /// Samples carry the `_bucket`, `_sum` and `_count` suffixes (see
    /// [`crate::exposition::Family::push_histogram`]).
    Histogram,
}

/// One metric family's definition.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub metric_type: MetricType,
    /// The derive group that renders it ([`crate::derive::Group::name`]), or `self`.
    pub group: &'static str,
    /// Its labels, in the order samples carry them (`le` of histograms aside).
    pub labels: &'static [&'static str],
    pub help: Help,
}

/// A definition: written here, or computed once from another list (the error kinds).
#[derive(Debug)]
pub enum Help {
    Text(&'static str),
    Computed(fn() -> &'static str),
}

impl Spec {
    pub fn help(&self) -> &'static str {
        match self.help {
            Help::Text(text) => text,
            Help::Computed(text) => text(),
        }
    }
}

pub static ASSET_ACTIVE_CONTRIBUTORS: Spec = Spec {
    name: "mlsteward_asset_active_contributors",
    metric_type: MetricType::Gauge,
    group: "activity",
    labels: &["asset", "window"],
    help: Help::Text(
        "Distinct people credited with any contribution to the asset by commits committed within the window (30d or 90d) before the last derivation.",
    ),
};

pub static ASSET_NEW_CONTRIBUTORS: Spec = Spec {
    name: "mlsteward_asset_new_contributors",
    metric_type: MetricType::Gauge,
    group: "activity",
    labels: &["asset", "window"],
    help: Help::Text(
        "Distinct people whose first credited contribution to the asset was committed within the window (30d or 90d) before the last derivation.",
    ),
};

pub static ACTIVE_CONTRIBUTORS: Spec = Spec {
    name: "mlsteward_active_contributors",
    metric_type: MetricType::Gauge,
    group: "activity",
    labels: &["window"],
    help: Help::Text(
        "Distinct people credited with any contribution to any asset by commits committed within the window (30d or 90d) before the last derivation; each person once, however many assets they touched.",
    ),
};

pub static NEW_CONTRIBUTORS: Spec = Spec {
    name: "mlsteward_new_contributors",
    metric_type: MetricType::Gauge,
    group: "activity",
    labels: &["window"],
    help: Help::Text(
        "Distinct people whose first credited contribution to any asset was committed within the window (30d or 90d) before the last derivation.",
    ),
};

pub static ASSET_CONTRIBUTOR_ABSENCE_FACTOR: Spec = Spec {
    name: "mlsteward_asset_contributor_absence_factor",
    metric_type: MetricType::Gauge,
    group: "activity",
    labels: &["asset"],
    help: Help::Text(
        "CHAOSS contributor absence factor over 90 days: how many people, taken greedily (each time the one who (co-)authored the most commits not yet covered), cover more than half of the asset's distinct credited commits committed in the last 90 days; 0 when there were none.",
    ),
};

pub static CI_RUNS_TOTAL: Spec = Spec {
    name: "mlsteward_ci_runs_total",
    metric_type: MetricType::Counter,
    group: "ci",
    labels: &["asset", "pipeline", "branch", "result"],
    help: Help::Text(
        "Finished CI run attempts stored (GitHub Actions runs, GitLab pipelines, Jenkins builds), by asset, pipeline, branch and result. A re-run is one more attempt. Results: success; failure-like failure, timed_out, startup_failure, unstable; neutral cancelled, skipped, neutral, action_required, stale, other.",
    ),
};

pub static CI_RUN_DURATION_SECONDS: Spec = Spec {
    name: "mlsteward_ci_run_duration_seconds",
    metric_type: MetricType::Histogram,
    group: "ci",
    labels: &["asset", "pipeline", "branch"],
    help: Help::Text(
        "Duration of finished CI run attempts, from the attempt's start to its completion, in the upstream's precision (Jenkins gives milliseconds, GitHub and GitLab seconds or better). An attempt that never started (a skipped GitLab pipeline) is not observed.",
    ),
};

pub static CI_SUCCESS_RATIO: Spec = Spec {
    name: "mlsteward_ci_success_ratio",
    metric_type: MetricType::Gauge,
    group: "ci",
    labels: &["asset", "pipeline", "branch", "window"],
    help: Help::Text(
        "success / (success + failure-like) among the attempts completed in the window; absent when there were none.",
    ),
};

pub static CI_SUCCESS_RATIO_BASELINE: Spec = Spec {
    name: "mlsteward_ci_success_ratio_baseline",
    metric_type: MetricType::Gauge,
    group: "ci",
    labels: &["asset", "pipeline", "branch"],
    help: Help::Text(
        "Median of the daily success ratios over the `baseline.days` UTC days before today (default 28); absent with fewer than `baseline.min_days` (default 7) days that have a value.",
    ),
};

pub static CI_LAST_SUCCESS_TIMESTAMP_SECONDS: Spec = Spec {
    name: "mlsteward_ci_last_success_timestamp_seconds",
    metric_type: MetricType::Gauge,
    group: "ci",
    labels: &["asset", "pipeline", "branch"],
    help: Help::Text("Completion time of the newest successful attempt."),
};

pub static CI_LAST_FAILURE_TIMESTAMP_SECONDS: Spec = Spec {
    name: "mlsteward_ci_last_failure_timestamp_seconds",
    metric_type: MetricType::Gauge,
    group: "ci",
    labels: &["asset", "pipeline", "branch"],
    help: Help::Text("Completion time of the newest failure-like attempt."),
};

pub static CI_FAILING_SINCE_TIMESTAMP_SECONDS: Spec = Spec {
    name: "mlsteward_ci_failing_since_timestamp_seconds",
    metric_type: MetricType::Gauge,
    group: "ci",
    labels: &["asset", "pipeline", "branch"],
    help: Help::Text(
        "Completion time of the first failure-like attempt of the failing streak still open; absent while the pipeline passes.",
    ),
};

pub static CI_FLAKY_RUNS_TOTAL: Spec = Spec {
    name: "mlsteward_ci_flaky_runs_total",
    metric_type: MetricType::Counter,
    group: "ci",
    labels: &["asset", "pipeline", "branch"],
    help: Help::Text(
        "Runs whose attempts show a failure-like attempt followed by a successful re-run of the same run (same commit and pipeline); each run counted once.",
    ),
};

pub static CI_RECOVERY_SECONDS: Spec = Spec {
    name: "mlsteward_ci_recovery_seconds",
    metric_type: MetricType::Histogram,
    group: "ci",
    labels: &["asset", "pipeline", "branch"],
    help: Help::Text(
        "Time to recovery: from the completion of the first failure-like attempt of a streak to the completion of the next successful attempt.",
    ),
};

pub static ASSET_BUILD_SUCCESS_RATIO: Spec = Spec {
    name: "mlsteward_asset_build_success_ratio",
    metric_type: MetricType::Gauge,
    group: "ci",
    labels: &["asset", "window"],
    help: Help::Text(
        "Build success of an asset: success / (success + failure-like) among the attempts of all its pipelines on its repositories' default branches completed in the window; absent when there were none.",
    ),
};

pub static ASSET_BUILD_SUCCESS_RATIO_BASELINE: Spec = Spec {
    name: "mlsteward_asset_build_success_ratio_baseline",
    metric_type: MetricType::Gauge,
    group: "ci",
    labels: &["asset"],
    help: Help::Text(
        "Median of the asset's daily build success over the `baseline.days` UTC days before today (default 28); absent with fewer than `baseline.min_days` (default 7) days that have a value.",
    ),
};

pub static ASSET_BUILD_SUCCESS_TARGET: Spec = Spec {
    name: "mlsteward_asset_build_success_target",
    metric_type: MetricType::Gauge,
    group: "ci",
    labels: &["asset"],
    help: Help::Text(
        "The asset's build success target from the catalog (`targets.build_success`).",
    ),
};

pub static CI_COVERAGE_RATIO: Spec = Spec {
    name: "mlsteward_ci_coverage_ratio",
    metric_type: MetricType::Gauge,
    group: "ci",
    labels: &["asset", "pipeline", "branch"],
    help: Help::Text(
        "Line coverage (0 to 1) reported by the newest finished attempt that reported any (GitLab's pipeline coverage).",
    ),
};

pub static CI_TESTS: Spec = Spec {
    name: "mlsteward_ci_tests",
    metric_type: MetricType::Gauge,
    group: "ci",
    labels: &["asset", "pipeline", "branch", "outcome"],
    help: Help::Text(
        "Tests of the newest finished attempt that had a test report (Jenkins JUnit reports), by outcome: passed, failed, skipped.",
    ),
};

pub static CONTRIBUTIONS_TOTAL: Spec = Spec {
    name: "mlsteward_contributions_total",
    metric_type: MetricType::Counter,
    group: "contributions",
    labels: &["asset", "contributor", "kind"],
    help: Help::Text(
        "Contributions credited per asset, contributor and kind, from the mined branch: one per commit and kind of file it changed (author and Co-authored-by), one per Reviewed-by/Tested-by/Reported-by/Suggested-by trailer (review, testing, report, suggestion), one per person newly named in a changelog (changelog_mention). Merges, bots, opted-out people, empty and whitespace-only commits, reverts and commits with a standing revert earn nothing. People are unified across emails, names and handles. Decreases when history is rewritten or a revert lands.",
    ),
};

pub static CREDITED_COMMITS_TOTAL: Spec = Spec {
    name: "mlsteward_credited_commits_total",
    metric_type: MetricType::Counter,
    group: "contributions",
    labels: &["asset", "contributor"],
    help: Help::Text(
        "Distinct commits per asset and contributor that earned the contributor credit as author or co-author, each commit counted once whatever kinds of files it changed; for __other__, the distinct commits of everyone ranked below top_n; with contributor_label none, the asset's distinct credited commits.",
    ),
};

pub static GIT_COMMITS: Spec = Spec {
    name: "mlsteward_git_commits",
    metric_type: MetricType::Gauge,
    group: "contributions",
    labels: &["source", "outcome"],
    help: Help::Text(
        "Commits mined from the source's branch by outcome, every outcome always exported: credited, merge, bot, opted_out, whitespace_only (every changed file stays a regular file with its mode and equal content once whitespace is removed), empty (changes no file), unreadable (a malformed commit object, skipped), shallow_boundary (the oldest commit of a shallow clone), revert (names an ancestor that changed a path it changes) or reverted (has a standing revert).",
    ),
};

pub static GIT_COMMITS_WITHOUT_BLOBS: Spec = Spec {
    name: "mlsteward_git_commits_without_blobs",
    metric_type: MetricType::Gauge,
    group: "contributions",
    labels: &["source"],
    help: Help::Text(
        "Mined commits whose file contents were absent (a partial, blobless clone): they are credited from their trees, without the whitespace-only check and changelog mentions.",
    ),
};

pub static GIT_SHALLOW: Spec = Spec {
    name: "mlsteward_git_shallow",
    metric_type: MetricType::Gauge,
    group: "contributions",
    labels: &["source"],
    help: Help::Text(
        "1 if the source's repository is a shallow clone: history starts at its boundary commits, which cannot be diffed and earn nothing (outcome shallow_boundary); else 0.",
    ),
};

pub static GIT_CODEOWNERS_INVALID_LINES: Spec = Spec {
    name: "mlsteward_git_codeowners_invalid_lines",
    metric_type: MetricType::Gauge,
    group: "contributions",
    labels: &["source"],
    help: Help::Text(
        "CODEOWNERS lines at the branch tip that GitHub would skip as invalid (negation, character ranges, bad owners).",
    ),
};

pub static ASSET_COVERAGE_RATIO: Spec = Spec {
    name: "mlsteward_asset_coverage_ratio",
    metric_type: MetricType::Gauge,
    group: "coverage",
    labels: &["asset"],
    help: Help::Text(
        "The asset's line coverage (0 to 1): the newest reported by its CI pipelines on its repositories' default branches or by a coverage report.",
    ),
};

pub static ASSET_BRANCH_COVERAGE_RATIO: Spec = Spec {
    name: "mlsteward_asset_branch_coverage_ratio",
    metric_type: MetricType::Gauge,
    group: "coverage",
    labels: &["asset"],
    help: Help::Text(
        "The asset's branch coverage (0 to 1): the newest coverage report that measured branches.",
    ),
};

pub static ASSET_COVERAGE_RATIO_BASELINE: Spec = Spec {
    name: "mlsteward_asset_coverage_ratio_baseline",
    metric_type: MetricType::Gauge,
    group: "coverage",
    labels: &["asset"],
    help: Help::Text(
        "Median of the asset's daily line coverage (each day's newest value) over the `baseline.days` UTC days before today (default 28); absent with fewer than `baseline.min_days` (default 7) days that have a value.",
    ),
};

pub static ASSET_COVERAGE_TARGET: Spec = Spec {
    name: "mlsteward_asset_coverage_target",
    metric_type: MetricType::Gauge,
    group: "coverage",
    labels: &["asset"],
    help: Help::Text("The asset's coverage target from the catalog (`targets.coverage`)."),
};

pub static ASSET_COVERAGE_COMMIT_INFO: Spec = Spec {
    name: "mlsteward_asset_coverage_commit_info",
    metric_type: MetricType::Gauge,
    group: "coverage",
    labels: &["asset", "commit"],
    help: Help::Text(
        "Always 1: the commit the asset's newest coverage report belongs to, when its origin says (a CI artifact's run).",
    ),
};

pub static ASSET_INFO: Spec = Spec {
    name: "mlsteward_asset_info",
    metric_type: MetricType::Gauge,
    group: "ownership",
    labels: &["asset", "kind", "owner", "lifecycle"],
    help: Help::Text(
        "Catalog metadata of an asset, always 1: kind, owner in normal form (no leading @, lower-case, without the organisation prefix; the catalog's, else for a repository CODEOWNERS's default rule, else for other assets the one owner set CODEOWNERS gives all its files, else empty) and lifecycle.",
    ),
};

pub static ASSET_OWNED: Spec = Spec {
    name: "mlsteward_asset_owned",
    metric_type: MetricType::Gauge,
    group: "ownership",
    labels: &["asset"],
    help: Help::Text("1 if the asset has an owner (see mlsteward_asset_info), else 0."),
};

pub static ASSET_OWNERSHIP_CONFLICT: Spec = Spec {
    name: "mlsteward_asset_ownership_conflict",
    metric_type: MetricType::Gauge,
    group: "ownership",
    labels: &["asset"],
    help: Help::Text(
        "1 if ownership sources disagree about the asset, else 0. A repository: the catalog owner is not among the owners of CODEOWNERS's default rule. Another asset: CODEOWNERS assigns some of its files to owners without the catalog owner, or, with no catalog owner, to different owner sets. Any asset: a registry (MLflow, Feast, Hugging Face) or a Backstage catalog file names another owner than the catalog.",
    ),
};

pub static ASSET_STEWARD_INFO: Spec = Spec {
    name: "mlsteward_asset_steward_info",
    metric_type: MetricType::Gauge,
    group: "ownership",
    labels: &["asset", "steward"],
    help: Help::Text(
        "The stewards the catalog names for an asset, one series per steward, always 1.",
    ),
};

pub static ASSET_FILES: Spec = Spec {
    name: "mlsteward_asset_files",
    metric_type: MetricType::Gauge,
    group: "ownership",
    labels: &["asset"],
    help: Help::Text(
        "Files at the tip of the asset's repository branch that its paths match (0: the globs match nothing, which is also logged as a warning).",
    ),
};

pub static ASSET_LAST_UPDATE_TIMESTAMP_SECONDS: Spec = Spec {
    name: "mlsteward_asset_last_update_timestamp_seconds",
    metric_type: MetricType::Gauge,
    group: "ownership",
    labels: &["asset"],
    help: Help::Text(
        "Committer time of the newest non-merge commit on the mined branch that changed a file of the asset (any author, bots included).",
    ),
};

pub static ASSET_DEPRECATION_CANDIDATE: Spec = Spec {
    name: "mlsteward_asset_deprecation_candidate",
    metric_type: MetricType::Gauge,
    group: "ownership",
    labels: &["asset"],
    help: Help::Text(
        "1 if the asset is a deprecation candidate: in production, unchanged (commits, registry updates) for more than twice the catalog's update_cadence, and with no usage recorded over the last 30 days (downloads; an asset no source reports usage for has none recorded); else 0. Only for assets with an update_cadence.",
    ),
};

pub static PROBES_TOTAL: Spec = Spec {
    name: "mlsteward_probes_total",
    metric_type: MetricType::Counter,
    group: "probes",
    labels: &["asset", "target", "result"],
    help: Help::Text(
        "Probes sent, by result: ok, or the failure reason (timeout, connect, http_4xx, http_5xx, bad_body, values_missing).",
    ),
};

pub static PROBE_DURATION_SECONDS: Spec = Spec {
    name: "mlsteward_probe_duration_seconds",
    metric_type: MetricType::Histogram,
    group: "probes",
    labels: &["asset", "target"],
    help: Help::Text(
        "Probe latency as a client sees it: from sending the request to reading the whole answer, on a monotonic clock, for probes that got an HTTP answer.",
    ),
};

pub static PROBE_RECONNECTS_TOTAL: Spec = Spec {
    name: "mlsteward_probe_reconnects_total",
    metric_type: MetricType::Counter,
    group: "probes",
    labels: &["asset", "target"],
    help: Help::Text(
        "Probes sent over a new connection because the server closed the kept one (their latency includes connecting).",
    ),
};

pub static PROBE_SUCCESS: Spec = Spec {
    name: "mlsteward_probe_success",
    metric_type: MetricType::Gauge,
    group: "probes",
    labels: &["asset", "target"],
    help: Help::Text("1 if the target's last probe was ok, else 0."),
};

pub static PROBE_VALUE_AGE_SECONDS: Spec = Spec {
    name: "mlsteward_probe_value_age_seconds",
    metric_type: MetricType::Gauge,
    group: "probes",
    labels: &["asset", "target"],
    help: Help::Text(
        "Age of the oldest value the target's last answered probe returned (probe time minus the value's event time).",
    ),
};

pub static PROBE_FEATURE_VIEW_VALUE_AGE_SECONDS: Spec = Spec {
    name: "mlsteward_probe_feature_view_value_age_seconds",
    metric_type: MetricType::Gauge,
    group: "probes",
    labels: &["asset", "target", "feature_view"],
    help: Help::Text(
        "Age of the oldest value of each feature view in the target's last answered probe (Feast probes: probe time minus the value's event time); mlsteward_probe_value_age_seconds is the oldest over the views.",
    ),
};

pub static PROBE_LATENCY_P95_BASELINE_SECONDS: Spec = Spec {
    name: "mlsteward_probe_latency_p95_baseline_seconds",
    metric_type: MetricType::Gauge,
    group: "probes",
    labels: &["asset", "target"],
    help: Help::Text(
        "Median of the daily p95 latencies (nearest rank, answered probes) over the `baseline.days` UTC days before today (default 28); absent with fewer than `baseline.min_days` (default 7) days that have a value.",
    ),
};

pub static PROBE_LATENCY_P95_SECONDS: Spec = Spec {
    name: "mlsteward_probe_latency_p95_seconds",
    metric_type: MetricType::Gauge,
    group: "probes",
    labels: &["asset", "target"],
    help: Help::Text(
        "The p95 latency (nearest rank) of the target's answered probes sent at or after 24 hours before the last derivation's time step (the newest stored included); absent when none was answered since.",
    ),
};

pub static PROBE_LATENCY_TARGET_SECONDS: Spec = Spec {
    name: "mlsteward_probe_latency_target_seconds",
    metric_type: MetricType::Gauge,
    group: "probes",
    labels: &["asset", "target"],
    help: Help::Text("The target's configured latency target (`latency_target`), for the p95."),
};

pub static MODEL_CHECK: Spec = Spec {
    name: "mlsteward_model_check",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset", "check"],
    help: Help::Text(
        "Governance checks of a model, 1 passed or 0 failed. MLflow: has_description, has_owner (the asset has an owner: the catalog's, CODEOWNERS's or the first owner tag present, as mlsteward_asset_owned), has_model_card (a description of at least model_card_min_chars characters), has_license (the license tag), champion_from_finished_run (the `champion` alias, else the newest Production version, comes from a FINISHED run). Hugging Face: has_model_card (a README.md), has_license (card metadata or a license: tag).",
    ),
};

pub static MODEL_DESCRIPTION_CHARS: Spec = Spec {
    name: "mlsteward_model_description_chars",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset"],
    help: Help::Text(
        "Length of the model's description (its model card in MLflow), in characters (Unicode scalar values).",
    ),
};

pub static MODEL_VERSIONS: Spec = Spec {
    name: "mlsteward_model_versions",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset"],
    help: Help::Text("Versions of the registered model (MLflow)."),
};

pub static MODEL_VERSIONS_UNATTRIBUTED: Spec = Spec {
    name: "mlsteward_model_versions_unattributed",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset"],
    help: Help::Text(
        "Versions of the model credited to nobody: without a run, or whose run names nobody (no `mlflow.user` tag and a `user_id` empty or `unknown`).",
    ),
};

pub static ASSET_FEATURES: Spec = Spec {
    name: "mlsteward_asset_features",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset"],
    help: Help::Text("Features of a feature view, or features a feature service projects (Feast)."),
};

pub static FEATURE_VIEW_MATERIALIZED_TIMESTAMP_SECONDS: Spec = Spec {
    name: "mlsteward_feature_view_materialized_timestamp_seconds",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset"],
    help: Help::Text(
        "Materialized up to: the largest end time over the feature view's materialization intervals (Feast).",
    ),
};

pub static ASSET_DOWNLOADS_30D: Spec = Spec {
    name: "mlsteward_asset_downloads_30d",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset"],
    help: Help::Text(
        "Usage: downloads of the model over the last 30 days, as its hub reports them (Hugging Face).",
    ),
};

pub static MODEL_LIKES: Spec = Spec {
    name: "mlsteward_model_likes",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset"],
    help: Help::Text("Likes of the model on its hub (Hugging Face)."),
};

pub static FEATURE_VIEW_TTL_SECONDS: Spec = Spec {
    name: "mlsteward_feature_view_ttl_seconds",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset"],
    help: Help::Text(
        "The feature view's time to live (Feast does not enforce it online; see the values' age).",
    ),
};

pub static MODEL_ALIAS_INFO: Spec = Spec {
    name: "mlsteward_model_alias_info",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset", "alias", "version"],
    help: Help::Text("Always 1: the model version an alias (`champion`, …) points to."),
};

pub static MODEL_VERSIONS_BY_STAGE: Spec = Spec {
    name: "mlsteward_model_versions_by_stage",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset", "stage"],
    help: Help::Text(
        "Versions of the model per stage (MLflow's None, Staging, Production, Archived).",
    ),
};

pub static ASSET_DEPENDENCY_INFO: Spec = Spec {
    name: "mlsteward_asset_dependency_info",
    metric_type: MetricType::Gauge,
    group: "registry",
    labels: &["asset", "depends_on"],
    help: Help::Text(
        "Always 1: the asset depends on `depends_on` (a feature service on the feature views it projects; a Backstage entity on its spec.dependsOn and spec.system), for Grafana's node graph.",
    ),
};

pub static REPRO_CHECKS_TOTAL: Spec = Spec {
    name: "mlsteward_repro_checks_total",
    metric_type: MetricType::Counter,
    group: "repro",
    labels: &["asset", "environment", "result"],
    help: Help::Text(
        "Reproducibility checks stored, by asset, environment and result (pass, fail): each job (matrix environment) of each finished attempt of a workflow marked as the reproducibility check.",
    ),
};

pub static REPRO_PASS_RATIO: Spec = Spec {
    name: "mlsteward_repro_pass_ratio",
    metric_type: MetricType::Gauge,
    group: "repro",
    labels: &["asset", "window"],
    help: Help::Text(
        "Passing / all reproducibility checks made in the window; absent when there were none.",
    ),
};

pub static REPRO_PASS_RATIO_BASELINE: Spec = Spec {
    name: "mlsteward_repro_pass_ratio_baseline",
    metric_type: MetricType::Gauge,
    group: "repro",
    labels: &["asset"],
    help: Help::Text(
        "Median of the asset's daily pass ratios over the `baseline.days` UTC days before today (default 28); absent with fewer than `baseline.min_days` (default 7) days that have a value.",
    ),
};

pub static ASSET_REPRODUCIBILITY_TARGET: Spec = Spec {
    name: "mlsteward_asset_reproducibility_target",
    metric_type: MetricType::Gauge,
    group: "repro",
    labels: &["asset"],
    help: Help::Text(
        "The asset's reproducibility target from the catalog (`targets.reproducibility`).",
    ),
};

pub static ASSET_LAST_RELEASE_TIMESTAMP_SECONDS: Spec = Spec {
    name: "mlsteward_asset_last_release_timestamp_seconds",
    metric_type: MetricType::Gauge,
    group: "responses",
    labels: &["asset"],
    help: Help::Text(
        "Publication time of the newest published release of the asset's repositories that is neither a draft nor a prerelease.",
    ),
};

pub static FIRST_RESPONSE_SECONDS: Spec = Spec {
    name: "mlsteward_first_response_seconds",
    metric_type: MetricType::Histogram,
    group: "responses",
    labels: &["asset", "kind"],
    help: Help::Text(
        "Time from opening an issue or pull request (opened by a person) to its first comment, review or inline review comment by a human other than the author; answered items only.",
    ),
};

pub static ASSET_RESPONSE_OBJECTIVE_SECONDS: Spec = Spec {
    name: "mlsteward_asset_response_objective_seconds",
    metric_type: MetricType::Gauge,
    group: "responses",
    labels: &["asset"],
    help: Help::Text(
        "The asset's response objective: the catalog's `response_objective`, else 2 days.",
    ),
};

pub static RESPONSES_WITHIN_OBJECTIVE_RATIO: Spec = Spec {
    name: "mlsteward_responses_within_objective_ratio",
    metric_type: MetricType::Gauge,
    group: "responses",
    labels: &["asset", "window"],
    help: Help::Text(
        "Among items opened in the window: answered within the objective / (all answered + unanswered ones whose objective has elapsed); absent when there are none.",
    ),
};

pub static RESPONSES_WITHIN_OBJECTIVE_RATIO_BASELINE: Spec = Spec {
    name: "mlsteward_responses_within_objective_ratio_baseline",
    metric_type: MetricType::Gauge,
    group: "responses",
    labels: &["asset"],
    help: Help::Text(
        "Median of the daily shares within the objective (items by the day they were opened) over the `baseline.days` UTC days before today (default 28); absent with fewer than `baseline.min_days` (default 7) days that have a value.",
    ),
};

pub static ASSET_RESPONSES_WITHIN_OBJECTIVE_TARGET: Spec = Spec {
    name: "mlsteward_asset_responses_within_objective_target",
    metric_type: MetricType::Gauge,
    group: "responses",
    labels: &["asset"],
    help: Help::Text(
        "The asset's target for the share within the objective, from the catalog (`targets.responses_within_objective`).",
    ),
};

pub static ITEMS_WAITING_BEYOND_OBJECTIVE: Spec = Spec {
    name: "mlsteward_items_waiting_beyond_objective",
    metric_type: MetricType::Gauge,
    group: "responses",
    labels: &["asset", "kind"],
    help: Help::Text("Open items with no response yet, older than the asset's objective, by kind."),
};

pub static SHARD_PEER_UP: Spec = Spec {
    name: "mlsteward_shard_peer_up",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &["peer_shard"],
    help: Help::Text(
        "1 if the last request for this peer replica's people summary (--shard.peers) succeeded, 0 if it failed or none was made yet; a failed peer's last summary stays in use.",
    ),
};

pub static SHARD_PEER_LAST_SUCCESS_TIMESTAMP_SECONDS: Spec = Spec {
    name: "mlsteward_shard_peer_last_success_timestamp_seconds",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &["peer_shard"],
    help: Help::Text(
        "When this peer replica last answered the request for its people summary; absent until it first does.",
    ),
};

pub static COLLECTOR_SUCCESS: Spec = Spec {
    name: "mlsteward_collector_success",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &["collector", "source"],
    help: Help::Text(
        "1 if the source's last collection succeeded, 0 if it failed; absent until its first collection ends.",
    ),
};

pub static COLLECTOR_DURATION_SECONDS: Spec = Spec {
    name: "mlsteward_collector_duration_seconds",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &["collector", "source"],
    help: Help::Text(
        "Wall-clock duration of the source's last collection, including storing its facts.",
    ),
};

pub static COLLECTOR_LAST_SUCCESS_TIMESTAMP_SECONDS: Spec = Spec {
    name: "mlsteward_collector_last_success_timestamp_seconds",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &["collector", "source"],
    help: Help::Text(
        "When the source last collected successfully (persisted across restarts). Every other metric of the source is cached as of this time, and the derived ones reflect it once mlsteward_snapshot_timestamp_seconds is at or after it.",
    ),
};

pub static COLLECTOR_ERRORS_TOTAL: Spec = Spec {
    name: "mlsteward_collector_errors_total",
    metric_type: MetricType::Counter,
    group: "self",
    labels: &["collector", "source", "error_kind"],
    help: Help::Computed(ErrorKind::help),
};

pub static COLLECTOR_INTERVAL_SECONDS: Spec = Spec {
    name: "mlsteward_collector_interval_seconds",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &["collector", "source"],
    help: Help::Text(
        "The source's configured schedule period: its interval, or the time between its cron expression's next two firings.",
    ),
};

pub static COLLECTOR_SKIPPED_TOTAL: Spec = Spec {
    name: "mlsteward_collector_skipped_total",
    metric_type: MetricType::Counter,
    group: "self",
    labels: &["collector", "source"],
    help: Help::Text(
        "Scheduled collections skipped because the previous one (e.g. a timed-out one) had not finished yet.",
    ),
};

pub static DISCOVERED_REPOSITORIES: Spec = Spec {
    name: "mlsteward_discovered_repositories",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &["source", "state"],
    help: Help::Text(
        "Repositories a git_discovery source has found, by state: active (mined as a git source named after its path), removed (it disappeared, was archived or is now excluded: no longer collected, its mirror deleted, its stored facts kept until the source's retention) or forgotten (removed longer than the retention: its facts were dropped).",
    ),
};

pub static STORE_HEALTHY: Spec = Spec {
    name: "mlsteward_store_healthy",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &[],
    help: Help::Text(
        "1 if the fact store is usable: its start-up check found no damage, its file is still the one the daemon opened, and its last read and write succeeded; 0 otherwise (the last good metrics keep being served; see the landing page and logs for why).",
    ),
};

pub static BUILD_INFO: Spec = Spec {
    name: "mlsteward_build_info",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &["version"],
    help: Help::Text("Always 1; labels name the running build."),
};

pub static CONFIG_LAST_RELOAD_SUCCESSFUL: Spec = Spec {
    name: "mlsteward_config_last_reload_successful",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &[],
    help: Help::Text(
        "1 if the last attempt to reload the configuration (SIGHUP or POST /-/reload) succeeded, or none was made; 0 if it failed and the previous configuration stays in force.",
    ),
};

pub static CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS: Spec = Spec {
    name: "mlsteward_config_last_reload_success_timestamp_seconds",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &[],
    help: Help::Text(
        "When the configuration in force was loaded: start-up, or the last successful reload.",
    ),
};

pub static SHARD_INFO: Spec = Spec {
    name: "mlsteward_shard_info",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &["shard", "shards"],
    help: Help::Text(
        "Always 1: this replica's shard (0-based) of how many (`--shard K/N`). It exports only the assets and git sources it owns; shard 0 also exports the organisation-wide distinct-people families once it has every peer's people summary (`--shard.peers`).",
    ),
};

pub static UPSTREAM_REQUESTS_TOTAL: Spec = Spec {
    name: "mlsteward_upstream_requests_total",
    metric_type: MetricType::Counter,
    group: "self",
    labels: &["collector", "source", "code"],
    help: Help::Text(
        "HTTP requests to the source's upstream since the process started, by status code (`error`: no answer). A 304 answers a conditional request and is not billed by GitHub.",
    ),
};

pub static UPSTREAM_REQUEST_DURATION_SECONDS: Spec = Spec {
    name: "mlsteward_upstream_request_duration_seconds",
    metric_type: MetricType::Histogram,
    group: "self",
    labels: &["collector", "source"],
    help: Help::Text(
        "Time from sending a request to the source's upstream to reading its whole answer, for requests that got one.",
    ),
};

pub static UPSTREAM_RATE_LIMIT_REMAINING: Spec = Spec {
    name: "mlsteward_upstream_rate_limit_remaining",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &["collector", "source"],
    help: Help::Text(
        "Requests left in the upstream's rate-limit budget, as its last answer stated (x-ratelimit-remaining or ratelimit-remaining); absent when it states none.",
    ),
};

pub static DERIVE_DURATION_SECONDS: Spec = Spec {
    name: "mlsteward_derive_duration_seconds",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &["group"],
    help: Help::Text(
        "Wall-clock time of the metric group's last derivation (reading its facts and computing its families); group `credits` is the read of the people and the per-person credit totals that the contributions and activity groups share. A group derives again only when facts it reads or the configuration changed, or, for the groups that depend on time, at each time step.",
    ),
};

pub static DERIVATIONS_TOTAL: Spec = Spec {
    name: "mlsteward_derivations_total",
    metric_type: MetricType::Counter,
    group: "self",
    labels: &["group"],
    help: Help::Text(
        "Derivations of the metric group since the process started (see mlsteward_derive_duration_seconds for the groups).",
    ),
};

pub static RENDER_DURATION_SECONDS: Spec = Spec {
    name: "mlsteward_render_duration_seconds",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &[],
    help: Help::Text(
        "Wall-clock time of the last render of the derived families: deriving the dirty groups, rendering and compressing what changed, and joining the parts.",
    ),
};

pub static RENDERS_TOTAL: Spec = Spec {
    name: "mlsteward_renders_total",
    metric_type: MetricType::Counter,
    group: "self",
    labels: &[],
    help: Help::Text(
        "Renders of the derived families since the process started: one per batch of pending dirty signals that changed something derived, and one per time step.",
    ),
};

pub static RENDER_SIGNALS_COALESCED_TOTAL: Spec = Spec {
    name: "mlsteward_render_signals_coalesced_total",
    metric_type: MetricType::Counter,
    group: "self",
    labels: &[],
    help: Help::Text(
        "Dirty signals (a collection's written facts, a reload that changed the configuration, a peer's changed people summary) that joined a render another pending signal had already asked for: a render that takes n pending signals adds n - 1.",
    ),
};

pub static SNAPSHOT_BYTES: Spec = Spec {
    name: "mlsteward_snapshot_bytes",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &[],
    help: Help::Text(
        "Size of the served exposition in the text format, uncompressed, these self metrics included.",
    ),
};

pub static SNAPSHOT_SERIES: Spec = Spec {
    name: "mlsteward_snapshot_series",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &[],
    help: Help::Text(
        "Samples in the served exposition (histogram buckets, sums and counts each count), these self metrics included.",
    ),
};

pub static SNAPSHOT_TIMESTAMP_SECONDS: Spec = Spec {
    name: "mlsteward_snapshot_timestamp_seconds",
    metric_type: MetricType::Gauge,
    group: "self",
    labels: &[],
    help: Help::Text(
        "The derived families served reflect every fact stored before this time: when the last render ran, or the last collection that changed nothing derived ended (0 before the first render). Self metrics are rendered at most a second before the scrape.",
    ),
};

pub static WEBHOOK_REQUESTS_TOTAL: Spec = Spec {
    name: "mlsteward_webhook_requests_total",
    metric_type: MetricType::Counter,
    group: "self",
    labels: &["forge", "result"],
    help: Help::Text(
        "Webhook requests since the process started, by forge and result: accepted (a source covering the named repository was woken to collect it), duplicate (a redelivery of an event already taken), ignored (authentic, but no repository of a source, or a ping), unauthorized (unsigned or badly signed: nothing collected), too_large (body over 5 MiB), bad_request (not JSON, or not all of it within the deadline). Refusals are counted without deriving anything: the counts show with the next render.",
    ),
};

pub static ALL: &[&Spec] = &[
    &ASSET_ACTIVE_CONTRIBUTORS,
    &ASSET_NEW_CONTRIBUTORS,
    &ACTIVE_CONTRIBUTORS,
    &NEW_CONTRIBUTORS,
    &ASSET_CONTRIBUTOR_ABSENCE_FACTOR,
    &CI_RUNS_TOTAL,
    &CI_RUN_DURATION_SECONDS,
    &CI_SUCCESS_RATIO,
    &CI_SUCCESS_RATIO_BASELINE,
    &CI_LAST_SUCCESS_TIMESTAMP_SECONDS,
    &CI_LAST_FAILURE_TIMESTAMP_SECONDS,
    &CI_FAILING_SINCE_TIMESTAMP_SECONDS,
    &CI_FLAKY_RUNS_TOTAL,
    &CI_RECOVERY_SECONDS,
    &ASSET_BUILD_SUCCESS_RATIO,
    &ASSET_BUILD_SUCCESS_RATIO_BASELINE,
    &ASSET_BUILD_SUCCESS_TARGET,
    &CI_COVERAGE_RATIO,
    &CI_TESTS,
    &CONTRIBUTIONS_TOTAL,
    &CREDITED_COMMITS_TOTAL,
    &GIT_COMMITS,
    &GIT_COMMITS_WITHOUT_BLOBS,
    &GIT_SHALLOW,
    &GIT_CODEOWNERS_INVALID_LINES,
    &ASSET_COVERAGE_RATIO,
    &ASSET_BRANCH_COVERAGE_RATIO,
    &ASSET_COVERAGE_RATIO_BASELINE,
    &ASSET_COVERAGE_TARGET,
    &ASSET_COVERAGE_COMMIT_INFO,
    &ASSET_INFO,
    &ASSET_OWNED,
    &ASSET_OWNERSHIP_CONFLICT,
    &ASSET_STEWARD_INFO,
    &ASSET_FILES,
    &ASSET_LAST_UPDATE_TIMESTAMP_SECONDS,
    &ASSET_DEPRECATION_CANDIDATE,
    &PROBES_TOTAL,
    &PROBE_DURATION_SECONDS,
    &PROBE_RECONNECTS_TOTAL,
    &PROBE_SUCCESS,
    &PROBE_VALUE_AGE_SECONDS,
    &PROBE_FEATURE_VIEW_VALUE_AGE_SECONDS,
    &PROBE_LATENCY_P95_SECONDS,
    &PROBE_LATENCY_P95_BASELINE_SECONDS,
    &PROBE_LATENCY_TARGET_SECONDS,
    &MODEL_CHECK,
    &MODEL_DESCRIPTION_CHARS,
    &MODEL_VERSIONS,
    &MODEL_VERSIONS_UNATTRIBUTED,
    &ASSET_FEATURES,
    &FEATURE_VIEW_MATERIALIZED_TIMESTAMP_SECONDS,
    &ASSET_DOWNLOADS_30D,
    &MODEL_LIKES,
    &FEATURE_VIEW_TTL_SECONDS,
    &MODEL_ALIAS_INFO,
    &MODEL_VERSIONS_BY_STAGE,
    &ASSET_DEPENDENCY_INFO,
    &REPRO_CHECKS_TOTAL,
    &REPRO_PASS_RATIO,
    &REPRO_PASS_RATIO_BASELINE,
    &ASSET_REPRODUCIBILITY_TARGET,
    &ASSET_LAST_RELEASE_TIMESTAMP_SECONDS,
    &FIRST_RESPONSE_SECONDS,
    &ASSET_RESPONSE_OBJECTIVE_SECONDS,
    &RESPONSES_WITHIN_OBJECTIVE_RATIO,
    &RESPONSES_WITHIN_OBJECTIVE_RATIO_BASELINE,
    &ASSET_RESPONSES_WITHIN_OBJECTIVE_TARGET,
    &ITEMS_WAITING_BEYOND_OBJECTIVE,
    &SHARD_PEER_UP,
    &SHARD_PEER_LAST_SUCCESS_TIMESTAMP_SECONDS,
    &COLLECTOR_SUCCESS,
    &COLLECTOR_DURATION_SECONDS,
    &COLLECTOR_LAST_SUCCESS_TIMESTAMP_SECONDS,
    &COLLECTOR_ERRORS_TOTAL,
    &COLLECTOR_INTERVAL_SECONDS,
    &COLLECTOR_SKIPPED_TOTAL,
    &DISCOVERED_REPOSITORIES,
    &STORE_HEALTHY,
    &BUILD_INFO,
    &CONFIG_LAST_RELOAD_SUCCESSFUL,
    &CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP_SECONDS,
    &SHARD_INFO,
    &UPSTREAM_REQUESTS_TOTAL,
    &UPSTREAM_REQUEST_DURATION_SECONDS,
    &UPSTREAM_RATE_LIMIT_REMAINING,
    &DERIVE_DURATION_SECONDS,
    &DERIVATIONS_TOTAL,
    &RENDER_DURATION_SECONDS,
    &RENDERS_TOTAL,
    &RENDER_SIGNALS_COALESCED_TOTAL,
    &SNAPSHOT_BYTES,
    &SNAPSHOT_SERIES,
    &SNAPSHOT_TIMESTAMP_SECONDS,
    &WEBHOOK_REQUESTS_TOTAL,
];

/// The definition of the family named `name`.
pub fn spec(name: &str) -> Option<&'static Spec> {
    ALL.iter().copied().find(|s| s.name == name)
}

/// The metrics reference: one table per group, every family with its type, labels and
/// definition (what `docs/metrics.md` holds between its markers).
pub fn markdown_table() -> String {
    let mut out =
        String::from("| metric | type | group | labels | definition |\n|---|---|---|---|---|\n");
    for s in ALL {
        let kind = match s.metric_type {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        };
        out.push_str(&format!(
            "| `{}` | {kind} | {} | {} | {} |\n",
            s.name,
            s.group,
            s.labels.join(", "),
            s.help().replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_prefixed_and_typed_by_suffix() {
        let mut seen = std::collections::BTreeSet::new();
        for s in ALL {
            assert!(seen.insert(s.name), "{} twice", s.name);
            assert!(s.name.starts_with("mlsteward_"), "{}", s.name);
            assert_eq!(
                s.name.ends_with("_total"),
                s.metric_type == MetricType::Counter,
                "{}: _total is for counters only",
                s.name
            );
            assert!(!s.help().is_empty(), "{}", s.name);
        }
    }
}
