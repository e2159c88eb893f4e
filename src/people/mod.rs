//! One person, everywhere: joins the identity keys that the sources stored into people, and
//! names each person once. Pure: the store hands in what it knows, derive and the report use
//! the result.
//!
//! Sources resolve `.mailmap` and the identity file when they mine; what they store is a key per
//! identity (an email as written, `handle:<login>`, or `name:<name>`) and, for authors and
//! co-authors, the name used on each commit. Here the automatic rules join keys across every
//! repository, each switchable in `recognition.unify`:
//!
//! - `email`: the same email, case-insensitive;
//! - `name`: the same name of two or more words (case-insensitive, whitespace collapsed);
//! - `github_noreply`: `ID+login@users.noreply.github.com` joins the handle `@login`.
//!
//! A person's display name is the identity file's, else the name they used most often as author
//! or co-author over all mined non-merge commits (ties: the most recent), else the name a source
//! stored for the key.

pub mod mentions;
mod resolve;

pub use resolve::{People, Who};

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::config::Recognition;

/// How often a key signed a non-merge commit as author or co-author under one name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameUse {
    pub key: String,
    pub name: String,
    pub uses: u64,
    /// Newest commit time with this name.
    pub last_at: i64,
}

/// Why two keys are one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum JoinRule {
    Email,
    Name,
    GithubNoreply,
}

impl JoinRule {
    pub fn as_str(self) -> &'static str {
        match self {
            JoinRule::Email => "email",
            JoinRule::Name => "name",
            JoinRule::GithubNoreply => "github_noreply",
        }
    }
}

/// One join the rules made: `a` and `b` are one person because of `rule` (`evidence` is the
/// shared lower-cased email, the normalised name, or the handle).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Join {
    pub a: String,
    pub b: String,
    pub rule: JoinRule,
    pub evidence: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Unified {
    /// Stable id: the identity file's email when the person is in it, else the smallest key.
    pub id: String,
    pub name: String,
    /// Every key of the person, sorted.
    pub keys: Vec<String>,
    /// True when an opt-out entry names any of the keys or names of the person.
    pub opted_out: bool,
}

impl Unified {
    /// The person's emails (keys that are emails), sorted.
    pub fn emails(&self) -> Vec<String> {
        self.keys
            .iter()
            .filter(|k| !k.starts_with("handle:") && !k.starts_with("name:"))
            .cloned()
            .collect()
    }

    /// The person's GitHub handles (`@login`): their handle keys and noreply addresses.
    pub fn handles(&self) -> Vec<String> {
        let mut out: BTreeSet<String> = BTreeSet::new();
        for k in &self.keys {
            if let Some(h) = k.strip_prefix("handle:") {
                out.insert(format!("@{h}"));
            } else if let Some(h) = noreply_login(k) {
                out.insert(format!("@{h}"));
            }
        }
        out.into_iter().collect()
    }
}

/// Everyone, joined.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    pub people: Vec<Unified>,
    /// key → index into `people`.
    index: HashMap<String, usize>,
    pub joins: Vec<Join>,
}

impl Directory {
    pub fn person(&self, key: &str) -> Option<&Unified> {
        self.index.get(key).map(|&i| &self.people[i])
    }

    pub fn by_id(&self, id: &str) -> Option<&Unified> {
        self.person(id).filter(|p| p.id == id)
    }

    /// key → person id, for every key whose person is not the key itself; opted-out people map
    /// to the empty string.
    pub fn key_map(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for p in &self.people {
            for k in &p.keys {
                let to = if p.opted_out { "" } else { p.id.as_str() };
                if k != to {
                    out.push((k.clone(), to.to_string()));
                }
            }
        }
        out
    }
}

/// The login of a GitHub noreply address (`ID+login@…` or `login@users.noreply.github.com`).
pub fn noreply_login(email: &str) -> Option<String> {
    let lower = email.to_ascii_lowercase();
    let local = lower.strip_suffix("@users.noreply.github.com")?;
    let login = match local.split_once('+') {
        Some((id, login)) if id.chars().all(|c| c.is_ascii_digit()) && !id.is_empty() => login,
        Some(_) => return None,
        None => local,
    };
    let valid = !login.is_empty()
        && login.len() <= 39
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !login.starts_with('-');
    valid.then(|| login.to_string())
}

