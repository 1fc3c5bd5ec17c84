#!/usr/bin/python3
# Writes distinct 4 KiB blocks with FUA to an NBD export and prints one line per acknowledged write:
#   ACK <offset> <sha256>
# until the server goes away. Used by the crash tests: every acknowledged FUA write must survive.
import hashlib, os, sys
import nbd

uri, region_start, region_blocks, round_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
h = nbd.NBD()
h.connect_uri(uri)
block = 4096
try:
    for i in range(region_blocks):
        off = region_start + i * block
        data = (f"round {round_id} block {i} ".encode() + os.urandom(block))[:block]
        h.pwrite(data, off, nbd.CMD_FLAG_FUA)
        print(f"ACK {off} {hashlib.sha256(data).hexdigest()}", flush=True)
except nbd.Error as e:
    print(f"STOPPED {e}", flush=True)
