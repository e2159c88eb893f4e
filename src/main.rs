//! The `mlsteward` binary: argv, logging, and exit codes. Only this file knows them.
//!
//! Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use mlsteward::runner::{Runner, Scheduler, SHUTDOWN_GRACE};
use mlsteward::signal::Dirty;
use mlsteward::sources::Config;
use mlsteward::store::Store;
use mlsteward::{config, server};

/// The port registered for mlsteward in the documentation; `:PORT` listens on every interface.
const DEFAULT_LISTEN_ADDRESS: &str = ":9717";

#[derive(Parser)]
#[command(
    name = "mlsteward",
    version,
    about = "Measures shared ML resources and the people who keep them alive; serves Prometheus metrics."
)]
struct Cli {
    /// Configuration file (YAML).
    #[arg(long = "config.file", global = true, default_value = "mlsteward.yaml")]
    config_file: PathBuf,
    /// Address to listen on for the web interface and /metrics.
    #[arg(long = "web.listen-address", global = true, default_value = DEFAULT_LISTEN_ADDRESS, value_parser = parse_listen_address)]
    listen_address: String,
    /// Path under which the metrics are exposed (as every exporter built on exporter-toolkit).
    #[arg(long = "web.telemetry-path", global = true, default_value = "/metrics", value_parser = parse_telemetry_path)]
    telemetry_path: String,
    /// TLS, client certificates, basic auth and response headers, in the exporter-toolkit
    /// format (the file node_exporter reads). Reloads re-read it.
    #[arg(long = "web.config.file", global = true)]
    web_config_file: Option<PathBuf>,
    /// Run as shard K of N replicas (0-based): mine only the git sources, read only the forge
    /// repositories and export only the assets this shard owns.
    #[arg(long = "shard", global = true, value_parser = parse_shard)]
    shard: Option<mlsteward::shard::Shard>,
    /// The replicas' base URLs, one per shard in shard order, comma-separated, or one URL with
    /// `{shard}` for the index (http://mlsteward-{shard}.mlsteward-peers:9717): every replica joins
    /// people over all replicas' histories, and shard 0 counts the organisation-wide people.
    #[arg(long = "shard.peers", global = true)]
    shard_peers: Option<String>,
    /// How often the peers' people summaries are requested.
    #[arg(long = "shard.peer-interval", global = true, value_parser = parse_since, default_value = "30s")]
    shard_peer_interval: std::time::Duration,
    /// PEM file of certificate authorities that sign the peers' TLS certificates.
    #[arg(long = "shard.peer-ca-file", global = true)]
    shard_peer_ca_file: Option<PathBuf>,
    /// PEM file with the client certificate and key presented to peers that require one.
    #[arg(long = "shard.peer-cert-file", global = true)]
    shard_peer_cert_file: Option<PathBuf>,
    /// File holding `USER:PASSWORD` for peers that require basic auth.
    #[arg(long = "shard.peer-basic-auth-file", global = true)]
    shard_peer_basic_auth_file: Option<PathBuf>,
    /// The SQLite fact store; its directory also holds mirrors of remote repositories
    /// [default: ./data/mlsteward.db; for `demo`, DIR/data/mlsteward.db].
    #[arg(long = "storage.path", global = true)]
    storage_path: Option<PathBuf>,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", global = true, value_enum, default_value_t = LogLevel::Info)]
    log_level: LogLevel,
    /// Output format of log messages.
    #[arg(long = "log.format", global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: collect on schedule and serve /metrics.
    Run,
    /// Validate the configuration, report every problem, and exit.
    CheckConfig,
    /// Collect every source once and print the exposition to stdout (exit 1 if any source failed).
    CollectOnce,
    /// Print the recognition report from the store: who did what, per asset and overall.
    Report {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
        format: ReportFormat,
        /// Only this asset.
        #[arg(long)]
        asset: Option<String>,
        /// Only commits from this long ago until now (a duration such as 90d).
        #[arg(long, value_parser = parse_since)]
        since: Option<std::time::Duration>,
    },
    /// Print who was joined with whom into one person, and by which rule.
    Identities,
    /// Check the store file for damage (SQLite's integrity check); exit 1 if it is damaged.
    CheckStore,
    /// Write the recognition and activity series as they would have been scraped at each past
    /// step, as OpenMetrics for `promtool tsdb create-blocks-from openmetrics`.
    Backfill {
        /// How far back (a duration such as 365d).
        #[arg(long, value_parser = parse_since, default_value = "365d")]
        since: std::time::Duration,
        /// The time between two samples (a duration such as 1d).
        #[arg(long, value_parser = parse_since, default_value = "1d")]
        step: std::time::Duration,
        /// The OpenMetrics file to write.
        #[arg(long)]
        output: PathBuf,
    },
    /// Write a demo organisation (a git repository, a coverage report, a config) into DIR and
    /// run the daemon on it: several people, kinds of work, a co-author, a bot, a revert, owned
    /// and unowned assets, a CODEOWNERS conflict. Everything in it is labelled demo.
    Demo {
        /// Where the demo is written (an earlier demo there is replaced; anything else is
        /// refused).
        #[arg(long, default_value = "mlsteward-demo")]
        dir: PathBuf,
        /// Only write the demo; print how to run it.
        #[arg(long)]
        write_only: bool,
    },
}

