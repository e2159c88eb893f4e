//! Hand-written, error-collecting decoding of [`Node`] trees.
//!
//! Every reader records problems in [`Problems`] and returns `None` instead of stopping, so one
//! run of `check-config` lists everything wrong with a file.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::yaml::{Node, Pos, Value};

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub pos: Pos,
    /// The key path, like `sources[0].schedule`; empty for the document itself.
    pub path: String,
    pub message: String,
    /// For the line standing in for problems beyond [`MAX_PROBLEMS`]: how many; else 0.
    pub more: usize,
}

impl Problem {
    /// The problem printed in place of those beyond [`MAX_PROBLEMS`].
    pub fn more(file: &Path, pos: Pos, more: usize) -> Problem {
        Problem {
            file: file.to_path_buf(),
            pos,
            path: String::new(),
            message: format!("… and {more} more problem(s) not shown"),
            more,
        }
    }

    /// How many problems this line stands for: 1, or the number a [`Problem::more`] line counts.
    pub fn count_in(&self) -> usize {
        self.more.max(1)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: the problem is the file as a whole (it cannot be read); no position to give.
        if self.pos.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else if self.path.is_empty() {
            write!(f, "{}:{}: {}", self.file.display(), self.pos, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file.display(),
                self.pos,
                self.path,
                self.message
            )
        }
    }
}

/// The problems found so far in one file, plus what decoding needs to know about it.
pub struct Problems<'e> {
    pub file: PathBuf,
    pub list: Vec<Problem>,
    /// Problems found beyond [`MAX_PROBLEMS`], counted but not kept.
    pub dropped: usize,
    /// Looks up `${NAME}` references; injected so tests need not touch the process environment.
    pub env: &'e dyn Fn(&str) -> Option<String>,
    /// A digest of every secret read so far (its key path and value), in reading order.
    pub secrets: Vec<[u8; 32]>,
}

/// A digest of secret values: a reload compares configurations by value, and a rotated
/// token, token file or webhook secret is a change, while the values themselves are neither
/// kept twice nor shown. `Debug` shows nothing of it.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(digests: &[[u8; 32]]) -> Fingerprint {
        use sha2::Digest;
        let mut all = sha2::Sha256::new();
        for d in digests {
            all.update(d);
        }
        Fingerprint(all.finalize().into())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<fingerprint>")
    }
}

/// At most this many problems are reported; the rest are counted (a huge file of unknown keys
/// must not print megabytes).
pub const MAX_PROBLEMS: usize = 100;

/// The largest config, identity or secret file read: a configuration is small, and a path to
/// `/dev/zero` or a huge file must not exhaust memory.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a configuration-side file: a regular file (not a FIFO or device) of at most
/// [`MAX_FILE_BYTES`], as UTF-8.
pub fn read_small_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes, more than the {MAX_FILE_BYTES} allowed",
            meta.len()
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("more than the {MAX_FILE_BYTES} bytes allowed"));
    }
    Ok(text)
}

impl<'e> Problems<'e> {
    pub fn new(file: &Path, env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        Problems {
            file: file.to_path_buf(),
            list: Vec::new(),
            dropped: 0,
            env,
            secrets: Vec::new(),
        }
    }

    /// Remembers a digest of a secret read at `path` (see [`Fingerprint`]).
    pub fn note_secret(&mut self, path: &str, secret: &Secret) {
        use sha2::Digest;
        let mut d = sha2::Sha256::new();
        d.update(path.as_bytes());
        d.update([0]);
        d.update(secret.expose().as_bytes());
        self.secrets.push(d.finalize().into());
    }

    pub fn add(&mut self, pos: Pos, path: &str, message: impl Into<String>) {
        if self.list.len() >= MAX_PROBLEMS {
            self.dropped += 1;
            return;
        }
        self.list.push(Problem {
            file: self.file.clone(),
            pos,
            path: path.to_string(),
            message: message.into(),
            more: 0,
        });
    }

    /// The directory relative paths in this file are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }
}

pub fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Reads a mapping's keys one by one; [`MapReader::finish`] reports the keys nobody asked for.
pub struct MapReader<'n> {
    node: &'n Node,
    pub path: String,
    entries: &'n [(Node, Node)],
    used: HashSet<usize>,
}

