//! The `git` source: contributions, credits and ownership mined from a repository's history.
//!
//! A collection opens the repository (or fetches its mirror), walks the commits that are new
//! since the cursor's tip, and turns each into a [`CommitFact`]: which assets it touched, whom it
//! credits for which kinds of work, and whether it reverts another commit. Rewritten history
//! shows up as commits reachable from the old tip but not the new one; they are reported as
//! dropped. Everything that shapes facts (rules, catalog, identities) is fingerprinted: when the
//! fingerprint changes, the repository is mined again from scratch.

pub mod backstage;
mod codeowners;
pub mod message;
mod mine;
mod mirror;
mod odb;
mod pages;
pub mod settings;
mod tip;
mod todo;
mod walk;

pub use mirror::{mirror_name, redact_url};
pub mod rules;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use gix::ObjectId;
use globset::GlobSet;
use sha2::{Digest, Sha256};

use crate::collector::{CollectContext, CollectError, ErrorKind};
use crate::config::KindRule;
use crate::facts::{Collection, CommitFact, Cursors, FactSet, GitHistory, Person};
use crate::hex;
use crate::people::People;
use crate::sources::{Collecting, Config, KindSettings, Source};
use mine::Miner;
use rules::{AssetMatcher, KindClassifier};
pub use settings::{GitLocation, GitSettings};

/// The `git` source kind.
pub const KIND: crate::sources::Kind = crate::sources::Kind {
    name: "git",
    keys: &[settings::KEYS],
    decode: |s| crate::sources::settings(settings::decode(s)),
};

/// Bump when the meaning of mined facts changes, so stored facts are mined again.
const FACTS_VERSION: u32 = 2;
pub const CURSOR_TIP: &str = "tip";
pub const CURSOR_FINGERPRINT: &str = "fingerprint";
/// The tip whose files, owners and catalog entities are stored, and the settings that shaped
/// them beyond the fingerprint's (reading Backstage files or not).
const CURSOR_SNAPSHOT: &str = "tip_snapshot";
/// While a mine is unfinished: the tip it mines, the old tip it stops at ('' for all history),
/// and how many commits of its walk are stored, counted from the oldest. (Earlier versions mined
/// newest first and counted under `mining_done`; such a cursor is ignored, so an upgrade in the
/// middle of a mine starts that mine again rather than misreading its progress.)
const CURSOR_MINING_TARGET: &str = "mining_target";
const CURSOR_MINING_BASE: &str = "mining_base";
const CURSOR_MINING_DONE: &str = "mining_done_from_oldest";
/// A long mine is stored in batches of this many commits, so the facts held in memory do not
/// grow with history and progress survives timeouts, restarts and `kill -9` (a cancelled batch
/// stores the commits it finished first).
const BATCH_COMMITS: usize = 5_000;
/// The decoded-object cache of each mining thread.
const OBJECT_CACHE_BYTES: usize = 4 * 1024 * 1024;
/// The delta-base cache of each mining thread: resolved pack entries by pack offset, so that a
/// tree or blob stored as a delta on the version just resolved costs one delta instead of its
/// whole chain. Measured (2026-12-07): on the wide benchmark repository (chains of up to 50
/// deltas, 9,600 files changed at random; 3 runs each) 4 MiB took 0.89 of 1 MiB's time, 8 and
/// 16 MiB no less than 4; on curl's history (2 runs each) 4 MiB took 0.93 of 1 MiB's time and
/// 8 MiB the same.
const PACK_CACHE_BYTES: usize = 4 * 1024 * 1024;

/// Mining at least this many commits frees enough to give back to the system
/// ([`crate::trim_heap`]); fewer do not, and trimming a large heap (after a first mine of
/// millions of commits) costs 10-20 ms whatever was freed.
const TRIM_AFTER_COMMITS: usize = 1_000;
/// Commits a mining thread takes at a time; a batch is shared out in such pieces.
const PIECE_COMMITS: usize = 64;
/// Every this many pieces, the pack pages mining read are given back ([`odb::Packs::release`]):
/// resident pack pages then stay at what about a thousand commits touch, however long the
/// history (a batch of a long history's commits touches tens of MiB).
const RELEASE_PIECES: usize = 16;
/// Tree diffs and blob reads run on this many threads at most (fewer when the machine has
/// fewer cores).
const MAX_MINING_THREADS: usize = 4;

