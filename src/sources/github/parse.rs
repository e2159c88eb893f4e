//! Pure parsers of GitHub REST answers (shapes as GitHub documents them in its OpenAPI
//! description), tested on literal fixtures.

use serde_json::Value;

use crate::sources::forge::parse_time;

/// One workflow run as `GET /repos/{o}/{r}/actions/runs` and `…/runs/{id}/attempts/{n}` show
/// it: the latest attempt, or the requested one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: u64,
    pub attempt: u32,
    /// The workflow's name (`name`), else its file's name.
    pub workflow: String,
    pub branch: String,
    pub sha: String,
    pub event: String,
    /// `completed` once finished.
    pub status: String,
    pub conclusion: Option<String>,
    pub created_at: i64,
    pub started_at: i64,
    pub updated_at: i64,
    /// The login of who triggered this attempt, unless it is a bot.
    pub actor: Option<String>,
}

impl Run {
    pub fn finished(&self) -> bool {
        self.status == "completed"
    }
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn time(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_str).and_then(parse_time)
}

pub fn run(v: &Value) -> Result<Run, String> {
    let id = v
        .get("id")
        .and_then(Value::as_u64)
        .ok_or("a workflow run without a numeric `id`")?;
    let created_at = time(v, "created_at").ok_or(format!("run {id}: no `created_at`"))?;
    let updated_at = time(v, "updated_at").unwrap_or(created_at);
    let started_at = time(v, "run_started_at").unwrap_or(created_at);
    let mut workflow = text(v, "name");
    if workflow.is_empty() {
        workflow = text(v, "path").rsplit('/').next().unwrap_or("").to_string();
    }
    let actor = v
        .get("triggering_actor")
        .filter(|a| a.is_object())
        .or_else(|| v.get("actor").filter(|a| a.is_object()))
        .filter(|a| text(a, "type") != "Bot")
        .map(|a| text(a, "login"))
        .filter(|login| !login.is_empty() && !login.ends_with("[bot]"));
    Ok(Run {
        id,
        attempt: v
            .get("run_attempt")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .clamp(1, u32::MAX as u64) as u32,
        workflow,
        branch: text(v, "head_branch"),
        sha: text(v, "head_sha"),
        event: text(v, "event"),
        status: text(v, "status"),
        conclusion: v
            .get("conclusion")
            .and_then(Value::as_str)
            .map(str::to_string),
        created_at,
        started_at,
        updated_at,
        actor,
    })
}

/// The runs of one page of `…/actions/runs`.
pub fn runs_page(body: &[u8]) -> Result<Vec<Run>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let runs = v
        .get("workflow_runs")
        .and_then(Value::as_array)
        .ok_or("no `workflow_runs` list")?;
    runs.iter().map(run).collect()
}

/// One attempt of `…/runs/{id}/attempts/{n}`.
pub fn attempt(body: &[u8]) -> Result<Run, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    run(&v)
}

/// A repository of `GET /repos/{o}/{r}` or of an organisation's list: (full name, default
/// branch, archived).
pub fn repository(v: &Value) -> Result<(String, String, bool), String> {
    let name = text(v, "full_name");
    if name.is_empty() {
        return Err("a repository without `full_name`".into());
    }
    let branch = text(v, "default_branch");
    let archived = v.get("archived").and_then(Value::as_bool).unwrap_or(false);
    Ok((
        name,
        if branch.is_empty() {
            "main".into()
        } else {
            branch
        },
        archived,
    ))
}

pub fn repository_body(body: &[u8]) -> Result<(String, String, bool), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    repository(&v)
}

pub fn repositories_page(body: &[u8]) -> Result<Vec<(String, String, bool)>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    v.as_array()
        .ok_or("expected a list of repositories")?
        .iter()
        .map(repository)
        .collect()
}

/// A job of `…/runs/{id}/attempts/{n}/jobs`: (name, conclusion, completed at).
pub type Job = (String, Option<String>, Option<i64>);

pub fn jobs_page(body: &[u8]) -> Result<Vec<Job>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let jobs = v
        .get("jobs")
        .and_then(Value::as_array)
        .ok_or("no `jobs` list")?;
    Ok(jobs
        .iter()
        .map(|j| {
            (
                text(j, "name"),
                j.get("conclusion")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                time(j, "completed_at"),
            )
        })
        .collect())
}

