//! The overview page at `/` and the asset pages at `/assets/{id}`: health, ownership and
//! recognition of every asset on one page a person reads without Grafana.
//!
//! Everything shown comes from what the render task published, never from the store at
//! request time: the asset-level series `/metrics` serves ([`Derived::api`]), what the groups
//! derived for pages alongside them ([`PageData`]: 28 daily values per asset for the
//! sparklines, and the counters' increases that `rate()` in the alert rules reads), and the
//! recognition [`Board`], which the render task rebuilds from the store on its own thread
//! once a page has been asked for and the credits changed. A page never waits on a
//! collection or a derivation.
//!
//! The problems column is the shipped alert rules (`deploy/prometheus/alerts.yml`, compiled
//! in) evaluated by [`crate::promql`] over those same series: the same expressions, not a
//! second definition. A rule's `for` is not waited for: the page shows what holds now, which
//! Prometheus fires on once it has held for the rule's `for`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use crate::badge::{self, label, AssetSeries};
use crate::derive::page::{asset_rules, evaluate, Daily, Evaluated, Problem, Served};
use crate::escape_html as esc;
use crate::metrics;
use crate::report::{Board, PersonReport};
use crate::view::Derived;

/// People listed on the recognition board.
pub const BOARD_ROWS: usize = 50;

/// The asset-level series of one render, by asset.
fn assets(derived: &Derived) -> AssetSeries<'_> {
    AssetSeries::new(derived.api.iter().flat_map(|g| g.iter()))
}

/// A value shown on a page, with what it is in `/metrics`: the DOM carries the series so a
/// test (or a person) can check one against the other.
fn shown(
    spec: &metrics::Spec,
    asset: &str,
    with: &[(&str, &str)],
    value: f64,
    text: &str,
    color: Option<&str>,
) -> String {
    let labels: Vec<String> = with.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!(
        "<span class=\"v\" data-metric=\"{}\" data-asset=\"{}\" data-labels=\"{}\" data-value=\"{value}\"{}>{}</span>",
        spec.name,
        esc(asset),
        esc(&labels.join(",")),
        color.map_or_else(String::new, |c| format!(" style=\"color:{c}\"")),
        esc(text)
    )
}

/// A sparkline of daily values (0–1 ratios, or seconds scaled to their maximum).
fn sparkline(values: &[Option<f64>], ratio: bool, title: &str) -> String {
    let (w, h) = (112.0, 22.0);
    let max = if ratio {
        1.0
    } else {
        values
            .iter()
            .flatten()
            .fold(0.0f64, |a, b| a.max(*b))
            .max(f64::MIN_POSITIVE)
    };
    let step = w / (values.len().max(2) - 1) as f64;
    let mut paths = String::new();
    let mut dots = String::new();
    let mut run = String::new();
    let point = |i: usize, v: f64| {
        (
            i as f64 * step,
            h - 2.0 - (v / max).clamp(0.0, 1.0) * (h - 4.0),
        )
    };
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let (x, y) = point(i, *v);
                let _ = write!(
                    run,
                    "{}{x:.1},{y:.1}",
                    if run.is_empty() { "M" } else { " L" }
                );
                if i + 1 == values.len() {
                    let _ = write!(dots, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"1.8\"/>");
                }
            }
            None => {
                if !run.is_empty() {
                    let _ = write!(paths, "<path d=\"{run}\"/>");
                    run.clear();
                }
            }
        }
    }
    if !run.is_empty() {
        let _ = write!(paths, "<path d=\"{run}\"/>");
    }
    let days = values.iter().filter(|v| v.is_some()).count();
    // The 28 days' frame, drawn faintly, so that a line of recent days sits where it belongs.
    let base = h - 1.0;
    format!(
        "<svg class=\"spark\" role=\"img\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" data-days=\"{days}\"><title>{}</title><line x1=\"0\" y1=\"{base}\" x2=\"{w}\" y2=\"{base}\" stroke=\"#ddd\"/><g fill=\"none\" stroke=\"#357\" stroke-width=\"1.3\">{paths}</g><g fill=\"#357\">{dots}</g></svg>",
        esc(title)
    )
}

