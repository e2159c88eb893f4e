//! The `git_discovery` source: every repository of a GitHub organisation, of a GitLab group
//! (subgroups included) or of a list of clone URLs, narrowed by include and exclude globs on
//! the repository path and by the archived and fork choices, each to be mined as a git source
//! of its own (named after its path, so the catalog binds to it by repository as to a listed
//! one).
//!
//! A collection lists the repositories (through the forge's HTTP client: conditional requests,
//! pagination, rate limits) and keeps what it found in its cursors, one `repo PATH` entry per
//! repository: `active` with its clone URL and default branch, `removed` since a time (it
//! disappeared, was archived or is now excluded: no longer collected, its facts kept), or
//! `forgotten` once removed longer than `retention` (its facts are dropped). The runner turns
//! the active entries into git sources ([`crate::runner`]); this module never touches them.

use std::collections::BTreeMap;
use std::time::Duration;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;

use crate::collector::{CollectContext, CollectError};
use crate::config::{Secret, Section};
use crate::facts::{Collection, Cursors};
use crate::sources::forge::{self, null_as_default};
use crate::sources::http::{Auth, Client};
use crate::sources::{Collecting, Config as SourcesConfig, Kind, KindSettings, Source};

pub const KIND: Kind = Kind {
    name: "git_discovery",
    keys: &[KEYS],
    decode: |s| crate::sources::settings(decode(s)),
};

pub const KEYS: &[&str] = &[
    "github",
    "gitlab",
    "urls",
    "api_url",
    "token",
    "token_file",
    "include",
    "exclude",
    "archived",
    "forks",
    "repository_schedule",
    "repository_timeout",
    "concurrency",
    "retention",
    "request_timeout",
    "ca_file",
    "client_certificate_file",
];

/// Each discovered repository's schedule and timeout unless set.
pub const DEFAULT_REPOSITORY_SCHEDULE: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_REPOSITORY_TIMEOUT: Duration = Duration::from_secs(3600);

/// The cursor prefix of a repository's entry.
pub const ENTRY: &str = "repo ";

/// Where the repositories come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// A GitHub organisation.
    Github(String),
    /// A GitLab group path, subgroups included.
    Gitlab(String),
    /// Clone URLs, each with the path it is named by (its last two path segments).
    Urls(Vec<(String, String)>),
}

#[derive(Debug, Clone)]
pub struct DiscoverySettings {
    pub origin: Origin,
    pub api_url: String,
    pub token: Option<Secret>,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    include_set: GlobSet,
    exclude_set: GlobSet,
    /// Mine archived repositories too (default: no).
    pub archived: bool,
    /// Mine forks too (default: no).
    pub forks: bool,
    pub repository_schedule: Duration,
    pub repository_timeout: Duration,
    /// First mines (and every collection) of this source's repositories running at once.
    pub concurrency: usize,
    /// How long a removed repository's facts stay; `None`: until it comes back.
    pub retention: Option<Duration>,
    http: crate::sources::http::HttpConfig,
}

/// A repository path's glob set: `*` stays within one path segment, `**` crosses them.
fn glob_set(globs: &[String]) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        // `Section::globs` only returns valid globs.
        if let Ok(glob) = GlobBuilder::new(g).literal_separator(true).build() {
            b.add(glob);
        }
    }
    b.build().unwrap_or_else(|_| GlobSet::empty())
}

/// The path a clone URL is named by: its last two path segments without `.git`
/// (`https://host/ml/churn.git` → `ml/churn`).
pub fn url_path(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').skip(1).filter(|s| !s.is_empty()).collect();
    let n = segments.len();
    if n < 2 {
        return None;
    }
    let last = segments[n - 1].trim_end_matches(".git");
    (!last.is_empty()).then(|| format!("{}/{last}", segments[n - 2]))
}

