//! The attacks issue 2 lists: each must be refused.

use crate::fixture::Fixture;

fn code(r: &crate::support::Response) -> String {
    r.code()
}

#[test]
fn appended_certificates_never_match() {
    let f = Fixture::shared();
    let listed = f.certs["listed"].cert.clone();
    let ca = f.certs["client_ca"].cert.clone();
    let port = f.gateway.https;
    for (name, chain) in [
        ("allow-listed leaf appended", vec![listed.clone()]),
        ("allow-listed CA appended", vec![ca.clone()]),
        ("both appended", vec![listed, ca]),
    ] {
        let r = f
            .client(Some("selfsigned"))
            .with_chain(chain.clone())
            .get(port, "/cert/x", &[]);
        assert_eq!(
            (r.status, code(&r)),
            (403, "cert_not_allowed".into()),
            "self-signed leaf, {name}: {}",
            r.text()
        );
        let r = f.client(Some("stranger")).with_chain(chain).get(port, "/cert/x", &[]);
        assert_eq!(
            (r.status, code(&r)),
            (403, "cert_not_allowed".into()),
            "stranger leaf, {name}: {}",
            r.text()
        );
    }
}

#[test]
fn validity_and_eku_of_ca_issued_leaves() {
    let f = Fixture::shared();
    for (cert, status, want) in [
        ("ca_expired", 403, "cert_expired"),
        ("ca_notyet", 403, "cert_expired"),
        ("ca_serverauth", 403, "cert_not_allowed"),
        ("ca_client", 200, ""),
    ] {
        let r = f.get(Some(cert), "/cert/x", &[]);
        assert_eq!(r.status, status, "{cert}: {}", r.text());
        if status != 200 {
            assert_eq!(code(&r), want, "{cert}");
        }
    }
}

#[test]
fn intermediates_must_be_sent() {
    let f = Fixture::shared();
    let port = f.gateway.https;
    let inter = f.certs["inter"].cert.clone();
    let r = f
        .client(Some("inter_client"))
        .with_chain(vec![inter])
        .get(port, "/cert/x", &[]);
    assert_eq!(r.status, 200, "with the intermediate: {}", r.text());
    let r = f
        .client(Some("inter_client"))
        .with_chain(vec![])
        .get(port, "/cert/x", &[]);
    assert_eq!(
        (r.status, code(&r)),
        (403, "cert_not_allowed".into()),
        "without the intermediate: {}",
        r.text()
    );
}

#[test]
fn forged_client_cert_header_never_reaches_upstream() {
    let f = Fixture::shared();
    for cert in [None, Some("listed")] {
        let r = f.get(
            cert,
            "/open/x",
            &[
                (
                    "X-Client-Cert-Sha256",
                    "0000000000000000000000000000000000000000000000000000000000000000",
                ),
                ("x-client-cert-sha256", "again"),
            ],
        );
        let seen = &r.json()["headers"]["x-client-cert-sha256"];
        match cert {
            None => assert!(seen.is_null(), "forged header forwarded: {seen}"),
            Some(n) => assert_eq!(seen, f.certs[n].id().to_hex().as_str()),
        }
    }
}
