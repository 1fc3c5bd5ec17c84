package io.clustermd.cmd;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.clustermd.md.MdSuperblock;
import io.clustermd.md.MemberMetadata;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/** {@code clusterctl examine}: what {@code mdadm --examine} prints, for each member. */
@Command(name = "examine", aliases = "-E", mixinStandardHelpOptions = true,
        description = {"Print each member's md superblock as 'mdadm --examine' does.",
                "Exits 1 if any member has no valid superblock, or members of different arrays are given."})
final class ExamineCommand implements Callable<Integer> {

    @Option(names = "--json", description = "print the same facts as JSON")
    boolean json;

    @Option(names = "--homehost", description = "host name for the '(local to host ...)' note")
    String homehost;

    @Parameters(arity = "1..*", paramLabel = "MEMBER")
    List<Path> members;

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        String host = homehost == null ? Host.hostname() : homehost;
        int rc = 0;
        List<Map<String, Object>> docs = new ArrayList<>();
        Set<String> arrays = new LinkedHashSet<>();
        for (Path p : members) {
            MemberMetadata m = MemberReading.readOrReport(p, err);
            if (m == null) {
                rc = 1;
                continue;
            }
            arrays.add(MdSuperblock.mdadmUuid(m.superblock().setUuid()));
            if (json) {
                docs.add(ExamineReport.examineJson(m));
            } else {
                ExamineReport.examine(m, host, ZoneId.systemDefault()).forEach(out::println);
            }
            if (!m.valid()) {
                err.println("clusterctl: " + m.firstProblem());
                rc = 1;
            }
        }
        if (json) {
            out.println(mapper().writeValueAsString(docs));
        }
        if (arrays.size() > 1) {
            err.println("clusterctl: the members belong to " + arrays.size() + " different arrays (" +
                    String.join(", ", arrays) + "); members of one array share one Array UUID");
            rc = 1;
        }
        out.flush();
        return rc;
    }

    static ObjectMapper mapper() {
        return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    }
}
