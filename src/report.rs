//! The recognition report (`mlsteward report`) and the identity review (`mlsteward identities`):
//! who did what, from the store, over the same unified people and the same credit rules as the
//! metrics. Only this module writes JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::derive;
use crate::people::Directory;
use crate::sources::Config;
use crate::store::{Store, StoreError};

/// Credits on one asset.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AssetCredit {
    pub credited_commits: u64,
    pub contributions: BTreeMap<String, u64>,
}

/// One person's recognition.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonReport {
    pub name: String,
    pub emails: Vec<String>,
    pub handles: Vec<String>,
    /// Distinct commits the person (co-)authored that earned credit, over the report's assets.
    pub credited_commits: u64,
    /// Per kind, the distinct commits that credited the person with it (a commit that touched
    /// two assets counts once).
    pub contributions: BTreeMap<String, u64>,
    pub assets: BTreeMap<String, AssetCredit>,
    /// Commit times of the first and last credited contribution.
    pub first_at: i64,
    pub last_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Only this asset, when set.
    pub asset: Option<String>,
    /// Only commits at or after this time, when set.
    pub since: Option<i64>,
    pub people: Vec<PersonReport>,
}

/// The definitions the numbers follow, printed with every report.
pub const DEFINITIONS: &[(&str, &str)] = &[
    ("credited commit", "a non-merge commit on the mined branch that the person authored or co-authored (Co-authored-by) and that earned credit: not by a bot, not empty, not whitespace-only, not a revert, and without a standing revert"),
    ("contribution", "per kind of work, the distinct commits that credited the person with it: the kinds of files an authored commit changed, review/testing/report/suggestion from Reviewed-by/Tested-by/Reported-by/Suggested-by trailers, changelog_mention for being named in an added changelog line"),
    ("person", "identities joined by .mailmap, the identity file, then the automatic rules (same email, same name of two or more words, GitHub noreply address and @handle); `mlsteward identities` lists every join"),
];

