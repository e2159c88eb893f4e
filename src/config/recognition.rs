//! The `recognition` section: how people are credited, labelled and joined, and the identity
//! file it points at.

use super::decode::{self, index, seq, MapReader, Problems};
use super::yaml::{self, Node};
use super::KindRule;
use super::{globs, kind_rules, Secret};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContributorLabel {
    /// The canonical (mailmap / identity file) name.
    Name,
    /// A stable pseudonym derived from the identity and a salt.
    Pseudonym,
    /// No per-person label at all.
    None,
}

#[derive(Debug, Clone)]
pub struct Recognition {
    pub contributor_label: ContributorLabel,
    pub pseudonym_salt: Secret,
    /// Per asset, the contributors ranked below this many are aggregated as `__other__`.
    pub top_n: usize,
    /// Wildcard patterns (`*` only) matched case-insensitively against names and emails.
    pub bots: Vec<String>,
    /// Names, emails or @handles of people who are never credited.
    pub opt_out: Vec<String>,
    pub identities: Vec<Identity>,
    pub changelog_paths: Vec<String>,
    /// Organisation-wide path rules, tried before the built-in defaults.
    pub path_kinds: Vec<KindRule>,
    /// Which automatic rules join identities into one person (all on by default).
    pub unify: Unify,
}

/// The automatic identity rules (see [`crate::people`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unify {
    /// The same email, case-insensitive.
    pub email: bool,
    /// The same name of two or more words, case-insensitive, whitespace collapsed.
    pub name: bool,
    /// `ID+login@users.noreply.github.com` is the GitHub user `@login`.
    pub github_noreply: bool,
}

impl Default for Unify {
    fn default() -> Self {
        Unify {
            email: true,
            name: true,
            github_noreply: true,
        }
    }
}

impl Default for Recognition {
    fn default() -> Self {
        Recognition {
            contributor_label: ContributorLabel::Name,
            pseudonym_salt: Secret::default(),
            top_n: 20,
            bots: default_bots(),
            opt_out: Vec::new(),
            identities: Vec::new(),
            changelog_paths: default_changelog_paths(),
            path_kinds: Vec::new(),
            unify: Unify::default(),
        }
    }
}

/// Automation that signs commits: GitHub apps (`[bot]`), and AI coding agents that author
/// commits or add themselves as co-authors (Claude Code, GitHub Copilot and its agent,
/// Cursor's agent and assistant, pi, aider), by the addresses they sign with. Their commits
/// and trailers credit nobody.
pub fn default_bots() -> Vec<String> {
    [
        "*[bot]",
        "*[bot]@*",
        "noreply@anthropic.com",
        "*+copilot@users.noreply.github.com",
        "copilot@github.com",
        "cursoragent@cursor.com",
        "noreply@cursor.com",
        "noreply@pi.dev",
        "noreply@aider.chat",
    ]
    .map(String::from)
    .to_vec()
}

pub fn default_changelog_paths() -> Vec<String> {
    [
        "**/CHANGELOG*",
        "**/CHANGES*",
        "**/HISTORY*",
        "**/RELEASE_NOTES*",
        "**/RELEASE-NOTES*",
        "**/NEWS*",
        "**/release-notes/**",
        "**/releasenotes/**",
    ]
    .map(String::from)
    .to_vec()
}

/// One person of the identity file: canonical name and email plus the aliases that mean them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
    /// Other emails, names and `@handles`.
    pub aliases: Vec<String>,
}

