//! Test helpers: fixture repositories, the binary, HTTP on loopback.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const DAY: i64 = 86_400;

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mlsteward"))
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A repository `dir/repo` with one commit by Ann Lee an hour ago (`src/a.py`), and a config
/// `dir/c.yaml` mining it with one library asset `lib` over `src/**`: the smallest daemon
/// that exports every per-asset family kind. Returns the config's path.
pub fn one_library(dir: &Path) -> PathBuf {
    let repo = Repo::init(&dir.join("repo"));
    repo.commit(
        "Ann Lee <ann@example.com>",
        now() - 3600,
        &[("src/a.py", "a = 1\n")],
        "A",
    );
    let config = dir.join("c.yaml");
    std::fs::write(
        &config,
        "sources:\n  - name: repo\n    type: git\n    path: repo\ncatalog:\n  - id: lib\n    kind: library\n    repository: repo\n    paths: [\"src/**\"]\n",
    )
    .unwrap();
    config
}

/// Runs the binary to completion.
pub fn mlsteward(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("running mlsteward")
}

/// A git repository built commit by commit with fixed identities and dates.
pub struct Repo {
    pub dir: PathBuf,
}

impl Repo {
    pub fn init(dir: &Path) -> Repo {
        std::fs::create_dir_all(dir).unwrap();
        let repo = Repo {
            dir: dir.to_path_buf(),
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_as(args, "Fixture", "fixture@example.com", 1_600_000_000)
    }

    pub fn git_as(&self, args: &[&str], name: &str, email: &str, at: i64) -> String {
        let date = format!("@{at} +0000");
        let out = Command::new("git")
            .args(args)
            .current_dir(&self.dir)
            .env("GIT_AUTHOR_NAME", name)
            .env("GIT_AUTHOR_EMAIL", email)
            .env("GIT_COMMITTER_NAME", name)
            .env("GIT_COMMITTER_EMAIL", email)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("running git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn write(&self, path: &str, content: &str) {
        let full = self.dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    /// Writes `files`, stages everything and commits as `who` ("Name <email>") at time `at`.
    pub fn commit(&self, who: &str, at: i64, files: &[(&str, &str)], message: &str) -> String {
        for (path, content) in files {
            self.write(path, content);
        }
        let (name, email) = who.split_once(" <").unwrap();
        let email = email.trim_end_matches('>');
        self.git_as(&["add", "-A"], name, email, at);
        self.git_as(
            &["commit", "-q", "--allow-empty", "-m", message],
            name,
            email,
            at,
        );
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }
}

/// A free loopback port (bound and released), for peers such as Prometheus that cannot report
/// the port they picked; mlsteward itself listens on port 0 and says where.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A minimal HTTP/1.1 GET over loopback (Connection: close; handles chunked bodies).
pub fn http_get(addr: &str, path: &str, headers: &[(&str, &str)]) -> std::io::Result<HttpResponse> {
    http_request(addr, "GET", path, headers, None)
}

/// A minimal HTTP/1.1 POST of a JSON body over loopback.
pub fn http_post_json(
    addr: &str,
    path: &str,
    body: &serde_json::Value,
) -> std::io::Result<HttpResponse> {
    let body = serde_json::to_vec(body).unwrap();
    http_request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        Some(&body),
    )
}

/// A POST of `body` with `headers` over loopback.
pub fn http_post(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    http_request(addr, "POST", path, headers, Some(body))
}

fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    if let Some(b) = body {
        // A server may answer (and close) before reading a body it refuses, as a webhook
        // without a valid signature header is: its answer is still read, as curl does.
        if let Err(e) = stream.write_all(b) {
            if !matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ) {
                return Err(e);
            }
        }
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_field = String::from_utf8_lossy(&data[..end]);
        let size = usize::from_str_radix(size_field.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// Percent-encodes a query parameter value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// A child process killed (with its process group) when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: String,
    logs: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// The address in mlsteward's "listening" log line (text or JSON format).
fn listening_address(line: &str) -> Option<String> {
    if !line.contains("mlsteward listening") {
        return None;
    }
    let rest = line
        .split_once("address=")
        .map(|(_, r)| r)
        .or_else(|| line.split_once("\"address\":\"").map(|(_, r)| r))?;
    Some(
        rest.split(|c: char| c.is_whitespace() || c == '"')
            .next()?
            .to_string(),
    )
}

impl Daemon {
    /// `mlsteward run` on `config` and `storage`, listening on port 0 of the loopback (no
    /// bind-then-release race); the address is read from its log.
    pub fn run(config: &Path, storage: &Path, extra: &[&str]) -> Daemon {
        Daemon::run_at(config, "127.0.0.1:0", storage, extra)
    }

    /// As [`Daemon::run`], listening on `listen` (replicas that must know each other's
    /// addresses before they start).
    pub fn run_at(config: &Path, listen: &str, storage: &Path, extra: &[&str]) -> Daemon {
        let mut command = Command::new(bin());
        command
            .args(["run", "--config.file"])
            .arg(config)
            .args(["--web.listen-address", listen, "--storage.path"])
            .arg(storage)
            .args(extra);
        Daemon::spawn(command)
    }

    /// Starts `command`, a `mlsteward run` listening on port 0 (possibly wrapped, as by `sh
    /// -c`), and learns its address from the log.
    pub fn spawn(mut command: Command) -> Daemon {
        let mut child = command
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting mlsteward");
        let stderr = child.stderr.take().expect("stderr is piped");
        let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (found, address) = std::sync::mpsc::channel();
        let sink = logs.clone();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                // Logged before the address is handed over, so the log holds that line then.
                {
                    let mut logs = sink.lock().unwrap();
                    logs.push_str(&line);
                    logs.push('\n');
                }
                if let Some(addr) = listening_address(&line) {
                    let _ = found.send(addr);
                }
            }
        });
        let addr = address
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!(
                    "mlsteward never said where it listens:\n{}",
                    logs.lock().unwrap()
                )
            });
        Daemon {
            child,
            addr,
            logs,
            reader: Some(reader),
        }
    }

    /// The log so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    pub fn wait_ready(&mut self) {
        let addr = self.addr.clone();
        let child = &mut self.child;
        let logs = self.logs.clone();
        wait_until(
            "mlsteward to become ready",
            Duration::from_secs(120),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("mlsteward exited early: {status}\n{}", logs.lock().unwrap());
                }
                http_get(&addr, "/-/ready", &[])
                    .map(|r| r.status == 200)
                    .unwrap_or(false)
            },
        );
    }

    /// Sends SIGTERM and waits for the exit, failing past `bound`; returns the status and logs.
    pub fn terminate_within(&mut self, bound: Duration) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().to_string();
        let started = Instant::now();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < bound,
                "no exit within {bound:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, self.logs())
    }

    pub fn metrics(&self) -> String {
        http_get(&self.addr, "/metrics", &[])
            .expect("scraping")
            .text()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the derived families in `text` were rendered after every collection that
/// succeeded (the self metrics are live; derived families follow within a render).
pub fn settled(text: &str) -> bool {
    let rendered = sample(text, "mlsteward_snapshot_timestamp_seconds").unwrap_or(0.0);
    text.lines()
        .filter(|l| l.starts_with("mlsteward_collector_last_success_timestamp_seconds{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .all(|at| at <= rendered)
}

/// Value of the sample whose name and labels (given as `name{a="b",...}`) match exactly.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

/// Sample lines of one metric family (comments dropped).
pub fn family_lines(exposition: &str, name: &str) -> Vec<String> {
    exposition
        .lines()
        .filter(|l| {
            !l.starts_with('#')
                && (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        })
        .map(String::from)
        .collect()
}

/// Asserts that two expositions agree on every sample of `families`.
pub fn assert_same_families(a: &str, b: &str, families: &[&str]) {
    for family in families {
        assert_eq!(family_lines(a, family), family_lines(b, family), "{family}");
    }
}

/// The families whose values come from mined facts.
pub const FACT_FAMILIES: &[&str] = &[
    "mlsteward_contributions_total",
    "mlsteward_credited_commits_total",
    "mlsteward_git_commits",
];

/// Damages a store file the way a bad disk would: the root page of the `commits` table (table
/// data, not the schema, whose pages can be anywhere once it spills over page 1) is overwritten
/// with garbage, so the file still opens and the damage shows on reading.
pub fn corrupt_store(path: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    let root: u64 = {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'commits'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    let pages = std::fs::metadata(path).unwrap().len() / 4096;
    assert!(
        pages > 4 && root > 1,
        "a store of {pages} pages is too small to damage safely"
    );
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start((root - 1) * 4096)).unwrap();
    file.write_all(&[0x5a; 4096]).unwrap();
}

/// A program of the Python environment scripts/test.sh builds (MLflow, Feast). Fails loudly
/// when it is missing: those tests are never skipped.
pub fn pyenv_bin(name: &str) -> PathBuf {
    let root = std::env::var_os("MLSTEWARD_PYENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/pyenv"));
    let bin = root.join("bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing: run scripts/test.sh, which installs MLflow and Feast into {}",
        bin.display(),
        root.display()
    );
    bin
}

/// A server started in its own process group, killed with its children when dropped.
pub struct Served {
    pub child: Child,
    pub addr: String,
    pub log: PathBuf,
}

impl Served {
    /// Starts `command` (listening on `addr`) and waits until `ready_path` answers 200.
    pub fn start(mut command: Command, addr: String, ready_path: &str, log: PathBuf) -> Served {
        use std::os::unix::process::CommandExt;
        let out = std::fs::File::create(&log).unwrap();
        let child = command
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting a server");
        let mut served = Served { child, addr, log };
        let addr = served.addr.clone();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = served.child.try_wait() {
                panic!(
                    "the server exited early ({status}):\n{}",
                    std::fs::read_to_string(&served.log).unwrap_or_default()
                );
            }
            if http_get(&addr, ready_path, &[]).is_ok_and(|r| r.status == 200) {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "the server never became ready:\n{}",
                std::fs::read_to_string(&served.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
        served
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// Makes a CA, a server certificate for 127.0.0.1 and a client certificate with `openssl`
/// in `dir`; returns the paths of the CA, the server's certificate and key, and the client's
/// certificate and key in one PEM file.
pub fn certificates(dir: &std::path::Path) -> [std::path::PathBuf; 4] {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (scripts/test.sh installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(key);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(&ca);
    for (who, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        (
            "client",
            "subjectAltName=DNS:scraper.example,email:prometheus@example.com,URI:spiffe://example/prometheus,IP:10.0.0.7,IP:2001:db8::7\nextendedKeyUsage=clientAuth\n",
        ),
    ] {
        let (k, csr, pem, extfile, cn) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.pem"),
            format!("{who}.ext"),
            format!("/CN={who}"),
        );
        std::fs::write(dir.join(&extfile), ext).unwrap();
        let mut req = vec!["req"];
        req.extend(key);
        req.extend(["-keyout", &k, "-out", &csr, "-subj", &cn]);
        openssl(&req);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &extfile,
        ]);
    }
    let identity = format!(
        "{}{}",
        std::fs::read_to_string(dir.join("client.pem")).unwrap(),
        std::fs::read_to_string(dir.join("client.key")).unwrap()
    );
    std::fs::write(dir.join("client-identity.pem"), identity).unwrap();
    [
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
        dir.join("client-identity.pem"),
    ]
}

/// A sample of `name` whose labels are exactly `labels` (in any order).
pub fn sample_labeled(exposition: &str, name: &str, labels: &[(String, String)]) -> Option<f64> {
    let mut want: Vec<(String, String)> = labels.to_vec();
    want.sort();
    exposition.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let (got, value) = if let Some(inner) = rest.strip_prefix('{') {
            let (pairs, after) = parse_labels(inner)?;
            (pairs, after)
        } else {
            (Vec::new(), rest)
        };
        let mut got = got;
        got.sort();
        (got == want).then(|| value.trim().parse().ok())?
    })
}

/// `a="x",b="y"} rest` → the pairs and what follows the `}`.
fn parse_labels(text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut pairs = Vec::new();
    let mut rest = text;
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Some((pairs, after));
        }
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => {
                    let (_, n) = chars.next()?;
                    value.push(if n == 'n' { '\n' } else { n });
                }
                '"' => break i,
                c => value.push(c),
            }
        };
        pairs.push((key.trim_start_matches(',').to_string(), value));
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// A value a page shows, with the series it says it shows (`data-metric`, `data-asset`,
/// `data-labels`, `data-value`) and the text shown.
#[derive(Debug, Clone)]
pub struct Shown {
    pub metric: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
    pub text: String,
}

fn unescape_html(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The attributes of the tag that starts at `tag` (up to its `>`).
pub fn attributes(tag: &str) -> Vec<(String, String)> {
    let end = tag.find('>').unwrap_or(tag.len());
    let mut rest = &tag[..end];
    let mut out = Vec::new();
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].rsplit(' ').next().unwrap_or("").to_string();
        let after = &rest[eq + 2..];
        let close = after.find('"').unwrap_or(after.len());
        out.push((name, unescape_html(&after[..close])));
        rest = &after[(close + 1).min(after.len())..];
    }
    out
}

