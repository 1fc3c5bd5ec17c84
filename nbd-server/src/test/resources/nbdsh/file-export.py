# Run by nbdsh against the read-write O_DIRECT file export; 'h' is the connected handle.
import hashlib, os, random
import nbd

def expect_error(fn, errnum, what):
    try:
        fn()
    except nbd.Error as e:
        assert e.errnum == errnum, "%s: expected errno %d, got %s (%s)" % (what, errnum, e.errnum, e.string)
        return
    raise AssertionError("%s: the server accepted it" % what)

size = h.get_size()
assert size == int(os.environ["EXPECT_SIZE"]), size
assert h.can_flush() and h.can_fua() and h.can_zero() and h.can_multi_conn()
fallocate = os.environ["EXPECT_FALLOCATE"] == "1"
assert not h.is_read_only()
assert h.can_trim() == fallocate and h.can_fast_zero() == fallocate, (h.can_trim(), h.can_fast_zero())
assert h.get_block_size(nbd.SIZE_MINIMUM) == 4096, h.get_block_size(nbd.SIZE_MINIMUM)
assert h.get_block_size(nbd.SIZE_MAXIMUM) == 32 << 20

data = random.Random(7).randbytes(1 << 20)
h.pwrite(data, 4096)
assert h.pread(len(data), 4096) == data
M = 1 << 20
h.pwrite(data[:8192], 2 * M, nbd.CMD_FLAG_FUA)
assert h.pread(8192, 2 * M) == data[:8192]
h.flush()
h.pwrite(data[:65536], 3 * M)
h.zero(8192, 3 * M + 4096)
assert h.pread(65536, 3 * M) == data[:4096] + bytes(8192) + data[12288:65536]
h.zero(4096, 3 * M + 32768, nbd.CMD_FLAG_NO_HOLE | nbd.CMD_FLAG_FUA)
assert h.pread(4096, 3 * M + 32768) == bytes(4096)
# the largest request the server advertises
big = random.Random(8).randbytes(32 << 20)
h.pwrite(big, size - (32 << 20))
assert h.pread(32 << 20, size - (32 << 20)) == big

# Errors come from the server, not from libnbd's own checks.
h.set_strict_mode(0)
expect_error(lambda: h.pread(4096, size), 22, "read past the end")
expect_error(lambda: h.pread(8192, size - 4096), 22, "read across the end")
expect_error(lambda: h.pwrite(bytes(4096), size), 28, "write past the end")
expect_error(lambda: h.zero(8192, size - 4096), 28, "zero across the end")
expect_error(lambda: h.pread(512, 512), 22, "misaligned read from a client that asked for block sizes")
if fallocate:
    h.pwrite(data[:65536], 5 * M)
    h.trim(8192, 5 * M + 4096)
    h.zero(4096, 5 * M + 20480, nbd.CMD_FLAG_FAST_ZERO)
    got = h.pread(65536, 5 * M)
    assert got[:4096] == data[:4096] and got[4096:12288] == bytes(8192), "trim punches a hole that reads as zeroes"
    assert got[20480:24576] == bytes(4096) and got[24576:] == data[24576:65536]
else:
    expect_error(lambda: h.trim(4096, 0), 22, "trim on an export without trim")
    expect_error(lambda: h.zero(4096, 0, nbd.CMD_FLAG_FAST_ZERO), 22, "fast zero not advertised")
# the connection still works after errors
assert h.pread(4096, 4096) == data[:4096]
print("sha256 %s" % hashlib.sha256(h.pread(1 << 20, 4096)).hexdigest())
h.shutdown()
