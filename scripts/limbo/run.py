"""Run re-targeted x509-limbo cases through `certgate cert verify` and report.

Usage: python run.py CERTGATE_BINARY cases.json [--markdown]

Each case's trusted certificates are the allow list (`--ca`), its untrusted
intermediates the chain the client sends (`--chain`), its peer certificate the leaf, and
its validation time `--at`. Exit 0 is an accepted chain, 1 a refused one; anything else
counts as refused (certgate could not even read the input) and is listed.

A case is skipped when it does not apply to certgate's client-certificate decision, with
the reason: its answer depends on a peer *name* (certgate matches a client by its leaf or
its CA, never by name), it needs CRLs (SPEC §10 is not implemented yet), or it
configures a maximum chain depth (certgate has no such setting).
"""

import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

# Cases whose answer is about a name, not the path.
NAME_PREFIXES = ("webpki::cn::", "webpki::san::", "rfc5280::san::")
NAME_CASES = {"rfc5280::ca-as-leaf-wrong-san"}

# Disagreements examined and kept, with why (see the README's "Choices" and
# docs/x509-limbo.md).
KEY_IDS = "AKI/SKI presence and form: OpenSSL (without X509_STRICT) builds paths by issuer name and signature, which these extensions only help; many private CAs omit them"
PROFILE = "a rule on how a CA writes certificates (RFC 5280 profile), not on what a client proves; OpenSSL accepts it without X509_STRICT, and so does certgate"
NAMES = "name constraints and alternate-path search are OpenSSL's; certgate never matches a client by name"
SIGN = "kept: a client leaf's keyUsage must allow digitalSignature (OpenSSL sslclient), since the client signs the TLS handshake with it"
EKU = "SPEC §3: clientAuth is required only when the leaf has an EKU; anyExtendedKeyUsage counts (RFC 5280 4.2.1.12); EKU on a trust anchor is not a WebPKI-only refusal here"
KEYS = "key strength is enforced by security bits (112, OpenSSL level 2), not by algorithm family or size granularity; DSA-2048 works on TLS 1.2 only"
DOCUMENTED = {
    "cve::cve-2025-61727": NAMES,
    "pathlen::validation-ignores-pathlen-in-leaf": SIGN,
    "rfc5280::ca-as-leaf": SIGN,
    "rfc5280::aki::leaf-missing-aki": KEY_IDS,
    "rfc5280::aki::intermediate-missing-aki": KEY_IDS,
    "rfc5280::aki::cross-signed-root-missing-aki": KEY_IDS,
    "rfc5280::ski::root-missing-ski": KEY_IDS,
    "rfc5280::ski::intermediate-missing-ski": KEY_IDS,
    "webpki::aki::root-with-aki-missing-keyidentifier": KEY_IDS,
    "webpki::aki::root-with-aki-authoritycertissuer": KEY_IDS,
    "webpki::aki::root-with-aki-authoritycertserialnumber": KEY_IDS,
    "webpki::aki::root-with-aki-all-fields": KEY_IDS,
    "webpki::aki::root-with-aki-ski-mismatch": KEY_IDS,
    "rfc5280::nc::permitted-dns-match-noncritical": PROFILE,
    "rfc5280::nc::not-allowed-in-ee-noncritical": PROFILE,
    "rfc5280::nc::not-allowed-in-ee-critical": PROFILE,
    "webpki::nc::intermediate-permitted-excluded-subtrees-both-null": PROFILE,
    "webpki::nc::intermediate-permitted-excluded-subtrees-both-empty-sequences": PROFILE,
    "rfc5280::nc::invalid-dnsname-leading-period": NAMES,
    "rfc5280::nc::nc-permits-invalid-dns-san": NAMES,
    "rfc5280::nc::nc-permits-invalid-email-san": NAMES,
    "rfc5280::nc::nc-forbids-alternate-chain-ica": NAMES,
    "rfc5280::nc::nc-forbids-same-chain-ica": NAMES,
    "rfc5280::nc::nc-forbids-dnsname-wildcard-san": NAMES,
    "rfc5280::pc::ica-noncritical-pc": PROFILE,
    "rfc5280::serial::too-long": PROFILE,
    "rfc5280::serial::zero": PROFILE,
    "rfc5280::serial::negative": PROFILE,
    "rfc5280::ca-empty-subject": PROFILE,
    "rfc5280::root-non-critical-basic-constraints": PROFILE,
    "rfc5280::leaf-ku-keycertsign": PROFILE,
    "webpki::v1-cert": PROFILE,
    "webpki::malformed-aia": PROFILE + " (AIA is not read until OCSP, SPEC §10)",
    "webpki::ee-basicconstraints-ca": PROFILE + " (RFC 5280 lets a CA certificate be an end entity)",
    "webpki::eku::ee-anyeku": EKU,
    "webpki::eku::ee-critical-eku": EKU,
    "webpki::eku::ee-without-eku": EKU,
    "webpki::eku::root-has-eku": EKU,
    "webpki::forbidden-dsa-root": KEYS,
    "webpki::forbidden-dsa-leaf": KEYS,
    "webpki::forbidden-rsa-not-divisible-by-8-in-root": KEYS,
    "webpki::forbidden-rsa-key-not-divisible-by-8-in-leaf": KEYS,
}


