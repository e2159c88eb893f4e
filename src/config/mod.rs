//! The configuration file: its types, and the two stages that produce them.
//!
//! Stage one ([`load`]) reads YAML strictly — unknown keys, wrong types and bad values are all
//! collected as [`Problem`]s with `file:line:column` and key path — and reads the files the
//! config points at (secrets, identities). Stage two (in `app`) builds runtime objects from a
//! valid [`Config`]. Only this module knows YAML.

mod catalog;
mod decode;
mod recognition;
mod rules;
mod schedule;
mod section;
pub mod yaml;

use catalog::decode_catalog;
pub use catalog::{AssetConfig, ASSET_KINDS, DEFAULT_RESPONSE_OBJECTIVE, LIFECYCLES};
use recognition::decode_recognition;
pub use recognition::{default_changelog_paths, ContributorLabel, Identity, Recognition, Unify};

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use decode::{index, seq, MapReader, Problems};
pub use decode::{parse_duration, Fingerprint, Problem, Secret};
pub use rules::{alert_rules, AlertRule};
pub use schedule::parse_schedule;
pub use section::{At, Section};
use yaml::Node;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// How baselines are computed: the median of the daily values over the `days` UTC days
/// before today, when at least `min_days` of them have a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Baseline {
    pub days: u32,
    pub min_days: u32,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            days: 28,
            min_days: 7,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config<S> {
    /// The forge organisation whose prefix owners drop (`@acme/ml-team` → `ml-team`).
    pub organisation: Option<String>,
    pub baseline: Baseline,
    pub recognition: Recognition,
    pub sources: Vec<SourceConfig<S>>,
    pub catalog: Vec<AssetConfig>,
    /// The secrets read outside the sources (the pseudonym salt), by value.
    pub secrets: Fingerprint,
}

/// Files matching any of `paths` are of kind `kind`; the first matching rule wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindRule {
    pub kind: String,
    pub paths: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Schedule {
    Interval(Duration),
    Cron {
        expression: String,
        schedule: Box<cron::Schedule>,
    },
}

#[derive(Debug, Clone)]
pub struct SourceConfig<S> {
    /// Unique; the `source` label and the name catalog entries bind to.
    pub name: String,
    /// The kind name: config `type`, `collector` label, module name in `sources`.
    pub kind: &'static str,
    pub schedule: Schedule,
    pub timeout: Duration,
    /// What the kind's own decoder read.
    pub settings: S,
    /// The secrets its settings read, by value (see [`Fingerprint`]).
    pub secrets: Fingerprint,
}

