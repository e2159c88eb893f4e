//! What every forge source (GitHub, GitLab, Jenkins) shares: which asset a repository's runs
//! belong to, which pipelines and branches count, how far back a first collection looks, the
//! windows of the ratios, the TLS settings of a private server, and which repositories a
//! collection reads (a webhook's, a shard's).

use std::path::PathBuf;
use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use tokio_util::sync::CancellationToken;

use crate::collector::{CollectError, ErrorKind};
use crate::config::{parse_duration, Section};
use crate::facts::Cursors;
use crate::sources::http::{Client, Fetched, Validators};

/// The keys every forge source reads, beside its own.
pub const KEYS: &[&str] = &[
    "assets",
    "pipelines",
    "branches",
    "history",
    "windows",
    "max_pages",
    "request_timeout",
    "ca_file",
    "client_certificate_file",
];

/// The webhook keys of the forges that send webhooks (GitHub, GitLab).
pub const WEBHOOK_KEYS: &[&str] = &["webhook_secret", "webhook_secret_file"];

pub const DEFAULT_HISTORY: Duration = Duration::from_secs(90 * 86_400);
pub const DEFAULT_WINDOWS: [&str; 3] = ["1d", "7d", "28d"];
pub const DEFAULT_MAX_PAGES: usize = 10;
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct ForgeSettings {
    /// Repository → asset id, where the default (the repository's last path segment) is not
    /// wanted.
    pub assets: Vec<(String, String)>,
    /// Pipelines (workflow names, job names) whose runs count; empty: all.
    pub pipelines: Vec<String>,
    /// Branch globs whose runs count; `None`: each repository's default branch only (other
    /// branches, such as every pull request's, would make the label unbounded).
    pub branches: Option<GlobSet>,
    /// How far back the first collection looks.
    pub history: Duration,
    /// The windows of the ratios: (label as written, length).
    pub windows: Vec<(String, Duration)>,
    /// Pages read per repository and collection at most; the rest waits for the next one.
    pub max_pages: usize,
    /// Per request, from sending it to reading the whole answer.
    pub request_timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub client_certificate_file: Option<PathBuf>,
    /// Checks `/webhooks/github` signatures (HMAC-SHA256) or `/webhooks/gitlab` tokens; no
    /// webhooks are taken for the source without it.
    pub webhook_secret: Option<crate::config::Secret>,
}

impl ForgeSettings {
    /// The asset a repository's runs belong to.
    pub fn asset_of(&self, repository: &str) -> String {
        match self.assets.iter().find(|(r, _)| r == repository) {
            Some((_, asset)) => asset.clone(),
            None => repository
                .rsplit('/')
                .next()
                .unwrap_or(repository)
                .to_string(),
        }
    }

    /// The HTTP client settings of a forge source authenticating with `auth`.
    pub fn http(&self, auth: crate::sources::http::Auth) -> crate::sources::http::HttpConfig {
        crate::sources::http::HttpConfig {
            auth,
            timeout: self.request_timeout,
            ca_bundle: self.ca_file.clone(),
            client_identity: self.client_certificate_file.clone(),
            ..crate::sources::http::HttpConfig::default()
        }
    }

    pub fn wants_pipeline(&self, pipeline: &str) -> bool {
        self.pipelines.is_empty() || self.pipelines.iter().any(|p| p == pipeline)
    }

    pub fn wants_branch(&self, branch: &str, default_branch: &str) -> bool {
        match &self.branches {
            Some(globs) => globs.is_match(branch),
            None => branch == default_branch,
        }
    }
}

