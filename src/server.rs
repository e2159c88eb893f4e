//! The HTTP server: `/metrics` serves the pre-rendered snapshot and never waits on a source.
//! Only this module knows HTTP serving: binding, the accept loop and its limits, graceful
//! shutdown.
//!
//! Idle or slow peers cannot take `/metrics` down: a request's headers must arrive within
//! [`Limits::header_read_timeout`] (hyper applies it to a new connection and to a kept-alive one
//! waiting for its next request, so silent peers go after it); a connection on which no byte
//! moves for [`Limits::idle_timeout`] is closed (a peer that stops reading its answer); and at
//! [`Limits::max_connections`] the oldest connection is closed to admit a new one (slow and idle
//! peers are the old ones; scrapes are short).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::runner::Runner;
use crate::view::View;

pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// What handlers reach: the rendered view (every read), and the runner (reloads, webhooks'
/// intake, the sources' status on the landing page).
#[derive(Clone)]
pub struct Handle {
    pub view: View,
    pub runner: Runner,
    /// Webhook bodies being read at once: each may hold up to [`crate::webhooks::MAX_BODY`].
    bodies: Arc<tokio::sync::Semaphore>,
    /// Where the metrics are served (`--web.telemetry-path`).
    telemetry_path: Arc<str>,
}

impl Handle {
    pub fn new(view: View, runner: Runner) -> Handle {
        Handle {
            view,
            runner,
            bodies: Arc::new(tokio::sync::Semaphore::new(MAX_BODIES_AT_ONCE)),
            telemetry_path: Arc::from("/metrics"),
        }
    }

    /// Serves the metrics at `path` instead of `/metrics`.
    pub fn with_telemetry_path(mut self, path: &str) -> Handle {
        self.telemetry_path = Arc::from(path);
        self
    }
}

/// The daemon's endpoints other than the metrics: `--web.telemetry-path` may be none of them.
pub const RESERVED_PATHS: &[&str] = &[
    "/",
    "/-",
    "/webhooks",
    "/dashboards",
    "/alerts.yml",
    "/docs",
    "/api",
];

/// How many webhook bodies are read at once; a request beyond it waits (within its deadline).
/// With [`crate::webhooks::MAX_BODY`], this bounds what webhooks can make the daemon hold.
pub const MAX_BODIES_AT_ONCE: usize = 8;

/// How long `POST /-/reload` waits for the families derived under the new configuration
/// before answering anyway.
pub const RELOAD_RENDER_WAIT: Duration = Duration::from_secs(30);

/// How long a webhook body may take to arrive, from the end of its headers.
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);

pub fn router(app: Handle) -> Router {
    Router::new()
        .route(&app.telemetry_path.clone(), get(metrics))
        .route("/", get(landing))
        .route("/assets/{asset}", get(asset_page))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(ready))
        .route("/-/reload", axum::routing::post(reload))
        .route("/webhooks/{forge}", axum::routing::post(webhook))
        .route("/dashboards/{name}", get(dashboard))
        .route(
            "/alerts.yml",
            get(|| async { ([(header::CONTENT_TYPE, "application/yaml")], ALERTS) }),
        )
        .route("/docs", get(|| docs(String::new())))
        .route(
            "/docs/{name}",
            get(|axum::extract::Path(name): axum::extract::Path<String>| docs(name)),
        )
        .route("/badge/{asset}/{file}", get(badge))
        .route("/api/v1/assets", get(api_assets))
        .route("/api/v1/recognition", get(api_recognition))
        .route(crate::peers::PEOPLE_PATH, get(api_shard_people))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// Every request: basic auth when the web config names users (401 otherwise, with nothing
/// run), then the web config's response headers.
async fn guard(
    State(app): State<Handle>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let web = app.runner.web();
    // Webhooks carry their own authentication (a signature or token a forge cannot pair with
    // basic auth); every other route needs the configured users.
    let own_auth = request.uri().path().starts_with("/webhooks/");
    let mut response = if own_auth || web.authorised(request.headers()).await {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"mlsteward\"")],
            "Unauthorized\n",
        )
            .into_response()
    };
    for (name, value) in web.headers() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|enc| {
            let mut parts = enc.trim().split(';');
            let name = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| matches!(p.trim(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !q_zero
        })
}

