//! Reading a repository's packed objects with positioned reads (`pread`) instead of memory
//! maps, so that mining all of a long history keeps a flat resident memory.
//!
//! gix maps every pack and pack index whole. A walk or a mine over all history looks objects up
//! at random: each lookup binary-searches a part of the index, and the kernel maps in the pages
//! around every page touched, so within a few thousand commits nearly the whole index (62 MiB
//! at 200,000 commits) and much of the pack are resident, and resident memory grows with the
//! history's length however often the pages are given back. Here the index's fan-out table, a
//! sample of its ids and its table of offsets (4 bytes per object) are read once; a lookup then
//! reads one small window of the sorted id table (one system call), found from the samples,
//! and takes the entry's offset from memory. Pages read this way
//! stay in the kernel's page cache, shared and reclaimable, and never count as this process's
//! memory. The entry itself is decoded by gix from its mapping of the pack data, with two
//! small per-thread caches as before: the objects a delta chain resolves to, by pack offset,
//! and trees and commits by id. (Reading entries with `pread` too was tried: a chain of deltas
//! is up to 50 entries spread over the pack, one system call and copy each, and the mine took
//! 2.5 times as long.) The data pages a batch touched are given back after it
//! ([`super::pages`]).
//!
//! Only SHA-1 repositories, version-2 pack indices and version-2/3 packs are read this way.
//! Every object this reader does not find in a pack (loose objects, alternates, packs written
//! after the collection started) comes from gix's object database, and so does every object of
//! a repository with replacement refs, which gix applies. An object a pack holds but this
//! reader cannot decode is read by gix's object database too, so a defect here can cost speed
//! but never a wrong answer.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use gix::hash::oid;
use gix::objs::Find as _;
use gix::objs::Kind;
use gix::odb::pack::cache::Object as _;
use gix::odb::pack::data::decode::entry::ResolvedBase;

/// Every this many entries of a pack index, the first 8 bytes of the id are kept in memory
/// (8 bytes per 32 objects: 550 KiB for 2.2 million objects), so that a lookup reads one window
/// of at most this many ids (640 bytes) and the entry's offset.
const SAMPLE: usize = 32;

/// The packs of one repository, shared by the threads that read them.
pub struct Packs {
    packs: Vec<std::sync::Arc<Pack>>,
}

/// The packs opened by earlier collections of one repository, by index path, with the index
/// file's length and modification time: a pack's name is its checksum, so a pack listed again
/// is the same pack, and reopening it (reading its index's offset table, 7 MiB for 1.9
/// million objects) is skipped.
#[derive(Default)]
pub struct OpenedPacks {
    packs: std::collections::HashMap<
        std::path::PathBuf,
        (u64, Option<std::time::SystemTime>, std::sync::Arc<Pack>),
    >,
}

impl OpenedPacks {
    /// How many packs are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.packs.len()
    }
}

struct Pack {
    idx: File,
    data: gix::odb::pack::data::File,
    /// `fanout[b]`: how many ids start with a byte ≤ b.
    fanout: [u32; 256],
    /// The first 8 bytes (big-endian) of every [`SAMPLE`]th id.
    samples: Vec<u64>,
    /// The index's table of 32-bit offsets, in memory: 4 bytes per object (7 MiB for 1.9
    /// million objects) save a second system call per lookup, which was a third of the mine's
    /// system time. (The rare offsets past 2 GiB stay in the file.)
    offsets: Vec<u32>,
}

const IDX_HEADER: u64 = 8 + 256 * 4;

