//! Serde structs that mirror the YAML one-to-one (SPEC §2). Defaults are documented on each
//! field. No `Arc`, no parsed certificates, no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;

pub use super::raw_control::{Admin, Fleet, FleetTls};

/// The whole configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Listener addresses and process settings.
    pub listen: Listen,
    /// Downstream server identity and client-certificate handshake policy.
    #[serde(default)]
    pub tls: Option<Tls>,
    /// Where certificates referenced by ID come from.
    #[serde(default)]
    pub certificate_store: Option<CertificateStore>,
    /// Control-plane settings (only with `listen.admin`).
    #[serde(default)]
    pub admin: Option<Admin>,
    /// One control plane for many gateways, on Redis (SPEC §9).
    #[serde(default)]
    pub fleet: Option<Fleet>,
    /// Gateway-level security settings, applied to every API.
    #[serde(default)]
    pub security: Security,
    /// Static auth tokens.
    #[serde(default)]
    pub tokens: Vec<TokenConf>,
    /// The APIs.
    #[serde(default)]
    pub apis: Vec<ApiConf>,
    /// Event and access log formats.
    #[serde(default)]
    pub logging: LoggingConf,
    /// Reloading on file changes.
    #[serde(default)]
    pub reload: ReloadConf,
}

/// `reload:`
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadConf {
    /// Reload when the config file or a file it names changes (default false).
    #[serde(default)]
    pub watch: bool,
    /// Quiet time after the last change before reloading, in milliseconds (default 500).
    #[serde(default = "default_debounce_ms")]
    pub debounce_ms: u64,
}

impl Default for ReloadConf {
    fn default() -> Self {
        ReloadConf {
            watch: false,
            debounce_ms: default_debounce_ms(),
        }
    }
}

fn default_debounce_ms() -> u64 {
    500
}

/// `logging:`
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConf {
    /// Event lines on stderr (default `text`).
    #[serde(default)]
    pub format: LogFormat,
    /// One line per request on stdout (default `text`).
    #[serde(default)]
    pub access: AccessLog,
}

/// `logging.format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// `<time> <LEVEL> certgate event=… key=value …`.
    #[default]
    Text,
    /// One JSON object per line: `time`, `level`, `target`, `message`.
    Json,
}

/// `logging.access`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessLog {
    /// No access log.
    Off,
    /// `<time> api=… method=… path=… status=… …`.
    #[default]
    Text,
    /// One JSON object per request.
    Json,
}

/// `listen:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listen {
    /// TLS listener address (required unless `http` is set).
    #[serde(default)]
    pub https: Option<String>,
    /// Optional plaintext listener; mTLS APIs answer 403 there.
    #[serde(default)]
    pub http: Option<String>,
    /// Prometheus endpoint address (`GET /metrics`).
    #[serde(default)]
    pub metrics: Option<String>,
    /// Control-plane API address.
    #[serde(default)]
    pub admin: Option<String>,
    /// Worker threads; 0 = one per core.
    #[serde(default)]
    pub threads: usize,
    /// SIGTERM drain time in seconds (default 10).
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
    /// The whole request head must arrive within this many milliseconds (default 10000).
    #[serde(default)]
    pub header_timeout_ms: Option<u64>,
    /// Longest wait for the next read of a request body or write of a response (default 30000).
    #[serde(default)]
    pub body_timeout_ms: Option<u64>,
    /// Idle keep-alive connections close after this many milliseconds (default 60000).
    #[serde(default)]
    pub keepalive_timeout_ms: Option<u64>,
    /// Largest request head in bytes, request line and headers (default 65536).
    #[serde(default)]
    pub max_request_header_bytes: Option<usize>,
    /// A TLS-terminating load balancer whose forwarded client certificates count (SPEC §12).
    #[serde(default)]
    pub trusted_ingress: Option<TrustedIngressConf>,
}

/// `listen.trusted_ingress:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustedIngressConf {
    /// TCP peer addresses or CIDRs whose certificate headers are believed.
    pub from: Vec<String>,
    /// How the certificate is written in `header`.
    pub format: ForwardedFormat,
    /// The header carrying the client's leaf (default per format).
    #[serde(default)]
    pub header: Option<String>,
    /// The header carrying the intermediates the client sent (default `Client-Cert-Chain`
    /// for `rfc9440`, none otherwise).
    #[serde(default)]
    pub chain_header: Option<String>,
}

