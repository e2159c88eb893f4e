//! Metric families and the Prometheus text format (0.0.4). Only this module knows the format.
//!
//! A [`Snapshot`] is rendered once per collection — plain and gzip-compressed — and every
//! scrape serves it as is.

use std::fmt::Write as _;

use axum::body::Bytes;

pub use crate::metrics::MetricType;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Appended to the family name: empty, or `_bucket`, `_sum`, `_count` in a histogram.
    pub suffix: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

/// Cumulative counts of observations at or below each upper bound, with their sum and count.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Histogram {
    /// Upper bounds, ascending; `+Inf` is implied.
    pub bounds: Vec<f64>,
    /// Observations at or below each bound (not cumulative; rendering accumulates).
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricType,
    pub samples: Vec<Sample>,
}

impl Family {
    /// An empty family of the metric `spec` defines ([`crate::metrics`]).
    pub fn of(spec: &'static crate::metrics::Spec) -> Self {
        Family::new(spec.name, spec.metric_type, spec.help())
    }

    /// A family not in the catalog: tests of the format only.
    pub(crate) fn new(name: &'static str, kind: MetricType, help: &'static str) -> Self {
        debug_assert_eq!(
            name.ends_with("_total"),
            kind == MetricType::Counter,
            "{name}: _total is for counters only"
        );
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    pub fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push(Sample {
            suffix: "",
            labels,
            value,
        });
    }

    /// The `_bucket` (cumulative, with `le`), `_sum` and `_count` samples of one histogram.
    pub fn push_histogram(&mut self, labels: Vec<(&'static str, String)>, h: &Histogram) {
        let mut cumulative = 0;
        let bucket = |le: String| {
            let mut l = labels.clone();
            l.push(("le", le));
            l
        };
        for (bound, n) in h.bounds.iter().zip(&h.counts) {
            cumulative += n;
            let mut le = String::new();
            format_value(*bound, &mut le);
            self.samples.push(Sample {
                suffix: "_bucket",
                labels: bucket(le),
                value: cumulative as f64,
            });
        }
        self.samples.push(Sample {
            suffix: "_bucket",
            labels: bucket("+Inf".into()),
            value: h.count as f64,
        });
        self.samples.push(Sample {
            suffix: "_sum",
            labels: labels.clone(),
            value: h.sum,
        });
        self.samples.push(Sample {
            suffix: "_count",
            labels,
            value: h.count as f64,
        });
    }
}

fn escape_label(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn format_value(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Renders families in the order given; samples in the order pushed.
pub fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families {
        out.push_str(&render_header(f));
        out.push_str(&render_samples(f));
    }
    out
}

/// The same families in the OpenMetrics 1.0 text format: a counter's family is named without
/// its `_total` suffix (its samples keep it), `"` in HELP is escaped, and with `created`,
/// every counter sample is followed by its `_created` (the time the counter started). The
/// caller ends the whole exposition with `# EOF`. Works on any piece of an exposition: a
/// piece without a family's header (one asset's block) is sample lines, kept as they are.
pub fn openmetrics(text: &str, created: Option<f64>) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut counter: Option<&str> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = name.strip_suffix("_total").unwrap_or(name);
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            out.push_str(&help.replace('"', "\\\""));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            counter = (kind == "counter").then_some(name);
            out.push_str("# TYPE ");
            out.push_str(name.strip_suffix("_total").unwrap_or(name));
            out.push(' ');
            out.push_str(kind);
        } else {
            out.push_str(line);
            if let (Some(name), Some(at)) = (counter, created) {
                if let Some(labels) = line
                    .strip_prefix(name)
                    .and_then(|rest| rest.rsplit_once(' '))
                    .map(|(labels, _)| labels)
                {
                    let base = name.strip_suffix("_total").unwrap_or(name);
                    out.push('\n');
                    out.push_str(base);
                    out.push_str("_created");
                    out.push_str(labels);
                    out.push(' ');
                    format_value(at, &mut out);
                }
            }
        }
        out.push('\n');
    }
    out
}

/// A family's `# HELP` and `# TYPE` lines.
pub fn render_header(f: &Family) -> String {
    let help = f.help.replace('\\', "\\\\").replace('\n', "\\n");
    let kind = match f.kind {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Histogram => "histogram",
    };
    format!("# HELP {} {help}\n# TYPE {} {kind}\n", f.name, f.name)
}

