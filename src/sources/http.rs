//! The one upstream HTTP client every HTTP source uses (GitHub, GitLab, Jenkins, MLflow, Feast,
//! probes, Hugging Face). It is polite and bounded by construction:
//!
//! - a timeout on every request, a cap on every response body, and a bound on concurrent
//!   requests per source;
//! - retries with capped exponential backoff and full jitter on 5xx answers, connection errors
//!   and timeouts; `Retry-After` obeyed on 429, 503 and GitHub's 403 secondary rate limit;
//! - rate-limit headers (`x-ratelimit-*`, GitLab's `ratelimit-*`) read, kept for export, and
//!   used to slow down before the limit is reached and to wait for the reset when it is;
//! - conditional requests: ETag / `If-None-Match` and `Last-Modified` / `If-Modified-Since`
//!   validators, so an unchanged resource costs a 304 (which GitHub does not bill);
//! - pagination through `Link: <…>; rel="next"` and GitLab's `x-next-page`;
//! - bearer, token and basic authentication from secrets, a custom CA bundle and a client
//!   certificate for private servers, a User-Agent naming mlsteward and its version;
//! - cancellation honoured mid-request.
//!
//! Secrets travel only in headers; errors name the URL without its query and never a header.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::collector::{CollectError, ErrorKind};
use crate::config::Secret;
use crate::exposition::Histogram;

/// How a source authenticates.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Auth {
    #[default]
    None,
    /// `Authorization: Bearer <token>` (GitHub, Hugging Face, MLflow behind a proxy).
    Bearer(Secret),
    /// A token in a header of its own, such as GitLab's `PRIVATE-TOKEN`.
    Header { name: String, token: Secret },
    /// `Authorization: Basic …` (Jenkins user and API token).
    Basic { username: String, password: Secret },
}

impl Auth {
    /// The same credentials with a secret read again from its file, when it came from one
    /// and its content changed (the token was rotated).
    fn reread(&self) -> Option<Auth> {
        match self {
            Auth::None => None,
            Auth::Bearer(token) => token.reread().map(Auth::Bearer),
            Auth::Header { name, token } => token.reread().map(|token| Auth::Header {
                name: name.clone(),
                token,
            }),
            Auth::Basic { username, password } => password.reread().map(|password| Auth::Basic {
                username: username.clone(),
                password,
            }),
        }
    }
}

/// Everything a source configures about its upstream connection.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub auth: Auth,
    /// Per request, from sending it to reading the whole body.
    pub timeout: Duration,
    /// Retries after the first attempt (so `max_retries + 1` attempts at most).
    pub max_retries: u32,
    /// The first backoff; each retry doubles it, up to `max_backoff`, with full jitter.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` or rate-limit reset waited for; longer is a `rate_limited`
    /// error (the next collection tries again).
    pub max_wait: Duration,
    pub max_body_bytes: usize,
    /// Requests in flight at once for this source.
    pub concurrency: usize,
    /// PEM file of extra trusted certificate authorities.
    pub ca_bundle: Option<PathBuf>,
    /// PEM file holding a client certificate and its private key.
    pub client_identity: Option<PathBuf>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            auth: Auth::None,
            timeout: Duration::from_secs(30),
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_wait: Duration::from_secs(120),
            max_body_bytes: 32 * 1024 * 1024,
            concurrency: 4,
            ca_bundle: None,
            client_identity: None,
        }
    }
}

/// Conditional-request validators of a resource, kept between collections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    /// The validators of `url` as a source's cursors keep them. Validators live in the cursors
    /// so that they are stored in the same transaction as the facts read from the answer they
    /// came with: a crash between the two can never make a 304 hide facts that were not stored.
    pub fn from_cursors(cursors: &crate::facts::Cursors, url: &str) -> Validators {
        Validators {
            etag: cursors.get(&format!("etag {url}")).cloned(),
            last_modified: cursors.get(&format!("last-modified {url}")).cloned(),
        }
    }

    /// Records these validators of `url` in `cursors` (removing stale ones).
    pub fn to_cursors(&self, cursors: &mut crate::facts::Cursors, url: &str) {
        for (key, value) in [
            (format!("etag {url}"), &self.etag),
            (format!("last-modified {url}"), &self.last_modified),
        ] {
            match value {
                Some(v) => {
                    cursors.insert(key, v.clone());
                }
                None => {
                    cursors.remove(&key);
                }
            }
        }
    }
}

