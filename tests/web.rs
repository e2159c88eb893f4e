//! `--web.config.file`: TLS, client certificates, basic auth and headers, checked with a real
//! TLS client (reqwest over rustls) against the real daemon, and bad web configs at the CLI.

use std::path::Path;
use std::time::Duration;

use crate::support::*;

const PASSWORD: &str = "correct horse battery staple";

/// A client that trusts only `ca`, optionally presenting `identity`.
fn client(ca: &Path, identity: Option<&Path>, max_tls12: bool) -> reqwest::blocking::Client {
    mlsteward::install_crypto();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let mut builder = reqwest::blocking::Client::builder()
        .tls_certs_only([ca])
        // Every request makes its own handshake, so a reloaded TLS policy applies to it.
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30));
    if let Some(id) = identity {
        builder =
            builder.identity(reqwest::Identity::from_pem(&std::fs::read(id).unwrap()).unwrap());
    }
    if max_tls12 {
        builder = builder.tls_version_max(reqwest::tls::Version::TLS_1_2);
    }
    builder.build().unwrap()
}

fn get(
    client: &reqwest::blocking::Client,
    addr: &str,
    path: &str,
    user: Option<(&str, &str)>,
) -> reqwest::Result<reqwest::blocking::Response> {
    let url = format!("https://{addr}{path}");
    let mut request = client.get(url);
    if let Some((u, p)) = user {
        request = request.basic_auth(u, Some(p));
    }
    request.send()
}

fn web_config(dir: &Path, users: &str, extra_tls: &str) -> std::path::PathBuf {
    let file = dir.join("web.yml");
    std::fs::write(
        &file,
        format!(
            "tls_server_config:\n  cert_file: certs/server.pem\n  key_file: certs/server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.pem\n{extra_tls}http_server_config:\n  headers:\n    X-Frame-Options: deny\nbasic_auth_users:\n{users}"
        ),
    )
    .unwrap();
    file
}

/// Certificates in `dir/certs` (the server's and a client's, from one CA) and a client's from
/// another CA in `dir/rogue`: the CA, the server key, the client identity and the rogue one.
fn two_cas(dir: &Path) -> [std::path::PathBuf; 4] {
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let [ca, _, server_key, identity] = certificates(&certs);
    let rogue_dir = dir.join("rogue");
    std::fs::create_dir_all(&rogue_dir).unwrap();
    let [_, _, _, rogue_identity] = certificates(&rogue_dir);
    [ca, server_key, identity, rogue_identity]
}

