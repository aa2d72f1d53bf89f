"""Generate x509-limbo testcases, re-targeted to client certificates.

Usage: python generate.py LIMBO_DIR > cases.json

LIMBO_DIR is a checkout of https://github.com/C2SP/x509-limbo. Its generators are run
in-process (not `limbo compile`, which also needs the bettertls and online assets).
Client-validation cases are kept as they are. Server-validation cases are generated a
second time with serverAuth and clientAuth swapped in every Extended Key Usage, so they
become the same cases about a client's chain (a leaf that "must carry serverAuth" now
must carry clientAuth, one that "carries the wrong EKU, clientAuth" now carries
serverAuth); those are marked `"retargeted": true`.
"""

import sys

sys.path.insert(0, sys.argv[1])

from cryptography import x509  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID  # noqa: E402

_SWAP = {
    ExtendedKeyUsageOID.SERVER_AUTH: ExtendedKeyUsageOID.CLIENT_AUTH,
    ExtendedKeyUsageOID.CLIENT_AUTH: ExtendedKeyUsageOID.SERVER_AUTH,
}
_Original = x509.ExtendedKeyUsage


SWAPPING = False


class _Retargeted(_Original):
    """An EKU whose usages are swapped while SWAPPING is on (defaults built at import
    time included)."""

    @property
    def _usages(self):
        return [_SWAP.get(u, u) for u in self._written] if SWAPPING else list(self._written)

    @_usages.setter
    def _usages(self, value):
        self._written = list(value)


# Before the generators are imported: their defaults are evaluated at import time.
x509.ExtendedKeyUsage = _Retargeted
x509.extensions.ExtendedKeyUsage = _Retargeted

from limbo.testcases import registry  # noqa: E402

import json  # noqa: E402

out = []
for _, make in registry.items():
    SWAPPING = False
    case = make()
    retargeted = case.validation_kind == "SERVER"
    if retargeted:
        SWAPPING = True
        case = make()
    doc = json.loads(case.model_dump_json())
    doc["retargeted"] = retargeted
    out.append(doc)
print(json.dumps({"version": 1, "testcases": out}, indent=1))
