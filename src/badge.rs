//! README badges: `/badge/{asset}/{signal}.svg`, an asset's owner and health in the flat
//! style READMEs use (shields.io's), so a shared library's README shows them where its users
//! read. Every value comes from the served asset-level series (what `/metrics` and
//! `/api/v1/assets` serve), never from the store: a badge never waits on a collection.

use std::collections::HashMap;

use crate::exposition::{Family, Sample};
use crate::metrics;

/// The signals a badge can show, in the order the docs list them.
pub const SIGNALS: [&str; 6] = [
    "owner",
    "build",
    "coverage",
    "reproducibility",
    "latency",
    "freshness",
];

/// shields.io's named colours.
pub const GREEN: &str = "#4c1";
pub const YELLOW: &str = "#dfb317";
pub const ORANGE: &str = "#fe7d37";
pub const RED: &str = "#e05d44";
pub const BLUE: &str = "#007ec6";
pub const GREY: &str = "#9f9f9f";

#[derive(Debug, Clone, PartialEq)]
pub struct Badge {
    pub label: &'static str,
    pub message: String,
    pub color: &'static str,
}

/// The served asset-level series, by asset: what badges and the pages
/// ([`crate::overview`]) read.
pub struct AssetSeries<'a> {
    by_asset: HashMap<&'a str, Vec<(&'static str, &'a Sample)>>,
}

impl<'a> AssetSeries<'a> {
    pub fn new(families: impl IntoIterator<Item = &'a Family>) -> AssetSeries<'a> {
        let mut by_asset: HashMap<&str, Vec<_>> = HashMap::new();
        for f in families {
            for s in &f.samples {
                if let Some((_, a)) = s.labels.iter().find(|(k, _)| *k == "asset") {
                    by_asset.entry(a.as_str()).or_default().push((f.name, s));
                }
            }
        }
        AssetSeries { by_asset }
    }

    /// Every series of `asset`: (family name, sample).
    pub fn of(&self, asset: &str) -> &[(&'static str, &'a Sample)] {
        self.by_asset.get(asset).map_or(&[], |v| v.as_slice())
    }

    /// The assets with any series.
    pub fn assets(&self) -> impl Iterator<Item = &&'a str> {
        self.by_asset.keys()
    }

    /// The samples of `spec` (no histogram parts) for `asset` carrying every label of `with`.
    pub fn samples(
        &self,
        asset: &str,
        spec: &metrics::Spec,
        with: &[(&str, &str)],
    ) -> Vec<&'a Sample> {
        self.of(asset)
            .iter()
            .filter(|(name, s)| {
                *name == spec.name
                    && s.suffix.is_empty()
                    && with
                        .iter()
                        .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, s)| *s)
            .collect()
    }

    pub fn value(&self, asset: &str, spec: &metrics::Spec, with: &[(&str, &str)]) -> Option<f64> {
        self.samples(asset, spec, with).first().map(|s| s.value)
    }
}

/// The value of `name` among a sample's labels (empty without it).
pub fn label<'s>(s: &'s Sample, name: &str) -> &'s str {
    s.labels
        .iter()
        .find(|(k, _)| *k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The asset-level series of one asset.
struct Series<'a> {
    series: AssetSeries<'a>,
    asset: &'a str,
}

impl Series<'_> {
    fn value(&self, spec: &metrics::Spec, with: &[(&str, &str)]) -> Option<f64> {
        self.series.value(self.asset, spec, with)
    }

    /// A ratio badge: the ratio as a percentage, coloured by [`ratio_color`] against the
    /// catalog's `target` or the fixed `steps`; grey `missing` without the ratio.
    fn ratio(
        &self,
        label: &'static str,
        (spec, with): (&metrics::Spec, &[(&str, &str)]),
        target: &metrics::Spec,
        (good, fair): (f64, f64),
        missing: &str,
    ) -> Badge {
        match self.value(spec, with) {
            Some(v) => Badge {
                label,
                message: percent(v),
                color: ratio_color(v, self.value(target, &[]), good, fair),
            },
            None => Badge {
                label,
                message: missing.to_string(),
                color: GREY,
            },
        }
    }

    fn label(&self, spec: &metrics::Spec, name: &str) -> Option<String> {
        let samples = self.series.samples(self.asset, spec, &[]);
        let s = samples.first()?;
        s.labels
            .iter()
            .any(|(k, _)| *k == name)
            .then(|| label(s, name).to_string())
    }
}