#[test]
fn tls_client_certificates_and_basic_auth_guard_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, server_key, identity, rogue_identity] = two_cas(dir.path());
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let web = web_config(dir.path(), &format!("  alice: {hash}\n"), "");
    let (_repo, config) = crate::git_source::build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    let web_arg = web.to_str().unwrap().to_string();
    let daemon = Daemon::run(&config, &storage, &["--web.config.file", &web_arg]);
    let addr = daemon.addr.clone();
    assert!(
        daemon.logs().contains("tls=true basic_auth=true"),
        "{}",
        daemon.logs()
    );

    let good = client(&ca, Some(&identity), false);
    wait_until(
        "the daemon to be ready over TLS",
        Duration::from_secs(120),
        || {
            get(&good, &addr, "/-/ready", Some(("alice", PASSWORD)))
                .is_ok_and(|r| r.status() == 200)
        },
    );
    let metrics = get(&good, &addr, "/metrics", Some(("alice", PASSWORD))).unwrap();
    assert_eq!(metrics.status(), 200);
    assert_eq!(metrics.headers()["x-frame-options"], "deny");
    assert!(metrics
        .text()
        .unwrap()
        .contains("mlsteward_collector_success{collector=\"git\",source=\"fixture\"} 1"));

    // Wrong password, unknown user, no credentials: 401 with a challenge, on every endpoint.
    for (path, user) in [
        ("/metrics", Some(("alice", "wrong"))),
        ("/metrics", Some(("mallory", PASSWORD))),
        ("/metrics", None),
        ("/", None),
        ("/-/healthy", None),
    ] {
        let r = get(&good, &addr, path, user).unwrap();
        assert_eq!(r.status(), 401, "{path} {user:?}");
        assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"mlsteward\"");
        assert_eq!(r.headers()["x-frame-options"], "deny");
    }
    let reload = good
        .post(format!("https://{addr}/-/reload"))
        .send()
        .unwrap();
    assert_eq!(reload.status(), 401, "reload is guarded too");

    // No client certificate, or one from another CA: the handshake fails.
    let no_cert = client(&ca, None, false);
    assert!(get(&no_cert, &addr, "/metrics", Some(("alice", PASSWORD))).is_err());
    let rogue = client(&ca, Some(&rogue_identity), false);
    assert!(get(&rogue, &addr, "/metrics", Some(("alice", PASSWORD))).is_err());

    // Plain HTTP to the TLS port: a plain 400 that says why.
    let plain = http_get(&addr, "/metrics", &[]).unwrap();
    assert_eq!(plain.status, 400);
    assert!(
        plain.text().contains("HTTP request to an HTTPS server"),
        "{}",
        plain.text()
    );

    // A reload re-reads the web config: Alice's password is replaced by Bob's.
    let bob_hash = bcrypt::hash("bobs password", 4).unwrap();
    web_config(dir.path(), &format!("  bob: {bob_hash}\n"), "");
    let reloaded = good
        .post(format!("https://{addr}/-/reload"))
        .basic_auth("alice", Some(PASSWORD))
        .send()
        .unwrap();
    assert_eq!(reloaded.status(), 200, "{:?}", reloaded.text());
    assert_eq!(
        get(&good, &addr, "/metrics", Some(("alice", PASSWORD)))
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        get(&good, &addr, "/metrics", Some(("bob", "bobs password")))
            .unwrap()
            .status(),
        200
    );

    // Neither passwords nor the key reach the log.
    let logs = daemon.logs();
    let key_line = std::fs::read_to_string(&server_key)
        .unwrap()
        .lines()
        .find(|l| !l.starts_with("-----"))
        .unwrap()
        .to_string();
    for secret in [
        PASSWORD,
        "bobs password",
        "wrong",
        key_line.as_str(),
        hash.as_str(),
    ] {
        assert!(!logs.contains(secret), "the log shows `{secret}`:\n{logs}");
    }
}

