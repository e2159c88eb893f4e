//! The configuration file: its types, and the two stages that produce them.
//!
//! Stage one ([`load`]) reads YAML strictly — unknown keys, wrong types and bad values are all
//! collected as [`Problem`]s with `file:line:column` and key path — and reads the files the
//! config points at (secrets, identities). Stage two (in `app`) builds runtime objects from a
//! valid [`Config`]. Only this module knows YAML.

mod catalog;
mod decode;
mod recognition;
mod schedule;
pub mod yaml;

use catalog::decode_catalog;
pub use catalog::{AssetConfig, ASSET_KINDS, LIFECYCLES};
use recognition::decode_recognition;
pub use recognition::{default_changelog_paths, ContributorLabel, Identity, Recognition, Unify};

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use decode::{index, seq, MapReader, Problems};
pub use decode::{parse_duration, Problem, Secret};
pub use schedule::parse_schedule;
use yaml::Node;

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct Config {
    /// The forge organisation whose prefix owners drop (`@acme/ml-team` → `ml-team`).
    pub organisation: Option<String>,
    pub recognition: Recognition,
    pub sources: Vec<SourceConfig>,
    pub catalog: Vec<AssetConfig>,
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
pub struct SourceConfig {
    /// Unique; the `source` label and the name catalog entries bind to.
    pub name: String,
    pub schedule: Schedule,
    pub timeout: Duration,
    pub kind: SourceKind,
}

#[derive(Debug, Clone)]
pub enum SourceKind {
    Git(GitSourceConfig),
}

impl SourceKind {
    /// The kind name: config `type`, `collector` label, module name.
    pub fn name(&self) -> &'static str {
        match self {
            SourceKind::Git(_) => "git",
        }
    }
}

#[derive(Debug, Clone)]
pub enum GitLocation {
    /// A working clone or a bare repository on disk.
    Path(PathBuf),
    /// A remote cloned (bare) into the storage directory and fetched on schedule.
    Url {
        url: Secret,
        username: Option<String>,
        password: Option<Secret>,
    },
}

#[derive(Debug, Clone)]
pub struct GitSourceConfig {
    pub location: GitLocation,
    /// `None`: the repository's HEAD branch.
    pub branch: Option<String>,
    pub path_kinds: Vec<KindRule>,
    /// Overrides the recognition-wide changelog paths when set.
    pub changelog_paths: Option<Vec<String>>,
    /// Where `path` and `branch` are written (key path and position), so that `check-config`
    /// can point at them when the repository or the branch does not exist on disk.
    pub path_at: Option<(String, yaml::Pos)>,
    pub branch_at: Option<(String, yaml::Pos)>,
}

/// Reads and validates the config file at `path`, reporting every problem found.
pub fn load(path: &Path) -> Result<Config, Vec<Problem>> {
    let env = |name: &str| std::env::var(name).ok();
    match decode::read_small_file(path) {
        Ok(text) => parse(path, &text, &env),
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
pub fn parse(
    file: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Vec<Problem>> {
    let mut p = Problems::new(file, env);
    let root = match yaml::parse(text) {
        Ok(node) => node,
        Err(e) => {
            p.add(e.pos, "", format!("YAML syntax error: {}", e.message));
            return Err(p.list);
        }
    };
    let config = decode_root(&mut p, &root);
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
                p.add(root.pos, "", "invalid configuration");
            }
            Err(p.list)
        }
    }
}

