package io.clustermd.daemon.array;

import io.clustermd.md.io.FaultInjectingMemberDevice;
import io.clustermd.md.io.FaultPlan;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Fault injection for tests and drills ({@code clustermd run --fault-dir DIR}): every member is
 * wrapped in a {@link FaultInjectingMemberDevice}, and a file named after a member's file name in
 * DIR switches its plan: {@code healthy}, {@code fail-reads}, {@code fail-writes}, {@code fail-all},
 * {@code fail-after N}, {@code gone}. Polled every 100 ms; never enabled without the option.
 */
public final class FaultSwitchboard {

    private static final System.Logger LOG = System.getLogger(FaultSwitchboard.class.getName());

    private final Path dir;
    private final Map<String, FaultInjectingMemberDevice> devices = new ConcurrentHashMap<>();
    private final Map<String, String> applied = new ConcurrentHashMap<>();

    public FaultSwitchboard(Path dir, ScheduledExecutorService scheduler) {
        this.dir = dir;
        scheduler.scheduleWithFixedDelay(this::poll, 100, 100, TimeUnit.MILLISECONDS);
    }

    public void register(String memberPath, FaultInjectingMemberDevice device) {
        devices.put(Path.of(memberPath).getFileName().toString(), device);
    }

    private void poll() {
        for (Map.Entry<String, FaultInjectingMemberDevice> e : devices.entrySet()) {
            Path control = dir.resolve(e.getKey());
            String spec;
            try {
                spec = Files.exists(control) ? Files.readString(control).strip() : "healthy";
            } catch (IOException ex) {
                continue;
            }
            if (spec.equals(applied.get(e.getKey()))) {
                continue;
            }
            try {
                String[] words = spec.split("\\s+");
                if (words[0].equals("stall-writes")) {
                    e.getValue().stallWrites(words.length > 1 ? Long.parseLong(words[1]) : 0);
                    applied.put(e.getKey(), spec);
                    LOG.log(System.Logger.Level.WARNING, "fault injection on {0}: {1}", e.getKey(), spec);
                    continue;
                }
                e.getValue().setPlan(parse(spec));
                applied.put(e.getKey(), spec);
                LOG.log(System.Logger.Level.WARNING, "fault injection on {0}: {1}", e.getKey(), spec);
            } catch (IllegalArgumentException ex) {
                LOG.log(System.Logger.Level.ERROR, "fault injection file {0}: {1}", control, ex.getMessage());
                applied.put(e.getKey(), spec);
            }
        }
    }

    static FaultPlan parse(String spec) {
        String[] words = spec.split("\\s+");
        return switch (words[0]) {
            case "healthy", "" -> FaultPlan.healthy();
            case "fail-reads" -> FaultPlan.failReads();
            case "fail-writes" -> FaultPlan.failWrites();
            case "fail-all" -> FaultPlan.failAfter(0);
            case "fail-after" -> FaultPlan.failAfter(Long.parseLong(words[1]));
            case "gone" -> FaultPlan.gone();
            default -> throw new IllegalArgumentException("unknown fault '" + spec
                    + "' (healthy, fail-reads, fail-writes, fail-all, fail-after N, gone,"
                    + " stall-writes [FROM_BYTE])");
        };
    }
}
