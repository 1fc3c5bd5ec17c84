package io.clustermd.daemon;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.JsonEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.util.Locale;

/**
 * {@code --log-format text|json}, shared by the daemon's commands: text lines for people (the
 * default), or one JSON object per line for log shippers (logback's JSON encoder: timestamp,
 * level, thread, logger, message, and the context properties {@code array} and, once the node
 * joined a clustered array, {@code slot}).
 */
public final class LogFormatOption {

    @CommandLine.Spec(CommandLine.Spec.Target.MIXEE)
    CommandLine.Model.CommandSpec spec;

    private String format = "text";

    @Option(names = "--log-format", paramLabel = "FORMAT",
            description = "text (default) or json: one JSON object per line on stderr, for log shippers")
    void setFormat(String value) {
        String f = value.toLowerCase(Locale.ROOT);
        if (!f.equals("text") && !f.equals("json")) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--log-format is text or json, got '"
                    + value + "'");
        }
        format = f;
    }

    /**
     * Switches the log to the chosen format. Called by the command once its options are final
     * (after a config file), not by the option's setter: picocli also sets options on the scratch
     * instances that check a config file's lines, and those must not change the process's log.
     */
    public void apply() {
        if (format.equals("json")) {
            useJson();
        }
    }

    /** The chosen format. */
    public String format() {
        return format;
    }

    /** Replaces the root logger's text appender with a JSON one on the same stream. */
    private static void useJson() {
        if (!(LoggerFactory.getILoggerFactory() instanceof LoggerContext ctx)) {
            return;
        }
        Logger root = ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
        if (root.getAppender("JSON") != null) {
            return;
        }
        JsonEncoder encoder = new JsonEncoder();
        encoder.setContext(ctx);
        // the message as people read it, not a template with its arguments apart
        encoder.setWithFormattedMessage(true);
        encoder.setWithMessage(false);
        encoder.setWithArguments(false);
        encoder.setWithSequenceNumber(false);
        encoder.setWithNanoseconds(false);
        encoder.start();
        ConsoleAppender<ILoggingEvent> json = new ConsoleAppender<>();
        json.setName("JSON");
        json.setContext(ctx);
        json.setTarget("System.err");
        json.setEncoder(encoder);
        json.start();
        root.addAppender(json);
        root.detachAppender("STDERR");
    }
}
