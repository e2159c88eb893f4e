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
//!   label, else by its git `source` label.
//!
//! **People span shards.** One person may commit to repositories of every shard, under other
//! emails and names in each, so no replica can join people or count them alone. With
//! `--shard.peers`, every replica serves what it knows about people, raw
//! ([`PeopleSummary`] at `/api/v1/shard/people`: each identity key, the names it signed with
//! and how often, and the first and last time its credits were committed), and polls its
//! peers' summaries with ETags. Every replica joins people over all the summaries with the
//! same rules as one process, so a person has one id and one display name everywhere; shard 0
//! alone exports the organisation-wide distinct-people families
//! (`mlsteward_active_contributors`, `mlsteward_new_contributors`), counted over all
//! summaries, once every replica (itself included) has finished a collection of every source
//! (in this run or an earlier one its store remembers) and every peer has said so. A peer that stops answering keeps its last
//! summary (`mlsteward_shard_peer_up` says so). Without `--shard.peers` those two families
//! are left out and people are joined over the replica's own history only.
//!
//! So the union of the replicas' derived series is one process's, each series once.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};

use crate::exposition::Family;
use crate::people::{Directory, NameUse};
use crate::sources::Config;

/// Families that count distinct people across all assets: only shard 0 exports them, and only
/// when it has heard from every peer.
pub const ORGANISATION_WIDE: [&crate::metrics::Spec; 2] = [
    &crate::metrics::ACTIVE_CONTRIBUTORS,
    &crate::metrics::NEW_CONTRIBUTORS,
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

    /// Keeps only the derived series this shard owns (see the module's rules); the
    /// organisation-wide families only when `org_wide` (shard 0, every peer heard from).
    pub fn filter(&self, config: &Config, families: Vec<Family>, org_wide: bool) -> Vec<Family> {
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
            .filter(|f| org_wide || !ORGANISATION_WIDE.iter().any(|s| s.name == f.name))
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

/// The peers' base URLs, one per shard in shard order, from `--shard.peers`: a comma-separated
/// list of `count` URLs, or one URL in which `{shard}` stands for each index (a StatefulSet's
/// `http://mlsteward-{shard}.mlsteward:9717`).
pub fn peer_urls(text: &str, shard: Shard) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let urls: Vec<String> = match parts.as_slice() {
        [one] if one.contains("{shard}") => (0..shard.count)
            .map(|k| one.replace("{shard}", &k.to_string()))
            .collect(),
        _ if parts.len() as u64 == shard.count => parts.iter().map(|p| p.to_string()).collect(),
        _ => {
            return Err(format!(
                "`{text}` names {} peers; give one URL per shard ({}), or one URL with `{{shard}}` in it",
                parts.len(),
                shard.count
            ))
        }
    };
    for u in &urls {
        let parsed = reqwest::Url::parse(u).map_err(|e| format!("`{u}` is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("`{u}` is not an http or https URL"));
        }
    }
    Ok(urls
        .into_iter()
        .map(|u| u.trim_end_matches('/').to_string())
        .collect())
}

/// An identity key and the first and last commit time of its credits.
pub type KeySpan = (String, i64, i64);

/// What one replica knows about people, raw (before joining): every identity key with the name
/// a source stored for it, how often each key signed a non-merge commit under each name, and
/// per key the first and last commit time of its credits on any asset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeopleSummary {
    pub shard: u64,
    pub shards: u64,
    /// Whether every source of the replica has finished a collection (in this run or, as its
    /// store remembers, an earlier one): until then its people are not all known, and shard 0
    /// does not count the organisation yet.
    pub ready: bool,
    pub stored: BTreeMap<String, String>,
    pub name_uses: Vec<NameUse>,
    pub credited: Vec<KeySpan>,
}

impl PeopleSummary {
    /// `{"shard", "shards", "ready", "people": {key: name}, "name_uses": [[key, name, uses, last_at]],
    /// "credited": [[key, first_at, last_at]]}`.
    pub fn to_json(&self) -> String {
        let uses: Vec<serde_json::Value> = self
            .name_uses
            .iter()
            .map(|u| serde_json::json!([u.key, u.name, u.uses, u.last_at]))
            .collect();
        let credited: Vec<serde_json::Value> = self
            .credited
            .iter()
            .map(|(k, first, last)| serde_json::json!([k, first, last]))
            .collect();
        serde_json::json!({
            "shard": self.shard,
            "shards": self.shards,
            "ready": self.ready,
            "people": self.stored,
            "name_uses": uses,
            "credited": credited,
        })
        .to_string()
    }

    pub fn from_json(body: &[u8]) -> Result<PeopleSummary, String> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        let bad = |what: &str| format!("malformed people summary: {what}");
        let int = |v: &serde_json::Value, what: &str| v.as_i64().ok_or_else(|| bad(what));
        let text = |v: &serde_json::Value, what: &str| {
            v.as_str().map(String::from).ok_or_else(|| bad(what))
        };
        let array = |name: &str| {
            v.get(name)
                .and_then(|a| a.as_array())
                .ok_or_else(|| bad(name))
        };
        let mut out = PeopleSummary {
            shard: v
                .get("shard")
                .and_then(|s| s.as_u64())
                .ok_or_else(|| bad("shard"))?,
            shards: v
                .get("shards")
                .and_then(|s| s.as_u64())
                .ok_or_else(|| bad("shards"))?,
            ready: v
                .get("ready")
                .and_then(|s| s.as_bool())
                .ok_or_else(|| bad("ready"))?,
            ..PeopleSummary::default()
        };
        for (k, name) in v
            .get("people")
            .and_then(|p| p.as_object())
            .ok_or_else(|| bad("people"))?
        {
            out.stored.insert(k.clone(), text(name, "people")?);
        }
        for u in array("name_uses")? {
            let u = u
                .as_array()
                .filter(|u| u.len() == 4)
                .ok_or_else(|| bad("name_uses"))?;
            out.name_uses.push(NameUse {
                key: text(&u[0], "name_uses")?,
                name: text(&u[1], "name_uses")?,
                uses: u[2].as_u64().ok_or_else(|| bad("name_uses"))?,
                last_at: int(&u[3], "name_uses")?,
            });
        }
        for c in array("credited")? {
            let c = c
                .as_array()
                .filter(|c| c.len() == 3)
                .ok_or_else(|| bad("credited"))?;
            out.credited.push((
                text(&c[0], "credited")?,
                int(&c[1], "credited")?,
                int(&c[2], "credited")?,
            ));
        }
        Ok(out)
    }
}