pub fn decode(s: &mut Section) -> Option<ForgeSettings> {
    let mut ok = true;
    let assets = s.string_map("assets").unwrap_or_default();
    let pipelines = s.strings("pipelines").unwrap_or_default();
    let branches = match s.globs("branches") {
        Some(globs) => {
            let mut builder = GlobSetBuilder::new();
            for g in &globs {
                // `globs` only returns valid globs.
                if let Ok(glob) = Glob::new(g) {
                    builder.add(glob);
                }
            }
            builder.build().ok()
        }
        None => None,
    };
    let history = s.duration("history").unwrap_or(DEFAULT_HISTORY);
    let written: Vec<String> = s
        .strings("windows")
        .unwrap_or_else(|| DEFAULT_WINDOWS.iter().map(|w| w.to_string()).collect());
    let mut windows = Vec::new();
    for w in written {
        match parse_duration(&w) {
            Ok(d) if !d.is_zero() => windows.push((w, d)),
            Ok(_) => {
                s.problem("windows", format!("window `{w}` must be longer than zero"));
                ok = false;
            }
            Err(e) => {
                s.problem("windows", format!("window `{w}`: {e}"));
                ok = false;
            }
        }
    }
    let max_pages = s
        .uint("max_pages")
        .map_or(DEFAULT_MAX_PAGES, |n| n.max(1) as usize);
    let request_timeout = s
        .duration("request_timeout")
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT);
    let ca_file = s.string("ca_file").map(|f| s.base_dir().join(f));
    let client_certificate_file = s
        .string("client_certificate_file")
        .map(|f| s.base_dir().join(f));
    ok.then_some(ForgeSettings {
        assets,
        pipelines,
        branches,
        history,
        windows,
        max_pages,
        request_timeout,
        ca_file,
        client_certificate_file,
        webhook_secret: None,
    })
}

/// `webhook_secret` (or `webhook_secret_file`) of a GitHub or GitLab source: `Some(None)`
/// when unset, `None` after a problem was reported.
pub fn decode_webhook_secret(s: &mut Section) -> Option<Option<crate::config::Secret>> {
    let secret = s.secret("webhook_secret");
    if secret.as_ref().is_some_and(|w| w.expose().len() < 16) {
        s.problem(
            "webhook_secret",
            "too short: use at least 16 random characters (for example `openssl rand -hex 32`)",
        );
        return None;
    }
    Some(secret)
}

/// Whether cursor `key` is about repository `name`: it names it as a word (`since acme/ml`) or
/// as a path segment of a URL (`…/repos/acme/ml/actions/runs?…`), plain or percent-encoded.
pub fn key_mentions(key: &str, name: &str) -> bool {
    let encoded = urlencode(name);
    [name, encoded.as_str()].iter().any(|form| {
        key.match_indices(form).any(|(at, _)| {
            let before = key[..at].chars().next_back();
            let after = key[at + form.len()..].chars().next();
            matches!(before, Some(' ' | '/')) && matches!(after, None | Some('/' | '?' | '&' | ' '))
        })
    })
}

/// The repositories a forge collection reads, and those it keeps as they were: the configured
/// ones, then the organisation's or group's `listed` ones not configured; less those whose
/// asset a sharded replica does not own (`ctx.wants`); and, for a webhook's collection
/// (`ctx.targets`), only the named ones (see [`plan_targets`]: the others' cursors are carried
/// into `cursors`, and they come back with their known default branch to stay listed).
pub fn repositories_to_read(
    configured: &[String],
    listed: Vec<String>,
    forge: &ForgeSettings,
    ctx: &crate::collector::CollectContext,
    cursors: &mut Cursors,
) -> (Vec<String>, Vec<crate::facts::CiRepository>) {
    let mut names = configured.to_vec();
    for name in listed {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if let Some(wants) = &ctx.wants {
        names.retain(|n| wants(&forge.asset_of(n)));
    }
    let (names, kept) = plan_targets(&names, ctx.targets.as_ref(), &ctx.cursors, cursors);
    let kept = kept
        .into_iter()
        .map(|(name, default_branch)| crate::facts::CiRepository {
            name,
            default_branch,
        })
        .collect();
    (names, kept)
}

/// Splits `names` for a collection limited to `targets` (a webhook's repositories): the
/// repositories to collect now, and for the others, whose last facts stay, their cursors carried
/// over from `old` and their known default branch. A repository never collected (no known
/// default branch) is collected whatever the targets. Without targets, everything is collected.
pub fn plan_targets(
    names: &[String],
    targets: Option<&std::collections::BTreeSet<String>>,
    old: &Cursors,
    cursors: &mut Cursors,
) -> (Vec<String>, Vec<(String, String)>) {
    let Some(targets) = targets else {
        return (names.to_vec(), Vec::new());
    };
    let mut collect = Vec::new();
    let mut kept = Vec::new();
    for name in names {
        let known = old.get(&format!("default_branch {name}"));
        match known {
            Some(branch) if !targets.contains(name) => {
                for (k, v) in old.iter().filter(|(k, _)| key_mentions(k, name)) {
                    cursors.insert(k.clone(), v.clone());
                }
                kept.push((name.clone(), branch.clone()));
            }
            _ => collect.push(name.clone()),
        }
    }
    (collect, kept)
}

/// The HTTP settings every HTTP source reads (`request_timeout`, `ca_file`,
/// `client_certificate_file`), with `auth`.
pub fn http_settings(
    s: &mut Section,
    auth: crate::sources::http::Auth,
) -> crate::sources::http::HttpConfig {
    crate::sources::http::HttpConfig {
        auth,
        timeout: s
            .duration("request_timeout")
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT),
        ca_bundle: s.string("ca_file").map(|f| s.base_dir().join(f)),
        client_identity: s
            .string("client_certificate_file")
            .map(|f| s.base_dir().join(f)),
        ..crate::sources::http::HttpConfig::default()
    }
}