/// Every `client_auth_type` exporter-toolkit knows, and `client_allowed_sans`, with a real TLS
/// client presenting no certificate, one from the configured CA and one from another CA (both
/// certificates carry the same SANs). Each web config is applied by a reload.
#[test]
fn every_client_auth_type_and_allowed_sans_decide_who_connects() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, _, identity, rogue_identity] = two_cas(dir.path());
    let web = dir.path().join("web.yml");
    let write = |tls: &str| {
        std::fs::write(
            &web,
            format!("tls_server_config:\n  cert_file: certs/server.pem\n  key_file: certs/server.key\n{tls}"),
        )
        .unwrap()
    };
    write("  client_auth_type: RequireAnyClientCert\n");
    let (_repo, config) = crate::git_source::build_fixture(dir.path(), "");
    let storage = dir.path().join("data/db.sqlite");
    let web_arg = web.to_str().unwrap().to_string();
    let clients = [
        ("no certificate", client(&ca, None, false)),
        ("our CA", client(&ca, Some(&identity), false)),
        ("another CA", client(&ca, Some(&rogue_identity), false)),
    ];
    let admitted = |daemon: &Daemon| -> Vec<&str> {
        clients
            .iter()
            .filter(|(_, c)| {
                get(c, &daemon.addr, "/-/healthy", None).is_ok_and(|r| r.status() == 200)
            })
            .map(|(name, _)| *name)
            .collect()
    };
    let start = || {
        let daemon = Daemon::run(&config, &storage, &["--web.config.file", &web_arg]);
        wait_until(
            "the daemon to listen over TLS",
            Duration::from_secs(120),
            || daemon.logs().contains("mlsteward listening"),
        );
        daemon
    };
    // Reloads by SIGHUP: the policy in force may admit no client that could ask. Returns
    // whether the reload was taken.
    let apply = |daemon: &Daemon, tls: &str| -> bool {
        write(tls);
        let logs = daemon.logs();
        let (ok, failed) = (
            logs.matches("configuration reloaded").count(),
            logs.matches("reloading the configuration failed").count(),
        );
        crate::cli::signal(daemon, "HUP");
        wait_until("the reload", Duration::from_secs(30), || {
            let logs = daemon.logs();
            logs.matches("configuration reloaded").count() > ok
                || logs.matches("reloading the configuration failed").count() > failed
        });
        daemon.logs().matches("configuration reloaded").count() > ok
    };
    let daemon = start();
    assert_eq!(
        admitted(&daemon),
        ["our CA", "another CA"],
        "RequireAnyClientCert"
    );
    assert!(apply(&daemon, "  client_auth_type: RequestClientCert\n"));
    assert_eq!(
        admitted(&daemon),
        ["no certificate", "our CA", "another CA"],
        "RequestClientCert"
    );
    assert!(apply(
        &daemon,
        "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: certs/ca.pem\n"
    ));
    assert_eq!(
        admitted(&daemon),
        ["no certificate", "our CA"],
        "VerifyClientCertIfGiven"
    );
    assert!(apply(
        &daemon,
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.pem\n"
    ));
    assert_eq!(admitted(&daemon), ["our CA"], "RequireAndVerifyClientCert");
    // SANs: an exact match of a DNS name, an email address, a URI or an IP address.
    for san in [
        "scraper.example",
        "prometheus@example.com",
        "spiffe://example/prometheus",
        "10.0.0.7",
        "2001:db8::7",
    ] {
        assert!(apply(&daemon, &format!("  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.pem\n  client_allowed_sans: [other.example, \"{san}\"]\n")));
        assert_eq!(admitted(&daemon), ["our CA"], "allowed SAN {san}");
    }
    // A reload never stops verifying client certificates: that takes a restart.
    let weaker =
        "  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [scraper.example]\n";
    assert!(
        !apply(&daemon, weaker),
        "verification switched off by a reload"
    );
    assert!(daemon
        .logs()
        .contains("would switch off required client certificates"));
    assert_eq!(admitted(&daemon), ["our CA"], "the policy in force stays");
    drop(daemon);
    // A listed SAN is needed even where the type lets a client without a certificate in.
    let daemon = start();
    assert_eq!(
        admitted(&daemon),
        ["our CA", "another CA"],
        "any certificate with the SAN"
    );
    assert!(apply(&daemon, "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: certs/ca.pem\n  client_allowed_sans: [scraper.example]\n"));
    assert_eq!(
        admitted(&daemon),
        ["our CA"],
        "VerifyClientCertIfGiven with SANs"
    );
    // No exact match (a suffix or a wildcard is not one): nobody.
    assert!(apply(&daemon, "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: certs/ca.pem\n  client_allowed_sans: [other.example, example, \"*.example\", 10.0.0.8]\n"));
    assert!(admitted(&daemon).is_empty(), "{:?}", admitted(&daemon));
}

#[test]
fn a_minimum_tls_version_refuses_older_clients() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let [ca, _, _, identity] = certificates(&certs);
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let web = web_config(
        dir.path(),
        &format!("  alice: {hash}\n"),
        "  min_version: TLS13\n",
    );
    let (_repo, config) = crate::git_source::build_fixture(dir.path(), "");
    let web_arg = web.to_str().unwrap().to_string();
    let daemon = Daemon::run(
        &config,
        &dir.path().join("db.sqlite"),
        &["--web.config.file", &web_arg],
    );
    let modern = client(&ca, Some(&identity), false);
    wait_until(
        "the daemon to answer over TLS 1.3",
        Duration::from_secs(60),
        || {
            get(
                &modern,
                &daemon.addr,
                "/-/healthy",
                Some(("alice", PASSWORD)),
            )
            .is_ok_and(|r| r.status() == 200)
        },
    );
    let old = client(&ca, Some(&identity), true);
    assert!(get(&old, &daemon.addr, "/-/healthy", Some(("alice", PASSWORD))).is_err());
}

