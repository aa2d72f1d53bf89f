//! A small blocking HTTP/1.1-over-TLS client built on openssl, so tests control exactly
//! which certificate and chain are presented and whether a session is resumed.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use certgate::pki::Issued;
use openssl::ssl::{SslConnector, SslMethod, SslSession, SslStream, SslVerifyMode, SslVersion};
use openssl::x509::X509;

/// A response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The SPEC's reason code of an error answer ("" when the body has none).
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_string()
    }

    /// Status and reason code, the code empty for a 200 (whose body is the upstream's).
    pub fn verdict(&self) -> (u16, String) {
        let code = if self.status == 200 { String::new() } else { self.code() };
        (self.status, code)
    }
}

/// Verdict of `GET path` on a gateway's `port`, presenting `cert` (if any) and a bearer `token`
/// (if any), trusting `ca` for the gateway's certificate.
pub fn call(ca: &Issued, port: u16, path: &str, cert: Option<&Issued>, token: Option<&str>) -> (u16, String) {
    let mut c = TlsClient::new(ca);
    if let Some(cert) = cert {
        c = c.with_cert(cert);
    }
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.as_deref().map(|a| vec![("Authorization", a)]).unwrap_or_default();
    c.get(port, path, &headers).verdict()
}

/// How to connect: trusted CA, optional client identity, extra chain certificates.
#[derive(Clone)]
pub struct TlsClient {
    pub ca: X509,
    pub cert: Option<Issued>,
    /// Certificates sent after the leaf instead of the identity's own chain.
    pub chain_override: Option<Vec<X509>>,
    pub sni: String,
    pub max_version: Option<SslVersion>,
    /// Key-exchange groups offered (OpenSSL syntax); `None` = OpenSSL's default.
    pub groups: Option<String>,
    /// TLS 1.3 cipher suites offered, in the client's order; `None` = OpenSSL's default.
    pub ciphersuites: Option<String>,
    /// Signature algorithms accepted (OpenSSL syntax); `None` = OpenSSL's default.
    pub sigalgs: Option<String>,
    /// TLS 1.2 cipher list; `None` = OpenSSL's default.
    pub tls12_ciphers: Option<String>,
}

/// One open connection.
pub struct Conn {
    stream: BufReader<SslStream<TcpStream>>,
    pub host: String,
}

impl TlsClient {
    pub fn new(ca: &Issued) -> TlsClient {
        TlsClient {
            ca: ca.cert.clone(),
            cert: None,
            chain_override: None,
            sni: "localhost".into(),
            max_version: None,
            groups: None,
            ciphersuites: None,
            sigalgs: None,
            tls12_ciphers: None,
        }
    }

    pub fn with_cert(mut self, cert: &Issued) -> TlsClient {
        self.cert = Some(cert.clone());
        self
    }

    pub fn with_chain(mut self, chain: Vec<X509>) -> TlsClient {
        self.chain_override = Some(chain);
        self
    }

    pub fn tls12(mut self) -> TlsClient {
        self.max_version = Some(SslVersion::TLS1_2);
        self
    }

    /// Offers only these key-exchange groups.
    pub fn with_groups(mut self, groups: &str) -> TlsClient {
        self.groups = Some(groups.into());
        self
    }

    /// Offers only these TLS 1.3 cipher suites, in this order.
    pub fn with_ciphersuites(mut self, suites: &str) -> TlsClient {
        self.ciphersuites = Some(suites.into());
        self
    }

    /// Accepts only these signature algorithms from the server (e.g. `RSA-PSS+SHA256`).
    pub fn with_sigalgs(mut self, sigalgs: &str) -> TlsClient {
        self.sigalgs = Some(sigalgs.into());
        self
    }

    /// Offers only these TLS 1.2 cipher suites (OpenSSL names).
    pub fn with_tls12_ciphers(mut self, ciphers: &str) -> TlsClient {
        self.tls12_ciphers = Some(ciphers.into());
        self
    }

