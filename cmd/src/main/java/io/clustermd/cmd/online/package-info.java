/**
 * clusterctl's online commands: {@code status}, {@code detail}, {@code fail}, {@code remove},
 * {@code add}, {@code re-add}, {@code check}, {@code repair}, {@code stop}. They are mdadm's
 * management mode ({@code mdadm --detail}, {@code --fail}, {@code --remove}, {@code --add},
 * {@code --re-add}, {@code --action}, {@code --stop}) and {@code cat /proc/mdstat}, done through a
 * daemon's control socket instead of ioctls and sysfs, with the same output.
 */
package io.clustermd.cmd.online;