impl Pack {
    fn open(idx_path: &Path) -> io::Result<Pack> {
        let idx = File::open(idx_path)?;
        let mut header = [0u8; IDX_HEADER as usize];
        idx.read_exact_at(&mut header, 0)?;
        if header[..8] != [0xff, b't', b'O', b'c', 0, 0, 0, 2] {
            return Err(invalid("not a version-2 pack index"));
        }
        let mut fanout = [0u32; 256];
        for (b, slot) in fanout.iter_mut().enumerate() {
            let at = 8 + b * 4;
            *slot =
                u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        }
        if fanout.windows(2).any(|w| w[0] > w[1]) {
            return Err(invalid("pack index fan-out is not sorted"));
        }
        let data =
            gix::odb::pack::data::File::at(idx_path.with_extension("pack"), gix::hash::Kind::Sha1)
                .map_err(|e| invalid(&e.to_string()))?;
        if data.num_objects() != fanout[255] {
            return Err(invalid("pack does not match its index"));
        }
        let count = fanout[255] as usize;
        let mut samples = Vec::with_capacity(count.div_ceil(SAMPLE));
        // Read in chunks of 1,024 windows.
        let mut chunk = vec![0u8; SAMPLE * 20 * 1024];
        let mut first = 0;
        while first < count {
            let n = (count - first).min(SAMPLE * 1024);
            idx.read_exact_at(&mut chunk[..n * 20], IDX_HEADER + first as u64 * 20)?;
            samples.extend((0..n).step_by(SAMPLE).map(|i| {
                u64::from_be_bytes(chunk[i * 20..i * 20 + 8].try_into().expect("8 bytes"))
            }));
            first += n;
        }
        let mut offsets = Vec::with_capacity(count);
        let mut first = 0;
        while first < count {
            let n = (count - first).min(chunk.len() / 4);
            let bytes = &mut chunk[..n * 4];
            idx.read_exact_at(bytes, IDX_HEADER + count as u64 * 24 + first as u64 * 4)?;
            offsets.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes"))),
            );
            first += n;
        }
        Ok(Pack {
            idx,
            data,
            fanout,
            samples,
            offsets,
        })
    }

    fn count(&self) -> u64 {
        u64::from(self.fanout[255])
    }

    /// The pack offset of `id`'s entry, if this pack holds it.
    fn locate(&self, id: &[u8; 20], window: &mut Vec<u8>) -> io::Result<Option<u64>> {
        let b = id[0] as usize;
        let lo = if b == 0 { 0 } else { self.fanout[b - 1] } as usize;
        let hi = self.fanout[b] as usize;
        if lo >= hi {
            return Ok(None);
        }
        // Entries before sample `a` have a smaller prefix, entries from sample `z` on a larger
        // one; ids sharing all 8 bytes with a sample (never seen in practice) widen the window.
        let prefix = u64::from_be_bytes(id[..8].try_into().expect("8 bytes"));
        // Only the samples of the id's fan-out bucket can be its neighbours: searching them
        // alone keeps the search within a few cache lines.
        let (first, last) = (lo / SAMPLE, (hi / SAMPLE + 1).min(self.samples.len()));
        let bucket = &self.samples[first..last];
        let a = first + bucket.partition_point(|s| *s < prefix);
        let z = first + bucket.partition_point(|s| *s <= prefix);
        let start = (a.saturating_sub(1) * SAMPLE).max(lo);
        let end = (z * SAMPLE).min(hi);
        if start >= end {
            return Ok(None);
        }
        window.resize((end - start) * 20, 0);
        self.idx
            .read_exact_at(window, IDX_HEADER + start as u64 * 20)?;
        let (mut l, mut r) = (0, end - start);
        while l < r {
            let mid = (l + r) / 2;
            match window[mid * 20..mid * 20 + 20].cmp(&id[..]) {
                std::cmp::Ordering::Less => l = mid + 1,
                std::cmp::Ordering::Greater => r = mid,
                std::cmp::Ordering::Equal => return self.offset((start + mid) as u64).map(Some),
            }
        }
        Ok(None)
    }

    /// The pack offset of the `i`th entry of the index.
    fn offset(&self, i: u64) -> io::Result<u64> {
        let n = self.count();
        let small = self.offsets[i as usize];
        if small & 0x8000_0000 == 0 {
            return Ok(u64::from(small));
        }
        let mut large = [0u8; 8];
        self.idx.read_exact_at(
            &mut large,
            IDX_HEADER + n * 28 + u64::from(small & 0x7fff_ffff) * 8,
        )?;
        Ok(u64::from_be_bytes(large))
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl Packs {
    /// The packs of `repo`'s own object directory. None at all (every object comes from gix)
    /// for a repository with replacement refs or a hash other than SHA-1; a pack this reader
    /// cannot read is left to gix.
    #[cfg(test)]
    pub fn open(repo: &gix::Repository) -> Packs {
        Packs::open_kept(repo, &mut OpenedPacks::default())
    }

    /// [`Packs::open`], reusing the packs `kept` holds and keeping those opened now there
    /// (only the repository's current packs stay).
    pub fn open_kept(repo: &gix::Repository, kept: &mut OpenedPacks) -> Packs {
        let mut packs = Vec::new();
        let mut still = std::collections::HashMap::new();
        let replaced = !repo.objects.ignore_replacements
            && repo.objects.store_ref().replacements().next().is_some();
        if repo.object_hash() == gix::hash::Kind::Sha1 && !replaced {
            let dir = repo.objects.store_ref().path().join("pack");
            if let Ok(entries) = std::fs::read_dir(&dir) {
                let mut paths: Vec<_> = entries
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "idx"))
                    .collect();
                // The largest pack (the bulk of history) is searched first.
                paths.sort();
                for path in paths {
                    let stamp = std::fs::metadata(&path)
                        .map(|m| (m.len(), m.modified().ok()))
                        .unwrap_or((0, None));
                    if let Some((len, modified, pack)) = kept.packs.remove(&path) {
                        if (len, modified) == stamp {
                            packs.push(pack.clone());
                            still.insert(path, (len, modified, pack));
                            continue;
                        }
                    }
                    match Pack::open(&path) {
                        Ok(pack) => {
                            let pack = std::sync::Arc::new(pack);
                            packs.push(pack.clone());
                            still.insert(path, (stamp.0, stamp.1, pack));
                        }
                        Err(e) => {
                            tracing::debug!(pack = %path.display(), error = %e, "pack left to gix")
                        }
                    }
                }
                packs.sort_by_key(|p| std::cmp::Reverse(p.count()));
            }
        }
        kept.packs = still;
        Packs { packs }
    }
}

