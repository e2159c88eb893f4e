//! The `coverage` source: coverage reports (Cobertura XML, LCOV, coverage.py JSON) read from
//! a path, a URL, a GitHub Actions artifact or a GitLab job artifact, as line and branch
//! coverage per asset with the commit the report belongs to when the origin knows it.
//!
//! A report is a fact only when it changed: a file's content hash, a URL's validators, an
//! artifact's id (the newest artifact of that name; the newest successful job of that name)
//! are kept in the cursors.

pub mod parse;
pub mod zip;

use std::path::PathBuf;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::collector::{CollectContext, CollectError, ErrorKind};
use crate::config::{Secret, Section};
use crate::facts::{Collection, CoverageReport, Cursors, FactSet};
use crate::sources::forge::{self, decode_error, parse_time, urlencode};
use crate::sources::http::{Auth, Client, Fetched, HttpConfig, Validators};
use crate::sources::{Collecting, Config as SourcesConfig, Kind, KindSettings, Source};

/// The keys a `coverage` source reads.
/// The `coverage` source kind.
pub const KIND: Kind = Kind {
    name: "coverage",
    keys: &[KEYS],
    decode: |s| crate::sources::settings(decode(s)),
};

pub const KEYS: &[&str] = &[
    "reports",
    "token",
    "token_file",
    "request_timeout",
    "ca_file",
    "client_certificate_file",
];
const REPORT_KEYS: &[&str] = &[
    "asset",
    "format",
    "path",
    "url",
    "github_artifact",
    "gitlab_artifact",
];
const GITHUB_KEYS: &[&str] = &["repository", "name", "file", "api_url"];
const GITLAB_KEYS: &[&str] = &["project", "job", "file", "api_url"];

#[derive(Debug, Clone)]
pub enum Origin {
    Path(PathBuf),
    Url(Secret),
    /// The newest artifact named `name` of the repository; in it, `file` or the first file of
    /// a known format.
    GithubArtifact {
        api_url: String,
        repository: String,
        name: String,
        file: Option<String>,
    },
    /// `file` in the artifacts of the newest successful job named `job`.
    GitlabArtifact {
        api_url: String,
        project: String,
        job: String,
        file: String,
    },
}

#[derive(Debug, Clone)]
pub struct Report {
    pub asset: String,
    /// `None`: from the file's name.
    pub format: Option<String>,
    pub origin: Origin,
}

#[derive(Debug, Clone)]
pub struct CoverageSettings {
    pub reports: Vec<Report>,
    pub token: Option<Secret>,
    pub http: HttpConfig,
}

pub fn decode(s: &mut Section) -> Option<CoverageSettings> {
    let mut ok = true;
    let reports = s
        .list("reports", REPORT_KEYS, |r| {
            let asset = r.required_string("asset");
            let format = r.choice("format", parse::FORMATS);
            let mut origins = Vec::new();
            if let Some(path) = r.string("path") {
                origins.push(Origin::Path(r.base_dir().join(path)));
            }
            if let Some(url) = r.url("url", &["https", "http"]) {
                origins.push(Origin::Url(url));
            }
            if let Some(gh) = r.nested("github_artifact", GITHUB_KEYS, |g| {
                let repository = g.required_string("repository")?;
                let name = g.required_string("name")?;
                Some(Origin::GithubArtifact {
                    api_url: g
                        .string("api_url")
                        .unwrap_or_else(|| crate::sources::github::DEFAULT_API_URL.into())
                        .trim_end_matches('/')
                        .to_string(),
                    repository,
                    name,
                    file: g.string("file"),
                })
            }) {
                origins.push(gh);
            }
            if let Some(gl) = r.nested("gitlab_artifact", GITLAB_KEYS, |g| {
                let project = g.required_string("project")?;
                let job = g.required_string("job")?;
                let file = g.required_string("file")?;
                Some(Origin::GitlabArtifact {
                    api_url: g
                        .string("api_url")
                        .unwrap_or_else(|| crate::sources::gitlab::DEFAULT_API_URL.into())
                        .trim_end_matches('/')
                        .to_string(),
                    project,
                    job,
                    file,
                })
            }) {
                origins.push(gl);
            }
            if origins.len() != 1 {
                r.problem_here(
                    "a report needs exactly one of `path`, `url`, `github_artifact` and `gitlab_artifact`",
                );
                return None;
            }
            Some(Report {
                asset: asset?,
                format,
                origin: origins.pop()?,
            })
        })
        .unwrap_or_default();
    if !s.has("reports") {
        s.problem_here("a coverage source needs `reports`");
        ok = false;
    }
    let token = s.secret("token");
    let gitlab = reports
        .iter()
        .any(|r| matches!(r.origin, Origin::GitlabArtifact { .. }));
    let github = reports
        .iter()
        .any(|r| !matches!(r.origin, Origin::GitlabArtifact { .. } | Origin::Path(_)));
    if token.is_some() && gitlab && github {
        s.problem(
            "token",
            "one token cannot serve both GitLab and other reports: use one coverage source for each",
        );
        ok = false;
    }
    let auth = match (&token, gitlab) {
        (Some(t), true) => Auth::Header {
            name: "PRIVATE-TOKEN".into(),
            token: t.clone(),
        },
        (Some(t), false) => Auth::Bearer(t.clone()),
        (None, _) => Auth::None,
    };
    let http = HttpConfig {
        max_body_bytes: zip::MAX_FILE_BYTES * 2,
        ..forge::http_settings(s, auth)
    };
    ok.then_some(CoverageSettings {
        reports,
        token,
        http,
    })
}