pub fn decode(s: &mut Section) -> Option<DiscoverySettings> {
    let mut ok = true;
    let github = s.string("github");
    let gitlab = s.string("gitlab");
    let urls = s.strings("urls");
    let origin = match (github, gitlab, urls) {
        (Some(org), None, None) => Some(Origin::Github(org)),
        (None, Some(group), None) => Some(Origin::Gitlab(group.trim_matches('/').to_string())),
        (None, None, Some(urls)) => {
            let mut named: Vec<(String, String)> = Vec::new();
            for u in urls {
                if !["https://", "http://", "file://", "ssh://", "git://"]
                    .iter()
                    .any(|scheme| u.starts_with(scheme))
                {
                    s.problem(
                        "urls",
                        format!(
                            "`{}`: expected an https://, http://, ssh://, git:// or file:// URL",
                            crate::sources::shown_url(&u)
                        ),
                    );
                    ok = false;
                    continue;
                }
                match url_path(&u) {
                    Some(path) if named.iter().any(|(p, _)| *p == path) => {
                        s.problem(
                            "urls",
                            format!(
                                "two URLs are named `{path}` (the last two segments of their path)"
                            ),
                        );
                        ok = false;
                    }
                    Some(path) => named.push((path, u)),
                    None => {
                        s.problem(
                            "urls",
                            format!(
                                "`{}` has no `owner/name` path",
                                crate::sources::shown_url(&u)
                            ),
                        );
                        ok = false;
                    }
                }
            }
            Some(Origin::Urls(named))
        }
        (None, None, None) => {
            s.problem_here(
                "a git_discovery source needs `github` (an organisation), `gitlab` (a group) or `urls`",
            );
            None
        }
        _ => {
            s.problem_here("set one of `github`, `gitlab` and `urls`");
            None
        }
    };
    let default_api = match origin {
        Some(Origin::Gitlab(_)) => crate::sources::gitlab::DEFAULT_API_URL,
        _ => crate::sources::github::DEFAULT_API_URL,
    };
    let api_url = match s.url("api_url", &["https", "http"]) {
        Some(url) => url.expose().trim_end_matches('/').to_string(),
        None => {
            ok &= !s.has("api_url");
            default_api.to_string()
        }
    };
    let token = s.secret("token");
    let include = s.globs("include").unwrap_or_default();
    let exclude = s.globs("exclude").unwrap_or_default();
    let archived = s.boolean("archived").unwrap_or(false);
    let forks = s.boolean("forks").unwrap_or(false);
    let repository_schedule = s
        .duration("repository_schedule")
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_REPOSITORY_SCHEDULE);
    let repository_timeout = s
        .duration("repository_timeout")
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_REPOSITORY_TIMEOUT);
    let concurrency = match s.uint("concurrency") {
        Some(0) => {
            s.problem("concurrency", "must be at least 1");
            ok = false;
            1
        }
        Some(n) => n as usize,
        None => std::thread::available_parallelism().map_or(2, |n| n.get()),
    };
    let retention = s.duration("retention");
    let auth = match (&origin, &token) {
        (Some(Origin::Gitlab(_)), Some(t)) => Auth::Header {
            name: "PRIVATE-TOKEN".into(),
            token: t.clone(),
        },
        (_, Some(t)) => Auth::Bearer(t.clone()),
        (_, None) => Auth::None,
    };
    let http = forge::http_settings(s, auth);
    ok.then_some(DiscoverySettings {
        origin: origin?,
        api_url,
        token,
        include_set: glob_set(&include),
        exclude_set: glob_set(&exclude),
        include,
        exclude,
        archived,
        forks,
        repository_schedule,
        repository_timeout,
        concurrency,
        retention,
        http,
    })
}

/// A repository as a listing gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub path: String,
    pub url: String,
    /// Empty: the repository's HEAD.
    pub branch: String,
    pub archived: bool,
    pub fork: bool,
}

impl Listed {
    fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}",
            self.path, self.url, self.branch, self.archived as u8, self.fork as u8
        )
    }

    fn decode(line: &str) -> Option<Listed> {
        let f: Vec<&str> = line.split('\t').collect();
        (f.len() == 5).then(|| Listed {
            path: f[0].to_string(),
            url: f[1].to_string(),
            branch: f[2].to_string(),
            archived: f[3] == "1",
            fork: f[4] == "1",
        })
    }
}

/// GitHub's `GET /orgs/{org}/repos` page.
pub fn github_page(body: &[u8]) -> Result<Vec<Listed>, String> {
    #[derive(Deserialize)]
    struct Repo {
        #[serde(default, deserialize_with = "null_as_default")]
        full_name: String,
        #[serde(default, deserialize_with = "null_as_default")]
        clone_url: String,
        #[serde(default, deserialize_with = "null_as_default")]
        default_branch: String,
        #[serde(default, deserialize_with = "null_as_default")]
        archived: bool,
        #[serde(default, deserialize_with = "null_as_default")]
        fork: bool,
    }
    forge::json::<Vec<Repo>>(body)?
        .into_iter()
        .map(|r| {
            if r.full_name.is_empty() || r.clone_url.is_empty() {
                return Err("a repository without `full_name` or `clone_url`".to_string());
            }
            Ok(Listed {
                path: r.full_name,
                url: r.clone_url,
                branch: r.default_branch,
                archived: r.archived,
                fork: r.fork,
            })
        })
        .collect()
}

