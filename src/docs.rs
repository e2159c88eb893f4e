//! The documentation, as the binary was built with it, served as HTML at `/docs` (the README)
//! and `/docs/NAME.md` (the files under `docs/`, and BENCHMARKS.md), so that the landing
//! page's link works wherever the binary runs and a browser shows a page, not Markdown source.

use std::sync::OnceLock;

/// Every served document: its name under `/docs/` (the README is `/docs` itself), its title
/// and its Markdown.
const DOCUMENTS: &[(&str, &str, &str)] = &[
    ("", "mlsteward", include_str!("../README.md")),
    (
        "configuration.md",
        "Configuration",
        include_str!("../docs/configuration.md"),
    ),
    ("metrics.md", "Metrics", include_str!("../docs/metrics.md")),
    (
        "dashboards.md",
        "Dashboards and alerts",
        include_str!("../docs/dashboards.md"),
    ),
    (
        "command-line.md",
        "Command line",
        include_str!("../docs/command-line.md"),
    ),
    (
        "deploying.md",
        "Deploying",
        include_str!("../docs/deploying.md"),
    ),
    (
        "architecture.md",
        "Architecture",
        include_str!("../docs/architecture.md"),
    ),
    (
        "BENCHMARKS.md",
        "Benchmarks",
        include_str!("../BENCHMARKS.md"),
    ),
];

/// The HTML page of document `name` (`""` for the README), rendered once.
pub fn page(name: &str) -> Option<&'static str> {
    static PAGES: OnceLock<Vec<String>> = OnceLock::new();
    let pages = PAGES.get_or_init(|| {
        DOCUMENTS
            .iter()
            .map(|(name, title, markdown)| render(name, title, markdown))
            .collect()
    });
    DOCUMENTS
        .iter()
        .position(|(n, _, _)| *n == name)
        .map(|i| pages[i].as_str())
}

/// Where a link in document `from` points once served: the README is at `/docs`, every other
/// document at `/docs/NAME`, so links between them are rewritten to those places (relative,
/// so a reverse proxy's prefix keeps working). Other links are left as they are.
fn served_link(from: &str, dest: &str) -> String {
    let (path, fragment) = match dest.split_once('#') {
        Some((p, f)) => (p, format!("#{f}")),
        None => (dest, String::new()),
    };
    let target = if path == "README.md" || path == "../README.md" {
        Some("")
    } else {
        let name = path
            .strip_prefix("docs/")
            .or_else(|| path.strip_prefix("../"))
            .unwrap_or(path);
        DOCUMENTS
            .iter()
            .find(|(n, _, _)| !n.is_empty() && *n == name)
            .map(|(n, _, _)| *n)
    };
    match (target, from.is_empty()) {
        (None, _) => dest.to_string(),
        // From `/docs`: `docs/NAME`; the README itself: `docs`.
        (Some(""), true) => format!("docs{fragment}"),
        (Some(n), true) => format!("docs/{n}{fragment}"),
        // From `/docs/X`: `NAME`; the README: `../docs`.
        (Some(""), false) => format!("../docs{fragment}"),
        (Some(n), false) => format!("{n}{fragment}"),
    }
}

fn render(name: &str, title: &str, markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let options = Options::ENABLE_TABLES | Options::ENABLE_HEADING_ATTRIBUTES;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: served_link(name, &dest_url).into(),
            title,
            id,
        }),
        // Raw HTML in the Markdown (the generated tables' markers) is shown as text, never
        // interpreted.
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        other => other,
    });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, with_heading_ids(events));
    let home = if name.is_empty() { "docs" } else { "../docs" };
    let nav: String = DOCUMENTS
        .iter()
        .filter(|(n, _, _)| !n.is_empty())
        .map(|(n, t, _)| {
            let href = if name.is_empty() {
                format!("docs/{n}")
            } else {
                n.to_string()
            };
            format!(" · <a href=\"{href}\">{t}</a>")
        })
        .collect();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} — mlsteward</title><style>{STYLE}</style></head><body>\
         <nav><a href=\"{home}\">README</a>{nav}</nav><main>{body}</main></body></html>"
    )
}

