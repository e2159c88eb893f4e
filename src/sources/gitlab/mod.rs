//! The `gitlab` source: pipelines of the configured projects (or of every project of a group
//! and its subgroups), GitLab REST v4, as `CiRuns` facts with their coverage.
//!
//! Per project, a collection asks for the first page of pipelines ordered by last update,
//! conditionally on the validators of the last answer. When it changed, it reads back to the
//! project's watermark (the newest update it has seen): a pipeline that changes later, one
//! that finishes or is retried, moves above the watermark and is read again. Each finished
//! pipeline not read yet costs one request for its details (start, finish, coverage, user).
//! A GitLab pipeline is one run: a retried job changes the pipeline, and when it finishes
//! again that finish is the run's next attempt (the earlier one stays, so a failure retried
//! to success is a flaky run and no counter goes down). A pipeline blocked on a manual job is
//! not finished; a skipped one never ran and has no duration.

mod items;
pub mod parse;

use tokio_util::sync::CancellationToken;

use crate::collector::{CollectContext, CollectError};
use crate::config::{Secret, Section};
use crate::facts::{CiAttempt, CiRepository, CiRuns, Collection, Cursors, FactSet, ForgeItems};
use crate::people::People;
use crate::sources::forge::{self, decode_error, urlencode, ForgeSettings};
use crate::sources::http::{Auth, Client, Fetched, Validators};
use crate::sources::{Collecting, Config as SourcesConfig, Kind, KindSettings, Source};

pub const DEFAULT_API_URL: &str = "https://gitlab.com/api/v4";

/// The keys a `gitlab` source reads (beside the forge keys).
/// The `gitlab` source kind.
pub const KIND: Kind = Kind {
    name: "gitlab",
    keys: &[KEYS, forge::KEYS, forge::WEBHOOK_KEYS],
    decode: |s| crate::sources::settings(decode(s)),
};

pub const KEYS: &[&str] = &[
    "api_url",
    "token",
    "token_file",
    "group",
    "projects",
    "merge_requests_and_issues",
];

#[derive(Debug, Clone)]
pub struct GitlabSettings {
    pub api_url: String,
    pub token: Option<Secret>,
    /// Every project of this group and its subgroups (archived ones aside).
    pub group: Option<String>,
    /// Project paths (`group/sub/project`).
    pub projects: Vec<String>,
    /// Read merge requests and issues (credits, first responses); default true.
    pub items: bool,
    pub forge: ForgeSettings,
}

pub fn decode(s: &mut Section) -> Option<GitlabSettings> {
    let mut ok = true;
    let api_url = match s.url("api_url", &["https", "http"]) {
        Some(url) => url.expose().trim_end_matches('/').to_string(),
        None => {
            ok &= !s.has("api_url");
            DEFAULT_API_URL.to_string()
        }
    };
    let token = s.secret("token");
    let group = s.string("group");
    let projects = s.strings("projects").unwrap_or_default();
    let items = s.boolean("merge_requests_and_issues").unwrap_or(true);
    for p in &projects {
        if !p.contains('/') || p.split('/').any(str::is_empty) {
            s.problem(
                "projects",
                format!("`{p}` is not a project path: expected `group/project`"),
            );
            ok = false;
        }
    }
    if group.is_none() && projects.is_empty() {
        s.problem_here("a gitlab source needs `projects` (group/project paths) or `group`");
        ok = false;
    }
    let webhook_secret = forge::decode_webhook_secret(s);
    let mut forge = forge::decode(s)?;
    forge.webhook_secret = webhook_secret?;
    ok.then_some(GitlabSettings {
        api_url,
        token,
        group,
        projects,
        items,
        forge,
    })
}

pub struct GitlabCollector {
    name: String,
    settings: GitlabSettings,
    client: Client,
    people: People,
}

impl KindSettings for GitlabSettings {
    fn build(
        &self,
        config: &SourcesConfig,
        name: &str,
        _: &std::path::Path,
    ) -> anyhow::Result<Box<dyn Source>> {
        Ok(Box::new(GitlabCollector::new(config, name, self)?))
    }

    fn asset_of_repository(&self, repository: &str) -> Option<String> {
        Some(self.forge.asset_of(repository))
    }

    fn webhook(&self) -> Option<(&'static str, &Secret)> {
        Some(("gitlab", self.forge.webhook_secret.as_ref()?))
    }

    fn covered_repository(&self, repository: &str) -> Option<String> {
        forge::covered(&self.projects, self.group.as_deref(), repository)
    }