/// GitLab's `GET /groups/{id}/projects` page.
pub fn gitlab_page(body: &[u8]) -> Result<Vec<Listed>, String> {
    #[derive(Deserialize)]
    struct Project {
        #[serde(default, deserialize_with = "null_as_default")]
        path_with_namespace: String,
        #[serde(default, deserialize_with = "null_as_default")]
        http_url_to_repo: String,
        #[serde(default, deserialize_with = "null_as_default")]
        default_branch: String,
        #[serde(default, deserialize_with = "null_as_default")]
        archived: bool,
        /// Present (an object) on a fork.
        #[serde(default)]
        forked_from_project: Option<serde::de::IgnoredAny>,
        #[serde(default, deserialize_with = "null_as_default")]
        empty_repo: bool,
    }
    forge::json::<Vec<Project>>(body)?
        .into_iter()
        // A project without a repository yet has nothing to mine.
        .filter(|p| !p.empty_repo)
        .map(|p| {
            if p.path_with_namespace.is_empty() || p.http_url_to_repo.is_empty() {
                return Err(
                    "a project without `path_with_namespace` or `http_url_to_repo`".to_string(),
                );
            }
            Ok(Listed {
                path: p.path_with_namespace,
                url: p.http_url_to_repo,
                branch: p.default_branch,
                archived: p.archived,
                fork: p.forked_from_project.is_some(),
            })
        })
        .collect()
}

/// A repository's state, as the cursors keep it.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    Active { url: String, branch: String },
    Removed { at: i64 },
    Forgotten { at: i64 },
}

impl State {
    pub fn encode(&self) -> String {
        match self {
            State::Active { url, branch } => format!("active\t{url}\t{branch}"),
            State::Removed { at } => format!("removed\t{at}"),
            State::Forgotten { at } => format!("forgotten\t{at}"),
        }
    }

    pub fn decode(value: &str) -> Option<State> {
        let f: Vec<&str> = value.split('\t').collect();
        match f.as_slice() {
            ["active", url, branch] => Some(State::Active {
                url: url.to_string(),
                branch: branch.to_string(),
            }),
            ["removed", at] => Some(State::Removed {
                at: at.parse().ok()?,
            }),
            ["forgotten", at] => Some(State::Forgotten {
                at: at.parse().ok()?,
            }),
            _ => None,
        }
    }
}

/// The repositories a discovery source's cursors hold, by path.
pub fn entries(cursors: &Cursors) -> BTreeMap<String, State> {
    cursors
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(ENTRY)?.to_string(), State::decode(v)?)))
        .collect()
}

impl DiscoverySettings {
    /// Whether the repository at `path` is to be mined: included (every one without
    /// `include`), not excluded, and archived or a fork only when asked for.
    pub fn wants(&self, r: &Listed) -> bool {
        (self.include.is_empty() || self.include_set.is_match(&r.path))
            && !self.exclude_set.is_match(&r.path)
            && (self.archived || !r.archived)
            && (self.forks || !r.fork)
    }

    /// The credentials a discovered https clone URL is fetched with: the token, as GitHub
    /// (`x-access-token`) and GitLab (`oauth2`) take it for git over https. None for other
    /// URLs, or without a token.
    pub fn clone_credentials(&self, url: &str) -> Option<(String, Secret)> {
        let token = self.token.clone()?;
        if !url.starts_with("https://") {
            return None;
        }
        let user = match self.origin {
            Origin::Gitlab(_) => "oauth2",
            _ => "x-access-token",
        };
        Some((user.to_string(), token))
    }

    /// The next state of every repository from what the listing wants now (`found`), the
    /// previous states and the time.
    pub fn next_states(
        &self,
        found: &[Listed],
        old: &BTreeMap<String, State>,
        now: i64,
    ) -> BTreeMap<String, State> {
        let mut next = BTreeMap::new();
        for r in found.iter().filter(|r| self.wants(r)) {
            next.insert(
                r.path.clone(),
                State::Active {
                    url: r.url.clone(),
                    branch: r.branch.clone(),
                },
            );
        }
        for (path, state) in old {
            if next.contains_key(path) {
                continue;
            }
            let at = match state {
                State::Active { .. } => now,
                State::Removed { at } => *at,
                State::Forgotten { at } => {
                    next.insert(path.clone(), State::Forgotten { at: *at });
                    continue;
                }
            };
            let expired = self
                .retention
                .is_some_and(|r| now - at >= r.as_secs() as i64);
            next.insert(
                path.clone(),
                if expired {
                    State::Forgotten { at: now }
                } else {
                    State::Removed { at }
                },
            );
        }
        next
    }
}

