//! CODEOWNERS with GitHub's semantics: gitignore-style patterns without negation or character
//! ranges, the last matching line wins, a line with invalid syntax is skipped (and reported),
//! a pattern with no owners leaves its files unowned.

use globset::GlobSet;

use super::rules::glob;

/// Where GitHub looks, in order; the first file found is used.
pub const LOCATIONS: &[&str] = &[".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

#[derive(Debug)]
pub struct CodeOwners {
    rules: Vec<(GlobSet, Vec<String>)>,
    /// The owners of the last valid default rule (`*` or `**`), if any.
    pub default_owners: Option<Vec<String>>,
    /// Skipped lines: (1-based line number, reason).
    pub invalid: Vec<(u32, String)>,
}

fn valid_owner(owner: &str) -> bool {
    if let Some(name) = owner.strip_prefix('@') {
        let (org, team) = name
            .split_once('/')
            .map_or((name, None), |(o, t)| (o, Some(t)));
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        ok(org) && team.is_none_or(ok)
    } else {
        let mut parts = owner.split('@');
        matches!((parts.next(), parts.next(), parts.next()), (Some(user), Some(domain), None) if !user.is_empty() && domain.contains('.'))
    }
}

/// Owners as labels use them: without the leading `@`, lower-cased.
pub fn normalize_owner(owner: &str) -> String {
    owner.trim_start_matches('@').to_ascii_lowercase()
}

/// The globs a gitignore-style pattern stands for, or why it is invalid here.
fn pattern_globs(pattern: &str) -> Result<Vec<String>, String> {
    if pattern.starts_with('!') {
        return Err("negated patterns (`!`) are not supported in CODEOWNERS".into());
    }
    if pattern.contains('[') || pattern.contains(']') {
        return Err("character ranges (`[ ]`) are not supported in CODEOWNERS".into());
    }
    let unescaped = pattern.replace("\\#", "#");
    let dir_only = unescaped.ends_with('/');
    let trimmed = unescaped.trim_end_matches('/');
    let anchored = trimmed.starts_with('/') || trimmed.contains('/');
    let body = trimmed.trim_start_matches('/');
    if body.is_empty() {
        return Ok(vec!["**".into()]);
    }
    let base = if anchored || body.starts_with("**") {
        body.to_string()
    } else {
        format!("**/{body}")
    };
    if dir_only {
        return Ok(vec![format!("{base}/**")]);
    }
    // `docs/*` owns the files directly in docs/, not those nested deeper (GitHub's docs say so);
    // any other pattern may name a directory, which then owns everything below it.
    if base.ends_with("/*") {
        Ok(vec![base])
    } else {
        Ok(vec![base.clone(), format!("{base}/**")])
    }
}

impl CodeOwners {
    pub fn parse(text: &str) -> Self {
        let mut rules = Vec::new();
        let mut invalid = Vec::new();
        let mut default_owners = None;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i as u32 + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut fields = line.split_whitespace();
            let Some(pattern) = fields.next() else {
                continue;
            };
            let owners: Vec<&str> = fields.take_while(|f| !f.starts_with('#')).collect();
            if let Some(bad) = owners.iter().find(|o| !valid_owner(o)) {
                invalid.push((line_no, format!("invalid owner `{bad}`")));
                continue;
            }
            let globs = match pattern_globs(pattern) {
                Ok(g) => g,
                Err(reason) => {
                    invalid.push((line_no, reason));
                    continue;
                }
            };
            let mut builder = globset::GlobSetBuilder::new();
            let mut ok = true;
            for g in &globs {
                match glob(g) {
                    Ok(g) => {
                        builder.add(g);
                    }
                    Err(e) => {
                        invalid.push((line_no, format!("invalid pattern: {}", e.kind())));
                        ok = false;
                        break;
                    }
                }
            }
            if !ok {
                continue;
            }
            match builder.build() {
                Ok(set) => {
                    let owners: Vec<String> = owners.iter().map(|o| normalize_owner(o)).collect();
                    if matches!(pattern, "*" | "**" | "/**") {
                        default_owners = Some(owners.clone());
                    }
                    rules.push((set, owners))
                }
                Err(e) => invalid.push((line_no, format!("invalid pattern: {}", e.kind()))),
            }
        }
        CodeOwners {
            rules,
            default_owners,
            invalid,
        }
    }

    /// The owners of `path` per the last matching line; `None` if no line matches, an empty
    /// list if the last matching line names no owners.
    pub fn owners(&self, path: &str) -> Option<&[String]> {
        self.rules
            .iter()
            .rev()
            .find(|(set, _)| set.is_match(path))
            .map(|(_, owners)| owners.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owners_of(file: &str, path: &str) -> Option<String> {
        CodeOwners::parse(file).owners(path).map(|o| o.join(","))
    }

    #[test]
    fn last_match_wins() {
        let f = "* @org/platform\n*.py @alice\n/models/ @org/ml-team\n";
        assert_eq!(owners_of(f, "README.md").as_deref(), Some("org/platform"));
        assert_eq!(owners_of(f, "lib/x.py").as_deref(), Some("alice"));
        assert_eq!(
            owners_of(f, "models/churn/train.py").as_deref(),
            Some("org/ml-team")
        );
    }

    #[test]
    fn unanchored_names_match_anywhere() {
        // GitHub: `apps/` owns any file in an apps directory anywhere; a leading or inner
        // slash anchors the pattern at the root.
        let f = "docs/ @writer\napps @apps-team\n/build/logs/ @ops\n";
        assert_eq!(owners_of(f, "docs/a.md").as_deref(), Some("writer"));
        assert_eq!(owners_of(f, "sub/docs/a.md").as_deref(), Some("writer"));
        assert_eq!(owners_of(f, "build/logs/x.log").as_deref(), Some("ops"));
        assert_eq!(owners_of(f, "src/build/logs/x.log"), None);
        assert_eq!(owners_of(f, "x/apps/y.rs").as_deref(), Some("apps-team"));
    }

    #[test]
    fn single_star_is_not_recursive() {
        let f = "docs/* docs@example.com\n";
        assert_eq!(
            owners_of(f, "docs/a.md").as_deref(),
            Some("docs@example.com")
        );
        assert_eq!(owners_of(f, "docs/deep/a.md"), None);
    }

    #[test]
    fn the_default_rule_is_the_last_star_line() {
        let c = CodeOwners::parse("* @org/a\n/src/ @org/b\n* @org/c @Bob\n");
        assert_eq!(
            c.default_owners,
            Some(vec!["org/c".to_string(), "bob".to_string()])
        );
        assert_eq!(CodeOwners::parse("/src/ @org/b\n").default_owners, None);
    }

    #[test]
    fn no_owners_unsets() {
        let f = "* @team\n/generated/\n";
        assert_eq!(owners_of(f, "generated/x").as_deref(), Some(""));
    }

    #[test]
    fn invalid_lines_are_reported_and_skipped() {
        let c = CodeOwners::parse(
            "# c\n!secret @a\n*.[ch] @b\nsrc/ not-an-owner\nok/ @good # trailing comment\n",
        );
        let lines: Vec<u32> = c.invalid.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 3, 4]);
        assert_eq!(
            c.owners("ok/x").map(|o| o.join(",")).as_deref(),
            Some("good")
        );
    }
}
