//! Discovered repositories as git sources: the configuration in force is the file's, plus one
//! git source per repository a `git_discovery` source last found active
//! ([`crate::sources::discovery`]), named after its path, mirrored under the storage
//! directory and mined exactly as a listed git source is. The runner expands the file's
//! configuration at start-up, at every reload and after every discovery collection, and
//! applies it as a reload would: new repositories start, removed ones stop.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{Schedule, SourceConfig};
use crate::sources::discovery::{self, State};
use crate::sources::git::{GitLocation, GitSettings};
use crate::sources::Config;
use crate::store::Store;

/// What the expansion found, per discovery source.
#[derive(Debug, Clone, Default)]
pub struct Discovered {
    /// Each discovered repository's source name → the discovery source that found it.
    pub by_repository: BTreeMap<String, String>,
    /// Per discovery source: its concurrency, and its repositories by state (`active`,
    /// `removed`, `forgotten`).
    pub sources: BTreeMap<String, (usize, BTreeMap<&'static str, usize>)>,
    /// Repositories forgotten (removed longer than their retention): their facts go.
    pub forgotten: Vec<String>,
    /// Active repositories left out because a listed source has the same name.
    pub shadowed: Vec<String>,
}

/// The file's configuration with a git source for each active discovered repository, as
/// the discovery sources' stored cursors say.
pub fn expand(file: &Config, store: &Store) -> (Config, Discovered) {
    let mut config = file.clone();
    let mut found = Discovered::default();
    for source in &file.sources {
        let Some(settings) = source.settings.discovery() else {
            continue;
        };
        let cursors = match store.cursors(&source.name) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(source = %source.name, error = %e, "reading the discovered repositories failed");
                Default::default()
            }
        };
        let mut states: BTreeMap<&'static str, usize> =
            [("active", 0), ("removed", 0), ("forgotten", 0)]
                .into_iter()
                .collect();
        for (path, state) in discovery::entries(&cursors) {
            match state {
                State::Active { url, branch } => {
                    if config.sources.iter().any(|s| s.name == path) {
                        found.shadowed.push(path);
                        continue;
                    }
                    *states.entry("active").or_default() += 1;
                    let (username, password) = match settings.clone_credentials(&url) {
                        Some((user, token)) => (Some(user), Some(token)),
                        None => (None, None),
                    };
                    let git = GitSettings {
                        location: GitLocation::Url {
                            url: crate::config::Secret::new(url),
                            username,
                            password,
                        },
                        branch: (!branch.is_empty()).then_some(branch),
                        path_kinds: Vec::new(),
                        changelog_paths: None,
                        backstage: true,
                        path_at: None,
                        branch_at: None,
                        keep_packs: false,
                    };
                    found
                        .by_repository
                        .insert(path.clone(), source.name.clone());
                    config.sources.push(SourceConfig {
                        name: path,
                        kind: "git",
                        schedule: Schedule::Interval(settings.repository_schedule),
                        timeout: settings.repository_timeout,
                        settings: Arc::new(git),
                        secrets: source.secrets,
                    });
                }
                State::Removed { .. } => *states.entry("removed").or_default() += 1,
                State::Forgotten { .. } => {
                    *states.entry("forgotten").or_default() += 1;
                    found.forgotten.push(path);
                }
            }
        }
        found
            .sources
            .insert(source.name.clone(), (settings.concurrency, states));
    }
    (config, found)
}
