//! The source registry: one module per source kind, each with its settings (keys and decoder),
//! its collector, its pure parsers and their tests. Every kind is one [`Kind`] in [`KINDS`]:
//! adding a source kind is its module and one line there. A kind's settings implement
//! [`KindSettings`] (what the rest of the daemon asks of a configured source) and build its
//! [`Source`] (one collection, async). `http` is the upstream HTTP client every HTTP source
//! shares.

pub mod coverage;
pub mod discovery;
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

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::collector::{CollectContext, CollectError};
use crate::config::{self, At, Problem, Secret, Section, SourceKinds};
use crate::facts::Collection;

/// Every source kind, in the order `check-config` names them. A new kind is its module and
/// one line here.
pub const KINDS: &[Kind] = &[
    git::KIND,
    github::KIND,
    gitlab::KIND,
    jenkins::KIND,
    coverage::KIND,
    http_probe::KIND,
    mlflow::KIND,
    feast::KIND,
    huggingface::KIND,
    discovery::KIND,
];

/// One source kind: its name (the config `type`, the `collector` label, its module's name),
/// the keys its settings read, and its decoder.
pub struct Kind {
    pub name: &'static str,
    /// The keys it reads beyond `name`, `type`, `schedule` and `timeout`, in groups (a forge
    /// shares the forges' keys).
    pub keys: &'static [&'static [&'static str]],
    pub decode: fn(&mut Section) -> Option<Settings>,
}

/// A kind's decoded settings, shared by the configuration and the source they build.
pub type Settings = Arc<dyn KindSettings>;

/// Boxes decoded settings of any kind (each kind's [`Kind::decode`] ends with it).
pub fn settings<T: KindSettings>(decoded: Option<T>) -> Option<Settings> {
    decoded.map(|s| Arc::new(s) as Settings)
}

/// What the daemon asks of a configured source's settings. Only `build` is required; the rest
/// answers for the kinds that have the trait (probes, forges, webhooks).
pub trait KindSettings: std::fmt::Debug + Send + Sync + 'static {
    /// Builds the source named `name`; `storage_dir` holds mirrors of remote repositories.
    fn build(
        &self,
        config: &Config,
        name: &str,
        storage_dir: &Path,
    ) -> anyhow::Result<Box<dyn Source>>;

    /// The latency target of each probe target of a probing source (`name` is the target of
    /// an `http_probe`).
    fn latency_targets(&self, _name: &str) -> Vec<(String, Duration)> {
        Vec::new()
    }

    /// The asset a source's credits of `repository` count on: a forge's mapping, an MLflow
    /// model's own name; `None` for sources that credit nobody.
    fn asset_of_repository(&self, _repository: &str) -> Option<String> {
        None
    }

    /// For a source that takes webhooks (`webhook_secret` set): its forge (`github`,
    /// `gitlab`) and its secret.
    fn webhook(&self) -> Option<(&'static str, &Secret)> {
        None
    }

    /// The configured spelling of `repository` when this source covers it (listed, or under
    /// its organisation or group; names compare case-insensitively).
    fn covered_repository(&self, _repository: &str) -> Option<String> {
        None
    }

    /// The forge settings of a forge source (GitHub, GitLab, Jenkins).
    fn forge(&self) -> Option<&forge::ForgeSettings> {
        None
    }

    /// The asset a probing source probes alone (a sharded replica runs it only when it owns
    /// the asset).
    fn probed_asset(&self) -> Option<&str> {
        None
    }

    /// Whether a discovery source may find a git repository named `repository` (so a catalog
    /// entry may bind to it before it is found).
    fn discovers_repository(&self, _repository: &str) -> bool {
        false
    }

    /// A `git_discovery` source's settings.
    fn discovery(&self) -> Option<&discovery::DiscoverySettings> {
        None
    }
}

/// A boxed future of a collection, borrowing the source and its context.
pub type Collecting<'a> =
    Pin<Box<dyn Future<Output = Result<Collection, CollectError>> + Send + 'a>>;

/// One configured source, ready to collect. Collections are async: a source's timeout drops
/// its future (and with it every request in flight) after cancelling `ctx.cancel`; a source
/// that works on blocking threads (git mining) watches the token itself.
pub trait Source: Send + Sync {
    fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a>;

    /// The source's upstream HTTP statistics, for sources that speak HTTP.
    fn http_stats(&self) -> Option<http::Stats> {
        None
    }

    /// What `check-config` can check without collecting (a local repository and its
    /// branch): the problem, and where the setting at fault is written.
    fn check_local(&self) -> Result<(), (Option<At>, String)> {
        Ok(())
    }
}

/// A source in force: its configuration, the source it built, and the webhook requests
/// waiting for its next collection.
pub struct Configured {
    pub config: SourceConfig,
    pub source: Box<dyn Source>,
    /// Wakes the source's loop for a collection now (a webhook); wake-ups while one is
    /// pending or running coalesce into one.
    pub wake: tokio::sync::Notify,
    /// The repositories webhooks asked for since the last collection.
    pending: Mutex<BTreeSet<String>>,
}

impl Configured {
    pub fn new(config: SourceConfig, source: Box<dyn Source>) -> Configured {
        Configured {
            config,
            source,
            wake: tokio::sync::Notify::new(),
            pending: Mutex::default(),
        }
    }

    /// Builds the source of `source` under `config`.
    pub fn build(
        config: &Config,
        source: &SourceConfig,
        storage_dir: &Path,
    ) -> anyhow::Result<Configured> {
        let built = source.settings.build(config, &source.name, storage_dir)?;
        Ok(Configured::new(source.clone(), built))
    }

    /// The kind name: the `collector` label.
    pub fn kind(&self) -> &'static str {
        self.config.kind
    }

    /// Asks for a collection of `repository` now; a repository already asked for is asked once.
    pub fn request(&self, repository: &str) {
        crate::locked(&self.pending).insert(repository.to_string());
        self.wake.notify_one();
    }

    /// The repositories asked for, emptied.
    pub fn take_requests(&self) -> BTreeSet<String> {
        std::mem::take(&mut *crate::locked(&self.pending))
    }
}

pub use crate::collector::{redact_urls, shown_url};

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

/// The registry as the config decoder sees it.
pub struct Registry;

impl SourceKinds for Registry {
    type Settings = Settings;

    fn kinds() -> Vec<&'static str> {
        KINDS.iter().map(|k| k.name).collect()
    }

    fn keys(kind: &str) -> Vec<&'static str> {
        KINDS
            .iter()
            .filter(|k| k.name == kind)
            .flat_map(|k| k.keys.iter().copied().flatten().copied())
            .collect()
    }

    fn decode(kind: &'static str, section: &mut Section) -> Option<Settings> {
        KINDS
            .iter()
            .find(|k| k.name == kind)
            .and_then(|k| (k.decode)(section))
    }

    fn discovers(settings: &Settings, repository: &str) -> bool {
        settings.discovers_repository(repository)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{parse_config, redact_urls, shown_url};

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            shown_url("https://h/api?private_token=s3cret&page=2#x"),
            "https://h/api?private_token=***&page=***"
        );
        assert_eq!(
            shown_url("https://user:tok@host/x.git?private_token=s3cret"),
            "https://***@host/x.git?private_token=***"
        );
        assert_eq!(shown_url("https://host/x.git"), "https://host/x.git");
        assert_eq!(
            redact_urls("fetching 'https://u:p@h/r.git?token=t': refused (see http://h/a?b=c)"),
            "fetching 'https://***@h/r.git?token=***': refused (see http://h/a?b=***)"
        );
        assert_eq!(redact_urls("no url here"), "no url here");
    }

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
