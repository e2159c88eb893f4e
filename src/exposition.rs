//! Metric families and the Prometheus text format (0.0.4). Only this module knows the format.
//!
//! A [`Snapshot`] is rendered once per collection — plain and gzip-compressed — and every
//! scrape serves it as is.

use std::fmt::Write as _;
use std::io::Write as _;

use axum::body::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    /// Samples carry the `_bucket`, `_sum` and `_count` suffixes (see [`Family::push_histogram`]).
    Histogram,
}

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
    pub fn new(name: &'static str, kind: MetricType, help: &'static str) -> Self {
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
        let help = f.help.replace('\\', "\\\\").replace('\n', "\\n");
        let kind = match f.kind {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        };
        let _ = writeln!(out, "# HELP {} {help}\n# TYPE {} {kind}", f.name, f.name);
        for s in &f.samples {
            push_sample(f.name, s, &mut out);
            out.push('\n');
        }
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
        let mut encoder = flate2::write::GzEncoder::new(
            Vec::with_capacity(text.len() / 4),
            flate2::Compression::fast(),
        );
        // Writing into a Vec cannot fail.
        encoder
            .write_all(text.as_bytes())
            .expect("writing to a Vec");
        let gzip = encoder
            .finish()
            .expect("finishing a gzip stream into a Vec");
        Snapshot {
            text: Bytes::from(text),
            gzip: Bytes::from(gzip),
        }
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
}
