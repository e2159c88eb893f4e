//! Path rules: which kind of work a file is, which assets a file belongs to, and the small text
//! comparisons the git source needs (whitespace-only changes, added lines). Pure functions.

use std::collections::HashMap;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::config::KindRule;

/// Kind of a file no rule matches.
pub const FALLBACK_KIND: &str = "code";

/// The built-in rules, tried after every configured rule; the first match wins.
pub fn default_kind_rules() -> Vec<KindRule> {
    let rule = |kind: &str, paths: &[&str]| KindRule {
        kind: kind.into(),
        paths: paths.iter().map(|s| s.to_string()).collect(),
    };
    vec![
        rule("notebooks", &["**/*.ipynb"]),
        rule(
            "pipelines",
            &[
                ".github/workflows/**",
                ".github/actions/**",
                "**/.gitlab-ci.yml",
                ".gitlab/ci/**",
                "**/Jenkinsfile",
                ".ci/**",
                ".circleci/**",
                "**/azure-pipelines.yml",
                "**/pipelines/**",
                "**/dags/**",
                "**/dvc.yaml",
                "**/MLproject",
                "**/Dockerfile",
                "**/Dockerfile.*",
            ],
        ),
        rule(
            "tests",
            &[
                "**/tests/**",
                "**/test/**",
                "**/__tests__/**",
                "**/testdata/**",
                "**/test_*.py",
                "**/*_test.py",
                "**/*_test.go",
                "**/*_tests.rs",
                "**/*.test.*",
                "**/*.spec.*",
                "**/conftest.py",
            ],
        ),
        rule(
            "evaluation",
            &[
                "**/eval/**",
                "**/evals/**",
                "**/evaluation/**",
                "**/evaluations/**",
                "**/eval_*.py",
                "**/*_eval.py",
            ],
        ),
        rule(
            "data",
            &[
                "**/data/**",
                "**/datasets/**",
                "**/*.csv",
                "**/*.tsv",
                "**/*.parquet",
                "**/*.jsonl",
                "**/*.avro",
                "**/*.arrow",
                "**/*.feather",
                "**/*.dvc",
            ],
        ),
        rule(
            "docs",
            &[
                "**/docs/**",
                "**/doc/**",
                "**/*.md",
                "**/*.rst",
                "**/*.adoc",
                "**/README*",
                "**/LICENSE*",
                "**/CHANGELOG*",
            ],
        ),
        rule(
            "config",
            &[
                "**/*.yaml",
                "**/*.yml",
                "**/*.toml",
                "**/*.ini",
                "**/*.cfg",
                "**/*.conf",
                "**/*.lock",
                "**/requirements*.txt",
                "**/.gitignore",
                "**/.gitattributes",
                "**/.editorconfig",
                "**/.mailmap",
                "**/.dockerignore",
                "**/CODEOWNERS",
            ],
        ),
    ]
}

/// Compiles a glob with git-like semantics: `*` stays within a path segment, `**` crosses them.
pub fn glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

/// Compiled glob sets by what they were built from, shared while any holder keeps one.
type Shared<T> =
    std::sync::OnceLock<std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<T>>>>;

/// The value `key` names in `cache`, built by `build` when no holder keeps one.
fn shared<T>(
    cache: &'static Shared<T>,
    key: String,
    build: impl FnOnce() -> Result<T, globset::Error>,
) -> Result<std::sync::Arc<T>, globset::Error> {
    let cache = cache.get_or_init(Default::default);
    if let Some(v) = crate::locked(cache)
        .get(&key)
        .and_then(std::sync::Weak::upgrade)
    {
        return Ok(v);
    }
    let built = std::sync::Arc::new(build()?);
    let mut cache = crate::locked(cache);
    cache.retain(|_, w| w.strong_count() > 0);
    cache.insert(key, std::sync::Arc::downgrade(&built));
    Ok(built)
}

/// [`glob_set`] of `patterns`, shared by every repository with the same patterns.
pub fn shared_glob_set(patterns: &[String]) -> Result<std::sync::Arc<GlobSet>, globset::Error> {
    static CACHE: Shared<GlobSet> = std::sync::OnceLock::new();
    shared(&CACHE, format!("{patterns:?}"), || glob_set(patterns))
}

pub fn glob_set(patterns: &[String]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        builder.add(glob(p)?);
    }
    builder.build()
}

/// Which assets a path belongs to, with one glob set for all of them: matching a path costs
/// one pass whatever the number of assets.
#[derive(Debug)]
pub struct AssetMatcher {
    set: GlobSet,
    /// Glob index in `set` → asset index.
    asset_of_glob: Vec<usize>,
}

