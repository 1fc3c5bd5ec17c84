package io.clustermd.cmd.online;

import io.clustermd.control.ArrayState;
import io.clustermd.control.ArrayStatus;
import io.clustermd.control.MemberState;
import io.clustermd.control.MemberStatus;
import io.clustermd.control.SyncAction;
import io.clustermd.control.SyncStatus;
import io.clustermd.control.SyncWait;
import org.junit.jupiter.api.Test;

import java.time.ZoneOffset;
import java.util.List;

import static io.clustermd.cmd.online.Statuses.m1;
import static io.clustermd.cmd.online.Statuses.vd;
import static org.assertj.core.api.Assertions.assertThat;

/** mdadm --detail text: the reference outputs of mdadm 4.2, field for field, and the degraded shapes. */
class DetailFormatTest {

    private static final MemberStatus A = vd("vda", 0, 254, 0);
    private static final MemberStatus B = vd("vdb", 1, 254, 16);

    @Test
    void healthyRaid1_isTheReferenceDetail() {
        // m1-raid1 04-detail.txt; only the first line names our array instead of /dev/md0
        assertThat(DetailFormat.detail(Statuses.m1Healthy(), "node1", ZoneOffset.UTC)).containsExactly(
                "md-m1:",
                "           Version : 1.2",
                "     Creation Time : Sat Nov 21 14:48:37 2026",
                "        Raid Level : raid1",
                "        Array Size : 64512 (63.00 MiB 66.06 MB)",
                "     Used Dev Size : 64512 (63.00 MiB 66.06 MB)",
                "      Raid Devices : 2",
                "     Total Devices : 2",
                "       Persistence : Superblock is persistent",
                "",
                "     Intent Bitmap : Internal",
                "",
                "       Update Time : Sat Nov 21 14:48:39 2026",
                "             State : clean ",
                "    Active Devices : 2",
                "   Working Devices : 2",
                "    Failed Devices : 0",
                "     Spare Devices : 0",
                "",
                "Consistency Policy : bitmap",
                "",
                "              Name : labhost:m1",
                "              UUID : 3e8d63ce:b86fbf25:30a03b41:2d523197",
                "            Events : 18",
                "",
                "    Number   Major   Minor   RaidDevice State",
                "       0     254        0        0      active sync   /dev/vda",
                "       1     254       16        1      active sync   /dev/vdb");
    }

    @Test
    void clusteredRaid1_isTheReferenceDetail() {
        // m2-cluster-single 13-detail.txt
        List<String> d = DetailFormat.detail(Statuses.m2Clustered(), "node1", ZoneOffset.UTC);
        assertThat(d).contains(
                "     Creation Time : Sat Nov 21 14:49:04 2026",
                "     Intent Bitmap : Internal(Clustered)",
                "       Update Time : Sat Nov 21 14:49:05 2026");
        assertThat(d.subList(20, d.size())).containsExactly(
                "",
                "              Name : node1:m2  (local to host node1)",
                "      Cluster Name : labclu                                                          ",
                "              UUID : f54b230b:08fda922:8513ad8c:73a17a57",
                "            Events : 18",
                "",
                "    Number   Major   Minor   RaidDevice State",
                "       0     254        0        0      active sync   /dev/vda",
                "       1     254       16        1      active sync   /dev/vdb");
    }

    @Test
    void failedMember_leavesARemovedSlot_andAFaultyRowAfterABlankLine() {
        ArrayStatus s = m1(List.of(A, B.withState(MemberState.FAULTY, null, null)), SyncStatus.idle(), true, 0);
        List<String> d = DetailFormat.detail(s, "node1", ZoneOffset.UTC);
        assertThat(d).contains("             State : clean, degraded ", "    Active Devices : 1",
                "   Working Devices : 1", "    Failed Devices : 1", "     Spare Devices : 0");
        assertThat(d.subList(d.size() - 5, d.size())).containsExactly(
                "    Number   Major   Minor   RaidDevice State",
                "       0     254        0        0      active sync   /dev/vda",
                "       -       0        0        1      removed",
                "",
                "       1     254       16        -      faulty   /dev/vdb");
    }

