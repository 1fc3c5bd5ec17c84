package io.clustermd.test;

import io.clustermd.cmd.ClusterCtl;
import io.clustermd.daemon.ClusterMd;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The whole command-line surface, golden: every command and subcommand of {@code clusterctl} and
 * {@code clustermd} answers {@code --help} with exit code 0 and exactly the text kept in
 * {@code test/src/test/resources/cli/}; an unknown option is exit code 2 with picocli's message.
 * A new subcommand without a golden file fails. After a deliberate change of the CLI, regenerate
 * the files with {@code -Dclustermd.golden.update=true} and review the diff.
 */
class CliGoldenTest {

    private static final Path GOLDEN = Path.of(System.getProperty("clustermd.root", "..")).toAbsolutePath()
            .normalize().resolve("test/src/test/resources/cli");
    private static final boolean UPDATE = Boolean.getBoolean("clustermd.golden.update");

    /** "clusterctl status" → its help, for every command of both programs. */
    private static Map<String, CommandLine> commands() {
        Map<String, CommandLine> all = new TreeMap<>();
        collect("clusterctl", new CommandLine(new ClusterCtl()), all);
        collect("clustermd", new CommandLine(new ClusterMd()), all);
        return all;
    }

    private static void collect(String path, CommandLine cl, Map<String, CommandLine> into) {
        cl.setUsageHelpWidth(100);
        into.put(path, cl);
        for (Map.Entry<String, CommandLine> sub : cl.getSubcommands().entrySet()) {
            if (sub.getValue().getCommandSpec().aliases().length > 0
                    && List.of(sub.getValue().getCommandSpec().aliases()).contains(sub.getKey())) {
                continue;   // an alias: the same help as its command
            }
            if (sub.getKey().equals("help")) {
                continue;
            }
            collect(path + " " + sub.getKey(), sub.getValue(), into);
        }
    }

    private static String help(String path) {
        List<String> args = new ArrayList<>(List.of(path.split(" ")));
        String program = args.remove(0);
        args.add("--help");
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int rc;
        if (program.equals("clusterctl")) {
            rc = ClusterCtl.run(args.toArray(String[]::new), new PrintWriter(out), new PrintWriter(err));
        } else {
            CommandLine cl = new CommandLine(new ClusterMd());
            cl.setOut(new PrintWriter(out));
            cl.setErr(new PrintWriter(err));
            rc = cl.execute(args.toArray(String[]::new));
        }
        assertThat(rc).as("%s --help exit code", path).isZero();
        assertThat(err.toString()).as("%s --help stderr", path).isEmpty();
        return out.toString();
    }

    @TestFactory
    Stream<DynamicTest> everyCommandsHelp_isTheGoldenText() {
        System.setProperty("picocli.usage.width", "100");
        return commands().keySet().stream().map(path -> DynamicTest.dynamicTest(path, () -> {
            String text = help(path);
            Path file = GOLDEN.resolve(path.replace(' ', '_') + ".txt");
            if (UPDATE) {
                Files.createDirectories(GOLDEN);
                Files.writeString(file, text, StandardCharsets.UTF_8);
            }
            assertThat(file).as("golden help of '%s' (regenerate with -Dclustermd.golden.update=true)", path).exists();
            assertThat(text).as("help of '%s'", path).isEqualTo(Files.readString(file, StandardCharsets.UTF_8));
        }));
    }

    @Test
    void everyGoldenFile_belongsToACommand() throws IOException {
        List<String> expected = commands().keySet().stream().map(p -> p.replace(' ', '_') + ".txt").toList();
        try (Stream<Path> files = Files.list(GOLDEN)) {
            assertThat(files.map(f -> f.getFileName().toString()).toList()).containsExactlyInAnyOrderElementsOf(expected);
        }
    }

    @Test
    void unknownOptionOrMissingCommand_isExitCode2_withTheReason() {
        StringWriter err = new StringWriter();
        assertThat(ClusterCtl.run(new String[] {"status", "--bogus"}, new PrintWriter(new StringWriter()),
                new PrintWriter(err))).isEqualTo(2);
        assertThat(err.toString()).contains("Unknown option: '--bogus'");
        StringWriter err2 = new StringWriter();
        assertThat(ClusterCtl.run(new String[] {}, new PrintWriter(new StringWriter()), new PrintWriter(err2))).isEqualTo(2);
        assertThat(err2.toString()).contains("a command is required");
        CommandLine md = new CommandLine(new ClusterMd());
        StringWriter err3 = new StringWriter();
        md.setErr(new PrintWriter(err3));
        md.setOut(new PrintWriter(new StringWriter()));
        assertThat(md.execute("run", "--bogus")).isEqualTo(2);
        assertThat(err3.toString()).contains("Unknown option: '--bogus'");
    }
}
