//! `mlsteward demo`: writes a small, deterministic demo organisation — a git repository of an ML
//! team's work, a coverage report and a configuration — so the first run shows what the product
//! is for: several people and kinds of work, a co-author, a bot, a merge, a revert, a
//! whitespace-only change, an owned and an unowned asset, and a CODEOWNERS conflict. Every name
//! in it says "demo". The repository is written with gix (no `git` program needed); its dates
//! are days before the current UTC midnight, so the windows (30 and 90 days) always hold it, and
//! the same day always gives the same commits.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gix::objs::tree::{Entry, EntryKind};

/// The file that marks a directory as written by `mlsteward demo` (and safe to rewrite).
const MARKER: &str = ".mlsteward-demo";

const ANA: (&str, &str) = ("Ana Demo", "ana@demo.example");
const ANA_OLD: (&str, &str) = ("ana", "ana@old-laptop.demo.example");
const BEN: (&str, &str) = ("Ben Demo", "ben@demo.example");
const BEN_NOREPLY: (&str, &str) = ("Ben Demo", "1001+bendemo@users.noreply.github.com");
const CHEN: (&str, &str) = ("Chen Demo", "chen@demo.example");
const DARA: (&str, &str) = ("Dara Demo", "dara@demo.example");
const ELI: (&str, &str) = ("Eli Demo", "eli@demo.example");
const BOT: (&str, &str) = (
    "dependabot[bot]",
    "49699333+dependabot[bot]@users.noreply.github.com",
);

/// What `demo` wrote.
pub struct Demo {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub repository: PathBuf,
    pub commits: usize,
}

/// Writes the demo into `dir` (created if missing). A directory that holds anything but an
/// earlier demo is refused, so nothing of the user's is overwritten.
pub fn write(dir: &Path, now: i64) -> anyhow::Result<Demo> {
    if dir.exists() {
        let is_demo = dir.join(MARKER).exists();
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        if !is_demo && !empty {
            anyhow::bail!(
                "{} exists and was not written by `mlsteward demo`; choose another --dir",
                dir.display()
            );
        }
        for stale in ["repo", "data", "coverage"] {
            let path = dir.join(stale);
            if path.exists() {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("removing the old demo's {}", path.display()))?;
            }
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "Written by `mlsteward demo`; rewritten by the next one.\n",
    )?;
    let repository = dir.join("repo");
    let commits = write_repository(&repository, midnight(now))?;
    std::fs::create_dir_all(dir.join("coverage"))?;
    std::fs::write(dir.join("coverage/churn-model.info"), LCOV)?;
    let config = dir.join("config.yaml");
    std::fs::write(&config, CONFIG)?;
    Ok(Demo {
        dir: dir.to_path_buf(),
        config,
        repository,
        commits,
    })
}

fn midnight(now: i64) -> i64 {
    now - now.rem_euclid(86_400)
}

