package io.clustermd.daemon.systemd;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SystemdNotifierTest {

    @Test
    void socketAddress_path_isFamilyThenNulTerminatedPath() {
        assertThat(SystemdNotifier.socketAddress("/run/x")).containsExactly(1, 0, '/', 'r', 'u', 'n', '/', 'x', 0);
    }

    @Test
    void socketAddress_abstract_isFamilyThenNulThenNameWithoutTerminator() {
        assertThat(SystemdNotifier.socketAddress("@ab")).containsExactly(1, 0, 0, 'a', 'b');
    }

    @Test
    void socketAddress_relativeOrTooLong_isRefused() {
        assertThatThrownBy(() -> SystemdNotifier.socketAddress("run/x")).hasMessageContaining("absolute path");
        assertThatThrownBy(() -> SystemdNotifier.socketAddress("/" + "x".repeat(107))).hasMessageContaining("longer");
    }

    @Test
    void watchdogInterval_forThisPidOrAnyPid_isTheTimeout_elseEmpty() {
        assertThat(SystemdNotifier.watchdogInterval(Map.of("WATCHDOG_USEC", "30000000"), 7))
                .contains(Duration.ofSeconds(30));
        assertThat(SystemdNotifier.watchdogInterval(Map.of("WATCHDOG_USEC", "1000", "WATCHDOG_PID", "7"), 7))
                .contains(Duration.ofMillis(1));
        assertThat(SystemdNotifier.watchdogInterval(Map.of("WATCHDOG_USEC", "1000", "WATCHDOG_PID", "8"), 7)).isEmpty();
        assertThat(SystemdNotifier.watchdogInterval(Map.of("WATCHDOG_USEC", "soon"), 7)).isEmpty();
        assertThat(SystemdNotifier.watchdogInterval(Map.of(), 7)).isEqualTo(Optional.empty());
    }

    @Test
    void withoutNotifySocket_doesNothing() {
        SystemdNotifier n = SystemdNotifier.fromEnvironment(Map.of(), 1);
        assertThat(n.enabled()).isFalse();
        n.ready("x");
        n.watchdog();
    }
}
