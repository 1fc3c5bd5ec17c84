package io.clustermd.nbd;

import static io.clustermd.nbd.codec.NbdProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import io.clustermd.nbd.memory.MemoryBackend;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Random well-formed and malformed requests, pipelined over a real socket and cut into random
 * pieces, against an in-memory reference model: every reply (error code, and data for reads) must
 * match what the model says the spec requires, and the export's contents must match the model.
 */
class ModelPropertyTest {
    private static final int SIZE = 1 << 20;
    private static final int MAX_PAYLOAD = 65536;
    private static final int KNOWN_FLAGS = 0x1f;

    private static ExecutorService completions;
    private static MemoryBackend mem;
    private static NbdServer server;
    private static byte[] model;

    @BeforeContainer
    static void start() throws Exception {
        LeakWatcher.install();
        // Completions on another thread, in submission order: off the event loop, yet deterministic.
        completions = Executors.newSingleThreadExecutor();
        mem = new MemoryBackend(SIZE, completions, false) {
            @Override
            public int maximumPayload() {
                return MAX_PAYLOAD;
            }
        };
        server = NbdServer.builder().export(new NbdExport("", null, mem)).ioThreads(2)
                .listen(new NbdListener.Tcp("127.0.0.1", 0)).start();
        model = new byte[SIZE];
    }

    @AfterContainer
    static void stop() throws Exception {
        server.close();
        completions.shutdown();
        LeakWatcher.assertNoLeaks();
    }

    record Op(int type, int flags, long offset, long length, int seed) {}

