//! `--web.config.file`: TLS, client certificates, basic auth and response headers, in the
//! exporter-toolkit format that node_exporter and Prometheus read
//! (<https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md>).
//! Only this module knows TLS and passwords; the server asks it for an acceptor and whether a
//! request's credentials pass.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::{self, Problem, Section};

const KEYS: &[&str] = &[
    "tls_server_config",
    "http_server_config",
    "basic_auth_users",
];
const TLS_KEYS: &[&str] = &[
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
];
const HTTP_KEYS: &[&str] = &["http2", "headers"];
/// The response headers exporter-toolkit lets a web config set.
const SETTABLE_HEADERS: &[&str] = &[
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];
const CLIENT_AUTH_TYPES: &[&str] = &[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
];
const TLS_VERSIONS: &[&str] = &["TLS10", "TLS11", "TLS12", "TLS13"];

/// A bcrypt hash (cost 10, exporter-toolkit's) of a random password nobody has, checked for
/// unknown users so that an unknown user takes as long to refuse as a wrong password (no user
/// enumeration by timing).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        let random: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(32)
            .collect();
        bcrypt::hash(random, 10).unwrap_or_default()
    })
}

/// How many verified (user, password) pairs are remembered, so a scrape every few seconds does
/// not pay bcrypt's deliberate cost each time.
const AUTH_CACHE: usize = 1024;

/// The web configuration in force. The default serves plain HTTP with no authentication.
#[derive(Default)]
pub struct WebConfig {
    tls: Option<Arc<rustls::ServerConfig>>,
    /// `client_auth_type` when TLS is on.
    client_auth: Option<String>,
    /// User → bcrypt hash.
    users: BTreeMap<String, String>,
    headers: Vec<(HeaderName, HeaderValue)>,
    /// SHA-256 of user, password and hash of pairs that verified.
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl WebConfig {
    /// Reads and checks `file`: every problem with its position; certificates and keys are
    /// loaded now, so a bad one is refused at start (or by a reload) and never at a handshake.
    pub fn load(file: &Path) -> Result<WebConfig, Vec<Problem>> {
        config::load_document(file, KEYS, decode)
    }

    /// Reads `file` again for a reload: as [`WebConfig::load`], except that an empty file is
    /// an error (a file truncated by accident must not read as "no security").
    pub fn reload(file: &Path) -> Result<WebConfig, Vec<Problem>> {
        let empty = std::fs::read_to_string(file).is_ok_and(|t| {
            t.lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        });
        if empty {
            return Err(vec![Problem {
                file: file.to_path_buf(),
                pos: Default::default(),
                path: String::new(),
                message: "the web config file is empty; a reload keeps the one in force (to serve without TLS and authentication, restart without --web.config.file)".into(),
                more: 0,
            }]);
        }
        Self::load(file)
    }

    /// Refuses a reload to `new` that would switch off a protection this configuration gives:
    /// TLS, basic auth, or verified client certificates. Such a change takes a restart (as
    /// with exporter-toolkit, whose TLS and authentication are set when the server starts).
    pub fn check_reload(&self, new: &WebConfig) -> Result<(), String> {
        let mut lost = Vec::new();
        if self.tls.is_some() && new.tls.is_none() {
            lost.push("TLS");
        }
        if self.requires_auth() && !new.requires_auth() {
            lost.push("basic auth");
        }
        let verified =
            |w: &WebConfig| w.client_auth.as_deref() == Some("RequireAndVerifyClientCert");
        if verified(self) && !verified(new) && new.tls.is_some() {
            lost.push("required client certificates");
        }
        if lost.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the web config would switch off {}; the one in force stays (switching protection off takes a restart)",
                lost.join(" and ")
            ))
        }
    }

    pub fn tls(&self) -> Option<tokio_rustls::TlsAcceptor> {
        self.tls.clone().map(tokio_rustls::TlsAcceptor::from)
    }

    pub fn requires_auth(&self) -> bool {
        !self.users.is_empty()
    }

    /// The headers every response carries.
    pub fn headers(&self) -> &[(HeaderName, HeaderValue)] {
        &self.headers
    }

    /// Whether the request's basic-auth credentials name a configured user and their
    /// password. bcrypt runs on a blocking thread; its comparison is constant-time, and an
    /// unknown user is checked against a dummy hash so that it costs the same.
    pub async fn authorised(self: &Arc<Self>, headers: &HeaderMap) -> bool {
        if !self.requires_auth() {
            return true;
        }
        let Some((user, password)) = basic_credentials(headers) else {
            return false;
        };
        let known = self.users.get(&user).cloned();
        let hash = match &known {
            Some(h) => h.clone(),
            None => tokio::task::spawn_blocking(|| dummy_hash().to_string())
                .await
                .unwrap_or_default(),
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(user.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .chain_update([0])
            .chain_update(hash.as_bytes())
            .finalize()
            .into();
        if known.is_some() && crate::locked(&self.verified).contains(&key) {
            return true;
        }
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false)
            && known.is_some();
        if ok {
            let mut verified = crate::locked(&self.verified);
            if verified.len() >= AUTH_CACHE {
                verified.clear();
            }
            verified.insert(key);
        }
        ok
    }
}