/// A name as the `name` rule compares it: lower-cased, whitespace collapsed; `None` for names
/// of fewer than two words, which are too common to join on.
pub fn comparable_name(name: &str) -> Option<String> {
    let words: Vec<String> = name.split_whitespace().map(|w| w.to_lowercase()).collect();
    (words.len() >= 2).then(|| words.join(" "))
}

fn is_email_key(key: &str) -> bool {
    !key.starts_with("handle:") && !key.starts_with("name:") && key.contains('@')
}

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[hi] = lo;
        true
    }
}

/// Joins `stored` keys (key → the name a source stored for it) using the signatures in `uses`.
pub fn unify(
    stored: &BTreeMap<String, String>,
    uses: &[NameUse],
    recognition: &Recognition,
) -> Directory {
    let rules = &recognition.unify;
    // Every key, sorted, so that joins and ids do not depend on input order.
    let mut keys: BTreeSet<String> = stored.keys().cloned().collect();
    keys.extend(uses.iter().map(|u| u.key.clone()));
    if rules.github_noreply {
        let handles: Vec<String> = keys
            .iter()
            .filter_map(|k| noreply_login(k))
            .map(|h| format!("handle:{h}"))
            .collect();
        keys.extend(handles);
    }
    let keys: Vec<String> = keys.into_iter().collect();
    let position: HashMap<&str, usize> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let mut uf = UnionFind {
        parent: (0..keys.len()).collect(),
    };
    let mut joins = Vec::new();
    // First key seen per piece of evidence, per rule.
    let mut join_on = |uf: &mut UnionFind,
                       seen: &mut HashMap<String, usize>,
                       evidence: String,
                       i: usize,
                       rule: JoinRule| {
        match seen.get(&evidence) {
            Some(&first) => {
                if uf.union(first, i) {
                    joins.push(Join {
                        a: keys[first].clone(),
                        b: keys[i].clone(),
                        rule,
                        evidence,
                    });
                }
            }
            None => {
                seen.insert(evidence, i);
            }
        }
    };
    if rules.email {
        let mut seen = HashMap::new();
        for (i, k) in keys.iter().enumerate().filter(|(_, k)| is_email_key(k)) {
            join_on(&mut uf, &mut seen, k.to_lowercase(), i, JoinRule::Email);
        }
    }
    if rules.name {
        let mut seen = HashMap::new();
        let mut names: Vec<(&str, String)> = uses
            .iter()
            .filter_map(|u| comparable_name(&u.name).map(|n| (u.key.as_str(), n)))
            .collect();
        names.sort();
        for (key, name) in names {
            join_on(&mut uf, &mut seen, name, position[key], JoinRule::Name);
        }
    }
    if rules.github_noreply {
        let mut seen = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            if let Some(h) = k.strip_prefix("handle:") {
                join_on(
                    &mut uf,
                    &mut seen,
                    h.to_string(),
                    i,
                    JoinRule::GithubNoreply,
                );
            }
        }
        for (i, k) in keys.iter().enumerate() {
            if let Some(h) = noreply_login(k) {
                join_on(&mut uf, &mut seen, h, i, JoinRule::GithubNoreply);
            }
        }
    }

    // Group keys by root (roots are the smallest index, so groups come out sorted).
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..keys.len() {
        let root = uf.find(i);
        groups.entry(root).or_default().push(i);
    }
    let identity_emails: HashMap<&str, &str> = recognition
        .identities
        .iter()
        .map(|id| (id.email.as_str(), id.name.as_str()))
        .collect();
    let opt_out: Vec<String> = recognition
        .opt_out
        .iter()
        .map(|o| o.to_lowercase())
        .collect();
    let mut uses_by_key: HashMap<&str, Vec<&NameUse>> = HashMap::new();
    for u in uses {
        uses_by_key.entry(u.key.as_str()).or_default().push(u);
    }

    let mut directory = Directory {
        joins,
        ..Directory::default()
    };
    for members in groups.into_values() {
        let member_keys: Vec<String> = members.iter().map(|&i| keys[i].clone()).collect();
        let identity = member_keys
            .iter()
            .find_map(|k| identity_emails.get(k.as_str()).map(|n| (k, *n)));
        let tally = tally_of(&member_keys, |k| {
            uses_by_key.get(k).map(Vec::as_slice).unwrap_or_default()
        });
        let name = shown_name(identity.map(|(_, n)| n), &tally, &member_keys, stored);
        let id = identity
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| member_keys[0].clone());
        let opted_out = member_keys.iter().any(|k| {
            let lower = k.to_lowercase();
            let as_handle = lower.strip_prefix("handle:").map(|h| format!("@{h}"));
            opt_out
                .iter()
                .any(|o| *o == lower || Some(o) == as_handle.as_ref())
        }) || tally.keys().any(|n| opt_out.contains(&n.to_lowercase()));
        let index = directory.people.len();
        for k in &member_keys {
            directory.index.insert(k.clone(), index);
        }
        directory.people.push(Unified {
            id,
            name,
            keys: member_keys,
            opted_out,
        });
    }
    // Handle keys made up for noreply joins that joined nobody are not people.
    directory.people.retain(|p| {
        !(p.keys.len() == 1 && p.keys[0].starts_with("handle:") && !stored.contains_key(&p.keys[0]))
    });
    directory.index = directory
        .people
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.keys.iter().map(move |k| (k.clone(), i)))
        .collect();
    directory
}