pub struct DiscoveryCollector {
    name: String,
    settings: DiscoverySettings,
    client: Client,
}

impl KindSettings for DiscoverySettings {
    fn build(
        &self,
        _config: &SourcesConfig,
        name: &str,
        _storage_dir: &std::path::Path,
    ) -> anyhow::Result<Box<dyn Source>> {
        Ok(Box::new(DiscoveryCollector {
            name: name.to_string(),
            settings: self.clone(),
            client: Client::new(self.http.clone())?,
        }))
    }

    fn discovers_repository(&self, repository: &str) -> bool {
        match &self.origin {
            Origin::Github(parent) | Origin::Gitlab(parent) => repository
                .to_ascii_lowercase()
                .starts_with(&format!("{}/", parent.to_ascii_lowercase())),
            Origin::Urls(named) => named.iter().any(|(p, _)| p == repository),
        }
    }

    fn discovery(&self) -> Option<&DiscoverySettings> {
        Some(self)
    }
}

impl Source for DiscoveryCollector {
    fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a> {
        Box::pin(async move {
            let now = chrono::Utc::now().timestamp();
            let mut cursors = Cursors::new();
            let found = self.list(ctx, &mut cursors).await?;
            let next = self
                .settings
                .next_states(&found, &entries(&ctx.cursors), now);
            for (path, state) in &next {
                cursors.insert(format!("{ENTRY}{path}"), state.encode());
            }
            tracing::debug!(
                source = %self.name,
                listed = found.len(),
                active = next.values().filter(|s| matches!(s, State::Active { .. })).count(),
                "repositories discovered"
            );
            Ok(Collection {
                source: self.name.clone(),
                sets: Vec::new(),
                cursors,
            })
        })
    }

    fn http_stats(&self) -> Option<crate::sources::http::Stats> {
        Some(self.client.stats())
    }
}

