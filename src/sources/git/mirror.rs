//! Where the repository comes from: a local clone, or a mirror of a remote in the storage
//! directory fetched on every collection; and which commit is the branch tip.

use gix::ObjectId;
use sha2::{Digest, Sha256};

use super::GitLocation;
use super::{err, hex, GitCollector};
use std::sync::atomic::AtomicBool;

use crate::collector::{CollectError, ErrorKind};

/// The directory of a source's mirror: its name made safe for a file name, then a hash of the
/// exact name, so that no two source names share a mirror (`team/x` and `team_x` do not) and a
/// mirror does not depend on any other source.
pub fn mirror_name(source: &str) -> String {
    let safe: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{safe}-{}.git",
        &hex(&Sha256::digest(source.as_bytes()))[..12]
    )
}

/// A URL as logs and errors show it (see [`crate::sources::shown_url`]).
pub fn redact_url(url: &str) -> String {
    crate::sources::shown_url(url)
}

impl GitCollector {
    pub(super) fn open(&self, cancel: &AtomicBool) -> Result<gix::Repository, CollectError> {
        match (&self.location, &self.mirror) {
            (GitLocation::Path(path), _) => gix::open(path).map_err(|e| {
                CollectError::new(
                    ErrorKind::RepositoryFailed,
                    format!("opening {}: {e}", path.display()),
                )
            }),
            (
                GitLocation::Url {
                    url,
                    username,
                    password,
                },
                Some(mirror),
            ) => {
                let repo = if mirror.join("HEAD").exists() {
                    gix::open(mirror).map_err(|e| {
                        CollectError::new(
                            ErrorKind::RepositoryFailed,
                            format!("opening mirror {}: {e}", mirror.display()),
                        )
                    })?
                } else {
                    std::fs::create_dir_all(mirror).map_err(|e| {
                        CollectError::new(
                            ErrorKind::RepositoryFailed,
                            format!("creating {}: {e}", mirror.display()),
                        )
                    })?;
                    gix::init_bare(mirror)
                        .map_err(err(ErrorKind::RepositoryFailed, "creating mirror"))?
                };
                let shown = redact_url(url.expose());
                let fetch_err = |e: gix::Error| {
                    CollectError::new(
                        ErrorKind::RequestFailed,
                        format!(
                            "fetching {shown}: {}",
                            crate::sources::redact_urls(&format!("{e:#}"))
                        ),
                    )
                };
                // gix's HTTP transport takes its TLS from the process's provider.
                crate::install_crypto();
                let remote = repo
                    .remote_at(url.expose())
                    .map_err(fetch_err)?
                    .with_refspecs(
                        [
                            "+refs/heads/*:refs/heads/*",
                            "+HEAD:refs/remotes/origin/HEAD",
                        ],
                        gix::remote::Direction::Fetch,
                    )
                    .map_err(fetch_err)?;
                let mut connection = remote
                    .connect(gix::remote::Direction::Fetch)
                    .map_err(fetch_err)?;
                if username.is_some() || password.is_some() {
                    // Our credentials answer the server's challenge; no git credential helper
                    // (an external program) is ever asked.
                    let account = gix::sec::identity::Account {
                        username: username.clone().unwrap_or_else(|| "git".into()),
                        password: password
                            .as_ref()
                            .map(|p| p.expose().to_string())
                            .unwrap_or_default(),
                        oauth_refresh_token: None,
                    };
                    connection = connection.with_credentials(move |action| match action {
                        gix::credentials::helper::Action::Get(ctx) => {
                            Ok(Some(gix::credentials::protocol::Outcome {
                                identity: account.clone(),
                                next: ctx.into(),
                            }))
                        }
                        _ => Ok(None),
                    });
                }
                connection
                    .prepare_fetch(gix::progress::Discard, Default::default())
                    .map_err(fetch_err)?
                    .receive(gix::progress::Discard, cancel)
                    .map_err(fetch_err)?;
                drop(remote);
                gix::open(mirror).map_err(|e| {
                    CollectError::new(
                        ErrorKind::RepositoryFailed,
                        format!("opening mirror {}: {e}", mirror.display()),
                    )
                })
            }
            (GitLocation::Url { .. }, None) => {
                unreachable!("url sources always have a mirror path")
            }
        }
    }

    /// The commit to mine up to: the configured branch, or the repository's HEAD.
    pub(super) fn tip(&self, repo: &gix::Repository) -> Result<ObjectId, CollectError> {
        let candidates: Vec<String> = match &self.branch {
            Some(b) => vec![
                format!("refs/heads/{b}"),
                format!("refs/remotes/origin/{b}"),
            ],
            None if self.mirror.is_some() => vec!["refs/remotes/origin/HEAD".into()],
            None => vec!["HEAD".into()],
        };
        for name in &candidates {
            if let Ok(Some(mut r)) = repo.try_find_reference(name.as_str()) {
                let id = r
                    .peel_to_id()
                    .map_err(err(ErrorKind::RepositoryFailed, "resolving branch"))?;
                return Ok(id.detach());
            }
        }
        if self.branch.is_none() && self.mirror.is_none() {
            if let Ok(id) = repo.head_id() {
                return Ok(id.detach());
            }
        }
        Err(CollectError::new(
            ErrorKind::RepositoryFailed,
            format!("branch not found (tried {})", candidates.join(", ")),
        ))
    }

    /// For a local repository: that it opens and has the configured branch. `Err` says which of
    /// the two is wrong (`true`: the repository; `false`: the branch) and why. Mirrors of
    /// remote repositories are only checked by collecting.
    pub fn check_local(&self) -> Result<(), (bool, String)> {
        let GitLocation::Path(path) = &self.location else {
            return Ok(());
        };
        let repo =
            gix::open(path).map_err(|e| (true, format!("cannot open the repository: {e}")))?;
        self.tip(&repo).map(|_| ()).map_err(|e| (false, e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn mirror_names_are_injective() {
        assert_ne!(mirror_name("team/x"), mirror_name("team_x"));
        assert!(mirror_name("team/x").starts_with("team_x-"));
        assert!(!mirror_name("../../etc").contains('/'));
    }

    #[test]
    pub(super) fn urls_are_redacted() {
        assert_eq!(
            redact_url("https://user:tok@host/x.git"),
            "https://***@host/x.git"
        );
        assert_eq!(redact_url("https://host/x.git"), "https://host/x.git");
    }
}
