package io.clustermd.control;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.UncheckedIOException;

/**
 * Encodes and decodes the control socket's JSON lines. A line is one compact JSON object without its
 * terminating {@code '\n'}; JSON escapes every control character inside strings, so a line never
 * contains a newline. Unknown fields are ignored in both directions, so a newer clusterctl and an
 * older daemon (or the reverse) still understand each other's common fields.
 */
public final class ControlCodec {

    /** Longest request line a server accepts, in bytes: a member path (PATH_MAX 4096) with room to spare. */
    public static final int MAX_REQUEST_LINE = 16 * 1024;

    /** Longest response line a client accepts, in bytes: a status of a few hundred members. */
    public static final int MAX_RESPONSE_LINE = 1024 * 1024;

    private static final String OPS = "status, fail, remove, add, re-add, grow, resize, check, repair, stop";

    private static final ObjectMapper MAPPER = new ObjectMapper()
            .setSerializationInclusion(JsonInclude.Include.NON_NULL)
            .disable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private ControlCodec() {
    }

    /** The mapper the protocol uses; clusterctl prints {@code --json} with the same field names. */
    public static ObjectMapper mapper() {
        return MAPPER.copy();
    }

    public static String encode(ControlRequest request) {
        ObjectNode node = MAPPER.createObjectNode();
        node.put("op", request.op());
        switch (request) {
            case ControlRequest.Fail f -> node.put("member", f.member());
            case ControlRequest.Remove r -> node.put("member", r.member());
            case ControlRequest.Add a -> node.put("member", a.member());
            case ControlRequest.ReAdd r -> node.put("member", r.member());
            case ControlRequest.Grow g -> node.put("raidDevices", g.raidDevices());
            case ControlRequest.Resize r -> node.put("size", r.sizeBytes()).put("force", r.force());
            case ControlRequest.Status s -> { }
            case ControlRequest.Check c -> { }
            case ControlRequest.Repair r -> { }
            case ControlRequest.Stop s -> { }
        }
        return write(node);
    }

    public static String encode(ControlResponse response) {
        return write(response);
    }

    public static String encode(ArrayStatus status) {
        return write(status);
    }

    /** Parses a request line; the exception's message is fit to send back as the error. */
    public static ControlRequest decodeRequest(String line) throws ControlProtocolException {
        JsonNode node = readObject(line, "request");
        JsonNode op = node.get("op");
        if (op == null || !op.isTextual()) {
            throw new ControlProtocolException("request has no \"op\" (expected one of: " + OPS + ")");
        }
        return switch (op.asText()) {
            case "status" -> new ControlRequest.Status();
            case "fail" -> new ControlRequest.Fail(member(node, "fail"));
            case "remove" -> new ControlRequest.Remove(member(node, "remove"));
            case "add" -> new ControlRequest.Add(member(node, "add"));
            case "re-add" -> new ControlRequest.ReAdd(member(node, "re-add"));
            case "grow" -> new ControlRequest.Grow(raidDevices(node));
            case "resize" -> resize(node);
            case "check" -> new ControlRequest.Check();
            case "repair" -> new ControlRequest.Repair();
            case "stop" -> new ControlRequest.Stop();
            default -> throw new ControlProtocolException("unknown op \"" + printable(op.asText())
                    + "\" (expected one of: " + OPS + ")");
        };
    }

    /** Parses a response line. */
    public static ControlResponse decodeResponse(String line) throws ControlProtocolException {
        JsonNode node = readObject(line, "response");
        JsonNode ok = node.get("ok");
        if (ok == null || !ok.isBoolean()) {
            throw new ControlProtocolException("response has no boolean \"ok\"");
        }
        if (!ok.asBoolean()) {
            JsonNode error = node.get("error");
            return ControlResponse.failure(error == null || !error.isTextual() || error.asText().isBlank()
                    ? "the daemon refused the request without saying why" : error.asText());
        }
        JsonNode status = node.get("status");
        if (status == null || status.isNull()) {
            return ControlResponse.success();
        }
        try {
            return ControlResponse.success(MAPPER.treeToValue(status, ArrayStatus.class));
        } catch (JsonProcessingException | IllegalArgumentException | NullPointerException e) {
            throw new ControlProtocolException("response has an unreadable \"status\": " + firstLine(e));
        }
    }

    private static ControlRequest.Resize resize(JsonNode node) throws ControlProtocolException {
        JsonNode n = node.get("size");
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.asLong() < 0) {
            throw new ControlProtocolException("op \"resize\" needs \"size\": bytes per member (0 = all they offer)");
        }
        JsonNode f = node.get("force");
        if (f != null && !f.isBoolean()) {
            throw new ControlProtocolException("op \"resize\": \"force\" is true or false");
        }
        return new ControlRequest.Resize(n.asLong(), f != null && f.asBoolean());
    }

    private static int raidDevices(JsonNode node) throws ControlProtocolException {
        JsonNode n = node.get("raidDevices");
        if (n == null || !n.canConvertToInt() || !n.isIntegralNumber() || n.asInt() < 1) {
            throw new ControlProtocolException("op \"grow\" needs \"raidDevices\": a whole number of at least 1");
        }
        return n.asInt();
    }

    private static String member(JsonNode node, String op) throws ControlProtocolException {
        JsonNode m = node.get("member");
        if (m == null || !m.isTextual() || m.asText().isEmpty()) {
            throw new ControlProtocolException("op \"" + op + "\" needs \"member\": the member's path");
        }
        return m.asText();
    }

    private static JsonNode readObject(String line, String what) throws ControlProtocolException {
        if (line == null || line.isBlank()) {
            throw new ControlProtocolException("empty " + what + " line (expected one JSON object)");
        }
        JsonNode node;
        try {
            node = MAPPER.readTree(line);
        } catch (JsonProcessingException e) {
            throw new ControlProtocolException("malformed JSON in " + what + ": " + firstLine(e));
        }
        if (node == null || !node.isObject()) {
            throw new ControlProtocolException(what + " is not a JSON object");
        }
        return node;
    }

    private static String write(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String firstLine(Exception e) {
        String m = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
        if (m == null) {
            return e.getClass().getSimpleName();
        }
        m = m.lines().findFirst().orElse("").strip();
        return m.length() > 200 ? m.substring(0, 200) + "..." : m;
    }

    /** An op from a client is echoed in an error: keep it short and printable. */
    private static String printable(String s) {
        String t = s.replaceAll("\\p{Cntrl}", "?");
        return t.length() > 40 ? t.substring(0, 40) + "..." : t;
    }
}