fn daily<'d>(
    derived: &'d Derived,
    asset: &str,
    signal: &str,
) -> impl Iterator<Item = &'d Daily> + use<'d> {
    let asset = asset.to_string();
    let signal = signal.to_string();
    derived
        .page
        .iter()
        .flat_map(|p| p.daily.iter())
        .filter(move |d| d.asset == asset && d.signal == signal)
}

fn date(seconds: f64) -> String {
    chrono::DateTime::from_timestamp(seconds as i64, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The cells every asset shows, on the overview's row and at the top of its page.
struct Health {
    cells: Vec<(&'static str, String)>,
}

fn health(a: &AssetSeries, derived: &Derived, asset: &str) -> Health {
    let now = derived.at;
    let dash = || "<span class=\"none\">–</span>".to_string();
    let mut cells = Vec::new();
    // Build: the week's ratio against its baseline and target, and the daily sparkline.
    let build = {
        let mut out = String::new();
        if let Some(v) = a.value(
            asset,
            &metrics::ASSET_BUILD_SUCCESS_RATIO,
            &[("window", "7d")],
        ) {
            let target = a.value(asset, &metrics::ASSET_BUILD_SUCCESS_TARGET, &[]);
            out.push_str(&shown(
                &metrics::ASSET_BUILD_SUCCESS_RATIO,
                asset,
                &[("window", "7d")],
                v,
                &badge::percent(v),
                Some(badge::ratio_color(
                    v,
                    target,
                    badge::BUILD_STEPS.0,
                    badge::BUILD_STEPS.1,
                )),
            ));
            let mut notes = Vec::new();
            if let Some(b) = a.value(asset, &metrics::ASSET_BUILD_SUCCESS_RATIO_BASELINE, &[]) {
                notes.push(format!(
                    "baseline {}",
                    shown(
                        &metrics::ASSET_BUILD_SUCCESS_RATIO_BASELINE,
                        asset,
                        &[],
                        b,
                        &badge::percent(b),
                        None
                    )
                ));
            }
            if let Some(t) = target {
                notes.push(format!(
                    "target {}",
                    shown(
                        &metrics::ASSET_BUILD_SUCCESS_TARGET,
                        asset,
                        &[],
                        t,
                        &badge::percent(t),
                        None
                    )
                ));
            }
            if !notes.is_empty() {
                let _ = write!(out, "<small>{}</small>", notes.join(" · "));
            }
        }
        for d in daily(derived, asset, "build") {
            if d.values.iter().any(|v| v.is_some()) {
                out.push_str(&sparkline(&d.values, true, "daily build success, 28 days"));
            }
        }
        if out.is_empty() {
            dash()
        } else {
            out
        }
    };
    cells.push(("build", build));
    let ratio_cell =
        |spec: &metrics::Spec, with: &[(&str, &str)], target: &metrics::Spec, steps: (f64, f64)| {
            match a.value(asset, spec, with) {
                Some(v) => shown(
                    spec,
                    asset,
                    with,
                    v,
                    &badge::percent(v),
                    Some(badge::ratio_color(
                        v,
                        a.value(asset, target, &[]),
                        steps.0,
                        steps.1,
                    )),
                ),
                None => dash(),
            }
        };
    cells.push((
        "coverage",
        ratio_cell(
            &metrics::ASSET_COVERAGE_RATIO,
            &[],
            &metrics::ASSET_COVERAGE_TARGET,
            badge::COVERAGE_STEPS,
        ),
    ));
    cells.push((
        "reproducibility",
        ratio_cell(
            &metrics::REPRO_PASS_RATIO,
            &[("window", "7d")],
            &metrics::ASSET_REPRODUCIBILITY_TARGET,
            badge::REPRODUCIBILITY_STEPS,
        ),
    ));
    // Serving: each probed target's p95 over the day against its target, the values' age.
    let serving = {
        let mut out = Vec::new();
        for s in a.samples(asset, &metrics::PROBE_LATENCY_P95_SECONDS, &[]) {
            let target = label(s, "target");
            let with = [("target", target)];
            let goal = a.value(asset, &metrics::PROBE_LATENCY_TARGET_SECONDS, &with);
            let color = badge::latency_color(s.value, goal);
            let mut one = format!(
                "<div>{} p95 {}",
                esc(target),
                shown(
                    &metrics::PROBE_LATENCY_P95_SECONDS,
                    asset,
                    &with,
                    s.value,
                    &badge::duration(s.value),
                    Some(color)
                )
            );
            if let Some(g) = goal {
                let _ = write!(
                    one,
                    " <small>target {}</small>",
                    shown(
                        &metrics::PROBE_LATENCY_TARGET_SECONDS,
                        asset,
                        &with,
                        g,
                        &badge::duration(g),
                        None
                    )
                );
            }
            if let Some(age) = a.value(asset, &metrics::PROBE_VALUE_AGE_SECONDS, &with) {
                let _ = write!(
                    one,
                    " <small>values {} old</small>",
                    shown(
                        &metrics::PROBE_VALUE_AGE_SECONDS,
                        asset,
                        &with,
                        age,
                        &badge::duration(age),
                        None
                    )
                );
            }
            for d in
                daily(derived, asset, "latency").filter(|d| d.target.as_deref() == Some(target))
            {
                one.push_str(&sparkline(
                    &d.values,
                    false,
                    &format!("daily p95 of {target}, 28 days"),
                ));
            }
            one.push_str("</div>");
            out.push(one);
        }
        if let Some(at) = a.value(
            asset,
            &metrics::FEATURE_VIEW_MATERIALIZED_TIMESTAMP_SECONDS,
            &[],
        ) {
            out.push(format!(
                "<div>materialized {} ago</div>",
                shown(
                    &metrics::FEATURE_VIEW_MATERIALIZED_TIMESTAMP_SECONDS,
                    asset,
                    &[],
                    at,
                    &badge::duration(now - at),
                    None
                )
            ));
        }
        if out.is_empty() {
            dash()
        } else {
            out.concat()
        }
    };
    cells.push(("serving", serving));
    cells.push((
        "last update",
        match a.value(asset, &metrics::ASSET_LAST_UPDATE_TIMESTAMP_SECONDS, &[]) {
            Some(t) => shown(
                &metrics::ASSET_LAST_UPDATE_TIMESTAMP_SECONDS,
                asset,
                &[],
                t,
                &date(t),
                None,
            ),
            None => dash(),
        },
    ));
    cells.push((
        "absence factor",
        match a.value(asset, &metrics::ASSET_CONTRIBUTOR_ABSENCE_FACTOR, &[]) {
            Some(v) => shown(
                &metrics::ASSET_CONTRIBUTOR_ABSENCE_FACTOR,
                asset,
                &[],
                v,
                &format!("{v}"),
                (v == 1.0).then_some(badge::ORANGE),
            ),
            None => dash(),
        },
    ));
    Health { cells }
}

/// The owner cell: owner (or none), stewards, and a CODEOWNERS conflict.
fn ownership(a: &AssetSeries, asset: &str, info: &crate::exposition::Sample) -> String {
    let owner = label(info, "owner");
    let lifecycle = label(info, "lifecycle");
    let mut out = if owner.is_empty() {
        format!(
            "<span class=\"owner{}\" data-owner=\"\">none</span>",
            if lifecycle == "production" {
                " bad"
            } else {
                ""
            }
        )
    } else {
        format!(
            "<span class=\"owner\" data-owner=\"{0}\">{0}</span>",
            esc(owner)
        )
    };
    let stewards: Vec<String> = a
        .samples(asset, &metrics::ASSET_STEWARD_INFO, &[])
        .iter()
        .map(|s| esc(label(s, "steward")))
        .collect();
    if !stewards.is_empty() {
        let _ = write!(
            out,
            "<small class=\"stewards\">stewards: {}</small>",
            stewards.join(", ")
        );
    }
    if a.value(asset, &metrics::ASSET_OWNERSHIP_CONFLICT, &[]) == Some(1.0) {
        out.push_str("<small class=\"conflict\">CODEOWNERS disagrees with itself</small>");
    }
    out
}

fn problems_cell(problems: &[Problem]) -> String {
    if problems.is_empty() {
        return "<span class=\"ok\">none</span>".into();
    }
    let items: Vec<String> = problems
        .iter()
        .map(|p| {
            let extra: Vec<String> = p.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "<li class=\"problem {}\" data-alert=\"{}\">{}{}</li>",
                esc(&p.severity),
                esc(&p.alert),
                esc(p.alert.trim_start_matches("Mlsteward")),
                if extra.is_empty() {
                    String::new()
                } else {
                    format!(" <small>{}</small>", esc(&extra.join(" ")))
                }
            )
        })
        .collect();
    format!("<ul class=\"problems\">{}</ul>", items.concat())
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1em;color:#222;max-width:110em}\
h1{margin:.2em 0}h2{margin-top:1.4em}\
.scroll{overflow-x:auto}\
table{border-collapse:collapse;font-size:.92em}\
th,td{border-bottom:1px solid #ddd;padding:.35em .55em;text-align:left;vertical-align:top}\
th{background:#f4f4f4;position:sticky;top:0}\
small{display:block;color:#666}\
.none{color:#aaa}.ok{color:#4a4}.bad{color:#e05d44;font-weight:bold}\
.conflict{color:#c60}\
ul.problems{margin:0;padding-left:1.1em}\
li.warning,li.critical{color:#b3261e}li.info{color:#8a6d00}\
.spark{display:block;margin-top:.2em}\
.kinds span{display:inline-block;background:#eef;border-radius:3px;padding:0 .3em;margin:.1em}\
#asset-table td:first-child,#asset-table th:first-child{position:sticky;left:0;background:#fff;z-index:1}#asset-table th:first-child{background:#f4f4f4;z-index:2}\
@media (max-width:40em){body{margin:.4em}th,td{padding:.25em .3em}}";

/// What the page says about where it runs.
pub struct Frame<'a> {
    /// Shown above the assets: the demo notice, the store's state, the shard.
    pub notices: &'a str,
    /// The source status table, shown below.
    pub sources: &'a str,
    /// The footer's links.
    pub links: &'a str,
    /// Relative path to the site root ("" on `/`, "../" on an asset page).
    pub root: &'a str,
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    )
}

/// The problems of one render's assets, evaluated once per render (kept with it).
pub fn evaluated(derived: &Derived) -> Arc<Evaluated> {
    derived
        .evaluated
        .get_or_init(|| {
            let served = Served::new(
                derived.api.iter().flat_map(|g| g.iter()),
                &derived.page,
                derived.at,
            );
            Arc::new(evaluate(asset_rules(), &served))
        })
        .clone()
}

/// The assets `mlsteward_asset_info` names, with their info sample, by id.
fn infos(derived: &Derived) -> Vec<(&str, &crate::exposition::Sample)> {
    let mut v: Vec<(&str, &crate::exposition::Sample)> = derived
        .api
        .iter()
        .flat_map(|g| g.iter())
        .filter(|f| f.name == metrics::ASSET_INFO.name)
        .flat_map(|f| &f.samples)
        .map(|s| (label(s, "asset"), s))
        .collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v.dedup_by(|a, b| a.0 == b.0);
    v
}

fn kinds_text(counts: &BTreeMap<String, u64>) -> String {
    let mut v: Vec<(&String, &u64)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("<span data-kind=\"{0}\">{0} {n}</span>", esc(k)))
        .collect()
}

/// The overview page.
pub fn overview(derived: &Derived, board: Option<&Board>, frame: &Frame) -> String {
    let a = assets(derived);
    let evaluated = evaluated(derived);
    let mut rows = String::new();
    let assets = infos(derived);
    let mut order: Vec<usize> = (0..assets.len()).collect();
    let weight = |asset: &str| {
        evaluated.problems.get(asset).map_or(0, |p| {
            p.iter()
                .map(|p| if p.severity == "info" { 1 } else { 10 })
                .sum::<usize>()
        })
    };
    order.sort_by(|&x, &y| {
        weight(assets[y].0)
            .cmp(&weight(assets[x].0))
            .then(assets[x].0.cmp(assets[y].0))
    });
    let empty = Vec::new();
    for i in order {
        let (asset, info) = assets[i];
        let h = health(&a, derived, asset);
        let problems = evaluated.problems.get(asset).unwrap_or(&empty);
        let _ = write!(
            rows,
            "<tr data-asset=\"{0}\"><td><a href=\"{1}assets/{2}\">{0}</a></td><td>{3}</td><td>{4}</td><td>{5}</td>",
            esc(asset),
            frame.root,
            percent_encode(asset),
            esc(label(info, "kind")),
            esc(label(info, "lifecycle")),
            ownership(&a, asset, info),
        );
        for (name, cell) in &h.cells {
            let _ = write!(rows, "<td data-cell=\"{name}\">{cell}</td>");
        }
        let _ = write!(
            rows,
            "<td data-cell=\"problems\">{}</td></tr>",
            problems_cell(problems)
        );
    }
    let errors = if evaluated.errors.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = evaluated
            .errors
            .iter()
            .map(|(r, e)| format!("{}: {}", esc(r), esc(e)))
            .collect();
        format!(
            "<p class=\"bad\">Rules not evaluated: {}</p>",
            list.join("; ")
        )
    };
    let mut body = format!(
        "<h1>mlsteward</h1>{}<h2 id=\"assets\">Assets</h2>\
         <p>{} asset{}. Problems are the shipped alert rules' expressions holding now (Prometheus fires once one has held for the rule's <code>for</code>). Sparklines: 28 days, one point per UTC day.</p>{errors}\
         <div class=\"scroll\"><table id=\"asset-table\"><thead><tr><th>asset</th><th>kind</th><th>lifecycle</th><th>owner</th><th>build (7d)</th><th>coverage</th><th>reproducibility (7d)</th><th>serving</th><th>last update</th><th>absence factor</th><th>problems</th></tr></thead><tbody>{rows}</tbody></table></div>",
        frame.notices,
        assets.len(),
        if assets.len() == 1 { "" } else { "s" },
    );
    body.push_str(&board_html(board, frame.root));
    let _ = write!(
        body,
        "<h2 id=\"sources\">Sources</h2>{}{}",
        frame.sources, frame.links
    );
    page("mlsteward", &body)
}

fn board_html(board: Option<&Board>, root: &str) -> String {
    let Some(board) = board else {
        return "<h2 id=\"recognition\">Recognition</h2><p id=\"board-pending\">The recognition board is being built from the store; reload in a moment.</p>".into();
    };
    let mut out = format!(
        "<h2 id=\"recognition\">Recognition</h2><p>Contributions in the 90 days before {} by kind (distinct commits per kind; see <a href=\"{root}docs\">the definitions</a>). {} people in all; the full list is <a href=\"{root}api/v1/recognition?since=90d\">the report</a>.</p>",
        date(board.at as f64),
        board.recent.people.len(),
    );
    out.push_str("<div class=\"scroll\"><table id=\"board\"><thead><tr><th>#</th><th>person</th><th>credited commits</th><th>contributions by kind</th><th>assets</th></tr></thead><tbody>");
    for (i, p) in board.recent.people.iter().take(BOARD_ROWS).enumerate() {
        let assets: Vec<String> = p
            .assets
            .keys()
            .map(|a| {
                format!(
                    "<a href=\"{root}assets/{}\">{}</a>",
                    percent_encode(a),
                    esc(a)
                )
            })
            .collect();
        let _ = write!(
            out,
            "<tr data-person=\"{0}\"><td>{1}</td><td>{0}</td><td data-credited=\"{2}\">{2}</td><td class=\"kinds\">{3}</td><td>{4}</td></tr>",
            esc(&p.name),
            i + 1,
            p.credited_commits,
            kinds_text(&p.contributions),
            assets.join(", ")
        );
    }
    out.push_str("</tbody></table></div>");
    let welcome = board.welcome();
    out.push_str("<h3 id=\"welcome\">Welcome</h3>");
    if welcome.is_empty() {
        out.push_str("<p>No one made a first contribution in the last 30 days.</p>");
    } else {
        out.push_str("<p>First contributions in the last 30 days:</p><ul id=\"welcome-list\">");
        for p in welcome {
            let assets: Vec<String> = p.assets.keys().map(|a| esc(a)).collect();
            let _ = write!(
                out,
                "<li data-person=\"{}\">{} <small>first on {}, to {}</small></li>",
                esc(&p.name),
                esc(&p.name),
                date(p.first_at as f64),
                assets.join(", ")
            );
        }
        out.push_str("</ul>");
    }
    out
}

/// A path segment, percent-encoded.
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2D", "-")
        .replace("%5F", "_")
        .replace("%2E", ".")
}

/// One asset's page; `None` when the render names no such asset.
pub fn asset_page(
    derived: &Derived,
    board: Option<&Board>,
    asset: &str,
    frame: &Frame,
) -> Option<String> {
    let a = assets(derived);
    let (_, info) = infos(derived).into_iter().find(|(id, _)| *id == asset)?;
    let evaluated = evaluated(derived);
    let empty = Vec::new();
    let problems = evaluated.problems.get(asset).unwrap_or(&empty);
    let root = frame.root;
    let mut body = format!(
        "<p><a href=\"{root}\">← overview</a></p><h1>{}</h1><p>{} · {} · owner {}</p>",
        esc(asset),
        esc(label(info, "kind")),
        esc(label(info, "lifecycle")),
        ownership(&a, asset, info),
    );
    if let Some(entry) = derived
        .config
        .as_ref()
        .and_then(|c| c.catalog.iter().find(|e| e.id == asset))
    {
        if let Some(r) = &entry.repository {
            let _ = write!(
                body,
                "<p>Repository: {}; paths: {}</p>",
                esc(r),
                esc(&entry.paths.join(", "))
            );
        }
    }
    // Health, as on the overview.
    body.push_str("<h2>Health</h2><table id=\"health\">");
    for (name, cell) in health(&a, derived, asset).cells {
        let _ = write!(
            body,
            "<tr><th>{name}</th><td data-cell=\"{name}\">{cell}</td></tr>"
        );
    }
    let _ = write!(
        body,
        "<tr><th>problems</th><td data-cell=\"problems\">{}</td></tr></table>",
        problems_cell(problems)
    );
    // Checks: model governance, reproducibility, CI pipelines.
    let mut checks = String::new();
    for s in a.samples(asset, &metrics::MODEL_CHECK, &[]) {
        let check = label(s, "check");
        let _ = write!(
            checks,
            "<tr><td>model check {}</td><td>{}</td></tr>",
            esc(check),
            shown(
                &metrics::MODEL_CHECK,
                asset,
                &[("check", check)],
                s.value,
                if s.value == 1.0 { "pass" } else { "fail" },
                Some(if s.value == 1.0 {
                    badge::GREEN
                } else {
                    badge::RED
                })
            )
        );
    }
    let mut repro: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for s in a.samples(asset, &metrics::REPRO_CHECKS_TOTAL, &[]) {
        *repro
            .entry(label(s, "environment").to_string())
            .or_default()
            .entry(label(s, "result").to_string())
            .or_default() += s.value;
    }
    for (env, results) in &repro {
        let parts: Vec<String> = results.iter().map(|(r, n)| format!("{r} {n}")).collect();
        let _ = write!(
            checks,
            "<tr><td>reproducibility checks in {}</td><td>{}</td></tr>",
            esc(env),
            esc(&parts.join(", "))
        );
    }
    for s in a.samples(asset, &metrics::CI_SUCCESS_RATIO, &[]) {
        let desc: Vec<String> = s
            .labels
            .iter()
            .filter(|(k, _)| *k != "asset")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let with: Vec<(&str, &str)> = s
            .labels
            .iter()
            .filter(|(k, _)| *k != "asset")
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let _ = write!(
            checks,
            "<tr><td>CI {}</td><td>{}</td></tr>",
            esc(&desc.join(" ")),
            shown(
                &metrics::CI_SUCCESS_RATIO,
                asset,
                &with,
                s.value,
                &badge::percent(s.value),
                None
            )
        );
    }
    body.push_str("<h2>Checks</h2>");
    if checks.is_empty() {
        body.push_str("<p>No checks recorded.</p>");
    } else {
        let _ = write!(body, "<table id=\"checks\">{checks}</table>");
    }
    // Dependencies, both ways.
    let deps: Vec<String> = a
        .samples(asset, &metrics::ASSET_DEPENDENCY_INFO, &[])
        .iter()
        .map(|s| label(s, "depends_on"))
        .map(|d| {
            format!(
                "<li><a href=\"{root}assets/{}\">{}</a></li>",
                percent_encode(d),
                esc(d)
            )
        })
        .collect();
    let mut users: BTreeSet<&str> = BTreeSet::new();
    for other in a.assets() {
        if a.of(other).iter().any(|(n, s)| {
            *n == metrics::ASSET_DEPENDENCY_INFO.name && label(s, "depends_on") == asset
        }) {
            users.insert(other);
        }
    }
    // A model's versions and the runs that made them.
    let mut runs: Vec<&crate::derive::page::ModelRun> = derived
        .page
        .iter()
        .flat_map(|p| p.runs.iter())
        .filter(|r| r.asset == asset)
        .collect();
    body.push_str("<h2>Dependencies</h2>");
    if deps.is_empty() && users.is_empty() && runs.is_empty() {
        body.push_str("<p>None recorded.</p>");
    } else {
        if !deps.is_empty() {
            let _ = write!(
                body,
                "<p>Depends on:</p><ul id=\"depends-on\">{}</ul>",
                deps.concat()
            );
        }
        if !users.is_empty() {
            let list: Vec<String> = users
                .iter()
                .map(|u| {
                    format!(
                        "<li><a href=\"{root}assets/{}\">{}</a></li>",
                        percent_encode(u),
                        esc(u)
                    )
                })
                .collect();
            let _ = write!(
                body,
                "<p>Used by:</p><ul id=\"used-by\">{}</ul>",
                list.concat()
            );
        }
    }
    if !runs.is_empty() {
        body.push_str("<h3>Model versions and the runs that made them</h3>");
        runs.sort_by(|a, b| {
            let n = |v: &str| v.parse::<u64>().unwrap_or(0);
            n(&b.version).cmp(&n(&a.version))
        });
        body.push_str("<table id=\"runs\"><tr><th>version</th><th>run</th><th>status</th></tr>");
        for r in runs {
            let _ = write!(
                body,
                "<tr data-version=\"{0}\"><td>{0}</td><td><code>{1}</code></td><td>{2}</td></tr>",
                esc(&r.version),
                esc(&r.run),
                esc(&r.status)
            );
        }
        body.push_str("</table>");
    }
    // Response times: the objective, the week's share within it, what waits, the median.
    body.push_str("<h2>Owners' response times</h2>");
    let mut responses = String::new();
    if let Some(o) = a.value(asset, &metrics::ASSET_RESPONSE_OBJECTIVE_SECONDS, &[]) {
        let _ = write!(
            responses,
            "<tr><th>objective</th><td>{}</td></tr>",
            shown(
                &metrics::ASSET_RESPONSE_OBJECTIVE_SECONDS,
                asset,
                &[],
                o,
                &badge::duration(o),
                None
            )
        );
    }
    if let Some(r) = a.value(
        asset,
        &metrics::RESPONSES_WITHIN_OBJECTIVE_RATIO,
        &[("window", "7d")],
    ) {
        let _ = write!(
            responses,
            "<tr><th>answered within it (7 days)</th><td>{}</td></tr>",
            shown(
                &metrics::RESPONSES_WITHIN_OBJECTIVE_RATIO,
                asset,
                &[("window", "7d")],
                r,
                &badge::percent(r),
                None
            )
        );
    }
    for s in a.samples(asset, &metrics::ITEMS_WAITING_BEYOND_OBJECTIVE, &[]) {
        let kind = label(s, "kind");
        let _ = write!(
            responses,
            "<tr><th>{} waiting beyond it</th><td>{}</td></tr>",
            esc(kind),
            shown(
                &metrics::ITEMS_WAITING_BEYOND_OBJECTIVE,
                asset,
                &[("kind", kind)],
                s.value,
                &format!("{}", s.value),
                None
            )
        );
    }
    // The median first response per kind, as `histogram_quantile(0.5, …)` estimates it from
    // the served histogram's buckets.
    let mut buckets: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for (name, s) in a.of(asset) {
        if *name == metrics::FIRST_RESPONSE_SECONDS.name && s.suffix == "_bucket" {
            let le = label(s, "le");
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(f64::NAN)
            };
            buckets
                .entry(label(s, "kind"))
                .or_default()
                .push((bound, s.value));
        }
    }
    for (kind, b) in buckets {
        let median = crate::promql::bucket_quantile(0.5, b);
        if median.is_finite() {
            let _ = write!(
                responses,
                "<tr><th>median first response, {}</th><td>about {}</td></tr>",
                esc(kind),
                esc(&badge::duration(median))
            );
        }
    }
    if responses.is_empty() {
        body.push_str("<p>No issues or pull requests recorded.</p>");
    } else {
        let _ = write!(body, "<table id=\"responses\">{responses}</table>");
    }
    // Contributors, all time, with kinds.
    body.push_str("<h2>Contributors</h2>");
    match board {
        None => body.push_str("<p id=\"board-pending\">The contributors are being read from the store; reload in a moment.</p>"),
        Some(board) => {
            let mut people: Vec<(&PersonReport, &crate::report::AssetCredit)> = board
                .all
                .people
                .iter()
                .filter_map(|p| Some((p, p.assets.get(asset)?)))
                .collect();
            people.sort_by(|x, y| {
                y.1.credited_commits
                    .cmp(&x.1.credited_commits)
                    .then_with(|| y.1.contributions.values().sum::<u64>().cmp(&x.1.contributions.values().sum::<u64>()))
                    .then(x.0.name.cmp(&y.0.name))
            });
            if people.is_empty() {
                body.push_str("<p>No credited contributions.</p>");
            } else {
                body.push_str("<div class=\"scroll\"><table id=\"contributors\"><thead><tr><th>person</th><th>credited commits</th><th>contributions by kind</th></tr></thead><tbody>");
                for (p, credit) in people {
                    let _ = write!(
                        body,
                        "<tr data-person=\"{0}\"><td>{0}</td><td data-credited=\"{1}\">{1}</td><td class=\"kinds\">{2}</td></tr>",
                        esc(&p.name),
                        credit.credited_commits,
                        kinds_text(&credit.contributions)
                    );
                }
                body.push_str("</tbody></table></div>");
            }
        }
    }
    // Badges for the asset's README.
    let badges: Vec<String> = badge::SIGNALS
        .iter()
        .map(|s| {
            format!(
                "<img alt=\"{s}\" src=\"{root}badge/{}/{s}.svg\">",
                percent_encode(asset)
            )
        })
        .collect();
    let _ = write!(
        body,
        "<h2>Badges</h2><p>{}</p><p>In a README: <code>![owner](https://MLSTEWARD/badge/{}/owner.svg)</code>.</p>{}",
        badges.join(" "),
        esc(&percent_encode(asset)),
        frame.links
    );
    Some(page(&format!("{asset} — mlsteward"), &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_break_at_missing_days_and_mark_today() {
        let svg = sparkline(&[Some(1.0), None, Some(0.5), Some(0.0)], true, "t");
        assert_eq!(svg.matches("<path").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(svg.contains("data-days=\"3\""));
    }
}
