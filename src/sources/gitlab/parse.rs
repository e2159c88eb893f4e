//! Pure parsers of GitLab REST v4 answers (shapes as GitLab documents them), tested on literal
//! fixtures.

use serde::Deserialize;

use crate::sources::forge::{json, null_as_default, parse_time, parse_time_precise};

/// A pipeline of `GET /projects/:id/pipelines` (the list) or `…/pipelines/:id` (the detail,
/// which adds `started_at`, `finished_at`, `coverage` and `user`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub id: u64,
    pub sha: String,
    pub branch: String,
    pub status: String,
    pub source: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// Seconds it ran: from `started_at` to `finished_at` with their fractions, else GitLab's
    /// `duration`; `None` when it never started (a skipped pipeline has neither).
    pub duration: Option<f64>,
    /// `coverage` as a ratio (GitLab gives a percentage string such as `"87.50"`).
    pub coverage: Option<f64>,
    pub user: Option<String>,
}

impl crate::sources::forge::Updated for Pipeline {
    fn id(&self) -> u64 {
        self.id
    }
    fn updated_at(&self) -> i64 {
        self.updated_at
    }
}

/// Statuses of a pipeline that will not change by themselves. A pipeline blocked on a manual
/// job (`manual`) is not finished: it goes on when someone runs that job.
pub fn finished(status: &str) -> bool {
    matches!(status, "success" | "failed" | "canceled" | "skipped")
}

/// A status in the shared result vocabulary (`facts::CI_RESULTS`).
pub fn result_of(status: &str) -> &'static str {
    match status {
        "success" => "success",
        "failed" => "failure",
        "canceled" => "cancelled",
        "skipped" => "skipped",
        "manual" => "action_required",
        _ => "other",
    }
}

/// GitLab's `coverage`: a percentage, as a string (`"87.50"`) or, on some versions, a number.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Percent {
    Text(String),
    Number(f64),
}

/// `"87.50"` → 0.875; anything else (empty, out of range) → none.
pub fn coverage(v: &Percent) -> Option<f64> {
    let pct = match v {
        Percent::Text(s) => s.trim().trim_end_matches('%').parse::<f64>().ok()?,
        Percent::Number(n) => *n,
    };
    (0.0..=100.0).contains(&pct).then_some(pct / 100.0)
}

/// A user object (`author`, `user`): GitLab marks bots only on some endpoints.
#[derive(Debug, Default, Deserialize)]
struct UserJson {
    #[serde(default, deserialize_with = "null_as_default")]
    username: String,
    #[serde(default, deserialize_with = "null_as_default")]
    bot: bool,
}

/// (username, is a bot) of a user object, when it names someone.
fn user(u: &Option<UserJson>) -> Option<(String, bool)> {
    u.as_ref()
        .filter(|u| !u.username.is_empty())
        .map(|u| (u.username.clone(), u.bot))
}

fn time(t: &Option<String>) -> Option<i64> {
    t.as_deref().and_then(parse_time)
}

/// A pipeline as the list and the detail give it (fields GitLab may send as `null` read as
/// empty; unknown fields ignored).
#[derive(Debug, Deserialize)]
struct PipelineJson {
    id: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    sha: String,
    #[serde(default, rename = "ref", deserialize_with = "null_as_default")]
    branch: String,
    #[serde(default, deserialize_with = "null_as_default")]
    status: String,
    #[serde(default, deserialize_with = "null_as_default")]
    source: String,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    finished_at: Option<String>,
    #[serde(default)]
    duration: Option<f64>,
    #[serde(default)]
    coverage: Option<Percent>,
    #[serde(default)]
    user: Option<UserJson>,
}

fn pipeline(v: PipelineJson) -> Result<Pipeline, String> {
    let id = v.id;
    let created_at = time(&v.created_at).ok_or(format!("pipeline {id}: no `created_at`"))?;
    let precise = |t: &Option<String>| t.as_deref().and_then(parse_time_precise);
    let duration = match (precise(&v.started_at), precise(&v.finished_at)) {
        (Some(s), Some(f)) => Some((f - s).max(0.0)),
        _ => v
            .duration
            .filter(|d| *d >= 0.0 && time(&v.started_at).is_some()),
    };
    Ok(Pipeline {
        id,
        created_at,
        updated_at: time(&v.updated_at).unwrap_or(created_at),
        started_at: time(&v.started_at),
        finished_at: time(&v.finished_at),
        duration,
        coverage: v.coverage.as_ref().and_then(coverage),
        user: user(&v.user).map(|(name, _)| name),
        sha: v.sha,
        branch: v.branch,
        status: v.status,
        source: v.source,
    })
}

pub fn pipelines_page(body: &[u8]) -> Result<Vec<Pipeline>, String> {
    json::<Vec<PipelineJson>>(body)?
        .into_iter()
        .map(pipeline)
        .collect()
}

