//! The `github` source: GitHub Actions workflow runs of the configured repositories (or of
//! every repository of an organisation), as `CiRuns` facts. GitHub Enterprise is the same API
//! under another `api_url`.
//!
//! A collection asks, per repository, for the first page of runs created since the
//! repository's watermark, conditionally on the validators of the last answer: with no new
//! activity that is one 304 per repository, which GitHub does not bill. When the page changed,
//! it reads the following pages (at most `max_pages`), the repository's default branch, and
//! each earlier attempt of a re-run it has not read yet. Runs still in progress are not facts;
//! the watermark stays at or before the oldest of them, so they are read again until they
//! finish. The watermark trails the newest run by [`RERUN_LOOKBACK`], so that a re-run of a
//! recent run is seen too.

mod items;
pub mod parse;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::collector::{CollectContext, CollectError};
use crate::config::{Secret, Section};
use crate::facts::{
    ci_class, CiAttempt, CiClass, CiRepository, CiRuns, Collection, Cursors, FactSet, ForgeItems,
    ReproCheck,
};
use crate::people::People;
use crate::sources::forge::{self, day, decode_error, urlencode, ForgeSettings};
use crate::sources::http::{Auth, Client, Fetched, Validators};
use crate::sources::{Collecting, Config as SourcesConfig, Kind, KindSettings, Source};
use parse::Run;

/// How far behind the newest run the watermark stays, so re-runs of recent runs are read.
pub const RERUN_LOOKBACK: Duration = Duration::from_secs(3 * 86_400);
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// The keys a `github` source reads (beside the forge keys).
/// The `github` source kind.
pub const KIND: Kind = Kind {
    name: "github",
    keys: &[KEYS, forge::KEYS, forge::WEBHOOK_KEYS],
    decode: |s| crate::sources::settings(decode(s)),
};

pub const KEYS: &[&str] = &[
    "api_url",
    "token",
    "token_file",
    "organisation",
    "repositories",
    "reproducibility",
    "pull_requests_and_issues",
];

#[derive(Debug, Clone)]
pub struct GithubSettings {
    pub api_url: String,
    pub token: Option<Secret>,
    /// Every repository of this organisation (archived ones aside), beside `repositories`.
    pub organisation: Option<String>,
    /// `owner/name` of each repository.
    pub repositories: Vec<String>,
    /// Workflows that are reproducibility checks: each job of their runs is one check.
    pub reproducibility: Vec<String>,
    /// Read pull requests and issues (credits, first responses); default true.
    pub items: bool,
    pub forge: ForgeSettings,
}

pub fn decode(s: &mut Section) -> Option<GithubSettings> {
    let mut ok = true;
    let api_url = match s.url("api_url", &["https", "http"]) {
        Some(url) => url.expose().trim_end_matches('/').to_string(),
        None => {
            ok &= !s.has("api_url");
            DEFAULT_API_URL.to_string()
        }
    };
    let token = s.secret("token");
    let organisation = s.string("organisation");
    let repositories = s.strings("repositories").unwrap_or_default();
    let reproducibility = s.strings("reproducibility").unwrap_or_default();
    let items = s.boolean("pull_requests_and_issues").unwrap_or(true);
    for r in &repositories {
        let parts: Vec<&str> = r.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
            s.problem(
                "repositories",
                format!("`{r}` is not a repository: expected `owner/name`"),
            );
            ok = false;
        }
    }
    if organisation.is_none() && repositories.is_empty() {
        s.problem_here("a github source needs `repositories` (owner/name) or `organisation`");
        ok = false;
    }
    let webhook_secret = forge::decode_webhook_secret(s);
    let mut forge = forge::decode(s)?;
    forge.webhook_secret = webhook_secret?;
    ok.then_some(GithubSettings {
        api_url,
        token,
        organisation,
        repositories,
        reproducibility,
        items,
        forge,
    })
}

pub struct GithubCollector {
    name: String,
    settings: GithubSettings,
    client: Client,
    people: People,
}

impl KindSettings for GithubSettings {
    fn build(
        &self,
        config: &SourcesConfig,
        name: &str,
        _: &std::path::Path,
    ) -> anyhow::Result<Box<dyn Source>> {
        Ok(Box::new(GithubCollector::new(config, name, self)?))
    }

    fn asset_of_repository(&self, repository: &str) -> Option<String> {
        Some(self.forge.asset_of(repository))
    }

    fn webhook(&self) -> Option<(&'static str, &Secret)> {
        Some(("github", self.forge.webhook_secret.as_ref()?))
    }

