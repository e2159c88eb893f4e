//! Pure parsers of Jenkins's JSON API (`api/json` with `tree=` projections), tested on literal
//! fixtures.

use serde::Deserialize;

use crate::sources::forge::json;

/// A buildable job found under the root: where its builds are and how they are labelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The top-level unit: a plain job's full name, or its multibranch project's.
    pub repository: String,
    pub pipeline: String,
    /// The branch job's name for a multibranch project; `None` for a plain job.
    pub branch: Option<String>,
    /// The job's names from the root, as Jenkins gives them (a branch job's still encoded):
    /// its address is made from the configured base URL and these, never from the `url`
    /// Jenkins advertises (its own root URL, which a proxy or a public name may not reach).
    pub path: Vec<String>,
}

/// A folder or multibranch project whose children the request did not reach (the tree
/// projection reads a fixed number of levels): its names from the root and whether it is a
/// multibranch project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unread {
    pub path: Vec<String>,
    pub multibranch: bool,
}

/// One build of a job, as its `builds` list gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub number: u64,
    /// `None` while building.
    pub result: Option<String>,
    pub building: bool,
    /// Milliseconds since the epoch, and milliseconds.
    pub timestamp_ms: i64,
    pub duration_ms: i64,
    /// (total, failed, skipped) from a JUnit test report, when there is one.
    pub tests: Option<(u64, u64, u64)>,
}

/// The `tree=` projection of a job list, `levels` deep.
pub fn tree(levels: usize) -> String {
    let mut t = "name".to_string();
    for _ in 0..levels {
        t = format!("name,jobs[{t}]");
    }
    t.strip_prefix("name,").unwrap_or(&t).to_string()
}

/// The address of the job (or folder) at `path`, under `base` (ending in `/`): every name a
/// path segment, percent-encoded (a branch job's name `feature%2Fx` becomes `feature%252Fx`,
/// as Jenkins's own URLs have it).
pub fn job_url(base: &str, path: &[String]) -> String {
    let mut url = base.to_string();
    for name in path {
        url.push_str("job/");
        url.push_str(&crate::sources::forge::urlencode(name));
        url.push('/');
    }
    url
}

/// Jenkins encodes branch names in job names (`feature%2Fx`); a `%` not followed by two hex
/// digits stays as it is.
fn decode_name(name: &str) -> String {
    percent_encoding::percent_decode_str(name)
        .decode_utf8_lossy()
        .into_owned()
}

/// A job list as the `tree=` projection gives it (unknown fields ignored).
#[derive(Deserialize)]
struct JobList {
    jobs: Vec<JobNode>,
}

#[derive(Deserialize)]
struct JobNode {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "_class")]
    class: String,
    /// Absent when the projection did not reach this container's children.
    jobs: Option<Vec<JobNode>>,
}

/// A job's builds, as `builds[number,result,building,timestamp,duration,actions[...]]` gives
/// them.
#[derive(Deserialize)]
struct BuildList {
    builds: Vec<BuildNode>,
}

#[derive(Deserialize)]
struct BuildNode {
    number: u64,
    result: Option<String>,
    #[serde(default)]
    building: bool,
    #[serde(default)]
    timestamp: i64,
    #[serde(default)]
    duration: i64,
    /// Jenkins puts `{}` (and on some versions `null`) for actions without the fields asked.
    #[serde(default)]
    actions: Vec<Option<Action>>,
}

#[derive(Deserialize)]
struct Action {
    #[serde(default, rename = "_class")]
    class: String,
    #[serde(default, rename = "totalCount")]
    total: u64,
    #[serde(default, rename = "failCount")]
    failed: u64,
    #[serde(default, rename = "skipCount")]
    skipped: u64,
}

fn is_folder(class: &str) -> bool {
    class.ends_with(".Folder") || class.ends_with("OrganizationFolder")
}

fn is_multibranch(class: &str) -> bool {
    class.ends_with("MultiBranchProject")
}

