package io.clustermd.cmd;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostTest {

    @TempDir
    Path dir;

    @Test
    void corosyncClusterName_totemSection_readsClusterName() throws IOException {
        Path conf = Files.writeString(dir.resolve("corosync.conf"), """
                totem {
                    version: 2
                    cluster_name: labclu
                    transport: knet
                }
                nodelist {
                    node { ring0_addr: 192.168.77.1
                           nodeid: 1 }
                }
                """);
        assertThat(Host.corosyncClusterName(conf)).isEqualTo("labclu");
    }

    @Test
    void corosyncClusterName_missingFileOrNoName_isNull() throws IOException {
        assertThat(Host.corosyncClusterName(dir.resolve("absent.conf"))).isNull();
        Path unnamed = Files.writeString(dir.resolve("unnamed.conf"), "totem {\n    version: 2\n}\n");
        assertThat(Host.corosyncClusterName(unnamed)).isNull();
    }

    @Test
    void corosyncClusterName_underTests_neverReadsTheHostsEtc() {
        // The build points every test JVM (and the processes it starts) away from /etc, so that no
        // result depends on whether this machine has corosync configured.
        assertThat(System.getenv(Host.COROSYNC_CONF_ENV)).isNotBlank().doesNotStartWith("/etc/");
        assertThat(Host.corosyncClusterName()).isNull();
    }
}