async fn metrics(State(app): State<Handle>, headers: HeaderMap) -> Response {
    let generation = app.runner.signals().generation();
    let runner = app.runner.clone();
    let (snapshot, content_type) = if wants_openmetrics(&headers) {
        let started = app.runner.started_at();
        let snapshot = app
            .view
            .openmetrics(generation, move || runner.self_families(), started);
        (snapshot, CONTENT_TYPE_OPENMETRICS)
    } else {
        let snapshot = app
            .view
            .snapshot(generation, move || runner.self_families());
        (snapshot, CONTENT_TYPE_TEXT)
    };
    let vary = (header::VARY, "Accept, Accept-Encoding");
    if accepts_gzip(&headers) {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_ENCODING, "gzip"),
                vary,
            ],
            snapshot.gzip,
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type), vary], snapshot.text).into_response()
    }
}

/// Whether the scraper prefers OpenMetrics 1.0 (or 0.0.1, which 1.0 answers) to the text
/// format 0.0.4: an `application/openmetrics-text` entry whose quality is at least that of
/// every `text/plain` one, as Prometheus asks with `scrape_protocols` listing OpenMetrics
/// first. Anything else, no Accept header included, gets 0.0.4.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    let (mut om, mut text) = (None::<f32>, 0.0f32);
    for entry in headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut params = entry.split(';').map(str::trim);
        let media = params.next().unwrap_or("").to_ascii_lowercase();
        let (mut q, mut version) = (1.0f32, None);
        for p in params {
            if let Some(v) = p.strip_prefix("q=") {
                q = v.parse().unwrap_or(0.0);
            } else if let Some(v) = p.strip_prefix("version=") {
                version = Some(v.to_string());
            }
        }
        match media.as_str() {
            "application/openmetrics-text"
                if q > 0.0
                    && version
                        .as_deref()
                        .is_none_or(|v| v == "1.0.0" || v == "0.0.1") =>
            {
                om = Some(om.map_or(q, |o: f32| o.max(q)));
            }
            "text/plain" => text = text.max(q),
            _ => {}
        }
    }
    om.is_some_and(|q| q >= text)
}

/// `POST /-/reload`: re-reads the configuration, as Prometheus's lifecycle endpoint does: 200
/// with what changed, or 500 with every problem while the running configuration stays.
async fn reload(State(app): State<Handle>) -> Response {
    match app.runner.reload().await {
        Ok(reloaded) => {
            // Answered once what /metrics serves reflects the new configuration.
            if let Some(number) = reloaded.render {
                app.view.rendered(number, RELOAD_RENDER_WAIT).await;
            }
            (StatusCode::OK, format!("Reloaded ({})\n", reloaded.summary)).into_response()
        }
        Err(why) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {why}\n"),
        )
            .into_response(),
    }
}

/// A webhook: checked as far as it can be without its body (route, source, signature
/// header); only then is the body read, at most [`crate::webhooks::MAX_BODY`] bytes, within
/// [`BODY_DEADLINE`], and at most [`MAX_BODIES_AT_ONCE`] at a time.
async fn webhook(
    State(app): State<Handle>,
    axum::extract::Path(route): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let webhooks = app.runner.webhooks();
    let sources = app.runner.sources();
    let (forge, takers) = match crate::webhooks::intake(webhooks, &sources, &route, &headers) {
        Ok(accepted) => accepted,
        Err((status, message)) => return (status, format!("{message}\n")).into_response(),
    };
    let read = async {
        let _permit = app.bodies.acquire().await;
        axum::body::to_bytes(body, crate::webhooks::MAX_BODY).await
    };
    let bytes = match tokio::time::timeout(BODY_DEADLINE, read).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) if is_over_limit(&e) => Err(crate::webhooks::BodyError::TooLarge),
        Ok(Err(_)) | Err(_) => Err(crate::webhooks::BodyError::Incomplete),
    };
    let (status, message) = crate::webhooks::handle(
        webhooks,
        &takers,
        forge,
        &headers,
        bytes.as_ref().map(|b| &b[..]).map_err(|e| *e),
    );
    (status, format!("{message}\n")).into_response()
}