/// `listen.trusted_ingress.format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardedFormat {
    /// RFC 9440: `:<base64 DER>:`; the chain a comma-separated list of those.
    Rfc9440,
    /// URL-encoded PEM (AWS ALB `X-Amzn-Mtls-Clientcert`): the leaf first, then its chain.
    PemUrlencoded,
    /// Envoy's `x-forwarded-client-cert`: the last element's `Cert` (and `Chain`).
    Xfcc,
}

/// One entry of `apis[].forward_client_cert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForwardField {
    /// `X-Client-Cert-Sha256`: the leaf's ID, hex.
    Sha256,
    /// RFC 9440 `Client-Cert`: the leaf.
    Cert,
    /// RFC 9440 `Client-Cert-Chain`: the intermediates the client sent.
    Chain,
}

/// `tls:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Default server certificate chain (leaf first), a path.
    pub certificate: String,
    /// Its private key, a path.
    pub key: String,
    /// A second chain and key of another key type (RSA next to ECDSA, or the reverse).
    #[serde(default)]
    pub alternate: Option<AlternateIdentity>,
    /// Per-SNI identities.
    #[serde(default)]
    pub sni: Vec<SniIdentity>,
    /// Handshake policy for client certificates (default `request`).
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Key-exchange groups in preference order (OpenSSL names, e.g. `X25519MLKEM768`,
    /// `X25519`, `P-256`); unset = OpenSSL's default, post-quantum hybrid first.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// TLS 1.3 cipher suites in the server's preference order (OpenSSL names, e.g.
    /// `TLS_AES_128_GCM_SHA256`); unset = [`crate::snapshot::handshake::DEFAULT_CIPHERSUITES`].
    #[serde(default)]
    pub ciphersuites: Option<Vec<String>>,
}

/// One entry of `tls.sni`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SniIdentity {
    /// Exact names or one-label wildcards (`*.example.org`).
    pub hosts: Vec<String>,
    /// Certificate chain path.
    pub certificate: String,
    /// Private key path.
    pub key: String,
    /// A second chain and key of another key type for these hosts.
    #[serde(default)]
    pub alternate: Option<AlternateIdentity>,
}

/// `alternate:` of `tls` or of a `tls.sni` entry: a second certificate chain and key with
/// another key type. OpenSSL presents, per handshake, the one the client's signature
/// algorithms allow, ECDSA first (the cheaper signature) when the client accepts both.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlternateIdentity {
    /// Certificate chain path (leaf first).
    pub certificate: String,
    /// Private key path.
    pub key: String,
}

/// `tls.client_auth`: what the handshake asks of clients. The per-API decision always
/// happens per request, whatever this says.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// Ask for a certificate, accept any (or none); decide per request.
    #[default]
    Request,
    /// Ask for a certificate and end handshakes that present none.
    Require,
    /// Do not ask for a certificate.
    None,
}

/// `certificate_store:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateStore {
    /// Directory of `*.pem` / `*.crt` files.
    pub dir: String,
}

/// `security:`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// Upstream domain → certificate reference (must hold a key).
    #[serde(default)]
    pub upstream_certificates: BTreeMap<String, String>,
    /// Upstream domain → pin references.
    #[serde(default)]
    pub pinned_public_keys: BTreeMap<String, StringList>,
    /// `system`, a PEM bundle path, or a list of both (default `system`).
    #[serde(default)]
    pub upstream_ca: Option<StringList>,
    /// Turn off upstream verification for every API (logged loudly).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Appended to the allow list of every mTLS API.
    #[serde(default)]
    pub client_certificates: Vec<String>,
    /// Revocation of client certificates (SPEC §10).
    #[serde(default)]
    pub revocation: Revocation,
}

