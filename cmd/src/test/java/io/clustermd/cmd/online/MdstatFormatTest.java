package io.clustermd.cmd.online;

import io.clustermd.control.ArrayState;
import io.clustermd.control.ArrayStatus;
import io.clustermd.control.ClusterStatus;
import io.clustermd.control.MemberState;
import io.clustermd.control.MemberStatus;
import io.clustermd.control.SyncAction;
import io.clustermd.control.SyncStatus;
import io.clustermd.control.SyncWait;
import org.junit.jupiter.api.Test;

import java.util.List;

import static io.clustermd.cmd.online.Statuses.m1;
import static io.clustermd.cmd.online.Statuses.vd;
import static org.assertj.core.api.Assertions.assertThat;

/** /proc/mdstat text, checked line by line against what the kernel printed for the reference arrays. */
class MdstatFormatTest {

    private static final MemberStatus A = vd("vda", 0, 254, 0);
    private static final MemberStatus B = vd("vdb", 1, 254, 16);

    @Test
    void healthy_matchesTheKernelsMdstat() {
        // reference m1-raid1 03-mdstat.txt; the kernel lists members newest first, we by dev_number
        assertThat(MdstatFormat.mdstat(Statuses.m1Healthy())).containsExactly(
                "Personalities : [raid1] [raid10] ",
                "md-m1 : active raid1 vda[0] vdb[1]",
                "      64512 blocks super 1.2 [2/2] [UU]",
                "      bitmap: 1/1 pages [4KB], 65536KB chunk",
                "",
                "unused devices: <none>");
    }

    @Test
    void resync_progressLinesMatchTheKernelsByteForByte() {
        // m2-cluster-single 11-mdstat-after-create.txt and m1-raid1 02-mdstat-during-resync.txt
        ArrayStatus at874 = m1(List.of(A, B), SyncStatus.running(SyncAction.RESYNC, 114048, 129024, 57024), false, 0);
        assertThat(MdstatFormat.mdstat(at874)).containsExactly(
                "Personalities : [raid1] [raid10] ",
                "md-m1 : active raid1 vda[0] vdb[1]",
                "      64512 blocks super 1.2 [2/2] [UU]",
                "      [=================>...]  resync = 87.4% (57024/64512) finish=0.0min speed=57024K/sec",
                "      bitmap: 1/1 pages [4KB], 65536KB chunk",
                "",
                "unused devices: <none>");
        assertThat(MdstatFormat.progressLine(SyncStatus.running(SyncAction.RESYNC, 81920, 129024, 40960)))
                .isEqualTo("[============>........]  resync = 62.9% (40960/64512) finish=0.0min speed=40960K/sec");
    }

    @Test
    void resync_waitingLongerThanASecond_saysWhatFor() {
        SyncStatus waiting = new SyncStatus(SyncAction.RESYNC, 2048, 129024, 0, null, null,
                "2 foreground write(s) in flight in the sync window at byte 1048576");
        assertThat(MdstatFormat.mdstat(m1(List.of(A, B), waiting, false, 0))).containsSubsequence(
                "      [>....................]  resync =  1.5% (1024/64512) finish=66.1min speed=0K/sec",
                "      waiting for 2 foreground write(s) in flight in the sync window at byte 1048576",
                "      bitmap: 1/1 pages [4KB], 65536KB chunk");
    }

    @Test
    void progressBar_atTheEnds_andFinishEstimate() {
        assertThat(MdstatFormat.progressLine(SyncStatus.running(SyncAction.RECOVER, 0, 2_097_152, 0)))
                .isEqualTo("[>....................]  recovery =  0.0% (0/1048576) finish=1092.2min speed=0K/sec");
        assertThat(MdstatFormat.progressLine(SyncStatus.running(SyncAction.RECOVER, 1_048_576, 2_097_152, 1024)))
                .isEqualTo("[=========>...........]  recovery = 49.9% (524288/1048576) finish=8.5min speed=1024K/sec");
        assertThat(MdstatFormat.progressLine(SyncStatus.running(SyncAction.CHECK, 2_097_152, 2_097_152, 5000)))
                .isEqualTo("[===================>.]  check = 99.9% (1048576/1048576) finish=0.0min speed=5000K/sec");
        assertThat(MdstatFormat.progressLine(new SyncStatus(SyncAction.RESYNC, 0, 1000, 10, 754L, null)))
                .endsWith("finish=12.5min speed=10K/sec");
    }

    @Test
    void degraded_showsTheMissingSlotAndTheFaultyMember() {
        MemberStatus bFaulty = B.withState(MemberState.FAULTY, null, null);
        ArrayStatus s = m1(List.of(A, bFaulty), SyncStatus.idle(), true, 0);
        assertThat(MdstatFormat.array(s)).containsExactly(
                "md-m1 : active raid1 vda[0] vdb[1](F)",
                "      64512 blocks super 1.2 [2/1] [U_]",
                "      bitmap: 1/1 pages [4KB], 65536KB chunk",
                "");
        ArrayStatus removed = m1(List.of(B), SyncStatus.idle(), true, 0);
        assertThat(MdstatFormat.array(removed).get(1)).isEqualTo("      64512 blocks super 1.2 [2/1] [_U]");
    }

