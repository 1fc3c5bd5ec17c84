#!/usr/bin/python3
# Records a consistency history of random reads and writes through several nodes' NBD exports of
# one array, for io.clustermd.test.history.HistoryChecker:
#   history_client.py --uris URI0,URI1,... --blocks N --seconds S --seed SEED --out FILE
#                     --control-dir DIR [--block-size 4096] [--first-block 0]
#                     [--threads-per-node 2] [--write-ratio 0.6]
#   history_client.py --final-read --uris URI0,... --blocks N --out FILE [--block-size 4096]
#                     [--first-block 0]
# Node i is URIS[i]; it gets T threads, each with its own connection. Every op picks a block of
# [first-block, first-block + N) and writes it (with probability write-ratio) or reads it. A write
# holds the block's lock until it is acknowledged, so two nodes never write one block at once.
#
# Every 512-byte sector of a written block describes itself (little-endian): magic u64, write id
# u64, block u64, sector index u64, node u32, zeros. Write ids come from one counter and increase.
#
# One JSON line per op, flushed at once (times are time.monotonic_ns(), Java's System.nanoTime()):
#   {"op":"w","node":i,"block":b,"id":ID,"t0":ns,"t1":ns|null,"ok":bool}
#   {"op":"r","node":i,"block":b,"t0":ns,"t1":ns,"ok":bool,"got":[id per sector]|null}
# got holds 0 for an all-zero sector and -1 for a sector that is neither zero nor a sector of that
# block written by this test.
#
# A failed request (the node was killed) records the write with ok=false and t1=null (its outcome
# is unknown); the thread closes its connection and reconnects every 0.3 s (the node may be started
# again on the same socket). The failed write's block stays locked until DIR/recovered-<node> holds
# an integer greater than it held when the write failed (a missing file counts as 0): the harness
# writes it once survivors took over the dead node's slot (with --retire-failed-blocks it is never
# written again, only read, so what landed of the lost write stays visible). The run ends after S seconds or when
# DIR/stop exists, and prints "DONE writes=<acknowledged> reads=<answered> failed=<failed ops>".
#
# --final-read reads every block of the range once through each node, appending reads to FILE.
import argparse, json, os, random, struct, sys, threading, time, traceback
import nbd

MAGIC = 0x434D44484953545F
SECTOR = 512
HEADER = struct.Struct("<QQQQI")
RECONNECT_S = 0.3
CONTROL_POLL_S = 0.05


