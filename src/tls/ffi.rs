//! The few OpenSSL calls the `openssl` crate does not expose safely: the only module where
//! `unsafe` is allowed (`unsafe_code` is denied everywhere else, see `Cargo.toml`).

#![allow(unsafe_code)]

use std::os::raw::{c_int, c_long};

use foreign_types::{ForeignType, ForeignTypeRef};
use openssl::ssl::{SslContextBuilder, SslSession, SslSessionRef};

extern "C" {
    fn SSL_CTX_set_timeout(ctx: *mut openssl_sys::SSL_CTX, t: c_long) -> c_long;
    fn SSL_SESSION_dup(src: *const openssl_sys::SSL_SESSION) -> *mut openssl_sys::SSL_SESSION;
}

/// An independent copy of `session` (same ID, keys, peer certificate and the chain the peer
/// sent).
pub fn dup_session(session: &SslSessionRef) -> Option<SslSession> {
    // SAFETY: `session` is live for the borrow; SSL_SESSION_dup returns a new object with
    // its own reference (or NULL), whose ownership passes to the returned SslSession.
    unsafe {
        let p = SSL_SESSION_dup(session.as_ptr());
        (!p.is_null()).then(|| SslSession::from_ptr(p))
    }
}

/// `SSL_CTRL_SET_NOT_RESUMABLE_SESS_CB` from `ssl.h`.
const SSL_CTRL_SET_NOT_RESUMABLE_SESS_CB: c_int = 79;

/// OpenSSL asks this, for every new session, whether it must not be resumable: TLS 1.2
/// sessions never are (the answer also decides whether a TLS 1.3 session gets a ticket).
unsafe extern "C" fn never_resumable(ssl: *mut openssl_sys::SSL, _forward_secure: c_int) -> c_int {
    // SAFETY: OpenSSL passes the live SSL object whose handshake is running.
    let version = unsafe { openssl_sys::SSL_version(ssl) };
    c_int::from(version < openssl_sys::TLS1_3_VERSION)
}

/// Makes every TLS 1.2 session non-resumable, so a TLS 1.2 client always does a full
/// handshake; TLS 1.3 sessions are left alone.
pub fn tls12_sessions_not_resumable(ctx: &mut SslContextBuilder) {
    let cb: unsafe extern "C" fn(*mut openssl_sys::SSL, c_int) -> c_int = never_resumable;
    // SAFETY: OpenSSL stores the function pointer and calls it with this exact signature
    // (`int (*)(SSL *, int)`); it is a plain function without captured state.
    unsafe {
        openssl_sys::SSL_CTX_callback_ctrl__fixed_rust(
            ctx.as_ptr(),
            SSL_CTRL_SET_NOT_RESUMABLE_SESS_CB,
            Some(std::mem::transmute::<
                unsafe extern "C" fn(*mut openssl_sys::SSL, c_int) -> c_int,
                unsafe extern "C" fn(),
            >(cb)),
        );
    }
}

/// Lifetime of cached sessions, in seconds.
pub fn set_session_timeout(ctx: &mut SslContextBuilder, seconds: u32) {
    // SAFETY: `ctx` is a live SSL_CTX held mutably; the call only stores an integer.
    unsafe {
        SSL_CTX_set_timeout(ctx.as_ptr(), c_long::from(seconds));
    }
}

/// Serves resumption lookups from `lookup` (certgate's own session store). `lookup` must
/// only return sessions created by this context, which holds for the store `tls_settings`
/// fills from this context's new-session callback.
pub fn set_get_session_callback<F>(ctx: &mut SslContextBuilder, lookup: F)
where
    F: Fn(&[u8]) -> Option<SslSession> + 'static + Sync + Send,
{
    // SAFETY: the sessions `lookup` returns come from this context (see above).
    unsafe {
        ctx.set_get_session_callback(move |_ssl, id| lookup(id));
    }
}