/// The environment of a matrix job: the values GitHub appends to its name
/// (`reproduce (linux-py310)` → `linux-py310`), else the whole name.
pub fn environment(job_name: &str) -> String {
    match (job_name.rfind(" ("), job_name.strip_suffix(')')) {
        (Some(open), Some(_)) if open + 2 < job_name.len() - 1 => {
            job_name[open + 2..job_name.len() - 1].to_string()
        }
        _ => job_name.to_string(),
    }
}

/// A conclusion in the shared result vocabulary (`facts::CI_RESULTS`).
pub fn result_of(conclusion: Option<&str>) -> &'static str {
    match conclusion.unwrap_or("") {
        "success" => "success",
        "failure" => "failure",
        "timed_out" => "timed_out",
        "startup_failure" => "startup_failure",
        "cancelled" => "cancelled",
        "skipped" => "skipped",
        "neutral" => "neutral",
        "action_required" => "action_required",
        "stale" => "stale",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from the example of `GET /repos/{owner}/{repo}/actions/runs` in GitHub's
    /// OpenAPI description.
    const RUNS: &str = r#"{
      "total_count": 2,
      "workflow_runs": [
        {
          "id": 30433642, "name": "Build", "node_id": "MDEyOldvcmtmbG93IFJ1bjI2OTI4OQ==",
          "head_branch": "master", "head_sha": "acb5820ced9479c074f688cc328bf03f341a511d",
          "path": ".github/workflows/build.yml@main", "run_number": 562, "event": "push",
          "display_title": "Update README.md", "status": "completed", "conclusion": "failure",
          "workflow_id": 159038, "run_attempt": 2,
          "created_at": "2020-01-22T19:33:08Z", "updated_at": "2020-01-22T19:43:08Z",
          "run_started_at": "2020-01-22T19:38:08Z",
          "actor": {"login": "octocat", "id": 1, "type": "User"},
          "triggering_actor": {"login": "hubot", "id": 2, "type": "User"}
        },
        {
          "id": 30433643, "name": "", "path": ".github/workflows/nightly.yml",
          "head_branch": "master", "head_sha": "bcb5820ced9479c074f688cc328bf03f341a511d",
          "event": "schedule", "status": "in_progress", "conclusion": null,
          "created_at": "2020-01-22T20:00:00Z", "updated_at": "2020-01-22T20:00:00Z",
          "actor": {"login": "dependabot[bot]", "type": "Bot"}
        }
      ]
    }"#;

    #[test]
    fn runs_are_read_with_their_attempt_and_times() {
        let runs = runs_page(RUNS.as_bytes()).unwrap();
        assert_eq!(runs.len(), 2);
        let r = &runs[0];
        assert_eq!(
            (r.id, r.attempt, r.workflow.as_str()),
            (30433642, 2, "Build")
        );
        assert_eq!(r.branch, "master");
        assert!(r.finished());
        assert_eq!(r.conclusion.as_deref(), Some("failure"));
        // The attempt started later than the run was created (a re-run).
        assert_eq!(r.started_at - r.created_at, 300);
        assert_eq!(r.updated_at - r.started_at, 300);
        assert_eq!(r.actor.as_deref(), Some("hubot"));
        let n = &runs[1];
        assert!(!n.finished());
        assert_eq!(n.workflow, "nightly.yml");
        assert_eq!(n.attempt, 1);
        assert_eq!(n.started_at, n.created_at);
        assert_eq!(n.actor, None);
    }

    #[test]
    fn bad_answers_are_errors_not_panics() {
        assert!(runs_page(b"{\"workflow_runs\": [{\"id\": \"x\"}]}").is_err());
        assert!(runs_page(b"{\"total_count\": 1").is_err());
        assert!(runs_page(b"[]").is_err());
        assert!(repositories_page(b"{}").is_err());
        assert!(attempt(b"{\"id\": 1}").is_err());
    }

    #[test]
    fn matrix_jobs_name_their_environment() {
        assert_eq!(environment("reproduce (linux-py310)"), "linux-py310");
        assert_eq!(environment("reproduce (ubuntu, 3.11)"), "ubuntu, 3.11");
        assert_eq!(environment("reproduce"), "reproduce");
        assert_eq!(environment("odd ()"), "odd ()");
        let body = r#"{"total_count": 2, "jobs": [
          {"id": 399444496, "run_id": 29679449, "name": "reproduce (linux)", "status": "completed",
           "conclusion": "success", "completed_at": "2019-12-06T14:22:56Z"},
          {"id": 399444497, "run_id": 29679449, "name": "reproduce (mac)", "status": "in_progress",
           "conclusion": null, "completed_at": null}
        ]}"#;
        let jobs = jobs_page(body.as_bytes()).unwrap();
        assert_eq!(jobs[0].1.as_deref(), Some("success"));
        assert_eq!(jobs[1].1, None);
        assert!(jobs_page(b"{}").is_err());
    }

    #[test]
    fn repositories_and_results() {
        let page = r#"[{"full_name": "acme/a", "default_branch": "trunk", "archived": true},
                       {"full_name": "acme/b"}]"#;
        assert_eq!(
            repositories_page(page.as_bytes()).unwrap(),
            vec![
                ("acme/a".to_string(), "trunk".to_string(), true),
                ("acme/b".to_string(), "main".to_string(), false)
            ]
        );
        assert_eq!(result_of(Some("startup_failure")), "startup_failure");
        assert_eq!(result_of(Some("something_new")), "other");
        assert_eq!(result_of(None), "other");
    }
}