impl Packs {
    /// Gives back the resident pages of the packs' data mappings (see [`super::pages`]): the
    /// next read of a page brings it back from the page cache. Cheap (one `madvise` per pack,
    /// no reading of `/proc/self/maps`), so the walk calls it every 1,000 commits and the
    /// miners every 1,024.
    pub fn release(&self) {
        for pack in &self.packs {
            if let Some(data) = pack.data.entry_slice(0..pack.data.data_len() as u64) {
                super::pages::advise_dont_need(data.as_ptr() as usize, data.len());
            }
        }
    }
}

/// One thread's reader: [`Packs`] with caches, falling back to `repo`'s object database.
pub struct Objects<'a> {
    packs: &'a Packs,
    repo: &'a gix::Repository,
    /// Scratch for the index entries a lookup reads.
    window: RefCell<Vec<u8>>,
    state: RefCell<State>,
}

struct State {
    /// Objects a delta chain resolved to (and their bases), by pack and offset.
    bases: gix::odb::pack::cache::lru::MemoryCappedHashmap,
    /// Trees and commits by id: tree diffs read the same trees again and again.
    objects: Option<gix::odb::pack::cache::object::MemoryCappedHashmap>,
    inflate: gix_zlib::Inflate,
}

impl<'a> Objects<'a> {
    pub fn new(
        packs: &'a Packs,
        repo: &'a gix::Repository,
        base_cache_bytes: usize,
        object_cache_bytes: usize,
    ) -> Self {
        Objects {
            packs,
            repo,
            window: RefCell::new(Vec::new()),
            state: RefCell::new(State {
                bases: gix::odb::pack::cache::lru::MemoryCappedHashmap::new(base_cache_bytes),
                objects: (object_cache_bytes > 0).then(|| {
                    gix::odb::pack::cache::object::MemoryCappedHashmap::new(object_cache_bytes)
                }),
                inflate: gix_zlib::Inflate::default(),
            }),
        }
    }

    /// `id`'s kind and data from the packs; None when no pack holds it.
    fn packed(&self, id: &oid, out: &mut Vec<u8>) -> gix::Result<Option<Kind>> {
        let Ok(key) = <&[u8; 20]>::try_from(id.as_bytes()) else {
            return Ok(None);
        };
        for pack in &self.packs.packs {
            let found = pack.locate(key, &mut self.window.borrow_mut());
            let Some(offset) = found.map_err(gix::Error::from_error)? else {
                continue;
            };
            let entry = pack.data.entry(offset)?;
            // A ref-delta's base: in this pack (as git writes them), else anywhere.
            let resolve = |base: &oid, buf: &mut Vec<u8>| -> gix::Result<Option<ResolvedBase>> {
                let Ok(key) = <&[u8; 20]>::try_from(base.as_bytes()) else {
                    return Ok(None);
                };
                let found = pack.locate(key, &mut self.window.borrow_mut());
                if let Some(offset) = found.map_err(gix::Error::from_error)? {
                    return Ok(Some(ResolvedBase::InPack(pack.data.entry(offset)?)));
                }
                Ok(self
                    .repo
                    .objects
                    .try_find(base, buf)?
                    .map(|d| d.kind)
                    .map(|kind| ResolvedBase::OutOfPack {
                        kind,
                        end: buf.len(),
                    }))
            };
            let mut state = self.state.borrow_mut();
            let State { bases, inflate, .. } = &mut *state;
            let outcome = pack
                .data
                .decode_entry(entry, out, inflate, &resolve, bases)?;
            return Ok(Some(outcome.kind));
        }
        Ok(None)
    }
}

