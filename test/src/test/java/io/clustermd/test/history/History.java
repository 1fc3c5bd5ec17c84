package io.clustermd.test.history;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A consistency history: the reads and writes {@code history_client.py} recorded, one JSON line
 * each, and the harness's node events ({@code killed}, {@code recovered}), from the same or other
 * files or added here directly. Times are CLOCK_MONOTONIC nanoseconds ({@link System#nanoTime()}).
 *
 * <pre>
 * {"op":"w","node":0,"block":5,"id":17,"t0":…,"t1":…|null,"ok":true|false}
 * {"op":"r","node":1,"block":5,"t0":…,"t1":…,"ok":true,"got":[17,17,…]}
 * {"op":"killed","node":1,"t":…}     {"op":"recovered","node":1,"t":…}
 * </pre>
 *
 * <p>A {@code recovered} event says the death of that node was resolved (the survivors took over
 * its slot); the harness records it before it tells the client (the file
 * {@code recovered-<node>} of the client's control directory), so the event never comes later
 * than the client's next write of a block the dead node held.
 */
public final class History {

    /** Write id of a never-written (all-zero) sector, as the client reports it. */
    public static final long ZERO = 0;
    /** A sector that is neither zero nor a sector this test wrote to that block. */
    public static final long UNWRITTEN = -1;

    /**
     * One write of a whole block. An unfinished write ({@code ok} false: its node died before it
     * answered) has {@code t1} = {@link Long#MAX_VALUE}, its outcome unknown.
     */
    public record Write(int node, long block, long id, long t0, long t1, boolean ok) {
    }

    /** One read of a whole block; {@code got} holds the write id of each sector (see {@link #ZERO}). */
    public record Read(int node, long block, long t0, long t1, boolean ok, long[] got) {
    }

    /** What the harness did to a node. */
    public enum EventKind {
        KILLED("killed"), RECOVERED("recovered");

        private final String op;

        EventKind(String op) {
            this.op = op;
        }

        /** The name in a history line ({@code "op"}). */
        public String op() {
            return op;
        }
    }

    /** A harness event at time {@code t}. */
    public record NodeEvent(EventKind kind, int node, long t) {
        /** This event as a history line (without the line break). */
        public String toJson() {
            return "{\"op\":\"" + kind.op() + "\",\"node\":" + node + ",\"t\":" + t + "}";
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final List<Write> writes = new ArrayList<>();
    private final List<Read> reads = new ArrayList<>();
    private final List<NodeEvent> events = new ArrayList<>();

    /** The history in {@code files} (in order; a missing file is an error). */
    public static History load(Path... files) throws IOException {
        History h = new History();
        for (Path f : files) {
            h.addFile(f);
        }
        return h;
    }

    /** Adds every line of {@code file}. */
    public synchronized History addFile(Path file) throws IOException {
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int number = 0;
            while ((line = in.readLine()) != null) {
                number++;
                try {
                    addLine(line);
                } catch (IllegalArgumentException e) {
                    throw new IOException(file + ":" + number + ": " + e.getMessage(), e);
                }
            }
        }
        return this;
    }

    /** Adds one history line; blank lines are ignored. */
    public synchronized History addLine(String line) {
        if (line.isBlank()) {
            return this;
        }
        JsonNode n;
        try {
            n = JSON.readTree(line);
        } catch (IOException e) {
            throw new IllegalArgumentException("not JSON: " + line, e);
        }
        String op = text(n, "op", line);
        switch (op) {
            case "w" -> {
                boolean ok = bool(n, "ok", line);
                JsonNode t1 = n.get("t1");
                writes.add(new Write(integer(n, "node", line), number(n, "block", line), number(n, "id", line),
                        number(n, "t0", line), ok && t1 != null && !t1.isNull() ? t1.asLong() : Long.MAX_VALUE,
                        ok));
            }
            case "r" -> {
                boolean ok = bool(n, "ok", line);
                JsonNode got = n.get("got");
                long[] ids = new long[got == null || !got.isArray() ? 0 : got.size()];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = got.get(i).asLong();
                }
                if (ok && ids.length == 0) {
                    throw new IllegalArgumentException("a read without \"got\": " + line);
                }
                reads.add(new Read(integer(n, "node", line), number(n, "block", line), number(n, "t0", line),
                        number(n, "t1", line), ok, ids));
            }
            case "killed" -> events.add(event(EventKind.KILLED, n, line));
            case "recovered" -> events.add(event(EventKind.RECOVERED, n, line));
            default -> throw new IllegalArgumentException("unknown op \"" + op + "\": " + line);
        }
        return this;
    }

    /** Records that {@code node} was killed at {@code t} ({@link System#nanoTime()}). */
    public History killed(int node, long t) {
        return add(new NodeEvent(EventKind.KILLED, node, t));
    }

    /** Records that the death of {@code node} was resolved at {@code t}: survivors took over its slot. */
    public History recovered(int node, long t) {
        return add(new NodeEvent(EventKind.RECOVERED, node, t));
    }

    /** Adds a harness event. */
    public synchronized History add(NodeEvent e) {
        events.add(e);
        return this;
    }

    /** Adds a write (for synthetic histories). */
    public synchronized History add(Write w) {
        writes.add(w);
        return this;
    }

    /** Adds a read (for synthetic histories). */
    public synchronized History add(Read r) {
        reads.add(r);
        return this;
    }

    /** Every write, in the order added. */
    public synchronized List<Write> writes() {
        return List.copyOf(writes);
    }

    /** Every read, failed ones too, in the order added. */
    public synchronized List<Read> reads() {
        return List.copyOf(reads);
    }

    /** Every harness event, in the order added. */
    public synchronized List<NodeEvent> events() {
        return List.copyOf(events);
    }

    private static NodeEvent event(EventKind kind, JsonNode n, String line) {
        return new NodeEvent(kind, integer(n, "node", line), number(n, "t", line));
    }

    private static JsonNode field(JsonNode n, String name, String line) {
        JsonNode v = n.get(name);
        if (v == null || v.isNull()) {
            throw new IllegalArgumentException("no \"" + name + "\": " + line);
        }
        return v;
    }

    private static String text(JsonNode n, String name, String line) {
        return field(n, name, line).asText();
    }

    private static long number(JsonNode n, String name, String line) {
        JsonNode v = field(n, name, line);
        if (!v.isIntegralNumber()) {
            throw new IllegalArgumentException("\"" + name + "\" is not an integer: " + line);
        }
        return v.asLong();
    }

    private static int integer(JsonNode n, String name, String line) {
        return Math.toIntExact(number(n, name, line));
    }

    private static boolean bool(JsonNode n, String name, String line) {
        JsonNode v = field(n, name, line);
        if (!v.isBoolean()) {
            throw new IllegalArgumentException("\"" + name + "\" is not true or false: " + line);
        }
        return v.asBoolean();
    }
}