#[test]
fn bad_web_configs_name_every_problem_with_its_position_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    certificates(&certs);
    let config = repo_root().join("config/example.yaml");
    let cases: &[(&str, &[&str])] = &[
        (
            "tls_server_config:\n  cert_file: certs/server.pem\nbasic_auth_users:\n  alice: hunter2\n  bo:b: x\n",
            &[
                "web.yml:2:3: tls_server_config: missing required key `key_file`",
                "web.yml:4:10: basic_auth_users.alice: not a bcrypt hash",
                "web.yml:5:9: basic_auth_users.bo:b: a basic-auth user name cannot contain `:`",
            ],
        ),
        (
            "tls_server_config:\n  cert_file: certs/server.pem\n  key_file: certs/nothere.key\n  client_auth_type: RequireAnyClientCert\n  client_ca_file: certs/ca.pem\n",
            &[
                "web.yml:3:13: tls_server_config.key_file: ",
                "nothere.key: no usable private key: cannot read it",
                "web.yml:5:19: tls_server_config.client_ca_file: set, but RequireAnyClientCert does not check client certificates against it",
            ],
        ),
        (
            "tls_server_config:\n  cert_file: certs/server.pem\n  key_file: certs/server.key\n  client_allowed_sans: [scraper.example]\n",
            &["web.yml:4:24: tls_server_config.client_allowed_sans: set, but client_auth_type is NoClientCert"],
        ),
        (
            "tls_server_config:\n  cert_file: certs/server.pem\n  key_file: certs/server.key\n  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: []\n",
            &["web.yml:5:24: tls_server_config.client_allowed_sans: empty: no client could connect"],
        ),
        (
            "tls_server_config:\n  cert_file: certs/ca.key\n  key_file: certs/server.key\n  min_version: TLS10\n  client_auth_type: RequireAndVerifyClientCert\nhttp_server_config:\n  headers:\n    Content-Type: text/html\ntls_config: {}\n",
            &[
                "web.yml:2:14: tls_server_config.cert_file: ",
                "ca.key: no PEM certificate in it",
                "web.yml:4:16: tls_server_config.min_version: TLS10 is not offered",
                "tls_server_config.client_auth_type: RequireAndVerifyClientCert needs client_ca_file",
                "web.yml:8:19: http_server_config.headers.Content-Type: cannot be set",
                "web.yml:9:1: tls_config: unknown key; known keys: tls_server_config, http_server_config, basic_auth_users",
            ],
        ),
    ];
    for (text, expected) in cases {
        let web = dir.path().join("web.yml");
        std::fs::write(&web, text).unwrap();
        for command in ["run", "check-config"] {
            let out = mlsteward(&[
                command,
                "--config.file",
                config.to_str().unwrap(),
                "--web.config.file",
                web.to_str().unwrap(),
                "--web.listen-address",
                "127.0.0.1:0",
            ]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command} {text}\n{stderr}");
            for line in *expected {
                assert!(
                    stderr.contains(line),
                    "{command}: expected `{line}` in:\n{stderr}"
                );
            }
            assert!(
                !stderr.contains("hunter2"),
                "a pasted password is never echoed:\n{stderr}"
            );
        }
    }
}

/// `--shard.peer-ca-file`, `--shard.peer-cert-file` and `--shard.peer-basic-auth-file`: two
/// replicas behind TLS with required client certificates and basic auth read each other's
/// people summaries; a replica given the wrong password cannot, says so, and logs no secret.
#[test]
fn sharded_replicas_reach_peers_behind_tls_client_certificates_and_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, _, identity, _] = two_cas(dir.path());
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let web = web_config(dir.path(), &format!("  alice: {hash}\n"), "");
    let (_repo, config) = crate::git_source::build_fixture(dir.path(), "");
    let good_auth = dir.path().join("peer-auth");
    std::fs::write(&good_auth, format!("alice:{PASSWORD}\n")).unwrap();
    let bad_auth = dir.path().join("peer-auth-bad");
    std::fs::write(&bad_auth, "alice:not the password\n").unwrap();
    let ports = [free_port(), free_port()];
    let peers = format!(
        "https://127.0.0.1:{},https://127.0.0.1:{}",
        ports[0], ports[1]
    );
    let start = |k: usize, auth: &Path| {
        Daemon::run_at(
            &config,
            &format!("127.0.0.1:{}", ports[k]),
            &dir.path().join(format!("shard{k}/db.sqlite")),
            &[
                "--web.config.file",
                web.to_str().unwrap(),
                "--shard",
                &format!("{k}/2"),
                "--shard.peers",
                &peers,
                "--shard.peer-interval",
                "1s",
                "--shard.peer-ca-file",
                ca.to_str().unwrap(),
                "--shard.peer-cert-file",
                identity.to_str().unwrap(),
                "--shard.peer-basic-auth-file",
                auth.to_str().unwrap(),
            ],
        )
    };
    let replicas = [start(0, &good_auth), start(1, &bad_auth)];
    let scraper = client(&ca, Some(&identity), false);
    let peer_up = |k: usize, peer: usize| {
        get(
            &scraper,
            &replicas[k].addr,
            "/metrics",
            Some(("alice", PASSWORD)),
        )
        .ok()
        .and_then(|r| r.text().ok())
        .and_then(|t| {
            sample(
                &t,
                &format!("mlsteward_shard_peer_up{{peer_shard=\"{peer}\"}}"),
            )
        })
    };
    wait_until(
        "shard 0 to read shard 1's summary over TLS with basic auth",
        Duration::from_secs(120),
        || peer_up(0, 1) == Some(1.0),
    );
    // Shard 1's password is wrong: shard 0 refuses it, and shard 1 reports the peer down.
    wait_until(
        "shard 1 to have tried shard 0",
        Duration::from_secs(60),
        || peer_up(1, 0).is_some(),
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(peer_up(1, 0), Some(0.0));
    let logs = replicas[1].logs();
    assert!(logs.contains("shard peer does not answer"), "{logs}");
    for replica in &replicas {
        let logs = replica.logs();
        assert!(
            !logs.contains(PASSWORD) && !logs.contains("not the password"),
            "{logs}"
        );
    }
}

