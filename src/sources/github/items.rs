//! Pull requests and issues of one repository: first responses, and the `pull_request` and
//! `review` credits of pull requests merged into the default branch (docs/configuration.md's rules).
//!
//! The listing (`…/issues?state=all&sort=updated`, which holds both) is asked conditionally,
//! like the runs; when it changed, each item updated since the repository's watermark is read
//! again with its comments, and for a pull request its merge, reviews and inline comments.

use tokio_util::sync::CancellationToken;

use super::parse::{self, Comment, Review};
use super::GithubCollector;
use crate::collector::CollectError;
use crate::facts::{Cursors, ForgeCredit, ForgeItem, ForgeItems, Person};
use crate::sources::forge::{self, decode_error};
use crate::sources::http::{Fetched, Validators};

/// Reads the repository's items changed since its watermark.
pub(super) async fn collect(
    c: &GithubCollector,
    repo: &str,
    default_branch: &str,
    old: &Cursors,
    now: i64,
    cursors: &mut Cursors,
    cancel: &CancellationToken,
) -> Result<ForgeItems, CollectError> {
    let url = format!(
        "{}/repos/{repo}/issues?state=all&sort=updated&direction=desc&per_page=100",
        c.settings.api_url
    );
    let changed = forge::updated_since(
        &c.client,
        &url,
        &format!("items {repo}"),
        old,
        cursors,
        now - c.settings.forge.history.as_secs() as i64,
        c.settings.forge.max_pages,
        cancel,
        parse::items_page,
    )
    .await?;
    let mut out = ForgeItems::default();
    for item in &changed {
        read_item(c, repo, default_branch, item, &mut out, cancel).await?;
    }
    Ok(out)
}

/// The person behind a GitHub user (see `People::forge_user`).
fn who(c: &GithubCollector, user: &Option<(String, bool)>) -> Option<(Person, bool)> {
    let (login, bot) = user.as_ref()?;
    c.people.forge_user(login, *bot)
}

async fn get_list<T>(
    c: &GithubCollector,
    url: &str,
    parse: fn(&[u8]) -> Result<Vec<T>, String>,
    cancel: &CancellationToken,
) -> Result<Vec<T>, CollectError> {
    match c.client.get(url, &Validators::default(), cancel).await? {
        Fetched::Body { body, .. } => parse(&body).map_err(decode_error(url)),
        Fetched::NotModified => Ok(Vec::new()),
    }
}

async fn read_item(
    c: &GithubCollector,
    repo: &str,
    default_branch: &str,
    item: &parse::Item,
    out: &mut ForgeItems,
    cancel: &CancellationToken,
) -> Result<(), CollectError> {
    let api = &c.settings.api_url;
    let author = who(c, &item.author);
    let author_key = author.as_ref().map(|(p, _)| p.key.clone());
    // Somebody other than the author, and a person.
    let responder = |user: &Option<(String, bool)>| -> Option<(Person, bool)> {
        let (p, credited) = who(c, user)?;
        (Some(&p.key) != author_key.as_ref()).then_some((p, credited))
    };
    let mut first: Option<i64> = None;
    let mut earliest = |at: i64| first = Some(first.map_or(at, |f: i64| f.min(at)));
    if item.comments > 0 {
        let url = format!(
            "{api}/repos/{repo}/issues/{}/comments?per_page=100",
            item.number
        );
        for (user, at, _) in get_list(c, &url, parse::comments_page, cancel).await? {
            if responder(&user).is_some() {
                earliest(at);
            }
        }
    }
    let kind = if item.pull_request {
        "pull_request"
    } else {
        "issue"
    };
    if item.pull_request {
        let pull_url = format!("{api}/repos/{repo}/pulls/{}", item.number);
        let (merged_at, base) = match c
            .client
            .get(&pull_url, &Validators::default(), cancel)
            .await?
        {
            Fetched::Body { body, .. } => parse::pull(&body).map_err(decode_error(&pull_url))?,
            Fetched::NotModified => (None, String::new()),
        };
        let reviews: Vec<Review> = get_list(
            c,
            &format!("{pull_url}/reviews?per_page=100"),
            parse::reviews_page,
            cancel,
        )
        .await?;
        let inline: Vec<Comment> = get_list(
            c,
            &format!("{pull_url}/comments?per_page=100"),
            parse::comments_page,
            cancel,
        )
        .await?;
        for (user, at, _) in &inline {
            if responder(user).is_some() {
                earliest(*at);
            }
        }
        for r in &reviews {
            if let (Some(at), Some(_)) = (r.submitted_at, responder(&r.author)) {
                if r.state != "PENDING" {
                    earliest(at);
                }
            }
        }
        let merged_here = merged_at.filter(|_| base == default_branch);
        if let Some(merged) = merged_here {
            if let Some((p, true)) = &author {
                out.credits.push(ForgeCredit {
                    repository: repo.to_string(),
                    number: item.number as i64,
                    person: p.key.clone(),
                    kind: "pull_request".into(),
                    at: merged,
                });
                out.people.push(p.clone());
            }
            for r in &reviews {
                let with_content = r.has_body || inline.iter().any(|(_, _, id)| *id == Some(r.id));
                let counts = r.state == "APPROVED"
                    || (matches!(r.state.as_str(), "COMMENTED" | "CHANGES_REQUESTED")
                        && with_content);
                let before = r.submitted_at.is_some_and(|at| at <= merged);
                if let (true, true, Some((p, true))) = (counts, before, responder(&r.author)) {
                    if !out.credits.iter().any(|x| {
                        x.number == item.number as i64 && x.person == p.key && x.kind == "review"
                    }) {
                        out.credits.push(ForgeCredit {
                            repository: repo.to_string(),
                            number: item.number as i64,
                            person: p.key.clone(),
                            kind: "review".into(),
                            at: merged,
                        });
                        out.people.push(p);
                    }
                }
            }
        }
    }
    out.items.push(ForgeItem {
        repository: repo.to_string(),
        kind: kind.to_string(),
        number: item.number,
        author: author_key.unwrap_or_default(),
        opened_at: item.created_at,
        first_response_at: first,
        closed_at: item.closed_at,
    });
    Ok(())
}

/// The repository's published releases and the people their notes name (see
/// [`forge::releases`]).
#[allow(clippy::too_many_arguments)]
pub(super) async fn releases(
    c: &GithubCollector,
    repo: &str,
    changed: bool,
    old: &Cursors,
    now: i64,
    cursors: &mut Cursors,
    cancel: &CancellationToken,
    out: &mut ForgeItems,
) -> Result<(), CollectError> {
    let url = format!("{}/repos/{repo}/releases?per_page=100", c.settings.api_url);
    forge::releases(
        &c.client, &c.people, &url, repo, changed, old, now, cursors, cancel, published, out,
    )
    .await
}

/// GitHub's published releases (drafts and unpublished ones aside).
fn published(body: &[u8]) -> Result<Vec<forge::Release>, String> {
    Ok(parse::releases_page(body)?
        .into_iter()
        .filter_map(|r| {
            Some(forge::Release {
                published_at: r.published_at.filter(|_| !r.draft)?,
                id: r.id,
                tag: r.tag,
                prerelease: r.prerelease,
                notes: r.body,
                author: r.author,
            })
        })
        .collect())
}
