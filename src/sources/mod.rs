//! The source registry: one module per source kind, each with its settings (keys and decoder),
//! its collector, its pure parsers and their tests, and two closed enums with one variant per
//! kind: [`Settings`] and [`Collector`]. Adding a source kind is a module here, a variant in each
//! enum and an arm in each `match` below (the compiler checks they are exhaustive). `http` is
//! the upstream HTTP client every HTTP source shares.

pub mod coverage;
pub mod feast;
pub mod forge;
pub mod git;
pub mod github;
pub mod gitlab;
pub mod http;
pub mod http_probe;
pub mod huggingface;
pub mod jenkins;
pub mod mlflow;
pub mod probe;

use std::path::Path;

use crate::collector::{CollectContext, CollectError};
use crate::config::{self, At, Problem, Section, SourceKinds};
use crate::facts::Collection;
use coverage::CoverageCollector;
use feast::FeastCollector;
use git::GitCollector;
use github::GithubCollector;
use gitlab::GitlabCollector;
use http_probe::HttpProbeCollector;
use huggingface::HuggingfaceCollector;
use jenkins::JenkinsCollector;
use mlflow::MlflowCollector;

/// The configuration with this registry's source kinds.
pub type Config = config::Config<Settings>;
pub type SourceConfig = config::SourceConfig<Settings>;

/// Reads and validates the config file at `path` with every registered source kind.
pub fn load_config(path: &Path) -> Result<Config, Vec<Problem>> {
    config::load::<Registry>(path)
}