/// `Authorization: Basic base64(user:password)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Standard base64 with padding (RFC 4648 §4), as basic auth uses.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

fn decode(s: &mut Section) -> Option<WebConfig> {
    let tls = if s.has("tls_server_config") {
        s.nested("tls_server_config", TLS_KEYS, decode_tls)
            .map(Some)
    } else {
        Some(None)
    };
    let (tls, client_auth) = match tls {
        Some(Some((tls, client_auth))) => (Some(Some(tls)), Some(client_auth)),
        Some(None) => (Some(None), None),
        None => (None, None),
    };
    let headers = if s.has("http_server_config") {
        s.nested("http_server_config", HTTP_KEYS, decode_http)
    } else {
        Some(Vec::new())
    };
    let users = if s.has("basic_auth_users") {
        s.nested("basic_auth_users", &[], decode_users)
    } else {
        Some(BTreeMap::new())
    };
    Some(WebConfig {
        tls: tls?,
        client_auth,
        users: users?,
        headers: headers?,
        verified: Mutex::default(),
    })
}

/// `user: bcrypt hash` pairs; each problem points at its user.
fn decode_users(s: &mut Section) -> Option<BTreeMap<String, String>> {
    let mut users = BTreeMap::new();
    let mut ok = true;
    for user in s.keys() {
        let Some(hash) = s.string(&user) else {
            ok = false;
            continue;
        };
        if user.contains(':') {
            s.problem(&user, "a basic-auth user name cannot contain `:`");
            ok = false;
        } else if hash.parse::<bcrypt::HashParts>().is_err() {
            // Never echo the value: it may be a password pasted in by mistake.
            s.problem(
                &user,
                "not a bcrypt hash (make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)",
            );
            ok = false;
        } else {
            users.insert(user, hash);
        }
    }
    ok.then_some(users)
}

fn decode_http(s: &mut Section) -> Option<Vec<(HeaderName, HeaderValue)>> {
    if s.boolean("http2") == Some(true) {
        tracing::info!(
            "web config: http2 is not served; HTTP/1.1 is (Prometheus scrapes over HTTP/1.1)"
        );
    }
    if s.has("headers") {
        s.nested("headers", &[], decode_headers)
    } else {
        Some(Vec::new())
    }
}