/// Builds the report from the store. `since` is a time in seconds since the epoch. On a
/// sharded replica, `peers` are its shard and the other replicas' people summaries: people
/// are then joined and named over every replica's history, as on `/metrics`.
pub fn build(
    store: &Store,
    config: &Config,
    asset: Option<&str>,
    since: Option<i64>,
    peers: (u64, &[crate::shard::PeopleSummary]),
) -> Result<Report, StoreError> {
    store.read(|reader| {
        let people = derive::directory_with(reader, &config.recognition, peers.0, peers.1)?;
        reader.set_people(&people.key_map())?;
        crate::derive::map_forge_assets(reader, config)?;
        let from = since.unwrap_or(i64::MIN);
        let filter: Vec<String> = asset.map(String::from).into_iter().collect();
        let mut by_person: BTreeMap<String, PersonReport> = BTreeMap::new();
        let entry = |by_person: &mut BTreeMap<String, PersonReport>, id: &str| {
            by_person.entry(id.to_string()).or_insert_with(|| {
                let p = people.by_id(id);
                PersonReport {
                    name: p.map_or_else(|| id.to_string(), |p| p.name.clone()),
                    emails: p.map(|p| p.emails()).unwrap_or_default(),
                    handles: p
                        .map(|p| handles(p, &config.recognition))
                        .unwrap_or_default(),
                    credited_commits: 0,
                    contributions: BTreeMap::new(),
                    assets: BTreeMap::new(),
                    first_at: i64::MAX,
                    last_at: i64::MIN,
                }
            });
        };
        for row in reader.person_totals(&filter, from)? {
            entry(&mut by_person, &row.person);
            let p = by_person.get_mut(&row.person).expect("entry was just made");
            match row.kind {
                Some(kind) => {
                    p.contributions.insert(kind, row.count);
                    p.first_at = p.first_at.min(row.first_at);
                    p.last_at = p.last_at.max(row.last_at);
                }
                None => p.credited_commits = row.count,
            }
        }
        for row in reader.credits(from)? {
            if asset.is_some_and(|a| a != row.asset) {
                continue;
            }
            entry(&mut by_person, &row.person);
            let p = by_person.get_mut(&row.person).expect("entry was just made");
            p.assets
                .entry(row.asset)
                .or_default()
                .contributions
                .insert(row.kind, row.count);
        }
        let mut authored: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (a, _commit, person) in reader.authorships(from)? {
            *authored.entry((person, a)).or_default() += 1;
        }
        for ((person, a), n) in authored {
            if let Some(credit) = by_person
                .get_mut(&person)
                .and_then(|p| p.assets.get_mut(&a))
            {
                credit.credited_commits = n;
            }
        }
        let mut list: Vec<PersonReport> = by_person.into_values().collect();
        list.sort_by(|a, b| {
            b.credited_commits
                .cmp(&a.credited_commits)
                .then_with(|| {
                    let total = |p: &PersonReport| p.contributions.values().sum::<u64>();
                    total(b).cmp(&total(a))
                })
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(Report {
            asset: asset.map(String::from),
            since,
            people: list,
        })
    })
}

/// The recognition board's window, and the welcome list's.
pub const BOARD_SECONDS: i64 = 90 * derive::DAY_SECONDS;
pub const WELCOME_SECONDS: i64 = 30 * derive::DAY_SECONDS;

/// The recognition board: who did what in the last 90 days, and who arrived in the last 30,
/// from the store as of `at`.
#[derive(Debug, Clone)]
pub struct Board {
    pub at: i64,
    /// The last [`BOARD_SECONDS`], most credited commits first.
    pub recent: Report,
    /// All time: each asset's contributors and each person's first credit.
    pub all: Report,
}

impl Board {
    /// Builds the board from the store (two reads of the report's totals).
    pub fn build(
        store: &Store,
        config: &Config,
        now: i64,
        peers: (u64, &[crate::shard::PeopleSummary]),
    ) -> Result<Board, StoreError> {
        let recent = build(store, config, None, Some(now - BOARD_SECONDS), peers)?;
        let all = build(store, config, None, None, peers)?;
        Ok(Board {
            at: now,
            recent,
            all,
        })
    }

    /// People whose first credited contribution is in the last [`WELCOME_SECONDS`], newest
    /// first.
    pub fn welcome(&self) -> Vec<&PersonReport> {
        let mut v: Vec<&PersonReport> = self
            .all
            .people
            .iter()
            .filter(|p| p.first_at >= self.at - WELCOME_SECONDS && p.first_at != i64::MAX)
            .collect();
        v.sort_by(|a, b| b.first_at.cmp(&a.first_at).then(a.name.cmp(&b.name)));
        v
    }
}

/// `code 3, docs 1`.
fn counts_text(counts: &BTreeMap<String, u64>) -> String {
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
    parts.join(", ")
}

fn date(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", quoted.join(", "))
}

fn json_counts(counts: &BTreeMap<String, u64>) -> String {
    let fields: Vec<String> = counts
        .iter()
        .map(|(k, v)| format!("{}: {v}", json_string(k)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

impl Report {
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\n  \"people\": [");
        for (i, p) in self.people.iter().enumerate() {
            let assets: Vec<String> = p
                .assets
                .iter()
                .map(|(a, c)| {
                    format!(
                        "{}: {{\"credited_commits\": {}, \"contributions\": {}}}",
                        json_string(a),
                        c.credited_commits,
                        json_counts(&c.contributions)
                    )
                })
                .collect();
            let _ = write!(
                out,
                "{}\n    {{\"name\": {}, \"emails\": {}, \"handles\": {}, \"credited_commits\": {}, \"contributions\": {}, \"first_contribution\": {}, \"last_contribution\": {}, \"assets\": {{{}}}}}",
                if i == 0 { "" } else { "," },
                json_string(&p.name),
                json_strings(&p.emails),
                json_strings(&p.handles),
                p.credited_commits,
                json_counts(&p.contributions),
                json_string(&date(p.first_at)),
                json_string(&date(p.last_at)),
                assets.join(", ")
            );
        }
        out.push_str("\n  ],\n  \"definitions\": {");
        for (i, (term, meaning)) in DEFINITIONS.iter().enumerate() {
            let _ = write!(
                out,
                "{}\n    {}: {}",
                if i == 0 { "" } else { "," },
                json_string(term),
                json_string(meaning)
            );
        }
        out.push_str("\n  }\n}\n");
        out
    }

    pub fn to_markdown(&self) -> String {
        let mut out = String::from("# Recognition report\n\n");
        let scope = match (&self.asset, self.since) {
            (Some(a), Some(s)) => format!("Asset `{a}`, commits since {}.", date(s)),
            (Some(a), None) => format!("Asset `{a}`, all history."),
            (None, Some(s)) => format!("All assets, commits since {}.", date(s)),
            (None, None) => "All assets, all history.".to_string(),
        };
        let _ = writeln!(
            out,
            "{scope} {} credited.\n",
            people_count(self.people.len())
        );
        out.push_str(
            "| person | credited commits | contributions | first | last |\n|---|---|---|---|---|\n",
        );
        for p in &self.people {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                p.name.replace('|', "\\|"),
                p.credited_commits,
                counts_text(&p.contributions),
                date(p.first_at),
                date(p.last_at)
            );
        }
        for p in &self.people {
            let _ = writeln!(out, "\n## {}\n", p.name);
            let ids: Vec<String> = p.emails.iter().chain(&p.handles).cloned().collect();
            if !ids.is_empty() {
                let _ = writeln!(out, "Known as: {}.\n", ids.join(", "));
            }
            for (a, c) in &p.assets {
                let _ = writeln!(
                    out,
                    "- `{a}`: {} credited commit(s); {}",
                    c.credited_commits,
                    counts_text(&c.contributions)
                );
            }
        }
        out.push_str("\n## Definitions\n\n");
        for (term, meaning) in DEFINITIONS {
            let _ = writeln!(out, "- **{term}**: {meaning}.");
        }
        out
    }

    /// One self-contained HTML page (inline CSS, no scripts, no external assets): everyone
    /// with their credited commits and contributions by kind, then a table per asset of its
    /// contributors by kind, then the definitions. Suitable for publishing or mailing; the
    /// same people, order and counts as [`Report::to_json`].
    pub fn to_html(&self) -> String {
        use crate::escape_html as e;
        let kinds = |counts: &mut dyn Iterator<Item = &BTreeMap<String, u64>>| {
            let mut all: Vec<String> = counts.flat_map(|c| c.keys().cloned()).collect();
            all.sort();
            all.dedup();
            all
        };
        let row = |out: &mut String,
                   name: &str,
                   commits: u64,
                   counts: &BTreeMap<String, u64>,
                   kinds: &[String],
                   dates: Option<(i64, i64)>| {
            let _ = write!(
                out,
                "<tr><th scope=\"row\">{}</th><td>{commits}</td>",
                e(name)
            );
            for k in kinds {
                let _ = write!(out, "<td>{}</td>", counts.get(k).copied().unwrap_or(0));
            }
            if let Some((first, last)) = dates {
                let _ = write!(out, "<td>{}</td><td>{}</td>", date(first), date(last));
            }
            out.push_str("</tr>\n");
        };
        let head = |out: &mut String, kinds: &[String], dates: bool| {
            out.push_str(
                "<thead><tr><th scope=\"col\">person</th><th scope=\"col\">credited commits</th>",
            );
            for k in kinds {
                let _ = write!(out, "<th scope=\"col\">{}</th>", e(k));
            }
            if dates {
                out.push_str("<th scope=\"col\">first</th><th scope=\"col\">last</th>");
            }
            out.push_str("</tr></thead>\n<tbody>\n");
        };
        let scope = match (&self.asset, self.since) {
            (Some(a), Some(s)) => {
                format!("Asset <code>{}</code>, commits since {}.", e(a), date(s))
            }
            (Some(a), None) => format!("Asset <code>{}</code>, all history.", e(a)),
            (None, Some(s)) => format!("All assets, commits since {}.", date(s)),
            (None, None) => "All assets, all history.".to_string(),
        };
        let mut out = String::from(concat!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            "<title>Recognition report</title>\n<style>\n",
            "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;color:#1f2328}\n",
            "table{border-collapse:collapse;margin:0.5rem 0 1.5rem;display:block;overflow-x:auto}\n",
            "th,td{border:1px solid #d0d7de;padding:0.3rem 0.6rem;text-align:right;white-space:nowrap}\n",
            "th[scope=row],thead th:first-child{text-align:left}\nthead th{background:#f6f8fa}\n",
            "dt{font-weight:600}dd{margin:0 0 0.6rem 1rem}\n",
            "</style>\n</head>\n<body>\n<h1>Recognition report</h1>\n",
        ));
        let _ = writeln!(
            out,
            "<p>{scope} {} credited.</p>",
            people_count(self.people.len())
        );
        let all_kinds = kinds(&mut self.people.iter().map(|p| &p.contributions));
        out.push_str("<h2>Everyone</h2>\n<table id=\"people\">\n");
        head(&mut out, &all_kinds, true);
        for p in &self.people {
            row(
                &mut out,
                &p.name,
                p.credited_commits,
                &p.contributions,
                &all_kinds,
                Some((p.first_at, p.last_at)),
            );
        }
        out.push_str("</tbody>\n</table>\n");
        let mut assets: Vec<&str> = self
            .people
            .iter()
            .flat_map(|p| p.assets.keys().map(String::as_str))
            .collect();
        assets.sort();
        assets.dedup();
        for asset in assets {
            let _ = writeln!(
                out,
                "<h2>Asset <code>{0}</code></h2>\n<table class=\"asset\" data-asset=\"{0}\">",
                e(asset)
            );
            let on: Vec<(&PersonReport, &AssetCredit)> = self
                .people
                .iter()
                .filter_map(|p| p.assets.get(asset).map(|c| (p, c)))
                .collect();
            let asset_kinds = kinds(&mut on.iter().map(|(_, c)| &c.contributions));
            head(&mut out, &asset_kinds, false);
            for (p, c) in on {
                row(
                    &mut out,
                    &p.name,
                    c.credited_commits,
                    &c.contributions,
                    &asset_kinds,
                    None,
                );
            }
            out.push_str("</tbody>\n</table>\n");
        }
        out.push_str("<h2>Definitions</h2>\n<dl>\n");
        for (term, meaning) in DEFINITIONS {
            let _ = writeln!(out, "<dt>{}</dt><dd>{}.</dd>", e(term), e(meaning));
        }
        out.push_str("</dl>\n</body>\n</html>\n");
        out
    }

    /// An `.all-contributorsrc` file: each person with the all-contributors types their kinds
    /// map to (kinds without a type, such as `changelog_mention`, are left out).
    pub fn to_all_contributors(&self, project: &str) -> String {
        let mut out = format!(
            "{{\n  \"projectName\": {},\n  \"projectOwner\": \"\",\n  \"files\": [\"README.md\"],\n  \"contributorsPerLine\": 7,\n  \"contributors\": [",
            json_string(project)
        );
        let mut first = true;
        for p in &self.people {
            let mut types: Vec<&str> = p
                .contributions
                .keys()
                .filter_map(|k| all_contributors_type(k))
                .collect();
            types.sort_unstable();
            types.dedup();
            if types.is_empty() {
                continue;
            }
            let login = p
                .handles
                .first()
                .map(|h| h.trim_start_matches('@').to_string());
            let mut fields = Vec::new();
            if let Some(login) = &login {
                fields.push(format!("\"login\": {}", json_string(login)));
            }
            fields.push(format!("\"name\": {}", json_string(&p.name)));
            if let Some(login) = &login {
                fields.push(format!(
                    "\"avatar_url\": {}",
                    json_string(&format!("https://github.com/{login}.png"))
                ));
                fields.push(format!(
                    "\"profile\": {}",
                    json_string(&format!("https://github.com/{login}"))
                ));
            }
            let types: Vec<String> = types.iter().map(|t| json_string(t)).collect();
            fields.push(format!("\"contributions\": [{}]", types.join(", ")));
            let _ = write!(
                out,
                "{}\n    {{{}}}",
                if first { "" } else { "," },
                fields.join(", ")
            );
            first = false;
        }
        out.push_str("\n  ]\n}\n");
        out
    }
}

/// The all-contributors contribution type of a kind of work, where one fits.
pub fn all_contributors_type(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "code" => "code",
        "docs" => "doc",
        "tests" => "test",
        "data" => "data",
        "pipelines" => "infra",
        "config" => "maintenance",
        "evaluation" => "research",
        "notebooks" => "example",
        "review" => "review",
        "testing" => "userTesting",
        "report" => "bug",
        "suggestion" => "ideas",
        _ => return None,
    })
}