    fn forge(&self) -> Option<&ForgeSettings> {
        Some(&self.forge)
    }
}

impl Source for GitlabCollector {
    fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a> {
        let now = chrono::Utc::now().timestamp();
        Box::pin(self.collect_async(ctx, now, ctx.cancel.clone()))
    }

    fn http_stats(&self) -> Option<crate::sources::http::Stats> {
        Some(self.client.stats())
    }
}

impl GitlabCollector {
    pub fn new(
        config: &crate::sources::Config,
        name: &str,
        settings: &GitlabSettings,
    ) -> Result<Self, CollectError> {
        let auth = match &settings.token {
            Some(token) => Auth::Header {
                name: "PRIVATE-TOKEN".into(),
                token: token.clone(),
            },
            None => Auth::None,
        };
        let client = Client::new(settings.forge.http(auth))?;
        Ok(GitlabCollector {
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
        let mut forge_items = ForgeItems::default();
        let listed = match &self.settings.group {
            None => Vec::new(),
            Some(group) => {
                let url = format!(
                "{}/groups/{}/projects?include_subgroups=true&archived=false&per_page=100&order_by=id&sort=asc",
                self.settings.api_url,
                urlencode(group)
            );
                forge::cached_listing(&self.client, &url, old, &mut cursors, &cancel, |body| {
                    Ok(parse::projects_page(body)?
                        .into_iter()
                        .filter(|(_, _, archived)| !archived)
                        .map(|(path, _, _)| path)
                        .collect())
                })
                .await?
            }
        };
        // Sharding and webhooks narrow what is read; the others keep their facts.
        let (names, kept) = forge::repositories_to_read(
            &self.settings.projects,
            listed,
            &self.settings.forge,
            ctx,
            &mut cursors,
        );
        runs.repositories.extend(kept);
        for name in &names {
            let project = Project { name, old, now };
            let (default_branch, attempts) = project.collect(self, &mut cursors, &cancel).await?;
            if self.settings.items {
                let mut changed = !attempts.is_empty();
                let found = items::collect(
                    self,
                    name,
                    &project.base(self),
                    &default_branch,
                    old,
                    now,
                    &mut cursors,
                    &cancel,
                )
                .await?;
                changed |= !found.items.is_empty();
                forge_items.items.extend(found.items);
                forge_items.credits.extend(found.credits);
                forge_items.people.extend(found.people);
                let url = format!("{}/releases?per_page=100", project.base(self));
                forge::releases(
                    &self.client,
                    &self.people,
                    &url,
                    name,
                    changed,
                    old,
                    now,
                    &mut cursors,
                    &cancel,
                    parse::releases_page,
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
            sets: vec![FactSet::CiRuns(runs), FactSet::ForgeItems(forge_items)],
            cursors,
        })
    }
}

/// One project's part of a collection.
struct Project<'a> {
    name: &'a str,
    old: &'a Cursors,
    now: i64,
}

impl Project<'_> {
    fn key(&self, what: &str) -> String {
        format!("{what} {}", self.name)
    }

    fn base(&self, c: &GitlabCollector) -> String {
        format!("{}/projects/{}", c.settings.api_url, urlencode(self.name))
    }

    async fn collect(
        &self,
        c: &GitlabCollector,
        cursors: &mut Cursors,
        cancel: &CancellationToken,
    ) -> Result<(String, Vec<CiAttempt>), CollectError> {
        let forge = &c.settings.forge;
        let branch_key = self.key("default_branch");
        let default_branch = match self.old.get(&branch_key) {
            Some(b) => b.clone(),
            None => {
                let url = self.base(c);
                match c.client.get(&url, &Validators::default(), cancel).await? {
                    Fetched::Body { body, .. } => {
                        parse::project_body(&body).map_err(decode_error(&url))?.1
                    }
                    Fetched::NotModified => "main".into(),
                }
            }
        };
        cursors.insert(branch_key, default_branch.clone());
        let ref_filter = match &forge.branches {
            None => format!("&ref={}", urlencode(&default_branch)),
            Some(_) => String::new(),
        };
        let url = format!(
            "{}/pipelines?per_page=100&order_by=updated_at&sort=desc{ref_filter}",
            self.base(c)
        );
        let changed = forge::updated_since(
            &c.client,
            &url,
            &self.key("pipelines"),
            self.old,
            cursors,
            self.now - forge.history.as_secs() as i64,
            forge.max_pages,
            cancel,
            parse::pipelines_page,
        )
        .await?;
        // Each pipeline's finishes so far: a retried pipeline that finishes again is a new
        // attempt of the same run (its earlier finish stays: the run is flaky, and counters
        // never go down). Kept while the pipeline is within the lookback.
        let attempts_key = self.key("attempts");
        let mut finishes = Finishes::parse(self.old.get(&attempts_key).map(String::as_str));
        let mut attempts = Vec::new();
        for p in &changed {
            let pipeline_name = if p.source.is_empty() {
                "pipeline"
            } else {
                &p.source
            };
            if !parse::finished(&p.status)
                || !forge.wants_pipeline(pipeline_name)
                || !forge.wants_branch(&p.branch, &default_branch)
            {
                continue;
            }
            let detail_url = format!("{}/pipelines/{}", self.base(c), p.id);
            let d = match c
                .client
                .get(&detail_url, &Validators::default(), cancel)
                .await?
            {
                Fetched::Body { body, .. } => {
                    parse::pipeline_body(&body).map_err(decode_error(&detail_url))?
                }
                Fetched::NotModified => p.clone(),
            };
            let completed_at = d.finished_at.unwrap_or(d.updated_at);
            let attempt = finishes.attempt(p.id, completed_at);
            attempts.push(CiAttempt {
                repository: self.name.to_string(),
                pipeline: pipeline_name.to_string(),
                run_id: p.id.to_string(),
                attempt,
                branch: p.branch.clone(),
                sha: p.sha.clone(),
                event: p.source.clone(),
                actor: d
                    .user
                    .as_ref()
                    .map(|u| format!("@{}", u.to_ascii_lowercase()))
                    .unwrap_or_default(),
                result: parse::result_of(&d.status).to_string(),
                started_at: d.started_at.unwrap_or(d.created_at).min(completed_at),
                completed_at,
                duration: d.duration,
                coverage: d.coverage,
                tests: None,
            });
        }
        finishes.forget_before(self.now - forge.history.as_secs() as i64);
        if let Some(value) = finishes.to_cursor() {
            cursors.insert(attempts_key, value);
        }
        Ok((default_branch, attempts))
    }
}

/// Per pipeline, how many times it finished and when it last did: `id:attempt:finished_at`
/// entries, space-separated, in one cursor per project.
#[derive(Debug, Default, PartialEq)]
struct Finishes(std::collections::BTreeMap<u64, (u32, i64)>);

impl Finishes {
    fn parse(cursor: Option<&str>) -> Finishes {
        let entries = cursor
            .unwrap_or("")
            .split_whitespace()
            .filter_map(|e| {
                let mut f = e.split(':');
                let id = f.next()?.parse().ok()?;
                let attempt = f.next()?.parse().ok()?;
                let at = f.next()?.parse().ok()?;
                Some((id, (attempt, at)))
            })
            .collect();
        Finishes(entries)
    }