/// A family's sample lines, in the order pushed.
pub fn render_samples(f: &Family) -> String {
    let mut out = String::new();
    for s in &f.samples {
        push_sample(f.name, s, &mut out);
        out.push('\n');
    }
    out
}

/// `name{labels} value`, without the line's end.
fn push_sample(name: &str, s: &Sample, out: &mut String) {
    out.push_str(name);
    out.push_str(s.suffix);
    if !s.labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in s.labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape_label(v, out);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    format_value(s.value, out);
}

/// The OpenMetrics `# HELP` and `# TYPE` lines of `family` (a counter's family name without
/// `_total`, as OpenMetrics wants).
pub fn openmetrics_header(family: &Family) -> String {
    let (name, kind) = match family.kind {
        MetricType::Counter => (
            family.name.strip_suffix("_total").unwrap_or(family.name),
            "counter",
        ),
        MetricType::Gauge => (family.name, "gauge"),
        MetricType::Histogram => (family.name, "histogram"),
    };
    let help = family
        .help
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"");
    format!("# HELP {name} {help}\n# TYPE {name} {kind}\n")
}

/// `family`'s samples as OpenMetrics lines stamped `at` (seconds since the epoch).
pub fn openmetrics_samples(family: &Family, at: i64, out: &mut String) {
    for s in &family.samples {
        push_sample(family.name, s, out);
        let _ = writeln!(out, " {at}");
    }
}

/// A rendered exposition, plain and gzip-compressed.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub text: Bytes,
    pub gzip: Bytes,
}

impl Snapshot {
    pub fn new(text: String) -> Snapshot {
        Joined::default().finish(&Part::new(text))
    }
}

/// Parts joined in order without their gzip header and trailer: the derived families of a
/// render, to which each serving adds the self metrics ([`Joined::finish`]). Each part was
/// compressed once, on its own; joining only copies (as pigz joins blocks compressed apart).
#[derive(Clone, Default)]
pub struct Joined {
    pub text: Bytes,
    deflated: Bytes,
    crc: crc32fast::Hasher,
}

impl Joined {
    pub fn join(parts: &[&Part]) -> Joined {
        let segments = segments(parts);
        let mut text = Vec::with_capacity(parts.iter().map(|p| p.text.len()).sum());
        let mut deflated = Vec::with_capacity(segments.iter().map(|s| s.len()).sum());
        let mut crc = crc32fast::Hasher::new();
        for (part, segment) in parts.iter().zip(&segments) {
            text.extend_from_slice(part.text.as_bytes());
            deflated.extend_from_slice(segment);
            crc.combine(&part.crc);
        }
        Joined {
            text: Bytes::from(text),
            deflated: Bytes::from(deflated),
            crc,
        }
    }

    /// The exposition of these parts followed by `last`, as one text and one gzip member: a
    /// header, the deflate segments, an empty final block, and the CRC of the whole text
    /// combined from the parts' CRCs.
    pub fn finish(&self, last: &Part) -> Snapshot {
        let length = self.text.len() + last.text.len();
        let mut text = Vec::with_capacity(length);
        text.extend_from_slice(&self.text);
        text.extend_from_slice(last.text.as_bytes());
        let mut gzip = Vec::with_capacity(self.deflated.len() + last.deflated().len() + 20);
        // RFC 1952 header: magic, deflate, no flags, no time, no extra flags, unknown OS.
        gzip.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        gzip.extend_from_slice(&self.deflated);
        gzip.extend_from_slice(last.deflated());
        // An empty final block with fixed codes (BFINAL 1, BTYPE 01, end-of-block), which a
        // byte-aligned stream after a full flush can take as its last two bytes.
        gzip.extend_from_slice(&[0x03, 0x00]);
        let mut crc = self.crc.clone();
        crc.combine(&last.crc);
        gzip.extend_from_slice(&crc.finalize().to_le_bytes());
        // ISIZE: the length modulo 2^32, as RFC 1952 defines it.
        gzip.extend_from_slice(&(length as u32).to_le_bytes());
        Snapshot {
            text: Bytes::from(text),
            gzip: Bytes::from(gzip),
        }
    }
}

