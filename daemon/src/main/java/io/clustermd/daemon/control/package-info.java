/**
 * The daemon's control socket: a unix socket speaking the JSON lines of
 * {@link io.clustermd.control.ControlCodec}, through which clusterctl reaches the array's
 * {@link io.clustermd.control.ArrayControl} (md's sysfs and ioctl management surface).
 */
package io.clustermd.daemon.control;
