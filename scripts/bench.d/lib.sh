# Shared helpers for the benchmark suites in scripts/bench.d/. Source it; do not run it (it is not
# executable, so scripts/bench does not take it for a suite).
#
# The fio job set is the fixed one of the NBD benchmarks: 4 KiB random write/read at QD1 and QD32,
# 1 MiB sequential write/read at QD8; every job time-based with a ramp, over SIZE bytes from offset
# 0, norandommap, randrepeat=1 (the same offsets every run), one fio process = one NBD connection.

BENCH_ALL_JOBS="randwrite-4k-qd1 randwrite-4k-qd32 randread-4k-qd1 randread-4k-qd32 seqwrite-1m-qd8 seqread-1m-qd8"

# bench_job_args JOB: sets the array BENCH_JOB_ARGS to the fio options of JOB, and BENCH_JOB_SIZE to
# the bytes it covers (SIZE, but 64k for randwrite-4k-qd32-64k: every write overlaps others in flight,
# which a mirror has to order).
bench_job_args() {
  BENCH_JOB_SIZE=$SIZE
  case $1 in
    randwrite-4k-qd1) BENCH_JOB_ARGS=(--rw=randwrite --bs=4k --iodepth=1) ;;
    randwrite-4k-qd32) BENCH_JOB_ARGS=(--rw=randwrite --bs=4k --iodepth=32) ;;
    randwrite-4k-qd32-64k) BENCH_JOB_ARGS=(--rw=randwrite --bs=4k --iodepth=32); BENCH_JOB_SIZE=64k ;;
    randread-4k-qd1) BENCH_JOB_ARGS=(--rw=randread --bs=4k --iodepth=1) ;;
    randread-4k-qd32) BENCH_JOB_ARGS=(--rw=randread --bs=4k --iodepth=32) ;;
    seqwrite-1m-qd8) BENCH_JOB_ARGS=(--rw=write --bs=1m --iodepth=8) ;;
    seqread-1m-qd8) BENCH_JOB_ARGS=(--rw=read --bs=1m --iodepth=8) ;;
    *) echo "bench: unknown job $1" >&2; return 2 ;;
  esac
}

# bench_check_tools TOOL...: fails with a message naming the first missing tool; also checks that
# fio has its nbd engine.
bench_check_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "bench: $t is missing; install the packages in scripts/packages" >&2; return 2; }
  done
  fio --enghelp 2>/dev/null | grep -qw nbd || { echo "bench: this fio has no nbd engine" >&2; return 2; }
}

# bench_random_file PATH BYTES: PATH holds BYTES of random data (reads of holes would be free);
# kept when it already has that size. A new file is written back before it is used, so the first
# job does not share the disk with the page cache's writeback.
bench_random_file() {
  if [ ! -f "$1" ] || [ "$(stat -c %s "$1")" != "$2" ]; then
    echo "bench: writing $(($2 >> 20)) MiB of random data to $1" >&2
    head -c "$2" /dev/urandom > "$1.tmp" && sync "$1.tmp" && mv "$1.tmp" "$1"
  fi
}

# bench_wait_nbd URI PID: waits up to 60 s for the export to answer; fails early if PID died.
bench_wait_nbd() {
  local i
  for i in $(seq 300); do
    nbdinfo --size "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

# bench_stop PID: SIGTERM to a server this suite started, then waits for it.
bench_stop() {
  [ -n "${1:-}" ] || return 0
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# bench_cpu_ticks PID: user+system clock ticks of a process (all its threads).
bench_cpu_ticks() { local s; s=$(cat "/proc/$1/stat"); s=${s##*) }; awk '{print $12 + $13}' <<<"$s"; }

# bench_host_busy: busy and total jiffies of the whole machine, "BUSY TOTAL".
bench_host_busy() { awk '/^cpu /{t=0; for (i=2; i<=NF; i++) t+=$i; print t - $5 - $6, t; exit}' /proc/stat; }

# bench_fio JOB URI OUT SRV_PID: runs JOB against the NBD export URI (fio's nbd engine) served by
# process SRV_PID, fio's JSON into OUT; uses RUNTIME, RAMP, SIZE. Sets BENCH_SRV_CPU (% of one
# core used by the server over the whole job), BENCH_RSS_MAX_KB (the server's largest VmRSS,
# sampled every 0.5 s while fio runs), BENCH_HOST_CPU (% of one core used by the whole machine)
# and BENCH_LOAD (1-min load average at the end).
bench_fio() {
  local job=$1 uri=$2 out=$3 pid=$4 c0 c1 w0 w1 h0 h1 fp rss
  bench_job_args "$job" || return 2
  c0=$(bench_cpu_ticks "$pid")
  h0=$(bench_host_busy); w0=$(date +%s.%N)
  fio --name="$job" --ioengine=nbd --uri="$uri" "${BENCH_JOB_ARGS[@]}" --time_based=1 \
      --runtime="$RUNTIME" --ramp_time="$RAMP" --size="$BENCH_JOB_SIZE" --offset=0 --norandommap=1 \
      --randrepeat=1 --lat_percentiles=1 --percentile_list=50:99 --output-format=json > "$out" &
  fp=$!
  BENCH_RSS_MAX_KB=0
  while kill -0 "$fp" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$BENCH_RSS_MAX_KB" ] && BENCH_RSS_MAX_KB=$rss
    sleep 0.5
  done
  wait "$fp" || { echo "bench: fio failed on $uri ($job); see $out" >&2; return 1; }
  w1=$(date +%s.%N); h1=$(bench_host_busy)
  c1=$(bench_cpu_ticks "$pid")
  read -r BENCH_SRV_CPU BENCH_HOST_CPU < <(awk -v c0="$c0" -v c1="$c1" -v w0="$w0" -v w1="$w1" \
      -v hz="$(getconf CLK_TCK)" -v h0="$h0" -v h1="$h1" -v n="$(nproc)" 'BEGIN {
        split(h0, a, " "); split(h1, b, " ");
        printf "%.0f %.0f\n", 100 * (c1 - c0) / hz / (w1 - w0), 100 * n * (b[1] - a[1]) / (b[2] - a[2]) }')
  BENCH_LOAD=$(cut -d' ' -f1 /proc/loadavg)
}

# bench_fio_result JOB OUT: prints "IOPS MBps P50_US P99_US FIO_CPU_PCT" from fio's JSON output OUT.
bench_fio_result() {
  python3 - "$1" "$2" <<'PY'
import json, sys
job, raw = sys.argv[1:]
txt = open(raw).read(); j = json.loads(txt[txt.index("{"):])["jobs"][0]
d = j["write"] if "write" in job else j["read"]
p = d["lat_ns"]["percentile"]
print(f"{d['iops']:.0f} {d['bw_bytes']/1e6:.1f} {p['50.000000']/1000:.0f} {p['99.000000']/1000:.0f}"
      f" {j['usr_cpu'] + j['sys_cpu']:.0f}")
PY
}
