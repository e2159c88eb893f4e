//! [`Section`]: how a source's decoder reads its keys. It hides the YAML nodes: a decoder asks
//! for typed values by key and reports problems by key, and every problem carries the file, the
//! position and the key path without the decoder knowing YAML.

use std::path::PathBuf;
use std::time::Duration;

use super::decode::{MapReader, Problems};
use super::yaml::Pos;
use super::{KindRule, Secret};

/// Where a key was written, kept for problems found after decoding (`check-config` points at a
/// repository path that does not exist).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct At {
    pub path: String,
    pub pos: Pos,
}

/// One source's mapping in the config file, read key by key. Keys nobody reads are reported as
/// unknown once the decoder returns.
pub struct Section<'a, 'e, 'n> {
    p: &'a mut Problems<'e>,
    map: &'a mut MapReader<'n>,
}

impl<'a, 'e, 'n> Section<'a, 'e, 'n> {
    pub(super) fn new(p: &'a mut Problems<'e>, map: &'a mut MapReader<'n>) -> Self {
        Section { p, map }
    }

    /// Whether `key` is written at all (even as null).
    pub fn has(&self, key: &str) -> bool {
        self.map.has(key)
    }

    /// The mapping's keys, in file order (for mappings whose keys are names, such as users).
    pub fn keys(&self) -> Vec<String> {
        self.map.keys()
    }

    /// Where `key` is written, if it is.
    pub fn at(&mut self, key: &str) -> Option<At> {
        let pos = self.map.get(key).map(|n| n.pos)?;
        Some(At {
            path: self.map.child_path(key),
            pos,
        })
    }

    /// Reports a problem at `key` (or at the section when `key` is absent).
    pub fn problem(&mut self, key: &str, message: impl Into<String>) {
        match self.at(key) {
            Some(at) => self.p.add(at.pos, &at.path, message),
            None => self.problem_here(message),
        }
    }

    /// Reports a problem about the section as a whole.
    pub fn problem_here(&mut self, message: impl Into<String>) {
        let (pos, path) = (self.map.pos(), self.map.path.clone());
        self.p.add(pos, &path, message);
    }

    /// The directory relative paths are resolved against (the config file's).
    pub fn base_dir(&self) -> PathBuf {
        self.p.base_dir()
    }

    pub fn string(&mut self, key: &str) -> Option<String> {
        self.map.string(self.p, key)
    }

    pub fn required_string(&mut self, key: &str) -> Option<String> {
        self.map.required_string(self.p, key)
    }

    pub fn strings(&mut self, key: &str) -> Option<Vec<String>> {
        self.map.strings(self.p, key)
    }

    /// A string or a list of strings (`owner_tag: team` or `owner_tag: [owner, team]`), as a
    /// list; an empty list or an empty string is a problem.
    pub fn string_or_strings(&mut self, key: &str) -> Option<Vec<String>> {
        let list = self.map.string_or_strings(self.p, key)?;
        let list: Vec<String> = list.into_iter().filter(|s| !s.trim().is_empty()).collect();
        if list.is_empty() {
            self.problem(key, "expected a name or a list of names");
            return None;
        }
        Some(list)
    }

    pub fn duration(&mut self, key: &str) -> Option<Duration> {
        self.map.duration(self.p, key)
    }

    pub fn uint(&mut self, key: &str) -> Option<u64> {
        self.map.uint(self.p, key)
    }

    pub fn boolean(&mut self, key: &str) -> Option<bool> {
        self.map.boolean(self.p, key)
    }

    pub fn choice(&mut self, key: &str, choices: &[&str]) -> Option<String> {
        self.map.choice(self.p, key, choices)
    }

    /// A secret inline as `key` or read from the file `key_file` names.
    pub fn secret(&mut self, key: &str) -> Option<Secret> {
        self.map.secret(self.p, key)
    }

    /// A mapping of strings to strings (`acme/feature-store: feature-store`), in file order.
    pub fn string_map(&mut self, key: &str) -> Option<Vec<(String, String)>> {
        let node = self.map.get(key)?;
        let path = self.map.child_path(key);
        let mut inner = MapReader::new(self.p, node, &path)?;
        let mut out = Vec::new();
        for k in inner.keys() {
            if let Some(v) = inner.string(self.p, &k) {
                out.push((k, v));
            }
        }
        inner.finish(self.p, &[]);
        Some(out)
    }

    /// A list of mappings under `key`, each read by `each` through a section of its own whose
    /// keys beyond `keys` are reported as unknown. Entries `each` refuses are left out.
    pub fn list<T>(
        &mut self,
        key: &str,
        keys: &[&str],
        mut each: impl FnMut(&mut Section) -> Option<T>,
    ) -> Option<Vec<T>> {
        let node = self.map.get(key)?;
        let path = self.map.child_path(key);
        let items = super::decode::seq(self.p, node, &path)?;
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let Some(mut inner) = MapReader::new(self.p, item, &super::decode::index(&path, i))
            else {
                continue;
            };
            if let Some(v) = each(&mut Section::new(self.p, &mut inner)) {
                out.push(v);
            }
            inner.ignore(keys);
            inner.finish(self.p, keys);
        }
        Some(out)
    }

    /// The mapping under `key`, read by `each` through a section of its own (unknown keys
    /// beyond `keys` reported).
    pub fn nested<T>(
        &mut self,
        key: &str,
        keys: &[&str],
        each: impl FnOnce(&mut Section) -> Option<T>,
    ) -> Option<T> {
        let node = self.map.get(key)?;
        let path = self.map.child_path(key);
        let mut inner = MapReader::new(self.p, node, &path)?;
        let out = each(&mut Section::new(self.p, &mut inner));
        inner.ignore(keys);
        inner.finish(self.p, keys);
        out
    }

    /// A list of valid globs.
    pub fn globs(&mut self, key: &str) -> Option<Vec<String>> {
        super::globs(self.p, self.map, key)
    }

    /// `path_kinds`-style rules under `key`.
    pub fn kind_rules(&mut self, key: &str) -> Vec<KindRule> {
        super::kind_rules(self.p, self.map, key)
    }

    /// A URL with one of `schemes` (`https`, `http`, …).
    pub fn url(&mut self, key: &str, schemes: &[&str]) -> Option<Secret> {
        let url = self.secret(key)?;
        let ok = schemes
            .iter()
            .any(|s| url.expose().starts_with(&format!("{s}://")));
        if !ok {
            let list: Vec<String> = schemes.iter().map(|s| format!("{s}://")).collect();
            self.problem(key, format!("expected a {} URL", list.join(", ")));
            return None;
        }
        Some(url)
    }
}