/// A reload never switches protection off: an emptied web config, one without users, and one
/// without TLS are each refused (the settings in force stay, the reload metric says 0 and
/// the log says why); a reload that keeps both is taken.
#[test]
fn a_reload_never_switches_tls_or_authentication_off() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let [ca, _, _, identity] = certificates(&certs);
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let users = format!("  alice: {hash}\n");
    let web = web_config(dir.path(), &users, "");
    let full = std::fs::read_to_string(&web).unwrap();
    let (_repo, config) = crate::git_source::build_fixture(dir.path(), "");
    let daemon = Daemon::run(
        &config,
        &dir.path().join("db.sqlite"),
        &["--web.config.file", web.to_str().unwrap()],
    );
    let tls = client(&ca, Some(&identity), false);
    let alice = Some(("alice", PASSWORD));
    wait_until("the daemon over TLS", Duration::from_secs(60), || {
        get(&tls, &daemon.addr, "/-/healthy", alice).is_ok_and(|r| r.status() == 200)
    });
    let reload = || {
        tls.post(format!("https://{}/-/reload", daemon.addr))
            .basic_auth("alice", Some(PASSWORD))
            .send()
            .unwrap()
    };
    let without_tls = full
        .split("http_server_config:")
        .nth(1)
        .map(|rest| format!("http_server_config:{rest}"))
        .unwrap();
    for (what, text, why) in [
        ("emptied", String::new(), "empty"),
        (
            "no users",
            full.split("basic_auth_users:").next().unwrap().to_string(),
            "basic auth",
        ),
        ("no TLS", without_tls, "TLS"),
    ] {
        std::fs::write(&web, &text).unwrap();
        let r = reload();
        assert_eq!(r.status(), 500, "{what}");
        let body = r.text().unwrap();
        assert!(body.contains(why), "{what}: {body}");
        let m = get(&tls, &daemon.addr, "/metrics", alice)
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(
            sample(&m, "mlsteward_config_last_reload_successful"),
            Some(0.0),
            "{what}"
        );
        assert_eq!(
            get(&tls, &daemon.addr, "/metrics", None).unwrap().status(),
            401,
            "{what}: anonymous scrapes stay refused"
        );
        assert!(
            http_get(&daemon.addr, "/metrics", &[]).map_or(true, |r| r.status != 200),
            "{what}: plain HTTP stays refused"
        );
    }
    assert!(daemon.logs().contains("would switch off basic auth"));
    // Protection kept, a header added: taken.
    std::fs::write(
        &web,
        full.replace(
            "X-Frame-Options: deny",
            "X-Frame-Options: deny\n    X-Content-Type-Options: nosniff",
        ),
    )
    .unwrap();
    let r = reload();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let r = get(&tls, &daemon.addr, "/-/healthy", alice).unwrap();
    assert_eq!(
        r.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );
}