/// The configured spelling of `repository` when it is `listed` or under `parent` (an
/// organisation or group); names compare case-insensitively.
pub fn covered(listed: &[String], parent: Option<&str>, repository: &str) -> Option<String> {
    listed
        .iter()
        .find(|r| r.eq_ignore_ascii_case(repository))
        .cloned()
        .or_else(|| {
            let prefix = format!("{}/", parent?.to_ascii_lowercase());
            repository
                .to_ascii_lowercase()
                .starts_with(&prefix)
                .then(|| repository.to_string())
        })
}

/// The names a listing (an organisation's repositories, a group's projects) gives, read
/// through every page. Each page is asked for conditionally with its own validators: an
/// unchanged page (304) reuses the names kept for it, and the pages after it are still
/// asked for (a first page unchanged says nothing of the others: a repository added at the
/// end of a long listing is on its last page).
pub async fn cached_listing(
    client: &Client,
    url: &str,
    old: &Cursors,
    cursors: &mut Cursors,
    cancel: &CancellationToken,
    parse: impl Fn(&[u8]) -> Result<Vec<String>, String>,
) -> Result<Vec<String>, CollectError> {
    const PAGES: usize = 100;
    let key = format!("listing {url}");
    let page_key = |page: &str| format!("listing page {page}");
    let next_key = |page: &str| format!("listing next {page}");
    let mut names: Vec<String> = Vec::new();
    let mut page = url.to_string();
    for pages in 1.. {
        let validators = Validators::from_cursors(old, &page);
        let next = match client.get(&page, &validators, cancel).await? {
            Fetched::NotModified => {
                validators.to_cursors(cursors, &page);
                let Some(kept) = old.get(&page_key(&page)) else {
                    // Kept by an older build as one list (no pages): the whole of it.
                    let kept = old.get(&key).cloned().unwrap_or_default();
                    names.extend(kept.lines().map(String::from));
                    break;
                };
                names.extend(kept.lines().filter(|l| !l.is_empty()).map(String::from));
                cursors.insert(page_key(&page), kept.clone());
                old.get(&next_key(&page)).cloned()
            }
            Fetched::Body {
                body,
                validators,
                next,
                ..
            } => {
                let found = parse(&body).map_err(decode_error(&page))?;
                validators.to_cursors(cursors, &page);
                cursors.insert(page_key(&page), found.join("\n"));
                names.extend(found);
                next
            }
        };
        match next {
            Some(n) if pages < PAGES => {
                cursors.insert(next_key(&page), n.clone());
                page = n;
            }
            _ => break,
        }
    }
    cursors.insert(key, names.join("\n"));
    Ok(names)
}

