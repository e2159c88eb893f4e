//! Merge requests and issues of one GitLab project: first responses, and the `pull_request`
//! and `review` credits of merge requests merged into the default branch, by the same rules as
//! GitHub's pull requests (one vocabulary for every forge). A review is an approval, or a note
//! by a person other than the author before the merge; the response is the first note by a
//! person other than the author (system notes are no one's).

use tokio_util::sync::CancellationToken;

use super::{parse, GitlabCollector};
use crate::collector::CollectError;
use crate::facts::{Cursors, ForgeCredit, ForgeItem, ForgeItems, Person};
use crate::sources::forge::{self, decode_error};
use crate::sources::http::{Fetched, Validators};

/// Reads the project's merge requests and issues changed since their watermarks.
#[allow(clippy::too_many_arguments)]
pub(super) async fn collect(
    c: &GitlabCollector,
    project: &str,
    base: &str,
    default_branch: &str,
    old: &Cursors,
    now: i64,
    cursors: &mut Cursors,
    cancel: &CancellationToken,
) -> Result<ForgeItems, CollectError> {
    let mut out = ForgeItems::default();
    let start = now - c.settings.forge.history.as_secs() as i64;
    for (kind, path) in [("pull_request", "merge_requests"), ("issue", "issues")] {
        let url = format!("{base}/{path}?state=all&order_by=updated_at&sort=desc&per_page=100");
        let changed = forge::updated_since(
            &c.client,
            &url,
            &format!("{path} {project}"),
            old,
            cursors,
            start,
            c.settings.forge.max_pages,
            cancel,
            parse::items_page,
        )
        .await?;
        for item in &changed {
            let item_url = format!("{base}/{path}/{}", item.iid);
            read_item(
                c,
                project,
                kind,
                &item_url,
                default_branch,
                item,
                &mut out,
                cancel,
            )
            .await?;
        }
    }
    Ok(out)
}

/// The person behind a GitLab user (see `People::forge_user`).
fn who(c: &GitlabCollector, user: &Option<(String, bool)>) -> Option<(Person, bool)> {
    let (name, bot) = user.as_ref()?;
    c.people.forge_user(name, *bot)
}

async fn body(
    c: &GitlabCollector,
    url: &str,
    cancel: &CancellationToken,
) -> Result<Option<Vec<u8>>, CollectError> {
    Ok(
        match c.client.get(url, &Validators::default(), cancel).await? {
            Fetched::Body { body, .. } => Some(body),
            Fetched::NotModified => None,
        },
    )
}

#[allow(clippy::too_many_arguments)]
async fn read_item(
    c: &GitlabCollector,
    project: &str,
    kind: &str,
    item_url: &str,
    default_branch: &str,
    item: &parse::Item,
    out: &mut ForgeItems,
    cancel: &CancellationToken,
) -> Result<(), CollectError> {
    let author = who(c, &item.author);
    let author_key = author.as_ref().map(|(p, _)| p.key.clone());
    let other = |user: &Option<(String, bool)>| -> Option<(Person, bool)> {
        let (p, credited) = who(c, user)?;
        (Some(&p.key) != author_key.as_ref()).then_some((p, credited))
    };
    let mut notes = Vec::new();
    if item.notes > 0 {
        let url = format!("{item_url}/notes?sort=asc&order_by=created_at&per_page=100");
        if let Some(b) = body(c, &url, cancel).await? {
            notes = parse::notes_page(&b).map_err(decode_error(&url))?;
        }
    }
    let first = notes
        .iter()
        .filter(|(u, _)| other(u).is_some())
        .map(|(_, at)| *at)
        .min();
    if kind == "pull_request" {
        // Pull requests and merge requests share their numbers' space in the store.
        let number = item.iid as i64;
        if let Some(merged) = item
            .merged_at
            .filter(|_| item.target_branch == default_branch)
        {
            if let Some((p, true)) = &author {
                out.credits.push(ForgeCredit {
                    repository: project.to_string(),
                    number,
                    person: p.key.clone(),
                    kind: "pull_request".into(),
                    at: merged,
                });
                out.people.push(p.clone());
            }
            let url = format!("{item_url}/approvals");
            let approvers = match body(c, &url, cancel).await? {
                Some(b) => parse::approvers(&b).map_err(decode_error(&url))?,
                None => Vec::new(),
            };
            let reviewers = approvers.into_iter().map(Some).chain(
                notes
                    .iter()
                    .filter(|(_, at)| *at <= merged)
                    .map(|(u, _)| u.clone()),
            );
            let mut credited: Vec<String> = Vec::new();
            for user in reviewers {
                if let Some((p, true)) = other(&user) {
                    if !credited.contains(&p.key) {
                        credited.push(p.key.clone());
                        out.credits.push(ForgeCredit {
                            repository: project.to_string(),
                            number,
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
        repository: project.to_string(),
        kind: kind.to_string(),
        number: item.iid,
        author: author_key.unwrap_or_default(),
        opened_at: item.created_at,
        first_response_at: first,
        closed_at: item.closed_at,
    });
    Ok(())
}