/// A user as GitHub shows one: (login, is a bot).
pub fn user(v: &Value) -> Option<(String, bool)> {
    let u = v.get("user").filter(|u| u.is_object())?;
    let login = text(u, "login");
    if login.is_empty() {
        return None;
    }
    let bot = text(u, "type") == "Bot" || login.ends_with("[bot]");
    Some((login, bot))
}

/// An item of `GET /repos/{o}/{r}/issues` (issues and pull requests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub number: u64,
    pub pull_request: bool,
    pub author: Option<(String, bool)>,
    pub comments: u64,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

impl crate::sources::forge::Updated for Item {
    fn id(&self) -> u64 {
        self.number
    }
    fn updated_at(&self) -> i64 {
        self.updated_at
    }
}

pub fn items_page(body: &[u8]) -> Result<Vec<Item>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    v.as_array()
        .ok_or("expected a list of issues")?
        .iter()
        .map(|i| {
            let number = i
                .get("number")
                .and_then(Value::as_u64)
                .ok_or("an issue without a `number`")?;
            let created_at =
                time(i, "created_at").ok_or(format!("issue {number}: no `created_at`"))?;
            Ok(Item {
                number,
                pull_request: i.get("pull_request").is_some_and(|p| p.is_object()),
                author: user(i),
                comments: i.get("comments").and_then(Value::as_u64).unwrap_or(0),
                created_at,
                updated_at: time(i, "updated_at").unwrap_or(created_at),
                closed_at: time(i, "closed_at"),
            })
        })
        .collect()
}

/// A comment (issue or inline review comment): (author, created at, its review's id).
pub type Comment = (Option<(String, bool)>, i64, Option<u64>);

pub fn comments_page(body: &[u8]) -> Result<Vec<Comment>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    v.as_array()
        .ok_or("expected a list of comments")?
        .iter()
        .map(|c| {
            let at = time(c, "created_at").ok_or("a comment without `created_at`")?;
            let review = c.get("pull_request_review_id").and_then(Value::as_u64);
            Ok((user(c), at, review))
        })
        .collect()
}