pub fn pipeline_body(body: &[u8]) -> Result<Pipeline, String> {
    pipeline(json(body)?)
}

#[derive(Deserialize)]
struct ProjectJson {
    #[serde(default, deserialize_with = "null_as_default")]
    path_with_namespace: String,
    /// `null` for a project without a repository yet.
    #[serde(default, deserialize_with = "null_as_default")]
    default_branch: String,
    #[serde(default, deserialize_with = "null_as_default")]
    archived: bool,
}

/// A project: (path with namespace, default branch, archived).
fn project(v: ProjectJson) -> Result<(String, String, bool), String> {
    crate::sources::forge::repository_entry(
        v.path_with_namespace,
        v.default_branch,
        v.archived,
        "path_with_namespace",
    )
}

pub fn project_body(body: &[u8]) -> Result<(String, String, bool), String> {
    project(json(body)?)
}

pub fn projects_page(body: &[u8]) -> Result<Vec<(String, String, bool)>, String> {
    json::<Vec<ProjectJson>>(body)?
        .into_iter()
        .map(project)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from the examples of GitLab's pipelines API documentation.
    const LIST: &str = r#"[
      {"id": 47, "iid": 12, "project_id": 1, "status": "pending", "source": "push", "ref": "new-pipeline",
       "sha": "a91957a858320c0e17f3a0eca7cfacbff50ea29a", "web_url": "https://example.com/foo/bar/pipelines/47",
       "created_at": "2016-08-11T11:28:34.085Z", "updated_at": "2016-08-11T11:32:35.169Z"},
      {"id": 48, "iid": 13, "project_id": 1, "status": "success", "source": "web", "ref": "new-pipeline",
       "sha": "eb94b618fb5865b26e80fdd8ae531b7a63ad851a", "web_url": "https://example.com/foo/bar/pipelines/48",
       "created_at": "2016-08-12T10:06:04.561Z", "updated_at": "2016-08-12T10:09:56.223Z"}
    ]"#;

    const DETAIL: &str = r#"{
      "id": 46, "iid": 11, "project_id": 1, "status": "failed", "ref": "main",
      "sha": "a91957a858320c0e17f3a0eca7cfacbff50ea29a", "before_sha": "a91957a858320c0e17f3a0eca7cfacbff50ea29a",
      "tag": false, "yaml_errors": null,
      "user": {"name": "Administrator", "username": "root", "id": 1, "state": "active"},
      "created_at": "2016-08-11T11:28:34.085Z", "updated_at": "2016-08-11T11:32:35.169Z",
      "started_at": "2016-08-11T11:28:36.085Z", "finished_at": "2016-08-11T11:32:35.145Z",
      "committed_at": null, "duration": 123.65, "queued_duration": 0.010, "coverage": "30.00",
      "web_url": "https://example.com/foo/bar/pipelines/46"
    }"#;

    #[test]
    fn pipelines_and_their_details() {
        let list = pipelines_page(LIST.as_bytes()).unwrap();
        assert_eq!(list.len(), 2);
        assert!(!finished(&list[0].status) && finished(&list[1].status));
        assert_eq!(list[1].branch, "new-pipeline");
        let d = pipeline_body(DETAIL.as_bytes()).unwrap();
        assert_eq!(result_of(&d.status), "failure");
        assert_eq!(d.coverage, Some(0.3));
        assert_eq!(d.user.as_deref(), Some("root"));
        assert_eq!(d.finished_at.unwrap() - d.started_at.unwrap(), 239);
        // The duration keeps the times' milliseconds: 36.085 → 35.145 four minutes later.
        assert!(
            (d.duration.unwrap() - 239.06).abs() < 1e-6,
            "{:?}",
            d.duration
        );
    }

    /// A skipped pipeline never started: no duration (not the 5 s between its creation and
    /// its last update); a pipeline waiting on a manual job is not finished.
    #[test]
    fn pipelines_that_never_ran_have_no_duration() {
        let skipped = br#"{"id": 50, "status": "skipped", "ref": "main", "sha": "x",
          "created_at": "2016-08-11T11:28:34Z", "updated_at": "2016-08-11T11:28:39Z",
          "started_at": null, "finished_at": null, "duration": null}"#;
        let p = pipeline_body(skipped).unwrap();
        assert!(finished(&p.status));
        assert_eq!((p.started_at, p.duration), (None, None));
        let manual = br#"{"id": 51, "status": "manual", "ref": "main", "sha": "x",
          "created_at": "2016-08-11T11:28:34Z", "updated_at": "2016-08-11T11:40:00Z",
          "started_at": "2016-08-11T11:28:35Z", "finished_at": null, "duration": 40}"#;
        let p = pipeline_body(manual).unwrap();
        assert!(!finished(&p.status));
    }

    #[test]
    fn coverage_strings_and_statuses() {
        assert_eq!(coverage(&Percent::Text("87.5".into())), Some(0.875));
        assert_eq!(coverage(&Percent::Text("".into())), None);
        assert_eq!(coverage(&Percent::Text("120".into())), None);
        assert_eq!(coverage(&Percent::Number(42.0)), Some(0.42));
        assert_eq!(result_of("canceled"), "cancelled");
        assert_eq!(result_of("manual"), "action_required");
        assert!(!finished("running") && !finished("waiting_for_resource"));
        assert!(pipelines_page(b"{}").is_err());
        assert!(pipeline_body(b"{\"id\": 1}").is_err());
        assert_eq!(
            projects_page(br#"[{"path_with_namespace": "g/s/p", "default_branch": "trunk"}]"#)
                .unwrap(),
            vec![("g/s/p".to_string(), "trunk".to_string(), false)]
        );
    }
}