/// A person's names and how they used them: name → (uses, newest use), over their keys.
fn tally_of<'a>(
    member_keys: &[String],
    uses_of: impl Fn(&str) -> &'a [&'a NameUse],
) -> BTreeMap<&'a str, (u64, i64)> {
    let mut tally: BTreeMap<&str, (u64, i64)> = BTreeMap::new();
    for k in member_keys {
        for u in uses_of(k) {
            let e = tally.entry(&u.name).or_insert((0, i64::MIN));
            e.0 += u.uses;
            e.1 = e.1.max(u.last_at);
        }
    }
    tally
}

/// The name a person is shown with: the identity file's, else the name they used most (ties:
/// the most recent), else a stored name (a real name before `@handle`), else a handle key as
/// `@login`, else their first key.
fn shown_name(
    identity: Option<&str>,
    tally: &BTreeMap<&str, (u64, i64)>,
    member_keys: &[String],
    stored: &BTreeMap<String, String>,
) -> String {
    let most_used = || {
        tally
            .iter()
            .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(a.1 .1.cmp(&b.1 .1)))
            .map(|(n, _)| n.to_string())
    };
    // Without signatures: a stored name, preferring a real name over `@handle`.
    let stored_name = || {
        let names: Vec<&String> = member_keys.iter().filter_map(|k| stored.get(k)).collect();
        names
            .iter()
            .find(|n| !n.starts_with('@'))
            .or(names.first())
            .map(|n| n.to_string())
    };
    identity
        .map(str::to_string)
        .or_else(most_used)
        .or_else(stored_name)
        .or_else(|| {
            member_keys
                .iter()
                .find_map(|k| k.strip_prefix("handle:").map(|h| format!("@{h}")))
        })
        .unwrap_or_else(|| member_keys[0].clone())
}

