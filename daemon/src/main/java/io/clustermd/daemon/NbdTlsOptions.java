package io.clustermd.daemon;

import io.clustermd.nbd.NbdListener;
import io.clustermd.nbd.NbdTls;
import java.nio.file.Path;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/**
 * TLS for the NBD export, shared by {@code clustermd run} and {@code clustermd export-file}
 * (qemu-nbd's {@code --tls-creds}, nbdkit's {@code --tls=require --tls-certificates}). Given a
 * certificate and its key, every client must start TLS before anything else; given a CA as well,
 * it must also present a certificate that CA signed.
 */
public final class NbdTlsOptions {
    private static final Logger log = LoggerFactory.getLogger(NbdTlsOptions.class);

    @Option(names = "--tls-cert", paramLabel = "FILE",
            description = "PEM certificate (chain) of the server: with --tls-key, clients must use TLS (nbds:// URIs)")
    Path cert;

    @Option(names = "--tls-key", paramLabel = "FILE", description = "its unencrypted PEM private key (mode 600)")
    Path key;

    @Option(names = "--tls-ca", paramLabel = "FILE",
            description = "PEM CA certificate: clients must present a certificate it signed")
    Path ca;

    /**
     * The TLS the options ask for, or null for none. A usage error when they are incomplete; a
     * file that cannot be used is refused with a message that names it.
     */
    NbdTls load(CommandLine.Model.CommandSpec spec) throws NbdTls.InvalidTlsFileException {
        if (cert == null && key == null && ca == null) {
            return null;
        }
        if (cert == null || key == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "TLS needs both --tls-cert FILE and --tls-key FILE"
                    + (ca != null ? " (--tls-ca only adds client certificates to them)" : ""));
        }
        return NbdTls.fromPemFiles(cert, key, ca);
    }

    /**
     * Warns about listeners other hosts can reach while anyone who connects may read and write the
     * export: without TLS, or with TLS but no client certificates.
     */
    static void warnIfReachable(List<NbdListener> listeners, NbdTls tls) {
        for (NbdListener l : listeners) {
            if (!l.reachableFromNetwork()) {
                continue;
            }
            if (tls == null) {
                log.warn("NBD on {} is reachable from the network, without TLS: any host that can connect reads and"
                        + " writes the export, in clear text. Use TLS with client certificates (--tls-cert, --tls-key,"
                        + " --tls-ca), or listen on 127.0.0.1 or a unix socket", l);
            } else if (!tls.requiresClientCertificates()) {
                log.warn("NBD on {} is reachable from the network and TLS checks no client certificate: any host that"
                        + " can connect reads and writes the export. Give --tls-ca to admit only clients with a"
                        + " certificate it signed", l);
            }
        }
    }
}