impl DiscoveryCollector {
    async fn list(
        &self,
        ctx: &CollectContext,
        cursors: &mut Cursors,
    ) -> Result<Vec<Listed>, CollectError> {
        let s = &self.settings;
        type Parse = fn(&[u8]) -> Result<Vec<Listed>, String>;
        let (url, parse): (String, Parse) = match &s.origin {
            Origin::Urls(named) => {
                return Ok(named
                    .iter()
                    .map(|(path, url)| Listed {
                        path: path.clone(),
                        url: url.clone(),
                        branch: String::new(),
                        archived: false,
                        fork: false,
                    })
                    .collect())
            }
            Origin::Github(org) => (
                format!(
                    "{}/orgs/{}/repos?per_page=100&type=all",
                    s.api_url,
                    forge::urlencode(org)
                ),
                github_page,
            ),
            Origin::Gitlab(group) => (
                format!(
                    "{}/groups/{}/projects?include_subgroups=true&per_page=100&order_by=id&sort=asc{}",
                    s.api_url,
                    forge::urlencode(group),
                    if s.archived { "" } else { "&archived=false" }
                ),
                gitlab_page,
            ),
        };
        let lines = forge::cached_listing(
            &self.client,
            &url,
            &ctx.cursors,
            cursors,
            &ctx.cancel,
            |body| Ok(parse(body)?.iter().map(Listed::encode).collect()),
        )
        .await?;
        Ok(lines.iter().filter_map(|l| Listed::decode(l)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml: &str) -> DiscoverySettings {
        let text = format!("sources:\n  - name: d\n    type: git_discovery\n{yaml}");
        let config =
            crate::sources::parse_config(std::path::Path::new("c.yaml"), &text, &|_| None).unwrap();
        config.sources[0].settings.discovery().unwrap().clone()
    }

    fn listed(path: &str, archived: bool, fork: bool) -> Listed {
        Listed {
            path: path.into(),
            url: format!("https://h/{path}.git"),
            branch: "main".into(),
            archived,
            fork,
        }
    }

    #[test]
    fn globs_archived_and_forks_choose_the_repositories() {
        let s = settings("    github: acme\n    include: [\"acme/ml-*\", \"acme/core\"]\n    exclude: [\"acme/ml-old*\"]\n");
        assert!(s.wants(&listed("acme/ml-x", false, false)));
        assert!(s.wants(&listed("acme/core", false, false)));
        assert!(!s.wants(&listed("acme/ml-old-1", false, false)));
        assert!(!s.wants(&listed("acme/web", false, false)));
        assert!(!s.wants(&listed("acme/ml-x", true, false)), "archived");
        assert!(!s.wants(&listed("acme/ml-x", false, true)), "fork");
        let s = settings(
            "    gitlab: ml\n    include: [\"ml/*\"]\n    archived: true\n    forks: true\n",
        );
        assert!(
            !s.wants(&listed("ml/sub/x", false, false)),
            "* stays in a segment"
        );
        assert!(s.wants(&listed("ml/x", true, true)));
        let s = settings("    gitlab: ml\n    include: [\"ml/**\"]\n");
        assert!(s.wants(&listed("ml/sub/x", false, false)));
    }

    #[test]
    fn removed_repositories_are_kept_then_forgotten_after_the_retention() {
        let s = settings("    github: acme\n    retention: 1d\n");
        let old: BTreeMap<String, State> = [
            (
                "acme/a".to_string(),
                State::Active {
                    url: "u".into(),
                    branch: "main".into(),
                },
            ),
            (
                "acme/b".to_string(),
                State::Active {
                    url: "u".into(),
                    branch: "main".into(),
                },
            ),
            ("acme/c".to_string(), State::Removed { at: 100 }),
        ]
        .into_iter()
        .collect();
        let next = s.next_states(
            &[
                listed("acme/a", false, false),
                listed("acme/d", false, false),
            ],
            &old,
            1000,
        );
        assert!(matches!(next["acme/a"], State::Active { .. }));
        assert!(matches!(next["acme/d"], State::Active { .. }));
        assert_eq!(next["acme/b"], State::Removed { at: 1000 });
        assert_eq!(next["acme/c"], State::Removed { at: 100 });
        let later = s.next_states(&[], &next, 100 + 86_400);
        assert_eq!(later["acme/c"], State::Forgotten { at: 100 + 86_400 });
        assert_eq!(later["acme/b"], State::Removed { at: 1000 });
        // One that comes back is active again.
        let back = s.next_states(&[listed("acme/c", false, false)], &later, 200_000);
        assert!(matches!(back["acme/c"], State::Active { .. }));
        for state in [
            State::Active {
                url: "https://h/x.git".into(),
                branch: String::new(),
            },
            State::Removed { at: 5 },
            State::Forgotten { at: 7 },
        ] {
            assert_eq!(State::decode(&state.encode()), Some(state));
        }
    }

    #[test]
    fn urls_are_named_by_their_last_two_segments() {
        assert_eq!(
            url_path("https://h/ml/churn.git").as_deref(),
            Some("ml/churn")
        );
        assert_eq!(
            url_path("file:///srv/git/ml/churn.git").as_deref(),
            Some("ml/churn")
        );
        assert_eq!(url_path("https://h/a/b/c?x=1").as_deref(), Some("b/c"));
        assert_eq!(url_path("https://h/churn.git"), None);
        let s = settings("    urls: [\"https://h/ml/a.git\", \"file:///x/ml/b\"]\n    token: t\n");
        assert_eq!(
            s.clone_credentials("https://h/ml/a.git").unwrap().0,
            "x-access-token"
        );
        assert!(s.clone_credentials("file:///x/ml/b").is_none());
        assert!(s.discovers_repository("ml/a") && !s.discovers_repository("ml/c"));
    }

    #[test]
    fn listings_parse_from_the_documented_shapes() {
        let gh = br#"[{"id": 1296269, "name": "Hello-World", "full_name": "octocat/Hello-World",
            "clone_url": "https://github.com/octocat/Hello-World.git", "fork": false,
            "archived": false, "default_branch": "master", "private": false}]"#;
        let got = github_page(gh).unwrap();
        assert_eq!(got[0].path, "octocat/Hello-World");
        assert_eq!(got[0].branch, "master");
        let gl = br#"[{"id": 4, "path_with_namespace": "diaspora/diaspora-client",
            "http_url_to_repo": "https://gitlab.example.com/diaspora/diaspora-client.git",
            "default_branch": "main", "archived": false, "empty_repo": false,
            "forked_from_project": {"id": 3}},
            {"id": 5, "path_with_namespace": "diaspora/empty", "http_url_to_repo": "https://gitlab.example.com/diaspora/empty.git",
             "default_branch": null, "archived": false, "empty_repo": true}]"#;
        let got = gitlab_page(gl).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].fork);
        assert!(github_page(b"{}").is_err());
    }
}