impl Cli {
    fn storage(&self) -> PathBuf {
        self.storage_path
            .clone()
            .unwrap_or_else(|| PathBuf::from("./data/mlsteward.db"))
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum ReportFormat {
    Markdown,
    Json,
    /// One self-contained HTML page (inline CSS, no scripts), for publishing or mailing.
    Html,
    /// An `.all-contributorsrc` file.
    AllContributors,
}

fn parse_shard(text: &str) -> Result<mlsteward::shard::Shard, String> {
    mlsteward::shard::Shard::parse(text)
}

fn parse_since(text: &str) -> Result<std::time::Duration, String> {
    config::parse_duration(text)
}

#[derive(Clone, Copy, ValueEnum)]
enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Error => tracing::Level::ERROR,
    };
    // Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// `[HOST]:PORT`, as Prometheus exporters take it: a host name, an IPv4 address or a bracketed
/// IPv6 address (or nothing, for every interface), then a port.
/// A path of its own: it starts with `/`, and is none of the daemon's other endpoints.
fn parse_telemetry_path(text: &str) -> Result<String, String> {
    if !text.starts_with('/') || text.contains(['?', '#', ' ']) || text.contains("{") {
        return Err(format!(
            "`{text}` is not a path (it starts with `/`, without a query)"
        ));
    }
    if mlsteward::server::RESERVED_PATHS
        .iter()
        .any(|p| text == *p || text.starts_with(&format!("{p}/")))
    {
        return Err(format!("`{text}` is another endpoint of the daemon"));
    }
    Ok(text.to_string())
}

fn parse_listen_address(text: &str) -> Result<String, String> {
    let bad = || format!("`{text}` is not [HOST]:PORT (for example :9717 or 127.0.0.1:9717)");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')),
    };
    if host_ok {
        Ok(text.to_string())
    } else {
        Err(bad())
    }
}

/// Prometheus-style listen address: `:9717` means every interface.
fn listen_address(addr: &str) -> String {
    if addr.starts_with(':') {
        format!("0.0.0.0{addr}")
    } else {
        addr.to_string()
    }
}

