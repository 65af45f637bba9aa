#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the repo's fixtures.

    python3 fuzz/seed.py        # then: cd fuzz && cargo +nightly fuzz run TARGET

corpus/address: every line of examples/addresses.txt, plus a few edge cases.
corpus/input:   the address list and a CSV made from it, each under several
                first (mode) bytes: text/CSV, read whole or in small chunks.
corpus/zone:    the zone files in examples/ and tests/fixtures/.
corpus/reply:   DNS replies built here, one per case interpret tells apart.
corpus/mtalog:  the MTA log fixtures in tests/fixtures/mta/.
Nothing here is committed: the corpora are made again from the fixtures.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(*path):
    with open(os.path.join(ROOT, *path), "rb") as f:
        return f.read()


# --- address ---------------------------------------------------------------
addresses = read("examples", "addresses.txt")
lines = [l.strip() for l in addresses.decode().splitlines()]
lines = [l for l in lines if l and not l.startswith("#")]
lines += [
    '"quoted local"@example.net',
    "a..b@x.zz",
    "user@[192.0.2.1]",
    "user@xn--bcher-kva.de",
    "user@1.2.3.4",
    "\ufeffuser@Shop.COM.",
    "x" * 64 + "@" + "y" * 63 + ".zz",
]
for i, line in enumerate(lines):
    put("address", "fixture-%02d" % i, line)

# --- input -----------------------------------------------------------------
csv = "name,email,source\n" + "".join(
    '"n%d",%s,list\n' % (i, l.replace('"', '""') if "," not in l else '"%s"' % l)
    for i, l in enumerate(lines[:12])
)
for mode in (0x00, 0x02, 0x04, 0x06):
    put("input", "text-%02x" % mode, bytes([mode]) + addresses)
    put("input", "csv-%02x" % mode, bytes([mode | 1]) + csv.encode())
put("input", "text-crlf-bom", b"\x00\xef\xbb\xbfa@b.zz\r\n\r\n# c\r\n\xff\xfe@x\r\nlast@b.zz")
put("input", "text-overlong", b"\x88a@b.zz\n")

# --- zone ------------------------------------------------------------------
put("zone", "demo.zone", read("examples", "demo.zone"))
for name in sorted(os.listdir(os.path.join(ROOT, "tests", "fixtures"))):
    if name.endswith(".zone"):
        put("zone", name, read("tests", "fixtures", name))

# --- reply -----------------------------------------------------------------
MX, A, AAAA, CNAME, NS, SOA = 15, 1, 28, 5, 2, 6


def name(n):
    out = b""
    for label in n.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def rr(owner, rtype, rdata, ttl=300):
    return name(owner) + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def soa(zone="test."):
    return rr(zone, SOA, name("ns." + zone) + name("h." + zone) + struct.pack(">IIIII", 1, 60, 60, 60, 60))


def mx(owner, pref, target):
    return rr(owner, MX, struct.pack(">H", pref) + name(target))


def msg(rcode, answers=(), authority=(), additional=(), qname="d.test.", qtype=MX, id=0x1234):
    head = struct.pack(">HHHHHH", id, 0x8180 | rcode, 1, len(answers), len(authority), len(additional))
    question = name(qname) + struct.pack(">HH", qtype, 1)
    return head + question + b"".join(answers) + b"".join(authority) + b"".join(additional)


replies = {
    "answer": msg(0, [mx("d.test.", 10, "mx.d.test.")], additional=[rr("mx.d.test.", A, bytes([192, 0, 2, 1]))]),
    "nxdomain": msg(3, authority=[soa()]),
    "nodata": msg(0, authority=[soa()]),
    "servfail": msg(2),
    "refused": msg(5),
    "formerr": msg(1),
    "lame": msg(0, authority=[rr("d.test.", NS, name("ns.elsewhere."))]),
    "null-mx": msg(0, [mx("d.test.", 0, ".")]),
    "botched-null-mx": msg(0, [mx("d.test.", 0, "0.")]),
    "cname-chain": msg(0, [rr("d.test.", CNAME, name("e.test.")), rr("e.test.", CNAME, name("f.test.")), mx("f.test.", 5, "mx.f.test.")]),
    "cname-loop": msg(0, [rr("d.test.", CNAME, name("e.test.")), rr("e.test.", CNAME, name("d.test."))]),
    "cname-out-of-zone": msg(0, [rr("d.test.", CNAME, name("other.zone."))]),
    "cname-nxdomain": msg(3, [rr("d.test.", CNAME, name("gone.test."))], [soa()]),
    "a-answer": msg(0, [rr("d.test.", A, bytes([127, 0, 0, 1]))], qtype=A),
    "aaaa-answer": msg(0, [rr("d.test.", AAAA, bytes(15) + b"\x01")], qtype=AAAA),
    "servfail-with-answer": msg(2, [mx("d.test.", 10, "mx.d.test.")]),
    # The answer's owner as a compression pointer to the question (offset 12).
    "compressed": msg(0, [b"\xc0\x0c" + struct.pack(">HHIH", MX, 1, 60, 4) + b"\x00\x0a\xc0\x0c"]),
}
for n, data in replies.items():
    put("reply", n, data)

# --- mtalog ----------------------------------------------------------------
# The MTA log fixtures, each under a few first (reference time / year) bytes.
mta = os.path.join(ROOT, "tests", "fixtures", "mta")
for name in sorted(os.listdir(mta)):
    if name.endswith((".log", ".jsonl")):
        data = read("tests", "fixtures", "mta", name)
        for first in (0, 1, 200):
            put("mtalog", "%s-%d" % (name, first), bytes([first]) + data)

print("seeded", ", ".join(sorted(os.listdir(os.path.join(HERE, "corpus")))), file=sys.stderr)