/// Text per compression unit, at least (unless the parts end first): libdeflate compresses a
/// unit of 128 KB of exposition text about 2.5% smaller than `gzip -9` compresses the whole
/// text, and units that refer to nothing outside themselves can be kept and joined.
const UNIT_MIN: usize = 128 * 1024;
/// Text per compression unit, at most (a unit is recompressed whole when one of its parts
/// changes).
const UNIT_MAX: usize = 1024 * 1024;

/// The deflate segment of each of `parts` in this order. Consecutive parts are compressed
/// together in units of [`UNIT_MIN`] to [`UNIT_MAX`] bytes of text; a unit ends after a part
/// whose fingerprint is even once it holds [`UNIT_MIN`] bytes, so where units end depends on
/// the parts' own content, and a part that changes moves at most the boundaries right
/// around it (content-defined chunking, at part granularity). The last part of a unit
/// carries the unit's segment (kept with the fingerprint of its parts: a render that changed
/// some groups recompresses only the units that hold them), every other part an empty one.
pub fn segments(parts: &[&Part]) -> Vec<std::sync::Arc<[u8]>> {
    let empty: std::sync::Arc<[u8]> = std::sync::Arc::from(Vec::new());
    let mut out = Vec::with_capacity(parts.len());
    let (mut start, mut held) = (0, 0);
    for (i, part) in parts.iter().enumerate() {
        held += part.text.len();
        let end = i + 1 == parts.len()
            || held >= UNIT_MAX
            || (held >= UNIT_MIN && part.fingerprint % 2 == 0);
        if end {
            out.extend(std::iter::repeat_n(empty.clone(), i - start));
            out.push(unit(&parts[start..=i]));
            (start, held) = (i + 1, 0);
        }
    }
    out
}

/// The segment of `parts` compressed as one text, kept by the last of them.
fn unit(parts: &[&Part]) -> std::sync::Arc<[u8]> {
    let [.., last] = parts else {
        return std::sync::Arc::from(Vec::new());
    };
    if parts.len() == 1 {
        return last.deflated().clone();
    }
    let key = {
        use std::hash::{BuildHasher, Hasher};
        let mut h = foldhash::quality::FixedState::with_seed(0x7072_6563_6564_6573).build_hasher();
        for part in parts {
            h.write_u64(part.fingerprint);
            h.write_usize(part.text.len());
        }
        h.finish()
    };
    let mut kept = crate::locked(&last.unit);
    if let Some((k, segment)) = kept.as_ref() {
        if *k == key {
            return segment.clone();
        }
    }
    let text: Vec<u8> = parts.iter().flat_map(|p| p.text.bytes()).collect();
    let segment: std::sync::Arc<[u8]> = std::sync::Arc::from(crate::deflate::segment(&text));
    *kept = Some((key, segment.clone()));
    segment
}

/// A piece of the exposition (one metric group's families, a block of them, or the self
/// metrics), compressed at most once per unit it ends ([`segments`]) and once on its own,
/// then joined into every snapshot it is part of without compressing it again.
pub struct Part {
    pub text: String,
    /// Sample lines in `text`, counted once.
    samples: usize,
    /// This part alone as raw deflate blocks ending on a byte boundary, never a final
    /// block ([`crate::deflate::segment`]). Made when the part is ([`Part::new`]), or on first
    /// use ([`Part::plain`]).
    deflated: std::sync::OnceLock<std::sync::Arc<[u8]>>,
    /// The segment of the last unit this part ended, with its parts' fingerprint.
    unit: std::sync::Mutex<Option<(u64, std::sync::Arc<[u8]>)>>,
    /// A fingerprint of the text.
    fingerprint: u64,
    crc: crc32fast::Hasher,
    /// The same piece in the OpenMetrics format, made on the first OpenMetrics scrape.
    openmetrics: std::sync::OnceLock<Box<Part>>,
}

impl Clone for Part {
    fn clone(&self) -> Part {
        Part {
            text: self.text.clone(),
            samples: self.samples,
            deflated: self.deflated.clone(),
            unit: std::sync::Mutex::new(crate::locked(&self.unit).clone()),
            fingerprint: self.fingerprint,
            crc: self.crc.clone(),
            openmetrics: self.openmetrics.clone(),
        }
    }
}