fn main() -> ExitCode {
    mlsteward::install_crypto();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(cli.log_level, cli.log_format);
    if let Command::Demo { dir, write_only } = &cli.command {
        return demo(&cli, dir, *write_only);
    }
    // The store alone: no configuration is read.
    if let Command::CheckStore = cli.command {
        return match check_store(&cli) {
            Ok(code) => code,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "mlsteward failed");
                ExitCode::from(1)
            }
        };
    }
    let config = match mlsteward::sources::load_config(&cli.config_file) {
        Ok(c) => c,
        Err(problems) => {
            print_problems(&cli.config_file, &problems);
            return ExitCode::from(2);
        }
    };
    let peers = match peer_options(&cli) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("--shard.peers: {why}");
            return ExitCode::from(2);
        }
    };
    // Only the server and its check read the web config.
    let web = match cli.command {
        Command::Run | Command::CheckConfig => match load_web(&cli) {
            Ok(web) => web,
            Err(code) => return code,
        },
        _ => None,
    };
    let result = match cli.command {
        Command::CheckConfig => check_config(&cli, config),
        Command::Run => run_async(run(&cli, config, web, None, peers)),
        Command::CollectOnce => run_async(collect_once(&cli, config)),
        Command::Report {
            format,
            ref asset,
            since,
        } => report(&cli, &config, format, asset.as_deref(), since),
        Command::Identities => identities(&cli, &config),
        Command::Backfill {
            since,
            step,
            ref output,
        } => backfill(&cli, &config, since, step, output),
        Command::CheckStore | Command::Demo { .. } => {
            unreachable!("handled before the config is read")
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "mlsteward failed");
            ExitCode::from(1)
        }
    }
}

/// `--shard.peers` and its options, checked against `--shard`.
fn peer_options(cli: &Cli) -> Result<Option<mlsteward::peers::PeerOptions>, String> {
    let Some(text) = &cli.shard_peers else {
        return Ok(None);
    };
    let Some(shard) = cli.shard else {
        return Err("needs --shard K/N".into());
    };
    let urls = mlsteward::shard::peer_urls(text, shard)?;
    let auth = match &cli.shard_peer_basic_auth_file {
        None => mlsteward::sources::http::Auth::None,
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("reading {}: {e}", file.display()))?;
            let (user, password) = text
                .trim_end_matches(['\n', '\r'])
                .split_once(':')
                .ok_or_else(|| format!("{} does not hold USER:PASSWORD", file.display()))?;
            mlsteward::sources::http::Auth::Basic {
                username: user.to_string(),
                password: mlsteward::config::Secret::new(password),
            }
        }
    };
    Ok(Some(mlsteward::peers::PeerOptions {
        urls,
        interval: cli.shard_peer_interval,
        http: mlsteward::sources::http::HttpConfig {
            auth,
            timeout: std::time::Duration::from_secs(10),
            max_retries: 0,
            ca_bundle: cli.shard_peer_ca_file.clone(),
            client_identity: cli.shard_peer_cert_file.clone(),
            ..Default::default()
        },
    }))
}

/// The web config `--web.config.file` names; its problems are printed (exit code 2).
fn load_web(cli: &Cli) -> Result<Option<mlsteward::web::WebConfig>, ExitCode> {
    let Some(file) = &cli.web_config_file else {
        return Ok(None);
    };
    mlsteward::web::WebConfig::load(file)
        .map(Some)
        .map_err(|problems| {
            print_problems(file, &problems);
            ExitCode::from(2)
        })
}