/// The source kinds a configuration can hold. `sources::Registry` implements it: this module
/// never names a source kind, and each kind's keys and decoder live in its own module.
pub trait SourceKinds {
    type Settings: std::fmt::Debug + Clone + Send + Sync;
    /// Every kind, as written in `type`.
    fn kinds() -> Vec<&'static str>;
    /// The keys `kind` reads, beyond `name`, `type`, `schedule` and `timeout`.
    fn keys(kind: &str) -> Vec<&'static str>;
    /// Decodes one source of `kind`; problems go to the section.
    fn decode(kind: &'static str, section: &mut Section) -> Option<Self::Settings>;
    /// Whether a source with these settings may discover a git repository named
    /// `repository` (a catalog entry may bind to it).
    fn discovers(_settings: &Self::Settings, _repository: &str) -> bool {
        false
    }
}

/// Reads and validates the config file at `path`, reporting every problem found.
pub fn load<K: SourceKinds>(path: &Path) -> Result<Config<K::Settings>, Vec<Problem>> {
    let env = |name: &str| std::env::var(name).ok();
    match decode::read_small_file(path) {
        Ok(text) => parse::<K>(path, &text, &env),
        Err(e) => Err(vec![Problem {
            file: path.to_path_buf(),
            pos: yaml::Pos { line: 0, column: 0 },
            path: String::new(),
            message: format!("cannot read config file: {e}"),
            more: 0,
        }]),
    }
}

/// Decodes config text; `file` names it in problems and anchors relative paths.
pub fn parse<K: SourceKinds>(
    file: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config<K::Settings>, Vec<Problem>> {
    let mut p = Problems::new(file, env);
    let root = match yaml::parse(text) {
        Ok(node) => node,
        Err(e) => {
            p.add(e.pos, "", format!("YAML syntax error: {}", e.message));
            return Err(p.list);
        }
    };
    let config = decode_root::<K>(&mut p, &root);
    finish(p, file, root.pos, config)
}

/// Reads another small YAML file of the same dialect (the web config), its root mapping read by
/// `decode` through a [`Section`] whose keys beyond `keys` are unknown; every problem comes with
/// its position, as for the configuration.
pub fn load_document<T>(
    file: &Path,
    keys: &[&str],
    decode: impl FnOnce(&mut Section) -> Option<T>,
) -> Result<T, Vec<Problem>> {
    let env = |name: &str| std::env::var(name).ok();
    let text = decode::read_small_file(file).map_err(|e| {
        vec![Problem {
            file: file.to_path_buf(),
            pos: yaml::Pos { line: 0, column: 0 },
            path: String::new(),
            message: format!("cannot read file: {e}"),
            more: 0,
        }]
    })?;
    let mut p = Problems::new(file, &env);
    let root = match yaml::parse(&text) {
        Ok(node) => node,
        Err(e) => {
            p.add(e.pos, "", format!("YAML syntax error: {}", e.message));
            return Err(p.list);
        }
    };
    let value = match MapReader::new(&mut p, &root, "") {
        Some(mut map) => {
            let value = decode(&mut Section::new(&mut p, &mut map));
            map.ignore(keys);
            map.finish(&mut p, keys);
            value
        }
        None => None,
    };
    finish(p, file, root.pos, value)
}

/// The problems in reading order, or the value when there are none.
fn finish<T>(
    mut p: Problems,
    file: &Path,
    root: yaml::Pos,
    value: Option<T>,
) -> Result<T, Vec<Problem>> {
    let config = value;
    // Reported in reading order: by file (this one first), then line and column.
    p.list.sort_by(|a, b| {
        (a.file != file, &a.file, a.pos.line, a.pos.column).cmp(&(
            b.file != file,
            &b.file,
            b.pos.line,
            b.pos.column,
        ))
    });
    if p.dropped > 0 {
        let last = p
            .list
            .last()
            .map_or(yaml::Pos { line: 1, column: 1 }, |l| l.pos);
        p.list.push(Problem::more(file, last, p.dropped));
    }
    match config {
        Some(config) if p.list.is_empty() => Ok(config),
        _ => {
            if p.list.is_empty() {
                p.add(root, "", "invalid configuration");
            }
            Err(p.list)
        }
    }
}

fn decode_root<K: SourceKinds>(p: &mut Problems, root: &Node) -> Option<Config<K::Settings>> {
    let mut map = MapReader::new(p, root, "")?;
    let recognition = match map.get("recognition") {
        Some(node) => decode_recognition(p, node, "recognition"),
        None => Some(Recognition::default()),
    };
    let sources = match map.get("sources") {
        Some(node) => decode_sources::<K>(p, node),
        None => Vec::new(),
    };
    // Catalog assets bind to repositories, which only git sources have.
    let source_names: HashSet<String> = sources
        .iter()
        .filter(|s| s.kind == "git")
        .map(|s| s.name.clone())
        .collect();
    let discovered = |repository: &str| {
        sources
            .iter()
            .any(|s| K::discovers(&s.settings, repository))
    };
    let catalog = match map.get("catalog") {
        Some(node) => decode_catalog(p, node, &source_names, &discovered),
        None => Vec::new(),
    };
    let organisation = map
        .string(p, "organisation")
        .map(|o| o.trim_start_matches('@').to_ascii_lowercase());
    let baseline = map
        .get("baseline")
        .map_or(Some(Baseline::default()), |node| decode_baseline(p, node));
    map.finish(
        p,
        &[
            "organisation",
            "baseline",
            "recognition",
            "sources",
            "catalog",
        ],
    );
    Some(Config {
        organisation,
        baseline: baseline?,
        recognition: recognition?,
        sources,
        catalog,
        secrets: Fingerprint::of(&p.secrets),
    })
}

fn decode_baseline(p: &mut Problems, node: &Node) -> Option<Baseline> {
    let mut map = MapReader::new(p, node, "baseline")?;
    let d = Baseline::default();
    let days = map.uint(p, "days").unwrap_or(d.days as u64);
    let min_days = map.uint(p, "min_days").unwrap_or(d.min_days as u64);
    let pos = map.pos();
    map.finish(p, &["days", "min_days"]);
    if !(1..=366).contains(&days) || min_days < 1 || min_days > days {
        p.add(
            pos,
            "baseline",
            "`days` must be from 1 to 366, and `min_days` from 1 to `days`",
        );
        return None;
    }
    Some(Baseline {
        days: days as u32,
        min_days: min_days as u32,
    })
}

fn globs(p: &mut Problems, map: &mut MapReader, key: &str) -> Option<Vec<String>> {
    let node = map.get(key)?;
    let path = map.child_path(key);
    let items = seq(p, node, &path)?;
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item_path = index(&path, i);
        let Some(text) = decode::string(p, item, &item_path) else {
            continue;
        };
        match globset::Glob::new(&text) {
            Ok(_) => out.push(text),
            Err(e) => p.add(item.pos, &item_path, format!("invalid glob: {}", e.kind())),
        }
    }
    Some(out)
}

fn kind_rules(p: &mut Problems, map: &mut MapReader, key: &str) -> Vec<KindRule> {
    let Some(node) = map.get(key) else {
        return Vec::new();
    };
    let path = map.child_path(key);
    let mut out = Vec::new();
    for (i, item) in seq(p, node, &path).unwrap_or_default().iter().enumerate() {
        let item_path = index(&path, i);
        let Some(mut rule) = MapReader::new(p, item, &item_path) else {
            continue;
        };
        let kind = rule.required_string(p, "kind");
        if let (Some(kind), Some(node)) = (&kind, rule.get("kind")) {
            if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                p.add(
                    node.pos,
                    &rule.child_path("kind"),
                    format!("kind `{kind}` must be lower_snake_case"),
                );
            }
        }
        if rule.get("paths").is_none() {
            p.add(rule.pos(), &item_path, "missing required key `paths`");
        }
        let paths = globs(p, &mut rule, "paths");
        rule.finish(p, &["kind", "paths"]);
        if let (Some(kind), Some(paths)) = (kind, paths) {
            out.push(KindRule { kind, paths });
        }
    }
    out
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
}