/// A 64-bit fingerprint of `bytes` (foldhash with a fixed seed: the same in every process).
fn fingerprint(bytes: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::quality::FixedState::with_seed(0x6d6c_7374_6577_6172).build_hasher();
    h.write(bytes);
    h.finish()
}

impl Part {
    /// A part compressed now (a scrape never waits on compression).
    pub fn new(text: String) -> Part {
        let part = Part::plain(text);
        part.deflated();
        part
    }

    /// A part compressed only if a gzip exposition is ever made of it (`collect-once` prints
    /// the text alone).
    pub fn plain(text: String) -> Part {
        let mut crc = crc32fast::Hasher::new();
        crc.update(text.as_bytes());
        Part {
            samples: text.lines().filter(|l| !l.starts_with('#')).count(),
            fingerprint: fingerprint(text.as_bytes()),
            text,
            deflated: std::sync::OnceLock::new(),
            unit: std::sync::Mutex::new(None),
            crc,
            openmetrics: std::sync::OnceLock::new(),
        }
    }

    fn deflated(&self) -> &std::sync::Arc<[u8]> {
        self.deflated
            .get_or_init(|| std::sync::Arc::from(crate::deflate::segment(self.text.as_bytes())))
    }

    /// This piece in the OpenMetrics format (without `_created` lines), compressed when its
    /// segment is first made.
    pub fn openmetrics(&self) -> &Part {
        self.openmetrics
            .get_or_init(|| Box::new(Part::plain(openmetrics(&self.text, None))))
    }
}

