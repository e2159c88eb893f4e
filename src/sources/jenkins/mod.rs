//! The `jenkins` source: builds of every job of a Jenkins server (folders and multibranch
//! projects included) through its JSON API with `tree=` projections, as `CiRuns` facts with
//! their test-report counts.
//!
//! A collection reads the job tree in one request (four levels; a folder deeper down is read
//! on its own), then each job's newest 50 builds, every request built from the configured
//! base URL (never from the addresses Jenkins advertises, which a proxy may not reach and
//! which would carry the credentials elsewhere). A build
//! is a fact once it has finished (`building` false and a result); a rebuild is a new build.
//! The cursor of a job is the number below which every build is finished and stored, so each
//! build is handed over once (storing it again would replace it anyway).

pub mod parse;

use tokio_util::sync::CancellationToken;

use crate::collector::{CollectContext, CollectError};
use crate::config::{Secret, Section};
use crate::facts::{CiAttempt, CiRepository, CiRuns, Collection, Cursors, FactSet};
use crate::sources::forge::{self, decode_error, ForgeSettings};
use crate::sources::http::{Auth, Client};
use crate::sources::{Collecting, Config as SourcesConfig, Kind, KindSettings, Source};

/// The keys a `jenkins` source reads (beside the forge keys).
/// The `jenkins` source kind.
pub const KIND: Kind = Kind {
    name: "jenkins",
    keys: &[KEYS, forge::KEYS],
    decode: |s| crate::sources::settings(decode(s)),
};

pub const KEYS: &[&str] = &["url", "username", "token", "token_file", "default_branch"];

/// Builds read per job and collection (Jenkins's `{0,50}` range).
pub const BUILDS_PER_JOB: usize = 50;

/// Levels of the job tree one request reads.
const TREE_LEVELS: usize = 4;

/// Folders nested deeper than this are not read (each level past [`TREE_LEVELS`] costs a
/// request per folder).
const MAX_DEPTH: usize = 16;

#[derive(Debug, Clone)]
pub struct JenkinsSettings {
    pub url: String,
    pub username: Option<String>,
    pub token: Option<Secret>,
    /// The branch plain (not multibranch) jobs build; multibranch projects' branches are
    /// their children's names.
    pub default_branch: String,
    pub forge: ForgeSettings,
}

pub fn decode(s: &mut Section) -> Option<JenkinsSettings> {
    let mut ok = true;
    let url = match s.url("url", &["https", "http"]) {
        Some(url) => Some(format!("{}/", url.expose().trim_end_matches('/'))),
        None => {
            if !s.has("url") {
                s.problem_here("a jenkins source needs `url`, the server's base URL");
            }
            ok = false;
            None
        }
    };
    let username = s.string("username");
    let token = s.secret("token");
    if token.is_some() != username.is_some() {
        s.problem_here("set both `username` and `token` (an API token), or neither");
        ok = false;
    }
    let default_branch = s.string("default_branch").unwrap_or_else(|| "main".into());
    let forge = forge::decode(s);
    let forge = forge?;
    (ok && url.is_some()).then(|| JenkinsSettings {
        url: url.unwrap_or_default(),
        username,
        token,
        default_branch,
        forge,
    })
}

pub struct JenkinsCollector {
    name: String,
    settings: JenkinsSettings,
    client: Client,
}

impl KindSettings for JenkinsSettings {
    fn build(
        &self,
        _: &SourcesConfig,
        name: &str,
        _: &std::path::Path,
    ) -> anyhow::Result<Box<dyn Source>> {
        Ok(Box::new(JenkinsCollector::new(name, self)?))
    }

    fn asset_of_repository(&self, repository: &str) -> Option<String> {
        Some(self.forge.asset_of(repository))
    }

    fn forge(&self) -> Option<&ForgeSettings> {
        Some(&self.forge)
    }
}

impl Source for JenkinsCollector {
    fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a> {
        Box::pin(self.collect_async(ctx, ctx.cancel.clone()))
    }

    fn http_stats(&self) -> Option<crate::sources::http::Stats> {
        Some(self.client.stats())
    }
}

