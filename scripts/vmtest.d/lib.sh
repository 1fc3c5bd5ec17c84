# Shell functions shared by the VM tests of scripts/vmtest.d/. Source it from a test (after
# scripts/lib.sh); it is not a test itself (not executable, so scripts/vmtest does not run it).
#
# vmt_init NAME ARGS...  parses the test's arguments ([--keep]), finds the VM lab, the tools and the
# JDK, and sets: root (the repository, also the current directory), lab, keep, t0 (start time),
# ctl and md (the launchers), work (a fresh work directory, with run/shared and img below it;
# removed at exit unless --keep or a failure set keep=1), daemon_pid, mismatches. The helpers below
# then drive one `clustermd run` at a time, with its sockets in $work/rd and its log in
# $work/NAME.log.

# vmt_init NAME [--keep] [--need TOOL]...: see above. TOOLs are checked besides mdadm, nbdcopy,
# nbdinfo and qemu-system-x86_64; "python3-nbd" stands for the system python's libnbd binding.
vmt_init() {
  vmt_name=$1; shift
  root=$(clustermd_root)
  cd "$root"
  lab=${CLUSTERMD_LAB:-$root/../shared/lab}
  [ -x "$lab/run-vms.sh" ] || { echo "$vmt_name: no VM lab at $lab (set CLUSTERMD_LAB)" >&2; exit 2; }
  keep=0
  local tools=(mdadm nbdcopy nbdinfo qemu-system-x86_64) tool
  while [ $# -gt 0 ]; do
    case "$1" in
      --keep) keep=1 ;;
      --need) tools+=("$2"); shift ;;
      *) echo "usage: scripts/vmtest.d/$vmt_name [--keep]" >&2; exit 2 ;;
    esac
    shift
  done
  for tool in "${tools[@]}"; do
    if [ "$tool" = python3-nbd ]; then
      /usr/bin/python3 -c 'import nbd' 2> /dev/null ||
        { echo "$vmt_name: the system python3 has no nbd module (Debian package python3-libnbd)" >&2; exit 2; }
      continue
    fi
    command -v "$tool" > /dev/null || { echo "$vmt_name: $tool is missing (scripts/packages)" >&2; exit 2; }
  done
  find_jdk
  t0=$(date +%s)
  ctl="$root/bin/clusterctl"
  md="$root/bin/clustermd"
  work=$(mktemp -d "${TMPDIR:-/tmp}/$vmt_name.XXXXXX")
  mkdir -p "$work/run/shared" "$work/img"
  daemon_pid="" mismatches=""
  trap vmt_cleanup EXIT
}

vmt_cleanup() {
  kill_daemon
  if [ "$keep" = 1 ]; then echo "$vmt_name: work directory kept in $work"; else rm -rf "$work"; fi
}

say() { echo "$vmt_name: $*"; }

# start_daemon NAME MEMBER...: runs `clustermd run` in the background (daemon_pid), waits until its
# control socket answers and no sync runs any more (on failure the daemon is killed). Log in
# $work/NAME.log (appended).
start_daemon() {
  local name=$1 i; shift
  "$md" run --run-dir "$work/rd" --name "$name" "$@" >> "$work/$name.log" 2>&1 &
  daemon_pid=$!
  for i in $(seq 1 300); do
    [ -S "$work/rd/$name.ctl" ] && "$ctl" status --run-dir "$work/rd" --name "$name" > /dev/null 2>&1 && break
    kill -0 "$daemon_pid" 2>/dev/null || { say "$name: clustermd run exited:"; tail -n 20 "$work/$name.log"; daemon_pid=""; return 1; }
    [ "$i" = 300 ] && { say "$name: clustermd run did not answer within 60 s"; kill_daemon; return 1; }
    sleep 0.2
  done
  wait_idle "$name" || { kill_daemon; return 1; }
}

kill_daemon() {
  [ -n "$daemon_pid" ] || return 0
  kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=""
}

# status_json NAME [PYTHON-EXPRESSION]: the daemon's `status --json`, or the expression evaluated
# on it as j (printed; nothing when the daemon does not answer).
status_json() {
  local name=$1 expr=${2:-j}
  "$ctl" status --json --run-dir "$work/rd" --name "$name" 2>/dev/null |
    python3 -c "import json,sys; j=json.load(sys.stdin); print($expr)" 2>/dev/null || true
}

