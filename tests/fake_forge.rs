//! In-process fakes of the forges that cannot run here, built from the vendors' documented
//! response shapes (GitHub's OpenAPI description): an axum server on 127.0.0.1 and a
//! GitHub that serves Actions runs with pagination (`Link`), ETags and 304s, rate-limit
//! headers, bearer tokens, and scripted faults. Every request is logged.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;

/// A request as the fakes see it.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Header names lowercased.
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(status: u16, v: &Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(v).unwrap(),
        }
    }
}

type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// An HTTP/1.1 server (axum, on its own runtime and thread) answering every request with
/// `handler`, which runs on a blocking thread (handlers may sleep to be slow). Query values
/// are percent-decoded; header names are lowercase. A `connection: close` header in the
/// answer closes the connection after it.
pub struct FakeServer {
    pub addr: String,
}

impl FakeServer {
    pub fn start(handler: Handler) -> FakeServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(
                    move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
                        let handler = handler.clone();
                        async move { answer_with(handler, &uri, &headers).await }
                    },
                );
                let _ = axum::serve(listener, app).await;
            });
        });
        FakeServer { addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn answer_with(
    handler: Handler,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
) -> axum::response::Response {
    let request = Request {
        path: uri.path().to_string(),
        query: form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    let r = tokio::task::spawn_blocking(move || handler(&request))
        .await
        .expect("the fake's handler panicked");
    let mut response = axum::http::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        response = response.header(k.as_str(), v.as_str());
    }
    response.body(axum::body::Body::from(r.body)).unwrap()
}

/// A path segment, percent-decoded (`acme%2Fviews` → `acme/views`).
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// RFC 3339 of seconds since the epoch.
pub fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// One attempt of a workflow run, in GitHub's shape.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub conclusion: Option<&'static str>,
    pub started: i64,
    pub updated: i64,
    /// The attempt's jobs: (name, conclusion).
    pub jobs: Vec<(&'static str, Option<&'static str>)>,
}

#[derive(Debug, Clone)]
pub struct Run {
    pub id: u64,
    pub workflow: &'static str,
    pub branch: &'static str,
    pub sha: String,
    pub created: i64,
    /// Attempts in order; the last is the run's current state.
    pub attempts: Vec<Attempt>,
}

impl Run {
    fn json(&self, attempt: usize) -> Value {
        let a = &self.attempts[attempt - 1];
        json!({
            "id": self.id,
            "name": self.workflow,
            "node_id": format!("WFR_{}", self.id),
            "head_branch": self.branch,
            "head_sha": self.sha,
            "path": format!(".github/workflows/{}.yml", self.workflow),
            "run_number": self.id,
            "event": "push",
            "status": if a.conclusion.is_some() { "completed" } else { "in_progress" },
            "conclusion": a.conclusion,
            "workflow_id": 161335,
            "run_attempt": attempt,
            "created_at": rfc3339(self.created),
            "updated_at": rfc3339(a.updated),
            "run_started_at": rfc3339(a.started),
            "actor": {"login": "octocat", "id": 1, "type": "User"},
            "triggering_actor": {"login": "octocat", "id": 1, "type": "User"},
        })
    }
}

/// A fault served instead of the next answers.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status, these headers and body, `times` times.
    Answer(u16, Vec<(String, String)>, String),
}