/// The identity inputs of every replica together: stored names (for a key two replicas
/// stored, the lower shard's, so every replica picks the same; a stored name only names a
/// person who never signed a commit) and name uses summed per key and name (each commit is
/// mined by one replica).
pub fn merged_inputs(
    local: &PeopleSummary,
    peers: &[PeopleSummary],
) -> (BTreeMap<String, String>, Vec<NameUse>) {
    let mut by_shard: Vec<&PeopleSummary> = std::iter::once(local).chain(peers).collect();
    by_shard.sort_by_key(|s| s.shard);
    let mut stored = BTreeMap::new();
    for (k, n) in by_shard.iter().flat_map(|s| &s.stored) {
        stored.entry(k.clone()).or_insert_with(|| n.clone());
    }
    let mut uses: BTreeMap<(String, String), (u64, i64)> = BTreeMap::new();
    for s in std::iter::once(local).chain(peers) {
        for u in &s.name_uses {
            let e = uses
                .entry((u.key.clone(), u.name.clone()))
                .or_insert((0, i64::MIN));
            e.0 += u.uses;
            e.1 = e.1.max(u.last_at);
        }
    }
    let uses = uses
        .into_iter()
        .map(|((key, name), (uses, last_at))| NameUse {
            key,
            name,
            uses,
            last_at,
        })
        .collect();
    (stored, uses)
}

