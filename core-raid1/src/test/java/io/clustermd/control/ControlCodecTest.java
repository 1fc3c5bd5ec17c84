package io.clustermd.control;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The control socket's lines: every request and response type, and what a malformed line gets back. */
class ControlCodecTest {

    private static final List<ControlRequest> EVERY_REQUEST = List.of(
            new ControlRequest.Status(),
            new ControlRequest.Fail("/srv/a.img"),
            new ControlRequest.Remove("/srv/a.img"),
            new ControlRequest.Add("/srv/c.img"),
            new ControlRequest.ReAdd("/srv/b.img"),
            new ControlRequest.Grow(3),
            new ControlRequest.Resize(1L << 30, false),
            new ControlRequest.Resize(0, true),
            new ControlRequest.Check(),
            new ControlRequest.Repair(),
            new ControlRequest.Stop());

    @Test
    void everyRequest_roundTrips() throws Exception {
        for (ControlRequest r : EVERY_REQUEST) {
            String line = ControlCodec.encode(r);
            assertThat(line).doesNotContain("\n");
            assertThat(ControlCodec.decodeRequest(line)).isEqualTo(r);
        }
    }

    @Test
    void requests_haveTheDocumentedWireForm() {
        assertThat(ControlCodec.encode(new ControlRequest.Status())).isEqualTo("{\"op\":\"status\"}");
        assertThat(ControlCodec.encode(new ControlRequest.Fail("/srv/a.img")))
                .isEqualTo("{\"op\":\"fail\",\"member\":\"/srv/a.img\"}");
        assertThat(ControlCodec.encode(new ControlRequest.ReAdd("/srv/b.img")))
                .isEqualTo("{\"op\":\"re-add\",\"member\":\"/srv/b.img\"}");
        assertThat(ControlCodec.encode(new ControlRequest.Stop())).isEqualTo("{\"op\":\"stop\"}");
        assertThat(ControlCodec.encode(new ControlRequest.Grow(3))).isEqualTo("{\"op\":\"grow\",\"raidDevices\":3}");
    }

    @Test
    void handWrittenRequests_decode_unknownFieldsIgnored() throws Exception {
        assertThat(ControlCodec.decodeRequest("  { \"member\" : \"/x\", \"op\" : \"remove\", \"force\": true } "))
                .isEqualTo(new ControlRequest.Remove("/x"));
        assertThat(ControlCodec.decodeRequest("{\"op\":\"check\",\"member\":\"/ignored\"}"))
                .isEqualTo(new ControlRequest.Check());
    }