/// Whether reading a body failed because it was over its limit.
fn is_over_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// `a=1&b=x%20y` → {a: 1, b: x y} (`form_urlencoded`); `None` for a `%` not followed by two
/// hex digits, bytes that are not UTF-8 once decoded, or a repeated key.
fn query_pairs(query: &str) -> Option<BTreeMap<String, String>> {
    let bytes = query.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, b)| {
        *b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    let mut pairs = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(bytes) {
        if k.contains('\u{fffd}') || v.contains('\u{fffd}') {
            return None;
        }
        if pairs.insert(k.into_owned(), v.into_owned()).is_some() {
            return None;
        }
    }
    Some(pairs)
}

const CONTENT_TYPE_JSON: &str = "application/json";

/// The bundled Grafana dashboards and the alert rules, served as they were built,
/// so the landing page's links work wherever the binary runs.
const DASHBOARDS: &[(&str, &str)] = &[
    (
        "recognition.json",
        include_str!("../grafana/dashboards/recognition.json"),
    ),
    (
        "mlsteward-health.json",
        include_str!("../grafana/dashboards/mlsteward-health.json"),
    ),
    (
        "build-stability.json",
        include_str!("../grafana/dashboards/build-stability.json"),
    ),
    (
        "ownership.json",
        include_str!("../grafana/dashboards/ownership.json"),
    ),
    (
        "reproducibility.json",
        include_str!("../grafana/dashboards/reproducibility.json"),
    ),
    (
        "feature-serving.json",
        include_str!("../grafana/dashboards/feature-serving.json"),
    ),
    (
        "models.json",
        include_str!("../grafana/dashboards/models.json"),
    ),
];
const ALERTS: &str = include_str!("../deploy/prometheus/alerts.yml");

/// `GET /docs` (the README) and `GET /docs/{name}`: the documentation as HTML.
async fn docs(name: String) -> Response {
    match crate::docs::page(&name) {
        Some(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        None => (StatusCode::NOT_FOUND, "no such document\n").into_response(),
    }
}

/// `GET /dashboards/{name}`: a bundled dashboard, for Grafana's import.
async fn dashboard(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match DASHBOARDS.iter().find(|(n, _)| *n == name) {
        Some((_, json)) => ([(header::CONTENT_TYPE, CONTENT_TYPE_JSON)], *json).into_response(),
        None => (StatusCode::NOT_FOUND, "no such dashboard\n").into_response(),
    }
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, CONTENT_TYPE_JSON)],
        format!("{}\n", serde_json::json!({ "error": message })),
    )
        .into_response()
}

/// `GET /api/v1/shard/people`: a sharded replica's own people summary for its peers
/// ([`crate::shard::PeopleSummary`]), with an ETag; 304 when `If-None-Match` names it.
async fn api_shard_people(State(app): State<Handle>, headers: axum::http::HeaderMap) -> Response {
    if app.runner.shard().is_none_or(|s| s.count <= 1) {
        return json_error(
            StatusCode::NOT_FOUND,
            "this replica is not sharded (--shard K/N)",
        );
    }
    let Some((body, etag)) = app.view.own_people() else {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no people summary yet: the first derivation has not finished",
        );
    };
    if names_etag(&headers, &etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
    }
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE_JSON.to_string()),
            (header::ETAG, etag),
        ],
        body.as_str().to_owned(),
    )
        .into_response()
}

/// Whether the request's `If-None-Match` names `etag` (or is `*`).
fn names_etag(headers: &axum::http::HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// How long a client or a proxy (GitHub's camo) may reuse a badge before asking again.
pub const BADGE_CACHE_CONTROL: &str = "public, max-age=300";

/// `GET /badge/{asset}/{signal}.svg`: a README badge from the served asset-level series
/// ([`crate::badge`]), with an ETag (304 when `If-None-Match` names it) and
/// [`BADGE_CACHE_CONTROL`].
async fn badge(
    State(app): State<Handle>,
    axum::extract::Path((asset, file)): axum::extract::Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Response {
    let not_found =
        |message: String| (StatusCode::NOT_FOUND, format!("{message}\n")).into_response();
    let Some(signal) = file.strip_suffix(".svg") else {
        return not_found(format!("a badge ends in .svg: /badge/{asset}/SIGNAL.svg"));
    };
    let derived = app.view.derived();
    let known = derived
        .config
        .as_ref()
        .is_some_and(|c| c.assets().iter().any(|a| a.id == asset));
    if !known {
        return not_found(format!("no asset `{asset}` in the catalog"));
    }
    let families: Vec<&crate::exposition::Family> =
        derived.api.iter().flat_map(|f| f.iter()).collect();
    let now = chrono::Utc::now().timestamp() as f64;
    let Some(badge) = crate::badge::badge(&families, &asset, signal, now) else {
        return not_found(format!(
            "no badge `{signal}`; known: {}",
            crate::badge::SIGNALS.join(", ")
        ));
    };
    let svg = badge.svg();
    let etag = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = foldhash::quality::FixedState::with_seed(0x6261_6467_6573).build_hasher();
        h.write(svg.as_bytes());
        format!("\"{:016x}\"", h.finish())
    };
    let cache = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, BADGE_CACHE_CONTROL.to_string()),
    ];
    if names_etag(&headers, &etag) {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "image/svg+xml; charset=utf-8".to_string(),
        )],
        cache,
        svg,
    )
        .into_response()
}

