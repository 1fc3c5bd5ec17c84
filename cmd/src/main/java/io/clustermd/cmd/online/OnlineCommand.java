package io.clustermd.cmd.online;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.clustermd.control.ControlCodec;
import io.clustermd.control.ControlRequest;
import io.clustermd.control.ControlResponse;
import picocli.CommandLine;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;

/** What every online command shares: the daemon options, {@code --json}, one request, one-line errors. */
abstract class OnlineCommand implements Callable<Integer> {

    @Mixin
    DaemonOptions daemon;

    @Option(names = "--json", description = "print the result as JSON")
    boolean json;

    @Option(names = "--timeout", paramLabel = "SECONDS",
            description = "wait at most SECONDS for the daemon's answer (default: 30)")
    double timeoutSeconds = ControlClient.DEFAULT_TIMEOUT.toSeconds();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }

    /** The socket, with "choose one" turned into a usage error (exit 2). */
    Path socket() {
        try {
            return daemon.socket();
        } catch (DaemonOptions.UsageFailure e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
    }

    ControlClient connect() {
        if (!(timeoutSeconds > 0) || timeoutSeconds > 86_400) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--timeout SECONDS must be more than 0 and at most 86400, not " + timeoutSeconds);
        }
        return ControlClient.connect(socket(), Duration.ofMillis(Math.max(1, Math.round(timeoutSeconds * 1000))));
    }

    /** Sends one request on a fresh connection; a refusal becomes the one-line failure (exit 1). */
    ControlResponse request(ControlRequest request) {
        try (ControlClient c = connect()) {
            return requireOk(c.call(request));
        }
    }

    static ControlResponse requireOk(ControlResponse r) {
        if (!r.ok()) {
            throw new OnlineFailure(r.error());
        }
        return r;
    }

    static ObjectMapper prettyMapper() {
        return ControlCodec.mapper().enable(SerializationFeature.INDENT_OUTPUT);
    }

    void printJson(Object value) throws Exception {
        out().println(prettyMapper().writeValueAsString(value));
        out().flush();
    }
}
