#!/usr/bin/env python3
"""Port-25 probe benchmark, all on loopback.

Starts an asyncio SMTP greeter on N loopback addresses (127.0.10.1 and up),
serves a zone where each of M domains has its MX on one of them, and runs
`prebounce check --probe`. Baseline, in the same run: a plain asyncio client
doing the same exchange (connect, read the 220 greeting, EHLO, QUIT) with
the same concurrency against the same greeters.

    python3 bench/probe.py [--hosts 1000] [--domains 10000]

Prints hosts/s for both, and how many connections the greeters accepted.
"""
import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "prebounce")


def addr(i):
    return f"127.0.{10 + i // 250}.{1 + i % 250}"


class Greeters:
    def __init__(self, n, port):
        self.n, self.port, self.accepted = n, port, 0
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait()

    async def _handle(self, reader, writer):
        self.accepted += 1
        writer.write(b"220 bench ESMTP\r\n")
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                if line[:4].upper() == b"EHLO":
                    writer.write(b"250-bench\r\n250 STARTTLS\r\n")
                elif line[:4].upper() == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    break
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def start():
            for i in range(self.n):
                await asyncio.start_server(self._handle, addr(i), self.port, backlog=512)
            self.ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()


async def baseline(n, port, concurrency):
    sem = asyncio.Semaphore(concurrency)

    async def one(i):
        async with sem:
            r, w = await asyncio.open_connection(addr(i), port)
            await r.readline()
            w.write(b"EHLO bench\r\n")
            while not (await r.readline())[3:4] == b" ":
                pass
            w.write(b"QUIT\r\n")
            await r.readline()
            w.close()

    t0 = time.time()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.time() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--domains", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, default=100)
    a = ap.parse_args()
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    greeters = Greeters(a.hosts, port)
    with tempfile.TemporaryDirectory() as d:
        zone = os.path.join(d, "probe.zone")
        with open(zone, "w") as f:
            f.write("$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n")
            for i in range(a.hosts):
                f.write(f"mx{i}.hosts A {addr(i)}\n")
            for j in range(a.domains):
                f.write(f"d{j} MX 10 mx{j % a.hosts}.hosts\n")
        listing = os.path.join(d, "list.txt")
        with open(listing, "w") as f:
            for j in range(a.domains):
                f.write(f"u@d{j}.zz\n")
        cmd = [BIN, "check", "--zone", zone, listing, "-o", "/dev/null", "--format", "csv", "--probe",
               "--trusted-net", "127.0.0.0/8", "--smtp-port", str(port), "--probe-canary", f"{addr(0)}:{port}",
               "--probe-concurrency", str(a.concurrency), "--concurrency", "1000", "--no-history"]
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.time() - t0
        if p.returncode:
            sys.exit(p.stderr)
        m = re.search(r"probe: ([\d,]+) addresses probed on port \d+,\s+([\d,]+) answered,\s+([\d,]+) failed,\s+([\d,.]+) s probing", p.stderr)
        probed, answered, failed = (int(m.group(i).replace(",", "")) for i in (1, 2, 3))
        span = float(m.group(4).replace(",", ""))
        ours = probed / span if span else float("inf")
        accepted_by_us = greeters.accepted
        base = asyncio.run(baseline(a.hosts, port, a.concurrency))
        print(f"== {a.domains:,} domains sharing {a.hosts:,} MX addresses on loopback, concurrency {a.concurrency}")
        print(f"prebounce --probe: {probed:,} addresses probed ({answered:,} answered, {failed:,} failed) in {span:.2f} s "
              f"= {ours:,.0f} hosts/s; whole run {wall:.2f} s; greeters accepted {accepted_by_us:,} connections "
              f"(one per address, plus the canary)")
        print(f"baseline asyncio client, same exchange: {base:,.0f} hosts/s; prebounce = {ours / base:.2f} x baseline")


if __name__ == "__main__":
    main()