fn decode_sources<K: SourceKinds>(p: &mut Problems, node: &Node) -> Vec<SourceConfig<K::Settings>> {
    let mut out = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    for (i, item) in seq(p, node, "sources")
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let path = index("sources", i);
        let Some(mut map) = MapReader::new(p, item, &path) else {
            continue;
        };
        let name = map.required_string(p, "name");
        if let Some(name) = &name {
            if !valid_name(name) {
                p.add(
                    map.pos(),
                    &map.child_path("name"),
                    format!("`{name}` may only hold letters, digits, `_`, `-`, `.` and `/`"),
                );
            } else if !names.insert(name.clone()) {
                p.add(
                    map.pos(),
                    &map.child_path("name"),
                    format!("another source is already named `{name}`"),
                );
            }
        }
        let schedule = decode_schedule(p, &mut map);
        let timeout = map.duration(p, "timeout").unwrap_or(DEFAULT_TIMEOUT);
        if timeout.is_zero() {
            p.add(
                map.pos(),
                &map.child_path("timeout"),
                "must be greater than zero",
            );
        }
        let common = ["name", "type", "schedule", "timeout"];
        if !map.has("type") {
            p.add(map.pos(), &path, "missing required key `type`");
        }
        let kinds = K::kinds();
        let before = p.secrets.len();
        let mut secrets = Fingerprint::default();
        let kind = map
            .choice(p, "type", &kinds)
            .and_then(|t| kinds.iter().copied().find(|k| *k == t));
        let (kind, settings, keys) = match kind {
            Some(kind) => {
                let settings = K::decode(kind, &mut Section::new(p, &mut map));
                secrets = Fingerprint::of(&p.secrets.drain(before..).collect::<Vec<_>>());
                // A decoder that stopped early leaves keys unread; they are still known.
                map.ignore(&K::keys(kind));
                (Some(kind), settings, K::keys(kind))
            }
            None => {
                // Without a known type, its keys cannot be judged; the type problem is enough.
                let all: Vec<&str> = kinds.iter().flat_map(|k| K::keys(k)).collect();
                map.ignore(&all);
                (None, None, Vec::new())
            }
        };
        let known: Vec<&str> = common.iter().copied().chain(keys).collect();
        map.finish(p, &known);
        if let (Some(name), Some(kind), Some(schedule), Some(settings)) =
            (name, kind, schedule, settings)
        {
            out.push(SourceConfig {
                name,
                kind,
                schedule,
                timeout,
                settings,
                secrets,
            });
        }
    }
    out
}

