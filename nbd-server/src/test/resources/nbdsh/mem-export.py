# Run by nbdsh --base-allocation against the RAM-disk export: trim, fast zero, cache, block status.
import random
import nbd

assert h.can_trim() and h.can_fast_zero() and h.can_cache() and h.can_df()
assert h.can_meta_context("base:allocation")
data = random.Random(1).randbytes(65536)
h.pwrite(data, 0)
h.trim(4096, 4096)
h.zero(4096, 16384, nbd.CMD_FLAG_FAST_ZERO)
h.cache(65536, 0)
got = h.pread(65536, 0)
assert got[:4096] == data[:4096] and got[16384:20480] == bytes(4096) and got[20480:] == data[20480:]
# DF: the whole read in one chunk
chunks = []
def chunk(buf, offset, status, error):
    chunks.append((offset, len(buf), status))
    return 0
h.pread_structured(8192, 0, chunk, nbd.CMD_FLAG_DF)
assert chunks == [(0, 8192, nbd.READ_DATA)], chunks
extents = []
def ext(metacontext, offset, entries, error):
    extents.append((metacontext, offset, list(entries)))
    return 0
h.block_status(65536, 0, ext)
assert extents and extents[0][0] == "base:allocation", extents
assert sum(extents[0][2][0::2]) == 65536, extents
print("mem export ok")
h.shutdown()