/// Who was joined with whom, and by which rule: the mined joins (`.mailmap`, identity file) and
/// the automatic ones, per person with more than one identity.
pub fn identities(store: &Store, config: &Config) -> Result<String, StoreError> {
    store.read(|reader| {
        let stored = reader.people()?;
        let uses = reader.name_uses()?;
        let people: Directory = crate::people::unify(&stored, &uses, &config.recognition);
        let mined = reader.mined_joins()?;
        // Keys some source stored or signed with; a handle the noreply rule made up to join
        // addresses is not one, so one address and its own handle are no join worth reviewing.
        let signed: std::collections::BTreeSet<&str> =
            uses.iter().map(|u| u.key.as_str()).collect();
        let real = |k: &String| stored.contains_key(k) || signed.contains(k.as_str());
        let mut out = String::new();
        let mut joined = 0;
        for p in &people.people {
            let mined_here: Vec<&(String, String, String)> = mined
                .iter()
                .filter(|(_, key, _)| p.keys.contains(key))
                .collect();
            if p.keys.iter().filter(|k| real(k)).count() < 2 && mined_here.is_empty() {
                continue;
            }
            joined += 1;
            let _ = writeln!(
                out,
                "{}{}",
                p.name,
                if p.opted_out { " (opted out)" } else { "" }
            );
            for k in &p.keys {
                let _ = writeln!(out, "  identity {k}");
            }
            for (raw, key, via) in mined_here {
                let via = if via == "mailmap" {
                    ".mailmap"
                } else {
                    "identity file"
                };
                let _ = writeln!(out, "  {raw} -> {key}  by {via}");
            }
            for j in people
                .joins
                .iter()
                .filter(|j| p.keys.contains(&j.a) || p.keys.contains(&j.b))
            {
                let _ = writeln!(
                    out,
                    "  {} = {}  by rule {} ({})",
                    j.a,
                    j.b,
                    j.rule.as_str(),
                    j.evidence
                );
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{}, {joined} of them joined from more than one identity.",
            people_count(people.people.iter().filter(|p| !p.opted_out).count()),
        );
        let mut times: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        let authored = reader.authored_times()?;
        for (key, at) in &authored {
            if let Some(p) = people.person(key) {
                times.entry(p.id.as_str()).or_default().push(*at);
            }
        }
        let suspects: Vec<(String, String)> = people
            .people
            .iter()
            .filter(|p| !p.opted_out)
            .filter_map(|p| {
                let names: Vec<&str> = uses
                    .iter()
                    .filter(|u| p.keys.contains(&u.key))
                    .map(|u| u.name.as_str())
                    .chain(std::iter::once(p.name.as_str()))
                    .collect();
                let why = automation(&names, &p.emails(), times.get(p.id.as_str()))?;
                let shown = match p.emails().first() {
                    Some(email) => format!("{} <{email}>", p.name),
                    None => p.name.clone(),
                };
                Some((shown, why))
            })
            .collect();
        if !suspects.is_empty() {
            let _ = writeln!(
                out,
                "\nLikely automation (list it under recognition.bots if it is; its commits then credit nobody):"
            );
            for (who, why) in suspects {
                let _ = writeln!(out, "  {who}: {why}");
            }
        }
        Ok(out)
    })
}

/// Words that, as a whole word of a name or of an email's local part, say an account is a
/// machine: bots, CI and release automation, coding agents, no-reply senders.
const MACHINE_WORDS: &[&str] = &[
    "bot",
    "bots",
    "robot",
    "ci",
    "automation",
    "automated",
    "autobuild",
    "build",
    "builder",
    "release",
    "releases",
    "deploy",
    "agent",
    "assistant",
    "copilot",
    "codex",
    "noreply",
    "donotreply",
];

/// Local parts of a team's mailing list rather than a person's address.
const TEAM_ADDRESSES: &[&str] = &[
    "team",
    "dev",
    "devs",
    "developers",
    "maintainers",
    "infra",
    "ops",
    "mlops",
    "platform",
    "admin",
    "root",
    "support",
];

/// Why a person looks like automation, if they do: a machine word in a name they signed
/// with or in an email's local part (`feast-ci-bot`, `pytest bot`, `AI Assistant`,
/// `noreply@…` outside GitHub's per-user addresses), a team list's address, or a machine
/// cadence (at least 10 commits, half of them or more at the same minute of a UTC day).
fn automation(names: &[&str], emails: &[String], times: Option<&Vec<i64>>) -> Option<String> {
    let words = |text: &str| -> Vec<String> {
        text.to_lowercase()
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect()
    };
    for name in names {
        if let Some(w) = words(name)
            .into_iter()
            .find(|w| MACHINE_WORDS.contains(&w.as_str()))
        {
            return Some(format!("signs as \"{name}\" (\"{w}\")"));
        }
    }
    for email in emails {
        let lower = email.to_lowercase();
        let Some((local, domain)) = lower.split_once('@') else {
            continue;
        };
        if domain == "users.noreply.github.com" {
            continue;
        }
        let no_reply = local.replace(['-', '_', '.'], "");
        if no_reply == "noreply" || no_reply == "donotreply" {
            return Some(format!("a no-reply address ({email})"));
        }
        if let Some(w) = words(local)
            .into_iter()
            .find(|w| MACHINE_WORDS.contains(&w.as_str()))
        {
            return Some(format!("its address says \"{w}\" ({email})"));
        }
        if TEAM_ADDRESSES.contains(&local) {
            return Some(format!("a team's address ({email})"));
        }
    }
    let times = times?;
    if times.len() >= 10 {
        let mut minutes: BTreeMap<i64, usize> = BTreeMap::new();
        for t in times {
            *minutes.entry(t.rem_euclid(86_400) / 60).or_default() += 1;
        }
        let (&minute, &most) = minutes.iter().max_by_key(|(_, n)| **n)?;
        if most * 2 >= times.len() {
            return Some(format!(
                "{most} of its {} commits at {:02}:{:02} UTC (a machine's cadence)",
                times.len(),
                minute / 60,
                minute % 60
            ));
        }
    }
    None
}

/// A person's forge handles: their `handle:` keys and noreply logins, and the `@handles` the
/// identity file lists for them (a forge user resolved through such an alias is stored under
/// the identity's email, so their handle is not among their keys).
fn handles(
    person: &crate::people::Unified,
    recognition: &crate::config::Recognition,
) -> Vec<String> {
    let mut out: std::collections::BTreeSet<String> = person.handles().into_iter().collect();
    for identity in &recognition.identities {
        if person
            .keys
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&identity.email))
        {
            out.extend(
                identity
                    .aliases
                    .iter()
                    .filter(|a| a.starts_with('@') && a.len() > 1)
                    .map(|a| a.to_lowercase()),
            );
        }
    }
    out.into_iter().collect()
}

/// "1 person", "2 people".
fn people_count(n: usize) -> String {
    if n == 1 {
        "1 person".to_string()
    } else {
        format!("{n} people")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}"), "\"a\\\"b\\\\c\\nd\\u0001\"");
    }

    #[test]
    fn kinds_map_to_all_contributors_types() {
        assert_eq!(all_contributors_type("docs"), Some("doc"));
        assert_eq!(all_contributors_type("changelog_mention"), None);
    }
}