/// A review of `GET /repos/{o}/{r}/pulls/{n}/reviews`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: u64,
    pub author: Option<(String, bool)>,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED` or `PENDING`.
    pub state: String,
    pub has_body: bool,
    pub submitted_at: Option<i64>,
}

pub fn reviews_page(body: &[u8]) -> Result<Vec<Review>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    v.as_array()
        .ok_or("expected a list of reviews")?
        .iter()
        .map(|r| {
            Ok(Review {
                id: r
                    .get("id")
                    .and_then(Value::as_u64)
                    .ok_or("a review without an `id`")?,
                author: user(r),
                state: text(r, "state"),
                has_body: !text(r, "body").trim().is_empty(),
                submitted_at: time(r, "submitted_at"),
            })
        })
        .collect()
}

/// A pull request of `GET /repos/{o}/{r}/pulls/{n}`: (merged at, base branch).
pub fn pull(body: &[u8]) -> Result<(Option<i64>, String), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let base = v
        .get("base")
        .map(|b| text(b, "ref"))
        .ok_or("a pull request without `base`")?;
    Ok((time(&v, "merged_at"), base))
}

#[cfg(test)]
mod item_tests {
    use super::*;

    #[test]
    fn issues_comments_reviews_and_pulls() {
        let items = items_page(
            br#"[{"number": 1347, "title": "Found a bug", "user": {"login": "octocat", "type": "User"},
                  "comments": 2, "created_at": "2011-04-22T13:33:48Z", "updated_at": "2011-04-22T13:33:48Z",
                  "closed_at": null},
                 {"number": 1348, "pull_request": {"url": "x"}, "user": {"login": "dependabot[bot]", "type": "Bot"},
                  "comments": 0, "created_at": "2011-04-22T13:33:48Z", "closed_at": "2011-04-23T13:33:48Z"}]"#,
        )
        .unwrap();
        assert!(!items[0].pull_request && items[1].pull_request);
        assert_eq!(items[0].author, Some(("octocat".into(), false)));
        assert_eq!(items[1].author, Some(("dependabot[bot]".into(), true)));
        assert_eq!(items[1].closed_at.unwrap() - items[1].created_at, 86_400);
        let reviews = reviews_page(
            br#"[{"id": 80, "user": {"login": "hubot"}, "body": "Here is the body for the review.",
                  "state": "APPROVED", "submitted_at": "2019-11-17T17:43:43Z"},
                 {"id": 81, "user": {"login": "mona"}, "body": "", "state": "COMMENTED"}]"#,
        )
        .unwrap();
        assert!(reviews[0].has_body && !reviews[1].has_body);
        assert_eq!(reviews[1].submitted_at, None);
        let comments = comments_page(
            br#"[{"user": {"login": "mona"}, "created_at": "2011-04-14T16:00:49Z", "pull_request_review_id": 81}]"#,
        )
        .unwrap();
        assert_eq!(comments[0].2, Some(81));
        let (merged, base) =
            pull(br#"{"merged_at": "2011-01-26T19:01:12Z", "base": {"ref": "main"}}"#).unwrap();
        assert!(merged.is_some() && base == "main");
        assert!(pull(b"{}").is_err());
        assert!(items_page(b"[{}]").is_err());
    }
}

/// A release of `GET /repos/{o}/{r}/releases`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: u64,
    pub tag: String,
    pub draft: bool,
    pub prerelease: bool,
    pub published_at: Option<i64>,
    pub body: String,
    pub author: Option<(String, bool)>,
}

pub fn releases_page(body: &[u8]) -> Result<Vec<Release>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    v.as_array()
        .ok_or("expected a list of releases")?
        .iter()
        .map(|r| {
            let author = r.get("author").filter(|a| a.is_object()).and_then(|a| {
                let login = text(a, "login");
                (!login.is_empty()).then(|| {
                    let bot = text(a, "type") == "Bot" || login.ends_with("[bot]");
                    (login, bot)
                })
            });
            Ok(Release {
                id: r
                    .get("id")
                    .and_then(Value::as_u64)
                    .ok_or("a release without an `id`")?,
                tag: text(r, "tag_name"),
                draft: r.get("draft").and_then(Value::as_bool).unwrap_or(false),
                prerelease: r
                    .get("prerelease")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                published_at: time(r, "published_at"),
                body: text(r, "body"),
                author,
            })
        })
        .collect()
}

#[cfg(test)]
mod release_tests {
    use super::*;

    #[test]
    fn releases_from_the_documented_example() {
        let page = br#"[{"url": "x", "id": 1, "tag_name": "v1.0.0", "name": "v1.0.0",
            "body": "Description of the release", "draft": false, "prerelease": false,
            "created_at": "2013-02-27T19:35:32Z", "published_at": "2013-02-27T19:35:32Z",
            "author": {"login": "octocat", "id": 1, "type": "User"}}]"#;
        let r = &releases_page(page).unwrap()[0];
        assert_eq!(
            (r.id, r.tag.as_str(), r.draft, r.prerelease),
            (1, "v1.0.0", false, false)
        );
        assert_eq!(r.author, Some(("octocat".into(), false)));
        assert!(r.published_at.is_some());
        assert!(releases_page(b"[{}]").is_err());
    }
}