/// Names again, as [`unify`] would, the people of `directory` with a key in `changed`, from
/// `uses` (sorted by key, then name). Only for a directory joined from the same stored names
/// and the same (key, name) pairs as `uses` has, whose counts alone changed: the joins, ids
/// and opt-outs are then those [`unify`] would make.
pub fn rename<'a>(
    directory: &mut Directory,
    changed: impl IntoIterator<Item = &'a str>,
    stored: &BTreeMap<String, String>,
    uses: &[NameUse],
    recognition: &Recognition,
) {
    let persons: BTreeSet<usize> = changed
        .into_iter()
        .filter_map(|k| directory.index.get(k).copied())
        .collect();
    for i in persons {
        let keys = &directory.people[i].keys;
        let refs: Vec<Vec<&NameUse>> = keys
            .iter()
            .map(|k| {
                let from = uses.partition_point(|u| u.key.as_str() < k.as_str());
                uses[from..].iter().take_while(|u| u.key == *k).collect()
            })
            .collect();
        let tally = tally_of(keys, |k| {
            keys.iter()
                .position(|m| m == k)
                .map(|at| refs[at].as_slice())
                .unwrap_or_default()
        });
        let identity = keys.iter().find_map(|k| {
            // The last entry for an email, as `unify`'s map of them keeps.
            recognition
                .identities
                .iter()
                .rev()
                .find(|id| id.email == *k)
                .map(|id| id.name.as_str())
        });
        let name = shown_name(identity, &tally, keys, stored);
        directory.people[i].name = name;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Identity, Unify};

    fn use_(key: &str, name: &str, uses: u64, last_at: i64) -> NameUse {
        NameUse {
            key: key.into(),
            name: name.into(),
            uses,
            last_at,
        }
    }

    fn stored(keys: &[(&str, &str)]) -> BTreeMap<String, String> {
        keys.iter()
            .map(|(k, n)| (k.to_string(), n.to_string()))
            .collect()
    }

    #[test]
    fn three_emails_one_person_by_email_and_name() {
        let uses = [
            use_("ann@corp.com", "Ann Lee", 5, 100),
            use_("Ann@Corp.com", "ann lee", 1, 300),
            use_("ann@home.net", "Ann  LEE", 2, 200),
            use_("bob@x.org", "Bob", 1, 50),
            use_("bob@y.org", "Bob", 1, 60),
        ];
        let s = stored(&[
            ("ann@corp.com", "Ann Lee"),
            ("Ann@Corp.com", "ann lee"),
            ("ann@home.net", "Ann  LEE"),
            ("bob@x.org", "Bob"),
            ("bob@y.org", "Bob"),
        ]);
        let d = unify(&s, &uses, &Recognition::default());
        assert_eq!(d.people.len(), 3, "{d:?}");
        let ann = d.person("ann@home.net").unwrap();
        assert_eq!(ann.keys.len(), 3);
        assert_eq!(ann.name, "Ann Lee", "the name used most often");
        assert_eq!(ann.id, "Ann@Corp.com");
        assert_ne!(
            d.person("bob@x.org").unwrap().id,
            d.person("bob@y.org").unwrap().id,
            "one-word names never join"
        );
        assert!(d.joins.iter().any(|j| j.rule == JoinRule::Email));
        assert!(d.joins.iter().any(|j| j.rule == JoinRule::Name));
    }

    #[test]
    fn noreply_addresses_join_their_handle() {
        let uses = [
            use_("123+octo-cat@users.noreply.github.com", "octo", 1, 10),
            use_("octo-cat@users.noreply.github.com", "Octo", 2, 20),
        ];
        let s = stored(&[("handle:octo-cat", "@octo-cat")]);
        let d = unify(&s, &uses, &Recognition::default());
        assert_eq!(d.people.len(), 1, "{d:?}");
        let p = &d.people[0];
        assert_eq!(p.name, "Octo");
        assert_eq!(p.handles(), vec!["@octo-cat".to_string()]);
        assert_eq!(
            noreply_login("1+a@users.noreply.github.com").as_deref(),
            Some("a")
        );
        assert_eq!(noreply_login("x+a@users.noreply.github.com"), None);
        assert_eq!(noreply_login("a@example.com"), None);
    }

    #[test]
    fn rules_can_be_switched_off_and_ties_go_to_the_most_recent_name() {
        let uses = [
            use_("a@x.org", "Ann Lee", 1, 10),
            use_("A@x.org", "Ann Lee", 1, 10),
            use_("c@x.org", "Cy Park", 1, 10),
            use_("c@x.org", "Cyrus Park", 1, 20),
        ];
        let r = Recognition {
            unify: Unify {
                email: false,
                name: false,
                github_noreply: false,
            },
            ..Recognition::default()
        };
        let d = unify(&BTreeMap::new(), &uses, &r);
        assert_eq!(d.people.len(), 3);
        assert_eq!(d.person("c@x.org").unwrap().name, "Cyrus Park");
    }

    #[test]
    fn identity_file_names_and_opt_outs_apply_to_the_whole_person() {
        let uses = [
            use_("ann@corp.com", "Ann Lee", 1, 10),
            use_("ann@home.net", "Ann Lee", 9, 20),
        ];
        let mut r = Recognition {
            identities: vec![Identity {
                name: "Dr. Ann Lee".into(),
                email: "ann@corp.com".into(),
                aliases: vec![],
            }],
            ..Recognition::default()
        };
        let d = unify(&BTreeMap::new(), &uses, &r);
        assert_eq!(d.people[0].name, "Dr. Ann Lee");
        assert_eq!(d.people[0].id, "ann@corp.com");
        assert!(!d.people[0].opted_out);
        r.opt_out = vec!["ANN@home.net".into()];
        let d = unify(&BTreeMap::new(), &uses, &r);
        assert!(d.people[0].opted_out);
        assert_eq!(
            d.key_map(),
            vec![
                ("ann@corp.com".to_string(), String::new()),
                ("ann@home.net".to_string(), String::new())
            ]
        );
    }
}
