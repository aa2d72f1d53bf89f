//! curl as the operator's client: one call, its status, response head and body.

use std::process::Command;

/// What curl got back.
pub struct CurlReply {
    /// HTTP status (0 when nothing came back).
    pub status: u16,
    /// The response head (status line and headers).
    pub head: String,
    /// The body.
    pub body: String,
}

impl CurlReply {
    /// The SPEC's JSON error `code`, or `""`.
    pub fn code(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["code"].as_str().map(String::from))
            .unwrap_or_default()
    }

    /// The values of the `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.trim())
            .collect()
    }
}

/// Runs `curl -s -i <args>` and splits what it printed.
pub fn curl(args: &[&str]) -> CurlReply {
    let out = Command::new("curl")
        .args(["-s", "-i", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (rest, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
    CurlReply {
        status: code.trim().parse().unwrap_or(0),
        head: head.to_string(),
        body: body.to_string(),
    }
}
