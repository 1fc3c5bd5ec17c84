/**
 * The daemon's control protocol: what md exposes through sysfs ({@code /sys/block/mdX/md/*}) and
 * the md ioctls ({@code GET_ARRAY_INFO}, {@code SET_DISK_FAULTY}, {@code HOT_REMOVE_DISK},
 * {@code ADD_NEW_DISK}, {@code STOP_ARRAY}), carried as JSON lines over the daemon's unix control
 * socket. {@link io.clustermd.control.ArrayControl} is the management surface a running array
 * implements; {@link io.clustermd.control.ArrayStatus} is what {@code /proc/mdstat} and
 * {@code mdadm --detail} are printed from; {@link io.clustermd.control.ControlCodec} turns requests
 * and responses into lines and back.
 */
package io.clustermd.control;