/// One commit of the script: who, how many days (and hours) before midnight, the files it
/// writes (`None` content deletes), and its message.
struct Step {
    author: (&'static str, &'static str),
    days_ago: i64,
    files: Vec<(&'static str, Option<String>)>,
    message: String,
}

fn step(
    author: (&'static str, &'static str),
    days_ago: i64,
    files: &[(&'static str, &str)],
    message: &str,
) -> Step {
    Step {
        author,
        days_ago,
        files: files
            .iter()
            .map(|(p, c)| (*p, Some(c.to_string())))
            .collect(),
        message: message.to_string(),
    }
}

fn write_repository(path: &Path, midnight: i64) -> anyhow::Result<usize> {
    let repo = gix::init_bare(path).with_context(|| format!("creating {}", path.display()))?;
    std::fs::write(path.join("HEAD"), "ref: refs/heads/main\n")?;
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut head: Option<gix::ObjectId> = None;
    let mut count = 0;
    let mut commit = |files: &BTreeMap<String, String>,
                      parents: Vec<gix::ObjectId>,
                      author: (&str, &str),
                      at: i64,
                      message: &str|
     -> anyhow::Result<gix::ObjectId> {
        let tree = write_tree(&repo, files, "")?;
        let signature = gix::actor::Signature {
            name: author.0.into(),
            email: author.1.into(),
            time: gix::date::Time {
                seconds: at,
                offset: 0,
            },
        };
        let object = gix::objs::Commit {
            tree,
            parents: parents.into_iter().collect(),
            author: signature.clone(),
            committer: signature,
            encoding: None,
            message: message.into(),
            extra_headers: Vec::new(),
        };
        count += 1;
        Ok(repo.write_object(&object)?.detach())
    };
    let apply = |files: &mut BTreeMap<String, String>, step: &Step| {
        for (p, content) in &step.files {
            match content {
                Some(c) => files.insert(p.to_string(), c.clone()),
                None => files.remove(*p),
            };
        }
    };
    let mut broken: Option<gix::ObjectId> = None;
    for (i, s) in script().into_iter().enumerate() {
        // Reverts name the commit they revert, known only once it is written.
        let message = match (&broken, s.message.contains("{broken}")) {
            (Some(id), true) => s.message.replace("{broken}", &id.to_string()),
            _ => s.message.clone(),
        };
        apply(&mut files, &s);
        // Commits of one day keep their order: an hour apart from 09:00.
        let at = midnight - s.days_ago * 86_400 + 9 * 3600 + (i as i64 % 8) * 3600;
        let id = commit(&files, head.into_iter().collect(), s.author, at, &message)?;
        if message.starts_with("Break the customer features join") {
            broken = Some(id);
        }
        head = Some(id);
        if s.days_ago == 33 {
            // A feature branch merged with a merge commit: Eli's work, Ana's merge.
            let base = id;
            let mut branch = files.clone();
            branch.insert(
                "pipelines/eval/report.py".into(),
                "def report(scores):\n    return {k: round(v, 3) for k, v in scores.items()}\n"
                    .into(),
            );
            let side = commit(
                &branch,
                vec![base],
                ELI,
                at + 1800,
                "Add an evaluation report\n",
            )?;
            files = branch;
            head = Some(commit(
                &files,
                vec![base, side],
                ANA,
                at + 3600,
                "Merge branch 'eval-report'\n",
            )?);
        }
    }
    let tip = head.context("the demo script is empty")?;
    repo.reference(
        "refs/heads/main",
        tip,
        gix::refs::transaction::PreviousValue::Any,
        "mlsteward demo",
    )?;
    Ok(count)
}

/// Writes the tree of every file under `prefix` and returns its id. Entries are in git's order:
/// by name, a directory compared as if its name ended in `/`.
fn write_tree(
    repo: &gix::Repository,
    files: &BTreeMap<String, String>,
    prefix: &str,
) -> anyhow::Result<gix::ObjectId> {
    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    for (path, content) in files.range(prefix.to_string()..) {
        let Some(rest) = path.strip_prefix(prefix) else {
            break;
        };
        match rest.split_once('/') {
            Some((dir, _)) => {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    entries.entry(format!("{dir}/"))
                {
                    let oid = write_tree(repo, files, &format!("{prefix}{dir}/"))?;
                    slot.insert(Entry {
                        mode: EntryKind::Tree.into(),
                        filename: dir.into(),
                        oid,
                    });
                }
            }
            None => {
                let oid = repo.write_blob(content.as_bytes())?.detach();
                entries.insert(
                    rest.to_string(),
                    Entry {
                        mode: EntryKind::Blob.into(),
                        filename: rest.into(),
                        oid,
                    },
                );
            }
        }
    }
    let tree = gix::objs::Tree {
        entries: entries.into_values().collect(),
    };
    Ok(repo.write_object(&tree)?.detach())
}

fn script() -> Vec<Step> {
    let train = |version: u32| {
        format!(
            "import numpy as np\n\n\ndef train(features, labels, epochs={}):\n    weights = np.zeros(features.shape[1])\n    for _ in range(epochs):\n        weights += 0.01 * features.T @ (labels - features @ weights)\n    return weights\n",
            10 * version
        )
    };
    vec![
        step(ANA, 88, &[
            ("README.md", "# Demo ML platform\n\nDemo data written by `mlsteward demo`.\n"),
            ("models/churn/train.py", &train(1)),
            (".github/CODEOWNERS", "# Demo ownership. The catalog gives the feature views to data-platform:\n# this file disagrees, which mlsteward flags as a conflict.\n/models/churn/ @demo-org/ml-team\n/features/ @demo-org/ml-team\n"),
            (".mailmap", "Ana Demo <ana@demo.example> <ana@old-laptop.demo.example>\n"),
        ], "Start the churn model\n"),
        step(BEN, 84, &[("features/customer.py", "FEATURES = [\"tenure\", \"plan\", \"monthly_spend\"]\n\n\ndef customer_features(df):\n    return df[FEATURES]\n")], "Add the customer feature view\n"),
        step(CHEN, 80, &[("lib/metrics.py", "def auc(scores, labels):\n    pairs = [(s, l) for s, l in zip(scores, labels)]\n    return sum(1 for s, l in pairs if l) / max(len(pairs), 1)\n")], "Add the shared metrics library\n"),
        step(ANA, 74, &[("models/churn/train.py", &train(2))], "Train for longer\n\nCo-authored-by: Dara Demo <dara@demo.example>\n"),
        step(BEN, 70, &[("tests/test_features.py", "from features.customer import FEATURES\n\n\ndef test_features():\n    assert \"tenure\" in FEATURES\n")], "Test the customer features\n\nReviewed-by: Ana Demo <ana@demo.example>\n"),
        step(BOT, 66, &[("requirements.txt", "numpy==2.1.0\npandas==2.2.2\n")], "Bump numpy from 2.0.0 to 2.1.0\n"),
        step(ELI, 61, &[("docs/guide.md", "# Guide\n\nHow to train and serve the churn model.\n")], "Write the user guide\n"),
        step(CHEN, 56, &[("pipelines/eval/run_eval.py", "from lib.metrics import auc\n\n\ndef evaluate(model, data):\n    return {\"auc\": auc(model(data.x), data.y)}\n")], "Add the evaluation pipeline\n"),
        step(DARA, 51, &[("models/churn/serve.py", "def predict(weights, row):\n    return float(row @ weights > 0.5)\n")], "Serve churn predictions\n\nTested-by: Chen Demo <chen@demo.example>\n"),
        step(ANA_OLD, 46, &[("lib/metrics.py", "def auc(scores, labels):\n    pairs = sorted(zip(scores, labels))\n    positives = sum(l for _, l in pairs)\n    return positives / max(len(pairs), 1)\n")], "Sort scores before computing AUC\n"),
        step(BEN, 40, &[("features/customer.py", "FEATURES = [\"tenure\", \"plan\", \"monthly_spend\", \"region\"]\n\n\ndef customer_features(df):\n    return df.join(df, on=\"region\")[FEATURES]\n")], "Break the customer features join\n"),
        step(ANA, 39, &[("features/customer.py", "FEATURES = [\"tenure\", \"plan\", \"monthly_spend\"]\n\n\ndef customer_features(df):\n    return df[FEATURES]\n")], "Revert \"Break the customer features join\"\n\nThis reverts commit {broken}.\n"),
        step(CHEN, 35, &[("lib/metrics.py", "def auc(scores, labels):\n\tpairs = sorted(zip(scores, labels))\n\tpositives = sum(l for _, l in pairs)\n\treturn positives / max(len(pairs), 1)\n")], "Use tabs in the metrics library\n"),
        step(ELI, 33, &[("docs/features.md", "# Feature views\n\nThe customer view serves tenure, plan and spend.\n")], "Document the feature views\n"),
        step(BEN_NOREPLY, 28, &[("features/customer.py", "FEATURES = [\"tenure\", \"plan\", \"monthly_spend\", \"support_calls\"]\n\n\ndef customer_features(df):\n    return df[FEATURES]\n")], "Add support calls to the customer view\n\nReviewed-by: Dara Demo <dara@demo.example>\n"),
        step(DARA, 24, &[("CHANGELOG.md", "# Changelog\n\n- Faster churn training (thanks @bendemo and Chen Demo)\n")], "Start the changelog\n"),
        step(BOT, 19, &[("requirements.txt", "numpy==2.1.1\npandas==2.2.2\n")], "Bump numpy from 2.1.0 to 2.1.1\n"),
        step(CHEN, 14, &[("pipelines/eval/config.yaml", "datasets: [holdout-2026q3]\nthreshold: 0.5\n")], "Configure the evaluation datasets\n\nSuggested-by: Eli Demo <eli@demo.example>\n"),
        step(ANA, 9, &[("models/churn/train.py", &train(3)), ("tests/test_train.py", "def test_train_shapes():\n    assert True\n")], "Early stopping for the churn model\n\nCo-authored-by: Ben Demo <ben@demo.example>\nReviewed-by: Chen Demo <chen@demo.example>\n"),
        step(ELI, 4, &[("docs/guide.md", "# Guide\n\nHow to train, evaluate and serve the churn model.\n")], "Cover evaluation in the guide\n"),
        step(DARA, 1, &[("models/churn/serve.py", "def predict(weights, row, threshold=0.5):\n    return float(row @ weights > threshold)\n")], "Make the serving threshold configurable\n\nReviewed-by: Ana Demo <ana@demo.example>\n"),
    ]
}

/// Coverage of the churn model, as LCOV: 182 of 220 lines, 30 of 48 branches.
const LCOV: &str = "TN:\nSF:models/churn/train.py\nLH:120\nLF:140\nBRH:20\nBRF:30\nend_of_record\nSF:models/churn/serve.py\nLH:62\nLF:80\nBRH:10\nBRF:18\nend_of_record\n";

const CONFIG: &str = r#"# DEMO DATA, written by `mlsteward demo`: a made-up ML team (every person and asset says
# "demo"). Point mlsteward at your own repositories with a config like config/example.yaml.
organisation: demo-org
recognition:
  contributor_label: name
  top_n: 20

sources:
  - name: demo
    type: git
    path: repo
    branch: main
    schedule: 1m
  - name: demo-coverage
    type: coverage
    schedule: 5m
    reports:
      - {asset: demo-churn-model, path: coverage/churn-model.info}

catalog:
  - id: demo-churn-model
    kind: model
    owner: ml-team
    stewards: [ana@demo.example]
    lifecycle: production
    repository: demo
    paths: ["models/churn/**", "tests/test_train.py"]
  - id: demo-customer-features
    kind: feature_view
    owner: data-platform          # CODEOWNERS says ml-team: an ownership conflict
    lifecycle: production
    repository: demo
    paths: ["features/**", "tests/test_features.py"]
  - id: demo-metrics-lib
    kind: library                 # production without an owner: the owner alert fires
    lifecycle: production
    repository: demo
    paths: ["lib/**"]
  - id: demo-eval-pipeline
    kind: pipeline
    lifecycle: experimental
    repository: demo
    paths: ["pipelines/eval/**"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_is_deterministic_for_a_day_and_refuses_foreign_directories() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_800_000_123;
        let first = write(&dir.path().join("d"), now).unwrap();
        let tip = |d: &Demo| {
            gix::open(&d.repository)
                .unwrap()
                .find_reference("refs/heads/main")
                .unwrap()
                .id()
                .detach()
        };
        let a = tip(&first);
        let again = write(&dir.path().join("d"), now + 60).unwrap();
        assert_eq!(tip(&again), a, "the same day gives the same commits");
        assert_eq!(again.commits, first.commits);
        std::fs::create_dir_all(dir.path().join("mine")).unwrap();
        std::fs::write(dir.path().join("mine/notes.txt"), "mine").unwrap();
        assert!(write(&dir.path().join("mine"), now).is_err());
        assert!(dir.path().join("mine/notes.txt").exists());
    }
}
