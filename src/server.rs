//! The HTTP server: `/metrics` serves the pre-rendered snapshot and never waits on a source.
//! Only this module knows HTTP serving.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::App;

pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/", get(landing))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(ready))
        .with_state(app)
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

async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    let snapshot = app.snapshot();
    if accepts_gzip(&headers) {
        (
            [
                (header::CONTENT_TYPE, CONTENT_TYPE_TEXT),
                (header::CONTENT_ENCODING, "gzip"),
                (header::VARY, "Accept-Encoding"),
            ],
            snapshot.gzip,
        )
            .into_response()
    } else {
        (
            [
                (header::CONTENT_TYPE, CONTENT_TYPE_TEXT),
                (header::VARY, "Accept-Encoding"),
            ],
            snapshot.text,
        )
            .into_response()
    }
}

async fn ready(State(app): State<App>) -> Response {
    if app.is_ready() {
        (StatusCode::OK, "Ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "Not ready: waiting for every source's first collection\n",
        )
            .into_response()
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn landing(State(app): State<App>) -> Html<String> {
    let mut rows = String::new();
    for s in app.sources.iter() {
        let status = app.status(&s.config.name).unwrap_or_default();
        let state = match status.success {
            None => "pending",
            Some(true) => "ok",
            Some(false) => "failing",
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{state}</td></tr>",
            escape_html(&s.config.name),
            s.collector_kind()
        ));
    }
    Html(format!(
        "<!DOCTYPE html><html><head><title>mlsteward</title></head><body><h1>mlsteward</h1>\
         <p>Measures shared ML resources and the people who keep them alive. Version {}.</p>\
         <ul><li><a href=\"metrics\">Metrics</a></li><li><a href=\"-/healthy\">Health</a></li><li><a href=\"-/ready\">Readiness</a></li></ul>\
         <h2>Sources</h2><table><tr><th>source</th><th>collector</th><th>last collection</th></tr>{rows}</table></body></html>",
        env!("CARGO_PKG_VERSION")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

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
