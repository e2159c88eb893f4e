//! The `git` source: contributions, credits and ownership mined from a repository's history.
//!
//! A collection opens the repository (or fetches its mirror), walks the commits that are new
//! since the cursor's tip, and turns each into a [`CommitFact`]: which assets it touched, whom it
//! credits for which kinds of work, and whether it reverts another commit. Rewritten history
//! shows up as commits reachable from the old tip but not the new one; they are reported as
//! dropped. Everything that shapes facts (rules, catalog, identities) is fingerprinted: when the
//! fingerprint changes, the repository is mined again from scratch.

mod codeowners;
mod identity;
pub mod message;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use gix::bstr::ByteSlice;
use gix::ObjectId;
use globset::GlobSet;
use sha2::{Digest, Sha256};

use crate::collector::{CollectContext, CollectError, ErrorKind};
use crate::config::{Config, GitLocation, GitSourceConfig, KindRule};
use crate::facts::{
    CommitFact, CommitOutcome, Credit, Cursors, GitFacts, OwnershipSnapshot, Person,
};
use codeowners::CodeOwners;
use identity::{People, Who};
use message::TrailerRole;
use rules::KindClassifier;

/// Bump when the meaning of mined facts changes, so stored facts are mined again.
const FACTS_VERSION: u32 = 1;
pub const CURSOR_TIP: &str = "tip";
pub const CURSOR_FINGERPRINT: &str = "fingerprint";

/// One asset as this repository sees it: which files are its and what kind each file is.
#[derive(Debug)]
struct AssetRules {
    id: String,
    paths: GlobSet,
    kinds: KindClassifier,
}

pub struct GitCollector {
    name: String,
    location: GitLocation,
    /// For `url` sources: the bare mirror in the storage directory.
    mirror: Option<PathBuf>,
    branch: Option<String>,
    people: People,
    assets: Vec<AssetRules>,
    changelog: GlobSet,
    fingerprint: String,
}

fn err<E: std::fmt::Display>(kind: ErrorKind, context: &str) -> impl Fn(E) -> CollectError + '_ {
    move |e| CollectError::new(kind, format!("{context}: {e}"))
}