pub struct CoverageCollector {
    name: String,
    settings: CoverageSettings,
    client: Client,
}

impl KindSettings for CoverageSettings {
    fn build(
        &self,
        _: &SourcesConfig,
        name: &str,
        _: &std::path::Path,
    ) -> anyhow::Result<Box<dyn Source>> {
        Ok(Box::new(CoverageCollector::new(name, self)?))
    }
}

impl Source for CoverageCollector {
    fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a> {
        let now = chrono::Utc::now().timestamp();
        Box::pin(self.collect_async(&ctx.cursors, now, ctx.cancel.clone()))
    }

    fn http_stats(&self) -> Option<crate::sources::http::Stats> {
        Some(self.client.stats())
    }
}

impl CoverageCollector {
    pub fn new(name: &str, settings: &CoverageSettings) -> Result<Self, CollectError> {
        Ok(CoverageCollector {
            name: name.to_string(),
            settings: settings.clone(),
            client: Client::new(settings.http.clone())?,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn collect_async(
        &self,
        old: &Cursors,
        now: i64,
        cancel: CancellationToken,
    ) -> Result<Collection, CollectError> {
        let mut cursors = Cursors::new();
        let mut reports = Vec::new();
        for r in &self.settings.reports {
            if let Some(report) = self.read(r, old, now, &mut cursors, &cancel).await? {
                reports.push(report);
            }
        }
        Ok(Collection {
            source: self.name.clone(),
            sets: vec![FactSet::CoverageReports(reports)],
            cursors,
        })
    }

    /// The report when it changed since the last collection.
    async fn read(
        &self,
        r: &Report,
        old: &Cursors,
        now: i64,
        cursors: &mut Cursors,
        cancel: &CancellationToken,
    ) -> Result<Option<CoverageReport>, CollectError> {
        let key = format!("seen {}", r.asset);
        let seen = old.get(&key).cloned();
        let keep = |cursors: &mut Cursors, v: Option<String>| {
            if let Some(v) = v {
                cursors.insert(key.clone(), v);
            }
        };
        let parse_as = |name: &str, bytes: &[u8]| -> Result<parse::Coverage, CollectError> {
            let format = r
                .format
                .as_deref()
                .or_else(|| parse::format_of(name))
                .ok_or_else(|| {
                    CollectError::new(
                        ErrorKind::DecodeFailed,
                        format!(
                            "{name}: cannot tell the report's format from its name; set `format`"
                        ),
                    )
                })?;
            parse::read(format, bytes)
                .map_err(|e| CollectError::new(ErrorKind::DecodeFailed, format!("{name}: {e}")))
        };
        let (coverage, at, commit) = match &r.origin {
            Origin::Path(path) => {
                let shown = path.display().to_string();
                let bytes = read_file(path)?;
                let hash = crate::hex(&Sha256::digest(&bytes));
                if seen.as_deref() == Some(hash.as_str()) {
                    keep(cursors, seen);
                    return Ok(None);
                }
                let coverage = parse_as(&shown, &bytes)?;
                let at = std::fs::metadata(path)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(now, |d| d.as_secs() as i64);
                keep(cursors, Some(hash));
                (coverage, at.min(now), String::new())
            }
            Origin::Url(url) => {
                let url = url.expose();
                let validators = Validators::from_cursors(old, url);
                match self.client.get(url, &validators, cancel).await? {
                    Fetched::NotModified => {
                        validators.to_cursors(cursors, url);
                        return Ok(None);
                    }
                    Fetched::Body {
                        body, validators, ..
                    } => {
                        let coverage = parse_as(&crate::sources::http::shown_url(url), &body)?;
                        validators.to_cursors(cursors, url);
                        (coverage, now, String::new())
                    }
                }
            }
            Origin::GithubArtifact {
                api_url,
                repository,
                name,
                file,
            } => {
                let list = format!(
                    "{api_url}/repos/{repository}/actions/artifacts?name={}&per_page=10",
                    urlencode(name)
                );
                let body = self.body(&list, cancel).await?;
                let page: ArtifactList = serde_json::from_slice(&body)
                    .map_err(|e| decode_error(&list)(e.to_string()))?;
                let newest = page.artifacts.into_iter().find(|a| !a.expired);
                let Some(a) = newest else {
                    keep(cursors, seen);
                    return Ok(None);
                };
                let id = a.id.to_string();
                if seen.as_deref() == Some(id.as_str()) {
                    keep(cursors, seen);
                    return Ok(None);
                }
                let zip_url = format!("{api_url}/repos/{repository}/actions/artifacts/{id}/zip");
                let archive = self.body(&zip_url, cancel).await?;
                let wanted = |n: &str| match file {
                    Some(f) => n == f || n.ends_with(&format!("/{f}")),
                    None => r.format.is_some() || parse::format_of(n).is_some(),
                };
                let (inner, bytes) = zip::file(&archive, wanted)
                    .map_err(decode_error(&zip_url))?
                    .ok_or_else(|| {
                        decode_error(&zip_url)("no coverage report in the artifact".into())
                    })?;
                let coverage = parse_as(&inner, &bytes)?;
                let at = a.created_at.as_deref().and_then(parse_time).unwrap_or(now);
                let commit = a.workflow_run.map(|w| w.head_sha).unwrap_or_default();
                keep(cursors, Some(id));
                (coverage, at, commit)
            }
            Origin::GitlabArtifact {
                api_url,
                project,
                job,
                file,
            } => {
                let base = format!("{api_url}/projects/{}", urlencode(project));
                let list = format!("{base}/jobs?scope[]=success&per_page=100");
                let body = self.body(&list, cancel).await?;
                let jobs: Vec<GitlabJob> = serde_json::from_slice(&body)
                    .map_err(|e| decode_error(&list)(e.to_string()))?;
                let newest = jobs
                    .into_iter()
                    .filter(|j| j.name == *job)
                    .max_by_key(|j| j.id);
                let Some(j) = newest else {
                    keep(cursors, seen);
                    return Ok(None);
                };
                let id = j.id.to_string();
                if seen.as_deref() == Some(id.as_str()) {
                    keep(cursors, seen);
                    return Ok(None);
                }
                let raw = format!("{base}/jobs/{id}/artifacts/{file}");
                let bytes = self.body(&raw, cancel).await?;
                let coverage = parse_as(file, &bytes)?;
                let at = j.finished_at.as_deref().and_then(parse_time).unwrap_or(now);
                let commit = j.commit.map(|c| c.id).unwrap_or_default();
                keep(cursors, Some(id));
                (coverage, at, commit)
            }
        };
        Ok(Some(CoverageReport {
            asset: r.asset.clone(),
            at,
            line: coverage.line,
            branch: coverage.branch,
            commit,
        }))
    }

    async fn body(&self, url: &str, cancel: &CancellationToken) -> Result<Vec<u8>, CollectError> {
        self.client.get_body(url, cancel).await
    }
}

/// A report on disk, regular and at most [`zip::MAX_FILE_BYTES`].
fn read_file(path: &std::path::Path) -> Result<Vec<u8>, CollectError> {
    use std::io::Read;
    let fail =
        |e: String| CollectError::new(ErrorKind::RequestFailed, format!("{}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| {
            f.take(zip::MAX_FILE_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() > zip::MAX_FILE_BYTES {
        return Err(CollectError::new(
            ErrorKind::DecodeFailed,
            format!(
                "{}: larger than {} bytes",
                path.display(),
                zip::MAX_FILE_BYTES
            ),
        ));
    }
    Ok(bytes)
}

/// `GET /repos/{o}/{r}/actions/artifacts` (GitHub), the fields read.
#[derive(Deserialize)]
struct ArtifactList {
    artifacts: Vec<Artifact>,
}

#[derive(Deserialize)]
struct Artifact {
    id: u64,
    #[serde(default, deserialize_with = "crate::sources::forge::null_as_default")]
    expired: bool,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    workflow_run: Option<ArtifactRun>,
}

#[derive(Deserialize)]
struct ArtifactRun {
    #[serde(default, deserialize_with = "crate::sources::forge::null_as_default")]
    head_sha: String,
}

/// A job of `GET /projects/:id/jobs` (GitLab), the fields read.
#[derive(Deserialize)]
struct GitlabJob {
    id: u64,
    #[serde(default, deserialize_with = "crate::sources::forge::null_as_default")]
    name: String,
    #[serde(default)]
    finished_at: Option<String>,
    #[serde(default)]
    commit: Option<GitlabCommit>,
}

#[derive(Deserialize)]
struct GitlabCommit {
    #[serde(default, deserialize_with = "crate::sources::forge::null_as_default")]
    id: String,
}
