package io.clustermd.cmd;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes a man page (section 8, roff {@code man} macros) for a picocli command and each of its
 * subcommands, from the same definitions that {@code --help} prints: NAME, SYNOPSIS, DESCRIPTION,
 * ARGUMENTS, OPTIONS, and for a command with subcommands, COMMANDS and SEE ALSO.
 *
 * <p>Usage: {@code ManPages OUTPUT_DIR COMMAND_CLASS...} ({@code scripts/build} runs it for
 * {@code clusterctl} and {@code clustermd}; pages go to {@code OUTPUT_DIR/NAME.8} and
 * {@code OUTPUT_DIR/NAME-SUB.8}).
 */
public final class ManPages {

    private ManPages() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: ManPages OUTPUT_DIR COMMAND_CLASS...");
            System.exit(2);
        }
        Path out = Files.createDirectories(Path.of(args[0]));
        for (int i = 1; i < args.length; i++) {
            Object command = Class.forName(args[i]).getDeclaredConstructor().newInstance();
            for (Path written : write(new CommandLine(command), out)) {
                System.out.println(written);
            }
        }
    }

    /** Writes the pages of {@code cl} and its subcommands into {@code dir}; returns their paths. */
    public static List<Path> write(CommandLine cl, Path dir) throws IOException {
        List<Path> written = new ArrayList<>();
        String name = cl.getCommandSpec().qualifiedName("-");
        Path page = dir.resolve(name + ".8");
        Files.writeString(page, page(cl), StandardCharsets.UTF_8);
        written.add(page);
        for (Map.Entry<String, CommandLine> sub : cl.getSubcommands().entrySet()) {
            if (sub.getKey().equals(sub.getValue().getCommandName()) && !sub.getKey().equals("help")) {
                written.addAll(write(sub.getValue(), dir));
            }
        }
        return written;
    }

    /** One page. */
    static String page(CommandLine cl) {
        CommandSpec spec = cl.getCommandSpec();
        String name = spec.qualifiedName(" ");
        String[] description = spec.usageMessage().description();
        StringBuilder b = new StringBuilder();
        b.append(".TH \"").append(esc(spec.qualifiedName("-").toUpperCase(java.util.Locale.ROOT))).append("\" 8 \"")
                .append(LocalDate.now().getYear()).append("\" \"clustermd\" \"System Administration\"\n");
        b.append(".SH NAME\n").append(esc(spec.qualifiedName("-"))).append(" \\- ")
                .append(esc(description.length > 0 ? firstSentence(description[0]) : name)).append('\n');
        b.append(".SH SYNOPSIS\n.nf\n");
        String synopsis = new CommandLine.Help(spec, CommandLine.Help.defaultColorScheme(CommandLine.Help.Ansi.OFF))
                .synopsis(0).strip();
        b.append(esc(synopsis.replaceFirst("^Usage: ", ""))).append("\n.fi\n");
        if (description.length > 0) {
            b.append(".SH DESCRIPTION\n");
            for (String line : description) {
                b.append(esc(line)).append('\n');
            }
        }
        List<PositionalParamSpec> positionals = spec.positionalParameters().stream().filter(p -> !p.hidden()).toList();
        if (!positionals.isEmpty()) {
            b.append(".SH ARGUMENTS\n");
            for (PositionalParamSpec p : positionals) {
                b.append(".TP\n.I ").append(esc(p.paramLabel())).append('\n')
                        .append(esc(String.join(" ", p.description()))).append('\n');
            }
        }
        List<OptionSpec> options = spec.options().stream().filter(o -> !o.hidden()).toList();
        if (!options.isEmpty()) {
            b.append(".SH OPTIONS\n");
            for (OptionSpec o : options) {
                b.append(".TP\n.B ").append(esc(String.join(", ", o.names())));
                if (o.arity().max() > 0) {
                    b.append(" \\fI").append(esc(o.paramLabel())).append("\\fR");
                }
                b.append('\n').append(esc(String.join(" ", o.description())
                        .replace("${DEFAULT-VALUE}", String.valueOf(o.defaultValue())))).append('\n');
            }
        }
        Map<String, CommandLine> subs = cl.getSubcommands();
        if (!subs.isEmpty()) {
            b.append(".SH COMMANDS\n");
            List<String> seeAlso = new ArrayList<>();
            for (Map.Entry<String, CommandLine> sub : subs.entrySet()) {
                if (!sub.getKey().equals(sub.getValue().getCommandName()) || sub.getKey().equals("help")) {
                    continue;
                }
                String[] d = sub.getValue().getCommandSpec().usageMessage().description();
                b.append(".TP\n.B ").append(esc(sub.getKey())).append('\n')
                        .append(esc(d.length > 0 ? d[0] : "")).append('\n');
                seeAlso.add(".BR " + esc(spec.qualifiedName("-") + "-" + sub.getKey()) + " (8)");
            }
            b.append(".SH SEE ALSO\n").append(String.join(",\n", seeAlso)).append('\n');
        }
        return b.toString();
    }

    private static String firstSentence(String s) {
        int dot = s.indexOf(". ");
        return dot > 0 ? s.substring(0, dot) : s.endsWith(".") ? s.substring(0, s.length() - 1) : s;
    }

    /** roff: backslashes doubled, a leading dot or quote kept from being a request, dashes as hyphen-minus. */
    static String esc(String s) {
        String t = s.replace("\\", "\\e").replace("-", "\\-");
        return t.startsWith(".") || t.startsWith("'") ? "\\&" + t : t;
    }
}