impl JenkinsCollector {
    pub fn new(name: &str, settings: &JenkinsSettings) -> Result<Self, CollectError> {
        let auth = match (&settings.username, &settings.token) {
            (Some(username), Some(token)) => Auth::Basic {
                username: username.clone(),
                password: token.clone(),
            },
            _ => Auth::None,
        };
        let client = Client::new(settings.forge.http(auth))?;
        Ok(JenkinsCollector {
            name: name.to_string(),
            settings: settings.clone(),
            client,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn body(&self, url: &str, cancel: &CancellationToken) -> Result<Vec<u8>, CollectError> {
        self.client.get_body(url, cancel).await
    }

    /// Every buildable job: the root's tree [`TREE_LEVELS`] deep, then each folder or
    /// multibranch project it did not reach, read on its own (to [`MAX_DEPTH`] levels; deeper
    /// ones are skipped with a warning). Every request goes to the configured base URL.
    async fn jobs(&self, cancel: &CancellationToken) -> Result<Vec<parse::Job>, CollectError> {
        let s = &self.settings;
        let projection = parse::tree(TREE_LEVELS);
        let url = format!("{}api/json?tree={projection}", s.url);
        let (mut jobs, mut unread) =
            parse::jobs(&self.body(&url, cancel).await?).map_err(decode_error(&url))?;
        while let Some(container) = unread.pop() {
            if container.path.len() >= MAX_DEPTH {
                tracing::warn!(source = %self.name, collector = "jenkins", folder = %container.path.join("/"), "a folder nested deeper than {MAX_DEPTH} levels is not read");
                continue;
            }
            let url = format!(
                "{}api/json?tree={projection}",
                parse::job_url(&s.url, &container.path)
            );
            let (found, more) = parse::jobs_under(
                &self.body(&url, cancel).await?,
                &container.path,
                container.multibranch,
            )
            .map_err(decode_error(&url))?;
            jobs.extend(found);
            unread.extend(more);
        }
        Ok(jobs)
    }

    async fn collect_async(
        &self,
        ctx: &CollectContext,
        cancel: CancellationToken,
    ) -> Result<Collection, CollectError> {
        let (s, old) = (&self.settings, &ctx.cursors);
        let mut jobs = self.jobs(&cancel).await?;
        // A sharded replica reads the builds of the jobs whose asset it owns.
        if let Some(wants) = &ctx.wants {
            jobs.retain(|j| wants(&s.forge.asset_of(&j.repository)));
        }
        let mut cursors = Cursors::new();
        let mut runs = CiRuns::default();
        for job in &jobs {
            let branch = job
                .branch
                .clone()
                .unwrap_or_else(|| s.default_branch.clone());
            if !runs.repositories.iter().any(|r| r.name == job.repository) {
                runs.repositories.push(CiRepository {
                    name: job.repository.clone(),
                    default_branch: s.default_branch.clone(),
                });
            }
            if !s.forge.wants_pipeline(&job.pipeline)
                || !s.forge.wants_branch(&branch, &s.default_branch)
            {
                continue;
            }
            let key = format!("done {}#{branch}", job.repository);
            let done: u64 = old.get(&key).and_then(|v| v.parse().ok()).unwrap_or(0);
            let url = format!(
                "{}api/json?tree=builds[number,result,building,timestamp,duration,actions[totalCount,failCount,skipCount]]{{0,{BUILDS_PER_JOB}}}",
                parse::job_url(&s.url, &job.path)
            );
            let builds =
                parse::builds(&self.body(&url, &cancel).await?).map_err(decode_error(&url))?;
            // Every build below the oldest one still building is finished.
            let oldest_building = builds
                .iter()
                .filter(|b| b.building || b.result.is_none())
                .map(|b| b.number)
                .min();
            let mut next_done = done;
            for b in &builds {
                let finished = !b.building && b.result.is_some();
                if !finished || b.number <= done {
                    continue;
                }
                if oldest_building.is_none_or(|o| b.number < o) {
                    next_done = next_done.max(b.number);
                }
                let started_at = b.timestamp_ms.div_euclid(1000);
                // Jenkins gives milliseconds: the duration keeps them.
                let duration = b.duration_ms.max(0) as f64 / 1000.0;
                runs.attempts.push(CiAttempt {
                    repository: job.repository.clone(),
                    pipeline: job.pipeline.clone(),
                    run_id: format!("{branch}#{}", b.number),
                    attempt: 1,
                    branch: branch.clone(),
                    sha: String::new(),
                    event: String::new(),
                    actor: String::new(),
                    result: parse::result_of(b.result.as_deref().unwrap_or("")).to_string(),
                    started_at,
                    completed_at: (b.timestamp_ms + b.duration_ms.max(0)).div_euclid(1000),
                    duration: Some(duration),
                    coverage: None,
                    tests: b.tests,
                });
            }
            cursors.insert(key, next_done.to_string());
        }
        Ok(Collection {
            source: self.name.clone(),
            sets: vec![FactSet::CiRuns(runs)],
            cursors,
        })
    }
}