/// `GET /api/v1/assets`: every asset with its catalog entry and asset-level series, as of the
/// served metrics.
async fn api_assets(State(app): State<Handle>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE_JSON)],
        app.view.derived().assets_json().as_str().to_owned(),
    )
        .into_response()
}

/// `GET /api/v1/recognition[?asset=ID][&since=DURATION]`: `mlsteward report --format json`.
async fn api_recognition(State(app): State<Handle>, uri: axum::http::Uri) -> Response {
    let app = &app.runner;
    let Some(query) = query_pairs(uri.query().unwrap_or("")) else {
        return json_error(StatusCode::BAD_REQUEST, "malformed query string");
    };
    if let Some(unknown) = query
        .keys()
        .find(|k| !matches!(k.as_str(), "asset" | "since"))
    {
        return json_error(
            StatusCode::BAD_REQUEST,
            &format!("unknown parameter `{unknown}`; known: asset, since"),
        );
    }
    let since = match query.get("since").map(|s| crate::config::parse_duration(s)) {
        None => None,
        Some(Ok(d)) => Some(chrono::Utc::now().timestamp() - d.as_secs() as i64),
        Some(Err(e)) => return json_error(StatusCode::BAD_REQUEST, &format!("since: {e}")),
    };
    let config = app.config();
    let asset = query.get("asset").cloned();
    if let Some(a) = &asset {
        if !config.assets().iter().any(|x| &x.id == a) {
            return json_error(
                StatusCode::NOT_FOUND,
                &format!("no asset `{a}` in the catalog"),
            );
        }
    }
    let store = app.store.clone();
    let peers = app.peers().map(|p| p.summaries()).unwrap_or_default();
    let shard = app.shard().map_or(0, |s| s.index);
    let built = tokio::task::spawn_blocking(move || {
        crate::report::build(&store, &config, asset.as_deref(), since, (shard, &peers))
            .map(|r| r.to_json())
    })
    .await;
    match built {
        Ok(Ok(json)) => ([(header::CONTENT_TYPE, CONTENT_TYPE_JSON)], json).into_response(),
        Ok(Err(e)) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("reading the store failed: {e}"),
        ),
        Err(_) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "building the report failed",
        ),
    }
}

async fn ready(State(app): State<Handle>) -> Response {
    if app.view.is_ready() {
        (StatusCode::OK, "Ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: waiting for every source's first collection\n",
        )
            .into_response()
    }
}

/// The frame both pages share: the notices above the assets, the sources table, the links.
struct Framing {
    notices: String,
    sources: String,
    links: String,
}

