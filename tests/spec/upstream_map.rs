//! The upstream domain map (SPEC §4), as the table in the SPEC's shared tables: every case
//! of Tyk's own lookup table plus the any-position wildcard.

use certgate::snapshot::{select, DomainMap};

struct Row {
    host: &'static str,
    gateway: &'static [(&'static str, &'static str)],
    api: &'static [(&'static str, &'static str)],
    expected: Option<&'static str>,
}

const ROWS: &[Row] = &[
    Row {
        host: "example.com",
        gateway: &[],
        api: &[],
        expected: None,
    },
    Row {
        host: "example.com",
        gateway: &[("*", "w")],
        api: &[],
        expected: Some("w"),
    },
    Row {
        host: "api.example.com:8443",
        gateway: &[("*", "w")],
        api: &[],
        expected: Some("w"),
    },
    Row {
        host: "example.com",
        gateway: &[("example.com", "e")],
        api: &[],
        expected: Some("e"),
    },
    Row {
        host: "example.com:8443",
        gateway: &[("example.com", "e")],
        api: &[],
        expected: Some("e"),
    },
    Row {
        host: "example.com:8443",
        gateway: &[("example.com:8443", "ep")],
        api: &[],
        expected: Some("ep"),
    },
    Row {
        host: "api.example.com",
        gateway: &[("*.example.com", "s")],
        api: &[],
        expected: Some("s"),
    },
    Row {
        host: "test.example.com",
        gateway: &[("*.example.com", "s")],
        api: &[],
        expected: Some("s"),
    },
    Row {
        host: "api.example.com:8443",
        gateway: &[("*.example.com", "s")],
        api: &[],
        expected: Some("s"),
    },
    Row {
        host: "test.example.com:9000",
        gateway: &[("*.example.com", "s")],
        api: &[],
        expected: Some("s"),
    },
    Row {
        host: "api.example.com:8443",
        gateway: &[("*.example.com:8443", "sp")],
        api: &[],
        expected: Some("sp"),
    },
    Row {
        host: "example.com",
        gateway: &[("*", "w"), ("example.com", "e")],
        api: &[],
        expected: Some("e"),
    },
    Row {
        host: "example.com:8443",
        gateway: &[("example.com", "e"), ("example.com:8443", "ep")],
        api: &[],
        expected: Some("ep"),
    },
    Row {
        host: "api.example.com",
        gateway: &[("*", "w"), ("*.example.com", "s")],
        api: &[],
        expected: Some("s"),
    },
    Row {
        host: "api.example.com:8443",
        gateway: &[("*.example.com", "s"), ("*.example.com:8443", "sp")],
        api: &[],
        expected: Some("sp"),
    },
    Row {
        host: "example.com",
        gateway: &[("example.com", "g")],
        api: &[("example.com", "a")],
        expected: Some("a"),
    },
    Row {
        host: "example.com",
        gateway: &[("example.com", "g")],
        api: &[("*", "a")],
        expected: Some("a"),
    },
    Row {
        host: "example.com",
        gateway: &[("other.com", "o")],
        api: &[],
        expected: None,
    },
    Row {
        host: "192.168.1.1",
        gateway: &[("192.168.1.1", "ip")],
        api: &[],
        expected: Some("ip"),
    },
    Row {
        host: "192.168.1.1:8443",
        gateway: &[("192.168.1.1", "ip")],
        api: &[],
        expected: Some("ip"),
    },
    Row {
        host: "[::1]:8443",
        gateway: &[("::1", "v6")],
        api: &[],
        expected: Some("v6"),
    },
    Row {
        host: "a.b.example.com",
        gateway: &[("*.example.com", "s")],
        api: &[],
        expected: None,
    },
    Row {
        host: "example.com",
        gateway: &[("*.com", "c")],
        api: &[],
        expected: Some("c"),
    },
    Row {
        host: "api.prod.example.com:8443",
        gateway: &[("api.*.example.com:8443", "m")],
        api: &[],
        expected: Some("m"),
    },
    Row {
        host: "api.prod.example.com:8443",
        gateway: &[("api.*.example.com:8443", "m"), ("*.prod.example.com:8443", "p")],
        api: &[],
        expected: Some("p"),
    },
    Row {
        host: "api.prod.example.com",
        gateway: &[("*.*.example.com", "two"), ("api.*.example.com", "one")],
        api: &[],
        expected: Some("one"),
    },
    // certgate's own additions.
    Row {
        host: "[::1]:8443",
        gateway: &[("[::1]:8443", "v6p"), ("::1", "v6")],
        api: &[],
        expected: Some("v6p"),
    },
    Row {
        host: "example.com:8443",
        gateway: &[("example.com:9443", "other-port")],
        api: &[],
        expected: None,
    },
    Row {
        host: "example.com",
        gateway: &[("example.com:443", "default-port")],
        api: &[],
        expected: Some("default-port"),
    },
    Row {
        host: "api.example.com:8443",
        gateway: &[("*.example.com:8443", "sp")],
        api: &[("*.example.com", "a")],
        expected: Some("a"),
    },
    Row {
        host: "API.Example.com",
        gateway: &[("api.example.com", "e")],
        api: &[],
        expected: Some("e"),
    },
];