/// `mlsteward demo`: writes the demo, then runs the daemon on it (unless `write_only`).
fn demo(cli: &Cli, dir: &Path, write_only: bool) -> ExitCode {
    let written = match mlsteward::demo::write(dir, chrono::Utc::now().timestamp()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("demo: {e:#}");
            return ExitCode::from(1);
        }
    };
    let storage = cli
        .storage_path
        .clone()
        .unwrap_or_else(|| written.dir.join("data/mlsteward.db"));
    eprintln!(
        "DEMO DATA written to {}: a repository of {} made-up commits ({}), a coverage report and {}.",
        written.dir.display(),
        written.commits,
        written.repository.display(),
        written.config.display()
    );
    let run_command = format!(
        "mlsteward run --config.file {} --storage.path {}",
        written.config.display(),
        storage.display()
    );
    if write_only {
        eprintln!("Run it with: {run_command}");
        return ExitCode::SUCCESS;
    }
    eprintln!("Running it, as `{run_command}` would. Open the address logged below.");
    let config = match mlsteward::sources::load_config(&written.config) {
        Ok(c) => c,
        Err(problems) => {
            print_problems(&written.config, &problems);
            return ExitCode::from(2);
        }
    };
    let demo_cli = Cli {
        config_file: written.config.clone(),
        listen_address: cli.listen_address.clone(),
        web_config_file: cli.web_config_file.clone(),
        telemetry_path: cli.telemetry_path.clone(),
        storage_path: Some(storage),
        shard: cli.shard,
        shard_peers: cli.shard_peers.clone(),
        shard_peer_interval: cli.shard_peer_interval,
        shard_peer_ca_file: cli.shard_peer_ca_file.clone(),
        shard_peer_cert_file: cli.shard_peer_cert_file.clone(),
        shard_peer_basic_auth_file: cli.shard_peer_basic_auth_file.clone(),
        log_level: cli.log_level,
        log_format: cli.log_format,
        command: Command::Run,
    };
    let web = match load_web(cli) {
        Ok(web) => web,
        Err(code) => return code,
    };
    match run_async(run(&demo_cli, config, web, Some(&written.dir), None)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "mlsteward failed");
            ExitCode::from(1)
        }
    }
}

/// Every problem on its own line (`file:line:column: key: message`), then their number.
fn print_problems(file: &Path, problems: &[config::Problem]) {
    let mut total = 0;
    for p in problems {
        eprintln!("{p}");
        total += config::Problem::count_in(p);
    }
    eprintln!("{}: {total} problem(s) found", file.display());
}