impl Part {
    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// Sample lines in the text.
    pub fn samples(&self) -> usize {
        self.samples
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Size of the compressed segment.
    pub fn compressed_len(&self) -> usize {
        self.deflated().len()
    }
}

impl std::fmt::Debug for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Part")
            .field("len", &self.text.len())
            .field("compressed", &self.deflated.get().map(|d| d.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_format() {
        let mut f = Family::new("x_total", MetricType::Counter, "Things.\nMore \\ text.");
        f.push(vec![("a", "q\"u\\o\nte".into())], 3.0);
        f.push(vec![], 0.25);
        let mut g = Family::new("y", MetricType::Gauge, "Y.");
        g.push(vec![("k", "v".into()), ("l", "w".into())], f64::NAN);
        assert_eq!(
            render(&[f, g]),
            "# HELP x_total Things.\\nMore \\\\ text.\n# TYPE x_total counter\nx_total{a=\"q\\\"u\\\\o\\nte\"} 3\nx_total 0.25\n# HELP y Y.\n# TYPE y gauge\ny{k=\"v\",l=\"w\"} NaN\n"
        );
    }

    #[test]
    fn renders_histograms() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        for v in [0.05, 0.5, 0.7, 3.0] {
            h.observe(v);
        }
        let mut f = Family::new("d_seconds", MetricType::Histogram, "D.");
        f.push_histogram(vec![("s", "x".into())], &h);
        assert_eq!(
            render(&[f]),
            "# HELP d_seconds D.\n# TYPE d_seconds histogram\nd_seconds_bucket{s=\"x\",le=\"0.1\"} 1\nd_seconds_bucket{s=\"x\",le=\"1\"} 3\nd_seconds_bucket{s=\"x\",le=\"+Inf\"} 4\nd_seconds_sum{s=\"x\"} 4.25\nd_seconds_count{s=\"x\"} 4\n"
        );
    }

    #[test]
    fn gzip_roundtrip() {
        use std::io::Read;
        let s = Snapshot::new("a 1\n".into());
        let mut d = flate2::read::GzDecoder::new(&s.gzip[..]);
        let mut out = String::new();
        d.read_to_string(&mut out).unwrap();
        assert_eq!(out, "a 1\n");
    }

    /// Parts compressed apart and joined are one gzip member (a single-member decoder, as
    /// libcurl's, reads all of it) holding exactly the joined text, for empty, tiny and large
    /// parts whose compressed segments do not end on a byte boundary by themselves.
    #[test]
    fn parts_join_into_one_gzip_member() {
        use std::io::{Read, Write};
        let mut rng = fastrand::Rng::with_seed(3);
        let large: String = (0..200_000)
            .map(|i| format!("m{{a=\"{}\"}} {}\n", rng.u32(..1000), i))
            .collect();
        let noise: String = (0..70_000).map(|_| rng.alphanumeric()).collect();
        let texts = ["", "a 1\n", large.as_str(), "", noise.as_str(), "b 2\n"];
        let parts: Vec<Part> = texts.iter().map(|t| Part::new(t.to_string())).collect();
        let refs: Vec<&Part> = parts[..parts.len() - 1].iter().collect();
        let snapshot = Joined::join(&refs).finish(&parts[parts.len() - 1]);
        let joined: String = texts.concat();
        assert_eq!(snapshot.text, joined.as_bytes());
        // One member: the multi-member decoder would also accept concatenated members.
        let mut d = flate2::read::GzDecoder::new(&snapshot.gzip[..]);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, joined.as_bytes());
        let mut rest = Vec::new();
        d.into_inner().read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "nothing after the one member");
        // No larger than compressing the whole text at once at the best level (gzip -9),
        // give or take the few bytes each part's flush costs.
        let mut whole = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        whole.write_all(joined.as_bytes()).unwrap();
        let whole = whole.finish().unwrap().len();
        assert!(
            snapshot.gzip.len() <= whole + 8 * texts.len(),
            "{} > {whole}",
            snapshot.gzip.len()
        );
    }

    /// Many small parts (as per-asset blocks are), some replaced between joins as renders
    /// replace them: every join decodes to exactly its text, units whose parts did not change
    /// keep their segment (a replaced part moves at most the unit boundaries right around
    /// it), and the body is no larger than one `gzip -9` of the whole text.
    #[test]
    fn units_follow_their_parts() {
        use std::io::{Read, Write};
        let mut rng = fastrand::Rng::with_seed(11);
        let block = |rng: &mut fastrand::Rng, asset: usize| -> String {
            (0..rng.usize(1..1200))
                .map(|i| {
                    format!(
                        "mlsteward_contributions_total{{asset=\"a{asset}\",contributor=\"p{}\",kind=\"code\"}} {i}\n",
                        rng.u32(..500)
                    )
                })
                .collect()
        };
        let mut parts: Vec<std::sync::Arc<Part>> = (0..60)
            .map(|a| std::sync::Arc::new(Part::plain(block(&mut rng, a))))
            .collect();
        let mut before: Vec<std::sync::Arc<[u8]>> = Vec::new();
        for round in 0..12 {
            // Replace a few parts, sometimes the first, sometimes with an empty one.
            let replaced = rng.usize(0..4);
            for _ in 0..replaced {
                let i = rng.usize(..parts.len());
                let text = if rng.u8(..10) == 0 {
                    String::new()
                } else {
                    block(&mut rng, i)
                };
                parts[i] = std::sync::Arc::new(Part::plain(text));
            }
            let refs: Vec<&Part> = parts.iter().map(|p| p.as_ref()).collect();
            let again = segments(&refs);
            let units: Vec<&std::sync::Arc<[u8]>> =
                again.iter().filter(|s| !s.is_empty()).collect();
            if !before.is_empty() {
                let kept = units
                    .iter()
                    .filter(|u| before.iter().any(|b| std::sync::Arc::ptr_eq(u, b)))
                    .count();
                assert!(
                    units.len() - kept <= 3 * replaced,
                    "round {round}: {} of {} units compressed again for {replaced} parts",
                    units.len() - kept,
                    units.len()
                );
            }
            before = units.into_iter().cloned().collect();
            let snapshot = Joined::join(&refs).finish(&Part::new("self 1\n".into()));
            let text: String =
                refs.iter().map(|p| p.text.as_str()).collect::<String>() + "self 1\n";
            let mut out = String::new();
            flate2::read::GzDecoder::new(&snapshot.gzip[..])
                .read_to_string(&mut out)
                .unwrap();
            assert!(
                out == text,
                "round {round}: the gzip body decodes to another text"
            );
            // The segments were cached: a second pass hands out the very same ones.
            let cached = segments(&refs);
            assert!(again
                .iter()
                .zip(&cached)
                .all(|(a, b)| std::sync::Arc::ptr_eq(a, b) || (a.is_empty() && b.is_empty())));
            let mut whole = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            whole.write_all(text.as_bytes()).unwrap();
            let whole = whole.finish().unwrap().len();
            assert!(
                snapshot.gzip.len() <= whole,
                "round {round}: {} against gzip -9's {whole}",
                snapshot.gzip.len()
            );
        }
    }
}