/// Decodes config text (tests and tools); see [`config::parse`].
pub fn parse_config(
    file: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<Problem>> {
    config::parse::<Registry>(file, text, env)
}

/// One source's own settings, by kind.
#[derive(Debug, Clone)]
pub enum Settings {
    Git(git::GitSettings),
    Github(github::GithubSettings),
    Gitlab(gitlab::GitlabSettings),
    Jenkins(jenkins::JenkinsSettings),
    Coverage(coverage::CoverageSettings),
    HttpProbe(http_probe::HttpProbeSettings),
    Mlflow(mlflow::MlflowSettings),
    Feast(feast::FeastSettings),
    Huggingface(huggingface::HuggingfaceSettings),
}

impl Settings {
    /// The latency target of each probe target of a probing source (`source name` is the
    /// target of an `http_probe`).
    pub fn latency_targets(&self, source: &str) -> Vec<(String, std::time::Duration)> {
        match self {
            Settings::HttpProbe(p) => p
                .latency_target
                .map(|t| vec![(source.to_string(), t)])
                .unwrap_or_default(),
            Settings::Feast(f) => f
                .probes
                .iter()
                .filter_map(|p| Some((p.name.clone(), p.latency_target?)))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The asset a source's credits of `repository` count on: a forge's mapping, an MLflow
    /// model's own name; `None` for sources that credit nobody.
    pub fn asset_of_repository(&self, repository: &str) -> Option<String> {
        match self {
            Settings::Mlflow(_) => Some(repository.to_string()),
            other => other.forge().map(|f| f.asset_of(repository)),
        }
    }

    /// For a source that takes webhooks (`webhook_secret` set): its forge (`github`,
    /// `gitlab`) and its secret.
    pub fn webhook(&self) -> Option<(&'static str, &config::Secret)> {
        match self {
            Settings::Github(g) => Some(("github", g.forge.webhook_secret.as_ref()?)),
            Settings::Gitlab(g) => Some(("gitlab", g.forge.webhook_secret.as_ref()?)),
            _ => None,
        }
    }

    /// The configured spelling of `repository` when this GitHub or GitLab source covers it
    /// (listed, or under its organisation or group; names compare case-insensitively).
    pub fn covered_repository(&self, repository: &str) -> Option<String> {
        let (listed, parent) = match self {
            Settings::Github(g) => (&g.repositories, &g.organisation),
            Settings::Gitlab(g) => (&g.projects, &g.group),
            _ => return None,
        };
        listed
            .iter()
            .find(|r| r.eq_ignore_ascii_case(repository))
            .cloned()
            .or_else(|| {
                let prefix = format!("{}/", parent.as_ref()?.to_ascii_lowercase());
                repository
                    .to_ascii_lowercase()
                    .starts_with(&prefix)
                    .then(|| repository.to_string())
            })
    }

    /// The forge settings of a forge source (GitHub, GitLab, Jenkins).
    pub fn forge(&self) -> Option<&forge::ForgeSettings> {
        match self {
            Settings::Git(_) => None,
            Settings::Github(g) => Some(&g.forge),
            Settings::Gitlab(g) => Some(&g.forge),
            Settings::Jenkins(j) => Some(&j.forge),
            Settings::Coverage(_)
            | Settings::HttpProbe(_)
            | Settings::Mlflow(_)
            | Settings::Feast(_)
            | Settings::Huggingface(_) => None,
        }
    }
}

/// The registry as the config decoder sees it.
pub struct Registry;

impl SourceKinds for Registry {
    type Settings = Settings;
    const KINDS: &'static [&'static str] = &[
        "git",
        "github",
        "gitlab",
        "jenkins",
        "coverage",
        "http_probe",
        "mlflow",
        "feast",
        "huggingface",
    ];

    fn keys(kind: &str) -> &'static [&'static str] {
        static GITHUB: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        static GITLAB: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        static JENKINS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        match kind {
            "git" => git::settings::KEYS,
            "github" => {
                GITHUB.get_or_init(|| [github::KEYS, forge::KEYS, forge::WEBHOOK_KEYS].concat())
            }
            "gitlab" => {
                GITLAB.get_or_init(|| [gitlab::KEYS, forge::KEYS, forge::WEBHOOK_KEYS].concat())
            }
            "jenkins" => JENKINS.get_or_init(|| [jenkins::KEYS, forge::KEYS].concat()),
            "coverage" => coverage::KEYS,
            "http_probe" => http_probe::KEYS,
            "mlflow" => mlflow::KEYS,
            "feast" => feast::KEYS,
            "huggingface" => huggingface::KEYS,
            _ => &[],
        }
    }

    fn decode(kind: &'static str, section: &mut Section) -> Option<Settings> {
        match kind {
            "git" => git::settings::decode(section).map(Settings::Git),
            "github" => github::decode(section).map(Settings::Github),
            "gitlab" => gitlab::decode(section).map(Settings::Gitlab),
            "jenkins" => jenkins::decode(section).map(Settings::Jenkins),
            "coverage" => coverage::decode(section).map(Settings::Coverage),
            "http_probe" => http_probe::decode(section).map(Settings::HttpProbe),
            "mlflow" => mlflow::decode(section).map(Settings::Mlflow),
            "feast" => feast::decode(section).map(Settings::Feast),
            "huggingface" => huggingface::decode(section).map(Settings::Huggingface),
            _ => None,
        }
    }
}

/// One configured source, ready to collect.
pub enum Collector {
    Git(Box<GitCollector>),
    Github(Box<GithubCollector>),
    Gitlab(Box<GitlabCollector>),
    Jenkins(Box<JenkinsCollector>),
    Coverage(Box<CoverageCollector>),
    HttpProbe(Box<HttpProbeCollector>),
    Mlflow(Box<MlflowCollector>),
    Feast(Box<FeastCollector>),
    Huggingface(Box<HuggingfaceCollector>),
    /// Test double with scripted outcomes (succeed, fail, panic, hang).
    #[cfg(test)]
    Scripted(scripted::Scripted),
}

impl Collector {
    /// Builds the collector for `source`; `storage_dir` holds mirrors of remote repositories.
    pub fn build(
        config: &Config,
        source: &SourceConfig,
        storage_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        match &source.settings {
            Settings::Git(git) => Ok(Collector::Git(Box::new(GitCollector::new(
                config,
                &source.name,
                git,
                storage_dir,
            )?))),
            Settings::Github(github) => Ok(Collector::Github(Box::new(GithubCollector::new(
                config,
                &source.name,
                github,
            )?))),
            Settings::Gitlab(gitlab) => Ok(Collector::Gitlab(Box::new(GitlabCollector::new(
                config,
                &source.name,
                gitlab,
            )?))),
            Settings::Jenkins(jenkins) => Ok(Collector::Jenkins(Box::new(JenkinsCollector::new(
                &source.name,
                jenkins,
            )?))),
            Settings::Coverage(coverage) => Ok(Collector::Coverage(Box::new(
                CoverageCollector::new(&source.name, coverage)?,
            ))),
            Settings::HttpProbe(probe) => Ok(Collector::HttpProbe(Box::new(
                HttpProbeCollector::new(&source.name, probe)?,
            ))),
            Settings::Mlflow(mlflow) => Ok(Collector::Mlflow(Box::new(MlflowCollector::new(
                config,
                &source.name,
                mlflow,
            )?))),
            Settings::Feast(feast) => Ok(Collector::Feast(Box::new(FeastCollector::new(
                &source.name,
                feast,
            )?))),
            Settings::Huggingface(hf) => Ok(Collector::Huggingface(Box::new(
                HuggingfaceCollector::new(&source.name, hf)?,
            ))),
        }
    }

    /// What `check-config` can check without collecting (a local repository and its branch):
    /// the problem, and where the setting at fault is written.
    pub fn check_local(&self, source: &SourceConfig) -> Result<(), (Option<At>, String)> {
        match (self, &source.settings) {
            (Collector::Git(git), Settings::Git(settings)) => {
                git.check_local().map_err(|(repository, message)| {
                    let at = match &settings.branch_at {
                        Some(branch) if !repository => Some(branch.clone()),
                        _ => settings.path_at.clone(),
                    };
                    (at, message)
                })
            }
            _ => Ok(()),
        }
    }

    /// The source's upstream HTTP statistics, for sources that speak HTTP.
    pub fn http_stats(&self) -> Option<http::Stats> {
        match self {
            Collector::Git(_) => None,
            Collector::Github(c) => Some(c.client().stats()),
            Collector::Gitlab(c) => Some(c.client().stats()),
            Collector::Jenkins(c) => Some(c.client().stats()),
            Collector::Coverage(c) => Some(c.client().stats()),
            Collector::HttpProbe(_) => None,
            Collector::Mlflow(c) => Some(c.client().stats()),
            Collector::Feast(c) => Some(c.client().stats()),
            Collector::Huggingface(c) => Some(c.client().stats()),
            #[cfg(test)]
            Collector::Scripted(_) => None,
        }
    }

    /// Runs one collection. Blocking: the scheduler calls it on a blocking thread.
    pub fn collect(&self, ctx: &CollectContext) -> Result<Collection, CollectError> {
        match self {
            Collector::Git(c) => c.collect(ctx),
            Collector::Github(c) => c.collect(ctx),
            Collector::Gitlab(c) => c.collect(ctx),
            Collector::Jenkins(c) => c.collect(ctx),
            Collector::Coverage(c) => c.collect(ctx),
            Collector::HttpProbe(c) => c.collect(ctx),
            Collector::Mlflow(c) => c.collect(ctx),
            Collector::Feast(c) => c.collect(ctx),
            Collector::Huggingface(c) => c.collect(ctx),
            #[cfg(test)]
            Collector::Scripted(c) => c.collect(ctx),
        }
    }
}

#[cfg(test)]
pub mod scripted {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use crate::collector::{CollectContext, CollectError, ErrorKind};
    use crate::facts::Collection;

    #[derive(Clone, Copy, Debug)]
    pub enum Behaviour {
        Succeed,
        Fail,
        Panic,
        /// Blocks until cancelled.
        Hang,
    }

    pub struct Scripted {
        pub name: String,
        pub behaviour: Behaviour,
        pub calls: Arc<AtomicUsize>,
    }

    impl Scripted {
        pub fn collect(&self, ctx: &CollectContext) -> Result<Collection, CollectError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match self.behaviour {
                Behaviour::Succeed => Ok(Collection {
                    source: self.name.clone(),
                    ..Collection::default()
                }),
                Behaviour::Fail => Err(CollectError::new(
                    ErrorKind::RepositoryFailed,
                    "scripted failure",
                )),
                Behaviour::Panic => panic!("scripted panic"),
                Behaviour::Hang => {
                    while !ctx.cancel.is_cancelled() {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(CollectError::new(
                        ErrorKind::Cancelled,
                        "scripted hang cancelled",
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::parse_config;

    /// Every prefix of the shipped configs, and a run of byte-level mutations of them, decodes
    /// to a config or to problems: never a panic.
    #[test]
    fn decoding_never_panics_on_truncated_or_mangled_input() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let env = |_: &str| Some("x".to_string());
        for name in ["config/reference.yaml", "config/example.yaml"] {
            let text = std::fs::read_to_string(root.join(name)).unwrap();
            for end in (0..=text.len()).filter(|i| text.is_char_boundary(*i)) {
                let _ = parse_config(&root.join(name), &text[..end], &env);
            }
            let mut rng = fastrand::Rng::with_seed(7);
            let specials = [
                b':', b'-', b' ', b'\n', b'[', b'{', b'"', b'\'', b'#', b'&', b'*', b'!', b'|',
                b'>', b'$',
            ];
            for _ in 0..2000 {
                let mut bytes = text.clone().into_bytes();
                for _ in 0..rng.usize(1..4) {
                    let at = rng.usize(..bytes.len());
                    bytes[at] = specials[rng.usize(..specials.len())];
                }
                if let Ok(mangled) = String::from_utf8(bytes) {
                    let _ = parse_config(&root.join(name), &mangled, &env);
                }
            }
        }
    }
}

#[cfg(test)]
mod reference_tests {
    use std::path::Path;

    /// Every commented-out source of the reference config decodes once uncommented: the
    /// documentation of each kind stays valid.
    #[test]
    fn the_reference_config_documents_valid_sources() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("config/reference.yaml")).unwrap();
        let mut blocks: Vec<String> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("  # - name: ") {
                blocks.push(format!("  - name: {rest}\n"));
            } else if let (Some(block), Some(rest)) =
                (blocks.last_mut(), line.strip_prefix("  #   "))
            {
                block.push_str(&format!("    {rest}\n"));
            }
        }
        assert!(blocks.len() >= 7, "{blocks:?}");
        let env = |_: &str| Some("x".to_string());
        let dir = tempfile::tempdir().unwrap();
        for secret in ["github-token", "gitlab-token", "jenkins-token", "git-token"] {
            std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
            std::fs::write(dir.path().join("secrets").join(secret), "t\n").unwrap();
        }
        for secret in ["github-webhook", "gitlab-webhook"] {
            std::fs::write(
                dir.path().join("secrets").join(secret),
                "0123456789abcdef0123\n",
            )
            .unwrap();
        }
        for block in blocks {
            let yaml = format!("sources:\n{block}");
            let parsed = super::parse_config(&dir.path().join("c.yaml"), &yaml, &env);
            assert!(parsed.is_ok(), "{yaml}\n{:?}", parsed.err());
        }
    }
}