fn framing(handle: &Handle, root: &str) -> Framing {
    let app = &handle.runner;
    let mut rows = String::new();
    for s in app.sources().iter() {
        let status = app.status(&s.config.name).unwrap_or_default();
        let state = match status.success {
            None => "pending",
            Some(true) => "ok",
            Some(false) => "failing",
        };
        let last_success = status.last_success_seconds.map_or_else(
            || "never".to_string(),
            |t| {
                chrono::DateTime::from_timestamp(t as i64, 0).map_or_else(String::new, |d| {
                    d.format("%Y-%m-%d %H:%M:%S UTC").to_string()
                })
            },
        );
        let error = status
            .last_error
            .as_ref()
            .map_or_else(String::new, |(kind, message)| {
                format!("{}: {}", kind.as_str(), message)
            });
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{state}</td><td>{last_success}</td><td>{:.2} s</td><td>{}</td></tr>",
            crate::escape_html(&s.config.name),
            s.kind(),
            status.duration_seconds,
            crate::escape_html(&error),
        ));
    }
    let store = match app.store_problem() {
        None => String::from("<p>Store: healthy.</p>"),
        Some(problem) => format!(
            "<p style=\"color:#b00\"><strong>Store unhealthy:</strong> {}. The last good metrics are served; run <code>mlsteward check-store</code>.</p>",
            crate::escape_html(&problem)
        ),
    };
    let counts = handle.view.derived().counts;
    let (assets, active) = (counts.assets, counts.active_90d);
    let people = match active {
        Some(n) => format!(
            "{n} {} credited in the last 90 days",
            if n == 1.0 { "person" } else { "people" }
        ),
        None => "people are counted by shard 0 (a person may work in every shard)".to_string(),
    };
    let shard = match (app.shard().filter(|s| s.count > 1), app.peers()) {
        (None, _) => String::new(),
        (Some(s), peers) => {
            let up = peers.as_ref().map(|p| p.answering());
            format!(
                "<p id=\"shard\">Shard {} of {} (0-based): the assets below are this replica's; people are joined over every replica's history; {}.</p>",
                s.index,
                s.count,
                match up {
                    Some((up, all)) => format!("{up} of {all} peers answer"),
                    None => "no peers configured (--shard.peers): people are joined over this replica's history only".into(),
                }
            )
        }
    };
    let metrics = crate::escape_html(handle.telemetry_path.trim_start_matches('/'));
    let dashboards = DASHBOARDS
        .iter()
        .map(|(name, _)| {
            format!(
                "<a href=\"{root}dashboards/{name}\">{}</a>",
                name.trim_end_matches(".json")
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let demo = app.demo.as_ref().map_or_else(String::new, |dir| {
        format!(
            "<p id=\"demo\" style=\"background:#fff3cd;padding:.6em;border:1px solid #e0c36c\"><strong>Demo data.</strong> Everything here comes from the made-up organisation that <code>mlsteward demo</code> wrote in <code>{}</code>. Point mlsteward at your own repositories with <code>mlsteward run --config.file FILE</code> (see <code>config/example.yaml</code>).</p>",
            crate::escape_html(&dir.display().to_string())
        )
    });
    Framing {
        notices: format!(
            "{demo}<p>Measures shared ML resources and the people who keep them alive. Version {}.</p>{store}\
             <p id=\"counts\">{assets} asset{}; {people}.</p>{shard}",
            env!("CARGO_PKG_VERSION"),
            if assets == 1 { "" } else { "s" },
        ),
        sources: format!(
            "<div class=\"scroll\"><table id=\"sources-table\"><tr><th>source</th><th>collector</th><th>last collection</th><th>last success</th><th>duration</th><th>last error</th></tr>{rows}</table></div>"
        ),
        links: format!(
            "<ul><li><a href=\"{root}{metrics}\">Metrics</a></li><li><a href=\"{root}api/v1/assets\">Assets (JSON)</a></li><li><a href=\"{root}api/v1/recognition\">Recognition (JSON)</a></li><li><a href=\"{root}-/healthy\">Health</a></li><li><a href=\"{root}-/ready\">Readiness</a></li></ul>\
             <p>Grafana dashboards (import them): {dashboards}. Alert rules: <a href=\"{root}alerts.yml\">alerts.yml</a>. Every metric is defined in the <a href=\"{root}docs\">documentation</a>.</p>"
        ),
    }
}

/// The recognition board for a page. The first request starts its first build, off the
/// request path (no render: the metrics served do not change); the render task keeps it up
/// to date from then on.
fn board_for_page(handle: &Handle) -> Option<Arc<crate::report::Board>> {
    let (board, first) = handle.view.board();
    if first && board.is_none() {
        let app = &handle.runner;
        let peers = (
            app.shard().map_or(0, |s| s.index),
            app.peers().map(|p| p.summaries()).unwrap_or_default(),
        );
        let now = chrono::Utc::now().timestamp();
        // A failure is retried by the render task, which builds a missing board.
        handle
            .view
            .build_board(app.store.clone(), app.config(), now, peers, || {});
    }
    board
}

/// What a page may load: nothing but its own inline styles and same-origin images (the
/// badges). No script runs on it, so it works the same with JavaScript off.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A page with how long it took to make (`Server-Timing`, which browsers' tools show).
fn timed_page(html: String, started: std::time::Instant) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP.to_string()),
            (
                header::HeaderName::from_static("server-timing"),
                format!("render;dur={:.3}", started.elapsed().as_secs_f64() * 1000.0),
            ),
        ],
        html,
    )
        .into_response()
}

