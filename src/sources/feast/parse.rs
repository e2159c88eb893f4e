//! Pure parsers of Feast's registry REST server and feature server answers (Feast 0.67),
//! tested on literal fixtures taken from a real `feast init` repository.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::facts::RegistryAsset;
use crate::sources::forge::{json, null_as_default, parse_time};

/// What one registry object gives: its asset, its numbers and what it depends on.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    pub asset: RegistryAsset,
    pub numbers: Vec<(String, f64)>,
    pub depends_on: Vec<String>,
}

/// `"86400s"` → 86400.
pub fn seconds(duration: &str) -> Option<f64> {
    duration.strip_suffix('s')?.parse::<f64>().ok()
}

/// A page of the registry server's lists (the protobuf objects as JSON, camelCase).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageJson {
    feature_views: Option<Vec<ObjectJson>>,
    feature_services: Option<Vec<ObjectJson>>,
    #[serde(default)]
    pagination: Option<Pagination>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pagination {
    #[serde(default, deserialize_with = "null_as_default")]
    has_next: bool,
}

#[derive(Deserialize)]
struct ObjectJson {
    spec: Spec,
    #[serde(default)]
    meta: Option<Meta>,
}

/// A feature view's or a feature service's spec: `features` are the view's features, or
/// the service's projections (a view's name and the columns taken from it).
#[derive(Deserialize)]
struct Spec {
    #[serde(default, deserialize_with = "null_as_default")]
    name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    owner: String,
    #[serde(default, deserialize_with = "null_as_default")]
    tags: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "null_as_default")]
    features: Vec<Feature>,
    #[serde(default)]
    ttl: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Feature {
    #[serde(default, deserialize_with = "null_as_default")]
    feature_view_name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    feature_columns: Vec<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    last_updated_timestamp: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    materialization_intervals: Vec<Interval>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Interval {
    #[serde(default)]
    end_time: Option<String>,
}

/// The spec's `owner`, else the first of `owner_tags` present among its tags.
fn owner(spec: &Spec, owner_tags: &[String]) -> Option<String> {
    Some(spec.owner.clone())
        .filter(|o| !o.trim().is_empty())
        .or_else(|| {
            owner_tags
                .iter()
                .find_map(|tag| spec.tags.get(tag).filter(|o| !o.trim().is_empty()).cloned())
        })
}

/// A page of `/feature_views` (feature views and on-demand views) or `/feature_services`:
/// its objects, and whether another page follows.
pub fn page(body: &[u8], owner_tags: &[String]) -> Result<(Vec<Object>, bool), String> {
    let page: PageJson = json(body)?;
    let (list, service) = match (page.feature_views, page.feature_services) {
        (Some(l), _) => (l, false),
        (None, Some(l)) => (l, true),
        _ => return Err("neither `featureViews` nor `featureServices`".into()),
    };
    let more = page.pagination.is_some_and(|p| p.has_next);
    let mut out = Vec::new();
    for item in list {
        let spec = item.spec;
        if spec.name.is_empty() {
            return Err("an object without a name".into());
        }
        let meta = item.meta;
        let mut o = Object {
            asset: RegistryAsset {
                id: spec.name.clone(),
                kind: if service {
                    "feature_service"
                } else {
                    "feature_view"
                }
                .into(),
                owner: owner(&spec, owner_tags),
                stewards: Vec::new(),
                lifecycle: None,
                updated_at: meta
                    .as_ref()
                    .and_then(|m| m.last_updated_timestamp.as_deref())
                    .and_then(crate::sources::forge::parse_time_precise),
            },
            ..Object::default()
        };
        if service {
            let mut features = 0;
            for p in &spec.features {
                features += p.feature_columns.len();
                let view = &p.feature_view_name;
                if !view.is_empty() && !o.depends_on.contains(view) {
                    o.depends_on.push(view.clone());
                }
            }
            o.numbers.push(("features".into(), features as f64));
        } else {
            o.numbers
                .push(("features".into(), spec.features.len() as f64));
            if let Some(ttl) = spec.ttl.as_deref().and_then(seconds) {
                if ttl > 0.0 {
                    o.numbers.push(("ttl_seconds".into(), ttl));
                }
            }
            // Materialized up to: the largest end time, not the last interval's.
            let until = meta
                .iter()
                .flat_map(|m| &m.materialization_intervals)
                .filter_map(|i| i.end_time.as_deref().and_then(parse_time))
                .max();
            if let Some(until) = until {
                o.numbers.push(("materialized_until".into(), until as f64));
            }
        }
        out.push(o);
    }
    Ok((out, more))
}

/// What a `get-online-features` answer says: whether any requested cell is missing, and the
/// oldest event time of a value present (entity key columns aside), over all columns and per
/// feature view (asked for with `full_feature_names`, a column is named `view__feature`).
#[derive(Debug, Clone, PartialEq)]
pub struct Retrieved {
    pub missing: bool,
    pub oldest: Option<i64>,
    pub oldest_by_view: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
struct OnlineJson {
    metadata: OnlineMeta,
    results: Vec<Column>,
}

#[derive(Deserialize)]
struct OnlineMeta {
    feature_names: Vec<String>,
}

/// One column of the answer: a status and an event time per requested entity row (the
/// values themselves are not read).
#[derive(Deserialize)]
struct Column {
    statuses: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    event_timestamps: Vec<Option<String>>,
}

/// Reads an answer, matching columns by name (their order depends on the server's hash
/// seed): the columns named in `entity_keys` are the request's, not features.
pub fn retrieved(body: &[u8], entity_keys: &[String]) -> Result<Retrieved, String> {
    let answer: OnlineJson = json(body)?;
    let names = answer.metadata.feature_names;
    if names.len() != answer.results.len() {
        return Err("as many results as feature names expected".into());
    }
    let mut missing = false;
    let mut oldest: Option<i64> = None;
    let mut oldest_by_view = BTreeMap::new();
    for (name, column) in names.iter().zip(&answer.results) {
        if entity_keys.iter().any(|k| k == name) {
            continue;
        }
        let view = name.split_once("__").map(|(view, _)| view);
        for (i, status) in column.statuses.iter().enumerate() {
            if status == "NOT_FOUND" {
                missing = true;
                continue;
            }
            let at = column
                .event_timestamps
                .get(i)
                .and_then(|t| t.as_deref())
                .and_then(parse_time)
                .filter(|t| *t > 0);
            if let Some(at) = at {
                oldest = Some(oldest.map_or(at, |o| o.min(at)));
                if let Some(view) = view {
                    let e = oldest_by_view.entry(view.to_string()).or_insert(at);
                    *e = (*e).min(at);
                }
            }
        }
    }
    Ok(Retrieved {
        missing,
        oldest,
        oldest_by_view,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIEWS: &str = r#"{"featureViews": [
      {"type": "featureView", "spec": {"name": "driver_hourly_stats", "entities": ["driver"],
        "features": [{"name": "conv_rate", "valueType": "FLOAT"}, {"name": "acc_rate", "valueType": "FLOAT"}],
        "tags": {"team": "driver_performance"}, "ttl": "86400s"},
       "meta": {"createdTimestamp": "2026-11-28T22:16:41.078651Z", "lastUpdatedTimestamp": "2026-11-28T22:16:50.639009Z",
        "materializationIntervals": [{"startTime": "2026-11-27T22:16:50Z", "endTime": "2026-11-28T22:16:42Z"},
                                     {"startTime": "2026-11-01T00:00:00Z", "endTime": "2026-11-02T00:00:00Z"}]}},
      {"type": "onDemandFeatureView", "spec": {"name": "transformed_conv_rate", "owner": "ann@example.com",
        "features": [{"name": "conv_rate_plus_val1", "valueType": "DOUBLE"}]},
       "meta": {"lastUpdatedTimestamp": "2026-11-28T22:16:41.079126Z"}}],
      "pagination": {"totalCount": 2, "totalPages": 1}}"#;

    #[test]
    fn views_with_owner_ttl_and_the_largest_materialization_end() {
        let (objects, more) = page(
            VIEWS.as_bytes(),
            &["maintainer".to_string(), "team".to_string()],
        )
        .unwrap();
        assert!(!more);
        let v = &objects[0];
        assert_eq!(v.asset.owner.as_deref(), Some("driver_performance"));
        assert!(v.numbers.contains(&("ttl_seconds".into(), 86400.0)));
        let until = parse_time("2026-11-28T22:16:42Z").unwrap() as f64;
        assert!(v.numbers.contains(&("materialized_until".into(), until)));
        assert!(v.numbers.contains(&("features".into(), 2.0)));
        assert_eq!(objects[1].asset.owner.as_deref(), Some("ann@example.com"));
    }

    #[test]
    fn services_count_projected_features_and_depend_on_views() {
        let body = r#"{"featureServices": [{"spec": {"name": "driver_activity_v1", "features": [
            {"featureViewName": "driver_hourly_stats", "featureColumns": [{"name": "conv_rate"}]},
            {"featureViewName": "transformed_conv_rate", "featureColumns": [{"name": "a"}, {"name": "b"}]}]}}],
            "pagination": {"hasNext": true}}"#;
        let (objects, more) = page(body.as_bytes(), &["team".to_string()]).unwrap();
        assert!(more);
        assert_eq!(objects[0].asset.kind, "feature_service");
        assert_eq!(objects[0].numbers, vec![("features".to_string(), 3.0)]);
        assert_eq!(
            objects[0].depends_on,
            vec!["driver_hourly_stats", "transformed_conv_rate"]
        );
    }

    #[test]
    fn answers_are_read_by_column_name() {
        let body = r#"{"metadata": {"feature_names": ["acc_rate", "driver_id", "conv_rate"]},
          "results": [
            {"values": [0.5, null], "statuses": ["PRESENT", "NOT_FOUND"], "event_timestamps": ["2026-11-28T21:00:00Z", "1970-01-01T00:00:00Z"]},
            {"values": [1001, 999], "statuses": ["PRESENT", "PRESENT"], "event_timestamps": ["1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]},
            {"values": [null, null], "statuses": ["PRESENT", "NOT_FOUND"], "event_timestamps": ["2026-11-28T20:00:00Z", "1970-01-01T00:00:00Z"]}]}"#;
        let r = retrieved(body.as_bytes(), &["driver_id".to_string()]).unwrap();
        assert!(r.missing);
        assert_eq!(r.oldest, parse_time("2026-11-28T20:00:00Z"));
        assert!(r.oldest_by_view.is_empty(), "names without views");
        // With full feature names, per view too.
        let body = r#"{"metadata": {"feature_names": ["driver_id", "stats__conv_rate", "ondemand__x"]},
          "results": [
            {"values": [1001], "statuses": ["PRESENT"], "event_timestamps": ["1970-01-01T00:00:00Z"]},
            {"values": [0.5], "statuses": ["PRESENT"], "event_timestamps": ["2026-11-28T21:00:00Z"]},
            {"values": [1.5], "statuses": ["PRESENT"], "event_timestamps": ["2026-11-28T19:00:00Z"]}]}"#;
        let r = retrieved(body.as_bytes(), &["driver_id".to_string()]).unwrap();
        assert_eq!(r.oldest, parse_time("2026-11-28T19:00:00Z"));
        assert_eq!(
            r.oldest_by_view.into_iter().collect::<Vec<_>>(),
            vec![
                (
                    "ondemand".to_string(),
                    parse_time("2026-11-28T19:00:00Z").unwrap()
                ),
                (
                    "stats".to_string(),
                    parse_time("2026-11-28T21:00:00Z").unwrap()
                )
            ]
        );
        assert!(retrieved(b"\"an error\"", &[]).is_err());
        assert!(retrieved(
            br#"{"metadata": {"feature_names": ["a"]}, "results": []}"#,
            &[]
        )
        .is_err());
    }
}