impl<'n> MapReader<'n> {
    /// `None` (with a problem recorded) unless `node` is a mapping. A null node reads as empty.
    pub fn new(p: &mut Problems, node: &'n Node, path: &str) -> Option<Self> {
        static EMPTY: [(Node, Node); 0] = [];
        let entries: &'n [(Node, Node)] = match &node.value {
            Value::Map(entries) => entries,
            _ if node.is_null() => &EMPTY,
            _ => {
                p.add(
                    node.pos,
                    path,
                    format!("expected a mapping, found {}", node.describe()),
                );
                return None;
            }
        };
        let mut seen = HashSet::new();
        for (key, _) in entries {
            match &key.value {
                Value::Scalar { text, .. } => {
                    if !seen.insert(text.as_str()) {
                        p.add(key.pos, &child(path, text), "duplicate key");
                    }
                }
                _ => p.add(key.pos, path, "keys must be scalars"),
            }
        }
        Some(MapReader {
            node,
            path: path.to_string(),
            entries,
            used: HashSet::new(),
        })
    }

    /// Where the mapping starts: its first key (the parser marks block mappings late).
    pub fn pos(&self) -> Pos {
        self.entries.first().map_or(self.node.pos, |(k, _)| k.pos)
    }

    fn is_key(node: &Node, key: &str) -> bool {
        matches!(&node.value, Value::Scalar { text, .. } if text == key)
    }

    /// The mapping's scalar keys, in file order.
    pub fn keys(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter_map(|(k, _)| match &k.value {
                Value::Scalar { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    /// Whether `key` is written at all (even as null).
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| Self::is_key(k, key))
    }

    /// Marks `keys` as read without decoding them (their section is invalid for another reason).
    pub fn ignore(&mut self, keys: &[&str]) {
        for (i, (k, _)) in self.entries.iter().enumerate() {
            if keys.iter().any(|key| Self::is_key(k, key)) {
                self.used.insert(i);
            }
        }
    }

    /// The value of `key`, unless it is absent or null. Duplicates were reported by `new`.
    pub fn get(&mut self, key: &str) -> Option<&'n Node> {
        let mut found = None;
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if Self::is_key(k, key) {
                self.used.insert(i);
                found.get_or_insert(v);
            }
        }
        found.filter(|v| !v.is_null())
    }

    pub fn child_path(&self, key: &str) -> String {
        child(&self.path, key)
    }

    pub fn required(&mut self, p: &mut Problems, key: &str) -> Option<&'n Node> {
        let node = self.get(key);
        if node.is_none() {
            p.add(
                self.pos(),
                &self.path,
                format!("missing required key `{key}`"),
            );
        }
        node
    }

    pub fn string(&mut self, p: &mut Problems, key: &str) -> Option<String> {
        let node = self.get(key)?;
        string(p, node, &self.child_path(key))
    }

    pub fn required_string(&mut self, p: &mut Problems, key: &str) -> Option<String> {
        let node = self.required(p, key)?;
        string(p, node, &self.child_path(key))
    }

    /// A string or a list of strings, as a list.
    pub fn string_or_strings(&mut self, p: &mut Problems, key: &str) -> Option<Vec<String>> {
        let node = self.get(key)?;
        if matches!(node.value, super::yaml::Value::Seq(_)) {
            self.strings(p, key)
        } else {
            self.string(p, key).map(|s| vec![s])
        }
    }

    pub fn strings(&mut self, p: &mut Problems, key: &str) -> Option<Vec<String>> {
        let node = self.get(key)?;
        let path = self.child_path(key);
        let items = seq(p, node, &path)?;
        Some(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, n)| string(p, n, &index(&path, i)))
                .collect(),
        )
    }

    pub fn duration(&mut self, p: &mut Problems, key: &str) -> Option<Duration> {
        let node = self.get(key)?;
        let path = self.child_path(key);
        let text = string(p, node, &path)?;
        match parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                p.add(node.pos, &path, e);
                None
            }
        }
    }

    pub fn uint(&mut self, p: &mut Problems, key: &str) -> Option<u64> {
        let node = self.get(key)?;
        let path = self.child_path(key);
        let text = string(p, node, &path)?;
        match text.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                p.add(
                    node.pos,
                    &path,
                    format!("expected a non-negative integer, found `{text}`"),
                );
                None
            }
        }
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, p: &mut Problems, key: &str) -> Option<bool> {
        match self.choice(p, key, &["true", "false"])?.as_str() {
            "true" => Some(true),
            _ => Some(false),
        }
    }

    /// A value restricted to `choices`.
    pub fn choice(&mut self, p: &mut Problems, key: &str, choices: &[&str]) -> Option<String> {
        let node = self.get(key)?;
        let path = self.child_path(key);
        let text = string(p, node, &path)?;
        if choices.contains(&text.as_str()) {
            Some(text)
        } else {
            p.add(
                node.pos,
                &path,
                format!(
                    "unknown value `{text}`; expected one of: {}",
                    choices.join(", ")
                ),
            );
            None
        }
    }

    /// A secret given inline as `key` or read from the file named by `key_file`, never both.
    pub fn secret(&mut self, p: &mut Problems, key: &str) -> Option<Secret> {
        let file_key = format!("{key}_file");
        let inline = self.get(key);
        let file = self.get(&file_key);
        match (inline, file) {
            (Some(node), Some(_)) => {
                p.add(
                    node.pos,
                    &self.path,
                    format!("set `{key}` or `{file_key}`, not both"),
                );
                None
            }
            (Some(node), None) => {
                let path = self.child_path(key);
                let secret = string(p, node, &path).map(Secret::new)?;
                p.note_secret(&path, &secret);
                Some(secret)
            }
            (None, Some(node)) => {
                let path = self.child_path(&file_key);
                let name = string(p, node, &path)?;
                let full = p.base_dir().join(&name);
                match Secret::from_file(&full) {
                    Ok(secret) => {
                        p.note_secret(&path, &secret);
                        Some(secret)
                    }
                    Err(e) => {
                        p.add(
                            node.pos,
                            &path,
                            format!("cannot read {}: {e}", full.display()),
                        );
                        None
                    }
                }
            }
            (None, None) => None,
        }
    }

    /// Reports every key that was never read as unknown.
    pub fn finish(self, p: &mut Problems, known: &[&str]) {
        for (i, (key, _)) in self.entries.iter().enumerate() {
            if self.used.contains(&i) {
                continue;
            }
            if let Value::Scalar { text, .. } = &key.value {
                let hint = if known.is_empty() {
                    String::new()
                } else {
                    format!("; known keys: {}", known.join(", "))
                };
                p.add(
                    key.pos,
                    &child(&self.path, text),
                    format!("unknown key{hint}"),
                );
            }
        }
    }
}

