//! The `catalog` section: the shared assets, their owners and the files that are theirs.

use std::collections::HashSet;

use super::decode::{child, index, seq, MapReader, Problems};
use super::yaml::Node;
use super::{globs, kind_rules, valid_name, Config, KindRule};

/// Asset kinds of the catalog.
pub const ASSET_KINDS: &[&str] = &[
    "model",
    "feature_view",
    "feature_service",
    "dataset",
    "library",
    "pipeline",
    "repo",
];
pub const LIFECYCLES: &[&str] = &["experimental", "production", "deprecated"];
#[derive(Debug, Clone)]
pub struct AssetConfig {
    pub id: String,
    pub kind: String,
    pub owner: Option<String>,
    pub stewards: Vec<String>,
    /// `None` when the catalog does not set it: a registry's, else `experimental`.
    pub lifecycle: Option<String>,
    /// The git source this asset's files live in.
    pub repository: Option<String>,
    pub paths: Vec<String>,
    pub path_kinds: Vec<KindRule>,
    /// True for the `repo` asset a git source gets when no catalog entry uses its name.
    pub implicit: bool,
    /// Health targets (`build_success: 0.95`), each a ratio in [0, 1].
    pub targets: Vec<(String, f64)>,
    /// How soon an issue or pull request should get its first response.
    pub response_objective: std::time::Duration,
    /// How often the asset is expected to change; a production asset unchanged for twice
    /// this long and without recorded usage is a deprecation candidate.
    pub update_cadence: Option<std::time::Duration>,
}

/// The response objective of an asset the catalog gives none.
pub const DEFAULT_RESPONSE_OBJECTIVE: std::time::Duration =
    std::time::Duration::from_secs(2 * 86_400);

/// The health ratios an asset can have a target for.
pub const TARGETS: &[&str] = &[
    "build_success",
    "coverage",
    "reproducibility",
    "responses_within_objective",
];

impl AssetConfig {
    pub fn target(&self, name: &str) -> Option<f64> {
        self.targets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

fn decode_targets(p: &mut Problems, map: &mut MapReader) -> Vec<(String, f64)> {
    let Some(node) = map.get("targets") else {
        return Vec::new();
    };
    let path = map.child_path("targets");
    let Some(mut targets) = MapReader::new(p, node, &path) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in TARGETS {
        let Some(node) = targets.get(name) else {
            continue;
        };
        let at = targets.child_path(name);
        let Some(text) = super::decode::string(p, node, &at) else {
            continue;
        };
        match text.parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => out.push((name.to_string(), v)),
            _ => p.add(
                node.pos,
                &at,
                format!("expected a ratio from 0 to 1, found `{text}`"),
            ),
        }
    }
    targets.finish(p, TARGETS);
    out
}

impl<S> Config<S> {
    /// The catalog as every consumer sees it: the configured entries plus, for each git source
    /// whose name no entry uses as its id, an implicit asset of kind `repo` named after the
    /// source and covering all its files. Sorted by id.
    pub fn assets(&self) -> Vec<AssetConfig> {
        let mut out = self.catalog.clone();
        for s in self.sources.iter().filter(|s| s.kind == "git") {
            if !out.iter().any(|a| a.id == s.name) {
                out.push(AssetConfig {
                    id: s.name.clone(),
                    kind: "repo".into(),
                    owner: None,
                    stewards: Vec::new(),
                    lifecycle: None,
                    repository: Some(s.name.clone()),
                    paths: vec!["**".into()],
                    path_kinds: Vec::new(),
                    implicit: true,
                    targets: Vec::new(),
                    response_objective: DEFAULT_RESPONSE_OBJECTIVE,
                    update_cadence: None,
                });
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }
}

pub(super) fn decode_catalog(
    p: &mut Problems,
    node: &Node,
    sources: &HashSet<String>,
    discovered: &dyn Fn(&str) -> bool,
) -> Vec<AssetConfig> {
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for (i, item) in seq(p, node, "catalog")
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let path = index("catalog", i);
        let Some(mut map) = MapReader::new(p, item, &path) else {
            continue;
        };
        let id = map.required_string(p, "id");
        if let Some(id) = &id {
            if !valid_name(id) {
                p.add(
                    map.pos(),
                    &map.child_path("id"),
                    format!("`{id}` may only hold letters, digits, `_`, `-`, `.` and `/`"),
                );
            } else if !ids.insert(id.clone()) {
                p.add(
                    map.pos(),
                    &map.child_path("id"),
                    format!("another asset already has id `{id}`"),
                );
            }
        }
        let kind = match map.get("kind") {
            Some(_) => map.choice(p, "kind", ASSET_KINDS),
            None => {
                p.add(map.pos(), &path, "missing required key `kind`");
                None
            }
        };
        let owner = map.string(p, "owner").filter(|o| !o.is_empty());
        let stewards = map.strings(p, "stewards").unwrap_or_default();
        let lifecycle = map.choice(p, "lifecycle", LIFECYCLES);
        let repository = map.string(p, "repository");
        if let (Some(repo), Some(node)) = (&repository, map.get("repository")) {
            if !sources.contains(repo) && !discovered(repo) {
                p.add(
                    node.pos,
                    &child(&path, "repository"),
                    format!(
                        "no git source is named `{repo}`, and no git_discovery source can find it"
                    ),
                );
            }
        }
        let paths = globs(p, &mut map, "paths").unwrap_or_else(|| vec!["**".into()]);
        let path_kinds = kind_rules(p, &mut map, "path_kinds");
        let targets = decode_targets(p, &mut map);
        let response_objective = map
            .duration(p, "response_objective")
            .unwrap_or(DEFAULT_RESPONSE_OBJECTIVE);
        let update_cadence = map.duration(p, "update_cadence").filter(|d| !d.is_zero());
        map.finish(
            p,
            &[
                "id",
                "kind",
                "owner",
                "stewards",
                "lifecycle",
                "repository",
                "paths",
                "path_kinds",
                "targets",
                "response_objective",
                "update_cadence",
            ],
        );
        if let (Some(id), Some(kind)) = (id, kind) {
            out.push(AssetConfig {
                id,
                kind,
                owner,
                stewards,
                lifecycle,
                repository,
                paths,
                path_kinds,
                implicit: false,
                targets,
                response_objective,
                update_cadence,
            });
        }
    }
    out
}
