//! Mining one commit: the files it changed, the assets and kinds of work they belong to, whom it
//! credits, whether it is empty or whitespace-only, and which earlier commits it reverts.

use std::collections::{BTreeMap, BTreeSet};

use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;
use gix::objs::Kind;
use gix::ObjectId;

use super::message::{self, TrailerRole};
use super::{err, rules, GitCollector};
use crate::collector::{CollectError, ErrorKind};
use crate::facts::{CommitFact, CommitOutcome, Credit, Person, Signer};
use crate::people::Who;

/// One side of a changed file: its blob and the kind of tree entry (regular, executable, link).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    pub id: ObjectId,
    pub kind: EntryKind,
}

/// One file a commit changed (gitlinks are never changes): the path and both sides.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: String,
    pub old: Option<Side>,
    pub new: Option<Side>,
}

/// State of one mining pass.
pub struct Miner<'a> {
    pub c: &'a GitCollector,
    pub repo: &'a gix::Repository,
    pub mailmap: &'a gix::mailmap::Snapshot,
    pub mention_names: &'a [(String, String)],
    /// Every person seen in this pass, by key.
    pub people: BTreeMap<String, Person>,
    /// Objects read from the packs without mapping them (see [`super::odb`]).
    pub objects: super::odb::Objects<'a>,
    pub diff_state: gix::diff::tree::State,
    /// When the collection started: later commit times are clamped to it (a commit dated in
    /// the future must not stay "recent" until then).
    pub now: i64,
    /// The boundary commits of a shallow clone (their parents are absent).
    pub shallow: &'a [ObjectId],
}

/// A resolved signature: who it is, and what mapped the written email to them.
struct Resolved {
    who: Who,
    via: &'static str,
}

fn is_regular(kind: EntryKind) -> bool {
    matches!(kind, EntryKind::Blob | EntryKind::BlobExecutable)
}