fn map(entries: &[(&str, &'static str)]) -> DomainMap<&'static str> {
    DomainMap::build(entries.iter().map(|(k, v)| (k.to_string(), *v))).unwrap()
}

/// `host[:port]` as written in a target URL (https, so no port means 443).
fn split(hostport: &str) -> (String, u16) {
    let uri: http::Uri = format!("https://{hostport}/").parse().unwrap();
    let a = uri.authority().unwrap();
    (
        a.host().trim_matches(['[', ']']).to_ascii_lowercase(),
        a.port_u16().unwrap_or(443),
    )
}

#[test]
fn domain_map_table() {
    let mut failures = Vec::new();
    for r in ROWS {
        let (host, port) = split(r.host);
        let (g, a) = (map(r.gateway), map(r.api));
        let got = select(&a, &g, &host, port).copied();
        if got != r.expected {
            failures.push(format!(
                "{} with G {:?} A {:?}: got {got:?}, want {:?}",
                r.host, r.gateway, r.api, r.expected
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ambiguous_wildcards_are_a_config_error() {
    let err = DomainMap::build([("*.b.*".to_string(), 1), ("a.*.*".to_string(), 2)]).unwrap_err();
    assert_eq!(err.len(), 1, "{err:?}");
    assert_eq!(err[0].0, "a.*.*");
    assert!(err[0].1.contains("ties with `*.b.*`"), "{err:?}");
    // With a port, the message names the other key with its port.
    let err = DomainMap::build([("*.b.*:8443".to_string(), 1), ("a.*.*:8443".to_string(), 2)]).unwrap_err();
    assert!(err[0].1.contains("ties with `*.b.*:8443`"), "{err:?}");
    // Different ports, or a port on one only, never tie (the port decides first).
    assert!(DomainMap::build([("*.b.*:8443".to_string(), 1), ("a.*.*:443".to_string(), 2)]).is_ok());
    assert!(DomainMap::build([("*.b.*:8443".to_string(), 1), ("a.*.*".to_string(), 2)]).is_ok());
    // Same specificity but never the same host: fine.
    assert!(DomainMap::build([("*.a.com".to_string(), 1), ("*.b.com".to_string(), 2)]).is_ok());
    // The same domain twice.
    assert!(DomainMap::build([("Example.com".to_string(), 1), ("example.com".to_string(), 2)]).is_err());
    // Not a domain key.
    assert!(DomainMap::build([("a*.com".to_string(), 1)]).is_err());
    assert!(DomainMap::build([("example.com:http".to_string(), 1)]).is_err());
}

#[test]
fn the_most_specific_wildcard_wins_among_thousands() {
    let mut keys: Vec<(String, u32)> = (0..5_000).map(|i| (format!("*.zone{i}.example.com"), i)).collect();
    keys.extend([
        ("a.b.*".to_string(), 9_001),   // two literal labels, none at the right end
        ("a.*.c".to_string(), 9_002),   // two literal labels, one at the right end
        ("*.b.c".to_string(), 9_003),   // two literal labels, both at the right end
        ("*.*.c".to_string(), 9_004),   // one literal label
        ("*.*.*.c".to_string(), 9_005), // wrong label count for a.b.c
    ]);
    let map = DomainMap::build(keys).expect("no ties");
    assert_eq!(map.lookup("a.b.c", 443), Some(&9_003));
    assert_eq!(map.lookup("a.x.c", 443), Some(&9_002));
    assert_eq!(map.lookup("a.b.x", 443), Some(&9_001));
    assert_eq!(map.lookup("x.y.c", 443), Some(&9_004));
    assert_eq!(map.lookup("w.x.y.c", 443), Some(&9_005));
    assert_eq!(map.lookup("api.zone4321.example.com", 443), Some(&4_321));
    assert_eq!(map.lookup("zone4321.example.com", 443), None);
    assert_eq!(map.lookup("a.b.zone4321.example.com", 443), None, "`*` is one label");
}
