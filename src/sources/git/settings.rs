//! The `git` source's configuration: its keys and its decoder.

use std::path::PathBuf;

use crate::config::{At, KindRule, Secret, Section};

/// The keys a `git` source reads.
pub const KEYS: &[&str] = &[
    "path",
    "url",
    "username",
    "password",
    "password_file",
    "branch",
    "path_kinds",
    "changelog_paths",
    "backstage",
];

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
pub struct GitSettings {
    pub location: GitLocation,
    /// `None`: the repository's HEAD branch.
    pub branch: Option<String>,
    pub path_kinds: Vec<KindRule>,
    /// Overrides the recognition-wide changelog paths when set.
    pub changelog_paths: Option<Vec<String>>,
    /// Read Backstage catalog files (`catalog-info.yaml`) at the tip; default true.
    pub backstage: bool,
    /// Where `path` and `branch` are written, so that `check-config` can point at them when the
    /// repository or the branch does not exist on disk.
    pub path_at: Option<At>,
    pub branch_at: Option<At>,
    /// Keep the repository's opened packs between collections (listed sources); a
    /// discovered repository lets them go, so that an organisation's hundreds of mirrors
    /// never hold their pack indexes in memory at once.
    pub keep_packs: bool,
}

pub fn decode(s: &mut Section) -> Option<GitSettings> {
    let (path_at, branch_at) = (s.at("path"), s.at("branch"));
    let path = s.string("path");
    let url = s.secret("url");
    let username = s.string("username");
    let password = s.secret("password");
    let (has_path, has_url) = (s.has("path"), s.has("url"));
    let location = match (path, url) {
        (Some(path), None) => {
            if username.is_some() || password.is_some() {
                s.problem_here("`username` and `password` apply only to `url`");
            }
            Some(GitLocation::Path(s.base_dir().join(path)))
        }
        (None, Some(url)) => {
            let u = url.expose();
            if (username.is_some() || password.is_some()) && !u.starts_with("https://") {
                s.problem(
                    "url",
                    "`username` and `password` are only sent over https:// (never in clear text)",
                );
            }
            if !["https://", "http://", "file://", "ssh://", "git://"]
                .iter()
                .any(|scheme| u.starts_with(scheme))
            {
                s.problem(
                    "url",
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
            s.problem_here("set `path` or `url`, not both");
            None
        }
        (None, None) => {
            if !has_path && !has_url {
                s.problem_here(
                    "a git source needs `path` (a local clone) or `url` (a remote to mirror)",
                );
            }
            None
        }
    };
    let branch = s.string("branch");
    let path_kinds = s.kind_rules("path_kinds");
    let changelog_paths = s.globs("changelog_paths");
    let backstage = s.boolean("backstage").unwrap_or(true);
    Some(GitSettings {
        location: location?,
        branch,
        path_kinds,
        changelog_paths,
        backstage,
        path_at,
        branch_at,
        keep_packs: true,
    })
}
