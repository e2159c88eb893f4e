//! The data model between collectors and the store: what a collection found out.
//!
//! A collection returns a [`Collection`]: its source, its fact sets and its new cursors.
//! Collectors build these values; they never see the store. The store applies a whole
//! collection (or one batch of a long one) in one transaction, each fact set by the store module
//! of its type, keyed by natural identity (repository + commit sha, …), so applying the same
//! facts twice stores them once. Fact types are shared by sources: every forge will produce the
//! same `CiRuns`, as every git source produces `GitHistory`.

use std::collections::BTreeMap;

/// Everything one collection (or one stored batch of it) of one source produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Collection {
    /// The source name; facts are stored under it.
    pub source: String,
    pub sets: Vec<FactSet>,
    /// Replaces the source's cursors when the facts are committed.
    pub cursors: Cursors,
}

/// One kind of fact, as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub enum FactSet {
    /// Mined commits: credits, reverts, signers (git).
    GitHistory(GitHistory),
    /// Ownership and files at the branch tip; replaces the previous snapshot (git).
    Ownership(OwnershipSnapshot),
    /// Finished CI run attempts and the repositories they belong to (every forge).
    CiRuns(CiRuns),
    /// Reproducibility checks (a CI workflow's jobs; MLflow runs compared with a reference).
    ReproChecks(Vec<ReproCheck>),
    /// Pull requests and issues, their first responses and the credits they earn (forges).
    ForgeItems(ForgeItems),
    /// Coverage reports that changed since the last collection.
    CoverageReports(Vec<CoverageReport>),
    /// Probes of serving endpoints (feature servers, model servers, any HTTP endpoint).
    ProbeSamples(Vec<ProbeSample>),
    /// What a registry holds now (models, feature views); replaces the source's previous one.
    Registry(RegistrySnapshot),
}

impl FactSet {
    /// The type of these facts: the store module that keeps them, and what derive groups read.
    pub fn fact_type(&self) -> FactType {
        match self {
            FactSet::GitHistory(_) => FactType::GitHistory,
            FactSet::Ownership(_) => FactType::Ownership,
            FactSet::CiRuns(_) => FactType::Ci,
            FactSet::ReproChecks(_) => FactType::Repro,
            FactSet::ForgeItems(_) => FactType::ForgeItems,
            FactSet::CoverageReports(_) => FactType::Coverage,
            FactSet::ProbeSamples(_) => FactType::Probes,
            FactSet::Registry(_) => FactType::Registry,
        }
    }
}

/// The types of facts the store keeps, one store module each. Derive groups declare which they
/// read, and storing a collection reports which it changed, so only those groups derive again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FactType {
    GitHistory,
    Ownership,
    Ci,
    Repro,
    ForgeItems,
    Coverage,
    Probes,
    Registry,
}

impl FactType {
    pub const ALL: [FactType; 8] = [
        FactType::GitHistory,
        FactType::Ownership,
        FactType::Ci,
        FactType::Repro,
        FactType::ForgeItems,
        FactType::Coverage,
        FactType::Probes,
        FactType::Registry,
    ];
}

/// Persisted per-source state handed back to the next collection (e.g. the last mined tip).
pub type Cursors = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct GitHistory {
    /// Drop every stored fact of this repository before applying the rest (first mining after a
    /// change to the rules that shape facts, or history that cannot be related to the cursor).
    pub reset: bool,
    /// Commits that are no longer reachable from the mined branch (rewritten history).
    pub dropped: Vec<String>,
    /// Newly mined commits.
    pub commits: Vec<CommitFact>,
    /// Identities seen in this collection, by person key.
    pub people: Vec<Person>,
    /// The repository is a shallow clone: history starts at its boundary commits.
    pub shallow: bool,
}

/// Why a commit earns credit or not. Reverts are facts of their own ([`CommitFact::reverts`])
/// because a later commit can revert an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommitOutcome {
    Credited,
    Merge,
    Bot,
    OptedOut,
    WhitespaceOnly,
    /// Changes no file (gitlinks aside).
    Empty,
    /// The commit object cannot be read (no author line, a time that overflows): skipped.
    Unreadable,
    /// The oldest commit of a shallow clone: its parent is absent, so it cannot be diffed.
    ShallowBoundary,
}

impl CommitOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CommitOutcome::Credited => "credited",
            CommitOutcome::Merge => "merge",
            CommitOutcome::Bot => "bot",
            CommitOutcome::OptedOut => "opted_out",
            CommitOutcome::WhitespaceOnly => "whitespace_only",
            CommitOutcome::Empty => "empty",
            CommitOutcome::Unreadable => "unreadable",
            CommitOutcome::ShallowBoundary => "shallow_boundary",
        }
    }
}

/// Every outcome `mlsteward_git_commits` reports, in exposition order: the stored outcomes plus
/// `revert` and `reverted`, which derive computes from the revert edges.
pub const COMMIT_OUTCOMES: [&str; 10] = [
    "credited",
    "merge",
    "bot",
    "opted_out",
    "whitespace_only",
    "empty",
    "unreadable",
    "shallow_boundary",
    "revert",
    "reverted",
];