/// `security.revocation:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// CRL files and directories (PEM or DER).
    #[serde(default)]
    pub crls: Vec<String>,
    /// What a CRL past its nextUpdate means (default `refuse`).
    #[serde(default)]
    pub stale_crl: StaleCrl,
    /// OCSP for the leaf (default `off`).
    #[serde(default)]
    pub ocsp: OcspMode,
    /// How long an OCSP responder may take (default 1500 ms).
    #[serde(default = "default_ocsp_timeout_ms")]
    pub ocsp_timeout_ms: u64,
    /// Longest time an OCSP answer is kept (default 300 s; never past its nextUpdate).
    #[serde(default = "default_ocsp_cache_seconds")]
    pub ocsp_cache_seconds: u64,
}

impl Default for Revocation {
    fn default() -> Self {
        Revocation {
            crls: Vec::new(),
            stale_crl: StaleCrl::default(),
            ocsp: OcspMode::default(),
            ocsp_timeout_ms: default_ocsp_timeout_ms(),
            ocsp_cache_seconds: default_ocsp_cache_seconds(),
        }
    }
}

fn default_ocsp_timeout_ms() -> u64 {
    1500
}

fn default_ocsp_cache_seconds() -> u64 {
    300
}

/// `security.revocation.stale_crl`
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StaleCrl {
    /// A certificate whose issuer's CRL is past nextUpdate is refused (`revocation_unknown`).
    #[default]
    Refuse,
    /// The stale CRL is still used (its revoked entries still refuse).
    Allow,
}

/// `security.revocation.ocsp` and `apis[].auth.revocation.ocsp`. YAML 1.1 readers take a
/// bare `off` for `false`, so `false` is accepted as `off` too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OcspMode {
    /// No OCSP.
    #[default]
    Off,
    /// Ask the leaf's responder; soft-fail on errors.
    Leaf,
    /// Ask the leaf's responder; refuse when no good answer comes.
    LeafStrict,
}

impl<'de> Deserialize<'de> for OcspMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Word(String),
        }
        match Raw::deserialize(d)? {
            Raw::Flag(false) => Ok(OcspMode::Off),
            Raw::Word(w) => match w.as_str() {
                "off" => Ok(OcspMode::Off),
                "leaf" => Ok(OcspMode::Leaf),
                "leaf_strict" => Ok(OcspMode::LeafStrict),
                other => Err(serde::de::Error::custom(format!(
                    "unknown variant `{other}`, expected one of `off`, `leaf`, `leaf_strict`"
                ))),
            },
            Raw::Flag(true) => Err(serde::de::Error::custom("expected one of `off`, `leaf`, `leaf_strict`")),
        }
    }
}

/// `apis[].auth.revocation:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiRevocation {
    /// Overrides `security.revocation.ocsp` for this API.
    pub ocsp: OcspMode,
}

/// One entry of `tokens:`. Its `Debug` never prints the plaintext token.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConf {
    /// The plaintext token (only its hash is kept after compiling).
    #[serde(default)]
    pub token: Option<String>,
    /// The token's SHA-256, hex.
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// API names this token may call.
    #[serde(default)]
    pub apis: Vec<String>,
    /// Certificate references this token is bound to.
    #[serde(default)]
    pub bound_certificates: Vec<String>,
    /// Makes this record the credential of that certificate (`auth.type: certificate`).
    #[serde(default)]
    pub certificate: Option<String>,
    /// RFC 3339 expiry.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// One entry of `apis:`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConf {
    /// Unique name, used in metrics and logs.
    pub name: String,
    /// Host match (exact or one-label wildcard); empty = any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Path prefix; the longest matching prefix wins.
    pub listen_path: String,
    /// Remove `listen_path` before proxying (default false).
    #[serde(default)]
    pub strip_listen_path: bool,
    /// Who may call.
    #[serde(default)]
    pub auth: AuthConf,
    /// Where to send the request.
    pub upstream: UpstreamConf,
    /// What the upstream is told of the client's certificate (default `[sha256]`).
    #[serde(default)]
    pub forward_client_cert: Option<Vec<ForwardField>>,
}

/// `apis[].auth:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConf {
    /// Credential type (default `none`).
    #[serde(default, rename = "type")]
    pub kind: AuthType,
    /// Enforce the client-certificate allow list per request (default false).
    #[serde(default)]
    pub mutual_tls: bool,
    /// Allow list: leaf certificate references and/or issuing CA references.
    #[serde(default)]
    pub client_certificates: Vec<String>,
    /// Header carrying the token or JWT (default `Authorization`).
    #[serde(default = "default_token_header")]
    pub token_header: String,
    /// JWT settings (with `type: jwt`).
    #[serde(default)]
    pub jwt: Option<JwtConf>,
    /// Per-API revocation settings (SPEC §10).
    #[serde(default)]
    pub revocation: Option<ApiRevocation>,
}