/// A merge request or an issue of `…/merge_requests` or `…/issues`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub iid: u64,
    pub author: Option<(String, bool)>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
    pub merged_at: Option<i64>,
    pub target_branch: String,
    pub notes: u64,
}

impl crate::sources::forge::Updated for Item {
    fn id(&self) -> u64 {
        self.iid
    }
    fn updated_at(&self) -> i64 {
        self.updated_at
    }
}

#[derive(Deserialize)]
struct ItemJson {
    iid: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    state: String,
    #[serde(default)]
    author: Option<UserJson>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    closed_at: Option<String>,
    #[serde(default)]
    merged_at: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    target_branch: String,
    #[serde(default, deserialize_with = "null_as_default")]
    user_notes_count: u64,
}

pub fn items_page(body: &[u8]) -> Result<Vec<Item>, String> {
    json::<Vec<ItemJson>>(body)?
        .into_iter()
        .map(|i| {
            let iid = i.iid;
            let created_at = time(&i.created_at).ok_or(format!("item {iid}: no `created_at`"))?;
            let merged_at = if i.state == "merged" {
                time(&i.merged_at)
            } else {
                None
            };
            Ok(Item {
                iid,
                author: user(&i.author),
                created_at,
                updated_at: time(&i.updated_at).unwrap_or(created_at),
                closed_at: time(&i.closed_at).or(merged_at),
                merged_at,
                target_branch: i.target_branch,
                notes: i.user_notes_count,
            })
        })
        .collect()
}

/// A note: (author, created at).
pub type Note = (Option<(String, bool)>, i64);

#[derive(Deserialize)]
struct NoteJson {
    #[serde(default, deserialize_with = "null_as_default")]
    system: bool,
    #[serde(default)]
    author: Option<UserJson>,
    #[serde(default)]
    created_at: Option<String>,
}

/// Notes that people wrote (system notes such as "changed the title" left out).
pub fn notes_page(body: &[u8]) -> Result<Vec<Note>, String> {
    Ok(json::<Vec<NoteJson>>(body)?
        .into_iter()
        .filter(|n| !n.system)
        .filter_map(|n| Some((user(&n.author), time(&n.created_at)?)))
        .collect())
}

#[derive(Deserialize)]
struct Approvals {
    approved_by: Vec<Approval>,
}

#[derive(Deserialize)]
struct Approval {
    #[serde(default)]
    user: Option<UserJson>,
}

/// The approvers of `…/merge_requests/:iid/approvals`.
pub fn approvers(body: &[u8]) -> Result<Vec<(String, bool)>, String> {
    Ok(json::<Approvals>(body)?
        .approved_by
        .iter()
        .filter_map(|a| user(&a.user))
        .collect())
}

#[cfg(test)]
mod null_tests {
    use super::*;

    /// What GitLab sends as `null` reads as none; a coverage given as a number is read; a
    /// field of the wrong type is an error that names it.
    #[test]
    fn nulls_numbers_and_wrong_types() {
        let p = pipeline_body(
            br#"{"id": 7, "sha": null, "ref": "main", "status": "running", "source": null,
                "created_at": "2024-01-01T00:00:00Z", "updated_at": null, "started_at": null,
                "finished_at": null, "duration": null, "coverage": 91.5, "user": null,
                "detailed_status": {"icon": "status_running"}}"#,
        )
        .unwrap();
        assert_eq!((p.sha.as_str(), p.source.as_str()), ("", ""));
        assert_eq!(
            (p.updated_at, p.duration, p.user),
            (p.created_at, None, None)
        );
        assert_eq!(p.coverage, Some(0.915));
        assert_eq!(
            project_body(
                br#"{"path_with_namespace": "g/p", "default_branch": null, "archived": null}"#
            )
            .unwrap(),
            ("g/p".to_string(), "main".to_string(), false)
        );
        let e = pipeline_body(br#"{"id": "7", "created_at": "2024-01-01T00:00:00Z"}"#).unwrap_err();
        assert!(e.contains("string") && e.contains("u64"), "{e}");
        let notes = notes_page(
            br#"[{"system": null, "author": {"username": null}, "created_at": "2024-01-01T00:00:00Z"}]"#,
        )
        .unwrap();
        assert_eq!(notes, vec![(None, 1_704_067_200)]);
    }
}

