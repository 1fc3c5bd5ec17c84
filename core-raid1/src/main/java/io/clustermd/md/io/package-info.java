/**
 * Member I/O: md's {@code md_rdev} bio submission as an ops table ({@link io.clustermd.md.io.MemberDevice}).
 *
 * <p>{@link io.clustermd.md.io.FileMemberDevice} reaches regular files and block devices with O_DIRECT
 * (what {@code submit_bio} to a member is for the kernel), {@link io.clustermd.md.io.FaultInjectingMemberDevice}
 * is the failing disk of md's tests (dm-flakey / dm-error), and {@link io.clustermd.md.io.MemberDevices} opens a
 * member path after checking it the way mdadm checks a device name.
 */
package io.clustermd.md.io;