def encode_block(write_id, block, node, block_size):
    out = bytearray(block_size)
    for s in range(block_size // SECTOR):
        HEADER.pack_into(out, s * SECTOR, MAGIC, write_id, block, s, node)
    return out


def decode_block(data, block, nodes):
    """Per-sector write ids: 0 for zeros, -1 for bytes this test never wrote to this block."""
    got = []
    zero = bytes(SECTOR)
    for s in range(len(data) // SECTOR):
        sector = data[s * SECTOR:(s + 1) * SECTOR]
        if sector == zero:
            got.append(0)
            continue
        magic, write_id, b, index, node = HEADER.unpack_from(sector)
        valid = (magic == MAGIC and write_id > 0 and b == block and index == s and node < nodes
                 and sector[HEADER.size:] == zero[HEADER.size:])
        got.append(write_id if valid else -1)
    return got


class Recorder:
    """Appends one JSON line per op to the history file, flushed line by line."""

    def __init__(self, path):
        self.file = open(path, "a", buffering=1)
        self.lock = threading.Lock()
        self.writes = 0
        self.reads = 0
        self.failed = 0

    def write(self, node, block, write_id, t0, t1, ok):
        self._line({"op": "w", "node": node, "block": block, "id": write_id, "t0": t0, "t1": t1, "ok": ok},
                   "writes", ok)

    def read(self, node, block, t0, t1, ok, got):
        self._line({"op": "r", "node": node, "block": block, "t0": t0, "t1": t1, "ok": ok, "got": got},
                   "reads", ok)

    def _line(self, record, counter, ok):
        text = json.dumps(record, separators=(",", ":")) + "\n"
        with self.lock:
            self.file.write(text)
            self.file.flush()
            if ok:
                setattr(self, counter, getattr(self, counter) + 1)
            else:
                self.failed += 1

    def close(self):
        self.file.close()


def recovered_count(control_dir, node):
    try:
        with open(os.path.join(control_dir, f"recovered-{node}")) as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0
    except ValueError:
        return 0  # being written: read again at the next poll


class Run:
    """The shared state of one run: block locks, write ids, blocks held by failed writes, stop."""

    def __init__(self, args, uris):
        self.args = args
        self.uris = uris
        self.block_locks = {b: threading.Lock() for b in range(args.first_block, args.first_block + args.blocks)}
        self.id_lock = threading.Lock()
        self.next_id = 1
        self.held = {}  # block -> (node, recovered count when its write failed): locked until recovery
        self.held_lock = threading.Lock()
        self.stop = threading.Event()
        self.error = None
        self.recorder = Recorder(args.out)

    def new_id(self):
        with self.id_lock:
            write_id = self.next_id
            self.next_id += 1
            return write_id

    def hold_until_recovered(self, block, node):
        with self.held_lock:
            self.held[block] = (node, recovered_count(self.args.control_dir, node))

    def is_held(self, block):
        with self.held_lock:
            return block in self.held

    def control_loop(self, deadline):
        """Ends the run on time or on DIR/stop; releases blocks whose failed write's node recovered."""
        stop_file = os.path.join(self.args.control_dir, "stop")
        while not self.stop.is_set():
            if time.monotonic() >= deadline or os.path.exists(stop_file):
                self.stop.set()
                return
            if not self.args.retire_failed_blocks:
                with self.held_lock:
                    for block, (node, count) in list(self.held.items()):
                        if recovered_count(self.args.control_dir, node) > count:
                            del self.held[block]
                            self.block_locks[block].release()
            self.stop.wait(CONTROL_POLL_S)

    def connect(self, node):
        """A connection to the node, retried every 0.3 s until it succeeds; None if the run ended."""
        while not self.stop.is_set():
            h = nbd.NBD()
            try:
                h.connect_uri(self.uris[node])
                return h
            except nbd.Error:
                del h  # libnbd closes a handle when its last reference goes
                self.stop.wait(RECONNECT_S)
        return None

    def worker(self, node, thread):
        try:
            self._work(node, thread)
        except BaseException:
            self.error = traceback.format_exc()
            self.stop.set()

    def _work(self, node, thread):
        args = self.args
        rng = random.Random(args.seed * 1000 + thread)
        h = self.connect(node)
        while h is not None and not self.stop.is_set():
            block = rng.randrange(args.first_block, args.first_block + args.blocks)
            if rng.random() < args.write_ratio:
                ok = self._write(h, node, block)
            else:
                ok = self._read(h, node, block)
            if not ok:
                h = None  # closes the broken connection
                h = self.connect(node)
        if h is not None:
            try:
                h.shutdown()
            except nbd.Error:
                pass

    def _write(self, h, node, block):
        if self.is_held(block):
            return True  # its last write's outcome is still unknown: leave it for now
        lock = self.block_locks[block]
        while not lock.acquire(timeout=CONTROL_POLL_S):
            if self.stop.is_set():
                return True
        write_id = self.new_id()
        data = encode_block(write_id, block, node, self.args.block_size)
        t0 = time.monotonic_ns()
        try:
            h.pwrite(data, block * self.args.block_size)
        except nbd.Error:
            self.recorder.write(node, block, write_id, t0, None, False)
            self.hold_until_recovered(block, node)
            return False
        t1 = time.monotonic_ns()
        self.recorder.write(node, block, write_id, t0, t1, True)
        lock.release()
        return True

    def _read(self, h, node, block):
        ok, got, t0, t1 = read_block(h, block, self.args.block_size, len(self.uris))
        self.recorder.read(node, block, t0, t1, ok, got)
        return ok


def read_block(h, block, block_size, nodes):
    t0 = time.monotonic_ns()
    try:
        data = h.pread(block_size, block * block_size)
    except nbd.Error:
        return False, None, t0, time.monotonic_ns()
    t1 = time.monotonic_ns()
    return True, decode_block(data, block, nodes), t0, t1


def final_read(args, uris):
    recorder = Recorder(args.out)
    try:
        for node, uri in enumerate(uris):
            h = nbd.NBD()
            h.connect_uri(uri)
            for block in range(args.first_block, args.first_block + args.blocks):
                ok, got, t0, t1 = read_block(h, block, args.block_size, len(uris))
                recorder.read(node, block, t0, t1, ok, got)
            h.shutdown()
    finally:
        recorder.close()
    print(f"DONE writes=0 reads={recorder.reads} failed={recorder.failed}", flush=True)
    return 0


def run(args, uris):
    r = Run(args, uris)
    deadline = time.monotonic() + args.seconds
    threads = []
    for node in range(len(uris)):
        for t in range(args.threads_per_node):
            thread = node * args.threads_per_node + t
            threads.append(threading.Thread(target=r.worker, args=(node, thread), name=f"node{node}-{t}"))
    for t in threads:
        t.start()
    r.control_loop(deadline)
    for t in threads:
        t.join()
    r.recorder.close()
    if r.error is not None:
        sys.stderr.write(r.error)
        return 1
    rec = r.recorder
    print(f"DONE writes={rec.writes} reads={rec.reads} failed={rec.failed}", flush=True)
    return 0


def main():
    p = argparse.ArgumentParser(description="records a consistency history over NBD")
    p.add_argument("--uris", required=True)
    p.add_argument("--blocks", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seconds", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--control-dir")
    p.add_argument("--block-size", type=int, default=4096)
    p.add_argument("--first-block", type=int, default=0)
    p.add_argument("--threads-per-node", type=int, default=2)
    p.add_argument("--write-ratio", type=float, default=0.6)
    p.add_argument("--final-read", action="store_true")
    # A block whose write's outcome is unknown (its node was killed) is never written again, only read:
    # whatever landed of that write stays until the end, so a resync that did not happen (legs that
    # differ there) shows in the reads of every node and in 'check' instead of being overwritten.
    p.add_argument("--retire-failed-blocks", action="store_true")
    args = p.parse_args()
    uris = args.uris.split(",")
    if args.block_size % SECTOR != 0 or args.block_size <= 0:
        p.error("--block-size must be a multiple of 512")
    if args.final_read:
        return final_read(args, uris)
    for name in ("seconds", "seed", "control_dir"):
        if getattr(args, name) is None:
            p.error(f"--{name.replace('_', '-')} is required (unless --final-read)")
    return run(args, uris)


if __name__ == "__main__":
    sys.exit(main())