/// What a GET found.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// The resource changed (or had no validators): its body, new validators and the next
    /// page's URL, if any.
    Body {
        status: u16,
        body: Vec<u8>,
        validators: Validators,
        next: Option<String>,
    },
    /// 304: unchanged since the validators were issued.
    NotModified,
}

/// The upstream's rate-limit budget as its last answer stated it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// When the budget resets, in seconds since the epoch.
    pub reset_at: Option<i64>,
}

/// Request outcomes for the self metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Attempts by status code, `"error"` for no answer (connection failure, timeout).
    pub requests: BTreeMap<String, u64>,
    /// Durations of the attempts that got an answer, in seconds.
    pub durations: Histogram,
    pub rate_limit: RateLimit,
}

/// Upper bounds of the request-duration histogram, in seconds.
pub const DURATION_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

impl Default for Stats {
    fn default() -> Self {
        Stats {
            requests: BTreeMap::new(),
            durations: Histogram::new(&DURATION_BUCKETS),
            rate_limit: RateLimit::default(),
        }
    }
}

impl Stats {
    /// Attempts that were billable: every one but the 304s (GitHub does not bill a 304).
    pub fn billable(&self) -> u64 {
        self.requests
            .iter()
            .filter(|(code, _)| code.as_str() != "304")
            .map(|(_, n)| n)
            .sum()
    }
}

/// One source's client: cheap to clone, shared by the source's concurrent requests.
#[derive(Clone)]
pub struct Client {
    inner: reqwest::Client,
    config: HttpConfig,
    /// The credentials in use: the configured ones, or a rotated secret read again from its
    /// file after the upstream refused the old one.
    auth: Arc<Mutex<Auth>>,
    permits: Arc<tokio::sync::Semaphore>,
    stats: Arc<Mutex<Stats>>,
}

pub use crate::sources::shown_url;

/// Whether `a` and `b` have the same origin (scheme, host and port).
fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `Retry-After`: seconds, or an HTTP date in any of its three formats (RFC 9110 §5.6.7:
/// IMF-fixdate, and the obsolete RFC 850 and asctime ones), read by `httpdate`.
pub fn parse_retry_after(value: &str, now: i64) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    Some(Duration::from_secs(at.saturating_sub(now).max(0) as u64))
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| matches!(p.trim(), "rel=\"next\"" | "rel=next"));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| target.to_string())
    })
}

/// `url` with its `page` query parameter set to `page` (GitLab's `x-next-page`).
pub fn with_page(url: &str, page: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page="))
        .map(String::from)
        .collect();
    params.push(format!("page={page}"));
    format!("{base}?{}", params.join("&"))
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads GitHub's `x-ratelimit-*` or GitLab's `ratelimit-*` headers; `None` when absent.
pub fn rate_limit_of(headers: &reqwest::header::HeaderMap) -> Option<RateLimit> {
    let number = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| header(headers, n))
            .and_then(|v| v.trim().parse::<i64>().ok())
    };
    let remaining = number(&["x-ratelimit-remaining", "ratelimit-remaining"])?;
    Some(RateLimit {
        limit: number(&["x-ratelimit-limit", "ratelimit-limit"]).map(|n| n.max(0) as u64),
        remaining: Some(remaining.max(0) as u64),
        reset_at: number(&["x-ratelimit-reset", "ratelimit-reset"]),
    })
}

fn error(kind: ErrorKind, message: impl Into<String>) -> CollectError {
    CollectError::new(kind, message)
}

