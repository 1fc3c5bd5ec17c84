#!/usr/bin/python3
# Reads back "<offset> <sha256>" lines from stdin through NBD and prints MISMATCH lines for blocks whose
# content differs; prints "CHECKED n" at the end.
import hashlib, sys
import nbd

h = nbd.NBD()
h.connect_uri(sys.argv[1])
n = 0
for line in sys.stdin:
    off, digest = line.split()
    data = h.pread(4096, int(off))
    n += 1
    if hashlib.sha256(data).hexdigest() != digest:
        print(f"MISMATCH {off}", flush=True)
print(f"CHECKED {n}", flush=True)
h.shutdown()