/// An issue or pull request, in GitHub's shapes.
#[derive(Debug, Clone, Default)]
pub struct Item {
    pub number: u64,
    pub pull: bool,
    pub author: &'static str,
    pub created: i64,
    pub updated: i64,
    pub closed: Option<i64>,
    /// Issue comments: (login, at).
    pub comments: Vec<(&'static str, i64)>,
    pub merged: Option<i64>,
    pub base: &'static str,
    /// Reviews: (id, login, state, body, submitted at).
    pub reviews: Vec<(u64, &'static str, &'static str, &'static str, i64)>,
    /// Inline review comments: (login, at, review id).
    pub inline: Vec<(&'static str, i64, u64)>,
}

fn user_json(login: &str) -> Value {
    let bot = login.ends_with("[bot]");
    json!({"login": login, "id": 1, "type": if bot { "Bot" } else { "User" }})
}

/// A release: (id, tag, draft, prerelease, published at, author, body).
pub type Release = (
    u64,
    &'static str,
    bool,
    bool,
    i64,
    &'static str,
    &'static str,
);

/// How a forge's listing shows a repository: its clone URL, archived, a fork.
#[derive(Clone, Default)]
pub struct Listing {
    pub clone_url: String,
    pub archived: bool,
    pub fork: bool,
}

/// `items` paged as GitHub pages them (`per_page`, default 30, and `page`; a `Link:
/// rel="next"` header) or, with `gitlab`, as GitLab does (default 20; `x-next-page`, empty on
/// the last page, and `x-page`); `wrap` makes the body of a page from its items and the total.
fn paged(
    r: &Request,
    base: &str,
    page_size: usize,
    items: Vec<Value>,
    gitlab: bool,
    wrap: impl FnOnce(Vec<Value>, usize) -> Value,
) -> Response {
    let per_page = r
        .query
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(if gitlab { 20 } else { 30 })
        .min(page_size.max(1));
    let page = r
        .query
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1);
    let more = page * per_page < items.len();
    let total = items.len();
    let chunk: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = Response::json(200, &wrap(chunk, total));
    if gitlab {
        let next = if more {
            (page + 1).to_string()
        } else {
            String::new()
        };
        response.headers.push(("x-next-page".into(), next));
        response.headers.push(("x-page".into(), page.to_string()));
    } else if more {
        let mut query: Vec<String> = r
            .query
            .iter()
            .filter(|(k, _)| k.as_str() != "page")
            .map(|(k, v)| format!("{k}={}", v.replace('>', "%3E").replace('=', "%3D")))
            .collect();
        query.push(format!("page={}", page + 1));
        response.headers.push((
            "link".into(),
            format!("<{base}{}?{}>; rel=\"next\"", r.path, query.join("&")),
        ));
    }
    response
}

/// A page that is just its items, as most listings are.
fn array(items: Vec<Value>, _total: usize) -> Value {
    Value::Array(items)
}

#[derive(Default)]
pub struct GithubState {
    /// `owner/name` → (default branch, runs).
    pub repos: BTreeMap<String, (String, Vec<Run>)>,
    /// `owner/name` → issues and pull requests.
    pub items: BTreeMap<String, Vec<Item>>,
    /// `owner/name` → releases: (id, tag, draft, prerelease, published at, author, body).
    pub releases: BTreeMap<String, Vec<Release>>,
    /// `owner/name` → how an organisation's listing shows it (clone URL, archived, fork);
    /// without an entry: `{base}/{name}.git`, neither archived nor a fork.
    pub listing: BTreeMap<String, Listing>,
    pub page_size: usize,
    /// The rate-limit budget announced (`x-ratelimit-limit`); 5000 when 0.
    pub limit: usize,
    pub token: Option<String>,
    /// Served before anything else, in order.
    pub faults: VecDeque<Fault>,
    /// A fault served for every request while set (a token that stopped working).
    pub sticky: Option<Fault>,
    /// Every answer waits this long first (a slow upstream).
    pub delay: Duration,
    /// (path with query, status, when) of every request.
    pub log: Vec<(String, u16, Instant)>,
}

#[derive(Clone)]
pub struct FakeGithub {
    pub state: Arc<Mutex<GithubState>>,
    pub server: Arc<FakeServer>,
}

impl FakeGithub {
    pub fn start(token: Option<&str>, page_size: usize) -> FakeGithub {
        let state = Arc::new(Mutex::new(GithubState {
            page_size,
            token: token.map(String::from),
            ..GithubState::default()
        }));
        let s = state.clone();
        let base: Arc<Mutex<String>> = Arc::default();
        let b = base.clone();
        let server = FakeServer::start(Arc::new(move |r| {
            let base = b.lock().unwrap().clone();
            let delay = s.lock().unwrap().delay;
            std::thread::sleep(delay);
            let mut st = s.lock().unwrap();
            let response = answer(&mut st, &base, r);
            let shown = match r.query.is_empty() {
                true => r.path.clone(),
                false => format!(
                    "{}?{}",
                    r.path,
                    r.query
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join("&")
                ),
            };
            st.log.push((shown, response.status, Instant::now()));
            response
        }));
        *base.lock().unwrap() = server.url();
        FakeGithub {
            state,
            server: Arc::new(server),
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut GithubState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// The log since `from`, as (path, status).
    pub fn log_since(&self, from: usize) -> Vec<(String, u16)> {
        self.with(|s| {
            s.log[from..]
                .iter()
                .map(|(p, c, _)| (p.clone(), *c))
                .collect()
        })
    }

    pub fn log_len(&self) -> usize {
        self.with(|s| s.log.len())
    }
}

fn rate_headers(limit: usize, used: usize) -> Vec<(String, String)> {
    let limit = if limit == 0 { 5000 } else { limit };
    let reset = chrono::Utc::now().timestamp() + 3600;
    vec![
        ("x-ratelimit-limit".into(), limit.to_string()),
        (
            "x-ratelimit-remaining".into(),
            (limit - used.min(limit - 1)).to_string(),
        ),
        ("x-ratelimit-reset".into(), reset.to_string()),
    ]
}

fn fault_response(f: &Fault) -> Response {
    let Fault::Answer(status, headers, body) = f;
    Response {
        status: *status,
        headers: headers.clone(),
        body: body.clone().into_bytes(),
    }
}

/// An answer with an ETag; a matching `If-None-Match` gets a 304.
fn conditional(r: &Request, mut response: Response) -> Response {
    let digest = sha2::Sha256::digest(&response.body);
    let etag = format!("W/\"{}\"", mlsteward::hex(&digest[..8]));
    if r.headers.get("if-none-match") == Some(&etag) {
        return Response {
            status: 304,
            headers: vec![("etag".into(), etag)],
            body: Vec::new(),
        };
    }
    response.headers.push(("etag".into(), etag));
    response
}

fn answer(st: &mut GithubState, base: &str, r: &Request) -> Response {
    if let Some(f) = st.faults.pop_front() {
        return fault_response(&f);
    }
    if let Some(f) = &st.sticky {
        return fault_response(f);
    }
    if let Some(token) = &st.token {
        if r.headers.get("authorization") != Some(&format!("Bearer {token}")) {
            return Response::json(
                401,
                &json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
            );
        }
    }
    let used = st.log.iter().filter(|(_, c, _)| *c != 304).count();
    let mut response = route(st, base, r);
    response.headers.extend(rate_headers(st.limit, used + 1));
    if response.status == 200 {
        conditional(r, response)
    } else {
        response
    }
}

fn route(st: &GithubState, base: &str, r: &Request) -> Response {
    let parts: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let not_found = || Response::json(404, &json!({"message": "Not Found"}));
    match parts.as_slice() {
        ["repos", o, n] => match st.repos.get(&format!("{o}/{n}")) {
            Some((branch, _)) => Response::json(
                200,
                &json!({"id": 1, "full_name": format!("{o}/{n}"), "default_branch": branch, "archived": false}),
            ),
            None => not_found(),
        },
        ["orgs", org, "repos"] => {
            let list: Vec<Value> = st
                .repos
                .iter()
                .filter(|(name, _)| name.starts_with(&format!("{org}/")))
                .map(|(name, (branch, _))| {
                    let l = st.listing.get(name).cloned().unwrap_or_default();
                    let clone_url = if l.clone_url.is_empty() {
                        format!("{base}/{name}.git")
                    } else {
                        l.clone_url
                    };
                    json!({"full_name": name, "name": name.split('/').nth(1), "default_branch": branch,
                           "archived": l.archived, "fork": l.fork, "clone_url": clone_url, "private": false})
                })
                .collect();
            paged(r, base, st.page_size, list, false, array)
        }
        ["repos", o, n, "actions", "runs"] => {
            let Some((_, runs)) = st.repos.get(&format!("{o}/{n}")) else {
                return not_found();
            };
            let since = r
                .query
                .get("created")
                .and_then(|c| c.strip_prefix(">="))
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp())
                .unwrap_or(i64::MIN);
            let mut selected: Vec<&Run> = runs
                .iter()
                .filter(|run| run.created >= since)
                .filter(|run| r.query.get("branch").is_none_or(|b| b == run.branch))
                .collect();
            selected.sort_by_key(|run| std::cmp::Reverse((run.created, run.id)));
            let items = selected
                .iter()
                .map(|run| run.json(run.attempts.len()))
                .collect();
            paged(
                r,
                base,
                st.page_size,
                items,
                false,
                |chunk, total| json!({"total_count": total, "workflow_runs": chunk}),
            )
        }
        ["repos", o, n, "issues"] => {
            let mut items: Vec<&Item> = st
                .items
                .get(&format!("{o}/{n}"))
                .map(|v| v.iter().collect())
                .unwrap_or_default();
            items.sort_by_key(|i| std::cmp::Reverse((i.updated, i.number)));
            let list: Vec<Value> = items
                .iter()
                .map(|i| {
                    let mut v = json!({
                        "number": i.number, "title": format!("item {}", i.number), "state": if i.closed.is_some() { "closed" } else { "open" },
                        "user": user_json(i.author), "comments": i.comments.len(),
                        "created_at": rfc3339(i.created), "updated_at": rfc3339(i.updated),
                        "closed_at": i.closed.map(rfc3339),
                    });
                    if i.pull {
                        v.as_object_mut().unwrap().insert("pull_request".into(), json!({"url": "x", "merged_at": i.merged.map(rfc3339)}));
                    }
                    v
                })
                .collect();
            Response::json(200, &Value::Array(list))
        }
        ["repos", o, n, "releases"] => {
            let list: Vec<Value> = st
                .releases
                .get(&format!("{o}/{n}"))
                .into_iter()
                .flatten()
                .map(|(id, tag, draft, pre, at, author, body)| {
                    json!({"id": id, "tag_name": tag, "name": tag, "draft": draft, "prerelease": pre,
                           "created_at": rfc3339(*at), "published_at": if *draft { Value::Null } else { json!(rfc3339(*at)) },
                           "author": user_json(author), "body": body})
                })
                .collect();
            Response::json(200, &Value::Array(list))
        }
        ["repos", o, n, kind @ ("issues" | "pulls"), num, rest @ ..] => {
            let Some(item) = st
                .items
                .get(&format!("{o}/{n}"))
                .and_then(|v| v.iter().find(|i| num.parse() == Ok(i.number)))
            else {
                return not_found();
            };
            match (*kind, rest) {
                ("issues", ["comments"]) => Response::json(
                    200,
                    &Value::Array(
                        item.comments
                            .iter()
                            .map(|(l, at)| json!({"id": at, "user": user_json(l), "body": "hi", "created_at": rfc3339(*at)}))
                            .collect(),
                    ),
                ),
                ("pulls", []) if item.pull => Response::json(
                    200,
                    &json!({"number": item.number, "merged_at": item.merged.map(rfc3339), "base": {"ref": item.base}, "user": user_json(item.author)}),
                ),
                ("pulls", ["reviews"]) if item.pull => Response::json(
                    200,
                    &Value::Array(
                        item.reviews
                            .iter()
                            .map(|(id, l, state, body, at)| json!({"id": id, "user": user_json(l), "state": state, "body": body, "submitted_at": rfc3339(*at)}))
                            .collect(),
                    ),
                ),
                ("pulls", ["comments"]) if item.pull => Response::json(
                    200,
                    &Value::Array(
                        item.inline
                            .iter()
                            .map(|(l, at, review)| json!({"id": at, "user": user_json(l), "body": "nit", "created_at": rfc3339(*at), "pull_request_review_id": review}))
                            .collect(),
                    ),
                ),
                _ => not_found(),
            }
        }
        ["repos", o, n, "actions", "runs", id, "attempts", k, "jobs"] => {
            let Some((_, runs)) = st.repos.get(&format!("{o}/{n}")) else {
                return not_found();
            };
            let (Ok(id), Ok(k)) = (id.parse::<u64>(), k.parse::<usize>()) else {
                return not_found();
            };
            match runs.iter().find(|run| run.id == id) {
                Some(run) if k >= 1 && k <= run.attempts.len() => {
                    let a = &run.attempts[k - 1];
                    let jobs: Vec<Value> = a
                        .jobs
                        .iter()
                        .enumerate()
                        .map(|(i, (name, conclusion))| {
                            json!({"id": id * 100 + i as u64, "run_id": id, "run_attempt": k,
                                   "name": name, "status": if conclusion.is_some() { "completed" } else { "in_progress" },
                                   "conclusion": conclusion, "started_at": rfc3339(a.started),
                                   "completed_at": conclusion.map(|_| rfc3339(a.updated))})
                        })
                        .collect();
                    Response::json(200, &json!({"total_count": jobs.len(), "jobs": jobs}))
                }
                _ => not_found(),
            }
        }
        ["repos", o, n, "actions", "runs", id, "attempts", k] => {
            let Some((_, runs)) = st.repos.get(&format!("{o}/{n}")) else {
                return not_found();
            };
            let (Ok(id), Ok(k)) = (id.parse::<u64>(), k.parse::<usize>()) else {
                return not_found();
            };
            match runs.iter().find(|run| run.id == id) {
                Some(run) if k >= 1 && k <= run.attempts.len() => Response::json(200, &run.json(k)),
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}

/// A GitLab pipeline in GitLab's shape; `finished` is `None` while it runs.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub id: u64,
    pub branch: &'static str,
    pub source: &'static str,
    pub status: &'static str,
    pub created: i64,
    pub started: i64,
    pub finished: Option<i64>,
    pub updated: i64,
    pub coverage: Option<&'static str>,
}

impl Pipeline {
    fn json(&self, project_id: usize, detail: bool) -> Value {
        let mut v = json!({
            "id": self.id, "iid": self.id, "project_id": project_id,
            "sha": format!("{:040x}", self.id), "ref": self.branch, "status": self.status,
            "source": self.source,
            "created_at": rfc3339(self.created), "updated_at": rfc3339(self.updated),
            "web_url": format!("https://gitlab.example.com/p/-/pipelines/{}", self.id),
        });
        if detail {
            let m = v.as_object_mut().unwrap();
            // A skipped pipeline never ran: GitLab gives it no start, finish or duration.
            let ran = self.status != "skipped";
            let finished = self.finished.filter(|_| ran);
            m.insert(
                "started_at".into(),
                json!(ran.then(|| rfc3339(self.started))),
            );
            m.insert("finished_at".into(), json!(finished.map(rfc3339)));
            m.insert("coverage".into(), json!(self.coverage));
            m.insert(
                "user".into(),
                json!({"id": 1, "username": "root", "name": "Administrator"}),
            );
            m.insert("duration".into(), json!(finished.map(|f| f - self.started)));
        }
        v
    }
}

/// A merge request (`mr`) or an issue, in GitLab's shapes.
#[derive(Debug, Clone, Default)]
pub struct GlItem {
    pub iid: u64,
    pub mr: bool,
    pub author: &'static str,
    pub created: i64,
    pub updated: i64,
    pub merged: Option<i64>,
    pub closed: Option<i64>,
    pub target: &'static str,
    /// Notes: (username, at, system).
    pub notes: Vec<(&'static str, i64, bool)>,
    pub approvers: Vec<&'static str>,
}

/// A GitLab release: (tag, description, released_at, upcoming, author's username).
pub type GlRelease = (&'static str, &'static str, i64, bool, &'static str);

#[derive(Default)]
pub struct GitlabState {
    /// Project path → (default branch, pipelines).
    pub projects: BTreeMap<String, (String, Vec<Pipeline>)>,
    /// Project path → merge requests and issues.
    pub items: BTreeMap<String, Vec<GlItem>>,
    /// Project path → releases.
    pub releases: BTreeMap<String, Vec<GlRelease>>,
    /// Project path → how a group's listing shows it.
    pub listing: BTreeMap<String, Listing>,
    pub page_size: usize,
    pub token: Option<String>,
    pub faults: VecDeque<Fault>,
    pub log: Vec<(String, u16, Instant)>,
}

/// GitLab REST v4 under `/api/v4`: projects, group projects, pipelines (ordered by update,
/// paginated with `x-next-page`), pipeline details, `PRIVATE-TOKEN`, ETags.
#[derive(Clone)]
pub struct FakeGitlab {
    pub state: Arc<Mutex<GitlabState>>,
    pub server: Arc<FakeServer>,
}

impl FakeGitlab {
    pub fn start(token: Option<&str>, page_size: usize) -> FakeGitlab {
        let state = Arc::new(Mutex::new(GitlabState {
            page_size,
            token: token.map(String::from),
            ..GitlabState::default()
        }));
        let s = state.clone();
        let server = FakeServer::start(Arc::new(move |r| {
            let mut st = s.lock().unwrap();
            let response = gitlab_answer(&mut st, r);
            let shown = format!(
                "{}?{}",
                r.path,
                r.query
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&")
            );
            st.log.push((shown, response.status, Instant::now()));
            response
        }));
        FakeGitlab {
            state,
            server: Arc::new(server),
        }
    }

    pub fn url(&self) -> String {
        format!("{}/api/v4", self.server.url())
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut GitlabState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn log_since(&self, from: usize) -> Vec<(String, u16)> {
        self.with(|s| {
            s.log[from..]
                .iter()
                .map(|(p, c, _)| (p.clone(), *c))
                .collect()
        })
    }

    pub fn log_len(&self) -> usize {
        self.with(|s| s.log.len())
    }
}

fn gitlab_answer(st: &mut GitlabState, r: &Request) -> Response {
    if let Some(f) = st.faults.pop_front() {
        return fault_response(&f);
    }
    if let Some(token) = &st.token {
        if r.headers.get("private-token") != Some(token) {
            return Response::json(401, &json!({"message": "401 Unauthorized"}));
        }
    }
    let segments: Vec<String> = r
        .path
        .trim_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let not_found = || Response::json(404, &json!({"message": "404 Project Not Found"}));
    let index = |name: &str| st.projects.keys().position(|k| k == name).unwrap_or(0) + 1;
    let mut response = match parts.as_slice() {
        ["api", "v4", "projects", p] => match st.projects.get(*p) {
            Some((branch, _)) => Response::json(
                200,
                &json!({"id": index(p), "path_with_namespace": p, "default_branch": branch, "archived": false}),
            ),
            None => not_found(),
        },
        ["api", "v4", "groups", g, "projects"] => {
            let list: Vec<Value> = st
                .projects
                .iter()
                .filter(|(p, _)| p.starts_with(&format!("{g}/")))
                .filter_map(|(p, (b, _))| {
                    let l = st.listing.get(p).cloned().unwrap_or_default();
                    if r.query.get("archived").is_some_and(|a| a == "false") && l.archived {
                        return None;
                    }
                    let url = if l.clone_url.is_empty() { format!("https://gitlab.example.com/{p}.git") } else { l.clone_url };
                    let mut v = json!({"id": index(p), "path_with_namespace": p, "default_branch": b,
                                       "archived": l.archived, "http_url_to_repo": url, "empty_repo": false});
                    if l.fork {
                        v["forked_from_project"] = json!({"id": 1});
                    }
                    Some(v)
                })
                .collect();
            paged(r, "", st.page_size, list, true, array)
        }
        ["api", "v4", "projects", p, "pipelines"] => {
            let Some((_, pipelines)) = st.projects.get(*p) else {
                return not_found();
            };
            let mut selected: Vec<&Pipeline> = pipelines
                .iter()
                .filter(|x| r.query.get("ref").is_none_or(|b| b == x.branch))
                .collect();
            selected.sort_by_key(|x| std::cmp::Reverse((x.updated, x.id)));
            let items = selected.iter().map(|x| x.json(index(p), false)).collect();
            paged(r, "", st.page_size, items, true, array)
        }
        ["api", "v4", "projects", p, "releases"] => {
            let mut list = st.releases.get(*p).cloned().unwrap_or_default();
            list.sort_by_key(|r| std::cmp::Reverse(r.2));
            let list: Vec<Value> = list
                .iter()
                .map(|(tag, description, at, upcoming, author)| {
                    json!({"tag_name": tag, "name": tag, "description": description,
                           "created_at": rfc3339(*at), "released_at": rfc3339(*at),
                           "upcoming_release": upcoming,
                           "author": {"id": 1, "username": author, "name": author}})
                })
                .collect();
            Response::json(200, &Value::Array(list))
        }
        ["api", "v4", "projects", p, path @ ("merge_requests" | "issues")] => {
            let mr = *path == "merge_requests";
            let mut list: Vec<&GlItem> = st
                .items
                .get(*p)
                .into_iter()
                .flatten()
                .filter(|i| i.mr == mr)
                .collect();
            list.sort_by_key(|i| std::cmp::Reverse((i.updated, i.iid)));
            let list: Vec<Value> = list
                .iter()
                .map(|i| {
                    let state = match (i.merged, i.closed) {
                        (Some(_), _) => "merged",
                        (None, Some(_)) => "closed",
                        _ => "opened",
                    };
                    json!({"id": 1000 + i.iid, "iid": i.iid, "state": state,
                           "author": {"id": 1, "username": i.author, "name": i.author},
                           "created_at": rfc3339(i.created), "updated_at": rfc3339(i.updated),
                           "merged_at": i.merged.map(rfc3339), "closed_at": if i.mr { Value::Null } else { json!(i.closed.map(rfc3339)) },
                           "target_branch": i.target, "user_notes_count": i.notes.iter().filter(|n| !n.2).count()})
                })
                .collect();
            Response::json(200, &Value::Array(list))
        }
        ["api", "v4", "projects", p, path @ ("merge_requests" | "issues"), iid, what] => {
            let mr = *path == "merge_requests";
            let Some(item) = st
                .items
                .get(*p)
                .and_then(|v| v.iter().find(|i| i.mr == mr && iid.parse() == Ok(i.iid)))
            else {
                return not_found();
            };
            match *what {
                "notes" => Response::json(
                    200,
                    &Value::Array(
                        item.notes
                            .iter()
                            .map(|(u, at, system)| {
                                json!({"id": at, "body": "note", "system": system,
                                "author": {"username": u}, "created_at": rfc3339(*at)})
                            })
                            .collect(),
                    ),
                ),
                "approvals" if mr => Response::json(
                    200,
                    &json!({"approved": !item.approvers.is_empty(),
                            "approved_by": item.approvers.iter().map(|u| json!({"user": {"username": u}})).collect::<Vec<_>>()}),
                ),
                _ => not_found(),
            }
        }
        ["api", "v4", "projects", p, "pipelines", id] => {
            let Some((_, pipelines)) = st.projects.get(*p) else {
                return not_found();
            };
            match pipelines.iter().find(|x| id.parse() == Ok(x.id)) {
                Some(x) => Response::json(200, &x.json(index(p), true)),
                None => not_found(),
            }
        }
        _ => not_found(),
    };
    response
        .headers
        .push(("ratelimit-limit".into(), "2000".into()));
    response
        .headers
        .push(("ratelimit-remaining".into(), "1990".into()));
    if response.status == 200 {
        conditional(r, response)
    } else {
        response
    }
}

/// A Jenkins build in the JSON API's shape; `result` is `None` while building.
#[derive(Debug, Clone)]
pub struct Build {
    pub number: u64,
    pub result: Option<&'static str>,
    pub timestamp: i64,
    /// Whole seconds, and the milliseconds past them.
    pub duration: i64,
    pub millis: i64,
    pub tests: Option<(u64, u64, u64)>,
}

#[derive(Default)]
pub struct JenkinsState {
    /// Job path (`ml/feature-store/main`, as in `/job/ml/job/feature-store/job/main/`) → builds.
    pub builds: BTreeMap<String, Vec<Build>>,
    /// The `jobs` tree the root answers, with `URL` standing for the server's address.
    pub tree: String,
    /// Folder path (`a/b/c/d`) → the `jobs` tree it answers when asked for its own.
    pub folders: BTreeMap<String, String>,
    /// `Basic …` credentials required, when set.
    pub basic: Option<String>,
    pub log: Vec<(String, u16, Instant)>,
}

/// Jenkins's JSON API: the job tree at `/api/json`, builds at `/job/…/api/json`, basic auth.
#[derive(Clone)]
pub struct FakeJenkins {
    pub state: Arc<Mutex<JenkinsState>>,
    pub server: Arc<FakeServer>,
}

impl FakeJenkins {
    pub fn start(user_and_token: Option<(&str, &str)>) -> FakeJenkins {
        let state = Arc::new(Mutex::new(JenkinsState {
            basic: user_and_token
                .map(|(u, t)| format!("Basic {}", base64(format!("{u}:{t}").as_bytes()))),
            ..JenkinsState::default()
        }));
        let s = state.clone();
        let base: Arc<Mutex<String>> = Arc::default();
        let b = base.clone();
        let server = FakeServer::start(Arc::new(move |r| {
            let base = b.lock().unwrap().clone();
            let mut st = s.lock().unwrap();
            let response = jenkins_answer(&st, &base, r);
            st.log
                .push((r.path.clone(), response.status, Instant::now()));
            response
        }));
        *base.lock().unwrap() = server.url();
        FakeJenkins {
            state,
            server: Arc::new(server),
        }
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut JenkinsState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }
}

fn jenkins_answer(st: &JenkinsState, base: &str, r: &Request) -> Response {
    if let Some(basic) = &st.basic {
        if r.headers.get("authorization") != Some(basic) {
            return Response {
                status: 401,
                headers: vec![],
                body: b"Unauthorized".to_vec(),
            };
        }
    }
    if r.path == "/api/json" {
        let tree: Value = serde_json::from_str(&st.tree.replace("URL", base)).unwrap();
        return Response::json(200, &tree);
    }
    let Some(job) = r.path.strip_suffix("/api/json") else {
        return Response::json(404, &json!({}));
    };
    let path: Vec<String> = job
        .trim_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .chunks(2)
        .filter(|c| c[0] == "job" && c.len() == 2)
        .map(|c| percent_decode(c[1]))
        .collect();
    if r.query.get("tree").is_some_and(|t| t.starts_with("jobs[")) {
        return match st.folders.get(&path.join("/")) {
            Some(tree) => Response::json(200, &serde_json::from_str::<Value>(tree).unwrap()),
            None => Response::json(404, &json!({})),
        };
    }
    match st.builds.get(&path.join("/")) {
        Some(builds) => {
            let mut list: Vec<&Build> = builds.iter().collect();
            list.sort_by_key(|b| std::cmp::Reverse(b.number));
            let builds: Vec<Value> = list
                .iter()
                .take(50)
                .map(|b| {
                    let mut actions = vec![json!({})];
                    if let Some((t, f, s)) = b.tests {
                        actions.push(json!({"_class": "hudson.tasks.junit.TestResultAction", "totalCount": t, "failCount": f, "skipCount": s}));
                    }
                    json!({
                        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                        "number": b.number, "result": b.result, "building": b.result.is_none(),
                        "timestamp": b.timestamp * 1000, "duration": if b.result.is_some() { b.duration * 1000 + b.millis } else { 0 },
                        "actions": actions,
                    })
                })
                .collect();
            Response::json(
                200,
                &json!({"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "builds": builds}),
            )
        }
        None => Response::json(404, &json!({})),
    }
}

/// Standard base64 (for `Basic` credentials).
pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