/// What a listing ordered by last update (newest first) holds: an item's identity and the time
/// it was last updated.
pub trait Updated {
    fn id(&self) -> u64;
    fn updated_at(&self) -> i64;
}

/// The items of a listing ordered by last update, newest first (`url`), that changed since the
/// listing's watermark: the newest update seen, with the items of that second already read.
/// The first page is asked conditionally (a 304: nothing changed); pages are read back to the
/// watermark, at most `max_pages`. The watermark and the validators move only when the listing
/// was read to its end, so nothing is skipped; `key` names the listing in the cursors. A first
/// collection starts `history` seconds before `now`.
#[allow(clippy::too_many_arguments)]
pub async fn updated_since<T: Updated>(
    client: &Client,
    url: &str,
    key: &str,
    old: &Cursors,
    cursors: &mut Cursors,
    start: i64,
    max_pages: usize,
    cancel: &CancellationToken,
    parse: fn(&[u8]) -> Result<Vec<T>, String>,
) -> Result<Vec<T>, CollectError> {
    let (since_key, done_key) = (format!("since {key}"), format!("done {key}"));
    let since: i64 = old
        .get(&since_key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(start);
    let done: Vec<u64> = old
        .get(&done_key)
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    let keep = |cursors: &mut Cursors, since: i64, done: &[u64]| {
        cursors.insert(since_key.clone(), since.to_string());
        let ids: Vec<String> = done.iter().map(u64::to_string).collect();
        cursors.insert(done_key.clone(), ids.join(","));
    };
    let validators = Validators::from_cursors(old, url);
    let (first, new_validators, mut next) = match client.get(url, &validators, cancel).await? {
        Fetched::NotModified => {
            validators.to_cursors(cursors, url);
            keep(cursors, since, &done);
            return Ok(Vec::new());
        }
        Fetched::Body {
            body,
            validators,
            next,
            ..
        } => (body, validators, next),
    };
    let mut pages = vec![parse(&first).map_err(decode_error(url))?];
    while let Some(page) = next.take() {
        if pages
            .last()
            .is_some_and(|p| p.iter().any(|x| x.updated_at() < since))
        {
            break;
        }
        if pages.len() >= max_pages {
            next = Some(page);
            break;
        }
        if let Fetched::Body { body, next: n, .. } =
            client.get(&page, &Validators::default(), cancel).await?
        {
            pages.push(parse(&body).map_err(decode_error(&page))?);
            next = n;
        }
    }
    let truncated = next.is_some();
    let mut changed = Vec::new();
    let mut newest = since;
    let mut newest_done = done.clone();
    for item in pages.into_iter().flatten() {
        let (at, id) = (item.updated_at(), item.id());
        if at < since || (at == since && done.contains(&id)) {
            continue;
        }
        if at > newest {
            newest = at;
            newest_done.clear();
        }
        if at == newest {
            newest_done.push(id);
        }
        changed.push(item);
    }
    if truncated {
        // The rest waits for the next collection: the watermark stays, and no validators.
        keep(cursors, since, &done);
    } else {
        new_validators.to_cursors(cursors, url);
        keep(cursors, newest, &newest_done);
    }
    Ok(changed)
}

/// A `decode_failed` error naming the URL (without its query).
pub fn decode_error(url: &str) -> impl Fn(String) -> CollectError + '_ {
    move |e| {
        CollectError::new(
            ErrorKind::DecodeFailed,
            format!("{}: {e}", crate::sources::http::shown_url(url)),
        )
    }
}