    @Test
    void recovery_ontoARebuildingMember_andASpare() {
        MemberStatus c = new MemberStatus("/srv/c.img", 2, 1, MemberState.REBUILDING, 32768L, null, null, null);
        MemberStatus d = new MemberStatus("/srv/d.img", 3, null, MemberState.SPARE, null, null, null, null);
        ArrayStatus s = m1(List.of(A, c, d), SyncStatus.running(SyncAction.RECOVER, 32768, 129024, 8192), true, 0);
        assertThat(MdstatFormat.array(s)).containsExactly(
                "md-m1 : active raid1 vda[0] c.img[2] d.img[3](S)",
                "      64512 blocks super 1.2 [2/1] [U_]",
                "      [=====>...............]  recovery = 25.1% (16384/64512) finish=0.0min speed=8192K/sec",
                "      bitmap: 1/1 pages [4KB], 65536KB chunk",
                "");
    }

    @Test
    void check_showsMismatchCount_andRepairReadsAsResync() {
        ArrayStatus checking = m1(List.of(A, B), SyncStatus.running(SyncAction.CHECK, 65536, 129024, 30000), true, 128);
        assertThat(MdstatFormat.array(checking)).containsExactly(
                "md-m1 : active raid1 vda[0] vdb[1]",
                "      64512 blocks super 1.2 [2/2] [UU]",
                "      [==========>..........]  check = 50.3% (32768/64512) finish=0.0min speed=30000K/sec",
                "      mismatch_cnt: 128",
                "      bitmap: 1/1 pages [4KB], 65536KB chunk",
                "");
        ArrayStatus repairing = m1(List.of(A, B), SyncStatus.running(SyncAction.REPAIR, 0, 129024, 0), true, 0);
        assertThat(MdstatFormat.array(repairing).get(2)).contains("  resync =  0.0% (0/64512)");
        ArrayStatus afterCheck = m1(List.of(A, B), SyncStatus.idle(), true, 8);
        assertThat(MdstatFormat.array(afterCheck)).contains("      mismatch_cnt: 8");
        assertThat(MdstatFormat.array(Statuses.m1Healthy())).noneMatch(l -> l.contains("mismatch"));
    }

    @Test
    void waitingResync_isPendingDelayedOrRemote() {
        ArrayStatus pending = m1(List.of(A, B), new SyncStatus(SyncAction.RESYNC, 0, 129024, 0, null, SyncWait.PENDING),
                false, 0);
        assertThat(MdstatFormat.array(pending).get(2)).isEqualTo("      \tresync=PENDING");
        assertThat(MdstatFormat.progressLine(new SyncStatus(SyncAction.RESYNC, 0, 8, 0, null, SyncWait.REMOTE)))
                .isEqualTo("\tresync=REMOTE");
    }

    @Test
    void raid10_andNoBitmap_followRaid10StatusAndMdSeqShow() {
        List<MemberStatus> four = List.of(A, B, vd("vdc", 2, 254, 32), vd("vdd", 3, 254, 48));
        ArrayStatus r10 = new ArrayStatus("data", "h:data", "u", "raid10", 0x102, 512, 4, 129024, 64512,
                ArrayState.derive(true, 4, four, SyncStatus.idle()), false, 5, 0, 0, null, four, SyncStatus.idle(), 0,
                null);
        assertThat(MdstatFormat.array(r10)).containsExactly(
                "md-data : active raid10 vda[0] vdb[1] vdc[2] vdd[3]",
                "      129024 blocks super 1.2 512K chunks 2 near-copies [4/4] [UUUU]",
                "      ");
    }

    @Test
    void clustered_addsThisNodesSlotAndWhatOtherSlotsDo() {
        assertThat(MdstatFormat.array(Statuses.m2Clustered())).containsExactly(
                "md-m2 : active raid1 vda[0] vdb[1]",
                "      64512 blocks super 1.2 [2/2] [UU]",
                "      bitmap: 1/1 pages [4KB], 65536KB chunk",
                "      cluster labclu: this node is slot 0 of 4 slots",
                "");
        ArrayStatus s = Statuses.m2Clustered();
        ArrayStatus remote = new ArrayStatus(s.name(), s.setName(), s.uuid(), s.level(), null, null, 2, s.arraySizeKib(),
                s.componentSizeKib(), s.state(), false, s.events(), 0, 0, s.bitmap(), s.members(),
                new SyncStatus(SyncAction.RESYNC, 0, 129024, 0, null, SyncWait.REMOTE), 0,
                new ClusterStatus(null, 1, null, List.of(
                        new ClusterStatus.SlotStatus(0, "node1", "resyncing", 0L, 65536L),
                        new ClusterStatus.SlotStatus(2, null, null, null, null))));
        assertThat(MdstatFormat.array(remote)).containsExactly(
                "md-m2 : active raid1 vda[0] vdb[1]",
                "      64512 blocks super 1.2 [2/2] [UU]",
                "      \tresync=REMOTE",
                "      bitmap: 1/1 pages [4KB], 65536KB chunk",
                "      cluster: this node is slot 1",
                "      slot 0 (node1): resyncing, resync window 0-65536 sectors",
                "      slot 2: unknown",
                "");
    }

    @Test
    void readOnly_isShownAfterActive() {
        ArrayStatus s = Statuses.m1Healthy();
        ArrayStatus ro = new ArrayStatus(s.name(), s.setName(), s.uuid(), s.level(), null, null, 2, s.arraySizeKib(),
                s.componentSizeKib(), s.state(), true, s.events(), 0, 0, s.bitmap(), s.members(), s.sync(), 0, null);
        assertThat(MdstatFormat.array(ro).get(0)).isEqualTo("md-m1 : active (read-only) raid1 vda[0] vdb[1]");
    }
}