fn decode_schedule(p: &mut Problems, map: &mut MapReader) -> Option<Schedule> {
    let Some(node) = map.get("schedule") else {
        return Some(Schedule::Interval(DEFAULT_INTERVAL));
    };
    let path = map.child_path("schedule");
    let text = decode::string(p, node, &path)?;
    match parse_schedule(&text) {
        Ok(s) => Some(s),
        Err(e) => {
            p.add(node.pos, &path, e);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A registry of one kind, `git`, whose only key is a required `path`: this module's tests
    /// need no real source.
    struct OneKind;

    impl SourceKinds for OneKind {
        type Settings = PathBuf;
        fn kinds() -> Vec<&'static str> {
            vec!["git"]
        }
        fn keys(_: &str) -> Vec<&'static str> {
            vec!["path"]
        }
        fn decode(_: &'static str, s: &mut Section) -> Option<PathBuf> {
            let path = s.required_string("path")?;
            Some(s.base_dir().join(path))
        }
    }

    fn parse_str(text: &str) -> Result<Config<PathBuf>, Vec<String>> {
        let env = |k: &str| (k == "HOME_REPO").then(|| "/srv/repo".to_string());
        parse::<OneKind>(Path::new("c.yaml"), text, &env)
            .map_err(|ps| ps.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn a_source_is_decoded_by_its_kind() {
        let c =
            parse_str("sources:\n  - name: r\n    type: git\n    path: ${HOME_REPO}\n").unwrap();
        assert_eq!(c.sources.len(), 1);
        assert_eq!(c.sources[0].kind, "git");
        assert_eq!(c.sources[0].settings, Path::new("/srv/repo"));
        assert!(matches!(c.sources[0].schedule, Schedule::Interval(d) if d == DEFAULT_INTERVAL));
        let errs = parse_str("sources:\n  - name: r\n    type: git\n").unwrap_err();
        assert_eq!(
            errs,
            ["c.yaml:2:5: sources[0]: missing required key `path`"],
        );
    }

    #[test]
    fn the_baseline_is_configurable_and_checked() {
        let c = parse_str("baseline:\n  days: 14\n  min_days: 3\n").unwrap();
        assert_eq!(
            c.baseline,
            Baseline {
                days: 14,
                min_days: 3
            }
        );
        assert_eq!(parse_str("").unwrap().baseline, Baseline::default());
        let errs = parse_str("baseline:\n  days: 5\n  min_days: 6\n").unwrap_err();
        assert!(errs[0].contains("`min_days` from 1 to `days`"), "{errs:?}");
        let errs = parse_str("baseline:\n  weeks: 2\n").unwrap_err();
        assert!(errs[0].contains("baseline.weeks: unknown key"), "{errs:?}");
    }

    #[test]
    fn every_problem_is_reported() {
        let errs = parse_str("sources:\n  - name: r\n    type: git\n    path: x\n    schedul: 5m\n  - name: r\n    type: svn\ncatalog:\n  - id: a\n    kind: modle\n    repository: nope\nextra: 1\n").unwrap_err();
        let joined = errs.join("\n");
        assert!(
            joined.contains("c.yaml:5:5: sources[0].schedul: unknown key"),
            "{joined}"
        );
        assert!(
            joined.contains("sources[1].name: another source is already named `r`"),
            "{joined}"
        );
        assert!(
            joined.contains("c.yaml:7:11: sources[1].type: unknown value `svn`"),
            "{joined}"
        );
        assert!(
            joined.contains("c.yaml:10:11: catalog[0].kind: unknown value `modle`"),
            "{joined}"
        );
        assert!(
            joined.contains("catalog[0].repository: no git source is named `nope`"),
            "{joined}"
        );
        assert!(
            joined.contains("c.yaml:12:1: extra: unknown key"),
            "{joined}"
        );
    }

    #[test]
    fn secrets_come_from_files_relative_to_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("salt.txt"), "pepper\n").unwrap();
        let text =
            "recognition:\n  contributor_label: pseudonym\n  pseudonym_salt_file: salt.txt\n";
        let c = parse::<OneKind>(&dir.path().join("c.yaml"), text, &|_| None).unwrap();
        assert_eq!(c.recognition.pseudonym_salt.expose(), "pepper");
        assert_eq!(format!("{:?}", c.recognition.pseudonym_salt), "<secret>");
        let both = "recognition:\n  pseudonym_salt: a\n  pseudonym_salt_file: salt.txt\n";
        let errs = parse::<OneKind>(&dir.path().join("c.yaml"), both, &|_| None).unwrap_err();
        assert!(errs[0].message.contains("not both"), "{errs:?}");
    }
}