    /// Connects; with `session`, tries to resume it.
    pub fn connect(&self, port: u16, session: Option<&SslSession>) -> Conn {
        self.try_connect(port, session)
            .unwrap_or_else(|e| panic!("TLS handshake to :{port} failed: {e}"))
    }

    /// Connects, returning handshake errors.
    pub fn try_connect(&self, port: u16, session: Option<&SslSession>) -> Result<Conn, String> {
        let mut b = SslConnector::builder(SslMethod::tls()).expect("connector");
        b.cert_store_mut().add_cert(self.ca.clone()).expect("ca");
        b.set_verify(SslVerifyMode::PEER);
        if let Some(v) = self.max_version {
            b.set_max_proto_version(Some(v)).expect("version");
        }
        if let Some(g) = &self.groups {
            b.set_groups_list(g).expect("groups");
        }
        if let Some(c) = &self.ciphersuites {
            b.set_ciphersuites(c).expect("ciphersuites");
        }
        if let Some(a) = &self.sigalgs {
            b.set_sigalgs_list(a).expect("sigalgs");
        }
        if let Some(c) = &self.tls12_ciphers {
            b.set_cipher_list(c).expect("TLS 1.2 ciphers");
        }
        if let Some(id) = &self.cert {
            b.set_certificate(&id.cert).expect("cert");
            b.set_private_key(&id.key).expect("key");
            let chain = self.chain_override.clone().unwrap_or_else(|| id.chain.clone());
            for c in chain {
                b.add_extra_chain_cert(c).expect("chain");
            }
        }
        // No client session cache: freeing this context would mark its cached sessions
        // not resumable, and each connection gets its own context.
        let connector = b.build();
        let mut cfg = connector.configure().expect("configure");
        if let Some(s) = session {
            // SAFETY: the session came from a connection made with an equivalent context.
            #[allow(unsafe_code)]
            unsafe {
                cfg.set_session(s).expect("session")
            };
        }
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let stream = cfg.connect(&self.sni, tcp).map_err(|e| e.to_string())?;
        Ok(Conn {
            stream: BufReader::new(stream),
            host: self.sni.clone(),
        })
    }

    /// Sets the SNI (and the name the server certificate must carry).
    pub fn with_sni(mut self, sni: &str) -> TlsClient {
        self.sni = sni.to_string();
        self
    }

    /// One request on a fresh connection.
    pub fn get(&self, port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
        self.connect(port, None).request("GET", path, headers)
    }
}

impl Conn {
    /// The server certificate's common name.
    pub fn server_cn(&self) -> String {
        let cert = self
            .stream
            .get_ref()
            .ssl()
            .peer_certificate()
            .expect("server certificate");
        let cn = cert
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .next()
            .expect("CN");
        cn.data().to_string().expect("utf8")
    }

    /// The server certificate's key type.
    pub fn server_key_type(&self) -> openssl::pkey::Id {
        let cert = self
            .stream
            .get_ref()
            .ssl()
            .peer_certificate()
            .expect("server certificate");
        cert.public_key().expect("public key").id()
    }

