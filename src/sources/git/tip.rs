//! What the branch tip says: `.mailmap`, CODEOWNERS, the files of each asset, and its Backstage
//! catalog files.

use std::collections::{BTreeMap, BTreeSet};

use gix::bstr::ByteSlice;
use gix::ObjectId;

use super::backstage;
use super::codeowners::{self, CodeOwners};
use super::{err, GitCollector};
use crate::collector::{CollectError, ErrorKind};
use crate::facts::{OwnershipSnapshot, RegistrySnapshot};

impl GitCollector {
    /// `.mailmap` as the mined branch has it at its tip, and its raw content.
    pub(super) fn mailmap(
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
    pub(super) fn mention_names(&self, mailmap: &gix::mailmap::Snapshot) -> Vec<(String, String)> {
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

    /// Ownership as CODEOWNERS states it at the tip, the number of files of each asset there,
    /// and the entities of its Backstage catalog files (an empty snapshot when they are not
    /// read). The tally of the last tip taken is kept: the next tip's comes from the paths that
    /// changed between the two trees, unless CODEOWNERS or a catalog file is among them (then
    /// the whole tip is read, as it is when nothing is kept).
    pub(super) fn tip_snapshot(
        &self,
        repo: &gix::Repository,
        packs: &super::odb::Packs,
        tip: ObjectId,
    ) -> Result<(OwnershipSnapshot, RegistrySnapshot), CollectError> {
        let mut kept = self
            .tip_state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = std::time::Instant::now();
        // Taken out: a tally left half-updated by an error is never used again.
        let (state, how) = match kept.take() {
            Some(state) if state.tip == tip => (state, "kept"),
            Some(state) => match self.advance(repo, packs, state, tip)? {
                Some(state) => (state, "brought forward"),
                None => (self.whole_tip(repo, packs, tip)?, "read whole"),
            },
            None => (self.whole_tip(repo, packs, tip)?, "read whole"),
        };
        tracing::debug!(source = %self.name, how, seconds = started.elapsed().as_secs_f64(), "tip snapshot");
        for problem in &state.problems {
            tracing::warn!(source = %self.name, "Backstage catalog: {problem}");
        }
        let snapshot = (state.ownership(), state.entities.clone());
        *kept = Some(state);
        Ok(snapshot)
    }

    /// The tally of `tip` from its whole tree.
    pub(super) fn whole_tip(
        &self,
        repo: &gix::Repository,
        packs: &super::odb::Packs,
        tip: ObjectId,
    ) -> Result<TipState, CollectError> {
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
        let mut state = TipState {
            tip,
            tree: tree.id,
            owners: text.as_deref().map(CodeOwners::parse),
            files: self.assets.iter().map(|a| (a.id.clone(), 0)).collect(),
            owned: BTreeMap::new(),
            entities: RegistrySnapshot::default(),
            problems: Vec::new(),
        };
        let mut recorder = gix::traverse::tree::Recorder::default();
        // Every tree of the tip, read without mapping the packs (see `odb`).
        gix::traverse::tree::breadthfirst(
            gix::objs::TreeRefIter::from_bytes(&tree.data, repo.object_hash()),
            gix::traverse::tree::breadthfirst::State::default(),
            super::odb::Objects::new(packs, repo, super::PACK_CACHE_BYTES, 0),
            &mut recorder,
        )
        .map_err(err(ErrorKind::RepositoryFailed, "listing files"))?;
        let mut scratch = Vec::new();
        let mut catalog_files = Vec::new();
        for entry in recorder
            .records
            .iter()
            .filter(|e| !e.mode.is_tree() && !e.mode.is_commit())
        {
            let path = entry.filepath.to_str_lossy();
            if self.backstage && entry.mode.is_blob() && backstage::is_catalog_file(&path) {
                catalog_files.push(path.to_string());
            }
            self.tally(&mut state, &path, true, &mut scratch);
        }
        let mut read = Vec::new();
        for path in catalog_files {
            if let Some(data) = blob_at(&tree, &path)? {
                read.push((path, data));
            }
        }
        (state.entities, state.problems) = backstage::read(&read);
        Ok(state)
    }

    /// `state` (the tally of another tip) brought to `tip` through the paths that differ
    /// between their trees; `None` when that is not enough (CODEOWNERS or a Backstage catalog
    /// file changed, or the tally and the trees disagree).
    fn advance(
        &self,
        repo: &gix::Repository,
        packs: &super::odb::Packs,
        mut state: TipState,
        tip: ObjectId,
    ) -> Result<Option<TipState>, CollectError> {
        use gix::diff::tree::recorder::Change;
        let what = "diffing the tip with the last one";
        let objects = super::odb::Objects::new(packs, repo, super::PACK_CACHE_BYTES, 0);
        let tree_of = |id: ObjectId, kind| -> Result<Vec<u8>, CollectError> {
            let mut buf = Vec::new();
            match gix::objs::Find::try_find(&objects, &id, &mut buf) {
                Ok(Some(data)) if data.kind == kind => Ok(data.data.to_vec()),
                Ok(_) => Err(CollectError::new(
                    ErrorKind::RepositoryFailed,
                    format!("{what}: object {id} is missing or not a {kind}"),
                )),
                Err(e) => Err(CollectError::new(
                    ErrorKind::RepositoryFailed,
                    format!("{what}: {e}"),
                )),
            }
        };
        let commit = tree_of(tip, gix::objs::Kind::Commit)?;
        let tree = gix::objs::CommitRefIter::from_bytes(&commit, repo.object_hash())
            .tree_id()
            .map_err(err(ErrorKind::RepositoryFailed, what))?;
        let (old, new) = (
            tree_of(state.tree, gix::objs::Kind::Tree)?,
            tree_of(tree, gix::objs::Kind::Tree)?,
        );
        let mut recorder = gix::diff::tree::Recorder::default();
        gix::diff::tree(
            gix::objs::TreeRefIter::from_bytes(&old, repo.object_hash()),
            gix::objs::TreeRefIter::from_bytes(&new, repo.object_hash()),
            &mut gix::diff::tree::State::default(),
            &objects,
            &mut recorder,
        )
        .map_err(err(ErrorKind::RepositoryFailed, what))?;
        let file = |mode: gix::objs::tree::EntryMode| !mode.is_tree() && !mode.is_commit();
        let mut scratch = Vec::new();
        for change in &recorder.records {
            let (path, old, new) = match change {
                Change::Addition {
                    path, entry_mode, ..
                } => (path, None, Some(*entry_mode)),
                Change::Deletion {
                    path, entry_mode, ..
                } => (path, Some(*entry_mode), None),
                Change::Modification {
                    path,
                    previous_entry_mode,
                    entry_mode,
                    ..
                } => (path, Some(*previous_entry_mode), Some(*entry_mode)),
            };
            let path = path.to_str_lossy();
            if codeowners::LOCATIONS.contains(&path.as_ref())
                || (self.backstage && backstage::is_catalog_file(&path))
            {
                return Ok(None);
            }
            if old.is_some_and(file) && !self.tally(&mut state, &path, false, &mut scratch) {
                return Ok(None);
            }
            if new.is_some_and(file) {
                self.tally(&mut state, &path, true, &mut scratch);
            }
        }
        state.tip = tip;
        state.tree = tree;
        Ok(Some(state))
    }

    /// Counts the file at `path` into `state` (`add`) or out of it; false when it was not
    /// counted in.
    fn tally(&self, state: &mut TipState, path: &str, add: bool, scratch: &mut Vec<usize>) -> bool {
        let owners = state
            .owners
            .as_ref()
            .and_then(|o| o.owners(path))
            .filter(|o| !o.is_empty())
            .map(|o| o.join(","));
        let step = |n: &mut u64| match add {
            true => {
                *n += 1;
                true
            }
            false => n.checked_sub(1).map(|m| *n = m).is_some(),
        };
        for i in self.asset_paths.assets(path, scratch) {
            let asset = &self.assets[i].id;
            if !step(state.files.entry(asset.clone()).or_default()) {
                return false;
            }
            if let Some(owners) = &owners {
                let counts = state.owned.entry(asset.clone()).or_default();
                if !step(counts.entry(owners.clone()).or_default()) {
                    return false;
                }
                counts.retain(|_, n| *n > 0);
                if counts.is_empty() {
                    state.owned.remove(asset);
                }
            }
        }
        true
    }
}

/// What the collector keeps of the last tip whose snapshot it took: the files of each asset,
/// counted per owner string, so that the next snapshot reads only what changed.
pub(super) struct TipState {
    tip: ObjectId,
    tree: ObjectId,
    owners: Option<CodeOwners>,
    /// Files per asset id (every configured asset, zero included).
    files: BTreeMap<String, u64>,
    /// Per asset id, its files per owner string (owners joined with `,`); only counts above 0.
    owned: BTreeMap<String, BTreeMap<String, u64>>,
    entities: RegistrySnapshot,
    /// What reading the Backstage catalog files found wrong.
    problems: Vec<String>,
}

impl TipState {
    fn ownership(&self) -> OwnershipSnapshot {
        let asset_files = self.files.iter().map(|(a, n)| (a.clone(), *n)).collect();
        match &self.owners {
            Some(owners) => OwnershipSnapshot {
                asset_files,
                asset_owners: self
                    .owned
                    .iter()
                    .map(|(a, counts)| (a.clone(), counts.keys().cloned().collect()))
                    .collect(),
                default_owners: owners
                    .default_owners
                    .as_ref()
                    .filter(|o| !o.is_empty())
                    .map(|o| o.join(",")),
                invalid_lines: owners.invalid.clone(),
            },
            None => OwnershipSnapshot {
                asset_files,
                ..OwnershipSnapshot::default()
            },
        }
    }
}

/// The content of the blob at `path` in `tree`, if there is one and its content is present (a
/// partial clone may lack it; it is then treated as absent, and logged).
pub(super) fn blob_at(tree: &gix::Tree<'_>, path: &str) -> Result<Option<Vec<u8>>, CollectError> {
    let entry = tree
        .lookup_entry_by_path(path)
        .map_err(err(ErrorKind::RepositoryFailed, "looking up a path"))?;
    let Some(entry) = entry.filter(|e| e.mode().is_blob()) else {
        return Ok(None);
    };
    let object = tree
        .repo
        .try_find_object(entry.oid())
        .map_err(err(ErrorKind::RepositoryFailed, "reading a blob"))?;
    if object.is_none() {
        tracing::warn!(
            path,
            "the file's content is absent (partial clone); read as missing"
        );
    }
    Ok(object.map(|o| o.detach().data))
}

#[cfg(test)]
mod tests {
    use super::super::odb::tests::git;
    use super::*;
    use std::path::Path;

    fn collector(dir: &Path) -> GitCollector {
        let text = format!(
            "sources:\n  - name: repo\n    type: git\n    path: {}\ncatalog:\n\
             \x20 - {{id: a0, kind: library, repository: repo, paths: [\"assets/a0/**\"]}}\n\
             \x20 - {{id: a1, kind: model, repository: repo, paths: [\"assets/a1/**\", \"**/*.md\"]}}\n\
             \x20 - {{id: a2, kind: pipeline, repository: repo, paths: [\"assets/a2/**\", \"assets/a0/x/**\"]}}\n\
             \x20 - {{id: none, kind: library, repository: repo, paths: [\"nowhere/**\"]}}\n",
            dir.display()
        );
        let config = crate::sources::parse_config(Path::new("c.yaml"), &text, &|_| None).unwrap();
        let settings = super::super::GitSettings {
            location: super::super::GitLocation::Path(dir.to_path_buf()),
            branch: None,
            path_kinds: Vec::new(),
            changelog_paths: None,
            backstage: true,
            path_at: None,
            branch_at: None,
            keep_packs: true,
        };
        GitCollector::new(&config, "repo", &settings, dir).unwrap()
    }

    const CODEOWNERS: &[&str] = &[
        "* @org/all\nassets/a0/ @org/zero\n*.py @py-people\n",
        "/assets/a1/** @one @two\n[bad] @x\nassets/a2/*.txt\n",
        "docs/ @writers\n**/x/ @org/x\n",
    ];

    /// Random sequences of commits (files added, changed, deleted and moved, files becoming
    /// directories and back, symlinks, submodule entries, CODEOWNERS and a Backstage catalog
    /// file changing now and then, the branch moving back): the tally brought forward from the
    /// previous tip through the changed paths equals the tally of the whole tip, and it is
    /// brought forward (not read whole) whenever neither CODEOWNERS nor a catalog file changed.
    #[test]
    fn a_tip_brought_forward_through_its_changes_equals_the_whole_tip() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("README.md"), "hello\n").unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", "root"]);
        let collector = collector(dir);
        let mut rng = fastrand::Rng::with_seed(19);
        let dirs = [
            "assets/a0",
            "assets/a0/x",
            "assets/a1",
            "assets/a1/docs",
            "assets/a2",
            "docs",
            "other",
        ];
        let names = ["f.txt", "g.py", "h.md", "catalog-info.yaml"];
        let (mut advanced, mut whole) = (0, 0);
        let mut tips: Vec<String> = Vec::new();
        for step in 0..120 {
            for _ in 0..rng.usize(1..4) {
                let d = dir.join(dirs[rng.usize(..dirs.len())]);
                let name = names[rng.usize(..names.len() - 1)];
                match rng.u8(..40) {
                    0..=17 => {
                        std::fs::create_dir_all(&d).unwrap();
                        let f = d.join(name);
                        if f.is_dir() {
                            std::fs::remove_dir_all(&f).unwrap();
                        }
                        std::fs::write(f, format!("{step}\n")).unwrap();
                    }
                    18..=23 => {
                        let _ = std::fs::remove_file(d.join(name));
                    }
                    24..=26 => {
                        // A file becomes a directory.
                        let f = d.join(name);
                        let _ = std::fs::remove_file(&f);
                        std::fs::create_dir_all(&f).unwrap();
                        std::fs::write(f.join("inner.txt"), "in\n").unwrap();
                    }
                    27..=29 => {
                        // A directory moves, or becomes a file.
                        if d.is_dir() {
                            let to = dir.join(dirs[rng.usize(..dirs.len())]).join("moved");
                            if !to.starts_with(&d) {
                                let _ = std::fs::remove_dir_all(&to);
                                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                                std::fs::rename(&d, &to).unwrap();
                            }
                        }
                    }
                    30 | 31 => {
                        std::fs::create_dir_all(&d).unwrap();
                        let link = d.join("link.txt");
                        let _ = std::fs::remove_file(&link);
                        std::os::unix::fs::symlink("f.txt", link).unwrap();
                    }
                    32 | 33 => {
                        let sub = format!(
                            "{}/sub{step}",
                            dirs[rng.usize(..dirs.len())].trim_start_matches('/')
                        );
                        let head = git(dir, &["rev-parse", "HEAD"]);
                        git(
                            dir,
                            &[
                                "update-index",
                                "--add",
                                "--cacheinfo",
                                &format!("160000,{},{sub}", head.trim()),
                            ],
                        );
                    }
                    34 => {
                        let at =
                            ["CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS"][rng.usize(..3)];
                        let f = dir.join(at);
                        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                        if f.is_file() && rng.bool() {
                            std::fs::remove_file(f).unwrap();
                        } else {
                            let text = CODEOWNERS[rng.usize(..CODEOWNERS.len())];
                            std::fs::write(f, text).unwrap();
                        }
                    }
                    35 => {
                        std::fs::create_dir_all(&d).unwrap();
                        std::fs::write(
                            d.join("catalog-info.yaml"),
                            format!(
                                "apiVersion: backstage.io/v1alpha1\nkind: Component\n\
                                 metadata:\n  name: c{step}\nspec:\n  owner: team-{step}\n"
                            ),
                        )
                        .unwrap();
                    }
                    _ => {
                        // The branch moves back (a force push), to a tip seen before.
                        if let Some(old) = tips.get(rng.usize(..tips.len().max(1))) {
                            git(dir, &["reset", "-q", "--hard", old.as_str()]);
                        }
                    }
                }
            }
            git(dir, &["add", "-A"]);
            git(
                dir,
                &["commit", "-q", "--allow-empty", "-m", &format!("s{step}")],
            );
            let tip = git(dir, &["rev-parse", "HEAD"]).trim().to_string();
            tips.push(tip.clone());
            let repo = gix::open(dir).unwrap();
            let packs = super::super::odb::Packs::open(&repo);
            let id = ObjectId::from_hex(tip.as_bytes()).unwrap();
            let expected = collector.whole_tip(&repo, &packs, id).unwrap();
            if tips.len() > 1 {
                // Mostly the tip before, as collections go; now and then an older one.
                let from = match rng.u8(..4) {
                    0 => &tips[rng.usize(..tips.len() - 1)],
                    _ => &tips[tips.len() - 2],
                };
                let from = ObjectId::from_hex(from.as_bytes()).unwrap();
                let earlier = collector.whole_tip(&repo, &packs, from).unwrap();
                match collector.advance(&repo, &packs, earlier, id).unwrap() {
                    Some(state) => {
                        advanced += 1;
                        assert_eq!(state.ownership(), expected.ownership(), "step {step}");
                        assert_eq!(state.entities, expected.entities, "step {step}");
                        assert_eq!(state.tree, expected.tree);
                    }
                    None => whole += 1,
                }
            }
            // Through the kept tally, as collections take it.
            let (ownership, entities) = collector.tip_snapshot(&repo, &packs, id).unwrap();
            assert_eq!(ownership, expected.ownership(), "step {step}");
            assert_eq!(entities, expected.entities, "step {step}");
        }
        assert!(
            advanced > 60,
            "brought forward {advanced} times, read whole {whole}"
        );
        assert!(
            whole > 0,
            "CODEOWNERS and catalog changes read the whole tip"
        );
    }
}