/// Organisation-wide, for each time in `since`: the distinct people (of `people`, opted-out
/// ones left out) with a credit committed at or after it, and those whose first credit was.
/// `credited` holds every replica's per-key spans; a key no person holds is its own person.
pub fn organisation_activity<'a>(
    people: &Directory,
    credited: impl IntoIterator<Item = &'a KeySpan>,
    since: &[i64],
) -> Vec<(u64, u64)> {
    let mut span: HashMap<&str, (i64, i64)> = HashMap::new();
    for (key, first, last) in credited {
        let who = match people.person(key) {
            Some(p) if p.opted_out => continue,
            Some(p) => p.id.as_str(),
            None => key.as_str(),
        };
        let e = span.entry(who).or_insert((*first, *last));
        e.0 = e.0.min(*first);
        e.1 = e.1.max(*last);
    }
    since
        .iter()
        .map(|s| {
            let active = span.values().filter(|(_, last)| last >= s).count() as u64;
            let new = span.values().filter(|(first, _)| first >= s).count() as u64;
            (active, new)
        })
        .collect()
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

    #[test]
    fn peer_urls_are_a_list_per_shard_or_a_template() {
        let shard = Shard { index: 1, count: 3 };
        assert_eq!(
            peer_urls("http://m-{shard}.p:9717/", shard).unwrap(),
            [
                "http://m-0.p:9717",
                "http://m-1.p:9717",
                "http://m-2.p:9717"
            ]
        );
        assert_eq!(
            peer_urls("http://a:1, https://b:2,http://c:3", shard).unwrap(),
            ["http://a:1", "https://b:2", "http://c:3"]
        );
        assert!(peer_urls("http://a:1,http://b:2", shard).is_err());
        assert!(peer_urls("file:///x/{shard}", shard).is_err());
    }

    fn uses(key: &str, name: &str, uses: u64, last_at: i64) -> NameUse {
        NameUse {
            key: key.into(),
            name: name.into(),
            uses,
            last_at,
        }
    }

    #[test]
    fn a_summary_survives_json_and_malformed_ones_are_refused() {
        let summary = PeopleSummary {
            shard: 2,
            shards: 3,
            ready: true,
            stored: [("ann@x".to_string(), "Ann \"Lee\"".to_string())].into(),
            name_uses: vec![uses("ann@x", "Ann Lee", 3, 1_700_000_000)],
            credited: vec![("ann@x".into(), -5, 1_700_000_000)],
        };
        assert_eq!(
            PeopleSummary::from_json(summary.to_json().as_bytes()),
            Ok(summary)
        );
        for bad in [
            "[]",
            "{\"shard\": 0}",
            "{\"shard\": 0, \"shards\": 2, \"people\": {}, \"name_uses\": [[\"k\", \"n\", -1, 0]], \"credited\": []}",
            "{\"shard\": 0, \"shards\": 2, \"people\": {}, \"name_uses\": [], \"credited\": [[\"k\", 1]]}",
        ] {
            assert!(PeopleSummary::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    /// What one process would see: the same keys, name uses summed, one directory; the
    /// organisation-wide counts over it match a count by hand.
    #[test]
    fn merged_summaries_join_people_and_count_them_once() {
        let recognition = crate::config::Recognition::default();
        let local = PeopleSummary {
            stored: [("dana@a".to_string(), "Dana Wu".to_string())].into(),
            name_uses: vec![
                uses("dana@a", "Dana Wu", 3, 100),
                uses("cy@x", "Cy Park", 1, 50),
            ],
            credited: vec![("dana@a".into(), 100, 300), ("cy@x".into(), 50, 50)],
            ..PeopleSummary::default()
        };
        let peer = PeopleSummary {
            shard: 1,
            shards: 2,
            ready: true,
            stored: [("dana@b".to_string(), "Dana Wu-Smith".to_string())].into(),
            name_uses: vec![
                uses("dana@b", "Dana Wu", 1, 900),
                uses("dana@b", "Dana Wu-Smith", 2, 950),
            ],
            credited: vec![("dana@b".into(), 900, 950)],
        };
        let (stored, name_uses) = merged_inputs(&local, std::slice::from_ref(&peer));
        assert_eq!(stored.len(), 2);
        // A key both replicas stored gets the lower shard's name on either replica.
        let mut a = local.clone();
        a.stored.insert("handle:cy".into(), "Cy".into());
        let mut b = peer.clone();
        b.stored.insert("handle:cy".into(), "cy-park".into());
        for (me, other) in [(&a, &b), (&b, &a)] {
            let (stored, _) = merged_inputs(me, std::slice::from_ref(other));
            assert_eq!(stored["handle:cy"], "Cy");
        }
        let dana: Vec<&NameUse> = name_uses.iter().filter(|u| u.name == "Dana Wu").collect();
        assert_eq!(dana.len(), 2, "one row per key and name");
        let people = crate::people::unify(&stored, &name_uses, &recognition);
        let person = people.person("dana@b").unwrap();
        assert_eq!(
            (person.id.as_str(), person.name.as_str()),
            ("dana@a", "Dana Wu")
        );
        let spans: Vec<(String, i64, i64)> = local
            .credited
            .iter()
            .chain(&peer.credited)
            .cloned()
            .collect();
        // Dana is one person: first 100 (her first key), last 950 (her second). Since 200:
        // she is active, not new; Cy (50) is neither. Since 40: both are both. Since 960:
        // nobody. Counted per key, since 200 would give 1 active and 1 new.
        assert_eq!(
            organisation_activity(&people, &spans, &[200, 40, 960]),
            [(1, 0), (2, 2), (0, 0)]
        );
    }
}
