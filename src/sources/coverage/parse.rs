//! Coverage reports: Cobertura XML, LCOV and coverage.py JSON, each read into line and branch
//! coverage ratios (0 to 1). A ratio with nothing to cover (no branches) is absent.

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coverage {
    pub line: Option<f64>,
    pub branch: Option<f64>,
}

fn ratio(covered: f64, total: f64) -> Option<f64> {
    (total > 0.0).then(|| (covered / total).clamp(0.0, 1.0))
}

/// The value of attribute `name` in an XML start tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(i) = rest.find(name) {
        let before = rest[..i].chars().next_back();
        let after = &rest[i + name.len()..];
        let after = after.trim_start();
        if before.is_some_and(char::is_whitespace) && after.starts_with('=') {
            let value = after[1..].trim_start();
            let quote = value.chars().next()?;
            if quote == '"' || quote == '\'' {
                let end = value[1..].find(quote)?;
                return Some(value[1..1 + end].to_string());
            }
        }
        rest = &rest[i + name.len()..];
    }
    None
}

/// Cobertura: the root `<coverage>` element's `lines-covered`/`lines-valid` (else
/// `line-rate`) and `branches-covered`/`branches-valid` (else `branch-rate`).
pub fn cobertura(text: &str) -> Result<Coverage, String> {
    let start = text
        .find("<coverage")
        .filter(|&i| {
            text[i + 9..]
                .chars()
                .next()
                .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
        })
        .ok_or("no <coverage> element")?;
    let end = text[start..]
        .find('>')
        .ok_or("unterminated <coverage> element")?
        + start;
    let tag = &text[start..end];
    let num = |name: &str| attribute(tag, name).and_then(|v| v.trim().parse::<f64>().ok());
    let line = match (num("lines-covered"), num("lines-valid")) {
        (Some(c), Some(t)) => ratio(c, t),
        _ => num("line-rate").filter(|r| (0.0..=1.0).contains(r)),
    };
    let branch = match (num("branches-covered"), num("branches-valid")) {
        (Some(c), Some(t)) => ratio(c, t),
        _ => num("branch-rate").filter(|r| (0.0..=1.0).contains(r)),
    };
    if line.is_none() && branch.is_none() {
        return Err("the <coverage> element has no line or branch rate".into());
    }
    Ok(Coverage { line, branch })
}

/// LCOV: the sums of `LH`/`LF` and `BRH`/`BRF` over every record.
pub fn lcov(text: &str) -> Result<Coverage, String> {
    let (mut lf, mut lh, mut brf, mut brh) = (0.0, 0.0, 0.0, 0.0);
    let mut records = 0;
    for line in text.lines() {
        let line = line.trim();
        let (key, value) = line.split_once(':').unwrap_or((line, ""));
        let n = || value.trim().parse::<f64>().unwrap_or(0.0);
        match key {
            "LF" => lf += n(),
            "LH" => lh += n(),
            "BRF" => brf += n(),
            "BRH" => brh += n(),
            "end_of_record" => records += 1,
            _ => {}
        }
    }
    if records == 0 {
        return Err("no LCOV record (end_of_record)".into());
    }
    Ok(Coverage {
        line: ratio(lh, lf),
        branch: ratio(brh, brf),
    })
}

/// coverage.py's `coverage json`: `totals.covered_lines / totals.num_statements` and
/// `totals.covered_branches / totals.num_branches`.
pub fn coverage_py(text: &str) -> Result<Coverage, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let totals = v.get("totals").ok_or("no `totals`")?;
    let n = |k: &str| totals.get(k).and_then(Value::as_f64);
    let line = ratio(
        n("covered_lines").ok_or("no `totals.covered_lines`")?,
        n("num_statements").ok_or("no `totals.num_statements`")?,
    );
    let branch = match (n("covered_branches"), n("num_branches")) {
        (Some(c), Some(t)) => ratio(c, t),
        _ => None,
    };
    Ok(Coverage { line, branch })
}

/// The formats, as written in the config.
pub const FORMATS: &[&str] = &["cobertura", "lcov", "coverage_py"];

/// The format of a file from its name, when the config names none.
pub fn format_of(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    if lower.ends_with(".xml") {
        Some("cobertura")
    } else if lower.ends_with(".info") || lower.ends_with(".lcov") {
        Some("lcov")
    } else if lower.ends_with(".json") {
        Some("coverage_py")
    } else {
        None
    }
}

pub fn read(format: &str, bytes: &[u8]) -> Result<Coverage, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the report is not UTF-8".to_string())?;
    match format {
        "cobertura" => cobertura(text),
        "lcov" => lcov(text),
        "coverage_py" => coverage_py(text),
        other => Err(format!("unknown coverage format `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cobertura_counts_win_over_rates() {
        let xml = r#"<?xml version="1.0" ?>
<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">
<coverage version="7.4.0" timestamp="1700000000000" lines-valid="200" lines-covered="150" line-rate="0.75" branches-covered="30" branches-valid="40" branch-rate="0.75" complexity="0">
  <sources><source>/src</source></sources>
</coverage>"#;
        let c = cobertura(xml).unwrap();
        assert_eq!((c.line, c.branch), (Some(0.75), Some(0.75)));
        let rates =
            cobertura(r#"<coverage branch-rate="0" line-rate="0.8123" branches-valid="0">"#)
                .unwrap();
        assert_eq!(rates.line, Some(0.8123));
        assert_eq!(rates.branch, Some(0.0));
        let no_branches =
            cobertura(r#"<coverage lines-valid="10" lines-covered="9" branches-valid="0" branches-covered="0">"#).unwrap();
        assert_eq!((no_branches.line, no_branches.branch), (Some(0.9), None));
        assert!(cobertura("<coverages/>").is_err());
        assert!(cobertura("<coverage version=\"1\">").is_err());
    }

    #[test]
    fn lcov_sums_every_record() {
        let info = "TN:\nSF:a.py\nDA:1,1\nLF:10\nLH:8\nBRF:4\nBRH:1\nend_of_record\nSF:b.py\nLF:10\nLH:2\nend_of_record\n";
        let c = lcov(info).unwrap();
        assert_eq!((c.line, c.branch), (Some(0.5), Some(0.25)));
        assert!(lcov("SF:a\nLF:1\n").is_err());
    }

    #[test]
    fn coverage_py_totals() {
        let json = r#"{"meta": {"version": "7.4.0", "branch_coverage": true},
            "totals": {"covered_lines": 45, "num_statements": 60, "percent_covered": 70.0,
                       "covered_branches": 5, "num_branches": 20, "missing_lines": 15}}"#;
        let c = coverage_py(json).unwrap();
        assert_eq!((c.line, c.branch), (Some(0.75), Some(0.25)));
        let no_branch =
            coverage_py(r#"{"totals": {"covered_lines": 1, "num_statements": 4}}"#).unwrap();
        assert_eq!(no_branch.branch, None);
        assert!(coverage_py("{}").is_err());
        assert_eq!(format_of("reports/lcov.info"), Some("lcov"));
        assert_eq!(format_of("coverage.XML"), Some("cobertura"));
        assert_eq!(format_of("report.html"), None);
    }
}