/// A value that must never be printed: `Debug` redacts it. One read from a `*_file` key
/// remembers its file, so that a client whose credentials were refused can read a rotated
/// one ([`Secret::reread`]).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret {
    value: String,
    file: Option<std::path::PathBuf>,
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret {
            value: value.into(),
            file: None,
        }
    }

    /// A secret read from `file` (its content without the line end).
    pub fn from_file(file: &Path) -> Result<Secret, String> {
        let text = read_small_file(file)?;
        Ok(Secret {
            value: text.trim_end_matches(['\n', '\r']).to_string(),
            file: Some(file.to_path_buf()),
        })
    }

    pub fn expose(&self) -> &str {
        &self.value
    }

    /// The file's content now, when this secret came from a file and the content changed.
    pub fn reread(&self) -> Option<Secret> {
        let file = self.file.as_ref()?;
        Secret::from_file(file)
            .ok()
            .filter(|s| s.value != self.value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

pub fn seq<'n>(p: &mut Problems, node: &'n Node, path: &str) -> Option<&'n [Node]> {
    match &node.value {
        Value::Seq(items) => Some(items),
        _ => {
            p.add(
                node.pos,
                path,
                format!("expected a list, found {}", node.describe()),
            );
            None
        }
    }
}

/// A scalar, with `${NAME}` replaced by the environment variable NAME (`$$` is a literal `$`).
pub fn string(p: &mut Problems, node: &Node, path: &str) -> Option<String> {
    match &node.value {
        Value::Scalar { text, .. } => match interpolate(text, p.env) {
            Ok(s) => Some(s),
            Err(e) => {
                p.add(node.pos, path, e);
                None
            }
        },
        _ => {
            p.add(
                node.pos,
                path,
                format!("expected a string, found {}", node.describe()),
            );
            None
        }
    }
}

pub fn interpolate(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| "unterminated `${` in value".to_string())?;
            let name = &body[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("invalid environment variable name `{name}`"));
            }
            let value =
                env(name).ok_or_else(|| format!("environment variable `{name}` is not set"))?;
            out.push_str(&value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses Prometheus-style durations: `30s`, `5m`, `1h30m`, `250ms`, `2d`, `1w`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("invalid duration `{text}`; use a number and a unit (ms, s, m, h, d, w), like `30s` or `1h30m`")
    };
    if text.is_empty() {
        return Err(bad());
    }
    let mut total_ms: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms_per_unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(bad()),
        };
        total_ms = n
            .checked_mul(ms_per_unit)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_millis(total_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "5", "m", "5x", "1.5s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn interpolation() {
        let env = |k: &str| (k == "TOKEN").then(|| "abc".to_string());
        assert_eq!(interpolate("x-${TOKEN}-y", &env), Ok("x-abc-y".into()));
        assert_eq!(
            interpolate("cost $$5 and $x", &env),
            Ok("cost $5 and $x".into())
        );
        assert!(interpolate("${MISSING}", &env)
            .unwrap_err()
            .contains("MISSING"));
        assert!(interpolate("${TOKEN", &env).is_err());
    }
}
