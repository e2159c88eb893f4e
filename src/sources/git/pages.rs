//! Giving back the pages of a repository's pack files that mining has read.
//!
//! gix maps every pack and index file whole, and each page a lookup or a delta chain touches
//! stays resident for as long as the repository is open: a walk over all history touches
//! nearly every page of a pack that interleaves commits with trees and blobs, so a long mine's
//! resident memory would be the size of its packs. git bounds the same thing with
//! `core.packedGitLimit`, unmapping pack windows it no longer uses. Here the mapped ranges of
//! the repository's object files are found in `/proc/self/maps` and advised `MADV_DONTNEED`
//! every so often: the mappings stay valid, and a page read again comes back from the page
//! cache. Only read-only mappings are touched, so nothing can be lost. Elsewhere than Linux
//! this does nothing, and so it does for the packs of an alternate object store
//! (`objects/info/alternates`), which live outside the repository's objects directory.

use std::path::{Path, PathBuf};

/// The object files of one repository whose resident pages can be given back.
pub struct PackPages {
    /// The repository's objects directory, as the kernel names mapped files (canonical).
    objects: Option<PathBuf>,
}

impl PackPages {
    pub fn new(repo: &gix::Repository) -> Self {
        PackPages {
            objects: std::fs::canonicalize(repo.objects.store_ref().path()).ok(),
        }
    }

    /// Drops this process's resident pages of the repository's pack, index, multi-pack-index
    /// and commit-graph files. Returns how many mapped ranges were advised.
    pub fn release(&self) -> usize {
        let Some(objects) = &self.objects else {
            return 0;
        };
        let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
            return 0;
        };
        let mut released = 0;
        for (start, end) in object_file_ranges(&maps, objects) {
            if advise_dont_need(start, end - start) {
                released += 1;
            }
        }
        released
    }
}

/// The read-only mapped ranges of files under `objects` that hold packed objects or their
/// indices, from the text of `/proc/<pid>/maps`.
fn object_file_ranges(maps: &str, objects: &Path) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for line in maps.lines() {
        // `start-end perms offset dev inode   path`; the path may hold spaces.
        let mut fields = line.splitn(6, ' ');
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some(path) = fields.nth(3).map(str::trim_start) else {
            continue;
        };
        let path = path.strip_suffix(" (deleted)").unwrap_or(path);
        let path = Path::new(path);
        let object_file = path.starts_with(objects)
            && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                n.ends_with(".pack")
                    || n.ends_with(".idx")
                    || n == "multi-pack-index"
                    || n == "commit-graph"
                    || n.ends_with(".graph")
            });
        if !object_file || perms.contains('w') {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        if let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) {
            if end > start {
                out.push((start, end));
            }
        }
    }
    out
}

#[cfg(target_os = "linux")]
pub(super) fn advise_dont_need(start: usize, len: usize) -> bool {
    // SAFETY: callers pass a whole read-only mapping of a pack file (from the kernel's own
    // list of this process's mappings, or gix's mapping of a pack it holds). MADV_DONTNEED on such a mapping only drops resident
    // pages; the mapping stays, and a later read faults the same bytes back in from the file
    // (pack files are never modified in place). A mapping unmapped since the list was read
    // makes the call fail with ENOMEM, which is ignored.
    unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) == 0 }
}

#[cfg(not(target_os = "linux"))]
pub(super) fn advise_dont_need(_start: usize, _len: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_read_only_object_files_of_the_repository_only() {
        let maps = "\
55d0a000-55d0b000 r--p 00000000 08:01 1 /usr/bin/mlsteward
7f0000000000-7f0000100000 r--s 00000000 08:01 2 /repo/.git/objects/pack/pack-1.pack
7f0000100000-7f0000200000 r--s 00000000 08:01 3 /repo/.git/objects/pack/pack-1.idx
7f0000200000-7f0000300000 r--s 00000000 08:01 4 /repo/.git/objects/pack/pack 2.pack (deleted)
7f0000300000-7f0000400000 rw-s 00000000 08:01 5 /repo/.git/objects/pack/pack-3.pack
7f0000400000-7f0000500000 r--s 00000000 08:01 6 /other/.git/objects/pack/pack-1.pack
7f0000500000-7f0000600000 r--s 00000000 08:01 7 /repo/.git/objects/info/commit-graph
7f0000600000-7f0000700000 r--s 00000000 08:01 8 /repo/.git/objects/pack/pack-1.rev
7f0000700000-7f0000800000 rw-p 00000000 00:00 0 
";
        let ranges = object_file_ranges(maps, Path::new("/repo/.git/objects"));
        assert_eq!(
            ranges,
            [
                (0x7f0000000000, 0x7f0000100000),
                (0x7f0000100000, 0x7f0000200000),
                (0x7f0000200000, 0x7f0000300000),
                (0x7f0000500000, 0x7f0000600000),
            ]
        );
    }

    /// The resident KiB of the mapping starting at `start`, from `/proc/self/smaps`.
    fn resident_kib(start: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let head = format!("{start:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head)).skip(1);
        lines
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn released_pages_read_back_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let repo_dir = dir.path().join("repo");
        let status = std::process::Command::new("git")
            .args(["init", "-q"])
            .arg(&repo_dir)
            .status()
            .unwrap();
        assert!(status.success());
        let pack_dir = repo_dir.join(".git/objects/pack");
        let data: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
        std::fs::write(pack_dir.join("pack-x.pack"), &data).unwrap();
        let file = std::fs::File::open(pack_dir.join("pack-x.pack")).unwrap();
        // A read-only shared mapping, as gix makes them.
        let len = data.len();
        // SAFETY: a fresh read-only mapping of a file nobody writes during the test.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                std::os::fd::AsRawFd::as_raw_fd(&file),
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        // SAFETY: the mapping is `len` bytes long and stays mapped until munmap below.
        let mapped = unsafe { std::slice::from_raw_parts(ptr as *const u8, len) };
        assert_eq!(mapped, &data[..]);
        let resident_before = resident_kib(ptr as usize);
        assert!(resident_before >= 1000, "{resident_before} KiB resident");
        let repo = gix::open(&repo_dir).unwrap();
        let pages = PackPages::new(&repo);
        assert!(pages.release() >= 1, "the mapping was not found");
        assert_eq!(resident_kib(ptr as usize), 0);
        assert_eq!(mapped, &data[..]);
        // SAFETY: unmapping the mapping made above, no longer used.
        unsafe { libc::munmap(ptr, len) };
    }
}
