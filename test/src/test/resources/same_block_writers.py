#!/usr/bin/python3
# Several NBD connections write different bytes to the same 4 KiB blocks at the same moment:
#   same_block_writers.py URI CONNECTIONS ROUNDS BLOCKS_PER_ROUND REGION_BLOCKS
# Round r sends, on every connection, one write of each of BLOCKS_PER_ROUND consecutive blocks
# starting at block (r * BLOCKS_PER_ROUND) % REGION_BLOCKS, every connection with its own bytes, all
# before any reply is awaited; then every reply is awaited before the next round. Which write lands
# last is up to the server; every leg of a mirror must end up with the same one. Prints
# "DONE <writes>" when every write was acknowledged; exits 1 on the first error.
import struct, sys
import nbd

uri = sys.argv[1]
connections, rounds, per_round, region = (int(a) for a in sys.argv[2:6])
block = 4096
handles = []
for _ in range(connections):
    h = nbd.NBD()
    h.connect_uri(uri)
    handles.append(h)

writes = 0
for r in range(rounds):
    first = (r * per_round) % region
    buffers = []  # libnbd needs each buffer alive until its write completed
    cookies = [[] for _ in handles]
    for c, h in enumerate(handles):
        for i in range(per_round):
            data = struct.pack("<III", r, c, first + i) * (block // 12) + bytes(block % 12)
            buf = nbd.Buffer.from_bytearray(bytearray(data))
            buffers.append(buf)
            cookies[c].append(h.aio_pwrite(buf, (first + i) * block))
            writes += 1
    for c, h in enumerate(handles):
        while h.aio_in_flight() > 0:
            h.poll(-1)
        for cookie in cookies[c]:
            h.aio_command_completed(cookie)  # raises nbd.Error if the server failed the write

for h in handles:
    h.shutdown()
print(f"DONE {writes}", flush=True)