    /// Sends a request; `None` when the connection fails before a full response.
    pub fn try_request(&mut self, path: &str) -> Option<Response> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.stream.get_mut().write_all(req.as_bytes()).ok()?;
        let mut line = String::new();
        self.stream.read_line(&mut line).ok()?;
        if line.is_empty() {
            return None;
        }
        let status = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(Response {
            status,
            headers: vec![],
            body: vec![],
        })
    }

    /// The negotiated cipher suite.
    pub fn cipher(&self) -> String {
        let ssl = self.stream.get_ref().ssl();
        ssl.current_cipher().expect("cipher").name().to_string()
    }

    /// Whether the handshake resumed a session.
    pub fn resumed(&self) -> bool {
        self.stream.get_ref().ssl().session_reused()
    }

    /// The session, for resumption (read after a response so TLS 1.3 tickets have arrived).
    pub fn session(&self) -> Option<SslSession> {
        self.stream.get_ref().ssl().session().map(|s| s.to_owned())
    }

    /// Closes with a TLS close_notify (an abrupt close makes OpenSSL clients drop the session).
    pub fn close(mut self) {
        let _ = self.stream.get_mut().shutdown();
    }

    /// Writes `bytes` as they are and reads one response.
    pub fn raw(&mut self, bytes: &[u8]) -> Result<Response, String> {
        self.stream.get_mut().write_all(bytes).map_err(|e| e.to_string())?;
        try_read_response(&mut self.stream)
    }

    /// Writes `bytes` as they are, without reading.
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.get_mut().write_all(bytes).map_err(|e| e.to_string())?;
        self.stream.get_mut().flush().map_err(|e| e.to_string())
    }

    /// Reads whatever comes until the peer closes or the read times out.
    pub fn read_to_end(&mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
        self.stream
            .get_mut()
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)))?;
        self.stream.read_to_end(out)
    }

    /// Reads one response.
    pub fn read_response(&mut self) -> Result<Response, String> {
        try_read_response(&mut self.stream)
    }

    /// Sends a request and reads the response (keep-alive).
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        self.try_full_request(method, path, headers)
            .unwrap_or_else(|e| panic!("request {path}: {e}"))
    }

    /// Sends a request and reads the response, returning I/O errors.
    pub fn try_full_request(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        self.stream
            .get_mut()
            .write_all(req.as_bytes())
            .map_err(|e| e.to_string())?;
        try_read_response(&mut self.stream)
    }
}

/// Reads one HTTP/1.1 response (content-length or chunked); panics on I/O errors.
pub fn read_response<R: Read>(r: &mut BufReader<R>) -> Response {
    try_read_response(r).unwrap_or_else(|e| panic!("reading the response: {e}"))
}

/// Reads one HTTP/1.1 response (content-length or chunked).
pub fn try_read_response<R: Read>(r: &mut BufReader<R>) -> Result<Response, String> {
    let io = |e: std::io::Error| e.to_string();
    let mut line = String::new();
    if r.read_line(&mut line).map_err(io)? == 0 {
        return Err("connection closed before the status line".into());
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).map_err(io)? == 0 {
            return Err("connection closed in the headers".into());
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(len) = get("content-length") {
        body.resize(len.parse().map_err(|_| "bad content-length")?, 0);
        r.read_exact(&mut body).map_err(io)?;
    } else if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).map_err(io)?;
            let n = usize::from_str_radix(size.trim(), 16).map_err(|_| format!("bad chunk size {size:?}"))?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).map_err(io)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(Response { status, headers, body })
}

/// A plain HTTP request with a body (the admin API).
pub fn http_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).unwrap();
    let _ = tcp.write_all(body);
    read_response(&mut BufReader::new(tcp))
}

/// A plain HTTP GET (for the metrics endpoint and plaintext listeners).
pub fn http_get(port: u16, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    tcp.write_all(req.as_bytes()).unwrap();
    read_response(&mut BufReader::new(tcp))
}

/// Writes `bytes` on a fresh plain TCP connection and reads one response.
pub fn http_raw(port: u16, bytes: &[u8]) -> Result<Response, String> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    tcp.write_all(bytes).map_err(|e| e.to_string())?;
    try_read_response(&mut BufReader::new(tcp))
}

/// The text of the first cell of the HTML table row holding `text` (the console puts a
/// record's ID there).
pub fn row_id(page: &str, text: &str) -> String {
    let at = page
        .find(text)
        .unwrap_or_else(|| panic!("{text} not on the page: {page}"));
    let row = page[..at].rfind("<tr").expect("a table row");
    let cell = &page[row..];
    let start = cell.find("<td>").expect("a cell") + 4;
    cell[start..start + cell[start..].find("</td>").expect("a closed cell")].to_string()
}