    @Provide
    Arbitrary<Op> op() {
        Arbitrary<Integer> type = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(30, Arbitraries.just(NBD_CMD_WRITE)),
                net.jqwik.api.Tuple.of(30, Arbitraries.just(NBD_CMD_READ)),
                net.jqwik.api.Tuple.of(5, Arbitraries.just(NBD_CMD_FLUSH)),
                net.jqwik.api.Tuple.of(8, Arbitraries.just(NBD_CMD_TRIM)),
                net.jqwik.api.Tuple.of(8, Arbitraries.just(NBD_CMD_WRITE_ZEROES)),
                net.jqwik.api.Tuple.of(4, Arbitraries.just(NBD_CMD_CACHE)),
                net.jqwik.api.Tuple.of(3, Arbitraries.just(NBD_CMD_BLOCK_STATUS)),
                net.jqwik.api.Tuple.of(3, Arbitraries.integers().between(8, 0xffff)));
        Arbitrary<Integer> flags = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(70, Arbitraries.just(0)),
                net.jqwik.api.Tuple.of(15, Arbitraries.of(NBD_CMD_FLAG_FUA, NBD_CMD_FLAG_NO_HOLE, NBD_CMD_FLAG_FAST_ZERO,
                        NBD_CMD_FLAG_DF, NBD_CMD_FLAG_REQ_ONE)),
                net.jqwik.api.Tuple.of(15, Arbitraries.integers().between(0, 0xffff)));
        Arbitrary<Long> offset = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(80, Arbitraries.longs().between(0, SIZE - 1)),
                net.jqwik.api.Tuple.of(10, Arbitraries.longs().between(SIZE - 70_000, SIZE + 10)),
                net.jqwik.api.Tuple.of(10, Arbitraries.longs()));
        Arbitrary<Long> length = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(80, Arbitraries.longs().between(1, 20_000)),
                net.jqwik.api.Tuple.of(5, Arbitraries.just(0L)),
                net.jqwik.api.Tuple.of(10, Arbitraries.longs().between(MAX_PAYLOAD - 10, MAX_PAYLOAD + 1000)),
                net.jqwik.api.Tuple.of(5, Arbitraries.longs().between(0, 0xffffffffL)));
        return Combinators.combine(type, flags, offset, length, Arbitraries.integers())
                .as((t, f, o, l, s) -> {
                    long len = l;
                    if ((t == NBD_CMD_WRITE) && len > 200_000) {
                        len = len % 200_000; // keep payloads sent over the socket small
                    }
                    if (t == NBD_CMD_FLUSH && s % 2 == 0) {
                        return new Op(t, f, 0, 0, s);
                    }
                    return new Op(t, f, o, len, s);
                });
    }

    /** The spec's rules, restated independently of the server's validator, in its priority order. */
    private static int expectedError(Op op, boolean structured) {
        int t = op.type();
        if (t > NBD_CMD_BLOCK_STATUS || t == NBD_CMD_DISC) {
            return NBD_EINVAL;
        }
        if (t == NBD_CMD_BLOCK_STATUS) {
            return NBD_EINVAL; // no meta context negotiated in this test
        }
        int f = op.flags();
        if ((f & ~KNOWN_FLAGS) != 0
                || ((f & NBD_CMD_FLAG_NO_HOLE) != 0 && t != NBD_CMD_WRITE_ZEROES)
                || ((f & NBD_CMD_FLAG_FAST_ZERO) != 0 && t != NBD_CMD_WRITE_ZEROES)
                || ((f & NBD_CMD_FLAG_DF) != 0 && (t != NBD_CMD_READ || !structured))
                || ((f & NBD_CMD_FLAG_REQ_ONE) != 0)) {
            return NBD_EINVAL;
        }
        if (t == NBD_CMD_FLUSH) {
            return op.offset() == 0 && op.length() == 0 ? 0 : NBD_EINVAL;
        }
        if ((t == NBD_CMD_READ || t == NBD_CMD_WRITE) && op.length() > MAX_PAYLOAD) {
            return NBD_EOVERFLOW;
        }
        if (op.length() == 0) {
            return NBD_EINVAL;
        }
        boolean inRange = op.offset() >= 0 && op.offset() <= SIZE && op.length() <= SIZE - op.offset();
        if (!inRange) {
            return t == NBD_CMD_READ || t == NBD_CMD_CACHE ? NBD_EINVAL : NBD_ENOSPC;
        }
        return 0;
    }

    private static byte[] payload(Op op) {
        byte[] d = new byte[(int) op.length()];
        new Random(op.seed()).nextBytes(d);
        return d;
    }

    @Property(tries = 300)
    void everyReplyMatchesTheModel(@ForAll @net.jqwik.api.constraints.Size(max = 40) List<@net.jqwik.api.From("op") Op> ops, @ForAll boolean structured, @ForAll long splitSeed)
            throws IOException, InterruptedException {
        if (ops.size() > 40) {
            ops = ops.subList(0, 40);
        }
        ByteArrayOutputStream bo = new ByteArrayOutputStream();
        DataOutputStream o = new DataOutputStream(bo);
        Map<Long, Integer> expectedErr = new HashMap<>();
        Map<Long, byte[]> expectedData = new HashMap<>();
        long cookie = 1000;
        for (Op op : ops) {
            cookie++;
            o.writeInt(NBD_REQUEST_MAGIC);
            o.writeShort(op.flags());
            o.writeShort(op.type());
            o.writeLong(cookie);
            o.writeLong(op.offset());
            o.writeInt((int) op.length());
            if (op.type() == NBD_CMD_WRITE) {
                o.write(payload(op));
            }
            int err = expectedError(op, structured);
            expectedErr.put(cookie, err);
            if (err == 0) {
                int off = (int) op.offset();
                int len = (int) op.length();
                switch (op.type()) {
                    case NBD_CMD_WRITE -> System.arraycopy(payload(op), 0, model, off, len);
                    case NBD_CMD_READ -> expectedData.put(cookie, Arrays.copyOfRange(model, off, off + len));
                    case NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES -> Arrays.fill(model, off, off + len, (byte) 0);
                    default -> { }
                }
            }
        }
        byte[] all = bo.toByteArray();
        try (RawClient c = RawClient.tcp(server.tcpPort()).go("", structured)) {
            Random split = new Random(splitSeed);
            for (int at = 0; at < all.length; ) {
                int n = Math.min(all.length - at, 1 + split.nextInt(split.nextBoolean() ? 40 : 70_000));
                c.out.write(all, at, n);
                c.out.flush();
                at += n;
            }
            for (int i = 0; i < ops.size(); i++) {
                long ck;
                int err;
                byte[] data = null;
                int magic = c.in.readInt();
                if (magic == NBD_SIMPLE_REPLY_MAGIC) {
                    err = c.in.readInt();
                    ck = c.in.readLong();
                    if (err == 0 && expectedData.containsKey(ck)) {
                        assertThat(structured).as("simple reply to a READ after structured replies were negotiated").isFalse();
                        data = c.readData(expectedData.get(ck).length);
                    }
                } else {
                    assertThat(magic).isEqualTo(NBD_STRUCTURED_REPLY_MAGIC);
                    assertThat(structured).isTrue();
                    int flags = c.in.readUnsignedShort();
                    int type = c.in.readUnsignedShort();
                    ck = c.in.readLong();
                    int len = c.in.readInt();
                    assertThat(flags & NBD_REPLY_FLAG_DONE).isNotZero();
                    if (type == NBD_REPLY_TYPE_OFFSET_DATA) {
                        err = 0;
                        long off = c.in.readLong();
                        assertThat(off).isEqualTo(ops.get((int) (ck - 1001)).offset());
                        data = c.readData(len - 8);
                    } else {
                        assertThat(type).isEqualTo(NBD_REPLY_TYPE_ERROR);
                        err = c.in.readInt();
                        int ml = c.in.readUnsignedShort();
                        assertThat(len).isEqualTo(6 + ml);
                        c.readData(ml);
                    }
                }
                assertThat(expectedErr).containsKey(ck);
                assertThat(err).as("error for %s", ops.get((int) (ck - 1001))).isEqualTo(expectedErr.remove(ck));
                if (expectedData.containsKey(ck)) {
                    assertThat(data).as("data for %s", ops.get((int) (ck - 1001))).isEqualTo(expectedData.get(ck));
                }
            }
            assertThat(expectedErr).isEmpty();
            c.request(0, NBD_CMD_DISC, 1, 0, 0, null);
            c.flush();
            assertThat(c.closedByServer(60_000)).isTrue();
        }
        assertThat(mem.snapshot()).isEqualTo(model);
    }
}