fn decode_headers(s: &mut Section) -> Option<Vec<(HeaderName, HeaderValue)>> {
    let mut out = Vec::new();
    let mut ok = true;
    for name in s.keys() {
        let value = s.string(&name);
        let Some(known) = SETTABLE_HEADERS
            .iter()
            .find(|h| h.eq_ignore_ascii_case(&name))
        else {
            s.problem(
                &name,
                format!("cannot be set; settable: {}", SETTABLE_HEADERS.join(", ")),
            );
            ok = false;
            continue;
        };
        match value.as_deref().map(HeaderValue::from_str) {
            Some(Ok(v)) => out.push((
                HeaderName::from_bytes(known.as_bytes()).expect("a valid header name"),
                v,
            )),
            _ => {
                s.problem(&name, "invalid header value");
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

fn decode_tls(s: &mut Section) -> Option<(Arc<rustls::ServerConfig>, String)> {
    let base = s.base_dir();
    let cert_file = s.required_string("cert_file").map(|f| base.join(f));
    let key_file = s.required_string("key_file").map(|f| base.join(f));
    let client_auth = s
        .choice("client_auth_type", CLIENT_AUTH_TYPES)
        .unwrap_or_else(|| "NoClientCert".into());
    let client_ca = s.string("client_ca_file").map(|f| base.join(f));
    let version = |s: &mut Section,
                   key: &str|
     -> Option<Option<&'static rustls::SupportedProtocolVersion>> {
        match s.choice(key, TLS_VERSIONS).as_deref() {
            None => Some(None),
            Some("TLS12") => Some(Some(&rustls::version::TLS12)),
            Some("TLS13") => Some(Some(&rustls::version::TLS13)),
            Some(old) => {
                s.problem(
                    key,
                    format!("{old} is not offered (it is obsolete, RFC 8996); use TLS12 or TLS13"),
                );
                None
            }
        }
    };
    let min = version(s, "min_version");
    let max = version(s, "max_version");
    for tuning in [
        "cipher_suites",
        "curve_preferences",
        "prefer_server_cipher_suites",
    ] {
        if s.has(tuning) {
            tracing::warn!(
                key = tuning,
                "web config: ignored; rustls's modern defaults are used"
            );
        }
    }
    let allowed_sans = if s.has("client_allowed_sans") {
        match s.strings("client_allowed_sans") {
            Some(sans) if !sans.is_empty() => Some(sans),
            Some(_) => {
                s.problem("client_allowed_sans", "empty: no client could connect");
                None
            }
            None => None,
        }
    } else {
        None
    };
    let versions = match (min, max) {
        (Some(min), Some(max)) => {
            let rank = |v: &rustls::SupportedProtocolVersion| {
                u8::from(v.version == rustls::ProtocolVersion::TLSv1_3)
            };
            let in_range: Vec<&'static rustls::SupportedProtocolVersion> =
                [&rustls::version::TLS12, &rustls::version::TLS13]
                    .into_iter()
                    .filter(|v| min.is_none_or(|m| rank(v) >= rank(m)))
                    .filter(|v| max.is_none_or(|m| rank(v) <= rank(m)))
                    .collect();
            if in_range.is_empty() {
                s.problem("max_version", "below min_version: no TLS version is left");
                None
            } else {
                Some(in_range)
            }
        }
        _ => None,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = client_verifier(s, &client_auth, client_ca, allowed_sans, &provider);
    let certs = cert_file.and_then(|f| read_certs(s, "cert_file", &f));
    // The key's bytes never reach a message: only the file name and the parser's verdict.
    let key = key_file.and_then(|f| match PrivateKeyDer::from_pem_file(&f) {
        Ok(k) => Some(k),
        Err(e) => {
            s.problem(
                "key_file",
                format!("{}: no usable private key: {}", f.display(), pem_error(&e)),
            );
            None
        }
    });
    let (verifier, certs, key, versions) = (verifier?, certs?, key?, versions?);
    let built = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            b.with_client_cert_verifier(verifier)
                .with_single_cert(certs, key)
                .map_err(|e| e.to_string())
        });
    match built {
        Ok(mut config) => {
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some((Arc::new(config), client_auth))
        }
        Err(e) => {
            s.problem(
                "key_file",
                format!("the certificate and key do not make a TLS identity: {e}"),
            );
            None
        }
    }
}

/// The client-certificate check `client_auth_type` asks for, as Go's `tls.ClientAuthType`
/// defines it, and `client_allowed_sans` on top.
fn client_verifier(
    s: &mut Section,
    client_auth: &str,
    client_ca: Option<std::path::PathBuf>,
    allowed_sans: Option<Vec<String>>,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Option<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let verifies = matches!(
        client_auth,
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert"
    );
    if client_ca.is_some() && !verifies {
        s.problem(
            "client_ca_file",
            format!("set, but {client_auth} does not check client certificates against it; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"),
        );
        return None;
    }
    if client_auth == "NoClientCert" {
        if allowed_sans.is_some() {
            s.problem(
                "client_allowed_sans",
                "set, but client_auth_type is NoClientCert: no certificate is asked for",
            );
            return None;
        }
        return Some(rustls::server::WebPkiClientVerifier::no_client_auth());
    }
    if !verifies {
        tracing::warn!(
            client_auth_type = client_auth,
            "web config: client certificates are not checked against a CA; only RequireAndVerifyClientCert authenticates clients"
        );
    }
    let chain = if verifies {
        let Some(ca) = client_ca else {
            s.problem(
                "client_auth_type",
                format!("{client_auth} needs client_ca_file"),
            );
            return None;
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(s, "client_ca_file", &ca)? {
            if let Err(e) = roots.add(cert) {
                s.problem("client_ca_file", format!("{}: {e}", ca.display()));
                return None;
            }
        }
        // The chain check alone; whether a certificate is required is decided below.
        let built = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .allow_unauthenticated()
        .build();
        match built {
            Ok(v) => Some(v),
            Err(e) => {
                s.problem("client_ca_file", format!("{}: {e}", ca.display()));
                return None;
            }
        }
    } else {
        None
    };
    Some(Arc::new(ClientCerts {
        chain,
        // A listed SAN can only be found in a certificate: with `client_allowed_sans`, a
        // client without one is refused whatever the type (exporter-toolkit ends the
        // connection too).
        mandatory: matches!(
            client_auth,
            "RequireAnyClientCert" | "RequireAndVerifyClientCert"
        ) || allowed_sans.is_some(),
        allowed_sans: allowed_sans.unwrap_or_default(),
        algorithms: provider.signature_verification_algorithms,
    }))
}

/// Asks every client for a certificate; requires one when `mandatory`; checks its chain
/// against the client CA when `chain` is set (the `…Verify…` types), and that it names one of
/// `allowed_sans` when that is not empty. Whatever the type, the client must prove it holds
/// the certificate's key (the handshake signature is always verified).
#[derive(Debug)]
struct ClientCerts {
    chain: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    mandatory: bool,
    allowed_sans: Vec<String>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for ClientCerts {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.chain.as_ref().map_or(&[], |c| c.root_hint_subjects())
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        if let Some(chain) = &self.chain {
            chain.verify_client_cert(end_entity, intermediates, now)?;
        }
        if !self.allowed_sans.is_empty() {
            let sans = subject_alt_names(end_entity.as_ref()).ok_or(
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding),
            )?;
            if !sans.iter().any(|san| self.allowed_sans.contains(san)) {
                tracing::debug!(found = ?sans, "client certificate refused: no allowed SAN");
                return Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ));
            }
        }
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// One DER element at the start of `input`: its tag, its contents and what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |len, b| (len << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The subject alternative names of a DER certificate as exporter-toolkit compares them: DNS
/// names, email addresses and URIs as written, IP addresses in their usual text form. `None`
/// when the certificate cannot be read.
fn subject_alt_names(cert: &[u8]) -> Option<Vec<String>> {
    const SEQUENCE: u8 = 0x30;
    let (SEQUENCE, certificate, _) = der(cert)? else {
        return None;
    };
    let (SEQUENCE, mut tbs, _) = der(certificate)? else {
        return None;
    };
    // TBSCertificate's fields, up to the extensions: `[3] EXPLICIT Extensions`.
    while !tbs.is_empty() {
        let (tag, body, rest) = der(tbs)?;
        tbs = rest;
        if tag != 0xa3 {
            continue;
        }
        let (SEQUENCE, mut extensions, _) = der(body)? else {
            return None;
        };
        while !extensions.is_empty() {
            let (SEQUENCE, extension, rest) = der(extensions)? else {
                return None;
            };
            extensions = rest;
            let (0x06, oid, rest) = der(extension)? else {
                return None;
            };
            // id-ce-subjectAltName, 2.5.29.17.
            if oid != [0x55, 0x1d, 0x11] {
                continue;
            }
            let (mut tag, mut value, rest) = der(rest)?;
            if tag == 0x01 {
                // `critical BOOLEAN`, then the value.
                (tag, value, _) = der(rest)?;
            }
            let (0x04, SEQUENCE) = (tag, value.first().copied()?) else {
                return None;
            };
            let (_, mut names, _) = der(value)?;
            let mut out = Vec::new();
            while !names.is_empty() {
                let (tag, name, rest) = der(names)?;
                names = rest;
                match tag {
                    // rfc822Name [1], dNSName [2], uniformResourceIdentifier [6]: IA5String.
                    0x81 | 0x82 | 0x86 => out.push(String::from_utf8_lossy(name).into_owned()),
                    // iPAddress [7]: 4 or 16 octets.
                    0x87 => {
                        let ip = match name.len() {
                            4 => std::net::IpAddr::from(<[u8; 4]>::try_from(name).ok()?),
                            16 => std::net::IpAddr::from(<[u8; 16]>::try_from(name).ok()?),
                            _ => continue,
                        };
                        out.push(ip.to_string());
                    }
                    _ => {}
                }
            }
            return Some(out);
        }
    }
    Some(Vec::new())
}

fn read_certs(s: &mut Section, key: &str, file: &Path) -> Option<Vec<CertificateDer<'static>>> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(file).and_then(|i| i.collect());
    match certs {
        Ok(c) if !c.is_empty() => Some(c),
        Ok(_) => {
            s.problem(key, format!("{}: no PEM certificate in it", file.display()));
            None
        }
        Err(e) => {
            s.problem(key, format!("{}: {}", file.display(), pem_error(&e)));
            None
        }
    }
}

/// A PEM error without any of the file's content.
fn pem_error(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::Io(io) => format!("cannot read it: {io}"),
        Error::NoItemsFound => "no PEM section of that kind in it".into(),
        _ => "not valid PEM".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_basic_auth() {
        assert_eq!(base64_decode("YWxpY2U6c2VjcmV0").unwrap(), b"alice:secret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert!(base64_decode("YQ=").is_none());
        assert!(base64_decode("Y=Q=").is_none());
        assert!(base64_decode("****").is_none());
    }

    #[test]
    fn the_dummy_hash_is_a_cost_10_bcrypt_hash() {
        let parts = dummy_hash().parse::<bcrypt::HashParts>().unwrap();
        assert_eq!(parts.get_cost(), 10);
        assert!(!bcrypt::verify("", dummy_hash()).unwrap());
    }
}