/// The fixed steps (green at or above the first, yellow at or above the second) of each ratio
/// without a catalog target.
pub const BUILD_STEPS: (f64, f64) = (0.9, 0.75);
pub const COVERAGE_STEPS: (f64, f64) = (0.8, 0.6);
pub const REPRODUCIBILITY_STEPS: (f64, f64) = (0.95, 0.8);

/// The colour of a p95 latency against its target: green at or under it, yellow up to 1.5
/// times it, red above; blue without a target.
pub fn latency_color(p95: f64, target: Option<f64>) -> &'static str {
    match target {
        Some(g) if p95 <= g => GREEN,
        Some(g) if p95 <= 1.5 * g => YELLOW,
        Some(_) => RED,
        None => BLUE,
    }
}

/// The colour of a ratio against the catalog's target when there is one (at or above it
/// green, within 0.1 below yellow, further red), else against fixed steps `good` and `fair`.
pub fn ratio_color(value: f64, target: Option<f64>, good: f64, fair: f64) -> &'static str {
    let (good, fair) = match target {
        Some(t) => (t, t - 0.1),
        None => (good, fair),
    };
    if value >= good {
        GREEN
    } else if value >= fair {
        YELLOW
    } else {
        RED
    }
}

/// A ratio as a whole percentage, rounded down so that 99.6% never reads as 100%.
pub fn percent(value: f64) -> String {
    format!("{}%", (value * 100.0 + 1e-9).floor() as i64)
}

/// A duration as people say it: 45 ms, 3.2 s, 12 min, 5 h, 3 d.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0);
    if s < 1.0 {
        format!("{} ms", (s * 1000.0).round() as i64)
    } else if s < 60.0 {
        format!("{:.1} s", s)
    } else if s < 3600.0 {
        format!("{} min", (s / 60.0).floor() as i64)
    } else if s < 86_400.0 {
        format!("{} h", (s / 3600.0).floor() as i64)
    } else {
        format!("{} d", (s / 86_400.0).floor() as i64)
    }
}

/// The badge of `signal` for `asset` from the served asset-level `families` at `now`
/// (seconds since the epoch); None for an unknown signal.
pub fn badge(families: &[&Family], asset: &str, signal: &str, now: f64) -> Option<Badge> {
    let s = Series {
        series: AssetSeries::new(families.iter().copied()),
        asset,
    };
    let none = |label: &'static str, message: &str| Badge {
        label,
        message: message.to_string(),
        color: GREY,
    };
    Some(match signal {
        "owner" => {
            let owner = s
                .label(&metrics::ASSET_INFO, "owner")
                .filter(|o| !o.is_empty());
            let lifecycle = s
                .label(&metrics::ASSET_INFO, "lifecycle")
                .unwrap_or_default();
            let conflict = s.value(&metrics::ASSET_OWNERSHIP_CONFLICT, &[]) == Some(1.0);
            match owner {
                Some(owner) if conflict => Badge {
                    label: "owner",
                    message: format!("{owner} (conflict)"),
                    color: ORANGE,
                },
                Some(owner) => Badge {
                    label: "owner",
                    message: owner,
                    color: BLUE,
                },
                None if lifecycle == "production" => Badge {
                    label: "owner",
                    message: "none".into(),
                    color: RED,
                },
                None => none("owner", "none"),
            }
        }
        "build" => s.ratio(
            "build",
            (&metrics::ASSET_BUILD_SUCCESS_RATIO, &[("window", "7d")]),
            &metrics::ASSET_BUILD_SUCCESS_TARGET,
            BUILD_STEPS,
            "no runs",
        ),
        "coverage" => s.ratio(
            "coverage",
            (&metrics::ASSET_COVERAGE_RATIO, &[]),
            &metrics::ASSET_COVERAGE_TARGET,
            COVERAGE_STEPS,
            "unknown",
        ),
        "reproducibility" => s.ratio(
            "reproducibility",
            (&metrics::REPRO_PASS_RATIO, &[("window", "7d")]),
            &metrics::ASSET_REPRODUCIBILITY_TARGET,
            REPRODUCIBILITY_STEPS,
            "no checks",
        ),
        "latency" => {
            // The slowest of the asset's probed targets, against its own target.
            let worst = s
                .series
                .samples(s.asset, &metrics::PROBE_LATENCY_P95_SECONDS, &[])
                .into_iter()
                .filter_map(|sample| {
                    sample
                        .labels
                        .iter()
                        .any(|(k, _)| *k == "target")
                        .then_some(())?;
                    let goal = s.value(
                        &metrics::PROBE_LATENCY_TARGET_SECONDS,
                        &[("target", label(sample, "target"))],
                    );
                    Some((sample.value, goal))
                })
                .max_by(|a, b| a.0.total_cmp(&b.0));
            match worst {
                Some((p95, goal)) => Badge {
                    label: "p95 latency",
                    message: duration(p95),
                    color: latency_color(p95, goal),
                },
                None => none("p95 latency", "no probes"),
            }
        }
        "freshness" => {
            let materialized = s.value(&metrics::FEATURE_VIEW_MATERIALIZED_TIMESTAMP_SECONDS, &[]);
            if let Some(at) = materialized {
                let age = now - at;
                let ttl = s.value(&metrics::FEATURE_VIEW_TTL_SECONDS, &[]);
                Badge {
                    label: "materialized",
                    message: format!("{} ago", duration(age)),
                    color: match ttl {
                        Some(t) if t > 0.0 && age > t => RED,
                        _ => GREEN,
                    },
                }
            } else if let Some(at) = s.value(&metrics::ASSET_LAST_UPDATE_TIMESTAMP_SECONDS, &[]) {
                let candidate = s.value(&metrics::ASSET_DEPRECATION_CANDIDATE, &[]) == Some(1.0);
                Badge {
                    label: "updated",
                    message: format!("{} ago", duration(now - at)),
                    color: if candidate { ORANGE } else { GREEN },
                }
            } else {
                none("updated", "unknown")
            }
        }
        _ => return None,
    })
}

