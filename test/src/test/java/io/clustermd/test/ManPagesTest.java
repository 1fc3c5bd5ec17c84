package io.clustermd.test;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.cmd.ManPages;
import io.clustermd.daemon.ClusterMd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The man pages scripts/build and scripts/install make: one per command and subcommand, and each
 * renders with the system's man (groff with warnings on: none) and names every option the
 * command's --help names.
 */
class ManPagesTest {

    @TempDir
    Path dir;

    @Test
    void everyCommand_hasAPageThatRendersCleanly_andNamesAllItsOptions() throws Exception {
        for (CommandLine root : List.of(new CommandLine(new ClusterCtl()), new CommandLine(new ClusterMd()))) {
            List<Path> pages = ManPages.write(root, dir);
            assertThat(pages).hasSize(1 + (int) root.getSubcommands().entrySet().stream()
                    .filter(e -> e.getKey().equals(e.getValue().getCommandName()) && !e.getKey().equals("help")).count());
            check(root, dir.resolve(root.getCommandName() + ".8"));
            for (Map.Entry<String, CommandLine> sub : root.getSubcommands().entrySet()) {
                if (sub.getKey().equals(sub.getValue().getCommandName()) && !sub.getKey().equals("help")) {
                    check(sub.getValue(), dir.resolve(root.getCommandName() + "-" + sub.getKey() + ".8"));
                }
            }
        }
    }

    private static void check(CommandLine cl, Path page) {
        assertThat(page).exists();
        Processes.Result r = Processes.run(List.of("man", "-l", "-P", "cat", page.toString()), page.getParent(),
                Map.of("MANROFFOPT", "-ww", "MANWIDTH", "100", "LC_ALL", "C.UTF-8"));
        assertThat(r.exitCode()).as("man -l %s: %s", page, r.stderr()).isZero();
        assertThat(r.stderr()).as("groff warnings for %s", page).isEmpty();
        String text = r.stdout();
        assertThat(text).contains("NAME", "SYNOPSIS", cl.getCommandSpec().qualifiedName("-"));
        cl.getCommandSpec().options().stream().filter(o -> !o.hidden())
                .forEach(o -> assertThat(text).as("%s names %s", page.getFileName(), o.longestName())
                        .contains(o.longestName()));
    }
}
