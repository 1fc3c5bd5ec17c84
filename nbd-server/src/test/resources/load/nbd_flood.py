#!/usr/bin/python3
"""A client that floods an NBD server with pipelined requests, through libnbd (python3-libnbd).

Every byte of the export has one expected value per "seed": little-endian 64-bit words counting
up from seed << 40. WRITEs only ever write that pattern, so concurrent and overlapping writes of
one seed leave the export in a known state; READs check what they get, sector by sector, against
the seed(s) the sector may hold.

Modes (one per run), each prints one JSON line of figures and exits 0 only if every request was
answered, none failed and no data mismatched:
  fill     write the whole export with --seed, sequentially in 32 MiB requests, then flush
  flood    --requests N requests (--op read|write|mixed) of --sizes, at random --align'ed offsets,
           at most --window in flight (default: all of them, as a client that never waits);
           reads accept --seed or --old-seed per sector
  verify   read the whole export and check every sector holds --seed (or --old-seed)
  probe    QD1 4 KiB reads until --seconds have passed or --stop-file exists: latency percentiles
"""
import argparse
import array
import json
import os
import random
import sys
import time

import nbd

SECTOR = 512


def image(seed, size):
    base = seed << 40
    return array.array('Q', range(base, base + size // 8)).tobytes()


def connect(uri, strict_align=True):
    h = nbd.NBD()
    if not strict_align:
        # Behave like a client that ignores block sizes: ask for none, send what we are told to.
        h.set_request_block_size(False)
        h.set_strict_mode(h.get_strict_mode() & ~nbd.STRICT_ALIGN)
    h.connect_uri(uri)
    return h


def sectors_ok(got, o, images):
    """Each 512-byte sector of got (read at offset o) equals the same sector of one of images."""
    for im in images:
        if got == im[o:o + len(got)]:
            return True
    for s in range(0, len(got), SECTOR):
        piece = got[s:s + SECTOR]
        if not any(piece == im[o + s:o + s + len(piece)] for im in images):
            return False
    return True


def fill(h, size, img):
    step = 32 << 20
    for o in range(0, size, step):
        n = min(step, size - o)
        h.pwrite(img[o:o + n], o)
    h.flush()
    return {"bytes": size}


def flood(h, args, size, images):
    rnd = random.Random(args.rng)
    sizes = [int(s) for s in args.sizes.split(',')]
    align = max(args.align, 1)
    window = args.window or args.requests
    new_img = images[0]
    written = bytearray(size // SECTOR + 1)  # sectors a successful write covered
    stats = {"requests": args.requests, "ok": 0, "errors": 0, "mismatches": 0, "bytes": 0, "first_error": None,
             "answered": 0, "refused": 0}

    def done(kind, o, n, buf, err):
        stats["answered"] += 1
        if args.expect_errno is not None:
            # Every request must be refused with that error (and so change nothing).
            if err.value == args.expect_errno:
                stats["refused"] += 1
            else:
                stats["errors"] += 1
                if stats["first_error"] is None:
                    stats["first_error"] = "%s %d+%d: errno %d, expected %d" % (kind, o, n, err.value, args.expect_errno)
            return 1
        if err.value != 0:
            stats["errors"] += 1
            if stats["first_error"] is None:
                stats["first_error"] = "%s %d+%d: errno %d" % (kind, o, n, err.value)
            return 1
        stats["ok"] += 1
        stats["bytes"] += n
        if kind == "write":
            written[o // SECTOR:(o + n + SECTOR - 1) // SECTOR] = b"\x01" * ((o + n + SECTOR - 1) // SECTOR - o // SECTOR)
        if kind == "read" and not sectors_ok(buf.to_bytearray(), o, images):
            stats["mismatches"] += 1
            if stats["first_error"] is None:
                stats["first_error"] = "read %d+%d: data mismatch" % (o, n)
        return 1

    start = time.time()
    submitted = 0
    max_in_flight = 0
    # In flight counted here: libnbd's aio_in_flight() walks its whole list of commands.
    while submitted < args.requests:
        if submitted - stats["answered"] >= window:
            h.poll(1000)
            continue
        n = rnd.choice(sizes)
        span = min(size, args.range or size)
        n = min(n, span)
        o = rnd.randrange(0, (span - n) // align + 1) * align
        op = args.op if args.op != "mixed" else ("read" if rnd.random() < 0.5 else "write")
        if op == "read":
            buf = nbd.Buffer(n)
            h.aio_pread(buf, o, completion=lambda err, o=o, n=n, buf=buf: done("read", o, n, buf, err))
        else:
            buf = nbd.Buffer.from_bytearray(bytearray(new_img[o:o + n]))
            h.aio_pwrite(buf, o, completion=lambda err, o=o, n=n, buf=buf: done("write", o, n, buf, err))
        submitted += 1
        if submitted % 1000 == 0:
            max_in_flight = max(max_in_flight, submitted - stats["answered"])
            h.poll(0)
    deadline = time.time() + args.timeout
    while stats["answered"] < submitted and time.time() < deadline:
        h.poll(1000)
    elapsed = time.time() - start
    stats["unanswered"] = submitted - stats["answered"]
    stats["seconds"] = round(elapsed, 3)
    stats["requests_per_s"] = round(stats["ok"] / elapsed) if elapsed > 0 else 0
    stats["mb_per_s"] = round(stats["bytes"] / elapsed / 1e6, 1) if elapsed > 0 else 0
    stats["client_max_in_flight"] = max_in_flight
    if args.op != "read" and args.expect_errno is None:
        # Every sector a write was acknowledged for now holds the new pattern, nothing older.
        stats["written_sectors"] = written.count(1)
        stats["written_mismatches"] = 0
        s = 0
        nsec = size // SECTOR
        while s < nsec:
            if not written[s]:
                s += 1
                continue
            e = s
            while e < nsec and written[e] and e - s < (32 << 20) // SECTOR:
                e += 1
            got = h.pread((e - s) * SECTOR, s * SECTOR)
            if got != new_img[s * SECTOR:e * SECTOR]:
                stats["written_mismatches"] += 1
            s = e
        if stats["written_mismatches"]:
            stats["mismatches"] += stats["written_mismatches"]
    return stats


def verify(h, size, images):
    step = 32 << 20
    bad = 0
    for o in range(0, size, step):
        n = min(step, size - o)
        if not sectors_ok(h.pread(n, o), o, images):
            bad += 1
    return {"bytes": size, "bad_chunks": bad}


def probe(h, args, size):
    rnd = random.Random(args.rng)
    lat = []
    deadline = time.time() + args.seconds
    while time.time() < deadline and not (args.stop_file and os.path.exists(args.stop_file)):
        o = rnd.randrange(0, size // 4096) * 4096
        t = time.perf_counter()
        h.pread(4096, o)
        lat.append(time.perf_counter() - t)
    lat.sort()

    def pct(p):
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None
    return {"requests": len(lat), "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": pct(1.0)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["fill", "flood", "verify", "probe"])
    p.add_argument("uri")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--old-seed", type=int, default=None)
    p.add_argument("--op", choices=["read", "write", "mixed"], default="read")
    p.add_argument("--requests", type=int, default=60000)
    p.add_argument("--window", type=int, default=0)
    p.add_argument("--sizes", default="4096")
    p.add_argument("--align", type=int, default=4096)
    p.add_argument("--rng", type=int, default=1)
    p.add_argument("--range", type=int, default=0, help="offsets only in the first RANGE bytes")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--stop-file", default=None)
    p.add_argument("--no-strict-align", action="store_true",
                   help="ask for no block sizes and let libnbd send unaligned requests")
    p.add_argument("--expect-errno", type=int, default=None,
                   help="every request must fail with this errno (e.g. 22, EINVAL)")
    args = p.parse_args()

    h = connect(args.uri, strict_align=not args.no_strict_align)
    size = h.get_size()
    images = [image(args.seed, size)]
    if args.old_seed is not None:
        images.append(image(args.old_seed, size))
    if args.mode == "fill":
        out = fill(h, size, images[0])
    elif args.mode == "flood":
        out = flood(h, args, size, images)
    elif args.mode == "verify":
        out = verify(h, size, images)
    else:
        out = probe(h, args, size)
    h.shutdown()
    out["mode"] = args.mode
    print(json.dumps(out), flush=True)
    failed = out.get("errors", 0) or out.get("mismatches", 0) or out.get("unanswered", 0) or out.get("bad_chunks", 0)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