/// What every mining thread reads.
struct Shared<'a> {
    repo: &'a gix::ThreadSafeRepository,
    mailmap: &'a gix::mailmap::Snapshot,
    mention_names: &'a [(String, String)],
    cancel: &'a AtomicBool,
    now: i64,
    shallow: &'a [ObjectId],
    packs: &'a odb::Packs,
}

/// The commits of one batch, in the order given, and the people they named.
struct Mined {
    commits: Vec<CommitFact>,
    people: BTreeMap<String, Person>,
    /// False when cancelled: `commits` is then the finished prefix.
    complete: bool,
}

/// One asset as this repository sees it: which files are its and what kind each file is.
#[derive(Debug)]
struct AssetRules {
    id: String,
    /// Index into [`GitCollector::classifiers`]: assets with the same rules share one.
    kinds: usize,
    from_catalog: bool,
}

pub struct GitCollector {
    name: String,
    location: GitLocation,
    /// For `url` sources: the bare mirror in the storage directory.
    mirror: Option<PathBuf>,
    branch: Option<String>,
    people: People,
    assets: Vec<AssetRules>,
    /// The distinct kind rules of `assets` (usually one: the organisation's and the defaults).
    classifiers: Vec<std::sync::Arc<KindClassifier>>,
    /// Which of `assets` a path belongs to.
    asset_paths: AssetMatcher,
    changelog: std::sync::Arc<GlobSet>,
    fingerprint: String,
    /// Read Backstage catalog files at the tip.
    backstage: bool,
    /// The tally of the last tip whose snapshot was taken (see [`GitCollector::tip_snapshot`]).
    tip_state: std::sync::Mutex<Option<tip::TipState>>,
    /// The repository's packs as the last collection opened them.
    packs: std::sync::Mutex<odb::OpenedPacks>,
    /// Whether `packs` is kept between collections ([`GitSettings::keep_packs`]).
    keep_packs: bool,
}

pub(super) fn err<E: std::fmt::Display>(
    kind: ErrorKind,
    context: &str,
) -> impl Fn(E) -> CollectError + '_ {
    move |e| CollectError::new(kind, format!("{context}: {e}"))
}

/// The git source: mining runs on a blocking thread, which the collection's cancellation
/// token stops through the flag gix and the miner poll.
pub struct GitSource {
    miner: Arc<GitCollector>,
    settings: GitSettings,
}

impl KindSettings for GitSettings {
    fn build(
        &self,
        config: &Config,
        name: &str,
        storage_dir: &Path,
    ) -> anyhow::Result<Box<dyn Source>> {
        Ok(Box::new(GitSource {
            miner: Arc::new(GitCollector::new(config, name, self, storage_dir)?),
            settings: self.clone(),
        }))
    }
}

impl Source for GitSource {
    fn collect<'a>(&'a self, ctx: &'a CollectContext) -> Collecting<'a> {
        let miner = self.miner.clone();
        let owned = ctx.clone();
        let flag = Arc::new(AtomicBool::new(false));
        let seen = flag.clone();
        Box::pin(async move {
            let mut mining = tokio::task::spawn_blocking(move || miner.collect(&owned, &seen));
            let joined = tokio::select! {
                joined = &mut mining => joined,
                _ = ctx.cancel.cancelled() => {
                    // The miner stores the commits it finished, then stops.
                    flag.store(true, Ordering::SeqCst);
                    mining.await
                }
            };
            joined.unwrap_or_else(|e| Err(crate::collector::join_error(e)))
        })
    }

    fn check_local(&self) -> Result<(), (Option<crate::config::At>, String)> {
        self.miner.check_local().map_err(|(repository, message)| {
            let at = match &self.settings.branch_at {
                Some(branch) if !repository => Some(branch.clone()),
                _ => self.settings.path_at.clone(),
            };
            (at, message)
        })
    }
}