/// `GET /`: the overview ([`crate::overview::overview`]) with the sources' status below.
async fn landing(State(handle): State<Handle>) -> Response {
    let started = std::time::Instant::now();
    let board = board_for_page(&handle);
    let f = framing(&handle, "");
    let html = crate::overview::overview(
        &handle.view.derived(),
        board.as_deref(),
        &crate::overview::Frame {
            notices: &f.notices,
            sources: &f.sources,
            links: &f.links,
            root: "",
        },
    );
    timed_page(html, started)
}

/// `GET /assets/{asset}`: one asset in full; 404 for an asset the served metrics do not name.
async fn asset_page(
    State(handle): State<Handle>,
    axum::extract::Path(asset): axum::extract::Path<String>,
) -> Response {
    let started = std::time::Instant::now();
    let board = board_for_page(&handle);
    let f = framing(&handle, "../");
    match crate::overview::asset_page(
        &handle.view.derived(),
        board.as_deref(),
        &asset,
        &crate::overview::Frame {
            notices: &f.notices,
            sources: &f.sources,
            links: &f.links,
            root: "../",
        },
    ) {
        Some(html) => timed_page(html, started),
        None => (
            StatusCode::NOT_FOUND,
            format!("no asset `{asset}` on this replica\n"),
        )
            .into_response(),
    }
}

/// How much the server lets one peer hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    /// The defaults, with the connection cap kept well inside the process's file-descriptor
    /// limit (the rest is for the store, repositories and upstream connections).
    pub fn for_fd_limit(fd_limit: u64) -> Limits {
        let room = (fd_limit.saturating_sub(64) / 2).max(8);
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: (room as usize).min(1024),
        }
    }
}

/// Raises the soft limit on open files to the hard limit, as Prometheus does; returns the limit
/// now in force.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        limit.rlim_cur
    }
}

/// A stream that records when bytes last moved, for the idle timeout.
struct Tracked<S> {
    inner: S,
    last_active: Arc<AtomicU64>,
    born: Instant,
}

impl<S> Tracked<S> {
    fn touch(&self) {
        self.last_active
            .store(self.born.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn web_tls(app: &Handle) -> Option<tokio_rustls::TlsAcceptor> {
    app.runner.web().tls()
}

/// The TLS handshake, bounded by the header-read timeout. A peer that speaks plain HTTP to the
/// TLS port gets a plain 400 that says so (as Go's servers answer), not a hang or a reset.
async fn tls_handshake(
    stream: tokio::net::TcpStream,
    acceptor: tokio_rustls::TlsAcceptor,
    limits: Limits,
) -> Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    let mut first = [0u8; 1];
    let peeked = tokio::time::timeout(limits.header_read_timeout, stream.peek(&mut first)).await;
    match peeked {
        // 0x16: a TLS handshake record.
        Ok(Ok(1)) if first[0] == 0x16 => {}
        Ok(Ok(1)) => {
            use tokio::io::AsyncWriteExt;
            let mut stream = stream;
            let _ = stream
                .write_all(b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
                .await;
            let _ = stream.shutdown().await;
            return None;
        }
        _ => return None,
    }
    match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(tls),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            None
        }
    }
}

/// Whether there is room for one more connection under `cap` within a short wait (250 ms)
/// for connections that are closing to be gone.
async fn room_within(
    live: &std::sync::atomic::AtomicUsize,
    freed: &tokio::sync::Notify,
    cap: usize,
) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(250);
    loop {
        let notified = freed.notified();
        if live.load(Ordering::SeqCst) < cap {
            return true;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return live.load(Ordering::SeqCst) < cap;
        }
    }
}