impl Miner<'_> {
    fn resolve(&mut self, name: &str, email: &str) -> Resolved {
        let sig = gix::actor::SignatureRef {
            name: name.as_bytes().as_bstr(),
            email: email.as_bytes().as_bstr(),
            time: "",
        };
        let mapped = self.mailmap.resolve_cow(sig);
        let (mapped_name, mapped_email) = (
            mapped.name.to_str_lossy().into_owned(),
            mapped.email.to_str_lossy().into_owned(),
        );
        let who = self.c.people.resolve(&mapped_name, &mapped_email);
        let via = match &who {
            Who::Person(p) if p.key != mapped_email && !mapped_email.is_empty() => "identity_file",
            _ if mapped_email != email || mapped_name != name => "mailmap",
            _ => "",
        };
        if let Who::Person(p) = &who {
            self.people
                .entry(p.key.clone())
                .or_insert_with(|| p.clone());
        }
        Resolved { who, via }
    }

    fn who(&mut self, name: &str, email: &str) -> Who {
        self.resolve(name, email).who
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

    /// An object's kind and data; `None` when it is absent (a partial, blobless clone).
    fn object(&self, id: ObjectId, what: &str) -> Result<Option<(Kind, Vec<u8>)>, CollectError> {
        let mut data = Vec::new();
        let kind = gix::objs::Find::try_find(&self.objects, &id, &mut data)
            .map_err(err(ErrorKind::RepositoryFailed, what))?
            .map(|d| d.kind);
        Ok(kind.map(|k| (k, data)))
    }

    /// An object that must be there and be of `kind`.
    fn expect(&self, id: ObjectId, kind: Kind, what: &str) -> Result<Vec<u8>, CollectError> {
        match self.object(id, what)? {
            Some((k, data)) if k == kind => Ok(data),
            Some((k, _)) => Err(CollectError::new(
                ErrorKind::RepositoryFailed,
                format!("{what}: object {id} is a {k}, not a {kind}"),
            )),
            None => Err(CollectError::new(
                ErrorKind::RepositoryFailed,
                format!("{what}: object {id} could not be found"),
            )),
        }
    }

    /// A blob's content; `None` when the object is absent (a partial, blobless clone).
    fn blob(&self, side: Option<Side>) -> Result<Option<Vec<u8>>, CollectError> {
        match side {
            Some(side) => Ok(self
                .object(side.id, "reading a blob")?
                .map(|(_, data)| data)),
            None => Ok(Some(Vec::new())),
        }
    }

    /// The files `commit` changed relative to its first parent (or to nothing, for a root).
    pub fn changes(&mut self, commit: &gix::Commit<'_>) -> Result<Vec<FileChange>, CollectError> {
        use gix::diff::tree::recorder::Change;
        let what = "diffing a commit";
        let e = err(ErrorKind::RepositoryFailed, what);
        let new_tree = self.expect(commit.tree_id().map_err(&e)?.detach(), Kind::Tree, what)?;
        let old_tree = match commit.parent_ids().next() {
            Some(parent) => {
                let parent = self.expect(parent.detach(), Kind::Commit, what)?;
                let tree = gix::objs::CommitRefIter::from_bytes(&parent, gix::hash::Kind::Sha1)
                    .tree_id()
                    .map_err(&e)?;
                self.expect(tree, Kind::Tree, what)?
            }
            None => Vec::new(),
        };
        let mut recorder = gix::diff::tree::Recorder::default();
        gix::diff::tree(
            gix::objs::TreeRefIter::from_bytes(&old_tree, gix::hash::Kind::Sha1),
            gix::objs::TreeRefIter::from_bytes(&new_tree, gix::hash::Kind::Sha1),
            &mut self.diff_state,
            &self.objects,
            &mut recorder,
        )
        .map_err(err(ErrorKind::RepositoryFailed, what))?;
        let file = |mode: gix::objs::tree::EntryMode, id: ObjectId| {
            let kind = mode.kind();
            (!matches!(kind, EntryKind::Tree | EntryKind::Commit)).then_some(Side { id, kind })
        };
        let mut out = Vec::new();
        for change in recorder.records {
            let (path, old, new) = match change {
                Change::Addition {
                    path,
                    entry_mode,
                    oid,
                    ..
                } => (path, None, file(entry_mode, oid)),
                Change::Deletion {
                    path,
                    entry_mode,
                    oid,
                    ..
                } => (path, file(entry_mode, oid), None),
                Change::Modification {
                    path,
                    previous_entry_mode,
                    previous_oid,
                    entry_mode,
                    oid,
                } => (
                    path,
                    file(previous_entry_mode, previous_oid),
                    file(entry_mode, oid),
                ),
            };
            if old.is_some() || new.is_some() {
                out.push(FileChange {
                    path: path.to_str_lossy().into_owned(),
                    old,
                    new,
                });
            }
        }
        Ok(out)
    }

    /// Whether every change keeps a regular file regular, with the same mode, and its content
    /// equal once all whitespace is removed. `None`: a blob needed to tell is absent.
    fn whitespace_only(&self, changes: &[FileChange]) -> Result<Option<bool>, CollectError> {
        for change in changes {
            let (Some(old), Some(new)) = (change.old, change.new) else {
                return Ok(Some(false));
            };
            if old.kind != new.kind || !is_regular(old.kind) {
                return Ok(Some(false));
            }
            let (Some(a), Some(b)) = (self.blob(Some(old))?, self.blob(Some(new))?) else {
                return Ok(None);
            };
            if !rules::same_but_whitespace(&a, &b) {
                return Ok(Some(false));
            }
        }
        Ok(Some(true))
    }

    /// The commits `commit` reverts: those its `This reverts commit` lines name that are its
    /// ancestors and changed at least one path it also changes.
    fn reverted(
        &mut self,
        id: ObjectId,
        message: &str,
        changes: &[FileChange],
    ) -> Result<Vec<String>, CollectError> {
        let mut targets = Vec::new();
        for named in message::reverted_commits(message) {
            let Some(target) = self.commit_named(named) else {
                continue;
            };
            if target == id || targets.contains(&target.to_string()) {
                continue;
            }
            // No common history found (or none readable, as past a shallow boundary): not an
            // ancestor, so not a revert.
            let ancestor = self.repo.merge_base(target, id).ok().flatten();
            if ancestor.map(|a| a.detach()) != Some(target) {
                continue;
            }
            let target_commit = self.repo.find_commit(target).map_err(err(
                ErrorKind::RepositoryFailed,
                "reading a reverted commit",
            ))?;
            let target_paths: BTreeSet<String> = self
                .changes(&target_commit)?
                .into_iter()
                .map(|c| c.path)
                .collect();
            if changes.iter().any(|c| target_paths.contains(&c.path)) {
                targets.push(target.to_string());
            }
        }
        Ok(targets)
    }

    /// The commit an id names (full or abbreviated, unambiguous), if there is one.
    fn commit_named(&self, named: &str) -> Option<ObjectId> {
        let id = if named.len() == 40 {
            ObjectId::from_hex(named.as_bytes()).ok()?
        } else {
            self.repo.rev_parse_single(named).ok()?.detach()
        };
        self.repo.find_commit(id).ok().map(|c| c.id)
    }

    pub fn commit(&mut self, id: ObjectId) -> Result<CommitFact, CollectError> {
        let commit = gix::Commit {
            id,
            data: self.expect(id, Kind::Commit, "reading a commit")?,
            repo: self.repo,
        };
        let mut fact = CommitFact {
            sha: id.to_string(),
            committed_at: self.now,
            outcome: CommitOutcome::Unreadable,
            assets: Vec::new(),
            credits: Vec::new(),
            reverts: Vec::new(),
            signers: Vec::new(),
            blobs_missing: false,
        };
        // A malformed commit (`git log` shows it; gix cannot decode all of it) is skipped and
        // counted, not allowed to stop the source for ever.
        let unreadable = |fact: CommitFact, what: &str, e: &dyn std::fmt::Display| {
            tracing::warn!(commit = %id, error = %e, "skipping a malformed commit: cannot read its {what}");
            Ok(fact)
        };
        let committed_at = match commit.time() {
            Ok(t) => t.seconds,
            Err(e) => return unreadable(fact, "committer time", &e),
        };
        let message = match commit.message_raw() {
            Ok(m) => m.to_str_lossy().into_owned(),
            Err(e) => return unreadable(fact, "message", &e),
        };
        let author = match commit.author() {
            Ok(a) => a,
            Err(e) => return unreadable(fact, "author", &e),
        };
        fact.committed_at = committed_at.min(self.now);
        fact.outcome = CommitOutcome::Credited;
        // A merge's work is credited on the commits it brings in.
        if commit.parent_ids().count() > 1 {
            fact.outcome = CommitOutcome::Merge;
            return Ok(fact);
        }
        // The oldest commit of a shallow clone has no parent to diff against.
        if self.shallow.contains(&id) && commit.parent_ids().next().is_some() {
            fact.outcome = CommitOutcome::ShallowBoundary;
            return Ok(fact);
        }
        let (author_name, author_email) = (
            author.name.to_str_lossy().into_owned(),
            author.email.to_str_lossy().into_owned(),
        );
        let author = self.resolve(&author_name, &author_email);
        let author_key = match &author.who {
            Who::Person(p) => {
                fact.signers.push(Signer {
                    person: p.key.clone(),
                    name: p.name.clone(),
                    raw_email: author_email.clone(),
                    via: author.via.to_string(),
                });
                Some(p.key.clone())
            }
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
        fact.reverts = self.reverted(id, &message, &changes)?;
        // Which assets the commit touched and, per asset, the kinds of work it did there.
        let mut kinds: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut scratch = Vec::new();
        // A path's kind under each distinct set of rules, worked out once per path.
        let mut kind_of: Vec<(usize, &str)> = Vec::new();
        for change in &changes {
            kind_of.clear();
            for i in self.c.asset_paths.assets(&change.path, &mut scratch) {
                let asset = &self.c.assets[i];
                let kind = match kind_of.iter().find(|(c, _)| *c == asset.kinds) {
                    Some((_, kind)) => *kind,
                    None => {
                        let kind = self.c.classifiers[asset.kinds].kind(&change.path);
                        kind_of.push((asset.kinds, kind));
                        kind
                    }
                };
                kinds.entry(&asset.id).or_default().insert(kind);
            }
        }
        fact.assets = kinds.keys().map(|a| a.to_string()).collect();

        let mut authors: Vec<String> = author_key.iter().cloned().collect();
        let mut others: Vec<(String, &'static str)> = Vec::new();
        for trailer in message::trailers(&message) {
            let Some(role) = message::trailer_role(&trailer.token) else {
                continue;
            };
            let Some(named) = message::parse_identity(&trailer.value) else {
                continue;
            };
            // A trailer names someone by email or by @handle, as GitHub requires; a bare name
            // ("Co-authored-by: Ann, with help") is too loose to credit anyone.
            let resolved = match named.name.strip_prefix('@') {
                Some(handle) if named.email.is_empty() => Resolved {
                    who: self.who_by_handle(handle),
                    via: "",
                },
                _ if named.email.is_empty() => continue,
                _ => self.resolve(&named.name, &named.email),
            };
            let Who::Person(p) = resolved.who else {
                continue;
            };
            match role {
                TrailerRole::CoAuthor if !authors.contains(&p.key) => {
                    fact.signers.push(Signer {
                        person: p.key.clone(),
                        name: p.name.clone(),
                        raw_email: named.email.clone(),
                        via: resolved.via.to_string(),
                    });
                    authors.push(p.key);
                }
                TrailerRole::CoAuthor => {}
                // Reviewing, testing or reporting your own commit earns nothing.
                TrailerRole::Credit(kind) if Some(&p.key) != author_key.as_ref() => {
                    others.push((p.key, kind))
                }
                TrailerRole::Credit(_) => {}
            }
        }

        // A bot's commit is routine work: nobody earns credit from it, its human co-authors
        // and reviewers included (they are still people whose names count).
        if fact.outcome == CommitOutcome::Bot {
            return Ok(fact);
        }
        let uncredited = |fact: &mut CommitFact, outcome| {
            if fact.outcome == CommitOutcome::Credited {
                fact.outcome = outcome;
            }
        };
        if changes.is_empty() {
            uncredited(&mut fact, CommitOutcome::Empty);
            return Ok(fact);
        }
        match self.whitespace_only(&changes)? {
            Some(true) => {
                uncredited(&mut fact, CommitOutcome::WhitespaceOnly);
                return Ok(fact);
            }
            Some(false) => {}
            // Without the blobs the check cannot be made: the commit is credited as it stands.
            None => fact.blobs_missing = true,
        }

        let mut credits: BTreeSet<Credit> = BTreeSet::new();
        for (asset, asset_kinds) in &kinds {
            for person in &authors {
                for kind in asset_kinds {
                    credits.insert(Credit {
                        asset: asset.to_string(),
                        person: person.clone(),
                        kind: kind.to_string(),
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
        if !fact.blobs_missing {
            self.changelog_mentions(&changes, &authors, &mut credits, &mut fact.blobs_missing)?;
        }
        fact.credits = credits.into_iter().collect();
        Ok(fact)
    }

    /// One `changelog_mention` per person newly named in a changelog the commit changed (by
    /// canonical name or @handle), on each asset the changelog belongs to; authors excluded.
    fn changelog_mentions(
        &mut self,
        changes: &[FileChange],
        authors: &[String],
        credits: &mut BTreeSet<Credit>,
        blobs_missing: &mut bool,
    ) -> Result<(), CollectError> {
        for change in changes
            .iter()
            .filter(|c| c.new.is_some() && self.c.changelog.is_match(&c.path))
        {
            let (Some(old), Some(new)) = (self.blob(change.old)?, self.blob(change.new)?) else {
                *blobs_missing = true;
                continue;
            };
            let (old, new) = (String::from_utf8_lossy(&old), String::from_utf8_lossy(&new));
            let mut mentioned: BTreeSet<String> = BTreeSet::new();
            for line in rules::added_lines(&old, &new) {
                for handle in message::handles(line) {
                    if let Who::Person(p) = self.who_by_handle(handle) {
                        mentioned.insert(p.key);
                    }
                }
                for (name, email) in self.mention_names {
                    if message::mentions_name(line, name) {
                        if let Who::Person(p) = self.who(name, email) {
                            mentioned.insert(p.key);
                        }
                    }
                }
            }
            let assets = self.c.asset_paths.assets(&change.path, &mut Vec::new());
            for person in mentioned.iter().filter(|p| !authors.contains(p)) {
                for &i in &assets {
                    credits.insert(Credit {
                        asset: self.c.assets[i].id.clone(),
                        person: person.clone(),
                        kind: "changelog_mention".into(),
                        authored: false,
                    });
                }
            }
        }
        Ok(())
    }
}
