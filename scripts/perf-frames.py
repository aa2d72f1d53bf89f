#!/usr/bin/env python3
"""Where a proxy's CPU goes, from `perf script -F ip,sym` output of a call-graph recording.

Usage: perf-frames.py SCRIPT_OUTPUT CPU_US_PER_REQUEST GROUP=PREFIX[|PREFIX...] ...

Each sample is one call stack. A sample whose innermost frame is in the kernel counts as
"kernel" and nowhere else. For every GROUP, the share of all samples that run in user space
and have a frame starting with one of its PREFIXes anywhere on the stack (inclusive time: the
function and what it calls, without the system calls it makes) is printed, in percent and in
microseconds per request (share x CPU_US_PER_REQUEST). Groups may overlap; they are not meant
to add up to 100 %.

A GROUP written PREFIXES^INNER counts a sample only when no frame between its innermost
PREFIXES frame and the leaf starts with one of INNER: "certgate's own code" without the
I/O it calls into (its stream wrapper reads through OpenSSL and Pingora, and that time is
theirs).
"""
import sys


def stacks(path):
    """Yields each sample as a list of (address, symbol), innermost frame first."""
    cur = []
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("\t"):
                parts = line.strip().split(" ", 1)
                cur.append((parts[0], parts[1] if len(parts) > 1 else "?"))
            elif cur:
                yield cur
                cur = []
    if cur:
        yield cur


def main():
    path, us = sys.argv[1], float(sys.argv[2])
    groups = []
    for arg in sys.argv[3:]:
        name, _, spec = arg.partition("=")
        prefixes, _, inner = spec.partition("^")
        groups.append((name, tuple(prefixes.split("|")), tuple(inner.split("|")) if inner else ()))
    total = kernel = 0
    hits = [0] * len(groups)
    for st in stacks(path):
        total += 1
        if st[0][0].startswith("ffffffff"):
            kernel += 1
            continue
        syms = [s for _, s in st]
        for i, (_, prefixes, inner) in enumerate(groups):
            at = next((j for j, s in enumerate(syms) if s.startswith(prefixes)), None)
            if at is None:
                continue
            if inner and any(s.startswith(inner) for s in syms[:at]):
                continue
            hits[i] += 1
    if total == 0:
        sys.exit("no samples")
    print(f"  {'samples':<58} {total:>7}")
    rows = [("in the kernel (system calls, TCP)", kernel), ("in user space", total - kernel)]
    rows += [(name, n) for (name, _, _), n in zip(groups, hits)]
    for name, n in rows:
        share = n / total
        print(f"  {name:<58} {100 * share:6.1f} %  {share * us:6.1f} us/request")


if __name__ == "__main__":
    main()
