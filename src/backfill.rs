//! `mlsteward backfill`: the recognition and activity series as they would have been scraped
//! at each past step, as OpenMetrics with timestamps for `promtool tsdb create-blocks-from
//! openmetrics`, so Grafana shows a year of history on the first day.
//!
//! A scratch store ([`crate::store::AsOf`]) is fed the real store's facts in time order, and at
//! each step the same derive code that serves `/metrics` runs on it with `now` set to the step.
//! OpenMetrics wants each family's samples together, so every family is written to a scratch
//! file of its own as the steps go (memory stays one step's families), and the files are joined
//! at the end.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::exposition;
use crate::sources::Config;
use crate::store::AsOf;

/// What a backfill wrote.
#[derive(Debug)]
pub struct Written {
    pub steps: usize,
    pub samples: usize,
    pub first: i64,
    pub last: i64,
}

/// The step times: whole multiples of `step` from `now - since` to the last one before `now`
/// (the live daemon's scrapes cover `now`).
pub fn steps(now: i64, since: i64, step: i64) -> Vec<i64> {
    let last = (now - 1).div_euclid(step) * step;
    let first = (now - since).div_euclid(step) * step + step;
    (0..)
        .map(|k| first + k * step)
        .take_while(|t| *t <= last)
        .collect()
}

/// Writes the series of the store at `store_path` at every step of `times` into `output`.
pub fn write(
    store_path: &Path,
    config: &Config,
    shard: Option<crate::shard::Shard>,
    times: &[i64],
    output: &Path,
) -> anyhow::Result<Written> {
    let scratch = scratch_dir(output);
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let result = write_in(store_path, config, shard, times, output, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn scratch_dir(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backfill".into());
    output.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

fn write_in(
    store_path: &Path,
    config: &Config,
    shard: Option<crate::shard::Shard>,
    times: &[i64],
    output: &Path,
    scratch: &Path,
) -> anyhow::Result<Written> {
    let mut as_of = AsOf::new(store_path, scratch)?;
    // Family name → (its header, its scratch file), in the order families first appear.
    let mut files: BTreeMap<&'static str, (usize, String, std::io::BufWriter<std::fs::File>)> =
        BTreeMap::new();
    let mut samples = 0;
    let mut line = String::new();
    for &at in times {
        as_of.advance(at)?;
        let families = crate::derive::history_families(as_of.store(), config, at)?;
        // A sharded replica's history holds only its own series, as its scrapes did.
        let families = match shard {
            Some(shard) => shard.filter(config, families, false),
            None => families,
        };
        for family in &families {
            if !files.contains_key(family.name) {
                let path = scratch.join(format!("{}.om", family.name));
                let file = std::fs::File::create(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                let order = files.len();
                files.insert(
                    family.name,
                    (
                        order,
                        exposition::openmetrics_header(family),
                        std::io::BufWriter::new(file),
                    ),
                );
            }
            let (_, _, file) = files.get_mut(family.name).expect("inserted above");
            line.clear();
            exposition::openmetrics_samples(family, at, &mut line);
            samples += family.samples.len();
            file.write_all(line.as_bytes())?;
        }
    }
    let mut ordered: Vec<_> = files.into_iter().collect();
    ordered.sort_by_key(|(_, (order, _, _))| *order);
    let part = output.with_extension("partial");
    {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&part).with_context(|| format!("creating {}", part.display()))?,
        );
        for (name, (_, header, file)) in ordered {
            file.into_inner().map_err(|e| e.into_error())?;
            out.write_all(header.as_bytes())?;
            let path = scratch.join(format!("{name}.om"));
            let mut part_file = std::fs::File::open(&path)?;
            std::io::copy(&mut part_file, &mut out)?;
        }
        out.write_all(b"# EOF\n")?;
        out.flush()?;
    }
    std::fs::rename(&part, output).with_context(|| format!("writing {}", output.display()))?;
    Ok(Written {
        steps: times.len(),
        samples,
        first: times.first().copied().unwrap_or(0),
        last: times.last().copied().unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_whole_multiples_before_now() {
        let day = 86_400;
        let now = 100 * day + 500;
        assert_eq!(steps(now, 3 * day, day), [98 * day, 99 * day, 100 * day]);
        assert_eq!(steps(100 * day, 2 * day, day), [99 * day]);
        assert!(steps(now, 0, day).is_empty());
    }
}