    fn covered_repository(&self, repository: &str) -> Option<String> {
        forge::covered(&self.repositories, self.organisation.as_deref(), repository)
    }

    fn forge(&self) -> Option<&ForgeSettings> {
        Some(&self.forge)
    }
}

impl Source for GithubCollector {
    fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a> {
        let now = chrono::Utc::now().timestamp();
        Box::pin(self.collect_async(ctx, now, ctx.cancel.clone()))
    }

    fn http_stats(&self) -> Option<crate::sources::http::Stats> {
        Some(self.client.stats())
    }
}

impl GithubCollector {
    pub fn new(
        config: &crate::sources::Config,
        name: &str,
        settings: &GithubSettings,
    ) -> Result<Self, CollectError> {
        let auth = match &settings.token {
            Some(token) => Auth::Bearer(token.clone()),
            None => Auth::None,
        };
        let client = Client::new(settings.forge.http(auth))?;
        Ok(GithubCollector {
            name: name.to_string(),
            settings: settings.clone(),
            client,
            people: People::new(&config.recognition),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn collect_async(
        &self,
        ctx: &CollectContext,
        now: i64,
        cancel: CancellationToken,
    ) -> Result<Collection, CollectError> {
        let old = &ctx.cursors;
        let mut cursors = Cursors::new();
        let mut runs = CiRuns::default();
        let mut checks = Vec::new();
        let mut forge_items = ForgeItems::default();
        let listed = match &self.settings.organisation {
            None => Vec::new(),
            Some(org) => {
                let url = format!(
                    "{}/orgs/{org}/repos?per_page=100&type=all",
                    self.settings.api_url
                );
                forge::cached_listing(&self.client, &url, old, &mut cursors, &cancel, |body| {
                    Ok(parse::repositories_page(body)?
                        .into_iter()
                        .filter(|(_, _, archived)| !archived)
                        .map(|(name, _, _)| name)
                        .collect())
                })
                .await?
            }
        };
        // Sharding and webhooks narrow what is read; the others keep their facts.
        let (names, kept) = forge::repositories_to_read(
            &self.settings.repositories,
            listed,
            &self.settings.forge,
            ctx,
            &mut cursors,
        );
        runs.repositories.extend(kept);
        for name in &names {
            let repo = Repository { name, old, now };
            let (default_branch, attempts) = repo.collect(self, &mut cursors, &cancel).await?;
            checks.extend(repo.checks(self, &attempts, &mut cursors, &cancel).await?);
            let mut changed = !attempts.is_empty();
            if self.settings.items {
                let found =
                    items::collect(self, name, &default_branch, old, now, &mut cursors, &cancel)
                        .await?;
                changed |= !found.items.is_empty();
                forge_items.items.extend(found.items);
                forge_items.credits.extend(found.credits);
                forge_items.people.extend(found.people);
                items::releases(
                    self,
                    name,
                    changed,
                    old,
                    now,
                    &mut cursors,
                    &cancel,
                    &mut forge_items,
                )
                .await?;
            }
            runs.repositories.push(CiRepository {
                name: name.clone(),
                default_branch,
            });
            runs.attempts.extend(attempts);
        }
        Ok(Collection {
            source: self.name.clone(),
            sets: vec![
                FactSet::CiRuns(runs),
                FactSet::ReproChecks(checks),
                FactSet::ForgeItems(forge_items),
            ],
            cursors,
        })
    }
}

/// One repository's part of a collection.
struct Repository<'a> {
    name: &'a str,
    old: &'a Cursors,
    now: i64,
}

impl Repository<'_> {
    fn key(&self, what: &str) -> String {
        format!("{what} {}", self.name)
    }

    /// Reads the repository's new runs; returns its default branch and its finished attempts.
    async fn collect(
        &self,
        c: &GithubCollector,
        cursors: &mut Cursors,
        cancel: &CancellationToken,
    ) -> Result<(String, Vec<CiAttempt>), CollectError> {
        let api = &c.settings.api_url;
        let forge = &c.settings.forge;
        let since_key = self.key("since");
        let branch_key = self.key("default_branch");
        let since = self
            .old
            .get(&since_key)
            .cloned()
            .unwrap_or_else(|| day(self.now - forge.history.as_secs() as i64));
        // The default branch comes first on the first collection (so the runs URL is the
        // same from then on, and a 304 can answer it); later it is refreshed when runs change.
        let known_branch = match self.old.get(&branch_key) {
            Some(b) => b.clone(),
            None => self.default_branch(c, false, cursors, cancel).await?,
        };
        // With the default branch only, GitHub filters; otherwise every branch is read and the
        // globs choose. The watermark cuts the listing on this side, so the URL never changes
        // and an unchanged first page costs one unbilled 304.
        let branch_filter = match &forge.branches {
            None => format!("&branch={}", urlencode(&known_branch)),
            Some(_) => String::new(),
        };
        let url = format!(
            "{api}/repos/{}/actions/runs?per_page=100{branch_filter}",
            self.name
        );
        let since_at = forge::parse_time(&format!("{since}T00:00:00Z")).unwrap_or(i64::MIN);
        let validators = Validators::from_cursors(self.old, &url);
        let rerun_prefix = format!("{} ", self.key("rerun"));
        let carry = |cursors: &mut Cursors| {
            for (k, v) in self.old.range(rerun_prefix.clone()..) {
                if !k.starts_with(&rerun_prefix) {
                    break;
                }
                cursors.insert(k.clone(), v.clone());
            }
        };
        let (first, new_validators, mut next) =
            match c.client.get(&url, &validators, cancel).await? {
                Fetched::NotModified => {
                    // Nothing changed: keep what the cursors knew.
                    validators.to_cursors(cursors, &url);
                    cursors.insert(since_key, since);
                    cursors.insert(branch_key, known_branch.clone());
                    if let Some((k, v)) = self.branch_validators(c) {
                        cursors.insert(k, v);
                    }
                    carry(cursors);
                    return Ok((known_branch, Vec::new()));
                }
                Fetched::Body {
                    body,
                    validators,
                    next,
                    ..
                } => (body, validators, next),
            };
        let mut pages = vec![parse::runs_page(&first).map_err(decode_error(&url))?];
        // Pages are newest first: stop at the first page that reaches past the watermark.
        let reaches_back = |page: &[Run]| page.iter().any(|r| r.created_at < since_at);
        while let Some(page) = next.take() {
            if pages.last().is_some_and(|p| reaches_back(p)) {
                break;
            }
            if pages.len() >= forge.max_pages {
                next = Some(page);
                break;
            }
            match c.client.get(&page, &Validators::default(), cancel).await? {
                Fetched::Body { body, next: n, .. } => {
                    pages.push(parse::runs_page(&body).map_err(decode_error(&page))?);
                    next = n;
                }
                Fetched::NotModified => break,
            }
        }
        let truncated = next.is_some();
        let default_branch = if self.old.contains_key(&branch_key) {
            self.default_branch(c, true, cursors, cancel).await?
        } else {
            known_branch
        };

        let mut attempts = Vec::new();
        let mut oldest_pending: Option<i64> = None;
        let mut pending_beyond_first_page = false;
        let mut newest_created: Option<i64> = None;
        for (page_no, page) in pages.iter().enumerate() {
            for run in page.iter().filter(|r| r.created_at >= since_at) {
                newest_created = newest_created.max(Some(run.created_at));
                if !forge.wants_pipeline(&run.workflow)
                    || !forge.wants_branch(&run.branch, &default_branch)
                {
                    continue;
                }
                if !run.finished() {
                    oldest_pending =
                        Some(oldest_pending.map_or(run.created_at, |o| o.min(run.created_at)));
                    pending_beyond_first_page |= page_no > 0;
                    continue;
                }
                attempts.push(self.fact(run));
                if run.attempt > 1 {
                    let rerun_key = format!("{rerun_prefix}{}", run.id);
                    let read: u32 = self
                        .old
                        .get(&rerun_key)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    for k in (read + 1)..run.attempt {
                        let attempt_url = format!(
                            "{api}/repos/{}/actions/runs/{}/attempts/{k}",
                            self.name, run.id
                        );
                        if let Fetched::Body { body, .. } = c
                            .client
                            .get(&attempt_url, &Validators::default(), cancel)
                            .await?
                        {
                            let earlier =
                                parse::attempt(&body).map_err(decode_error(&attempt_url))?;
                            if earlier.finished() {
                                attempts.push(self.fact(&Run {
                                    attempt: k,
                                    ..earlier
                                }));
                            }
                        }
                    }
                    cursors.insert(rerun_key, (run.attempt - 1).to_string());
                }
            }
        }
        // The next watermark: never past a run in progress, and trailing the newest run.
        let mut next_since = since.clone();
        if let Some(newest) = newest_created {
            let candidate = oldest_pending
                .unwrap_or(newest)
                .min(newest - RERUN_LOOKBACK.as_secs() as i64);
            let candidate = day(candidate);
            if candidate > next_since && !truncated {
                next_since = candidate;
            }
        }
        if !truncated && !pending_beyond_first_page {
            // A 304 to the same URL next time then means nothing changed.
            new_validators.to_cursors(cursors, &url);
        }
        cursors.insert(since_key, next_since);
        cursors.insert(branch_key, default_branch.clone());
        Ok((default_branch, attempts))
    }

    /// The repository's default branch; `conditional`: asked with the validators of the last
    /// answer (a 304 keeps the known branch).
    async fn default_branch(
        &self,
        c: &GithubCollector,
        conditional: bool,
        cursors: &mut Cursors,
        cancel: &CancellationToken,
    ) -> Result<String, CollectError> {
        let url = format!("{}/repos/{}", c.settings.api_url, self.name);
        let known = self.old.get(&self.key("default_branch")).cloned();
        let validators = if conditional && known.is_some() {
            Validators::from_cursors(self.old, &url)
        } else {
            Validators::default()
        };
        match c.client.get(&url, &validators, cancel).await? {
            Fetched::NotModified => {
                validators.to_cursors(cursors, &url);
                Ok(known.unwrap_or_else(|| "main".into()))
            }
            Fetched::Body {
                body, validators, ..
            } => {
                let (_, branch, _) = parse::repository_body(&body).map_err(decode_error(&url))?;
                validators.to_cursors(cursors, &url);
                Ok(branch)
            }
        }
    }

    /// The reproducibility checks of the finished attempts of the workflows marked as the
    /// reproducibility check: one per job (matrix environment). The jobs of an attempt are
    /// read once; the cursor remembers the attempts read while their runs are still listed.
    async fn checks(
        &self,
        c: &GithubCollector,
        attempts: &[CiAttempt],
        cursors: &mut Cursors,
        cancel: &CancellationToken,
    ) -> Result<Vec<ReproCheck>, CollectError> {
        let marked = &c.settings.reproducibility;
        if marked.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.key("checked");
        let read: Vec<&str> = self
            .old
            .get(&key)
            .map(|v| v.split(',').collect())
            .unwrap_or_default();
        let mut now_read: Vec<String> = Vec::new();
        let mut checks = Vec::new();
        let listed = !attempts.is_empty();
        for a in attempts.iter().filter(|a| marked.contains(&a.pipeline)) {
            let id = format!("{}#{}", a.run_id, a.attempt);
            now_read.push(id.clone());
            if read.contains(&id.as_str()) {
                continue;
            }
            let url = format!(
                "{}/repos/{}/actions/runs/{}/attempts/{}/jobs?per_page=100",
                c.settings.api_url, self.name, a.run_id, a.attempt
            );
            let Fetched::Body { body, .. } =
                c.client.get(&url, &Validators::default(), cancel).await?
            else {
                continue;
            };
            for (job, conclusion, completed) in
                parse::jobs_page(&body).map_err(decode_error(&url))?
            {
                let passed = match ci_class(parse::result_of(conclusion.as_deref())) {
                    CiClass::Success => true,
                    CiClass::Failure => false,
                    CiClass::Neutral => continue,
                };
                checks.push(ReproCheck {
                    repository: self.name.to_string(),
                    check_id: format!("{id}#{job}"),
                    environment: parse::environment(&job),
                    passed,
                    checked_at: completed.unwrap_or(a.completed_at),
                });
            }
        }
        // Unchanged listings (no attempts handed over) keep what was read.
        let kept = if listed {
            now_read.join(",")
        } else {
            read.join(",")
        };
        cursors.insert(key, kept);
        Ok(checks)
    }

    /// The ETag of the repository answer, carried while the runs are unchanged.
    fn branch_validators(&self, c: &GithubCollector) -> Option<(String, String)> {
        let key = format!("etag {}/repos/{}", c.settings.api_url, self.name);
        self.old.get(&key).map(|v| (key, v.clone()))
    }

    fn fact(&self, run: &Run) -> CiAttempt {
        CiAttempt {
            repository: self.name.to_string(),
            pipeline: run.workflow.clone(),
            run_id: run.id.to_string(),
            attempt: run.attempt,
            branch: run.branch.clone(),
            sha: run.sha.clone(),
            event: run.event.clone(),
            actor: run
                .actor
                .as_ref()
                .map(|l| format!("@{}", l.to_ascii_lowercase()))
                .unwrap_or_default(),
            result: parse::result_of(run.conclusion.as_deref()).to_string(),
            started_at: run.started_at,
            // GitHub runs have no completion time: a finished attempt's last update is it.
            completed_at: run.updated_at.max(run.started_at),
            // GitHub's times are whole seconds.
            duration: Some((run.updated_at.max(run.started_at) - run.started_at) as f64),
            coverage: None,
            tests: None,
        }
    }
}