    @Test
    void recovery_showsRebuildStatus_spareRebuilding_andFileMembersWithoutNumbers() {
        MemberStatus c = new MemberStatus("/srv/c.img", 2, 1, MemberState.REBUILDING, 32768L, null, null, null);
        MemberStatus d = new MemberStatus("/srv/d.img", 3, null, MemberState.SPARE, null, null, null, null);
        ArrayStatus s = m1(List.of(A, c, d), SyncStatus.running(SyncAction.RECOVER, 32768, 129024, 8192), true, 0);
        List<String> out = DetailFormat.detail(s, "node1", ZoneOffset.UTC);
        assertThat(out).contains("             State : clean, degraded, recovering ", "    Active Devices : 1",
                "   Working Devices : 3", "    Failed Devices : 0", "     Spare Devices : 2", "     Total Devices : 3");
        int policy = out.indexOf("Consistency Policy : bitmap");
        assertThat(out.subList(policy, policy + 5)).containsExactly(
                "Consistency Policy : bitmap", "", "    Rebuild Status : 25% complete", "",
                "              Name : labhost:m1");
        assertThat(out.subList(out.size() - 5, out.size())).containsExactly(
                "    Number   Major   Minor   RaidDevice State",
                "       0     254        0        0      active sync   /dev/vda",
                "       2       -        -        1      spare rebuilding   /srv/c.img",
                "",
                "       3       -        -        -      spare   /srv/d.img");
    }

    @Test
    void checkAndResync_statusLines_andMismatchCount() {
        ArrayStatus checking = m1(List.of(A, B), SyncStatus.running(SyncAction.CHECK, 65536, 129024, 1), true, 64);
        List<String> d = DetailFormat.detail(checking, "node1", ZoneOffset.UTC);
        assertThat(d).contains("             State : clean, checking ", "      Check Status : 50% complete",
                "    Mismatch Count : 64");
        ArrayStatus resync = m1(List.of(A, B), SyncStatus.running(SyncAction.RESYNC, 114048, 129024, 1), false, 0);
        assertThat(DetailFormat.detail(resync, "node1", ZoneOffset.UTC))
                .contains("             State : active, resyncing ", "     Resync Status : 87% complete")
                .noneMatch(l -> l.contains("Mismatch"));
        ArrayStatus pending = m1(List.of(A, B), new SyncStatus(SyncAction.RESYNC, 0, 129024, 0, null, SyncWait.PENDING),
                false, 0);
        assertThat(DetailFormat.detail(pending, "node1", ZoneOffset.UTC))
                .contains("             State : active, resyncing (PENDING) ")
                .noneMatch(l -> l.contains("Resync Status"));
    }

    @Test
    void raid10_printsLayoutAndChunk_noBitmapMeansResyncPolicy() {
        List<MemberStatus> four = List.of(A, B, vd("vdc", 2, 254, 32), vd("vdd", 3, 254, 48));
        ArrayStatus r10 = new ArrayStatus("data", "h1:data", "u", "raid10", 0x102, 512, 4, 4_194_304, 2_097_152,
                ArrayState.derive(true, 4, four, SyncStatus.idle()), false, 5, 0, 0, null, four, SyncStatus.idle(), 0,
                null);
        List<String> d = DetailFormat.detail(r10, "h1", ZoneOffset.UTC);
        assertThat(d).contains("        Array Size : 4194304 (4.00 GiB 4.29 GB)",
                "     Used Dev Size : 2097152 (2.00 GiB 2.15 GB)");
        int spare = d.indexOf("     Spare Devices : 0");
        assertThat(d.subList(spare, spare + 7)).containsExactly(
                "     Spare Devices : 0", "", "            Layout : near=2", "        Chunk Size : 512K", "",
                "Consistency Policy : resync", "");
        assertThat(d).doesNotContain("     Intent Bitmap : Internal").contains("              Name : h1:data  (local to host h1)");
        assertThat(DetailFormat.raid10Layout(0x201)).isEqualTo("far=2");
        assertThat(DetailFormat.raid10Layout(0x10201)).isEqualTo("offset=2");
    }
}
