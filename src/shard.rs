//! `--shard K/N`: replicas split an organisation without a coordinator. Each asset belongs to
//! one shard, by a hash of its shard key: the git source its files live in (its catalog
//! `repository`), else its own id, so a repository and every asset inside it stay together.
//!
//! - A replica mines only the git sources it owns; a GitHub, GitLab or Jenkins source reads only
//!   the repositories and jobs whose asset it owns, and an MLflow source the models it owns
//!   (their versions' runs, their reproducibility experiments). An `http_probe` source runs
//!   only on its asset's owner, and a Feast source probes only the owner's assets.
//! - A listing that cannot be split (Feast's registry, a Hugging Face author's models) is read
//!   by every replica, which stores only the assets it owns; a coverage report is read by
//!   every replica, and what it says about an asset is exported only by the asset's owner.
//! - The exposition keeps a derived series only when its replica owns it: by its `asset`
//!   label, else by its git `source` label. The organisation-wide distinct-people families
//!   (`mlsteward_active_contributors`, `mlsteward_new_contributors`) cannot be split (a person
//!   may work on assets of every shard) and are not exported by a sharded replica.
//!
//! So the union of the replicas' derived series is one process's, each series once.

use sha2::{Digest, Sha256};

use crate::exposition::Family;
use crate::sources::Config;

/// Families that count distinct people across all assets: no shard can compute them.
pub const ORGANISATION_WIDE: &[&str] = &[
    "mlsteward_active_contributors",
    "mlsteward_new_contributors",
];

/// This replica's shard: `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// `K/N` with 0 ≤ K < N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("`{text}` is not K/N with 0 <= K < N (for example 0/3)");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard owns `key`: the first 8 bytes of its SHA-256, modulo the count.
    /// Stable across versions and platforms.
    pub fn owns(&self, key: &str) -> bool {
        if self.count <= 1 {
            return true;
        }
        let digest = Sha256::digest(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % self.count == self.index
    }

    /// Whether this shard owns `asset` (by its shard key).
    pub fn owns_asset(&self, config: &Config, asset: &str) -> bool {
        self.owns(&shard_key(config, asset))
    }

    /// Keeps only the derived series this shard owns (see the module's rules).
    pub fn filter(&self, config: &Config, families: Vec<Family>) -> Vec<Family> {
        if self.count <= 1 {
            return families;
        }
        let git_sources: Vec<&str> = config
            .sources
            .iter()
            .filter(|s| s.kind == "git")
            .map(|s| s.name.as_str())
            .collect();
        families
            .into_iter()
            .filter(|f| !ORGANISATION_WIDE.contains(&f.name))
            .map(|mut f| {
                f.samples.retain(|s| {
                    let label = |name: &str| {
                        s.labels
                            .iter()
                            .find(|(k, _)| *k == name)
                            .map(|(_, v)| v.as_str())
                    };
                    match (label("asset"), label("source")) {
                        (Some(asset), _) => self.owns_asset(config, asset),
                        (None, Some(source)) if git_sources.contains(&source) => self.owns(source),
                        _ => true,
                    }
                });
                f
            })
            .collect()
    }
}

/// The key an asset is sharded by: the git source of its catalog entry, else its id (a git
/// source's own `repo` asset is named after it, so it lands with its repository).
pub fn shard_key(config: &Config, asset: &str) -> String {
    config
        .catalog
        .iter()
        .find(|a| a.id == asset)
        .and_then(|a| a.repository.clone())
        .unwrap_or_else(|| asset.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_and_a_stable_even_split() {
        assert_eq!(Shard::parse("1/3"), Ok(Shard { index: 1, count: 3 }));
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("a/3").is_err());
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let mut per = [0; 3];
        for i in 0..3000 {
            let key = format!("repo-{i}");
            let owners: Vec<usize> = (0..3).filter(|s| shards[*s].owns(&key)).collect();
            assert_eq!(owners.len(), 1, "{key} has exactly one owner");
            per[owners[0]] += 1;
        }
        assert!(per.iter().all(|n| (900..1100).contains(n)), "{per:?}");
        // Pinned: the split must not change between versions (replicas would swap data).
        assert!(Shard { index: 2, count: 3 }.owns("feature-store"));
    }
}