def skip_reason(case):
    cid = case["id"]
    if "has-crl" in case["features"]:
        return "needs CRLs (SPEC §10)"
    if "max-chain-depth" in case["features"]:
        return "configures a maximum chain depth"
    if cid.startswith(NAME_PREFIXES) or cid in NAME_CASES:
        return "decided by a peer name"
    return None


def run_case(binary, case, work):
    d = Path(work)
    (d / "ca.pem").write_text("".join(case["trusted_certs"]))
    (d / "leaf.pem").write_text(case["peer_certificate"])
    args = [binary, "cert", "verify", "--ca", str(d / "ca.pem")]
    if case["untrusted_intermediates"]:
        (d / "chain.pem").write_text("".join(case["untrusted_intermediates"]))
        args += ["--chain", str(d / "chain.pem")]
    if case.get("validation_time"):
        args += ["--at", case["validation_time"].replace("+00:00", "Z")]
    args.append(str(d / "leaf.pem"))
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    got = "SUCCESS" if p.returncode == 0 else "FAILURE"
    detail = " ".join(
        line.split(": ", 1)[1]
        for line in (p.stdout + p.stderr).splitlines()
        if line.startswith(("reason:", "detail:", "certgate:"))
    )
    return got, p.returncode, detail


def main():
    binary, cases_file = sys.argv[1], sys.argv[2]
    markdown = "--markdown" in sys.argv
    cases = json.loads(Path(cases_file).read_text())["testcases"]
    skipped, agree, disagree = Counter(), [], []
    with tempfile.TemporaryDirectory() as work:
        for case in cases:
            reason = skip_reason(case)
            if reason:
                skipped[reason] += 1
                continue
            got, code, detail = run_case(binary, case, work)
            row = (case["id"], case["expected_result"], got, code, detail)
            (agree if got == case["expected_result"] else disagree).append(row)
    applicable = len(agree) + len(disagree)
    print(f"x509-limbo: {len(cases)} cases, {applicable} apply, {len(agree)} agree, {len(disagree)} disagree")
    for reason, n in sorted(skipped.items()):
        print(f"  skipped: {n} {reason}")
    if markdown:
        print("\n| case | expected | certgate | why |\n|---|---|---|---|")
    for cid, want, got, code, detail in disagree:
        why = DOCUMENTED.get(cid, "UNEXAMINED")
        if markdown:
            print(f"| `{cid}` | {want} | {got} | {why} |")
        else:
            print(f"  DISAGREE {cid}: expected {want}, got {got} (exit {code}; {detail}) -- {why}")
    sys.exit(1 if any(DOCUMENTED.get(r[0]) is None for r in disagree) else 0)


if __name__ == "__main__":
    main()
