//! Schedules: an interval (`5m`), a cron expression with 5 fields (minute first) or 6–7 fields
//! (seconds first, an optional year last), or a shortcut (`@hourly`). Every message says what
//! was expected, in the user's words.

use std::str::FromStr;
use std::time::Duration;

use super::decode::parse_duration;
use super::Schedule;

/// Shortcuts and the 5-field expressions they stand for (Vixie cron's set, minus `@reboot`).
const SHORTCUTS: &[(&str, &str)] = &[
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// Each field's name and numeric range, for 7 fields (seconds first, year last).
const FIELDS: [(&str, u32, u32); 7] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
    ("year", 1970, 2099),
];

const SHAPE: &str = "a cron expression has 5 fields (minute hour day-of-month month day-of-week), or 6–7 starting with seconds";

impl Schedule {
    /// The period: the interval, or the time between a cron expression's next two firings.
    /// Exposed so staleness alerts can scale with each source's schedule.
    pub fn nominal_interval(&self) -> Duration {
        match self {
            Schedule::Interval(every) => *every,
            Schedule::Cron { schedule, .. } => {
                let mut next = schedule.upcoming(chrono::Utc);
                match (next.next(), next.next()) {
                    (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
                    _ => Duration::ZERO,
                }
            }
        }
    }
}

pub fn parse_schedule(text: &str) -> Result<Schedule, String> {
    let text = text.trim();
    if text.starts_with('@') {
        let Some((_, expanded)) = SHORTCUTS.iter().find(|(s, _)| *s == text) else {
            let known: Vec<&str> = SHORTCUTS.iter().map(|(s, _)| *s).collect();
            return Err(format!(
                "unknown cron shortcut `{text}`; known: {}",
                known.join(", ")
            ));
        };
        return cron(text, expanded);
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.len() {
        0 => Err("empty schedule: expected a duration such as `5m` or a cron expression".into()),
        1 => {
            let interval =
                parse_duration(text).map_err(|e| format!("{e}, or a cron expression"))?;
            if interval < Duration::from_secs(1) {
                return Err("an interval schedule must be at least 1s".into());
            }
            Ok(Schedule::Interval(interval))
        }
        2 if fields[0].parse::<f64>().is_ok()
            && fields[1].chars().all(|c| c.is_ascii_alphabetic()) =>
        {
            Err(format!(
                "invalid schedule `{text}`: write a duration without spaces, such as `{}{}`",
                fields[0],
                fields[1].chars().next().unwrap_or('m')
            ))
        }
        5..=7 => cron(text, text),
        n => Err(format!(
            "invalid cron expression `{text}`: {SHAPE}; this one has {n}"
        )),
    }
}

/// Checks the numbers of each field against its range, so the message names the field.
fn check_ranges(text: &str, expression: &str) -> Result<(), String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    // Five fields start at the minute; six or seven at the second.
    let offset = if fields.len() == 5 { 1 } else { 0 };
    for (i, field) in fields.iter().enumerate() {
        let (name, lo, hi) = FIELDS[i + offset];
        for part in field.split(',') {
            let (range, step) = part
                .split_once('/')
                .map_or((part, None), |(r, s)| (r, Some(s)));
            if let Some(step) = step {
                if step.parse::<u32>().map_or(true, |s| s == 0) {
                    return Err(format!(
                        "invalid cron expression `{text}`: {name} step `{step}` must be a whole number of at least 1"
                    ));
                }
            }
            for value in range.split('-') {
                if let Ok(n) = value.parse::<u32>() {
                    if n < lo || n > hi {
                        return Err(format!(
                            "invalid cron expression `{text}`: {name} `{n}` is out of range {lo}–{hi}"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn cron(text: &str, expression: &str) -> Result<Schedule, String> {
    check_ranges(text, expression)?;
    let fields = expression.split_whitespace().count();
    let expanded = if fields == 5 {
        format!("0 {expression}")
    } else {
        expression.to_string()
    };
    let schedule = cron::Schedule::from_str(&expanded).map_err(|e| {
        // The cron crate's message spans lines (it draws a caret); its last line says why.
        let why = e.to_string();
        let why = why.lines().last().unwrap_or("").trim().to_string();
        if why.is_empty() || why == "^" {
            format!("invalid cron expression `{text}`: {SHAPE}")
        } else {
            format!("invalid cron expression `{text}`: {why}")
        }
    })?;
    if schedule.upcoming(chrono::Utc).next().is_none() {
        return Err(format!(
            "cron expression `{text}` never fires (no such date from now on)"
        ));
    }
    Ok(Schedule::Cron {
        expression: text.to_string(),
        schedule: Box::new(schedule),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        match parse_schedule(text) {
            Err(e) => e,
            Ok(_) => panic!("`{text}` was accepted"),
        }
    }

    #[test]
    fn good_schedules() {
        assert!(
            matches!(parse_schedule("30s"), Ok(Schedule::Interval(d)) if d == Duration::from_secs(30))
        );
        for text in [
            "*/5 * * * *",
            "0 */5 * * * *",
            "0 0 12 * * * 2030",
            "@hourly",
            "@daily",
            "0 9 * * MON-FRI",
        ] {
            assert!(
                matches!(parse_schedule(text), Ok(Schedule::Cron { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn every_mistake_is_named() {
        assert_eq!(
            error("*/15 * * *"),
            format!("invalid cron expression `*/15 * * *`: {SHAPE}; this one has 4")
        );
        assert_eq!(
            error("61 * * * *"),
            "invalid cron expression `61 * * * *`: minute `61` is out of range 0–59"
        );
        assert_eq!(
            error("0 0 25 * * *"),
            "invalid cron expression `0 0 25 * * *`: hour `25` is out of range 0–23"
        );
        assert_eq!(
            error("*/0 * * * *"),
            "invalid cron expression `*/0 * * * *`: minute step `0` must be a whole number of at least 1"
        );
        assert_eq!(
            error("5 minutes"),
            "invalid schedule `5 minutes`: write a duration without spaces, such as `5m`"
        );
        assert!(error("@fortnightly")
            .starts_with("unknown cron shortcut `@fortnightly`; known: @yearly"));
        assert_eq!(
            error("0 0 30 2 *"),
            "cron expression `0 0 30 2 *` never fires (no such date from now on)"
        );
        assert!(error("every day").contains("invalid"));
        assert_eq!(error("500ms"), "an interval schedule must be at least 1s");
    }
}
