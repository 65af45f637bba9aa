#!/usr/bin/env python3
"""Generates a synthetic mail world for benchmarks: a root zone with N
domains in a realistic mix, a zone knot cannot load (SERVFAIL), an address
list with a Zipf-like spread over the domains, and a dnsperf query file.

Deterministic for a given --seed. Only names and documentation-free global
addresses are written; nothing is ever connected to.

Mix of domains (by share):
  55% on a few shared provider MX hosts (like Google/Microsoft customers)
  12% on their own MX host
  8%  null MX, 8% NODATA (no MX, no A), 4% NODATA with an A (no_mx)
  5%  dangling MX (target does not exist), 5% MX to 127.0.0.1
  2%  names under a zone that fails to load (SERVFAIL)
  1%  NXDOMAIN (not in the zone at all)
"""
import argparse
import os
import random

KINDS = [
    ("shared", 55), ("own", 12), ("nullmx", 8), ("nodata", 8), ("web", 4),
    ("dangling", 5), ("loopback", 5), ("servfail", 2), ("nxdomain", 1),
]
PROVIDERS = 8


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--domains", type=int, default=100_000)
    ap.add_argument("--addresses", type=int, default=1_000_000)
    ap.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of addresses over domains")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)

    weights = [w for _, w in KINDS]
    domains = []
    hosts = []  # names whose A/AAAA prebounce asks, for the dnsperf mix
    root = ["$ORIGIN .", "$TTL 3600",
            ". SOA ns.bench. hostmaster.bench. 1 3600 600 86400 300",
            ". NS ns.bench.",
            "ns.bench. A 127.0.0.1"]
    for p in range(PROVIDERS):
        hosts += [f"mx{p}.provider{p}.zz", f"alt{p}.provider{p}.zz"]
        root.append(f"mx{p}.provider{p}.zz. A 45.{p}.0.25")
        root.append(f"mx{p}.provider{p}.zz. AAAA 2a00:{p:x}::25")
        root.append(f"alt{p}.provider{p}.zz. A 45.{p}.1.25")
    for i in range(a.domains):
        kind = rng.choices(KINDS, weights)[0][0]
        d = f"d{i}.zz."
        if kind == "shared":
            p = rng.randrange(PROVIDERS)
            root.append(f"{d} MX 10 mx{p}.provider{p}.zz.")
            root.append(f"{d} MX 20 alt{p}.provider{p}.zz.")
        elif kind == "own":
            hosts.append(f"mail.{d}".rstrip("."))
            root.append(f"{d} MX 10 mail.{d}")
            root.append(f"mail.{d} A 46.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}")
        elif kind == "nullmx":
            root.append(f"{d} MX 0 .")
        elif kind == "nodata":
            hosts.append(d.rstrip("."))
            root.append(f'{d} TXT "v=spf1 -all"')
        elif kind == "web":
            hosts.append(d.rstrip("."))
            root.append(f"{d} A 47.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}")
        elif kind == "dangling":
            hosts.append(f"gone.{d}".rstrip("."))
            root.append(f"{d} MX 10 gone.{d}")
            root.append(f'{d} TXT "dangling"')
        elif kind == "loopback":
            hosts.append(f"mx.{d}".rstrip("."))
            root.append(f"{d} MX 10 mx.{d}")
            root.append(f"mx.{d} A 127.0.0.1")
        elif kind == "servfail":
            d = f"d{i}.broken.zz."
        # nxdomain: nothing in the zone
        domains.append(d.rstrip("."))
    root.append("broken.zz. NS ns.bench.")  # delegated to the zone that fails to load
    with open(os.path.join(a.out, "root.zone"), "w") as f:
        f.write("\n".join(root) + "\n")
    with open(os.path.join(a.out, "broken.zone"), "w") as f:
        f.write("$TTL 300\n@ SOA ns.bench. hostmaster.bench. 1 3600 600 86400 300\nwww A 999.1.1.1\n")

    # Zipf-like: domain at rank r gets weight 1/r^s; ranks shuffled.
    order = list(range(len(domains)))
    rng.shuffle(order)
    cum = []
    total = 0.0
    for r in range(1, len(domains) + 1):
        total += 1.0 / (r ** a.zipf)
        cum.append(total)
    with open(os.path.join(a.out, "addresses.txt"), "w") as f:
        # Every domain at least once, then the Zipf tail.
        for i in range(min(a.addresses, len(domains))):
            f.write(f"u{i}@{domains[i]}\n")
        picks = rng.choices(order, cum_weights=cum, k=max(0, a.addresses - len(domains)))
        for n, i in enumerate(picks):
            f.write(f"v{n}@{domains[i]}\n")
    # The queries prebounce sends for these domains: MX of each, A and AAAA
    # of each host (once), in a shuffled order.
    queries = [f"{d} MX" for d in domains]
    queries += [f"{h} {t}" for h in hosts for t in ("A", "AAAA")]
    rng.shuffle(queries)
    with open(os.path.join(a.out, "queries.txt"), "w") as f:
        f.write("\n".join(queries) + "\n")


if __name__ == "__main__":
    main()
