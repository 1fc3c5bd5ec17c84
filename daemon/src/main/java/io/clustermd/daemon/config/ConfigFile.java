package io.clustermd.daemon.config;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Supplier;

/**
 * A command's options from a file ({@code /etc/clustermd/NAME.conf}): one {@code key = value}
 * per line, the key a long option name of the command without its dashes ({@code lock = dlm},
 * {@code nbd = unix:/run/clustermd/md0.nbd}), repeated for a repeatable option; the command's
 * positional arguments under {@code positionalKey} ({@code member = /dev/disk/by-id/...}, one per
 * line); {@code #} starts a comment line; a boolean option takes {@code true} or {@code false}.
 *
 * <p>Options given on the command line win: a key whose option the command line set is ignored,
 * and so are the file's positional lines when the command line has positional arguments. Unknown
 * keys and values the option refuses are errors that name the file and line and the valid choices;
 * nothing is applied from a file with an error.
 */
public final class ConfigFile {

    /** One {@code key = value} line. */
    public record Entry(String key, String value, int line) {
    }

    /** A file that cannot be used, said with its file and line. */
    public static final class ConfigException extends Exception {
        private static final long serialVersionUID = 1L;

        public ConfigException(String message) {
            super(message);
        }
    }

    private final Path file;
    private final List<Entry> entries;

    private ConfigFile(Path file, List<Entry> entries) {
        this.file = file;
        this.entries = entries;
    }

    /** Reads and splits {@code file}; a line that is not {@code key = value} is an error. */
    public static ConfigFile read(Path file) throws ConfigException {
        List<String> lines;
        try {
            if (Files.size(file) > 1 << 20) {
                throw new ConfigException(file + ": larger than 1 MiB; is this a configuration file?");
            }
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (java.nio.file.NoSuchFileException e) {
            throw new ConfigException(file + ": no such file (give --config an existing file)");
        } catch (IOException e) {
            throw new ConfigException(file + ": cannot read: " + e.getMessage());
        }
        List<Entry> entries = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int eq = line.indexOf('=');
            if (eq <= 0) {
                throw new ConfigException(file + ":" + (i + 1) + ": expected 'key = value', got '" + line + "'");
            }
            String key = line.substring(0, eq).strip();
            String value = line.substring(eq + 1).strip();
            if (value.length() >= 2 && (value.startsWith("\"") && value.endsWith("\"")
                    || value.startsWith("'") && value.endsWith("'"))) {
                value = value.substring(1, value.length() - 1);
            }
            entries.add(new Entry(key, value, i + 1));
        }
        return new ConfigFile(file, entries);
    }

    /** The entries, in file order. */
    public List<Entry> entries() {
        return entries;
    }

    /**
     * Applies the file to {@code spec}, a command whose command line was just parsed.
     *
     * @param positionalKey the key that gives the positional arguments (e.g. {@code member})
     * @param fresh         a new, unparsed instance of the same command, to convert values with
     * @param skip          long names (with dashes) of options a file may not set
     */
    public void applyTo(CommandSpec spec, String positionalKey, Supplier<Object> fresh, List<String> skip)
            throws ConfigException {
        CommandLine.ParseResult given = spec.commandLine().getParseResult();
        Map<String, OptionSpec> byKey = new LinkedHashMap<>();
        for (OptionSpec o : spec.options()) {
            String longName = o.longestName();
            if (!longName.startsWith("--") || o.hidden() || o.usageHelp() || o.versionHelp() || skip.contains(longName)) {
                continue;
            }
            byKey.put(longName.substring(2), o);
        }
        // 1. Every line checked on its own, so an error names its line.
        Map<String, List<String>> args = new LinkedHashMap<>();
        List<String> positional = new ArrayList<>();
        for (Entry e : entries) {
            if (e.key().equals(positionalKey)) {
                positional.add(e.value());
                continue;
            }
            OptionSpec o = byKey.get(e.key());
            if (o == null) {
                TreeSet<String> valid = new TreeSet<>(byKey.keySet());
                valid.add(positionalKey);
                throw new ConfigException(where(e) + ": unknown key '" + e.key() + "'; valid keys: "
                        + String.join(", ", valid));
            }
            List<String> asArgs = asArgs(e, o);
            parse(fresh, asArgs, e);
            if (!o.isMultiValue() && args.containsKey(e.key())) {
                throw new ConfigException(where(e) + ": '" + e.key() + "' is given twice (it takes one value)");
            }
            args.computeIfAbsent(e.key(), k -> new ArrayList<>()).addAll(asArgs);
        }
        // 2. The options the command line left alone take the file's values, converted by picocli.
        for (Map.Entry<String, List<String>> a : args.entrySet()) {
            OptionSpec target = byKey.get(a.getKey());
            if (given.hasMatchedOption(target)) {
                continue;
            }
            CommandLine converter = new CommandLine(fresh.get());
            List<String> all = new ArrayList<>(a.getValue());
            all.add("placeholder");
            converter.parseArgs(all.toArray(String[]::new));
            target.setValue(converter.getCommandSpec().findOption(target.longestName()).getValue());
        }
        if (!positional.isEmpty() && given.matchedPositionals().isEmpty()) {
            CommandLine converter = new CommandLine(fresh.get());
            List<String> all = new ArrayList<>();
            all.add("--");
            all.addAll(positional);
            converter.parseArgs(all.toArray(String[]::new));
            spec.positionalParameters().get(0).setValue(converter.getCommandSpec().positionalParameters().get(0).getValue());
        }
    }

    private List<String> asArgs(Entry e, OptionSpec o) throws ConfigException {
        if (o.arity().max() == 0) {   // a flag
            return switch (e.value().toLowerCase(Locale.ROOT)) {
                case "true", "yes", "on" -> List.of(o.longestName());
                case "false", "no", "off" -> List.of();
                default -> throw new ConfigException(where(e) + ": '" + e.key() + "' is true or false, got '"
                        + e.value() + "'");
            };
        }
        if (e.value().isEmpty()) {
            throw new ConfigException(where(e) + ": '" + e.key() + "' needs a value (" + o.paramLabel() + ")");
        }
        return List.of(o.longestName() + "=" + e.value());
    }

    private void parse(Supplier<Object> fresh, List<String> asArgs, Entry e) throws ConfigException {
        List<String> all = new ArrayList<>(asArgs);
        all.add("placeholder");
        try {
            new CommandLine(fresh.get()).parseArgs(all.toArray(String[]::new));
        } catch (CommandLine.ParameterException ex) {
            throw new ConfigException(where(e) + ": " + e.key() + " = " + e.value() + ": " + ex.getMessage());
        }
    }

    private String where(Entry e) {
        return file + ":" + e.line();
    }
}