/// `YYYY-MM-DD` of a time (UTC).
pub fn day(seconds: i64) -> String {
    chrono::DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

#[cfg(test)]
mod target_tests {
    use super::*;

    #[test]
    fn keys_mention_a_repository_only_as_a_whole_name() {
        assert!(key_mentions("since acme/ml", "acme/ml"));
        assert!(key_mentions(
            "etag https://h/repos/acme/ml/actions/runs?per_page=100",
            "acme/ml"
        ));
        assert!(key_mentions(
            "etag https://h/api/v4/projects/acme%2Fml/pipelines?x=1",
            "acme/ml"
        ));
        assert!(!key_mentions("since acme/ml-core", "acme/ml"));
        assert!(!key_mentions(
            "etag https://h/repos/acme/ml-core/actions/runs",
            "acme/ml"
        ));
        assert!(!key_mentions("since xacme/ml", "acme/ml"));
    }

    #[test]
    fn a_targeted_collection_carries_the_other_repositories() {
        let names = vec![
            "acme/a".to_string(),
            "acme/b".to_string(),
            "acme/new".to_string(),
        ];
        let old: Cursors = [
            ("default_branch acme/a", "main"),
            ("since acme/a", "10"),
            ("default_branch acme/b", "dev"),
            ("since acme/b", "20"),
            ("listing https://h/orgs/acme/repos", "acme/a"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let targets: std::collections::BTreeSet<String> = ["acme/b".to_string()].into();
        let mut cursors = Cursors::new();
        let (collect, kept) = plan_targets(&names, Some(&targets), &old, &mut cursors);
        assert_eq!(collect, ["acme/b", "acme/new"]);
        assert_eq!(kept, [("acme/a".to_string(), "main".to_string())]);
        assert_eq!(cursors.len(), 2);
        assert_eq!(cursors["since acme/a"], "10");
        let (all, none) = plan_targets(&names, None, &old, &mut Cursors::new());
        assert_eq!((all.len(), none.len()), (3, 0));
    }
}

/// Percent-encodes everything but unreserved characters (a path segment or query value).
pub fn urlencode(s: &str) -> String {
    /// Everything but RFC 3986's unreserved characters.
    const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

/// How often a repository's releases are read when neither its runs nor its items changed (a
/// release nearly always comes with a run, which makes them read at once).
pub const RELEASES_EVERY: i64 = 6 * 3600;

/// An upstream's JSON answer as the typed struct `T` (unknown fields ignored, a missing or
/// mistyped field an error that names it).
pub fn json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("not the expected JSON: {e}"))
}

/// A repository as a forge lists it: (its full name, its default branch — `main` when the
/// forge gives none, as for a repository without commits — archived), or an error naming
/// `field` when the name is missing.
pub fn repository_entry(
    name: String,
    default_branch: String,
    archived: bool,
    field: &str,
) -> Result<(String, String, bool), String> {
    if name.is_empty() {
        return Err(format!("a repository without `{field}`"));
    }
    let branch = if default_branch.is_empty() {
        "main".to_string()
    } else {
        default_branch
    };
    Ok((name, branch, archived))
}

/// For a field an API may send as `null` where it means "none": `null` reads as the type's
/// default (`#[serde(default, deserialize_with = "null_as_default")]`).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    Ok(<Option<T> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// A published release as every forge gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: u64,
    pub tag: String,
    pub published_at: i64,
    pub prerelease: bool,
    pub notes: String,
    /// The author's login and whether the forge marks them a bot.
    pub author: Option<(String, bool)>,
}

/// A repository's published releases and the people their notes name (`changelog_mention`:
/// by `@handle` or by a name from the identity file as whole words; the release's author,
/// bots and emails earn nothing), into `out`. Read when `changed`, or when the last read is
/// older than [`RELEASES_EVERY`]; conditional on the last answer's validators. `parse` reads
/// the forge's answer.
#[allow(clippy::too_many_arguments)]
pub async fn releases(
    client: &Client,
    people: &crate::people::People,
    url: &str,
    repo: &str,
    changed: bool,
    old: &Cursors,
    now: i64,
    cursors: &mut Cursors,
    cancel: &CancellationToken,
    parse: fn(&[u8]) -> Result<Vec<Release>, String>,
    out: &mut crate::facts::ForgeItems,
) -> Result<(), CollectError> {
    use crate::facts::{ForgeCredit, ForgeRelease, Person};
    use crate::people::{mentions, Who};
    let at_key = format!("releases_at {repo}");
    let last: i64 = old.get(&at_key).and_then(|v| v.parse().ok()).unwrap_or(0);
    let validators = Validators::from_cursors(old, url);
    if !changed && now - last < RELEASES_EVERY {
        validators.to_cursors(cursors, url);
        cursors.insert(at_key, last.to_string());
        return Ok(());
    }
    cursors.insert(at_key, now.to_string());
    let body = match client.get(url, &validators, cancel).await? {
        Fetched::NotModified => {
            validators.to_cursors(cursors, url);
            return Ok(());
        }
        Fetched::Body {
            body, validators, ..
        } => {
            validators.to_cursors(cursors, url);
            body
        }
    };
    for r in parse(&body).map_err(decode_error(url))? {
        out.releases.push(ForgeRelease {
            repository: repo.to_string(),
            id: r.id,
            tag: r.tag.clone(),
            published_at: r.published_at,
            prerelease: r.prerelease,
        });
        let author = r
            .author
            .as_ref()
            .and_then(|(login, bot)| people.forge_user(login, *bot))
            .map(|(p, _)| p.key);
        let mut named: Vec<Person> = Vec::new();
        for line in r.notes.lines() {
            for handle in mentions::handles(line) {
                if let Who::Person(p) = people.resolve_handle(handle) {
                    named.push(p);
                }
            }
            for (name, email) in people.identity_names() {
                if mentions::mentions_name(line, name) {
                    if let Who::Person(p) = people.resolve(name, email) {
                        named.push(p);
                    }
                }
            }
        }
        named.sort_by(|a, b| a.key.cmp(&b.key));
        named.dedup_by(|a, b| a.key == b.key);
        for p in named
            .into_iter()
            .filter(|p| Some(&p.key) != author.as_ref())
        {
            out.credits.push(ForgeCredit {
                repository: repo.to_string(),
                number: -(r.id as i64),
                person: p.key.clone(),
                kind: "changelog_mention".into(),
                at: r.published_at,
            });
            out.people.push(p);
        }
    }
    Ok(())
}

/// Seconds since the epoch of an RFC 3339 time (`2026-11-28T10:00:00Z`).
pub fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp())
}