    /// The attempt a finish of pipeline `id` at `finished_at` is: the one stored when it is
    /// that same finish read again, the next one when the pipeline finished again (a retry),
    /// the first for a pipeline not seen finished.
    fn attempt(&mut self, id: u64, finished_at: i64) -> u32 {
        let entry = self.0.entry(id).or_insert((0, i64::MIN));
        if entry.1 != finished_at {
            *entry = (entry.0 + 1, finished_at);
        }
        entry.0
    }

    fn forget_before(&mut self, since: i64) {
        self.0.retain(|_, (_, at)| *at >= since);
    }

    fn to_cursor(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| {
            self.0
                .iter()
                .map(|(id, (n, at))| format!("{id}:{n}:{at}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Finishes;

    #[test]
    fn a_pipeline_that_finishes_again_is_its_next_attempt() {
        let mut f = Finishes::parse(None);
        assert_eq!(f.attempt(7, 100), 1);
        assert_eq!(f.attempt(7, 100), 1, "the same finish read again");
        assert_eq!(f.attempt(8, 150), 1);
        assert_eq!(f.attempt(7, 200), 2, "retried and finished again");
        let cursor = f.to_cursor().unwrap();
        assert_eq!(cursor, "7:2:200 8:1:150");
        let mut again = Finishes::parse(Some(&cursor));
        assert_eq!(again, f);
        assert_eq!(again.attempt(7, 200), 2);
        assert_eq!(again.attempt(7, 300), 3);
        again.forget_before(160);
        assert_eq!(again.to_cursor().unwrap(), "7:3:300");
        assert_eq!(Finishes::parse(Some("junk 1:x:2")), Finishes::default());
    }
}