/// Every value shown on a page (as served, or as a browser serialized its DOM).
pub fn shown_values(html: &str) -> Vec<Shown> {
    let mut out = Vec::new();
    for (at, _) in html.match_indices("<span class=\"v\"") {
        let tag = &html[at..];
        let attrs = attributes(tag);
        let get = |k: &str| {
            attrs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mut labels = vec![("asset".to_string(), get("data-asset"))];
        let extra = get("data-labels");
        if !extra.is_empty() {
            let (pairs, _) = parse_labels(&format!("{extra}}}")).expect("data-labels parse");
            labels.extend(pairs);
        }
        let body = &tag[tag.find('>').unwrap() + 1..];
        let text = unescape_html(&body[..body.find("</span>").unwrap()]);
        out.push(Shown {
            metric: get("data-metric"),
            labels,
            value: get("data-value").parse().expect("data-value is a number"),
            text,
        });
    }
    out
}

/// The values of `label` on the samples of family `name`, in exposition order, repeats kept.
pub fn label_values(exposition: &str, name: &str, label: &str) -> Vec<String> {
    let key = format!("{label}=\"");
    family_lines(exposition, name)
        .iter()
        .filter_map(|l| {
            let at = l.find(&key)? + key.len();
            Some(l[at..].split('"').next()?.to_string())
        })
        .collect()
}