    @Test
    void memberPathWithNewlineAndQuotes_staysOnOneLine() throws Exception {
        ControlRequest r = new ControlRequest.Add("/srv/we\"ird\nname.img");
        String line = ControlCodec.encode(r);
        assertThat(line).doesNotContain("\n");
        assertThat(ControlCodec.decodeRequest(line)).isEqualTo(r);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "   ", "not json", "{\"op\":", "[1,2]", "\"status\"", "42", "null",
            "{}", "{\"op\":7}", "{\"op\":\"format\"}", "{\"op\":\"fail\"}", "{\"op\":\"add\",\"member\":\"\"}",
            "{\"op\":\"re-add\",\"member\":3}", "{\"op\":\"status\"} trailing", "{\"op\":\"grow\"}",
            "{\"op\":\"grow\",\"raidDevices\":0}", "{\"op\":\"grow\",\"raidDevices\":\"3\"}",
            "{\"op\":\"grow\",\"raidDevices\":2.5}", "{\"op\":\"resize\"}", "{\"op\":\"resize\",\"size\":-1}",
            "{\"op\":\"resize\",\"size\":1024,\"force\":\"yes\"}"})
    void malformedRequests_areRefusedWithOneLineReasons(String line) {
        assertThatThrownBy(() -> ControlCodec.decodeRequest(line))
                .isInstanceOf(ControlProtocolException.class)
                .satisfies(e -> assertThat(e.getMessage()).isNotBlank().doesNotContain("\n"));
    }

    @Test
    void refusals_sayWhatIsExpected() {
        assertThatThrownBy(() -> ControlCodec.decodeRequest("{\"op\":\"format\"}"))
                .hasMessage("unknown op \"format\" (expected one of: status, fail, remove, add, re-add, grow, resize, check, repair, stop)");
        assertThatThrownBy(() -> ControlCodec.decodeRequest("{\"op\":\"fail\"}"))
                .hasMessage("op \"fail\" needs \"member\": the member's path");
        assertThatThrownBy(() -> ControlCodec.decodeRequest("{\"member\":\"/x\"}"))
                .hasMessageStartingWith("request has no \"op\"");
        assertThatThrownBy(() -> ControlCodec.decodeRequest("{oops"))
                .hasMessageStartingWith("malformed JSON in request: ");
    }

    @Test
    void statusResponse_roundTripsEveryField() throws Exception {
        ArrayStatus s = sample();
        ControlResponse back = ControlCodec.decodeResponse(ControlCodec.encode(ControlResponse.success(s)));
        assertThat(back.ok()).isTrue();
        assertThat(back.status()).isEqualTo(s);
    }

    @Test
    void statusResponse_usesLowerCaseWordsAndLeavesNullsOut() throws Exception {
        JsonNode doc = new ObjectMapper().readTree(ControlCodec.encode(ControlResponse.success(sample())));
        assertThat(doc.get("ok").asBoolean()).isTrue();
        assertThat(doc.has("error")).isFalse();
        JsonNode st = doc.get("status");
        assertThat(st.get("state").toString()).isEqualTo("[\"clean\",\"degraded\",\"recovering\"]");
        assertThat(st.get("sync").get("action").asText()).isEqualTo("recover");
        assertThat(st.get("sync").has("waiting")).isFalse();
        assertThat(st.get("members").get(1).get("state").asText()).isEqualTo("rebuilding");
        assertThat(st.get("members").get(1).get("recoveryOffsetSectors").asLong()).isEqualTo(4096);
        assertThat(st.get("members").get(0).has("major")).isFalse();
        assertThat(st.get("members").get(2).get("state").asText()).isEqualTo("faulty");
        assertThat(st.has("layout")).isFalse();
        assertThat(st.get("bitmap").get("chunkBytes").asLong()).isEqualTo(64L << 20);
        assertThat(st.get("cluster").get("nodeSlot").asInt()).isZero();
    }

    @Test
    void okWithoutStatus_andErrors_roundTrip() throws Exception {
        assertThat(ControlCodec.encode(ControlResponse.success())).isEqualTo("{\"ok\":true}");
        assertThat(ControlCodec.decodeResponse("{\"ok\":true}")).isEqualTo(ControlResponse.success());
        String line = ControlCodec.encode(ControlResponse.failure("cannot remove /a: it is active; fail it first"));
        assertThat(line).isEqualTo("{\"ok\":false,\"error\":\"cannot remove /a: it is active; fail it first\"}");
        assertThat(ControlCodec.decodeResponse(line).error()).isEqualTo("cannot remove /a: it is active; fail it first");
    }

    @Test
    void errorMessages_areFoldedToOneLine() {
        assertThat(ControlResponse.failure("first\nsecond\r\n third").error()).isEqualTo("first; second; third");
        assertThat(new ControlException("a\nb").getMessage()).isEqualTo("a; b");
        assertThatThrownBy(() -> new ControlException(" ")).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void responseFromANewerDaemon_withUnknownFields_stillDecodes() throws Exception {
        String line = "{\"ok\":true,\"future\":1,\"status\":{\"name\":\"md0\",\"level\":\"raid1\",\"raidDisks\":2,"
                + "\"arraySizeKib\":64512,\"members\":[{\"path\":\"/a\",\"devNumber\":0,\"slot\":0,\"state\":\"in_sync\","
                + "\"health\":\"good\"}],\"sync\":{\"action\":\"idle\"},\"newThing\":{\"x\":1}}}";
        ArrayStatus s = ControlCodec.decodeResponse(line).status();
        assertThat(s.name()).isEqualTo("md0");
        assertThat(s.members()).containsExactly(MemberStatus.inSync("/a", 0, 0, null));
        assertThat(s.sync().isIdle()).isTrue();
        assertThat(s.state()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "nope", "{}", "{\"ok\":\"yes\"}", "[true]",
            "{\"ok\":true,\"status\":{\"name\":\"md0\"}}",
            "{\"ok\":true,\"status\":{\"name\":\"md0\",\"level\":\"raid1\",\"sync\":{\"action\":\"dance\"}}}"})
    void malformedResponses_areRefused(String line) {
        assertThatThrownBy(() -> ControlCodec.decodeResponse(line)).isInstanceOf(ControlProtocolException.class);
    }

    @Test
    void errorResponseWithoutText_stillSaysSomething() throws Exception {
        assertThat(ControlCodec.decodeResponse("{\"ok\":false}").error()).isNotBlank();
    }

    @Test
    void stateWords_followMdadm() {
        MemberStatus a = MemberStatus.inSync("/a", 0, 0, null);
        MemberStatus b = MemberStatus.inSync("/b", 1, 1, null);
        MemberStatus bFaulty = b.withState(MemberState.FAULTY, null, null);
        assertThat(ArrayState.derive(true, 2, List.of(a, b), SyncStatus.idle())).containsExactly(ArrayState.CLEAN);
        assertThat(ArrayState.derive(false, 2, List.of(a, b), SyncStatus.running(SyncAction.RESYNC, 1, 2, 0)))
                .containsExactly(ArrayState.ACTIVE, ArrayState.RESYNCING);
        assertThat(ArrayState.derive(true, 2, List.of(a, bFaulty), SyncStatus.idle()))
                .containsExactly(ArrayState.CLEAN, ArrayState.DEGRADED);
        assertThat(ArrayState.derive(true, 2, List.of(a, b), SyncStatus.running(SyncAction.REPAIR, 1, 2, 0)))
                .containsExactly(ArrayState.CLEAN, ArrayState.RESYNCING);
        assertThat(ArrayState.derive(true, 2, List.of(a, b), SyncStatus.running(SyncAction.CHECK, 1, 2, 0)))
                .containsExactly(ArrayState.CLEAN, ArrayState.CHECKING);
        assertThat(ArrayState.derive(true, 2, List.of(bFaulty), SyncStatus.idle()))
                .containsExactly(ArrayState.CLEAN, ArrayState.DEGRADED, ArrayState.FAILED);
        SyncStatus pending = new SyncStatus(SyncAction.RESYNC, 0, 10, 0, null, SyncWait.PENDING);
        assertThat(ArrayState.derive(false, 2, List.of(a, b), pending))
                .containsExactly(ArrayState.ACTIVE, ArrayState.RESYNCING);
    }

    @Test
    void syncProgress_isValidated() {
        assertThatThrownBy(() -> SyncStatus.running(SyncAction.CHECK, 11, 10, 0))
                .hasMessageContaining("expected: 0 <= done <= total");
    }

    @Test
    void socketPaths_followTheRunDirectoryRule() {
        assertThat(ControlSockets.socketFor(ControlSockets.DEFAULT_RUN_DIR, "md0").toString())
                .isEqualTo("/run/clustermd/md0.ctl");
        assertThat(ControlSockets.nameOf(java.nio.file.Path.of("/tmp/x/data.ctl"))).isEqualTo("data");
        assertThatThrownBy(() -> ControlSockets.socketFor(ControlSockets.DEFAULT_RUN_DIR, "../etc"))
                .hasMessageContaining("plain name");
    }

    @Test
    void twinResponses_applyEveryRequest() throws Exception {
        InMemoryArrayControl twin = InMemoryArrayControl.raid1("md0", 64512, "/a", "/b");
        assertThat(ControlRequest.apply(new ControlRequest.Fail("/b"), twin).status().state())
                .containsExactly(ArrayState.CLEAN, ArrayState.DEGRADED);
        assertThat(ControlRequest.apply(new ControlRequest.Remove("/b"), twin).status().members()).hasSize(1);
        assertThat(ControlRequest.apply(new ControlRequest.ReAdd("/b"), twin).status().sync().action())
                .isEqualTo(SyncAction.RECOVER);
        twin.progress(Long.MAX_VALUE / 2, 1000);
        assertThat(ControlRequest.apply(new ControlRequest.Check(), twin).status().sync().action())
                .isEqualTo(SyncAction.CHECK);
        assertThatThrownBy(() -> ControlRequest.apply(new ControlRequest.Repair(), twin))
                .isInstanceOf(ControlException.class).hasMessageContaining("check is running");
        twin.progress(Long.MAX_VALUE / 2, 1000);
        assertThat(ControlRequest.apply(new ControlRequest.Repair(), twin).ok()).isTrue();
        assertThat(ControlRequest.apply(new ControlRequest.Add("/c"), twin).status().members()).hasSize(3);
        assertThat(ControlRequest.apply(new ControlRequest.Stop(), twin)).isEqualTo(ControlResponse.success());
        assertThat(twin.stopped()).isTrue();
    }

    static ArrayStatus sample() {
        List<MemberStatus> members = List.of(
                MemberStatus.inSync("/srv/a.img", 0, 0, "0a1b2c3d:1c2d3e4f:5a6b7c8d:9e0f0000"),
                new MemberStatus("/srv/c.img", 2, 1, MemberState.REBUILDING, 4096L, null, null, null),
                new MemberStatus("/dev/sdb", 1, null, MemberState.FAULTY, null, "x", 8, 16));
        SyncStatus sync = new SyncStatus(SyncAction.RECOVER, 4096, 129024, 20480, 3L, null);
        return new ArrayStatus("md0", "labhost:m1", "3e8d63ce:b86fbf25:30a03b41:2d523197", "raid1", null, null, 2,
                64512, 64512, ArrayState.derive(true, 2, members, sync), false, 21, 1_795_013_317L, 1_795_013_319L,
                new BitmapStatus(64L << 20, 1, 1, 1, 1, 5), members, sync, 0,
                new ClusterStatus("labclu", 0, 4, List.of(new ClusterStatus.SlotStatus(1, "node2", "active", null, null))));
    }
}
