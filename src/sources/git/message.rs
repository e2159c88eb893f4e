//! Commit messages: trailers (with git's own rules for finding the trailer block), reverts and
//! `Name <email>` identities. Pure functions; see the tests for the cases they pin.

/// One `Token: value` trailer, continuation lines folded into the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    pub token: String,
    pub value: String,
}

/// Prefixes git itself generates; their presence makes a mixed last paragraph a trailer block.
const GIT_GENERATED: &[&str] = &["Signed-off-by: ", "(cherry picked from commit "];

fn trailer_token(line: &str) -> Option<(&str, &str)> {
    let sep = line.find(':')?;
    let token = line[..sep].trim_end();
    if token.is_empty() || !token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    Some((token, line[sep + 1..].trim()))
}

/// Parses the trailers of a commit message the way `git interpret-trailers --parse` finds them:
/// the last paragraph, never the title paragraph, made only of trailers (continuation lines
/// allowed), or at least 25% trailers when one of them is git-generated (`Signed-off-by`).
pub fn trailers(message: &str) -> Vec<Trailer> {
    let lines: Vec<&str> = message.lines().filter(|l| !l.starts_with('#')).collect();
    // The title is the first paragraph; trailers can only follow it.
    let Some(title_end) = lines.iter().position(|l| l.trim().is_empty()) else {
        return Vec::new();
    };
    let body = &lines[title_end..];
    let mut end = body.len();
    while end > 0 && body[end - 1].trim().is_empty() {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && !body[start - 1].trim().is_empty() {
        start -= 1;
    }
    let block = &body[start..end];
    if block.is_empty() {
        return Vec::new();
    }

    let (mut trailer_lines, mut non_trailer_lines, mut continuation_lines) =
        (0usize, 0usize, 0usize);
    let mut recognized_prefix = false;
    for line in block.iter().rev() {
        if line.starts_with([' ', '\t']) {
            continuation_lines += 1;
            continue;
        }
        if GIT_GENERATED.iter().any(|p| line.starts_with(p)) {
            trailer_lines += 1;
            recognized_prefix = true;
        } else if trailer_token(line).is_some() {
            trailer_lines += 1;
        } else {
            non_trailer_lines += 1 + continuation_lines;
        }
        continuation_lines = 0;
    }
    let is_block = (recognized_prefix && trailer_lines * 3 >= non_trailer_lines)
        || (trailer_lines > 0 && non_trailer_lines == 0);
    if !is_block {
        return Vec::new();
    }

    let mut out: Vec<Trailer> = Vec::new();
    let mut last_was_trailer = false;
    for line in block {
        if line.starts_with([' ', '\t']) {
            if last_was_trailer {
                if let Some(t) = out.last_mut() {
                    t.value.push(' ');
                    t.value.push_str(line.trim());
                }
            }
            continue;
        }
        match trailer_token(line) {
            Some((token, value)) => {
                out.push(Trailer {
                    token: token.to_string(),
                    value: value.to_string(),
                });
                last_was_trailer = true;
            }
            None => last_was_trailer = false,
        }
    }
    out
}

/// How a trailer credits the person it names: co-authors share the commit's own kinds of work;
/// the others earn one credit of a fixed kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailerRole {
    CoAuthor,
    /// A credit of a fixed kind (`review`, `testing`, `report`, `suggestion`).
    Credit(&'static str),
}

pub fn trailer_role(token: &str) -> Option<TrailerRole> {
    match token.to_ascii_lowercase().as_str() {
        "co-authored-by" => Some(TrailerRole::CoAuthor),
        "reviewed-by" => Some(TrailerRole::Credit("review")),
        "tested-by" => Some(TrailerRole::Credit("testing")),
        "reported-by" => Some(TrailerRole::Credit("report")),
        "suggested-by" => Some(TrailerRole::Credit("suggestion")),
        _ => None,
    }
}

/// `Name <email>`, `<email>`, `email`, `@handle` or `Name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedIdentity {
    pub name: String,
    pub email: String,
}

pub fn parse_identity(value: &str) -> Option<NamedIdentity> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if let (Some(open), Some(close)) = (value.find('<'), value.rfind('>')) {
        if open < close {
            return Some(NamedIdentity {
                name: value[..open].trim().to_string(),
                email: value[open + 1..close].trim().to_string(),
            });
        }
    }
    if !value.starts_with('@') && value.contains('@') && !value.contains(' ') {
        return Some(NamedIdentity {
            name: String::new(),
            email: value.to_string(),
        });
    }
    Some(NamedIdentity {
        name: value.to_string(),
        email: String::new(),
    })
}

