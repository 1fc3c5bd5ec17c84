package io.clustermd.control;

import java.util.Objects;

/**
 * One request line of the control socket: {@code {"op":"status"}}, {@code {"op":"fail","member":"/srv/a.img"}}.
 * Each type is one md management action (see {@link ArrayControl}).
 */
public sealed interface ControlRequest {

    /** The {@code op} value on the wire. */
    String op();

    /** {@code {"op":"status"}}: {@link ArrayControl#status()}. */
    record Status() implements ControlRequest {
        @Override
        public String op() {
            return "status";
        }
    }

    /** {@code {"op":"fail","member":PATH}}: {@link ArrayControl#fail(String)}. */
    record Fail(String member) implements ControlRequest {
        public Fail {
            requireMember(member);
        }

        @Override
        public String op() {
            return "fail";
        }
    }

    /** {@code {"op":"remove","member":PATH}}: {@link ArrayControl#remove(String)}. */
    record Remove(String member) implements ControlRequest {
        public Remove {
            requireMember(member);
        }

        @Override
        public String op() {
            return "remove";
        }
    }

    /** {@code {"op":"add","member":PATH}}: {@link ArrayControl#add(String)}. */
    record Add(String member) implements ControlRequest {
        public Add {
            requireMember(member);
        }

        @Override
        public String op() {
            return "add";
        }
    }

    /** {@code {"op":"re-add","member":PATH}}: {@link ArrayControl#reAdd(String)}. */
    record ReAdd(String member) implements ControlRequest {
        public ReAdd {
            requireMember(member);
        }

        @Override
        public String op() {
            return "re-add";
        }
    }

    /** {@code {"op":"grow","raidDevices":N}}: {@link ArrayControl#growRaidDevices(int)}. */
    record Grow(int raidDevices) implements ControlRequest {
        public Grow {
            if (raidDevices < 1) {
                throw new IllegalArgumentException("raid-devices must be at least 1, got " + raidDevices);
            }
        }

        @Override
        public String op() {
            return "grow";
        }
    }

    /**
     * {@code {"op":"resize","size":BYTES,"force":false}}: {@link ArrayControl#growSize(long, boolean)};
     * size 0 = all the members offer.
     */
    record Resize(long sizeBytes, boolean force) implements ControlRequest {
        public Resize {
            if (sizeBytes < 0) {
                throw new IllegalArgumentException("size must not be negative, got " + sizeBytes);
            }
        }

        @Override
        public String op() {
            return "resize";
        }
    }

    /** {@code {"op":"check"}}: {@link ArrayControl#check()}. */
    record Check() implements ControlRequest {
        @Override
        public String op() {
            return "check";
        }
    }

    /** {@code {"op":"repair"}}: {@link ArrayControl#repair()}. */
    record Repair() implements ControlRequest {
        @Override
        public String op() {
            return "repair";
        }
    }

    /** {@code {"op":"stop"}}: {@link ArrayControl#stop()}. */
    record Stop() implements ControlRequest {
        @Override
        public String op() {
            return "stop";
        }
    }

    private static void requireMember(String member) {
        Objects.requireNonNull(member, "member");
        if (member.isEmpty()) {
            throw new IllegalArgumentException("member path is empty");
        }
    }

    /**
     * Applies the request to an array and returns the response: the status after the action (so the
     * caller sees its effect), or ok alone for stop, when no array is left to describe.
     */
    static ControlResponse apply(ControlRequest request, ArrayControl array) throws ControlException {
        switch (request) {
            case Status s -> {
                return ControlResponse.success(array.status());
            }
            case Fail f -> array.fail(f.member());
            case Remove r -> array.remove(r.member());
            case Add a -> array.add(a.member());
            case ReAdd r -> array.reAdd(r.member());
            case Grow g -> array.growRaidDevices(g.raidDevices());
            case Resize r -> array.growSize(r.sizeBytes(), r.force());
            case Check c -> array.check();
            case Repair r -> array.repair();
            case Stop s -> {
                array.stop();
                return ControlResponse.success();
            }
        }
        return ControlResponse.success(array.status());
    }
}