/// Serves one connection until it ends, `evict` drops it (at once: the cap needs its
/// descriptor), `shutdown` closes it gracefully, or it idles past the limit.
async fn drive<S, V>(
    stream: S,
    service: V,
    limits: Limits,
    evict: CancellationToken,
    shutdown: CancellationToken,
    grace: Duration,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    V: hyper::service::HttpService<hyper::body::Incoming> + Send + 'static,
    V::Future: Send + 'static,
    V::ResBody: Send + 'static,
    <V::ResBody as hyper::body::Body>::Data: Send,
    <V::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let last_active = Arc::new(AtomicU64::new(0));
    let io = hyper_util::rt::TokioIo::new(Tracked {
        inner: stream,
        last_active: last_active.clone(),
        born: Instant::now(),
    });
    let born = Instant::now();
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = evict.cancelled() => break,
            _ = shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(grace, conn.as_mut()).await;
                break;
            }
            _ = tick.tick() => {
                let idle = born.elapsed().saturating_sub(Duration::from_millis(last_active.load(Ordering::Relaxed)));
                if idle >= limits.idle_timeout {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(grace, conn.as_mut()).await;
                    break;
                }
            }
        }
    }
}

/// Binds the listening socket (`:0` picks a free port; the log says which).
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish for at most
/// `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Handle,
    limits: Limits,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let service = hyper_util::service::TowerToHyperService::new(router(app.clone()));
    // Open connections by age: sequence number → the token that drops it.
    let open: Arc<Mutex<BTreeMap<u64, CancellationToken>>> = Arc::default();
    // Connections whose task still runs, those closing included: each holds a descriptor.
    let live = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // Told whenever a connection's task ends (its descriptor is closed).
    let freed = Arc::new(tokio::sync::Notify::new());
    let tracker = tokio_util::task::TaskTracker::new();
    let mut next_id: u64 = 0;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors or a reset before accept: say so, back off briefly.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let id = next_id;
        next_id += 1;
        let evict = CancellationToken::new();
        let still_over = {
            let mut open = crate::locked(&open);
            // At the cap (counting connections still closing), the oldest open ones go.
            let mut over = (live.load(Ordering::SeqCst) + 1).saturating_sub(limits.max_connections);
            while over > 0 {
                let Some((_, oldest)) = open.pop_first() else {
                    break;
                };
                oldest.cancel();
                over -= 1;
            }
            over > 0
        };
        // Every connection is already closing (their tasks have not run yet, as under load):
        // wait a moment for one to be gone rather than refuse a scrape; the descriptors stay
        // within the cap meanwhile.
        if still_over && !room_within(&live, &freed, limits.max_connections).await {
            drop(stream);
            continue;
        }
        crate::locked(&open).insert(id, evict.clone());
        let service = service.clone();
        let open = open.clone();
        let live = live.clone();
        let freed = freed.clone();
        live.fetch_add(1, Ordering::SeqCst);
        let shutdown = shutdown.clone();
        // Read per connection, so a reload that changes TLS applies to the next one.
        let tls = web_tls(&app);
        tracker.spawn(async move {
            match tls {
                None => drive(stream, service, limits, evict, shutdown, grace).await,
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        s = tls_handshake(stream, acceptor, limits) => s,
                        _ = evict.cancelled() => None,
                    };
                    if let Some(stream) = handshake {
                        drive(stream, service, limits, evict, shutdown, grace).await;
                    }
                }
            }
            crate::locked(&open).remove(&id);
            live.fetch_sub(1, Ordering::SeqCst);
            freed.notify_waiters();
        });
    }
    tracker.close();
    let _ = tokio::time::timeout(grace, tracker.wait()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_stays_inside_the_fd_limit() {
        assert_eq!(Limits::for_fd_limit(256).max_connections, 96);
        assert_eq!(Limits::for_fd_limit(1 << 20).max_connections, 1024);
        assert_eq!(Limits::for_fd_limit(10).max_connections, 8);
    }

    #[test]
    fn query_strings_decode() {
        let q = query_pairs("asset=churn%2Dmodel&since=90d").unwrap();
        assert_eq!(q["asset"], "churn-model");
        assert_eq!(q["since"], "90d");
        assert_eq!(query_pairs("a=x+y").unwrap()["a"], "x y");
        assert!(query_pairs("a=%zz").is_none());
        assert!(query_pairs("a=1&a=2").is_none());
        assert!(query_pairs("").unwrap().is_empty());
    }

    #[test]
    fn gzip_negotiation() {
        let h = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::ACCEPT_ENCODING, v.parse().unwrap());
            accepts_gzip(&m)
        };
        assert!(h("gzip"));
        assert!(h("deflate, gzip;q=0.8"));
        assert!(!h("gzip;q=0"));
        assert!(!h("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
