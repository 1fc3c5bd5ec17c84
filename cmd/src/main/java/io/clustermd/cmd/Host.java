package io.clustermd.cmd;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Facts about this machine that mdadm uses as defaults: host name, corosync cluster name. */
public final class Host {

    private Host() {
    }

    /** mdadm's default homehost: the kernel host name. */
    public static String hostname() {
        try {
            String h = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
            if (!h.isEmpty()) {
                return h;
            }
        } catch (IOException | RuntimeException e) {
            // fall through
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "";
        }
    }

    /** Environment variable naming another corosync.conf (tests point it into their own directories). */
    static final String COROSYNC_CONF_ENV = "CLUSTERMD_COROSYNC_CONF";

    /**
     * {@code totem.cluster_name} from corosync's configuration, or null: /etc/corosync/corosync.conf,
     * or the file named by {@value #COROSYNC_CONF_ENV}.
     */
    public static String corosyncClusterName() {
        String override = System.getenv(COROSYNC_CONF_ENV);
        return corosyncClusterName(Path.of(override == null || override.isEmpty()
                ? "/etc/corosync/corosync.conf" : override));
    }

    /** {@code totem.cluster_name} from the corosync.conf at {@code conf}, or null if absent or unnamed. */
    static String corosyncClusterName(Path conf) {
        try {
            Matcher m = Pattern.compile("(?m)^\\s*cluster_name\\s*:\\s*(\\S+)").matcher(Files.readString(conf));
            return m.find() ? m.group(1) : null;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
