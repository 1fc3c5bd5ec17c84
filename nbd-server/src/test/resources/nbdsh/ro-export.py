# Run by nbdsh against the read-only export.
import nbd
assert h.is_read_only()
assert not h.can_zero() and not h.can_trim()
h.set_strict_mode(0)
for what, fn in (("write", lambda: h.pwrite(bytes(4096), 0)),
                 ("zero", lambda: h.zero(4096, 0))):
    try:
        fn()
        raise AssertionError(what + " on a read-only export was accepted")
    except nbd.Error as e:
        assert e.errnum in (1, 22), (what, e.errnum, e.string)   # EPERM, or EINVAL for a command not offered
        if what == "write":
            assert e.errnum == 1, e.errnum
assert len(h.pread(4096, 0)) == 4096
print("ro export ok")
h.shutdown()
