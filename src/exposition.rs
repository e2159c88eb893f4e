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
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
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
        self.samples.push(Sample { labels, value });
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
        };
        let _ = writeln!(out, "# HELP {} {help}\n# TYPE {} {kind}", f.name, f.name);
        for s in &f.samples {
            out.push_str(f.name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(k);
                    out.push_str("=\"");
                    escape_label(v, &mut out);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            format_value(s.value, &mut out);
            out.push('\n');
        }
    }
    out
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
    fn gzip_roundtrip() {
        use std::io::Read;
        let s = Snapshot::new("a 1\n".into());
        let mut d = flate2::read::GzDecoder::new(&s.gzip[..]);
        let mut out = String::new();
        d.read_to_string(&mut out).unwrap();
        assert_eq!(out, "a 1\n");
    }
}
