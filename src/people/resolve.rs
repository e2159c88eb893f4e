//! Who a signature, a name or a handle is, for every source: the identity file's aliases, bots
//! and people who opted out are recognised here so that no caller can forget them (git applies
//! `.mailmap` first; forges will pass their users' logins and emails through the same rules).

use std::collections::{HashMap, HashSet};

use crate::config::{Identity, Recognition};
use crate::facts::Person;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    Person(Person),
    Bot,
    OptedOut,
}

/// Resolves identities for one repository (its `.mailmap` varies per repository and commit).
pub struct People {
    identities: Vec<Identity>,
    /// Lower-cased email, name or `@handle` → index into `identities`.
    alias: HashMap<String, usize>,
    bots: Vec<String>,
    opted_out_keys: HashSet<String>,
    opted_out_names: HashSet<String>,
}

impl People {
    pub fn new(recognition: &Recognition) -> Self {
        let mut alias = HashMap::new();
        for (i, id) in recognition.identities.iter().enumerate() {
            for a in std::iter::once(&id.email)
                .chain(std::iter::once(&id.name))
                .chain(&id.aliases)
            {
                alias.entry(a.to_lowercase()).or_insert(i);
            }
        }
        let mut people = People {
            identities: recognition.identities.clone(),
            alias,
            bots: recognition.bots.clone(),
            opted_out_keys: HashSet::new(),
            opted_out_names: HashSet::new(),
        };
        for entry in &recognition.opt_out {
            let lower = entry.to_lowercase();
            match people.alias.get(&lower) {
                Some(&i) => {
                    people
                        .opted_out_keys
                        .insert(people.identities[i].email.to_lowercase());
                }
                None if lower.starts_with('@') => {
                    people
                        .opted_out_keys
                        .insert(format!("handle:{}", &lower[1..]));
                }
                None if lower.contains('@') => {
                    people.opted_out_keys.insert(lower);
                }
                None => {
                    people.opted_out_names.insert(lower);
                }
            }
        }
        people
    }

    fn is_bot(&self, name: &str, email: &str) -> bool {
        self.bots
            .iter()
            .any(|p| wildcard_match(p, name) || (!email.is_empty() && wildcard_match(p, email)))
    }

    /// Resolves a name and email that `.mailmap` has already mapped.
    pub fn resolve(&self, name: &str, email: &str) -> Who {
        if self.is_bot(name, email) {
            return Who::Bot;
        }
        let identity = self
            .alias
            .get(&email.to_lowercase())
            .filter(|_| !email.is_empty())
            .or_else(|| self.alias.get(&name.to_lowercase()));
        let (name, email) = match identity {
            Some(&i) => (
                self.identities[i].name.as_str(),
                self.identities[i].email.as_str(),
            ),
            None => (name, email),
        };
        // The email as written: joining case variants is the `email` unification rule's job
        // (crate::people), so that it can be switched off.
        let key = if email.is_empty() {
            format!("name:{}", name.to_lowercase())
        } else {
            email.to_string()
        };
        if key == "name:" {
            return Who::OptedOut;
        }
        if self.opted_out_keys.contains(&key.to_lowercase())
            || self.opted_out_names.contains(&name.to_lowercase())
        {
            return Who::OptedOut;
        }
        Who::Person(Person {
            key,
            name: if name.is_empty() {
                email.to_string()
            } else {
                name.to_string()
            },
        })
    }

    /// Resolves an `@handle` (without the `@`).
    pub fn resolve_handle(&self, handle: &str) -> Who {
        let lower = handle.to_lowercase();
        if let Some(&i) = self.alias.get(&format!("@{lower}")) {
            let id = &self.identities[i];
            return self.resolve(&id.name, &id.email);
        }
        if self.is_bot(handle, "")
            || self
                .bots
                .iter()
                .any(|p| wildcard_match(p, &format!("{handle}[bot]")))
                && lower.ends_with("bot")
        {
            return Who::Bot;
        }
        let key = format!("handle:{lower}");
        if self.opted_out_keys.contains(&key) {
            return Who::OptedOut;
        }
        Who::Person(Person {
            key,
            name: format!("@{handle}"),
        })
    }

    /// Who a forge user is (a GitHub login, a GitLab username), with whether they may be
    /// credited: `None` for a bot; someone who opted out keeps their handle key (their issues
    /// are still answered or not) but is not credited.
    pub fn forge_user(&self, login: &str, bot: bool) -> Option<(Person, bool)> {
        if bot {
            return None;
        }
        match self.resolve_handle(login) {
            Who::Person(p) => Some((p, true)),
            Who::OptedOut => Some((
                Person {
                    key: format!("handle:{}", login.to_lowercase()),
                    name: format!("@{login}"),
                },
                false,
            )),
            Who::Bot => None,
        }
    }

    /// Names from the identity file, for finding mentions in changelogs.
    pub fn identity_names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.identities
            .iter()
            .map(|i| (i.name.as_str(), i.email.as_str()))
    }
}

/// `*` matches any run of characters; everything else literally, ignoring ASCII case.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let t = text.to_ascii_lowercase();
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == t;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !t.starts_with(first)
        || !t[first.len()..].ends_with(last)
        || t.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &t[first.len()..t.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*[bot]", "dependabot[bot]"));
        assert!(wildcard_match(
            "*[bot]@*",
            "49699333+dependabot[bot]@users.noreply.github.com"
        ));
        assert!(wildcard_match("renovate*", "Renovate Bot"));
        assert!(!wildcard_match("*[bot]", "robot"));
        assert!(wildcard_match("a*b*c", "a-x-b-y-c"));
        assert!(!wildcard_match("ab*ba", "aba"));
        assert!(wildcard_match("exact", "EXACT"));
    }

    fn people() -> People {
        let r = Recognition {
            identities: vec![Identity {
                name: "Ann Lee".into(),
                email: "ann@corp.com".into(),
                aliases: vec!["ann@home.net".into(), "@annl".into()],
            }],
            opt_out: vec!["quiet@corp.com".into(), "@shy".into()],
            ..Recognition::default()
        };
        People::new(&r)
    }

    #[test]
    fn aliases_map_to_canonical() {
        let p = people();
        assert_eq!(
            p.resolve("annie", "ANN@home.net"),
            Who::Person(Person {
                key: "ann@corp.com".into(),
                name: "Ann Lee".into()
            })
        );
        assert_eq!(
            p.resolve_handle("AnnL"),
            Who::Person(Person {
                key: "ann@corp.com".into(),
                name: "Ann Lee".into()
            })
        );
        assert_eq!(
            p.resolve("Bob", "Bob@x.org"),
            Who::Person(Person {
                key: "Bob@x.org".into(),
                name: "Bob".into()
            })
        );
    }

    #[test]
    fn bots_and_opt_outs() {
        let p = people();
        assert_eq!(
            p.resolve(
                "dependabot[bot]",
                "49699333+dependabot[bot]@users.noreply.github.com"
            ),
            Who::Bot
        );
        assert_eq!(
            p.resolve("Claude Opus 4.6", "noreply@anthropic.com"),
            Who::Bot,
            "AI coding agents that sign as co-authors are bots"
        );
        assert_eq!(
            p.resolve("Copilot", "198982749+Copilot@users.noreply.github.com"),
            Who::Bot
        );
        assert_eq!(p.resolve("Q", "quiet@corp.com"), Who::OptedOut);
        assert_eq!(p.resolve_handle("shy"), Who::OptedOut);
        assert_eq!(p.resolve_handle("dependabot"), Who::Bot);
    }
}