#[derive(Debug, Clone, PartialEq)]
pub struct CommitFact {
    /// Full hex object id.
    pub sha: String,
    /// Committer time, seconds since the epoch: when the work landed.
    pub committed_at: i64,
    pub outcome: CommitOutcome,
    /// Assets with at least one file this commit changed (merges: none).
    pub assets: Vec<String>,
    /// Credits this commit earns if it is not reverted and is not itself a revert.
    pub credits: Vec<Credit>,
    /// The commits this one reverts: each `This reverts commit <id>` line naming an ancestor
    /// on the mined branch that changed a path this commit also changes. Empty: not a revert.
    pub reverts: Vec<String>,
    /// The author, then the co-authors, as they signed (people only: no bots, no opt-outs).
    /// Identity unification and display names are computed from these over all repositories.
    pub signers: Vec<Signer>,
    /// Some blob the whitespace check or a changelog needed is absent (a partial clone): those
    /// checks were skipped for this commit.
    pub blobs_missing: bool,
}

/// One author or co-author signature of a commit, after `.mailmap` and the identity file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signer {
    /// Person key (see [`Person::key`]).
    pub person: String,
    /// The name as written after `.mailmap` and the identity file.
    pub name: String,
    /// The email as written in the commit, before `.mailmap` and the identity file.
    pub raw_email: String,
    /// What mapped `raw_email` to `person`: `mailmap`, `identity_file`, or empty for nothing.
    pub via: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Credit {
    pub asset: String,
    /// Person key (see [`Person::key`]).
    pub person: String,
    /// `code`, `docs`, … for authored work; `review`, `testing`, `report`, `suggestion`,
    /// `changelog_mention` for the rest.
    pub kind: String,
    /// True for the author and co-authors: they wrote the commit.
    pub authored: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Person {
    /// The canonical email as written (after `.mailmap` and the identity file), `handle:<login>`
    /// (lower-cased) for people known only by a GitHub handle, or `name:<name>` without email.
    pub key: String,
    /// Canonical display name.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnershipSnapshot {
    /// Per asset of this repository, the files its globs match at the branch tip.
    pub asset_files: Vec<(String, u64)>,
    /// Per asset, each distinct owner set CODEOWNERS assigns to the asset's files
    /// (owners normalised and joined with `,`). Files nobody owns are left out.
    pub asset_owners: Vec<(String, Vec<String>)>,
    /// The owners of the default rule (`*`), normalised and joined with `,`, when CODEOWNERS
    /// has one.
    pub default_owners: Option<String>,
    /// CODEOWNERS lines that were ignored: (1-based line, reason).
    pub invalid_lines: Vec<(u32, String)>,
}

/// CI facts of one collection of a forge source (GitHub Actions, GitLab pipelines, Jenkins).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CiRuns {
    /// Every repository (project, job) the source covers, with its default branch; replaces
    /// the source's previous list.
    pub repositories: Vec<CiRepository>,
    /// Finished attempts; an attempt already stored is replaced, never counted twice.
    pub attempts: Vec<CiAttempt>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CiRepository {
    /// `owner/name` on GitHub, the project path on GitLab, the job's full name on Jenkins.
    pub name: String,
    pub default_branch: String,
}

/// One finished attempt of a CI run. A GitHub re-run is a new attempt of the same run, and so
/// is a GitLab pipeline finishing again after a retry; a Jenkins rebuild is a new run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CiAttempt {
    pub repository: String,
    /// The workflow (GitHub), `pipeline` (GitLab) or job (Jenkins).
    pub pipeline: String,
    pub run_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub branch: String,
    pub sha: String,
    pub event: String,
    /// The person key of who triggered it, after identity resolution (empty: unknown or a bot).
    pub actor: String,
    /// One of [`CI_RESULTS`].
    pub result: String,
    pub started_at: i64,
    pub completed_at: i64,
    /// Seconds it ran, in the upstream's precision (Jenkins gives milliseconds); `None` for a
    /// run that never started (a skipped GitLab pipeline).
    pub duration: Option<f64>,
    /// Line coverage the run reported, as a ratio from 0 to 1 (GitLab's pipeline coverage).
    pub coverage: Option<f64>,
    /// (total, failed, skipped) tests of the run's test report, when it has one (Jenkins).
    pub tests: Option<(u64, u64, u64)>,
}

/// The result vocabulary every forge maps onto (GitHub's conclusions, plus Jenkins's
/// `unstable`, and `other` for anything unknown). Failure-like and neutral results are as
/// [`ci_class`] says.
pub const CI_RESULTS: [&str; 11] = [
    "success",
    "failure",
    "timed_out",
    "startup_failure",
    "unstable",
    "cancelled",
    "skipped",
    "neutral",
    "action_required",
    "stale",
    "other",
];

/// How a result counts in ratios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiClass {
    Success,
    /// `failure`, `timed_out`, `startup_failure`, `unstable`.
    Failure,
    /// Counted by result, never in a ratio, never starts or ends a failing streak.
    Neutral,
}