impl GitCollector {
    pub fn new(
        config: &Config,
        name: &str,
        git: &GitSettings,
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
        let mut asset_paths: Vec<Vec<String>> = Vec::new();
        let mut classifiers = Vec::new();
        let mut chains: Vec<Vec<KindRule>> = Vec::new();
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
            let index = match chains.iter().position(|c| *c == kinds) {
                Some(i) => i,
                None => {
                    classifiers.push(KindClassifier::shared(&kinds)?);
                    chains.push(kinds);
                    chains.len() - 1
                }
            };
            assets.push(AssetRules {
                id: a.id.clone(),
                kinds: index,
                from_catalog: !a.implicit,
            });
            asset_paths.push(a.paths.clone());
        }
        let changelog_paths = git
            .changelog_paths
            .clone()
            .unwrap_or_else(|| config.recognition.changelog_paths.clone());
        shape.push_str(&format!("{changelog_paths:?}"));
        let mirror = match &git.location {
            GitLocation::Url { .. } => Some(storage_dir.join("git").join(mirror_name(name))),
            GitLocation::Path(_) => None,
        };
        Ok(GitCollector {
            name: name.to_string(),
            location: git.location.clone(),
            mirror,
            branch: git.branch.clone(),
            people: People::new(&config.recognition),
            assets,
            classifiers,
            asset_paths: AssetMatcher::new(asset_paths.iter().map(Vec::as_slice))?,
            changelog: rules::shared_glob_set(&changelog_paths)?,
            fingerprint: hex(&Sha256::digest(shape.as_bytes()))[..16].to_string(),
            backstage: git.backstage,
            tip_state: std::sync::Mutex::default(),
            packs: std::sync::Mutex::default(),
            keep_packs: git.keep_packs,
        })
    }

    /// One collection, on the calling (blocking) thread; `cancel` stops it after the batch
    /// being mined, which is stored first.
    pub fn collect(
        &self,
        ctx: &CollectContext,
        cancel: &AtomicBool,
    ) -> Result<Collection, CollectError> {
        let opened = std::time::Instant::now();
        let repo = self.open(cancel)?;
        let tip = self.tip(&repo)?;
        let cursor_id = |key: &str| {
            ctx.cursors
                .get(key)
                .and_then(|t| ObjectId::from_hex(t.as_bytes()).ok())
        };
        let old_tip = cursor_id(CURSOR_TIP);
        // `.mailmap` shapes every stored identity: when it changes, everything is mined again.
        let (mailmap, mailmap_data) = self.mailmap(&repo, tip)?;
        let fingerprint = format!(
            "{}-{}",
            self.fingerprint,
            &hex(&Sha256::digest(&mailmap_data))[..16]
        );
        let same_shape = ctx.cursors.get(CURSOR_FINGERPRINT) == Some(&fingerprint);
        // Nothing new (the same tip, mined with the same rules, its snapshot taken with the
        // same settings, no mine to resume): the tip's files, owners and catalog entities are
        // those stored, so nothing is read again.
        let snapshot_shape = format!("{tip}-{}", self.backstage);
        if same_shape
            && old_tip == Some(tip)
            && ctx.cursors.get(CURSOR_SNAPSHOT) == Some(&snapshot_shape)
            && !ctx.cursors.contains_key(CURSOR_MINING_TARGET)
        {
            return Ok(Collection {
                source: self.name.clone(),
                sets: Vec::new(),
                cursors: ctx.cursors.clone(),
            });
        }
        let open_seconds = opened.elapsed().as_secs_f64();
        let phases = std::time::Instant::now();
        let mut history = GitHistory::default();
        let packs = if self.keep_packs {
            odb::Packs::open_kept(
                &repo,
                &mut self
                    .packs
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            )
        } else {
            odb::Packs::open_kept(&repo, &mut odb::OpenedPacks::default())
        };
        let packs_seconds = phases.elapsed().as_secs_f64();
        let (ownership, entities) = self.tip_snapshot(&repo, &packs, tip)?;
        let snapshot_seconds = phases.elapsed().as_secs_f64();
        // One collection (or stored batch): the history so far, the tip's ownership and its
        // Backstage entities.
        let collection = |history: GitHistory, cursors: Cursors| Collection {
            source: self.name.clone(),
            sets: vec![
                FactSet::GitHistory(history),
                FactSet::Ownership(ownership.clone()),
                FactSet::Registry(entities.clone()),
            ],
            cursors,
        };
        let shallow: Vec<ObjectId> = repo
            .shallow_commits()
            .map_err(err(
                ErrorKind::RepositoryFailed,
                "reading the shallow boundary",
            ))?
            .map(|ids| ids.iter().copied().collect())
            .unwrap_or_default();
        history.shallow = !shallow.is_empty();

        // Decide what to mine: the rest of an interrupted mine of this very tip; everything;
        // or only what the old tip does not reach.
        let resumed = (same_shape && cursor_id(CURSOR_MINING_TARGET) == Some(tip))
            .then(|| {
                let done = ctx.cursors.get(CURSOR_MINING_DONE)?.parse::<usize>().ok()?;
                let base = ctx.cursors.get(CURSOR_MINING_BASE)?;
                let base = match base.as_str() {
                    "" => None,
                    hex => Some(ObjectId::from_hex(hex.as_bytes()).ok()?),
                };
                Some((base, done))
            })
            .flatten();
        let mut dropped_seconds = 0.0;
        let (base, skip) = match resumed {
            Some(progress) => progress,
            None => match old_tip {
                Some(old) if same_shape && repo.find_commit(old).is_ok() => {
                    if old != tip {
                        let t = std::time::Instant::now();
                        history.dropped = self.unreachable(&repo, &packs, old, tip)?;
                        dropped_seconds = t.elapsed().as_secs_f64();
                    }
                    (Some(old), 0)
                }
                _ => {
                    history.reset = true;
                    (None, 0)
                }
            },
        };

        let mention_names = self.mention_names(&mailmap);
        let finished = Cursors::from([
            (CURSOR_TIP.to_string(), tip.to_string()),
            (CURSOR_FINGERPRINT.to_string(), fingerprint.clone()),
            (CURSOR_SNAPSHOT.to_string(), snapshot_shape),
        ]);
        if base == Some(tip) && !history.reset {
            return Ok(collection(history, finished));
        }
        // History is mined from its oldest commit to its newest, the order in which packs
        // written as history grew (`git fast-import`, pushes) store each new version of a tree
        // or blob as a delta on the one before: with the delta-base cache, resolving it then
        // costs one delta. Progress as the store keeps it between batches: the facts stored so
        // far are those of the walk's `done` oldest commits (the walk's order is fixed by `tip`
        // and `base`).
        let progress = |done: usize| {
            let mut c = Cursors::from([
                (CURSOR_FINGERPRINT.to_string(), fingerprint.clone()),
                (CURSOR_MINING_TARGET.to_string(), tip.to_string()),
                (
                    CURSOR_MINING_BASE.to_string(),
                    base.map(|b| b.to_string()).unwrap_or_default(),
                ),
                (CURSOR_MINING_DONE.to_string(), done.to_string()),
            ]);
            if let Some(base) = base {
                c.insert(CURSOR_TIP.to_string(), base.to_string());
            }
            c
        };
        let walked = std::time::Instant::now();
        let todo = todo::Todo::new(walk::walk(&repo, &packs, tip, base)?, skip);
        let walk_seconds = walked.elapsed().as_secs_f64();
        let (mut mine_seconds, mut store_wait_seconds) = (0.0, 0.0);
        let shared = repo.clone().into_sync();
        let shared_state = Shared {
            repo: &shared,
            mailmap: &mailmap,
            mention_names: &mention_names,
            cancel,
            now: chrono::Utc::now().timestamp(),
            shallow: &shallow,
            packs: &packs,
        };
        let batches = todo.len().div_ceil(BATCH_COMMITS);
        let pages = pages::PackPages::new(&repo);
        let mut done = skip;
        std::thread::scope(|scope| -> Result<(), CollectError> {
            // The previous batch is stored while the next one is mined.
            let mut storing: Option<std::thread::ScopedJoinHandle<'_, Result<(), CollectError>>> =
                None;
            let wait = |storing: &mut Option<std::thread::ScopedJoinHandle<'_, _>>| {
                storing.take().map_or(Ok(()), |h| {
                    h.join().unwrap_or_else(|_| {
                        Err(CollectError::new(
                            ErrorKind::Panic,
                            "storing a batch panicked",
                        ))
                    })
                })
            };
            for i in 0..batches {
                let chunk = todo.batch(i * BATCH_COMMITS, BATCH_COMMITS)?;
                let mining = std::time::Instant::now();
                let mined = self.mine_chunk(&shared_state, &chunk);
                mine_seconds += mining.elapsed().as_secs_f64();
                // The pack pages this batch read are not needed by the next one.
                pages.release();
                let waiting = std::time::Instant::now();
                wait(&mut storing)?;
                store_wait_seconds += waiting.elapsed().as_secs_f64();
                // What the mining and storing threads freed (the batch before, its SQL)
                // would otherwise stay in their arenas, growing batch after batch. A small
                // batch frees little, and trimming a large heap costs 10-20 ms regardless.
                if chunk.len() >= TRIM_AFTER_COMMITS {
                    crate::trim_heap();
                }
                let mined = mined?;
                done += mined.commits.len();
                history.commits = mined.commits;
                history.people = mined.people.into_values().collect();
                if !mined.complete {
                    // Keep what was mined: the next collection resumes after it.
                    ctx.checkpoint(&collection(std::mem::take(&mut history), progress(done)))?;
                    return Err(CollectError::new(
                        ErrorKind::Cancelled,
                        "collection cancelled",
                    ));
                }
                if i + 1 < batches {
                    let batch = collection(
                        GitHistory {
                            reset: history.reset,
                            dropped: std::mem::take(&mut history.dropped),
                            commits: std::mem::take(&mut history.commits),
                            people: std::mem::take(&mut history.people),
                            shallow: history.shallow,
                        },
                        progress(done),
                    );
                    // Later batches add to what this one stores.
                    history.reset = false;
                    storing = Some(scope.spawn(move || ctx.checkpoint(&batch)));
                }
            }
            wait(&mut storing)
        })?;
        // The mining threads' arenas hold what they freed; give it back before deriving.
        if done >= TRIM_AFTER_COMMITS {
            crate::trim_heap();
        }
        tracing::debug!(
            source = %self.name,
            commits = done,
            open_seconds,
            packs_seconds,
            dropped_seconds,
            total_seconds = opened.elapsed().as_secs_f64(),
            snapshot_seconds,
            walk_seconds,
            mine_seconds,
            store_wait_seconds,
            "mined"
        );
        for (asset, _) in ownership.asset_files.iter().filter(|(_, n)| *n == 0) {
            if self.assets.iter().any(|a| &a.id == asset && a.from_catalog) {
                tracing::warn!(source = %self.name, collector = "git", asset = %asset, "the asset's paths match no file at the branch tip");
            }
        }
        // Reported when the tip moves, not on every collection.
        for (line, reason) in &ownership.invalid_lines {
            tracing::warn!(source = %self.name, collector = "git", line, reason = %reason, "CODEOWNERS line skipped as invalid");
        }
        Ok(collection(history, finished))
    }

    /// Mines `ids` on up to [`MAX_MINING_THREADS`] threads, each with its own repository handle
    /// and caches, taking [`PIECE_COMMITS`] at a time. The commits come back in the given order;
    /// when cancelled, only the finished prefix comes back (`complete` is false).
    fn mine_chunk(&self, shared: &Shared<'_>, ids: &[ObjectId]) -> Result<Mined, CollectError> {
        use std::sync::atomic::AtomicUsize;
        let pieces: Vec<&[ObjectId]> = ids.chunks(PIECE_COMMITS).collect();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_MINING_THREADS)
            .min(pieces.len().max(1));
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let slots: Vec<std::sync::Mutex<Option<Vec<CommitFact>>>> =
            pieces.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let work = || -> Result<BTreeMap<String, Person>, CollectError> {
            let repo = shared.repo.to_thread_local();
            // Tree diffs look up the same trees again and again; a few MiB per thread keep the
            // trees of neighbouring commits (measured: 4 MiB beats 1 and 16 on real histories).
            let objects =
                odb::Objects::new(shared.packs, &repo, PACK_CACHE_BYTES, OBJECT_CACHE_BYTES);
            let mut miner = Miner {
                c: self,
                repo: &repo,
                mailmap: shared.mailmap,
                mention_names: shared.mention_names,
                people: BTreeMap::new(),
                objects,
                diff_state: Default::default(),
                now: shared.now,
                shallow: shared.shallow,
            };
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(piece) = pieces.get(i) else {
                    return Ok(miner.people);
                };
                if i % RELEASE_PIECES == RELEASE_PIECES - 1 {
                    shared.packs.release();
                }
                let mut mined = Vec::with_capacity(piece.len());
                for id in *piece {
                    if shared.cancel.load(Ordering::SeqCst) || stop.load(Ordering::SeqCst) {
                        return Ok(miner.people);
                    }
                    match miner.commit(*id) {
                        Ok(fact) => mined.push(fact),
                        Err(e) => {
                            stop.store(true, Ordering::SeqCst);
                            return Err(e);
                        }
                    }
                }
                *crate::locked(&slots[i]) = Some(mined);
            }
        };
        let outcomes: Vec<Result<BTreeMap<String, Person>, CollectError>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|p| {
                            Err(CollectError::new(
                                ErrorKind::Panic,
                                crate::collector::panic_message(&p),
                            ))
                        })
                    })
                    .collect()
            });
        let mut people = BTreeMap::new();
        for outcome in outcomes {
            people.extend(outcome?);
        }
        let mut commits = Vec::with_capacity(ids.len());
        let mut complete = true;
        for slot in slots {
            match slot.into_inner().unwrap_or_else(|p| p.into_inner()) {
                Some(mined) => commits.extend(mined),
                None => {
                    complete = false;
                    break;
                }
            }
        }
        Ok(Mined {
            commits,
            people,
            complete,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listed repository keeps its opened packs between collections; a discovered one
    /// (`keep_packs: false`) keeps none, so hundreds of them never hold their pack indexes.
    #[test]
    fn only_kept_sources_keep_their_opened_packs() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = std::process::Command::new("git")
                .args(args)
                .current_dir(dir.path())
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_AUTHOR_NAME", "Ann")
                .env("GIT_AUTHOR_EMAIL", "ann@example.com")
                .env("GIT_COMMITTER_NAME", "Ann")
                .env("GIT_COMMITTER_EMAIL", "ann@example.com")
                .output()
                .unwrap();
            assert!(out.status.success(), "{out:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(dir.path().join("a.py"), "x = 1\n").unwrap();
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "one"]);
        git(&["gc", "-q"]);
        let text = format!(
            "sources:\n  - name: r\n    type: git\n    path: {}\n",
            dir.path().display()
        );
        let config = crate::sources::parse_config(Path::new("c.yaml"), &text, &|_| None).unwrap();
        for keep in [true, false] {
            let settings = GitSettings {
                location: GitLocation::Path(dir.path().to_path_buf()),
                branch: None,
                path_kinds: Vec::new(),
                changelog_paths: None,
                backstage: false,
                path_at: None,
                branch_at: None,
                keep_packs: keep,
            };
            let c = GitCollector::new(&config, "r", &settings, dir.path()).unwrap();
            let ctx = CollectContext {
                cursors: Default::default(),
                cancel: Default::default(),
                checkpoint: Arc::new(|_| Ok(())),
                targets: None,
                wants: None,
            };
            c.collect(&ctx, &AtomicBool::new(false)).unwrap();
            let kept = c.packs.lock().unwrap().len();
            assert_eq!(kept > 0, keep, "keep_packs {keep}: {kept} packs kept");
        }
    }
}