/// Gives every heading the id GitHub gives it (lower case, spaces to `-`, punctuation
/// dropped), so that the documents' `#anchor` links land.
fn with_heading_ids<'a>(
    events: impl Iterator<Item = pulldown_cmark::Event<'a>>,
) -> impl Iterator<Item = pulldown_cmark::Event<'a>> {
    use pulldown_cmark::{Event, Tag, TagEnd};
    let events: Vec<Event<'a>> = events.collect();
    let mut out = Vec::with_capacity(events.len());
    let mut i = 0;
    while i < events.len() {
        if let Event::Start(Tag::Heading {
            level,
            id: None,
            classes,
            attrs,
        }) = &events[i]
        {
            let mut text = String::new();
            for e in &events[i + 1..] {
                match e {
                    Event::End(TagEnd::Heading(_)) => break,
                    Event::Text(t) | Event::Code(t) => text.push_str(t),
                    _ => {}
                }
            }
            out.push(Event::Start(Tag::Heading {
                level: *level,
                id: Some(anchor(&text).into()),
                classes: classes.clone(),
                attrs: attrs.clone(),
            }));
        } else {
            out.push(events[i].clone());
        }
        i += 1;
    }
    out.into_iter()
}

/// A heading's anchor as GitHub makes it.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1f2328}\
nav{padding:.6em 1em;background:#f6f8fa;border-bottom:1px solid #d0d7de;font-size:.9em}\
main{max-width:60em;margin:0 auto;padding:1em}\
pre,code{font:.9em ui-monospace,monospace;background:#f6f8fa}\
pre{padding:.8em;overflow-x:auto}table{border-collapse:collapse;display:block;overflow-x:auto}\
td,th{border:1px solid #d0d7de;padding:.3em .6em;vertical-align:top}a{color:#0969da}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_between_documents_point_where_they_are_served() {
        assert_eq!(served_link("", "docs/metrics.md"), "docs/metrics.md");
        assert_eq!(
            served_link("", "docs/configuration.md#webhooks"),
            "docs/configuration.md#webhooks"
        );
        assert_eq!(served_link("", "BENCHMARKS.md"), "docs/BENCHMARKS.md");
        assert_eq!(served_link("", "#development"), "#development");
        assert_eq!(
            served_link("deploying.md", "configuration.md#webhooks"),
            "configuration.md#webhooks"
        );
        assert_eq!(
            served_link("deploying.md", "../BENCHMARKS.md"),
            "BENCHMARKS.md"
        );
        assert_eq!(
            served_link("metrics.md", "../README.md#quick-start"),
            "../docs#quick-start"
        );
        assert_eq!(
            served_link("", "https://prometheus.io/"),
            "https://prometheus.io/"
        );
    }

    #[test]
    fn every_anchor_link_of_every_document_lands_on_a_heading() {
        for (name, _, _) in DOCUMENTS {
            let html = page(name).unwrap();
            for link in html.split("href=\"").skip(1) {
                let link = &link[..link.find('"').unwrap()];
                let Some((path, fragment)) = link.split_once('#') else {
                    continue;
                };
                if path.starts_with("http") {
                    continue;
                }
                let target = match (path, name.is_empty()) {
                    ("", _) => *name,
                    ("docs", true) | ("../docs", false) => "",
                    (p, true) => p.strip_prefix("docs/").unwrap_or(p),
                    (p, false) => p,
                };
                let page = page(target)
                    .unwrap_or_else(|| panic!("{name}: link to {link}: no such document"));
                assert!(
                    page.contains(&format!("id=\"{fragment}\"")),
                    "{name}: link to {link}: no such heading"
                );
            }
        }
    }
}
