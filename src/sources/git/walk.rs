//! The commits to mine: what the tip reaches and an older tip does not, in a fixed order.

use std::collections::HashSet;

use gix::ObjectId;

use super::odb::{Objects, Packs};
use super::pages::PackPages;
use super::{err, GitCollector};

/// The walk gives back the pack pages it has read every this many commits (see
/// [`Packs::release`], and [`PackPages`] for what gix itself maps): a walk over all history
/// otherwise keeps every page of the pack that holds a commit.
const RELEASE_EVERY: usize = 1_000;
use crate::collector::{CollectError, ErrorKind};

impl GitCollector {
    /// Commits the old tip reaches and the new one does not (rewritten history).
    pub(super) fn unreachable(
        &self,
        repo: &gix::Repository,
        packs: &Packs,
        old: ObjectId,
        tip: ObjectId,
    ) -> Result<Vec<String>, CollectError> {
        Ok(walk(repo, packs, old, Some(tip))?
            .into_iter()
            .map(|id| id.to_string())
            .collect())
    }
}

/// The commits `tip` reaches and `hidden` does not, newest first: gix's revision walk (breadth
/// first, every parent, a shallow clone's boundary respected), reading commits through
/// [`Objects`] so that the pack stays out of resident memory. A commit it cannot decode (no
/// author line, a time that overflows; `git log` shows such commits) makes it fail, and then a
/// tolerant walk that reads only `parent` lines and the committer time takes over, so one
/// malformed commit never blocks a source.
pub(super) fn walk(
    repo: &gix::Repository,
    packs: &Packs,
    tip: ObjectId,
    hidden: Option<ObjectId>,
) -> Result<Vec<ObjectId>, CollectError> {
    let pages = PackPages::new(repo);
    // Commits are read once each: no cache by id; the delta-base cache as the miners'.
    let objects = Objects::new(packs, repo, super::PACK_CACHE_BYTES, 0);
    let fast = || -> Result<Vec<ObjectId>, Box<dyn std::error::Error + Send + Sync>> {
        use gix::objs::FindExt;
        let shallow = repo.shallow_commits()?;
        let mut grafted_parents_to_skip: Vec<ObjectId> = Vec::new();
        let mut buf = Vec::new();
        // As gix's `Platform::selected`: past a shallow boundary commit, its (absent) parents
        // are not followed.
        let filter = |id: &gix::hash::oid| -> bool {
            let Some(commits) = shallow.as_ref() else {
                return true;
            };
            let id = id.to_owned();
            if let Ok(i) = grafted_parents_to_skip.binary_search(&id) {
                grafted_parents_to_skip.remove(i);
                return false;
            }
            if commits.binary_search(&id).is_ok() {
                if let Ok(commit) = objects.find_commit_iter(&id, &mut buf) {
                    grafted_parents_to_skip.extend(commit.parent_ids());
                    grafted_parents_to_skip.sort();
                }
            }
            true
        };
        let mut ids = Vec::new();
        let commits = gix::traverse::commit::Simple::filtered([tip], &objects, filter)
            .sorting(gix::traverse::commit::simple::Sorting::BreadthFirst)?
            .parents(gix::traverse::commit::Parents::All)
            .hide(hidden)?;
        for info in commits {
            ids.push(info?.id);
            if ids.len() % RELEASE_EVERY == 0 {
                packs.release();
            }
        }
        pages.release();
        Ok(ids)
    };
    let walked = fast();
    // The walk's sets of seen commits are freed; give their memory back after a long walk.
    // (Not after a short one: trimming a large heap costs 10-20 ms whatever was freed, more
    // than a walk over a few new commits.)
    if walked
        .as_ref()
        .map_or(true, |ids| ids.len() >= RELEASE_EVERY)
    {
        crate::trim_heap();
    }
    match walked {
        Ok(ids) => Ok(ids),
        Err(e) => {
            tracing::warn!(error = %e, "the history walk hit a commit it cannot decode; walking tolerantly");
            tolerant_walk(repo, tip, hidden)
        }
    }
}

/// The `parent` ids and the committer time of a raw commit object, reading nothing else.
fn commit_header(data: &[u8]) -> (Vec<ObjectId>, i64) {
    let mut parents = Vec::new();
    let mut time = 0;
    for line in data.split(|b| *b == b'\n') {
        if line.is_empty() {
            break;
        }
        if let Some(hex) = line.strip_prefix(b"parent ") {
            if let Ok(id) = ObjectId::from_hex(hex.trim_ascii()) {
                parents.push(id);
            }
        } else if let Some(rest) = line.strip_prefix(b"committer ") {
            // `Name <email> SECONDS ZONE`
            let mut fields = rest.rsplitn(3, |b| *b == b' ');
            let _zone = fields.next();
            time = fields
                .next()
                .and_then(|t| std::str::from_utf8(t).ok())
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(0);
        }
    }
    (parents, time)
}

fn tolerant_walk(
    repo: &gix::Repository,
    tip: ObjectId,
    hidden: Option<ObjectId>,
) -> Result<Vec<ObjectId>, CollectError> {
    let read = |id: ObjectId| -> Result<Option<(Vec<ObjectId>, i64)>, CollectError> {
        Ok(repo
            .try_find_object(id)
            .map_err(err(ErrorKind::RepositoryFailed, "walking history"))?
            .map(|o| commit_header(&o.data)))
    };
    let reach =
        |start: ObjectId, stop: &HashSet<ObjectId>| -> Result<Vec<(ObjectId, i64)>, CollectError> {
            let mut seen: HashSet<ObjectId> = HashSet::new();
            let mut queue = vec![start];
            let mut out = Vec::new();
            while let Some(id) = queue.pop() {
                if stop.contains(&id) || !seen.insert(id) {
                    continue;
                }
                // An absent parent (past a shallow boundary) ends that line of history.
                let Some((parents, time)) = read(id)? else {
                    continue;
                };
                out.push((id, time));
                queue.extend(parents);
            }
            Ok(out)
        };
    let hidden: HashSet<ObjectId> = match hidden {
        Some(h) => reach(h, &HashSet::new())?
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
        None => HashSet::new(),
    };
    let mut visible = reach(tip, &hidden)?;
    visible.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(visible.into_iter().map(|(id, _)| id).collect())
}