/// Approximate width in pixels of `text` in 11 px Verdana (what shields.io measures with):
/// narrow, wide and average characters, enough to size the two boxes.
fn text_width(text: &str) -> f64 {
    text.chars()
        .map(|c| match c {
            'i' | 'l' | 'j' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' => 3.5,
            'f' | 't' | 'r' | 'I' | ' ' | '(' | ')' | '[' | ']' | '-' => 4.5,
            'm' | 'w' | 'M' | 'W' | '%' | '@' => 10.5,
            c if c.is_ascii_uppercase() || c.is_ascii_digit() => 7.5,
            _ => 7.0,
        })
        .sum()
}

impl Badge {
    /// The badge as a standalone SVG in the flat style: a grey label box and a coloured
    /// message box, 20 px high, with a title and an accessible name.
    pub fn svg(&self) -> String {
        let label = crate::escape_html(self.label);
        let message = crate::escape_html(&self.message);
        let lw = (text_width(self.label) + 10.0).round();
        let mw = (text_width(&self.message) + 10.0).round();
        let width = lw + mw;
        let lx = lw / 2.0;
        let mx = lw + mw / 2.0;
        format!(
            concat!(
                r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="{label}: {message}">"##,
                r##"<title>{label}: {message}</title>"##,
                r##"<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>"##,
                r##"<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>"##,
                r##"<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{mw}" height="20" fill="{color}"/><rect width="{width}" height="20" fill="url(#s)"/></g>"##,
                r##"<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">"##,
                r##"<text x="{lx}" y="15" fill="#010101" fill-opacity=".3">{label}</text><text id="label" x="{lx}" y="14">{label}</text>"##,
                r##"<text x="{mx}" y="15" fill="#010101" fill-opacity=".3">{message}</text><text id="message" x="{mx}" y="14">{message}</text>"##,
                r##"</g></svg>"##,
                "\n"
            ),
            width = width,
            lw = lw,
            mw = mw,
            lx = lx,
            mx = mx,
            label = label,
            message = message,
            color = self.color,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(spec: &'static metrics::Spec, samples: &[(&[(&'static str, &str)], f64)]) -> Family {
        let mut f = Family::of(spec);
        for (labels, v) in samples {
            f.push(
                labels.iter().map(|(k, v)| (*k, v.to_string())).collect(),
                *v,
            );
        }
        f
    }

    #[test]
    fn colours_follow_targets_and_steps() {
        assert_eq!(ratio_color(0.95, Some(0.9), 0.9, 0.75), GREEN);
        assert_eq!(ratio_color(0.85, Some(0.9), 0.9, 0.75), YELLOW);
        assert_eq!(ratio_color(0.79, Some(0.9), 0.9, 0.75), RED);
        assert_eq!(ratio_color(0.9, None, 0.9, 0.75), GREEN);
        assert_eq!(ratio_color(0.75, None, 0.9, 0.75), YELLOW);
        assert_eq!(ratio_color(0.7499, None, 0.9, 0.75), RED);
        assert_eq!(percent(0.996), "99%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(percent(0.5), "50%");
        assert_eq!(duration(0.0234), "23 ms");
        assert_eq!(duration(3.25), "3.2 s");
        assert_eq!(duration(7200.0), "2 h");
        assert_eq!(duration(3.0 * 86_400.0 + 5.0), "3 d");
    }

    #[test]
    fn each_signal_from_the_asset_level_series() {
        let a: &[(&'static str, &str)] = &[("asset", "lib")];
        let families = [
            family(
                &metrics::ASSET_INFO,
                &[(
                    &[
                        ("asset", "lib"),
                        ("kind", "library"),
                        ("owner", "ml-team"),
                        ("lifecycle", "production"),
                    ],
                    1.0,
                )],
            ),
            family(&metrics::ASSET_OWNERSHIP_CONFLICT, &[(a, 0.0)]),
            family(
                &metrics::ASSET_BUILD_SUCCESS_RATIO,
                &[
                    (&[("asset", "lib"), ("window", "1d")], 0.2),
                    (&[("asset", "lib"), ("window", "7d")], 0.875),
                ],
            ),
            family(&metrics::ASSET_BUILD_SUCCESS_TARGET, &[(a, 0.95)]),
            family(&metrics::ASSET_COVERAGE_RATIO, &[(a, 0.8123)]),
            family(
                &metrics::PROBE_LATENCY_P95_SECONDS,
                &[
                    (&[("asset", "lib"), ("target", "fast")], 0.01),
                    (&[("asset", "lib"), ("target", "slow")], 0.12),
                ],
            ),
            family(
                &metrics::PROBE_LATENCY_TARGET_SECONDS,
                &[(&[("asset", "lib"), ("target", "slow")], 0.1)],
            ),
            family(
                &metrics::ASSET_LAST_UPDATE_TIMESTAMP_SECONDS,
                &[(a, 1000.0)],
            ),
        ];
        let refs: Vec<&Family> = families.iter().collect();
        let b = |signal| badge(&refs, "lib", signal, 1000.0 + 2.0 * 86_400.0).unwrap();
        assert_eq!(b("owner").message, "ml-team");
        assert_eq!(b("owner").color, BLUE);
        // 7 days, not 1; 0.875 is within 0.1 of the 0.95 target.
        assert_eq!(b("build").message, "87%");
        assert_eq!(b("build").color, YELLOW);
        assert_eq!(b("coverage").message, "81%");
        assert_eq!(b("coverage").color, GREEN);
        assert_eq!(b("reproducibility").message, "no checks");
        assert_eq!(b("reproducibility").color, GREY);
        // The slowest target, 1.2 times its 100 ms target.
        assert_eq!(b("latency").message, "120 ms");
        assert_eq!(b("latency").color, YELLOW);
        assert_eq!(b("freshness").message, "2 d ago");
        assert_eq!(badge(&refs, "lib", "mood", 0.0), None);
        // Another asset's series are not this one's.
        let other = badge(&refs, "other", "owner", 0.0).unwrap();
        assert_eq!((other.message.as_str(), other.color), ("none", GREY));
    }

    #[test]
    fn svg_escapes_and_sizes_its_boxes() {
        let b = Badge {
            label: "owner",
            message: "r&d <team>".into(),
            color: BLUE,
        };
        let svg = b.svg();
        assert!(svg.contains("r&amp;d &lt;team&gt;"), "{svg}");
        assert!(!svg.contains("<team>"));
        let short = Badge {
            message: "a".into(),
            ..b.clone()
        }
        .svg();
        let width = |s: &str| -> f64 {
            let w = s.split("width=\"").nth(1).unwrap();
            w[..w.find('"').unwrap()].parse().unwrap()
        };
        assert!(width(&svg) > width(&short));
    }
}
