package io.clustermd.cmd.online;

import io.clustermd.control.ArrayState;
import io.clustermd.control.ArrayStatus;
import io.clustermd.control.BitmapStatus;
import io.clustermd.control.ClusterStatus;
import io.clustermd.control.MemberState;
import io.clustermd.control.MemberStatus;
import io.clustermd.control.SyncStatus;

import java.util.List;

/** ArrayStatus values shaped like the arrays in the kernel references (m1: RAID1, m2: clustered RAID1). */
final class Statuses {

    static final long M1_CREATED = 1_795_272_517L; // Sat Nov 21 14:48:37 2026 UTC
    static final long M1_UPDATED = 1_795_272_519L;
    static final long M2_CREATED = 1_795_272_544L;
    static final long M2_UPDATED = 1_795_272_545L;
    static final BitmapStatus ONE_PAGE = new BitmapStatus(64L << 20, 1, 1, 1, 0, 5);

    private Statuses() {
    }

    static MemberStatus vd(String name, int n, int major, int minor) {
        return new MemberStatus("/dev/" + name, n, n, MemberState.IN_SYNC, null, null, major, minor);
    }

    /** The reference m1 array: /dev/vda and /dev/vdb, 64512 KiB, clean. */
    static ArrayStatus m1(List<MemberStatus> members, SyncStatus sync, boolean clean, long mismatches) {
        return new ArrayStatus("m1", "labhost:m1", "3e8d63ce:b86fbf25:30a03b41:2d523197", "raid1", null, null, 2,
                64512, 64512, ArrayState.derive(clean, 2, members, sync), false, 18, M1_CREATED, M1_UPDATED,
                ONE_PAGE, members, sync, mismatches, null);
    }

    static ArrayStatus m1Healthy() {
        return m1(List.of(vd("vda", 0, 254, 0), vd("vdb", 1, 254, 16)), SyncStatus.idle(), true, 0);
    }

    static ArrayStatus m2Clustered() {
        List<MemberStatus> members = List.of(vd("vda", 0, 254, 0), vd("vdb", 1, 254, 16));
        return new ArrayStatus("m2", "node1:m2", "f54b230b:08fda922:8513ad8c:73a17a57", "raid1", null, null, 2,
                64512, 64512, ArrayState.derive(true, 2, members, SyncStatus.idle()), false, 18, M2_CREATED,
                M2_UPDATED, ONE_PAGE, members, SyncStatus.idle(), 0, new ClusterStatus("labclu", 0, 4, null));
    }
}