# wait_idle NAME: polls `status --json` until .sync.action is idle (at most 120 s); sets mismatches
# to its mismatchCount.
wait_idle() {
  local name=$1 action="" out
  for _ in $(seq 1 240); do
    out=$(status_json "$name" 'j["sync"]["action"], j["mismatchCount"]')
    action=${out% *} mismatches=${out#* }
    [ "$action" = idle ] && return 0
    sleep 0.5
  done
  say "$name: still '${action:-?}' after 120 s"
  return 1
}

# stop_daemon NAME: `clusterctl stop`, then the daemon's exit code must be 0.
stop_daemon() {
  local name=$1 rc=0
  "$ctl" stop --run-dir "$work/rd" --name "$name" >> "$work/$name.log" 2>&1 || rc=$?
  wait "$daemon_pid" || rc=$?
  daemon_pid=""
  [ "$rc" = 0 ] || say "$name: stop failed (exit $rc)"
  return "$rc"
}

uri() { echo "nbd+unix:///?socket=$work/rd/$1.nbd"; }

# host_check NAME: `clusterctl check` on the running daemon; prints mismatch_cnt once the check is
# over (nothing if it failed). `check` answers once the check is asked for; the daemon may still be
# about to start it, so this waits for its "check done" line before the idle status that carries
# its mismatch count.
host_check() {
  local name=$1 checks
  checks=$(grep -c "$name: check done" "$work/$name.log" || true)
  "$ctl" check --run-dir "$work/rd" --name "$name" >> "$work/$name.log" 2>&1 || return 0
  for _ in $(seq 1 240); do
    [ "$(grep -c "$name: check done" "$work/$name.log" || true)" -gt "$checks" ] && break
    sleep 0.5
  done
  wait_idle "$name" >&2 && [ "$(grep -c "$name: check done" "$work/$name.log" || true)" -gt "$checks" ] &&
    echo "$mismatches"
  return 0
}

# nbd_sha NAME: sha256 of the whole array read through NBD (nothing if the read fails).
nbd_sha() {
  nbdcopy "$(uri "$1")" - | sha256sum | cut -d' ' -f1
}

# write_pattern_tool FILE: writes the pattern writer, a python script (run it with the system
# python3, /usr/bin/python3, which has libnbd's binding), to FILE:
#   python3 FILE TARGET OFFSET LENGTH TAG
# writes bytes [OFFSET, OFFSET+LENGTH) of the pattern TAG (0..255) to TARGET, a file or block device
# (created if missing, never truncated; fsync'ed) or an nbd+unix:// URI (flushed). 4 KiB block i of
# the pattern holds the 8-byte little-endian value (i << 8) | TAG, 512 times; i counts from the
# start of TARGET, so a part written at an offset is the same as that part of a whole write.
# OFFSET and LENGTH take suffixes K and M and must be multiples of 4 KiB.
write_pattern_tool() {
  cat > "$1" <<'PY'
import os, struct, sys

def size(s):
    mult = {"K": 1 << 10, "M": 1 << 20}.get(s[-1:].upper(), 1)
    return int(s[:-1] if mult > 1 else s, 0) * mult

target, off, length, tag = sys.argv[1], size(sys.argv[2]), size(sys.argv[3]), int(sys.argv[4], 0)
if off % 4096 or length % 4096 or not 0 <= tag < 256:
    sys.exit("pattern: offset and length must be multiples of 4 KiB, the tag 0..255")

def pieces():
    pos, end = off, off + length
    while pos < end:
        n = min(end - pos, 1 << 20)
        first = pos // 4096
        yield pos, b"".join(struct.pack("<Q", (i << 8) | tag) * 512 for i in range(first, first + n // 4096))
        pos += n

if target.startswith("nbd"):
    import nbd
    h = nbd.NBD()
    h.connect_uri(target)
    for pos, buf in pieces():
        h.pwrite(buf, pos)
    h.flush()
    h.shutdown()
else:
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o644)
    for pos, buf in pieces():
        os.pwrite(fd, buf, pos)
    os.fsync(fd)
    os.close(fd)
PY
}