#[cfg(test)]
mod item_tests {
    use super::*;

    #[test]
    fn merge_requests_notes_and_approvals() {
        let mrs = items_page(br#"[{"id": 1, "iid": 1, "project_id": 3, "state": "merged",
            "created_at": "2017-04-29T08:46:00Z", "updated_at": "2017-04-29T09:46:00Z",
            "merged_at": "2017-04-29T09:46:00Z", "closed_at": null, "target_branch": "main",
            "author": {"id": 1, "username": "admin", "name": "Administrator"}, "user_notes_count": 1}]"#)
        .unwrap();
        assert_eq!(mrs[0].merged_at, mrs[0].closed_at);
        assert_eq!(mrs[0].target_branch, "main");
        let notes = notes_page(
            br#"[{"id": 302, "body": "closed", "system": true, "author": {"username": "pipin"},
              "created_at": "2013-10-02T09:22:45Z"},
             {"id": 305, "body": "LGTM", "system": false, "author": {"username": "pipin"},
              "created_at": "2013-10-02T09:56:03Z"}]"#,
        )
        .unwrap();
        assert_eq!(notes.len(), 1);
        let a = approvers(br#"{"approved_by": [{"user": {"username": "root", "bot": false}}]}"#)
            .unwrap();
        assert_eq!(a, vec![("root".to_string(), false)]);
        assert!(approvers(b"{}").is_err());
    }
}

/// The published releases of `GET /projects/:id/releases` (an upcoming release, whose
/// `released_at` is still ahead, is not published yet). GitLab gives a release no id: its
/// tag names it, and its id here is a hash of the tag (below 2^62). GitLab has no
/// prereleases.
pub fn releases_page(body: &[u8]) -> Result<Vec<crate::sources::forge::Release>, String> {
    use sha2::Digest;
    #[derive(Deserialize)]
    struct ReleaseJson {
        #[serde(default, deserialize_with = "null_as_default")]
        tag_name: String,
        #[serde(default, deserialize_with = "null_as_default")]
        upcoming_release: bool,
        #[serde(default)]
        released_at: Option<String>,
        #[serde(default)]
        created_at: Option<String>,
        #[serde(default, deserialize_with = "null_as_default")]
        description: String,
        #[serde(default)]
        author: Option<UserJson>,
    }
    let mut out = Vec::new();
    for r in json::<Vec<ReleaseJson>>(body)? {
        if r.tag_name.is_empty() {
            return Err("a release without a `tag_name`".into());
        }
        if r.upcoming_release {
            continue;
        }
        let Some(published_at) = time(&r.released_at).or_else(|| time(&r.created_at)) else {
            continue;
        };
        let digest = sha2::Sha256::digest(r.tag_name.as_bytes());
        let id = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) >> 2;
        out.push(crate::sources::forge::Release {
            id,
            published_at,
            prerelease: false,
            author: user(&r.author),
            tag: r.tag_name,
            notes: r.description,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod release_tests {
    use super::*;

    /// Trimmed from the example of GitLab's releases API documentation.
    #[test]
    fn releases_from_the_documented_example() {
        let page = br###"[
          {"tag_name": "v0.2", "description": "## CHANGELOG\r\n\r\n- Escape label and milestone titles. Thanks @alice!",
           "name": "Awesome app v0.2 beta", "created_at": "2019-01-03T01:56:19.539Z",
           "released_at": "2019-01-03T01:56:19.539Z", "upcoming_release": false,
           "author": {"id": 1, "name": "Administrator", "username": "root", "state": "active"}},
          {"tag_name": "v0.3", "description": "soon", "created_at": "2019-01-03T01:55:18.203Z",
           "released_at": "2099-01-03T01:55:18.203Z", "upcoming_release": true,
           "author": {"id": 1, "username": "root"}}
        ]"###;
        let r = releases_page(page).unwrap();
        assert_eq!(r.len(), 1, "the upcoming release is not published");
        assert_eq!(r[0].tag, "v0.2");
        assert_eq!(r[0].published_at, 1546480579);
        assert_eq!(r[0].author, Some(("root".to_string(), false)));
        assert!(r[0].notes.contains("@alice"));
        assert!(r[0].id < 1 << 62);
        assert_eq!(releases_page(page).unwrap()[0].id, r[0].id, "stable");
        assert!(releases_page(b"[{}]").is_err());
    }
}