impl AssetMatcher {
    /// `assets[i]` holds the globs of asset `i`.
    pub fn new<'a>(assets: impl IntoIterator<Item = &'a [String]>) -> Result<Self, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        let mut asset_of_glob = Vec::new();
        for (i, patterns) in assets.into_iter().enumerate() {
            for p in patterns {
                builder.add(glob(p)?);
                asset_of_glob.push(i);
            }
        }
        Ok(AssetMatcher {
            set: builder.build()?,
            asset_of_glob,
        })
    }

    /// The indexes of the assets `path` belongs to, ascending, each once.
    pub fn assets(&self, path: &str, scratch: &mut Vec<usize>) -> Vec<usize> {
        self.set.matches_into(path, scratch);
        let mut out: Vec<usize> = scratch.iter().map(|&g| self.asset_of_glob[g]).collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Classifies paths by an ordered list of rules, falling back to [`FALLBACK_KIND`].
#[derive(Debug, Clone)]
pub struct KindClassifier {
    set: GlobSet,
    /// Glob index in `set` → rule kind; lower indices come from earlier rules.
    kind_of_glob: Vec<String>,
}

impl KindClassifier {
    /// The classifier of `rules`, shared by every repository with the same rules while any
    /// uses it: an organisation's hundreds of discovered repositories (the same default
    /// rules) hold one compiled set between them, not one each.
    pub fn shared(rules: &[KindRule]) -> Result<std::sync::Arc<Self>, globset::Error> {
        static CACHE: Shared<KindClassifier> = std::sync::OnceLock::new();
        shared(&CACHE, format!("{rules:?}"), || KindClassifier::new(rules))
    }

    pub fn new(rules: &[KindRule]) -> Result<Self, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        let mut kind_of_glob = Vec::new();
        for rule in rules {
            for p in &rule.paths {
                builder.add(glob(p)?);
                kind_of_glob.push(rule.kind.clone());
            }
        }
        Ok(KindClassifier {
            set: builder.build()?,
            kind_of_glob,
        })
    }

    pub fn kind(&self, path: &str) -> &str {
        self.set
            .matches(path)
            .into_iter()
            .min()
            .map_or(FALLBACK_KIND, |i| self.kind_of_glob[i].as_str())
    }
}

/// Whether two versions of a file differ only in whitespace (including added or removed
/// blank lines). An absent side is empty.
pub fn same_but_whitespace(old: &[u8], new: &[u8]) -> bool {
    let mut a = old.iter().filter(|b| !b.is_ascii_whitespace());
    let mut b = new.iter().filter(|b| !b.is_ascii_whitespace());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => continue,
            _ => return false,
        }
    }
}

/// Lines of `new` that `old` does not have (as a multiset: a line repeated once more counts once).
pub fn added_lines<'a>(old: &str, new: &'a str) -> Vec<&'a str> {
    let mut remaining: HashMap<&str, usize> = HashMap::new();
    for line in old.lines() {
        *remaining.entry(line).or_default() += 1;
    }
    new.lines()
        .filter(|line| match remaining.get_mut(line) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            _ => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> KindClassifier {
        KindClassifier::new(&default_kind_rules()).unwrap()
    }

    #[test]
    fn default_kinds() {
        let c = defaults();
        for (path, kind) in [
            ("src/model.py", "code"),
            ("README.md", "docs"),
            ("docs/guide/intro.html", "docs"),
            ("tests/test_model.py", "tests"),
            ("pkg/test_utils.py", "tests"),
            ("tests/README.md", "tests"),
            ("data/train.csv", "data"),
            ("features/raw.parquet", "data"),
            ("eval/metrics.py", "evaluation"),
            ("scripts/churn_eval.py", "evaluation"),
            (".github/workflows/ci.yml", "pipelines"),
            ("Jenkinsfile", "pipelines"),
            ("notebooks/explore.ipynb", "notebooks"),
            ("config/model.yaml", "config"),
            ("requirements-dev.txt", "config"),
            ("Cargo.toml", "config"),
        ] {
            assert_eq!(c.kind(path), kind, "{path}");
        }
    }

    #[test]
    fn earlier_rules_win() {
        let mut rules = vec![KindRule {
            kind: "evaluation".into(),
            paths: vec!["bench/**".into(), "**/*.md".into()],
        }];
        rules.extend(default_kind_rules());
        let c = KindClassifier::new(&rules).unwrap();
        assert_eq!(c.kind("bench/run.py"), "evaluation");
        assert_eq!(c.kind("README.md"), "evaluation");
        assert_eq!(c.kind("src/a.rs"), "code");
    }

    #[test]
    fn star_stays_in_segment() {
        let set = glob_set(&["src/*.rs".to_string()]).unwrap();
        assert!(set.is_match("src/a.rs"));
        assert!(!set.is_match("src/x/a.rs"));
    }

    #[test]
    fn whitespace_only() {
        assert!(same_but_whitespace(
            b"fn a() {\n  x\n}\n",
            b"fn a() {\n    x\n}\n\n"
        ));
        assert!(!same_but_whitespace(b"a b", b"ab c"));
        assert!(same_but_whitespace(b"", b"  \n"));
        assert!(!same_but_whitespace(b"", b"x"));
    }

    #[test]
    fn added() {
        assert_eq!(added_lines("a\nb\n", "a\nb\nc\nb\n"), vec!["c", "b"]);
        assert_eq!(added_lines("", "x\n"), vec!["x"]);
    }
}