/// An RFC 3339 time in seconds since the epoch, its fraction kept (`…T11:32:35.169Z`).
pub fn parse_time_precise(text: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_assets() {
        assert_eq!(parse_time("1970-01-01T00:01:00Z"), Some(60));
        assert_eq!(parse_time("2020-01-22T19:33:08+01:00"), Some(1579717988));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time_precise("1970-01-01T00:01:00.250Z"), Some(60.25));
        assert_eq!(parse_time("1970-01-01T00:01:00.750Z"), Some(60));
        let s = ForgeSettings {
            assets: vec![("acme/churn".into(), "churn-model".into())],
            pipelines: vec![],
            branches: None,
            history: DEFAULT_HISTORY,
            windows: vec![],
            max_pages: 1,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            ca_file: None,
            client_certificate_file: None,
            webhook_secret: None,
        };
        assert_eq!(s.asset_of("acme/churn"), "churn-model");
        assert_eq!(s.asset_of("acme/feature-store"), "feature-store");
        assert_eq!(s.asset_of("group/sub/project"), "project");
        assert!(s.wants_branch("main", "main") && !s.wants_branch("dev", "main"));
        assert!(s.wants_pipeline("anything"));
    }

    #[test]
    fn pipelines_and_branch_globs_choose_what_counts() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = "sources:\n  - name: gh\n    type: github\n    repositories: [acme/x]\n    pipelines: [ci]\n    branches: [\"main\", \"release/*\"]\n";
        let config =
            crate::sources::parse_config(&dir.path().join("c.yaml"), yaml, &|_| None).unwrap();
        let f = config.sources[0].settings.forge().unwrap();
        assert!(f.wants_pipeline("ci") && !f.wants_pipeline("nightly"));
        assert!(f.wants_branch("release/1.2", "main"));
        assert!(f.wants_branch("main", "trunk"));
        assert!(!f.wants_branch("feature/x", "main"));
    }
}