/// What one attempt says to do next.
enum Attempt {
    Done(Fetched),
    /// Try again after this long (`None`: the backoff schedule decides).
    Retry(Option<Duration>, CollectError),
    Fail(CollectError),
}

impl Client {
    pub fn new(config: HttpConfig) -> Result<Client, CollectError> {
        let build_err = |what: &str, e: &dyn std::fmt::Display| {
            error(ErrorKind::RequestFailed, format!("{what}: {e}"))
        };
        // A redirect to another origin is never followed with credentials: reqwest drops
        // `Authorization` on one, but not a token in a header of its own (GitLab's
        // `PRIVATE-TOKEN`), so an authenticated client stops there and reports it.
        let authenticated = config.auth != Auth::None;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            let cross = attempt
                .previous()
                .first()
                .is_some_and(|first| !same_origin(first, attempt.url()));
            if attempt.previous().len() >= 10 {
                attempt.error("more than 10 redirects")
            } else if cross && authenticated {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        crate::install_crypto();
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("mlsteward/", env!("CARGO_PKG_VERSION")))
            .redirect(redirects)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)));
        if let Some(path) = &config.ca_bundle {
            let pem = std::fs::read(path)
                .map_err(|e| build_err(&format!("reading {}", path.display()), &e))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| build_err("parsing the CA bundle", &e))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        if let Some(path) = &config.client_identity {
            let pem = std::fs::read(path)
                .map_err(|e| build_err(&format!("reading {}", path.display()), &e))?;
            builder = builder.identity(
                reqwest::Identity::from_pem(&pem)
                    .map_err(|e| build_err("parsing the client certificate", &e))?,
            );
        }
        let inner = builder
            .build()
            .map_err(|e| build_err("building the HTTP client", &e))?;
        Ok(Client {
            inner,
            permits: Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1))),
            auth: Arc::new(Mutex::new(config.auth.clone())),
            config,
            stats: Arc::default(),
        })
    }

    /// A copy of the request outcomes so far.
    pub fn stats(&self) -> Stats {
        crate::locked(&self.stats).clone()
    }

    /// GETs `url`, conditionally on `validators`, retrying as the module documents.
    pub async fn get(
        &self,
        url: &str,
        validators: &Validators,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Fetched, CollectError> {
        self.send(url, validators, None, cancel).await
    }

    /// GETs `url` unconditionally and returns its body.
    pub async fn get_body(
        &self,
        url: &str,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Vec<u8>, CollectError> {
        match self.send(url, &Validators::default(), None, cancel).await? {
            Fetched::Body { body, .. } => Ok(body),
            Fetched::NotModified => Ok(Vec::new()),
        }
    }

    /// GETs `url`; `None` when the upstream answers 404 (a resource that does not exist yet).
    pub async fn get_if_exists(
        &self,
        url: &str,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Option<Vec<u8>>, CollectError> {
        match self.send(url, &Validators::default(), None, cancel).await {
            Ok(Fetched::Body { body, .. }) => Ok(Some(body)),
            Ok(Fetched::NotModified) => Ok(None),
            Err(e) if e.status == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// POSTs a JSON body to `url` (a search endpoint that only takes POST, such as MLflow's
    /// `runs/search`): the same retries, limits and statistics as a GET. Only for requests
    /// that change nothing upstream, since a retry sends them again.
    pub async fn post_json(
        &self,
        url: &str,
        body: &serde_json::Value,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Vec<u8>, CollectError> {
        let bytes = serde_json::to_vec(body).unwrap_or_default();
        match self
            .send(url, &Validators::default(), Some(&bytes), cancel)
            .await?
        {
            Fetched::Body { body, .. } => Ok(body),
            Fetched::NotModified => Ok(Vec::new()),
        }
    }

    async fn send(
        &self,
        url: &str,
        validators: &Validators,
        json: Option<&[u8]>,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Fetched, CollectError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| error(ErrorKind::Cancelled, "the client is closed"))?;
        let mut attempt = 0u32;
        let mut reread = false;
        loop {
            self.pace(cancel).await?;
            let outcome = tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(error(ErrorKind::Cancelled, "request cancelled")),
                outcome = self.attempt(url, validators, json) => outcome,
            };
            let (wait, last_error) = match outcome {
                Attempt::Done(fetched) => return Ok(fetched),
                // Refused credentials: a secret from a file may have been rotated since it was
                // read; read it again, once, before giving up.
                Attempt::Fail(e) if e.status == Some(401) && !reread => {
                    reread = true;
                    let rotated = crate::locked(&self.auth).reread();
                    match rotated {
                        Some(auth) => {
                            tracing::info!(url = %shown_url(url), "credentials refused; using the secret read again from its file");
                            *crate::locked(&self.auth) = auth;
                            continue;
                        }
                        None => return Err(e),
                    }
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(wait, e) => (wait, e),
            };
            if attempt >= self.config.max_retries {
                return Err(last_error);
            }
            let wait = match wait {
                Some(w) if w > self.config.max_wait => {
                    return Err(error(
                        ErrorKind::RateLimited,
                        format!(
                            "{}: asked to wait {}s, longer than the {}s allowed",
                            shown_url(url),
                            w.as_secs(),
                            self.config.max_wait.as_secs()
                        ),
                    ))
                }
                Some(w) => w,
                None => self.backoff(attempt),
            };
            attempt += 1;
            tokio::select! {
                _ = cancel.cancelled() => return Err(error(ErrorKind::Cancelled, "request cancelled")),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Every page of `url`, following `Link: rel="next"` and `x-next-page`, at most `max_pages`.
    pub async fn get_pages(
        &self,
        url: &str,
        max_pages: usize,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Result<Vec<Vec<u8>>, CollectError> {
        let mut pages = Vec::new();
        let mut next = Some(url.to_string());
        while let Some(url) = next.take() {
            if pages.len() >= max_pages {
                break;
            }
            match self.get(&url, &Validators::default(), cancel).await? {
                Fetched::Body {
                    body, next: after, ..
                } => {
                    pages.push(body);
                    next = after;
                }
                Fetched::NotModified => break,
            }
        }
        Ok(pages)
    }

    /// Capped exponential backoff with full jitter.
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .config
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.config.max_backoff);
        cap.mul_f64(fastrand::f64())
    }

    /// Waits when the rate-limit budget is spent (until its reset) or nearly spent (spreading
    /// the rest of the budget over the time to the reset).
    async fn pace(&self, cancel: &tokio_util::sync::CancellationToken) -> Result<(), CollectError> {
        let limit = self.stats().rate_limit;
        let (Some(remaining), Some(reset_at)) = (limit.remaining, limit.reset_at) else {
            return Ok(());
        };
        let until_reset = Duration::from_secs(reset_at.saturating_sub(now_seconds()).max(0) as u64);
        let wait = if remaining == 0 {
            until_reset
        } else if limit.limit.is_some_and(|l| remaining * 20 < l) {
            // Under 5% left: one request per equal share of the time to the reset.
            until_reset / (remaining as u32).max(1)
        } else {
            Duration::ZERO
        };
        if wait.is_zero() {
            return Ok(());
        }
        if wait > self.config.max_wait {
            return Err(error(
                ErrorKind::RateLimited,
                format!(
                    "rate limit spent; it resets in {}s, longer than the {}s allowed",
                    until_reset.as_secs(),
                    self.config.max_wait.as_secs()
                ),
            ));
        }
        tokio::select! {
            _ = cancel.cancelled() => Err(error(ErrorKind::Cancelled, "request cancelled")),
            _ = tokio::time::sleep(wait) => Ok(()),
        }
    }

    fn record(&self, code: Option<u16>, took: Option<Duration>, limit: Option<RateLimit>) {
        let mut stats = crate::locked(&self.stats);
        let label = code.map_or_else(|| "error".to_string(), |c| c.to_string());
        *stats.requests.entry(label).or_default() += 1;
        if let Some(took) = took {
            stats.durations.observe(took.as_secs_f64());
        }
        if let Some(limit) = limit {
            stats.rate_limit = limit;
        }
    }

    async fn attempt(&self, url: &str, validators: &Validators, json: Option<&[u8]>) -> Attempt {
        let shown = shown_url(url);
        let mut request = match json {
            Some(body) => self
                .inner
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec()),
            None => self.inner.get(url),
        };
        if let Some(etag) = &validators.etag {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        if let Some(date) = &validators.last_modified {
            request = request.header(reqwest::header::IF_MODIFIED_SINCE, date);
        }
        let auth = crate::locked(&self.auth).clone();
        request = match &auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token.expose()),
            Auth::Header { name, token } => request.header(name.as_str(), token.expose()),
            Auth::Basic { username, password } => {
                request.basic_auth(username, Some(password.expose()))
            }
        };
        let started = Instant::now();
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                self.record(None, None, None);
                let kind = if e.is_timeout() {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::RequestFailed
                };
                return Attempt::Retry(None, error(kind, format!("{shown}: {}", e.without_url())));
            }
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let limit = rate_limit_of(&headers);
        let retry_after =
            header(&headers, "retry-after").and_then(|v| parse_retry_after(v, now_seconds()));
        let next = header(&headers, "link").and_then(next_link).or_else(|| {
            header(&headers, "x-next-page")
                .filter(|p| !p.trim().is_empty())
                .map(|p| with_page(url, p.trim()))
        });
        let new_validators = Validators {
            etag: header(&headers, "etag").map(String::from),
            last_modified: header(&headers, "last-modified").map(String::from),
        };
        let body = self.read_body(response).await;
        self.record(Some(status), Some(started.elapsed()), limit);
        let body = match body {
            Ok(body) => body,
            // Asking again would bring the same oversized answer.
            Err(e @ BodyError::TooLarge(_)) => return Attempt::Fail(e.with_url(&shown)),
            Err(e) => return Attempt::Retry(None, e.with_url(&shown)),
        };
        let spent = limit.is_some_and(|l| l.remaining == Some(0));
        let secondary = status == 403
            && (retry_after.is_some()
                || spent
                || String::from_utf8_lossy(&body[..body.len().min(4096)])
                    .to_ascii_lowercase()
                    .contains("rate limit"));
        match status {
            200..=299 => Attempt::Done(Fetched::Body {
                status,
                body,
                validators: new_validators,
                next,
            }),
            304 => Attempt::Done(Fetched::NotModified),
            429 | 503 => Attempt::Retry(
                retry_after.or_else(|| limit.and_then(|l| reset_wait(&l))),
                error(
                    ErrorKind::RateLimited,
                    format!("{shown}: answered {status} (rate limited or unavailable)"),
                ),
            ),
            403 if secondary => Attempt::Retry(
                retry_after
                    .or_else(|| limit.and_then(|l| reset_wait(&l)))
                    .or(Some(Duration::from_secs(60))),
                error(
                    ErrorKind::RateLimited,
                    format!("{shown}: answered 403 (rate limit)"),
                ),
            ),
            401 | 403 => Attempt::Fail(CollectError {
                status: Some(status),
                ..error(
                    ErrorKind::AuthFailed,
                    format!("{shown}: answered {status}: check the source's credentials"),
                )
            }),
            300..=399 => Attempt::Fail(CollectError {
                status: Some(status),
                ..error(
                    ErrorKind::RequestFailed,
                    format!(
                        "{shown}: redirected ({status}) to another host{}: not followed with the source's credentials; configure the address it redirects to",
                        header(&headers, "location")
                            .map(|l| format!(" ({})", shown_url(l)))
                            .unwrap_or_default()
                    ),
                )
            }),
            500..=599 => Attempt::Retry(
                None,
                error(
                    ErrorKind::RequestFailed,
                    format!("{shown}: answered {status}"),
                ),
            ),
            _ => Attempt::Fail(CollectError {
                status: Some(status),
                ..error(
                    ErrorKind::RequestFailed,
                    format!("{shown}: answered {status}"),
                )
            }),
        }
    }

    /// The whole body, refusing one larger than the configured cap as soon as it is known to
    /// be (its declared length, or the bytes streamed so far): what is held never exceeds the
    /// cap by more than a chunk, and the body is copied once into an allocation of its size.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
        let cap = self.config.max_body_bytes;
        let declared = response.content_length();
        if declared.is_some_and(|n| n as usize > cap) {
            return Err(BodyError::TooLarge(cap));
        }
        let mut chunks = Vec::new();
        let mut length = 0usize;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    length += chunk.len();
                    if length > cap {
                        return Err(BodyError::TooLarge(cap));
                    }
                    chunks.push(chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(BodyError::Timeout),
                Err(e) => return Err(BodyError::Broken(e.without_url().to_string())),
            }
        }
        if chunks.len() == 1 {
            return Ok(chunks.pop().map(|c| c.to_vec()).unwrap_or_default());
        }
        let mut body = Vec::with_capacity(length);
        for chunk in chunks {
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// How long until a spent rate-limit budget resets, when it is spent.
fn reset_wait(limit: &RateLimit) -> Option<Duration> {
    (limit.remaining == Some(0))
        .then_some(limit.reset_at)
        .flatten()
        .map(|at| Duration::from_secs(at.saturating_sub(now_seconds()).max(0) as u64))
}

enum BodyError {
    TooLarge(usize),
    Timeout,
    Broken(String),
}

impl BodyError {
    fn with_url(self, shown: &str) -> CollectError {
        match self {
            BodyError::TooLarge(cap) => error(
                ErrorKind::DecodeFailed,
                format!("{shown}: response larger than {cap} bytes"),
            ),
            BodyError::Timeout => error(
                ErrorKind::Timeout,
                format!("{shown}: reading the response timed out"),
            ),
            BodyError::Broken(why) => error(
                ErrorKind::RequestFailed,
                format!("{shown}: the response broke off: {why}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers() {
        let link = r#"<https://api.github.com/repositories/1/actions/runs?page=2>; rel="next", <https://api.github.com/repositories/1/actions/runs?page=9>; rel="last""#;
        assert_eq!(
            next_link(link).as_deref(),
            Some("https://api.github.com/repositories/1/actions/runs?page=2")
        );
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }

    #[test]
    fn gitlab_next_page() {
        assert_eq!(
            with_page(
                "https://gl/api/v4/projects/1/pipelines?per_page=100&page=1",
                "2"
            ),
            "https://gl/api/v4/projects/1/pipelines?per_page=100&page=2"
        );
        assert_eq!(with_page("https://gl/x", "3"), "https://gl/x?page=3");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7", 0), Some(Duration::from_secs(7)));
        let now = chrono::DateTime::parse_from_rfc2822("Wed, 21 Oct 2015 07:28:00 GMT")
            .unwrap()
            .timestamp();
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        // The two obsolete formats every recipient must read (RFC 9110 §5.6.7).
        for obsolete in [
            "Wednesday, 21-Oct-15 07:28:30 GMT",
            "Wed Oct 21 07:28:30 2015",
        ] {
            assert_eq!(
                parse_retry_after(obsolete, now),
                Some(Duration::from_secs(30)),
                "{obsolete}"
            );
        }
        assert_eq!(parse_retry_after("soon", 0), None);
    }

    #[test]
    fn validators_round_trip_through_cursors() {
        let mut cursors = crate::facts::Cursors::new();
        let v = Validators {
            etag: Some("W/\"1\"".into()),
            last_modified: None,
        };
        v.to_cursors(&mut cursors, "https://h/runs");
        assert_eq!(Validators::from_cursors(&cursors, "https://h/runs"), v);
        assert_eq!(
            Validators::from_cursors(&cursors, "https://h/other"),
            Validators::default()
        );
        Validators::default().to_cursors(&mut cursors, "https://h/runs");
        assert!(cursors.is_empty());
    }
}
