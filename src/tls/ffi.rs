//! The few OpenSSL calls the `openssl` crate does not expose safely.

use foreign_types::ForeignTypeRef;
use openssl::ssl::SslRef;
use openssl::x509::X509StoreContextRef;

extern "C" {
    fn X509_STORE_CTX_get0_untrusted(ctx: *const openssl_sys::X509_STORE_CTX) -> *mut openssl_sys::stack_st_X509;
    fn SSL_set_options(s: *mut openssl_sys::SSL, op: u64) -> u64;
}

/// Number of certificates the peer sent, leaf included (OpenSSL verifies a TLS peer with
/// its whole sent chain as the "untrusted" set), during certificate verification.
pub fn sent_chain_len(ctx: &X509StoreContextRef) -> usize {
    // SAFETY: `ctx` is a live X509_STORE_CTX for the duration of the borrow; the returned
    // stack is owned by it and only read here.
    unsafe {
        let sk = X509_STORE_CTX_get0_untrusted(ctx.as_ptr());
        if sk.is_null() {
            0
        } else {
            openssl_sys::OPENSSL_sk_num(sk as *const openssl_sys::OPENSSL_STACK).max(0) as usize
        }
    }
}

/// Sends no TLS 1.3 session ticket on this connection.
pub fn suppress_tls13_tickets(ssl: &SslRef) {
    // SAFETY: `ssl` is a live SSL object; SSL_set_num_tickets only stores an integer in it.
    // The handshake that owns it is suspended in a callback on this thread.
    unsafe {
        openssl_sys::SSL_set_num_tickets(ssl.as_ptr(), 0);
    }
}

/// Issues no TLS 1.2 session ticket on this connection (must run before the ServerHello).
pub fn disable_tls12_tickets(ssl: &mut SslRef) {
    // SAFETY: `ssl` is a live SSL object held mutably; SSL_set_options only ORs a flag in.
    unsafe {
        SSL_set_options(ssl.as_ptr(), openssl_sys::SSL_OP_NO_TICKET);
    }
}