/// Every buildable job of the root's `jobs` tree (folders are walked, a multibranch project's
/// children are its branches), and the containers whose children it does not hold.
pub fn jobs(body: &[u8]) -> Result<(Vec<Job>, Vec<Unread>), String> {
    jobs_under(body, &[], false)
}

/// [`jobs`] of the answer for the container at `path` (the root when empty; a multibranch
/// project's children are its branches).
pub fn jobs_under(
    body: &[u8],
    path: &[String],
    multibranch: bool,
) -> Result<(Vec<Job>, Vec<Unread>), String> {
    let list = json::<JobList>(body)?.jobs;
    let (mut out, mut unread) = (Vec::new(), Vec::new());
    if multibranch {
        branches(&list, path, &mut out);
    } else {
        walk(&list, path, &mut out, &mut unread);
    }
    Ok((out, unread))
}

fn branches(list: &[JobNode], project: &[String], out: &mut Vec<Job>) {
    let (Some(name), false) = (project.last(), project.is_empty()) else {
        return;
    };
    for branch in list {
        let b = &branch.name;
        if !b.is_empty() {
            let mut path = project.to_vec();
            path.push(b.clone());
            out.push(Job {
                repository: project.join("/"),
                pipeline: name.clone(),
                branch: Some(decode_name(b)),
                path,
            });
        }
    }
}

fn walk(list: &[JobNode], prefix: &[String], out: &mut Vec<Job>, unread: &mut Vec<Unread>) {
    for item in list {
        let name = item.name.clone();
        if name.is_empty() {
            continue;
        }
        let mut path = prefix.to_vec();
        path.push(name.clone());
        let class = &item.class;
        let children = item.jobs.as_deref();
        let container = is_folder(class) || is_multibranch(class);
        match children {
            None if container => unread.push(Unread {
                path,
                multibranch: is_multibranch(class),
            }),
            Some(children) if is_folder(class) => walk(children, &path, out, unread),
            Some(children) if is_multibranch(class) => branches(children, &path, out),
            _ => out.push(Job {
                repository: path.join("/"),
                pipeline: name,
                branch: None,
                path,
            }),
        }
    }
}

pub fn builds(body: &[u8]) -> Result<Vec<Build>, String> {
    Ok(json::<BuildList>(body)?
        .builds
        .into_iter()
        .map(|b| Build {
            number: b.number,
            tests: b
                .actions
                .iter()
                .flatten()
                .find(|a| a.class.ends_with("TestResultAction"))
                .map(|a| (a.total, a.failed, a.skipped)),
            result: b.result,
            building: b.building,
            timestamp_ms: b.timestamp,
            duration_ms: b.duration,
        })
        .collect())
}