/// Every commit id (7–40 hex digits, possibly abbreviated) that a line
/// `This reverts commit <id>` names, in order and without repeats. A squash merge or a revert of
/// several commits holds several such lines.
pub fn reverted_commits(message: &str) -> Vec<&str> {
    const MARK: &str = "This reverts commit ";
    let mut out: Vec<&str> = Vec::new();
    for line in message.lines() {
        let line = line.trim_start();
        let Some(rest) = line.strip_prefix(MARK) else {
            continue;
        };
        let len = rest
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        let id = &rest[..len];
        if (7..=40).contains(&len) && !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

pub use crate::people::mentions::{handles, mentions_name};

#[cfg(test)]
mod tests {
    use super::*;

    fn check(message: &str, expected: &[(&str, &str)]) {
        let got: Vec<(String, String)> = trailers(message)
            .into_iter()
            .map(|t| (t.token, t.value))
            .collect();
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        assert_eq!(got, want, "message: {message:?}");
    }

    #[test]
    fn plain_trailer_block() {
        check(
            "Fix x\n\nBody text.\n\nReviewed-by: A <a@x>\nCo-authored-by: B <b@x>\n",
            &[("Reviewed-by", "A <a@x>"), ("Co-authored-by", "B <b@x>")],
        );
    }

    #[test]
    fn title_is_never_trailers() {
        check("Reviewed-by: A <a@x>\n", &[]);
        check("Reviewed-by: A <a@x>\n\nbody\n", &[]);
    }

    #[test]
    fn only_the_last_paragraph() {
        check("T\n\nTested-by: A <a@x>\n\nNot a trailer paragraph.\n", &[]);
    }

    #[test]
    fn mixed_paragraph_needs_git_generated_prefix() {
        check("T\n\nSome prose here\nReviewed-by: A <a@x>\n", &[]);
        check(
            "T\n\nSome prose here\nReviewed-by: A <a@x>\nSigned-off-by: B <b@x>\n",
            &[("Reviewed-by", "A <a@x>"), ("Signed-off-by", "B <b@x>")],
        );
        check(
            "T\n\np1\np2\np3\np4\np5\np6\np7\nSigned-off-by: B <b@x>\n",
            &[],
        );
    }

    #[test]
    fn continuation_lines_fold() {
        check(
            "T\n\nReported-by: A Very\n  Long Name <a@x>\n",
            &[("Reported-by", "A Very Long Name <a@x>")],
        );
    }

    #[test]
    fn token_with_space_before_colon() {
        check("T\n\nTested-by : A <a@x>\n", &[("Tested-by", "A <a@x>")]);
    }

    #[test]
    fn roles() {
        assert_eq!(trailer_role("co-authored-by"), Some(TrailerRole::CoAuthor));
        assert_eq!(
            trailer_role("Reviewed-By"),
            Some(TrailerRole::Credit("review"))
        );
        assert_eq!(trailer_role("Signed-off-by"), None);
    }

    #[test]
    fn identities() {
        assert_eq!(
            parse_identity("Ann Lee <ann@x.org>"),
            Some(NamedIdentity {
                name: "Ann Lee".into(),
                email: "ann@x.org".into()
            })
        );
        assert_eq!(
            parse_identity("ann@x.org"),
            Some(NamedIdentity {
                name: "".into(),
                email: "ann@x.org".into()
            })
        );
        assert_eq!(
            parse_identity("@ann"),
            Some(NamedIdentity {
                name: "@ann".into(),
                email: "".into()
            })
        );
        assert_eq!(parse_identity("  "), None);
    }

    #[test]
    fn reverts() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(
            reverted_commits(&format!("Revert \"x\"\n\nThis reverts commit {sha}.\n")),
            vec![sha]
        );
        assert!(reverted_commits("Revert\n\nThis reverts commit abc.\n").is_empty());
        assert!(reverted_commits("nothing").is_empty());
        // A squashed revert of three commits names all three; repeats count once; the mark
        // must open its line.
        assert_eq!(
            reverted_commits(
                "Revert PRs (#9)\n\n* Revert a\n\nThis reverts commit 1111111.\n\n* Revert b\n\n  This reverts commit 2222222aaaa.\nThis reverts commit 1111111.\nsee: This reverts commit 3333333.\n"
            ),
            vec!["1111111", "2222222aaaa"]
        );
    }

    #[test]
    fn handle_extraction() {
        assert_eq!(
            handles("Thanks @ann-lee and @bob. Mail me@x.org"),
            vec!["ann-lee", "bob"]
        );
        assert_eq!(handles("(@carol)"), vec!["carol"]);
    }

    #[test]
    fn name_mentions_are_whole_words() {
        assert!(mentions_name("- fix (thanks Ann Lee)", "Ann Lee"));
        assert!(!mentions_name("- Ann Leeds fixed it", "Ann Lee"));
        assert!(!mentions_name("anything", ""));
    }

    /// Random messages mixing trailer syntax and multi-byte text never make a parser panic.
    #[test]
    fn parsers_never_panic_on_arbitrary_text() {
        let pieces = [
            "Reviewed-by: ",
            "@",
            "é",
            "名前",
            "\n",
            "\n\n",
            " ",
            "\t",
            ":",
            "<",
            ">",
            "a@b.c",
            "This reverts commit ",
            "abc1234",
            "Signed-off-by: x <y>",
            "-",
        ];
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..5000 {
            let text: String = (0..rng.usize(0..30))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let _ = trailers(&text);
            let _ = reverted_commits(&text);
            let _ = parse_identity(&text);
            for line in text.lines() {
                let _ = handles(line);
                let _ = mentions_name(line, "名前");
                let _ = mentions_name(line, "é");
            }
        }
    }
}