/// `apis[].auth.type`
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    /// No credential.
    #[default]
    None,
    /// A static or issued auth token.
    Token,
    /// A signed JWT.
    Jwt,
    /// The client certificate itself, through a token record naming it.
    Certificate,
}

/// `apis[].auth.jwt:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConf {
    /// Accepted `alg` values.
    pub algorithms: Vec<String>,
    /// Public key (or certificate) PEM path.
    #[serde(default)]
    pub public_key: Option<String>,
    /// HMAC secret (HS* only).
    #[serde(default)]
    pub secret: Option<String>,
    /// JWKS JSON file path.
    #[serde(default)]
    pub jwks_file: Option<String>,
    /// Required `iss`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Required `aud` (one of these values).
    #[serde(default)]
    pub audience: Option<StringList>,
    /// RFC 8705: demand a `cnf."x5t#S256"` claim.
    #[serde(default)]
    pub require_cnf: bool,
    /// Clock skew allowed on `exp` / `nbf`, seconds (default 30).
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

/// `apis[].upstream:`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConf {
    /// Single target URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Round-robin target URLs.
    #[serde(default)]
    pub targets: Vec<String>,
    /// API-level upstream domain → certificate reference.
    #[serde(default)]
    pub certificates: BTreeMap<String, String>,
    /// API-level upstream domain → pin references.
    #[serde(default)]
    pub pinned_public_keys: BTreeMap<String, StringList>,
    /// Extra PEM bundle trusted for this API's upstreams.
    #[serde(default)]
    pub ca: Option<String>,
    /// Turn off upstream verification for this API (logged loudly).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// SNI and verification name (default: the target host).
    #[serde(default)]
    pub sni: Option<String>,
    /// Dial this address for every target, keeping the target host for SNI and maps.
    #[serde(default)]
    pub connect_to: Option<String>,
    /// TCP + TLS connect timeout (default 2000).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Read timeout (default 30000).
    #[serde(default = "default_read_timeout")]
    pub read_timeout_ms: u64,
    /// The protocol spoken to the targets (SPEC §11).
    #[serde(default)]
    pub protocol: UpstreamProtocol,
    /// Most concurrent requests on one upstream HTTP/2 connection (default 100).
    #[serde(default = "default_h2_max_streams")]
    pub h2_max_streams: usize,
}

/// `apis[].upstream.protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (the default).
    #[default]
    Http1,
    /// HTTP/2 over TLS (ALPN `h2` only).
    H2,
    /// HTTP/2 in the clear, prior knowledge.
    H2c,
    /// ALPN `h2`, else `http/1.1` (TLS targets).
    Auto,
}

/// A list written either as a YAML sequence or as one comma-separated string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StringList(pub Vec<String>);

// === impl AuthConf ===

impl Default for AuthConf {
    fn default() -> Self {
        AuthConf {
            kind: AuthType::None,
            mutual_tls: false,
            client_certificates: Vec::new(),
            token_header: default_token_header(),
            jwt: None,
            revocation: None,
        }
    }
}

// === impl TokenConf ===

impl std::fmt::Debug for TokenConf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConf")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_sha256", &self.token_sha256)
            .field("apis", &self.apis)
            .field("bound_certificates", &self.bound_certificates)
            .field("certificate", &self.certificate)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

// === impl StringList ===

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Many(Vec<String>),
        }
        let items = match Form::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a string, a comma-separated string or a list of strings"))?
        {
            Form::One(s) => s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
            Form::Many(v) => v
                .iter()
                .flat_map(|s| s.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        };
        Ok(StringList(items))
    }
}

fn default_grace() -> u64 {
    10
}

fn default_token_header() -> String {
    "Authorization".into()
}

fn default_leeway() -> u64 {
    30
}

fn default_connect_timeout() -> u64 {
    2000
}

fn default_read_timeout() -> u64 {
    30000
}

fn default_h2_max_streams() -> usize {
    100
}