impl gix::objs::Find for Objects<'_> {
    fn try_find<'b>(
        &self,
        id: &oid,
        buffer: &'b mut Vec<u8>,
    ) -> gix::Result<Option<gix::objs::Data<'b>>> {
        let cached = match &mut self.state.borrow_mut().objects {
            Some(cache) => cache.get(&id.to_owned(), buffer),
            None => None,
        };
        let kind = match cached {
            Some(kind) => Some(kind),
            None => match self.packed(id, buffer) {
                Ok(Some(kind)) => {
                    if matches!(kind, Kind::Tree | Kind::Commit) {
                        if let Some(cache) = &mut self.state.borrow_mut().objects {
                            cache.put(id.to_owned(), kind, buffer);
                        }
                    }
                    Some(kind)
                }
                Ok(None) => None,
                Err(e) => {
                    tracing::debug!(object = %id, error = %e, "reading a packed object; gix reads it instead");
                    None
                }
            },
        };
        match kind {
            Some(kind) => Ok(Some(gix::objs::Data {
                kind,
                object_hash: gix::hash::Kind::Sha1,
                data: buffer,
            })),
            None => self.repo.objects.try_find(id, buffer),
        }
    }
}

#[cfg(test)]
pub(in crate::sources::git) mod tests {
    use super::*;
    use gix::ObjectId;
    use std::process::Command;

    /// Runs `git` in `dir` as a fixed committer and returns what it printed (test helper
    /// shared by the git source's tests).
    pub(in crate::sources::git) fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    fn commit_versions(dir: &Path, from: usize, to: usize) {
        for i in from..to {
            let body: String = (0..200)
                .map(|j| format!("line {j} of version {}\n", if j == i % 200 { i } else { 0 }))
                .collect();
            std::fs::write(dir.join("a.txt"), &body).unwrap();
            std::fs::create_dir_all(dir.join(format!("d{}", i % 3))).unwrap();
            std::fs::write(dir.join(format!("d{}/f.txt", i % 3)), &body).unwrap();
            git(dir, &["add", "-A"]);
            git(dir, &["commit", "-q", "-m", &format!("v{i}")]);
        }
    }

    /// Every object of a repository with two packs (offset deltas in one, ref deltas in the
    /// other) and some loose objects reads the same through [`Objects`] as through gix, and
    /// the packed ones really come from the packs.
    #[test]
    fn reads_every_packed_object_as_gix_does() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        git(dir, &["init", "-q", "-b", "main"]);
        commit_versions(dir, 0, 40);
        git(
            dir,
            &[
                "repack",
                "-q",
                "-a",
                "-d",
                "-f",
                "--depth=50",
                "--window=50",
            ],
        );
        commit_versions(dir, 40, 60);
        git(
            dir,
            &[
                "-c",
                "repack.useDeltaBaseOffset=false",
                "repack",
                "-q",
                "-d",
            ],
        );
        commit_versions(dir, 60, 63);
        let repo = gix::open(dir).unwrap();
        let packs = Packs::open(&repo);
        assert_eq!(packs.packs.len(), 2);
        let objects = Objects::new(&packs, &repo, 64 * 1024, 64 * 1024);
        let listed = git(
            dir,
            &[
                "cat-file",
                "--batch-all-objects",
                "--batch-check=%(objectname)",
            ],
        );
        let packed: Vec<String> = std::fs::read_dir(dir.join(".git/objects/pack"))
            .unwrap()
            .filter_map(|e| {
                let p = e.unwrap().path();
                (p.extension()? == "idx").then_some(p)
            })
            .flat_map(|idx| {
                let out = Command::new("git")
                    .args(["show-index"])
                    .stdin(std::fs::File::open(idx).unwrap())
                    .output()
                    .unwrap();
                String::from_utf8(out.stdout)
                    .unwrap()
                    .lines()
                    .map(|l| l.split(' ').nth(1).unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(packed.len() > 100, "{}", packed.len());
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        // Twice: the second time through the caches.
        for _ in 0..2 {
            for hex in listed.lines() {
                let id = ObjectId::from_hex(hex.as_bytes()).unwrap();
                let a = gix::objs::Find::try_find(&objects, &id, &mut ours)
                    .unwrap()
                    .map(|d| d.kind);
                let b = repo
                    .objects
                    .try_find(&id, &mut theirs)
                    .unwrap()
                    .map(|d| d.kind);
                assert_eq!(a, b, "{hex}");
                assert!(ours == theirs, "{hex}");
                let mut out = Vec::new();
                let from_packs = objects.packed(&id, &mut out).unwrap();
                assert_eq!(
                    from_packs.is_some(),
                    packed.contains(&hex.to_string()),
                    "{hex}"
                );
            }
        }
        let absent = ObjectId::from_hex(b"0123456789abcdef0123456789abcdef01234567").unwrap();
        assert!(objects.packed(&absent, &mut ours).unwrap().is_none());
        assert!(gix::objs::Find::try_find(&objects, &absent, &mut ours)
            .unwrap()
            .is_none());
        packs.release();
    }
}
