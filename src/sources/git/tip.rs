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
    /// read).
    pub(super) fn tip_snapshot(
        &self,
        repo: &gix::Repository,
        packs: &super::odb::Packs,
        tip: ObjectId,
    ) -> Result<(OwnershipSnapshot, RegistrySnapshot), CollectError> {
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
        let owners = text.as_deref().map(CodeOwners::parse);
        let mut recorder = gix::traverse::tree::Recorder::default();
        // Every tree of the tip, read without mapping the packs (see `odb`).
        gix::traverse::tree::breadthfirst(
            gix::objs::TreeRefIter::from_bytes(&tree.data, repo.object_hash()),
            gix::traverse::tree::breadthfirst::State::default(),
            super::odb::Objects::new(packs, repo, super::PACK_CACHE_BYTES, 0),
            &mut recorder,
        )
        .map_err(err(ErrorKind::RepositoryFailed, "listing files"))?;
        let mut per_asset: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let mut files: BTreeMap<&str, u64> =
            self.assets.iter().map(|a| (a.id.as_str(), 0)).collect();
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
            let file_owners = owners
                .as_ref()
                .and_then(|o| o.owners(&path))
                .filter(|o| !o.is_empty());
            for i in self.asset_paths.assets(&path, &mut scratch) {
                let asset = &self.assets[i];
                *files.entry(&asset.id).or_default() += 1;
                if let Some(file_owners) = file_owners {
                    per_asset
                        .entry(&asset.id)
                        .or_default()
                        .insert(file_owners.join(","));
                }
            }
        }
        let files: Vec<(String, u64)> =
            files.into_iter().map(|(a, n)| (a.to_string(), n)).collect();
        let mut read = Vec::new();
        for path in catalog_files {
            if let Some(data) = blob_at(&tree, &path)? {
                read.push((path, data));
            }
        }
        let (entities, problems) = backstage::read(&read);
        for problem in problems {
            tracing::warn!(source = %self.name, "Backstage catalog: {problem}");
        }
        let ownership = match owners {
            Some(owners) => OwnershipSnapshot {
                asset_files: files,
                asset_owners: per_asset
                    .into_iter()
                    .map(|(a, s)| (a.to_string(), s.into_iter().collect()))
                    .collect(),
                default_owners: owners
                    .default_owners
                    .filter(|o| !o.is_empty())
                    .map(|o| o.join(",")),
                invalid_lines: owners.invalid,
            },
            None => OwnershipSnapshot {
                asset_files: files,
                ..OwnershipSnapshot::default()
            },
        };
        Ok((ownership, entities))
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
