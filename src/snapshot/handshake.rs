//! The listener's TLS handshake preferences (`tls.groups`, `tls.ciphersuites`) and the
//! checks that a name given for them is one OpenSSL knows. Compile-time only.

/// The listener's handshake preferences, each joined with `:` for OpenSSL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandshakePrefs {
    /// Key-exchange groups; `None` = OpenSSL's default list (post-quantum hybrid first).
    pub groups: Option<Box<str>>,
    /// TLS 1.3 cipher suites, server preference; `None` = [`DEFAULT_CIPHERSUITES`].
    pub ciphersuites: Option<Box<str>>,
}

/// TLS 1.3 cipher suites when `tls.ciphersuites` is unset, in the server's preference order:
/// AES-128-GCM first, as BoringSSL and Go servers choose (SHA-256 is what the handshake's
/// key schedule then hashes with; it has CPU instructions where SHA-384 has none), a client
/// that lists ChaCha20 first still gets it (`PRIORITIZE_CHACHA`).
pub const DEFAULT_CIPHERSUITES: &str = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

/// Whether OpenSSL knows the TLS 1.3 cipher suite `name`.
pub fn ciphersuite_is_known(name: &str) -> bool {
    name.starts_with("TLS_")
        && !name.contains([':', '!', '+', '-', '@'])
        && fresh_context_accepts(|b| b.set_ciphersuites(name))
}

/// Whether OpenSSL knows the key-exchange group `name`.
pub fn group_is_known(name: &str) -> bool {
    !name.is_empty() && !name.contains([':', '?', '*', '/']) && fresh_context_accepts(|b| b.set_groups_list(name))
}

/// Whether `set` succeeds on a new TLS context: how OpenSSL says it knows a name.
fn fresh_context_accepts(
    set: impl FnOnce(&mut openssl::ssl::SslContextBuilder) -> Result<(), openssl::error::ErrorStack>,
) -> bool {
    openssl::ssl::SslContext::builder(openssl::ssl::SslMethod::tls())
        .and_then(|mut b| set(&mut b))
        .is_ok()
}