pub(super) fn decode_recognition(p: &mut Problems, node: &Node, path: &str) -> Option<Recognition> {
    let mut map = MapReader::new(p, node, path)?;
    let mut r = Recognition::default();
    if let Some(label) = map.choice(p, "contributor_label", &["name", "pseudonym", "none"]) {
        r.contributor_label = match label.as_str() {
            "name" => ContributorLabel::Name,
            "pseudonym" => ContributorLabel::Pseudonym,
            _ => ContributorLabel::None,
        };
    }
    let salt_pos = map.pos();
    let salt_given = map.has("pseudonym_salt") || map.has("pseudonym_salt_file");
    if let Some(salt) = map.secret(p, "pseudonym_salt") {
        r.pseudonym_salt = salt;
    }
    if r.contributor_label == ContributorLabel::Pseudonym && !salt_given {
        p.add(salt_pos, path, "`contributor_label: pseudonym` needs `pseudonym_salt` or `pseudonym_salt_file`, or pseudonyms could be reversed by hashing known emails");
    }
    if let Some(n) = map.uint(p, "top_n") {
        if n == 0 {
            p.add(map.pos(), &map.child_path("top_n"), "must be at least 1");
        }
        r.top_n = n as usize;
    }
    if let Some(bots) = map.strings(p, "bots") {
        r.bots = bots;
    }
    if let Some(opt_out) = map.strings(p, "opt_out") {
        r.opt_out = opt_out;
    }
    if let Some(node) = map.get("identities_file") {
        let key_path = map.child_path("identities_file");
        if let Some(name) = decode::string(p, node, &key_path) {
            r.identities = load_identities(p, node.pos, &key_path, &name);
        }
    }
    if let Some(paths) = globs(p, &mut map, "changelog_paths") {
        r.changelog_paths = paths;
    }
    r.path_kinds = kind_rules(p, &mut map, "path_kinds");
    if let Some(node) = map.get("unify") {
        let unify_path = map.child_path("unify");
        if let Some(mut u) = MapReader::new(p, node, &unify_path) {
            let rules = ["email", "name", "github_noreply"];
            for rule in rules {
                if let Some(on) = u.boolean(p, rule) {
                    match rule {
                        "email" => r.unify.email = on,
                        "name" => r.unify.name = on,
                        _ => r.unify.github_noreply = on,
                    }
                }
            }
            u.finish(p, &rules);
        }
    }
    map.finish(
        p,
        &[
            "contributor_label",
            "pseudonym_salt",
            "pseudonym_salt_file",
            "top_n",
            "bots",
            "opt_out",
            "identities_file",
            "changelog_paths",
            "path_kinds",
            "unify",
        ],
    );
    Some(r)
}

/// Reads the identity file named in the config; its own problems name its own file.
fn load_identities(p: &mut Problems, pos: yaml::Pos, key_path: &str, name: &str) -> Vec<Identity> {
    let file = p.base_dir().join(name);
    let text = match decode::read_small_file(&file) {
        Ok(text) => text,
        Err(e) => {
            p.add(
                pos,
                key_path,
                format!("cannot read {}: {e}", file.display()),
            );
            return Vec::new();
        }
    };
    let mut inner = Problems::new(&file, p.env);
    let identities = parse_identities(&mut inner, &text);
    p.list.extend(inner.list);
    identities
}

fn parse_identities(p: &mut Problems, text: &str) -> Vec<Identity> {
    let root = match yaml::parse(text) {
        Ok(node) => node,
        Err(e) => {
            p.add(e.pos, "", format!("YAML syntax error: {}", e.message));
            return Vec::new();
        }
    };
    let Some(mut map) = MapReader::new(p, &root, "") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(list) = map.get("people") {
        for (i, item) in seq(p, list, "people")
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let path = index("people", i);
            let Some(mut person) = MapReader::new(p, item, &path) else {
                continue;
            };
            let name = person.required_string(p, "name");
            let email = person.required_string(p, "email");
            let aliases = person.strings(p, "aliases").unwrap_or_default();
            person.finish(p, &["name", "email", "aliases"]);
            if let (Some(name), Some(email)) = (name, email) {
                out.push(Identity {
                    name,
                    email,
                    aliases,
                });
            }
        }
    }
    map.finish(p, &["people"]);
    out
}