/// A URL with any password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl GitCollector {
    pub fn new(
        config: &Config,
        name: &str,
        git: &GitSourceConfig,
        storage_dir: &Path,
    ) -> anyhow::Result<Self> {
        let org_rules = &config.recognition.path_kinds;
        let defaults = rules::default_kind_rules();
        let chain = |first: &[KindRule]| -> Vec<KindRule> {
            first
                .iter()
                .chain(&git.path_kinds)
                .chain(org_rules)
                .chain(&defaults)
                .cloned()
                .collect()
        };
        let mut assets = Vec::new();
        let mut shape = format!(
            "v{FACTS_VERSION}|{:?}|{:?}|{:?}|",
            config.recognition.bots, config.recognition.opt_out, config.recognition.identities
        );
        for a in config
            .assets()
            .iter()
            .filter(|a| a.repository.as_deref() == Some(name))
        {
            let kinds = chain(&a.path_kinds);
            shape.push_str(&format!("{}:{:?}:{:?}|", a.id, a.paths, kinds));
            assets.push(AssetRules {
                id: a.id.clone(),
                paths: rules::glob_set(&a.paths)?,
                kinds: KindClassifier::new(&kinds)?,
            });
        }
        let changelog_paths = git
            .changelog_paths
            .clone()
            .unwrap_or_else(|| config.recognition.changelog_paths.clone());
        shape.push_str(&format!("{changelog_paths:?}"));
        let mirror = match &git.location {
            GitLocation::Url { .. } => Some(
                storage_dir
                    .join("git")
                    .join(format!("{}.git", name.replace('/', "_"))),
            ),
            GitLocation::Path(_) => None,
        };
        Ok(GitCollector {
            name: name.to_string(),
            location: git.location.clone(),
            mirror,
            branch: git.branch.clone(),
            people: People::new(&config.recognition),
            assets,
            changelog: rules::glob_set(&changelog_paths)?,
            fingerprint: hex(&Sha256::digest(shape.as_bytes()))[..16].to_string(),
        })
    }

    pub fn collect(&self, ctx: &CollectContext) -> Result<GitFacts, CollectError> {
        let mut repo = self.open(ctx)?;
        // Tree diffs look up the same trees again and again.
        repo.object_cache_size_if_unset(16 * 1024 * 1024);
        let tip = self.tip(&repo)?;
        let old_tip = ctx
            .cursors
            .get(CURSOR_TIP)
            .and_then(|t| ObjectId::from_hex(t.as_bytes()).ok());
        // `.mailmap` shapes every stored identity: when it changes, everything is mined again.
        let (mailmap, mailmap_data) = self.mailmap(&repo, tip)?;
        let fingerprint = format!(
            "{}-{}",
            self.fingerprint,
            &hex(&Sha256::digest(&mailmap_data))[..16]
        );
        let same_shape = ctx.cursors.get(CURSOR_FINGERPRINT) == Some(&fingerprint);
        let mut facts = GitFacts {
            repository: self.name.clone(),
            ..GitFacts::default()
        };

        // Decide what to mine: everything, or only what the old tip does not reach.
        let hidden: Vec<ObjectId> = match old_tip {
            Some(old) if same_shape && repo.find_commit(old).is_ok() => {
                if old != tip {
                    let walk = repo
                        .rev_walk([old])
                        .with_hidden([tip])
                        .all()
                        .map_err(err(ErrorKind::RepositoryFailed, "walking old history"))?;
                    for info in walk {
                        let info =
                            info.map_err(err(ErrorKind::RepositoryFailed, "walking old history"))?;
                        facts.dropped.push(info.id.to_string());
                    }
                }
                vec![old]
            }
            _ => {
                facts.reset = true;
                Vec::new()
            }
        };

        let mention_names = self.mention_names(&mailmap);
        // Made once per collection: creating it reads the index and attributes.
        let diff_cache = repo
            .diff_resource_cache_for_tree_diff()
            .map_err(err(ErrorKind::RepositoryFailed, "preparing diffs"))?;
        let mut miner = Miner {
            c: self,
            repo: &repo,
            mailmap: &mailmap,
            mention_names: &mention_names,
            people: BTreeMap::new(),
            diff_cache,
        };
        if old_tip != Some(tip) || facts.reset {
            let walk = repo
                .rev_walk([tip])
                .with_hidden(hidden)
                .all()
                .map_err(err(ErrorKind::RepositoryFailed, "walking history"))?;
            for info in walk {
                if ctx.cancel.is_cancelled() {
                    return Err(CollectError::new(
                        ErrorKind::Cancelled,
                        "collection cancelled",
                    ));
                }
                let info = info.map_err(err(ErrorKind::RepositoryFailed, "walking history"))?;
                facts.commits.push(miner.commit(info.id)?);
            }
        }
        facts.people = miner.people.into_values().collect();
        facts.ownership = self.ownership(&repo, tip)?;
        if old_tip != Some(tip) || facts.reset {
            // Reported when the tip moves, not on every collection.
            for (line, reason) in &facts.ownership.invalid_lines {
                tracing::warn!(source = %self.name, collector = "git", line, reason = %reason, "CODEOWNERS line skipped as invalid");
            }
        }
        facts.cursors = Cursors::from([
            (CURSOR_TIP.to_string(), tip.to_string()),
            (CURSOR_FINGERPRINT.to_string(), fingerprint),
        ]);
        Ok(facts)
    }

    fn open(&self, ctx: &CollectContext) -> Result<gix::Repository, CollectError> {
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
                        ErrorKind::FetchFailed,
                        format!("fetching {shown}: {}", redact_url(&format!("{e:#}"))),
                    )
                };
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
                    .receive(gix::progress::Discard, ctx.cancel.as_atomic())
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
    fn tip(&self, repo: &gix::Repository) -> Result<ObjectId, CollectError> {
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

    /// `.mailmap` as the mined branch has it at its tip.
    /// `.mailmap` as the mined branch has it at its tip, and its raw content.
    fn mailmap(
        &self,
        repo: &gix::Repository,
        tip: ObjectId,
    ) -> Result<(gix::mailmap::Snapshot, Vec<u8>), CollectError> {
        let tree = repo
            .find_commit(tip)
            .and_then(|c| c.tree())
            .map_err(err(ErrorKind::RepositoryFailed, "reading tip tree"))?;
        let data = blob_at(&tree, ".mailmap")?.unwrap_or_default();
        Ok((gix::mailmap::Snapshot::from_bytes(&data), data))
    }

    /// Names a changelog line may mention: canonical `.mailmap` names and identity-file names.
    fn mention_names(&self, mailmap: &gix::mailmap::Snapshot) -> Vec<(String, String)> {
        let mut names: BTreeSet<(String, String)> = BTreeSet::new();
        for e in mailmap.iter() {
            if let Some(name) = e.new_name() {
                let email = e.new_email().unwrap_or(e.old_email());
                names.insert((
                    name.to_str_lossy().into_owned(),
                    email.to_str_lossy().into_owned(),
                ));
            }
        }
        for (name, email) in self.people.identity_names() {
            names.insert((name.to_string(), email.to_string()));
        }
        names.into_iter().collect()
    }

    fn ownership(
        &self,
        repo: &gix::Repository,
        tip: ObjectId,
    ) -> Result<OwnershipSnapshot, CollectError> {
        let tree = repo
            .find_commit(tip)
            .and_then(|c| c.tree())
            .map_err(err(ErrorKind::RepositoryFailed, "reading tip tree"))?;
        let mut text = None;
        for location in codeowners::LOCATIONS {
            if let Some(data) = blob_at(&tree, location)? {
                text = Some(String::from_utf8_lossy(&data).into_owned());
                break;
            }
        }
        let Some(text) = text else {
            return Ok(OwnershipSnapshot::default());
        };
        let owners = CodeOwners::parse(&text);
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(err(ErrorKind::RepositoryFailed, "listing files"))?;
        let mut per_asset: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for entry in recorder.records.iter().filter(|e| !e.mode.is_tree()) {
            let path = entry.filepath.to_str_lossy();
            let Some(file_owners) = owners.owners(&path) else {
                continue;
            };
            if file_owners.is_empty() {
                continue;
            }
            for asset in self
                .assets
                .iter()
                .filter(|a| a.paths.is_match(path.as_ref()))
            {
                per_asset
                    .entry(&asset.id)
                    .or_default()
                    .insert(file_owners.join(","));
            }
        }
        Ok(OwnershipSnapshot {
            asset_owners: per_asset
                .into_iter()
                .map(|(a, s)| (a.to_string(), s.into_iter().collect()))
                .collect(),
            invalid_lines: owners.invalid,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The content of the blob at `path` in `tree`, if there is one.
fn blob_at(tree: &gix::Tree<'_>, path: &str) -> Result<Option<Vec<u8>>, CollectError> {
    let entry = tree
        .lookup_entry_by_path(path)
        .map_err(err(ErrorKind::RepositoryFailed, "looking up a path"))?;
    match entry {
        Some(e) if e.mode().is_blob() => Ok(Some(
            e.object()
                .map_err(err(ErrorKind::RepositoryFailed, "reading a blob"))?
                .detach()
                .data,
        )),
        _ => Ok(None),
    }
}

/// One file a commit changed: its path and the blob before and after (None: absent).
struct FileChange {
    path: String,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
}

/// State of one mining pass.
struct Miner<'a> {
    c: &'a GitCollector,
    repo: &'a gix::Repository,
    mailmap: &'a gix::mailmap::Snapshot,
    mention_names: &'a [(String, String)],
    people: BTreeMap<String, Person>,
    diff_cache: gix::diff::blob::Platform,
}

impl Miner<'_> {
    fn who(&mut self, name: &str, email: &str) -> Who {
        let sig = gix::actor::SignatureRef {
            name: name.as_bytes().as_bstr(),
            email: email.as_bytes().as_bstr(),
            time: "",
        };
        let resolved = self.mailmap.resolve_cow(sig);
        let who = self.c.people.resolve(
            &resolved.name.to_str_lossy(),
            &resolved.email.to_str_lossy(),
        );
        if let Who::Person(p) = &who {
            self.people
                .entry(p.key.clone())
                .or_insert_with(|| p.clone());
        }
        who
    }

    fn who_by_handle(&mut self, handle: &str) -> Who {
        let who = self.c.people.resolve_handle(handle);
        if let Who::Person(p) = &who {
            self.people
                .entry(p.key.clone())
                .or_insert_with(|| p.clone());
        }
        who
    }

    fn blob(&self, id: Option<ObjectId>) -> Result<Vec<u8>, CollectError> {
        match id {
            Some(id) => Ok(self
                .repo
                .find_object(id)
                .map_err(err(ErrorKind::RepositoryFailed, "reading a blob"))?
                .detach()
                .data),
            None => Ok(Vec::new()),
        }
    }

    /// The files `commit` changed relative to its first parent (or to nothing, for a root).
    fn changes(&mut self, commit: &gix::Commit<'_>) -> Result<Vec<FileChange>, CollectError> {
        use gix::object::tree::diff::Change;
        let e = err(ErrorKind::RepositoryFailed, "diffing a commit");
        let new_tree = commit.tree().map_err(&e)?;
        let old_tree = match commit.parent_ids().next() {
            Some(parent) => self
                .repo
                .find_commit(parent)
                .and_then(|p| p.tree())
                .map_err(&e)?,
            None => self.repo.empty_tree(),
        };
        let mut out = Vec::new();
        old_tree
            .changes()
            .map_err(&e)?
            .options(|o| {
                o.track_path().track_rewrites(None);
            })
            .for_each_to_obtain_tree_with_cache(&new_tree, &mut self.diff_cache, |change| {
                let (path, old, new) = match change {
                    Change::Addition {
                        location,
                        entry_mode,
                        id,
                        ..
                    } if entry_mode.is_blob_or_symlink() => (location, None, Some(id.detach())),
                    Change::Deletion {
                        location,
                        entry_mode,
                        id,
                        ..
                    } if entry_mode.is_blob_or_symlink() => (location, Some(id.detach()), None),
                    Change::Modification {
                        location,
                        previous_entry_mode,
                        previous_id,
                        entry_mode,
                        id,
                    } => {
                        let old = previous_entry_mode
                            .is_blob_or_symlink()
                            .then(|| previous_id.detach());
                        let new = (entry_mode.is_blob_or_symlink()).then(|| id.detach());
                        (location, old, new)
                    }
                    _ => return Ok(std::ops::ControlFlow::Continue(())),
                };
                if old.is_some() || new.is_some() {
                    out.push(FileChange {
                        path: path.to_str_lossy().into_owned(),
                        old,
                        new,
                    });
                }
                Ok(std::ops::ControlFlow::Continue(()))
            })
            .map_err(&e)?;
        Ok(out)
    }

    fn commit(&mut self, id: ObjectId) -> Result<CommitFact, CollectError> {
        let commit = self
            .repo
            .find_commit(id)
            .map_err(err(ErrorKind::RepositoryFailed, "reading a commit"))?;
        let committed_at = commit
            .time()
            .map_err(err(ErrorKind::RepositoryFailed, "reading commit time"))?
            .seconds;
        let message = commit
            .message_raw()
            .map_err(err(ErrorKind::RepositoryFailed, "reading a message"))?
            .to_str_lossy()
            .into_owned();
        let reverts = match message::reverted_commit(&message) {
            Some(full) if full.len() == 40 => Some(full.to_ascii_lowercase()),
            Some(short) => self
                .repo
                .rev_parse_single(short)
                .ok()
                .map(|id| id.to_string()),
            None => None,
        };
        let mut fact = CommitFact {
            sha: id.to_string(),
            committed_at,
            outcome: CommitOutcome::Credited,
            assets: Vec::new(),
            credits: Vec::new(),
            reverts,
        };
        if commit.parent_ids().count() > 1 {
            fact.outcome = CommitOutcome::Merge;
            return Ok(fact);
        }
        let author = commit
            .author()
            .map_err(err(ErrorKind::RepositoryFailed, "reading the author"))?;
        let author = self.who(&author.name.to_str_lossy(), &author.email.to_str_lossy());
        let author_key = match &author {
            Who::Person(p) => Some(p.key.clone()),
            Who::Bot => {
                fact.outcome = CommitOutcome::Bot;
                None
            }
            Who::OptedOut => {
                fact.outcome = CommitOutcome::OptedOut;
                None
            }
        };

        let changes = self.changes(&commit)?;
        // Which assets the commit touched and, per asset, the kinds of work it did there.
        let mut kinds: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for change in &changes {
            for asset in self
                .c
                .assets
                .iter()
                .filter(|a| a.paths.is_match(&change.path))
            {
                kinds
                    .entry(&asset.id)
                    .or_default()
                    .insert(asset.kinds.kind(&change.path).to_string());
            }
        }
        fact.assets = kinds.keys().map(|a| a.to_string()).collect();

        let mut whitespace_only = !changes.is_empty();
        for change in &changes {
            if !rules::same_but_whitespace(&self.blob(change.old)?, &self.blob(change.new)?) {
                whitespace_only = false;
                break;
            }
        }
        if whitespace_only {
            if fact.outcome == CommitOutcome::Credited {
                fact.outcome = CommitOutcome::WhitespaceOnly;
            }
            return Ok(fact);
        }

        let mut credits: BTreeSet<Credit> = BTreeSet::new();
        let mut authors: Vec<String> = author_key.iter().cloned().collect();
        let mut others: Vec<(String, &'static str)> = Vec::new();
        for trailer in message::trailers(&message) {
            let Some(role) = message::trailer_role(&trailer.token) else {
                continue;
            };
            let Some(id) = message::parse_identity(&trailer.value) else {
                continue;
            };
            let who = match id.name.strip_prefix('@') {
                Some(handle) if id.email.is_empty() => self.who_by_handle(handle),
                _ => self.who(&id.name, &id.email),
            };
            let Who::Person(p) = who else { continue };
            match role {
                TrailerRole::CoAuthor => authors.push(p.key),
                // Reviewing, testing or reporting your own commit earns nothing.
                TrailerRole::Credit(kind) if Some(&p.key) != author_key.as_ref() => {
                    others.push((p.key, kind))
                }
                TrailerRole::Credit(_) => {}
            }
        }
        for (asset, asset_kinds) in &kinds {
            for person in &authors {
                for kind in asset_kinds {
                    credits.insert(Credit {
                        asset: asset.to_string(),
                        person: person.clone(),
                        kind: kind.clone(),
                        authored: true,
                    });
                }
            }
            for (person, kind) in &others {
                credits.insert(Credit {
                    asset: asset.to_string(),
                    person: person.clone(),
                    kind: kind.to_string(),
                    authored: false,
                });
            }
        }
        for change in changes
            .iter()
            .filter(|c| c.new.is_some() && self.c.changelog.is_match(&c.path))
        {
            let old = String::from_utf8_lossy(&self.blob(change.old)?).into_owned();
            let new = String::from_utf8_lossy(&self.blob(change.new)?).into_owned();
            let mut mentioned: HashMap<String, ()> = HashMap::new();
            for line in rules::added_lines(&old, &new) {
                for handle in message::handles(line) {
                    if let Who::Person(p) = self.who_by_handle(handle) {
                        mentioned.insert(p.key, ());
                    }
                }
                for (name, email) in self.mention_names {
                    if message::mentions_name(line, name) {
                        if let Who::Person(p) = self.who(name, email) {
                            mentioned.insert(p.key, ());
                        }
                    }
                }
            }
            for person in mentioned.into_keys().filter(|p| !authors.contains(p)) {
                for asset in self
                    .c
                    .assets
                    .iter()
                    .filter(|a| a.paths.is_match(&change.path))
                {
                    credits.insert(Credit {
                        asset: asset.id.clone(),
                        person: person.clone(),
                        kind: "changelog_mention".into(),
                        authored: false,
                    });
                }
            }
        }
        fact.credits = credits.into_iter().collect();
        Ok(fact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("https://user:tok@host/x.git"),
            "https://***@host/x.git"
        );
        assert_eq!(redact_url("https://host/x.git"), "https://host/x.git");
    }
}
