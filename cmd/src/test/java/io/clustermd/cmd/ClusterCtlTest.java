package io.clustermd.cmd;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.clustermd.md.MemberFiles;
import io.clustermd.md.ReferenceMembers;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Command-line behaviour of clusterctl: JSON, exit codes, one-line errors, nothing written on refusal. */
class ClusterCtlTest {

    @TempDir
    Path dir;

    record Result(int rc, String out, String err) {
    }

    static Result run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int rc = ClusterCtl.run(args, new PrintWriter(out), new PrintWriter(err));
        return new Result(rc, out.toString(), err.toString());
    }

    @Test
    void examineJson_clusteredReference_givesTheSameFacts() throws Exception {
        Path m = ReferenceMembers.unpack("m2-a", dir);
        Result r = run("examine", "--json", m.toString());

        assertThat(r.rc()).isZero();
        JsonNode doc = new ObjectMapper().readTree(r.out()).get(0);
        assertThat(doc.get("arrayUuid").asText()).isEqualTo("f54b230b:08fda922:8513ad8c:73a17a57");
        assertThat(doc.get("featureMap").asInt()).isEqualTo(0x101);
        assertThat(doc.get("clusterName").asText()).isEqualTo("labclu");
        assertThat(doc.get("events").asLong()).isEqualTo(19);
        assertThat(doc.get("checksumCorrect").asBoolean()).isTrue();
        assertThat(doc.get("state").asText()).isEqualTo("active");
        assertThat(doc.get("arrayState").asText()).isEqualTo("AA");
    }

    @Test
    void examineBitmapJson_listsEverySlot() throws Exception {
        Path m = ReferenceMembers.unpack("m2-b", dir);
        Result r = run("examine-bitmap", "--json", m.toString());

        JsonNode doc = new ObjectMapper().readTree(r.out()).get(0);
        assertThat(doc.get("clusterNodes").asInt()).isEqualTo(4);
        assertThat(doc.get("slots")).hasSize(4);
        assertThat(doc.get("slots").get(0).get("events").asLong()).isEqualTo(19);
        assertThat(doc.get("slots").get(3).get("byteOffset").asLong()).isEqualTo(8192 + 3 * 4096);
    }

    @Test
    void create_thenExamine_roundTripsThroughTheCommandLine() throws Exception {
        List<Path> members = MemberFiles.sparse(dir, "m", 3, 200L << 20);
        Result created = run("create", "--level=10", "--layout=n2", "--chunk=64K", "--raid-devices=3",
                "--bitmap=clustered", "--nodes=8", "--home-cluster=prod", "--name=data", "--homehost=h1",
                "--bitmap-chunk=1M", members.get(0).toString(), members.get(1).toString(), members.get(2).toString());
        assertThat(created.rc()).as(created.err()).isZero();

        Result ex = run("examine", "--homehost", "h1", members.get(1).toString());
        assertThat(ex.rc()).isZero();
        assertThat(ex.out()).contains("           Name : h1:data  (local to host h1)",
                "     Raid Level : raid10", "         Layout : near=2", "     Chunk Size : 64K",
                "   Raid Devices : 3", "   Device Role : Active device 1", "   Array State : AAA");
        Result x = run("examine-bitmap", members.get(2).toString());
        assertThat(x.out()).contains("   Cluster nodes : 8", "       Chunksize : 1 MB", "       Node Slot : 7");
    }

    @Test
    void errors_areOneLineWithExitCodeOne() throws Exception {
        Path empty = Files.createFile(dir.resolve("empty.img"));
        Result r = run("examine", empty.toString(), dir.resolve("missing.img").toString());

        assertThat(r.rc()).isEqualTo(1);
        assertThat(r.err().strip().split("\n")).hasSize(2)
                .allMatch(line -> line.startsWith("clusterctl: "));
        assertThat(r.err()).contains("too small for md", "missing.img: no such file or device");
    }

    @Test
    void usageErrors_exitTwoAndPointToHelp() {
        Result r = run("create", "--level=1", "a.img");
        assertThat(r.rc()).isEqualTo(2);
        assertThat(r.err()).contains("Missing required option", "--help");
    }

    @Test
    void create_refused_changesNoMember() {
        List<Path> members = MemberFiles.sparse(dir, "m", 2, 64L << 20);
        List<String> before = MemberFiles.fingerprints(members);

        Result r = run("create", "--level=1", "--raid-devices=2", "--name=x", "--home-cluster=c", "--nodes=500",
                "--bitmap-chunk=4K", members.get(0).toString(), members.get(1).toString());

        assertThat(r.rc()).isEqualTo(1);
        assertThat(r.err()).startsWith("clusterctl: ").contains("does not fit");
        assertThat(MemberFiles.fingerprints(members)).isEqualTo(before);
    }

    @Test
    void examine_membersOfTwoArrays_reportedAsAnError() {
        List<Path> a = MemberFiles.sparse(dir, "a", 2, 64L << 20);
        List<Path> b = MemberFiles.sparse(dir, "b", 2, 64L << 20);
        for (List<Path> set : List.of(a, b)) {
            List<String> args = new ArrayList<>(List.of("create", "--level=1", "--raid-devices=2", "--name=x",
                    "--bitmap=internal"));
            set.forEach(p -> args.add(p.toString()));
            assertThat(run(args.toArray(String[]::new)).rc()).isZero();
        }
        Result r = run("examine", a.get(0).toString(), b.get(1).toString());
        assertThat(r.rc()).isEqualTo(1);
        assertThat(r.err()).contains("belong to 2 different arrays");
    }
}
