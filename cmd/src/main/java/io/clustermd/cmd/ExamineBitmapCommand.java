package io.clustermd.cmd;

import io.clustermd.md.MemberMetadata;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code clusterctl examine-bitmap}: what {@code mdadm --examine-bitmap} prints, every node slot included. */
@Command(name = "examine-bitmap", aliases = "-X", mixinStandardHelpOptions = true,
        description = {"Print each member's write-intent bitmap as 'mdadm --examine-bitmap' does",
                "(works on regular files too, which mdadm reads only through a loop device)."})
final class ExamineBitmapCommand implements Callable<Integer> {

    @Option(names = "--json", description = "print the same facts as JSON")
    boolean json;

    @Parameters(arity = "1..*", paramLabel = "MEMBER")
    List<Path> members;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        int rc = 0;
        List<Map<String, Object>> docs = new ArrayList<>();
        for (Path p : members) {
            MemberMetadata m = MemberReading.readOrReport(p, err);
            if (m == null) {
                rc = 1;
                continue;
            }
            if (m.slots().isEmpty()) {
                err.println("clusterctl: " + p + (m.bitmapProblem() != null ? ": " + m.bitmapProblem()
                        : ": the array has no write-intent bitmap (created with --bitmap=none)"));
                rc = 1;
                continue;
            }
            if (json) {
                docs.add(ExamineReport.examineBitmapJson(m));
            } else {
                ExamineReport.examineBitmap(m, ZoneId.systemDefault()).forEach(out::println);
            }
            String problem = m.bitmapProblem() != null ? m.bitmapProblem()
                    : m.slots().stream().map(s -> s.problem()).filter(x -> x != null).findFirst().orElse(null);
            if (problem != null) {
                err.println("clusterctl: " + problem);
                rc = 1;
            }
        }
        if (json) {
            out.println(ExamineCommand.mapper().writeValueAsString(docs));
        }
        out.flush();
        return rc;
    }
}