fn decode_root(p: &mut Problems, root: &Node) -> Option<Config> {
    let mut map = MapReader::new(p, root, "")?;
    let recognition = match map.get("recognition") {
        Some(node) => decode_recognition(p, node, "recognition"),
        None => Some(Recognition::default()),
    };
    let sources = match map.get("sources") {
        Some(node) => decode_sources(p, node),
        None => Vec::new(),
    };
    let source_names: HashSet<String> = sources.iter().map(|s| s.name.clone()).collect();
    let catalog = match map.get("catalog") {
        Some(node) => decode_catalog(p, node, &source_names),
        None => Vec::new(),
    };
    let organisation = map
        .string(p, "organisation")
        .map(|o| o.trim_start_matches('@').to_ascii_lowercase());
    map.finish(p, &["organisation", "recognition", "sources", "catalog"]);
    Some(Config {
        organisation,
        recognition: recognition?,
        sources,
        catalog,
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

fn kind_rules(p: &mut Problems, map: &mut MapReader) -> Vec<KindRule> {
    let Some(node) = map.get("path_kinds") else {
        return Vec::new();
    };
    let path = map.child_path("path_kinds");
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

fn decode_sources(p: &mut Problems, node: &Node) -> Vec<SourceConfig> {
    let mut out = Vec::new();
    let mut names: HashMap<String, ()> = HashMap::new();
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
            } else if names.insert(name.clone(), ()).is_some() {
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
        let kind = match map.choice(p, "type", &["git"]) {
            Some(t) if t == "git" => decode_git(p, &mut map).map(SourceKind::Git),
            _ => {
                // Without a known type, its keys cannot be judged; the type problem is enough.
                map.ignore(GIT_KEYS);
                None
            }
        };
        let known: Vec<&str> = common.iter().chain(GIT_KEYS).copied().collect();
        map.finish(p, &known);
        if let (Some(name), Some(schedule), Some(kind)) = (name, schedule, kind) {
            out.push(SourceConfig {
                name,
                schedule,
                timeout,
                kind,
            });
        }
    }
    out
}

const GIT_KEYS: &[&str] = &[
    "path",
    "url",
    "username",
    "password",
    "password_file",
    "branch",
    "path_kinds",
    "changelog_paths",
];

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

fn decode_git(p: &mut Problems, map: &mut MapReader) -> Option<GitSourceConfig> {
    let at = |map: &mut MapReader, key: &str| {
        let pos = map.get(key).map(|n| n.pos)?;
        Some((map.child_path(key), pos))
    };
    let (path_at, branch_at) = (at(map, "path"), at(map, "branch"));
    let path = map.string(p, "path");
    let url = map.secret(p, "url");
    let username = map.string(p, "username");
    let password = map.secret(p, "password");
    let (has_path, has_url) = (map.has("path"), map.has("url"));
    let url_pos = map.get("url").map_or(map.pos(), |n| n.pos);
    let location = match (path, url) {
        (Some(path), None) => {
            if username.is_some() || password.is_some() {
                p.add(
                    map.pos(),
                    &map.path,
                    "`username` and `password` apply only to `url`",
                );
            }
            Some(GitLocation::Path(p.base_dir().join(path)))
        }
        (None, Some(url)) => {
            let u = url.expose();
            if (username.is_some() || password.is_some()) && !u.starts_with("https://") {
                p.add(
                    url_pos,
                    &map.child_path("url"),
                    "`username` and `password` are only sent over https:// (never in clear text)",
                );
            }
            if !(u.starts_with("https://")
                || u.starts_with("http://")
                || u.starts_with("file://")
                || u.starts_with("ssh://")
                || u.starts_with("git://"))
            {
                p.add(
                    url_pos,
                    &map.child_path("url"),
                    "expected an https://, http://, ssh://, git:// or file:// URL",
                );
            }
            Some(GitLocation::Url {
                url,
                username,
                password,
            })
        }
        (Some(_), Some(_)) => {
            p.add(map.pos(), &map.path, "set `path` or `url`, not both");
            None
        }
        (None, None) => {
            if !has_path && !has_url {
                p.add(
                    map.pos(),
                    &map.path,
                    "a git source needs `path` (a local clone) or `url` (a remote to mirror)",
                );
            }
            None
        }
    };
    let branch = map.string(p, "branch");
    let path_kinds = kind_rules(p, map);
    let changelog_paths = globs(p, map, "changelog_paths");
    Some(GitSourceConfig {
        location: location?,
        branch,
        path_kinds,
        changelog_paths,
        path_at,
        branch_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, Vec<String>> {
        let env = |k: &str| (k == "HOME_REPO").then(|| "/srv/repo".to_string());
        parse(Path::new("c.yaml"), text, &env)
            .map_err(|ps| ps.iter().map(|p| p.to_string()).collect())
    }

    #[test]
    fn minimal_git_source() {
        let c =
            parse_str("sources:\n  - name: r\n    type: git\n    path: ${HOME_REPO}\n").unwrap();
        assert_eq!(c.sources.len(), 1);
        let SourceKind::Git(g) = &c.sources[0].kind;
        assert!(matches!(&g.location, GitLocation::Path(p) if p == Path::new("/srv/repo")));
        assert!(matches!(c.sources[0].schedule, Schedule::Interval(d) if d == DEFAULT_INTERVAL));
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
        let c = parse(&dir.path().join("c.yaml"), text, &|_| None).unwrap();
        assert_eq!(c.recognition.pseudonym_salt.expose(), "pepper");
        assert_eq!(format!("{:?}", c.recognition.pseudonym_salt), "<secret>");
        let both = "recognition:\n  pseudonym_salt: a\n  pseudonym_salt_file: salt.txt\n";
        let errs = parse(&dir.path().join("c.yaml"), both, &|_| None).unwrap_err();
        assert!(errs[0].message.contains("not both"), "{errs:?}");
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
                let _ = parse(&root.join(name), &text[..end], &env);
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
                    let _ = parse(&root.join(name), &mangled, &env);
                }
            }
        }
    }
}
