//! Coverage reports: Cobertura XML, LCOV and coverage.py JSON, each read into line and branch
//! coverage ratios (0 to 1). A ratio with nothing to cover (no branches) is absent.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coverage {
    pub line: Option<f64>,
    pub branch: Option<f64>,
}

fn ratio(covered: f64, total: f64) -> Option<f64> {
    (total > 0.0).then(|| (covered / total).clamp(0.0, 1.0))
}

/// Cobertura: the root `<coverage>` element's `lines-covered`/`lines-valid` (else
/// `line-rate`) and `branches-covered`/`branches-valid` (else `branch-rate`). Read with an
/// XML parser: the root is the first element, whatever comments, a DOCTYPE or processing
/// instructions come before it; attribute values are unescaped; a namespace prefix on the
/// element or its attributes is ignored.
pub fn cobertura(text: &str) -> Result<Coverage, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let root = loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => break e,
            Ok(Event::Eof) => return Err("no <coverage> element".into()),
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "not well-formed XML at byte {}: {e}",
                    reader.error_position()
                ))
            }
        }
    };
    let name = root.local_name().as_ref().to_string();
    if name != "coverage" {
        return Err(format!("the root element is <{name}>, not <coverage>"));
    }
    let mut values = std::collections::BTreeMap::new();
    for attribute in root.attributes() {
        let attribute = attribute.map_err(|e| format!("<coverage>: {e}"))?;
        let key = attribute.key.local_name().as_ref().to_string();
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("<coverage> attribute `{key}`: {e}"))?;
        values.insert(key, value.trim().to_string());
    }
    let num = |name: &str| values.get(name).and_then(|v| v.parse::<f64>().ok());
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
    #[derive(Deserialize)]
    struct Report {
        totals: Totals,
    }
    #[derive(Deserialize)]
    struct Totals {
        covered_lines: f64,
        num_statements: f64,
        #[serde(default)]
        covered_branches: Option<f64>,
        #[serde(default)]
        num_branches: Option<f64>,
    }
    let t = serde_json::from_str::<Report>(text)
        .map_err(|e| format!("not a coverage.py JSON report: {e}"))?
        .totals;
    let line = ratio(t.covered_lines, t.num_statements);
    let branch = match (t.covered_branches, t.num_branches) {
        (Some(c), Some(b)) => ratio(c, b),
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

    /// The header of each tool's real Cobertura output (trimmed after the root's start tag,
    /// which is all that is read), and what fooled the substring search this replaced.
    #[test]
    fn cobertura_from_real_tools_and_tricky_preambles() {
        let cases: &[(&str, &str, Option<f64>, Option<f64>)] = &[
            (
                "coverage.py 7",
                r#"<?xml version="1.0" ?>
<coverage version="7.6.1" timestamp="1727000000000" lines-valid="1240" lines-covered="1011" line-rate="0.8153" branches-covered="0" branches-valid="0" branch-rate="0" complexity="0">
	<!-- Generated by coverage.py: https://coverage.readthedocs.io/en/7.6.1 -->
	<!-- Based on https://raw.githubusercontent.com/cobertura/web/master/htdocs/xml/coverage-04.dtd -->
	<sources>"#,
                Some(1011.0 / 1240.0),
                None,
            ),
            (
                "gcovr",
                r#"<?xml version='1.0' encoding='UTF-8'?>
<!DOCTYPE coverage SYSTEM 'http://cobertura.sourceforge.net/xml/coverage-04.dtd'>
<coverage line-rate="0.625" branch-rate="0.5" lines-covered="5" lines-valid="8" branches-covered="2" branches-valid="4" complexity="0.0" timestamp="1727000000" version="gcovr 8.2">"#,
                Some(0.625),
                Some(0.5),
            ),
            (
                "JaCoCo through cover2cover",
                r#"<?xml version="1.0" ?>
<!DOCTYPE coverage
  SYSTEM 'http://cobertura.sourceforge.net/xml/coverage-04.dtd'>
<coverage branch-rate="0.4375" branches-covered="7" branches-valid="16" complexity="0" line-rate="0.75" lines-covered="45" lines-valid="60" timestamp="1727000000" version="0.1"><sources>"#,
                Some(0.75),
                Some(0.4375),
            ),
            (
                "istanbul (nyc --reporter=cobertura)",
                r#"<?xml version="1.0" ?>
<!DOCTYPE coverage SYSTEM "http://cobertura.sourceforge.net/xml/coverage-04.dtd">
<coverage lines-valid="90"
  lines-covered="81"
  line-rate="0.9"
  branches-valid="10"
  branches-covered="9"
  branch-rate="0.9"
  timestamp="1727000000000" complexity="0" version="0.1">"#,
                Some(0.9),
                Some(0.9),
            ),
            (
                "a comment naming the element before the root",
                r#"<?xml version="1.0"?><!-- <coverage line-rate="0.01"> was the old format -->
<coverage line-rate="0.5" branch-rate="0.25"/>"#,
                Some(0.5),
                Some(0.25),
            ),
            (
                "a DOCTYPE with an internal subset and a processing instruction",
                r#"<?xml version="1.0"?>
<!DOCTYPE coverage [ <!ENTITY note "<coverage line-rate='0.02'>"> ]>
<?xml-stylesheet href="cov.xsl"?>
<coverage line-rate="0.8" version="&quot;x&quot;"/>"#,
                Some(0.8),
                None,
            ),
            (
                "a namespace prefix, and a look-alike attribute",
                r#"<c:coverage xmlns:c="urn:x" data-line-rate="0.1" c:line-rate="0.7"/>"#,
                Some(0.7),
                None,
            ),
            (
                "CDATA before the root is not markup",
                r#"<!-- x --><coverage lines-valid="4" lines-covered="1"><![CDATA[<coverage line-rate="1">]]></coverage>"#,
                Some(0.25),
                None,
            ),
        ];
        for (what, xml, line, branch) in cases {
            let c = cobertura(xml).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!((c.line, c.branch), (*line, *branch), "{what}");
        }
        // A substring search found the element inside the comment or the string and read its
        // rate; the parser reads the root, and refuses what is not Cobertura.
        for bad in [
            r#"<!-- <coverage line-rate="0.9"> --><report/>"#,
            r#"<report note='<coverage line-rate="0.9">'/>"#,
            r#"<coverage line-rate="0.5" line-rate="0.6"/>"#,
            r#"<coverage line-rate="0.5"#,
        ] {
            assert!(cobertura(bad).is_err(), "{bad}");
        }
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