/// A result in the shared vocabulary (`facts::CI_RESULTS`).
pub fn result_of(result: &str) -> &'static str {
    match result {
        "SUCCESS" => "success",
        "FAILURE" => "failure",
        "UNSTABLE" => "unstable",
        "ABORTED" => "cancelled",
        "NOT_BUILT" => "skipped",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREE: &str = r#"{"_class": "hudson.model.Hudson", "jobs": [
      {"_class": "hudson.model.FreeStyleProject", "name": "nightly-eval", "url": "http://j/job/nightly-eval/"},
      {"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": "ml", "url": "http://j/job/ml/", "jobs": [
        {"_class": "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject", "name": "feature-store",
         "url": "http://j/job/ml/job/feature-store/", "jobs": [
           {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "main", "url": "http://j/job/ml/job/feature-store/job/main/"},
           {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "feature%2Fx", "url": "http://j/job/ml/job/feature-store/job/feature%252Fx/"}
        ]},
        {"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "train", "url": "http://j/job/ml/job/train/"}
      ]}
    ]}"#;

    #[test]
    fn folders_are_walked_and_multibranch_children_are_branches() {
        let (jobs, unread) = jobs(TREE.as_bytes()).unwrap();
        assert!(unread.is_empty());
        let base = "https://ci.example.com/jenkins/";
        assert_eq!(
            job_url(base, &jobs[2].path),
            "https://ci.example.com/jenkins/job/ml/job/feature-store/job/feature%252Fx/"
        );
        let seen: Vec<(&str, &str, Option<&str>)> = jobs
            .iter()
            .map(|j| {
                (
                    j.repository.as_str(),
                    j.pipeline.as_str(),
                    j.branch.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                ("nightly-eval", "nightly-eval", None),
                ("ml/feature-store", "feature-store", Some("main")),
                ("ml/feature-store", "feature-store", Some("feature/x")),
                ("ml/train", "train", None),
            ]
        );
    }

    #[test]
    fn builds_results_and_test_reports() {
        let body = r#"{"builds": [
          {"number": 12, "result": null, "building": true, "timestamp": 1700000000000, "duration": 0},
          {"number": 11, "result": "UNSTABLE", "building": false, "timestamp": 1699990000000, "duration": 120000,
           "actions": [{}, {"_class": "hudson.tasks.junit.TestResultAction", "totalCount": 40, "failCount": 2, "skipCount": 3}]}
        ]}"#;
        let b = builds(body.as_bytes()).unwrap();
        assert!(b[0].building && b[0].result.is_none());
        assert_eq!(b[1].tests, Some((40, 2, 3)));
        assert_eq!(result_of(b[1].result.as_deref().unwrap()), "unstable");
        assert_eq!(result_of("ABORTED"), "cancelled");
        assert_eq!(result_of("NOT_BUILT"), "skipped");
        assert!(builds(b"{\"builds\": [{}]}").is_err());
        assert!(jobs(b"[]").is_err());
        // A null among the actions, fields of newer versions, a number as a string: the
        // first two are ignored, the last is an error naming the field.
        let b = builds(
            br#"{"builds": [{"number": 3, "result": "SUCCESS", "actions": [null, {"_class": "x.TestResultAction", "totalCount": 5, "urlName": "testReport"}], "inProgress": false}]}"#,
        )
        .unwrap();
        assert_eq!(b[0].tests, Some((5, 0, 0)));
        let e = builds(br#"{"builds": [{"number": "3"}]}"#).unwrap_err();
        assert!(e.contains("number") || e.contains("u64"), "{e}");
        assert_eq!(decode_name("feature%2Fx"), "feature/x");
        assert_eq!(decode_name("100%"), "100%");
        assert_eq!(decode_name("a%zzb"), "a%zzb");
    }

    /// A folder or multibranch project at the projection's depth comes without `jobs`: it is
    /// read on its own, and its children are found under its path.
    #[test]
    fn containers_past_the_projection_are_read_on_their_own() {
        assert_eq!(tree(2), "jobs[name,jobs[name]]");
        let root = r#"{"jobs": [
          {"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": "a", "jobs": [
            {"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": "deep"},
            {"_class": "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject", "name": "mb"}
          ]}
        ]}"#;
        let (jobs, unread) = jobs(root.as_bytes()).unwrap();
        assert!(jobs.is_empty());
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            unread,
            vec![
                Unread {
                    path: path(&["a", "deep"]),
                    multibranch: false
                },
                Unread {
                    path: path(&["a", "mb"]),
                    multibranch: true
                },
            ]
        );
        let deep = r#"{"_class": "com.cloudbees.hudson.plugins.folder.Folder", "jobs": [
            {"_class": "hudson.model.FreeStyleProject", "name": "train"}]}"#;
        let (jobs, _) = jobs_under(deep.as_bytes(), &unread[0].path, false).unwrap();
        assert_eq!(jobs[0].repository, "a/deep/train");
        assert_eq!(jobs[0].path, path(&["a", "deep", "train"]));
        let mb = r#"{"jobs": [{"_class": "org.jenkinsci.plugins.workflow.job.WorkflowJob", "name": "release%2F1"}]}"#;
        let (jobs, _) = jobs_under(mb.as_bytes(), &unread[1].path, true).unwrap();
        assert_eq!(
            (
                jobs[0].repository.as_str(),
                jobs[0].pipeline.as_str(),
                jobs[0].branch.as_deref()
            ),
            ("a/mb", "mb", Some("release/1"))
        );
    }
}