fn check_config(cli: &Cli, config: Config) -> anyhow::Result<ExitCode> {
    // Build the runtime objects too (glob sets, classifiers) without touching the store, and
    // open each local repository and resolve its branch.
    let mut problems = Vec::new();
    for s in &config.sources {
        let built = match s.settings.build(&config, &s.name, Path::new(".")) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{}: sources: {}: {e:#}", cli.config_file.display(), s.name);
                return Ok(ExitCode::from(2));
            }
        };
        if let Err((at, message)) = built.check_local() {
            let at = at.unwrap_or_default();
            problems.push(config::Problem {
                file: cli.config_file.clone(),
                pos: at.pos,
                path: at.path,
                message,
                more: 0,
            });
        }
    }
    if !problems.is_empty() {
        print_problems(&cli.config_file, &problems);
        return Ok(ExitCode::from(2));
    }
    if config.sources.is_empty() {
        eprintln!(
            "{}: warning: no sources: the daemon would collect nothing",
            cli.config_file.display()
        );
    }
    if let Some(file) = &cli.web_config_file {
        println!("{}: OK", file.display());
    }
    println!(
        "{}: OK ({} source(s), {} catalog asset(s))",
        cli.config_file.display(),
        config.sources.len(),
        config.catalog.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// Opens an existing store for reading; a missing one is an error, not a new empty store.
fn existing_store(cli: &Cli) -> anyhow::Result<Store> {
    let path = cli.storage();
    if !path.exists() {
        anyhow::bail!(
            "no store at {} (run `mlsteward run` or `collect-once` first, or pass --storage.path)",
            path.display()
        );
    }
    Ok(Store::open(&path)?)
}

fn report(
    cli: &Cli,
    config: &Config,
    format: ReportFormat,
    asset: Option<&str>,
    since: Option<std::time::Duration>,
) -> anyhow::Result<ExitCode> {
    if let Some(a) = asset {
        if !config.assets().iter().any(|x| x.id == a) {
            eprintln!("report: no asset `{a}` in the catalog");
            return Ok(ExitCode::from(2));
        }
    }
    let store = existing_store(cli)?;
    let since = since.map(|d| chrono::Utc::now().timestamp() - d.as_secs() as i64);
    let report = mlsteward::report::build(&store, config, asset, since, (0, &[]))?;
    let text = match format {
        ReportFormat::Markdown => report.to_markdown(),
        ReportFormat::Json => report.to_json(),
        ReportFormat::Html => report.to_html(),
        ReportFormat::AllContributors => {
            let project = config
                .organisation
                .clone()
                .or_else(|| asset.map(String::from))
                .unwrap_or_default();
            report.to_all_contributors(&project)
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn check_store(cli: &Cli) -> anyhow::Result<ExitCode> {
    let damaged = |error: &dyn std::fmt::Display| {
        eprintln!(
            "{}: damaged: {error}; restore it from a backup or delete it to mine again from scratch",
            cli.storage().display()
        );
        Ok(ExitCode::from(1))
    };
    let store = match existing_store(cli) {
        Err(e)
            if e.downcast_ref::<mlsteward::store::StoreError>()
                .is_some_and(|e| e.is_corrupt()) =>
        {
            return damaged(&e)
        }
        other => other?,
    };
    let found = match store.integrity_check() {
        Err(e) if e.is_corrupt() => return damaged(&e),
        other => other?,
    };
    if found == ["ok"] {
        let versions: Vec<String> = store
            .schema_versions()?
            .into_iter()
            .map(|(module, v)| format!("{module} {v}"))
            .collect();
        println!(
            "{}: ok (schema versions: {})",
            store.path(),
            versions.join(", ")
        );
        Ok(ExitCode::SUCCESS)
    } else {
        for problem in &found {
            eprintln!("{}: {problem}", store.path());
        }
        eprintln!(
            "{}: damaged ({} problem(s)); restore it from a backup or delete it to mine again from scratch",
            store.path(),
            found.len()
        );
        Ok(ExitCode::from(1))
    }
}

fn backfill(
    cli: &Cli,
    config: &Config,
    since: std::time::Duration,
    step: std::time::Duration,
    output: &Path,
) -> anyhow::Result<ExitCode> {
    if step.as_secs() < 60 {
        eprintln!("backfill: --step must be at least 1m");
        return Ok(ExitCode::from(2));
    }
    let times = mlsteward::backfill::steps(
        chrono::Utc::now().timestamp(),
        since.as_secs() as i64,
        step.as_secs() as i64,
    );
    if times.len() > 100_000 {
        eprintln!(
            "backfill: {} steps is too many; use a longer --step or a shorter --since",
            times.len()
        );
        return Ok(ExitCode::from(2));
    }
    // Opened only to check it exists and is a store; the backfill reads it read-only.
    let store = existing_store(cli)?;
    let path = PathBuf::from(store.path());
    drop(store);
    let started = std::time::Instant::now();
    let written = mlsteward::backfill::write(&path, config, cli.shard, &times, output)?;
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    eprintln!(
        "{}: {} samples at {} steps, {} to {} UTC, in {:.1} s. Next: promtool tsdb create-blocks-from openmetrics {} DATA_DIR",
        output.display(),
        written.samples,
        written.steps,
        day(written.first),
        day(written.last),
        started.elapsed().as_secs_f64(),
        output.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn identities(cli: &Cli, config: &Config) -> anyhow::Result<ExitCode> {
    let store = existing_store(cli)?;
    print!("{}", mlsteward::report::identities(&store, config)?);
    Ok(ExitCode::SUCCESS)
}

fn run_async(
    fut: impl std::future::Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(fut);
    // Blocking collector threads that ignore cancellation must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

fn open_runner(cli: &Cli, config: Config) -> anyhow::Result<Runner> {
    let storage = cli.storage();
    let store = Store::open_exclusive(&storage)?;
    let storage_dir = storage
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    Ok(Runner::new(config, store, &storage_dir, cli.shard)?.with_config_file(&cli.config_file))
}

async fn collect_once(cli: &Cli, config: Config) -> anyhow::Result<ExitCode> {
    let runner = open_runner(cli, config)?;
    let never = CancellationToken::new();
    let mut failed = false;
    // Discovery first, so that the repositories it finds are collected in this run too.
    let discovers =
        |s: &Arc<mlsteward::sources::Configured>| s.config.settings.discovery().is_some();
    for source in runner.sources().iter().filter(|s| discovers(s)) {
        failed |= runner.collect(source, &never, None).await.0.is_err();
    }
    runner.rediscover().await;
    for source in runner.sources().iter().filter(|s| !discovers(s)) {
        failed |= runner.collect(source, &never, None).await.0.is_err();
    }
    let renderer = runner.text_renderer();
    let text =
        tokio::task::spawn_blocking(move || renderer.render_all(mlsteward::now_seconds())).await?;
    print!("{text}");
    runner.store.flush()?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn run(
    cli: &Cli,
    config: Config,
    web: Option<mlsteward::web::WebConfig>,
    demo: Option<&Path>,
    peers: Option<mlsteward::peers::PeerOptions>,
) -> anyhow::Result<ExitCode> {
    let fd_limit = server::raise_fd_limit();
    let mut app = open_runner(cli, config)?;
    if let (Some(options), Some(shard)) = (peers, cli.shard.filter(|s| s.count > 1)) {
        let exchange = mlsteward::peers::PeerExchange::new(shard, options)
            .map_err(|e| anyhow::anyhow!("--shard.peers: {e}"))?;
        app = app.with_peers(Arc::new(exchange));
    }
    if let Some(dir) = demo {
        app = app.with_demo(dir);
    }
    if let (Some(file), Some(web)) = (&cli.web_config_file, web) {
        app = app.with_web_config(file, web);
    }
    let (tls, basic_auth) = {
        let web = app.web();
        (web.tls().is_some(), web.requires_auth())
    };
    let (view, renderer) = app.renderer();
    let address = listen_address(&cli.listen_address);
    let listener = server::bind(&address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
    let shard = app.shard().map_or_else(
        || "none".to_string(),
        |s| format!("{}/{}", s.index, s.count),
    );
    tracing::info!(address = %listener.local_addr()?, tls, basic_auth, shard, sources = app.sources().len(), open_files_limit = fd_limit, "mlsteward listening");
    if app.sources().is_empty() {
        tracing::warn!(config = %cli.config_file.display(), "the configuration has no sources: nothing will be collected");
    }
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    // The first render (what the store already holds) before anything else asks for one.
    app.signals().send(Dirty::everything());
    tracker.spawn(renderer.run(shutdown.clone()));
    {
        let app = app.clone();
        tokio::spawn(async move { app.check_store().await });
    }
    app.start_scheduler(Scheduler::new(&tracker, &shutdown))
        .await;
    if let Some(exchange) = app.peers() {
        tracker.spawn(mlsteward::peers::run(
            exchange,
            app.signals(),
            shutdown.clone(),
        ));
    }
    tracker.close();
    let limits = server::Limits::for_fd_limit(fd_limit);
    let server = tokio::spawn(server::serve(
        listener,
        server::Handle::new(view, app.clone()).with_telemetry_path(&cli.telemetry_path),
        limits,
        shutdown.clone(),
        std::time::Duration::from_secs(2),
    ));

    // SIGHUP reloads the configuration, as it does for Prometheus and its exporters.
    #[cfg(unix)]
    {
        let app = app.clone();
        let stop = shutdown.clone();
        if let Ok(mut hangup) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        got = hangup.recv() => {
                            if got.is_none() { break; }
                            tracing::info!("SIGHUP: reloading the configuration");
                            let _ = app.reload().await;
                        }
                    }
                }
            });
        }
    }

    shutdown_signal().await;
    tracing::info!(
        grace_seconds = SHUTDOWN_GRACE.as_secs(),
        "shutting down: cancelling collections"
    );
    shutdown.cancel();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("collections did not stop within the grace period; exiting anyway");
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), server).await;
    app.store.flush()?;
    tracing::info!("store flushed; bye");
    Ok(ExitCode::SUCCESS)
}
