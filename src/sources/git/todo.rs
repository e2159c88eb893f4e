//! The commits a mine still has to do, oldest first, handed out a batch at a time.
//!
//! A walk over all history yields one id per commit: 20 bytes each, 4 MiB at 200,000 commits
//! and 40 MiB at two million, held for the whole mine. Beyond [`SPILL_AT`] commits the list
//! waits in an unnamed temporary file instead (created in the system's temporary directory and
//! unlinked at once, so nothing is left behind even after `kill -9`), and each batch is read
//! back with one `pread`. The page cache keeps such a small file in memory anyway; what it
//! saves is the process's own resident memory. When no temporary file can be made, the list
//! stays in memory.

use gix::ObjectId;

use crate::collector::{CollectError, ErrorKind};

/// Lists longer than this many commits wait in a temporary file.
pub const SPILL_AT: usize = 10_000;

/// The commits to mine, oldest first, without the first `skip` of the walk's (an interrupted
/// mine's finished part).
pub struct Todo {
    len: usize,
    ids: Ids,
}

enum Ids {
    /// Oldest first, from the first commit still to mine.
    Memory(Vec<ObjectId>),
    /// The walk's ids, newest first as it found them, `width` bytes each.
    #[cfg(unix)]
    File { file: std::fs::File, width: usize },
}

impl Todo {
    /// The commits of a walk (`newest_first`), oldest first, without the `skip` oldest.
    pub fn new(newest_first: Vec<ObjectId>, skip: usize) -> Todo {
        Self::with_spill_at(newest_first, skip, SPILL_AT)
    }

    #[cfg_attr(not(unix), allow(unused_variables))]
    fn with_spill_at(newest_first: Vec<ObjectId>, skip: usize, spill_at: usize) -> Todo {
        let len = newest_first.len().saturating_sub(skip);
        #[cfg(unix)]
        if len > spill_at {
            match spill(&newest_first) {
                Ok(ids) => return Todo { len, ids },
                Err(e) => {
                    tracing::debug!(error = %e, "no temporary file for the commits to mine; they stay in memory");
                }
            }
        }
        let mut ids = newest_first;
        ids.truncate(len);
        ids.reverse();
        Todo {
            len,
            ids: Ids::Memory(ids),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The (at most) `n` commits from the `start`th still to mine, oldest first.
    pub fn batch(&self, start: usize, n: usize) -> Result<Vec<ObjectId>, CollectError> {
        let end = (start + n).min(self.len);
        let start = start.min(end);
        match &self.ids {
            Ids::Memory(ids) => Ok(ids[start..end].to_vec()),
            #[cfg(unix)]
            Ids::File { file, width } => {
                use std::os::unix::fs::FileExt;
                // Oldest-first position p (after the skipped ones) is the walk's
                // `len - 1 - p`th: the batch is the walk's [len - end, len - start), reversed.
                let mut buf = vec![0u8; (end - start) * width];
                file.read_exact_at(&mut buf, ((self.len - end) * width) as u64)
                    .map_err(|e| {
                        CollectError::new(
                            ErrorKind::RepositoryFailed,
                            format!("reading back the commits to mine from a temporary file: {e}"),
                        )
                    })?;
                Ok(buf
                    .chunks_exact(*width)
                    .rev()
                    .map(ObjectId::from_bytes_or_panic)
                    .collect())
            }
        }
    }
}

/// Writes `ids` to a new unnamed temporary file.
#[cfg(unix)]
fn spill(ids: &[ObjectId]) -> std::io::Result<Ids> {
    use std::io::Write;
    let width = ids.first().map_or(20, |id| id.as_slice().len());
    let path = std::env::temp_dir().join(format!(
        "mlsteward-todo-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    // Unlinked at once: the open file lives until it is closed, and nothing outlives the process.
    std::fs::remove_file(&path)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, &file);
    for id in ids {
        if id.as_slice().len() != width {
            return Err(std::io::Error::other("object ids of two lengths"));
        }
        out.write_all(id.as_slice())?;
    }
    out.flush()?;
    drop(out);
    Ok(Ids::File { file, width })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches from a spilled list equal those of the list kept in memory, for every skip and
    /// batch size, and both equal the walk reversed.
    #[test]
    fn spilled_batches_equal_the_walk_reversed() {
        let walked: Vec<ObjectId> = (0..103u32)
            .map(|i| {
                let mut bytes = [0u8; 20];
                bytes[..4].copy_from_slice(&i.to_be_bytes());
                bytes[19] = 0xa5;
                ObjectId::from_bytes_or_panic(&bytes)
            })
            .collect();
        for skip in [0, 1, 50, 103, 200] {
            let expected: Vec<ObjectId> = walked.iter().rev().skip(skip).copied().collect();
            let memory = Todo::with_spill_at(walked.clone(), skip, usize::MAX);
            let file = Todo::with_spill_at(walked.clone(), skip, 0);
            assert!(matches!(memory.ids, Ids::Memory(_)));
            if !expected.is_empty() {
                assert!(!matches!(file.ids, Ids::Memory(_)), "spilled");
            }
            for todo in [&memory, &file] {
                assert_eq!(todo.len(), expected.len());
                for n in [1, 7, 64, 500] {
                    let mut got = Vec::new();
                    let mut start = 0;
                    while start < todo.len() {
                        got.extend(todo.batch(start, n).unwrap());
                        start += n;
                    }
                    assert_eq!(got, expected, "skip {skip}, batches of {n}");
                }
            }
        }
    }
}