pub fn ci_class(result: &str) -> CiClass {
    match result {
        "success" => CiClass::Success,
        "failure" | "timed_out" | "startup_failure" | "unstable" => CiClass::Failure,
        _ => CiClass::Neutral,
    }
}

/// One reproducibility check: one environment of one finished attempt of a workflow marked as
/// the reproducibility check (each matrix job), or one run compared with its group's reference.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReproCheck {
    /// The repository (or registry) the check belongs to; its asset is resolved from it.
    pub repository: String,
    /// Unique within the repository (`run#attempt#job`).
    pub check_id: String,
    /// The matrix value (`linux-py310`), else the job's name.
    pub environment: String,
    pub passed: bool,
    pub checked_at: i64,
}

/// Pull requests and issues read in one collection of a forge source. Each item read replaces
/// what was stored about it, its credits included (a dismissed review loses its credit).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForgeItems {
    pub items: Vec<ForgeItem>,
    pub credits: Vec<ForgeCredit>,
    /// Identities seen, by person key (`handle:login`).
    pub people: Vec<Person>,
    /// Published releases read; each replaces what was stored of it, its credits included.
    pub releases: Vec<ForgeRelease>,
}

/// A published, non-draft release. Its `changelog_mention` credits carry the release's id,
/// negated, as their item number (pull requests have positive numbers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForgeRelease {
    pub repository: String,
    pub id: u64,
    pub tag: String,
    pub published_at: i64,
    pub prerelease: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForgeItem {
    pub repository: String,
    /// `pull_request` or `issue`.
    pub kind: String,
    pub number: u64,
    /// The author's person key; empty for a bot (bot-opened items are not items) or someone
    /// who opted out.
    pub author: String,
    pub opened_at: i64,
    /// The first comment, review or inline review comment by a human other than the author.
    pub first_response_at: Option<i64>,
    pub closed_at: Option<i64>,
}

/// A credit a forge item earns: `pull_request` (its author, once merged into the default
/// branch) or `review` (an approval or a review with content before the merge).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForgeCredit {
    pub repository: String,
    /// The pull request's number, or a release's id negated.
    pub number: i64,
    pub person: String,
    pub kind: String,
    pub at: i64,
}

/// One coverage report of an asset: line and branch coverage (0 to 1), when it was made, and
/// the commit it belongs to when its origin knows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CoverageReport {
    pub asset: String,
    pub at: i64,
    pub line: Option<f64>,
    pub branch: Option<f64>,
    pub commit: String,
}

/// The outcomes a probe can have: `ok` or one failure reason.
pub const PROBE_RESULTS: [&str; 7] = [
    "ok",
    "timeout",
    "connect",
    "http_4xx",
    "http_5xx",
    "bad_body",
    "values_missing",
];

/// One probe of one target.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProbeSample {
    /// The probe's name in the config (a bounded label).
    pub target: String,
    pub asset: String,
    /// When the probe was sent, in milliseconds since the epoch (its identity).
    pub at_ms: i64,
    /// One of [`PROBE_RESULTS`].
    pub result: String,
    /// From sending the request to reading the whole body, for probes that got an answer.
    pub latency: Option<f64>,
    /// The age of the oldest value returned (feature servers), in seconds.
    pub value_age: Option<f64>,
    /// The age of the oldest value of each feature view returned (Feast), by view.
    pub view_ages: Vec<(String, f64)>,
    /// The request went over a new connection although one was kept (the server closed it).
    pub reconnected: bool,
}

/// The assets a registry (MLflow, Feast, Hugging Face) holds, as of one collection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegistrySnapshot {
    pub assets: Vec<RegistryAsset>,
    /// Governance checks: (asset, check name, passed).
    pub checks: Vec<(String, String, bool)>,
    /// Numbers per asset with a fixed name (`versions`, `unattributed_versions`, `features`,
    /// `downloads_30d`, `likes`, …): (asset, name, value).
    pub numbers: Vec<(String, String, f64)>,
    /// Dependencies between assets: (asset, depends on).
    pub edges: Vec<(String, String)>,
    /// Named values per asset (`alias:champion` → `3`): (asset, name, value).
    pub labels: Vec<(String, String, String)>,
}

impl RegistrySnapshot {
    /// Keeps only what concerns the assets `keep` accepts (a sharded replica's own): the
    /// assets, and the checks, numbers, dependencies and labels of those assets.
    pub fn retain_assets(&mut self, keep: impl Fn(&str) -> bool) {
        self.assets.retain(|a| keep(&a.id));
        self.checks.retain(|(a, ..)| keep(a));
        self.numbers.retain(|(a, ..)| keep(a));
        self.edges.retain(|(a, _)| keep(a));
        self.labels.retain(|(a, ..)| keep(a));
    }
}

/// One asset as its registry describes it; the config's catalog overrides it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegistryAsset {
    pub id: String,
    /// `model`, `feature_view`, `feature_service`.
    pub kind: String,
    pub owner: Option<String>,
    pub stewards: Vec<String>,
    pub lifecycle: Option<String>,
    /// In seconds since the epoch, in the registry's precision (MLflow gives milliseconds).
    pub updated_at: Option<f64>,
}
