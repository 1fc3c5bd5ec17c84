package io.clustermd.nbd;

import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslProvider;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.X509Certificate;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.spec.PSSParameterSpec;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server's TLS: its certificate chain and private key, and optionally the CA that client
 * certificates must be signed by. A server given one runs in the NBD spec's FORCEDTLS mode: every
 * option but NBD_OPT_STARTTLS and NBD_OPT_ABORT is refused with NBD_REP_ERR_TLS_REQD until the
 * client has started TLS (see {@link NbdHandshakeHandler}).
 *
 * <p>Built from PEM files with {@link #fromPemFiles}, which checks everything a client would only
 * find out later: that each file exists and is readable, holds what it should, and that the key
 * belongs to the certificate. TLS 1.2 and 1.3 only, on the JDK's own TLS implementation.
 */
public final class NbdTls {
    private static final Logger log = LoggerFactory.getLogger(NbdTls.class);

    /** The TLS versions offered; the spec requires 1.2 and discourages anything older. */
    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    private static final Pattern PEM = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\s*(?:Proc-Type:[^\\n]*\\n(?:[^\\n]*:[^\\n]*\\n)*)?([A-Za-z0-9+/=\\s]*)-----END \\1-----");

    private final SslContext context;
    private final X509Certificate certificate;
    private final boolean clientCertificates;

    private NbdTls(SslContext context, X509Certificate certificate, boolean clientCertificates) {
        this.context = context;
        this.certificate = certificate;
        this.clientCertificates = clientCertificates;
    }

    /** A file given to {@link #fromPemFiles} that cannot be used; the message names it and says what to do. */
    public static final class InvalidTlsFileException extends Exception {
        private final Path file;

        InvalidTlsFileException(Path file, String message) {
            super(message);
            this.file = file;
        }

        /** The file that was refused. */
        public Path file() {
            return file;
        }
    }

    /**
     * Loads the server's TLS from PEM files.
     *
     * @param certificateChain the server certificate, then any intermediate CAs
     * @param privateKey       the certificate's unencrypted private key: PKCS#8 ({@code BEGIN PRIVATE KEY})
     *                         or PKCS#1 RSA ({@code BEGIN RSA PRIVATE KEY})
     * @param clientCa         CA certificates; when given, every client must present a certificate signed
     *                         by one of them, or the TLS handshake fails. Null: no client certificates.
     */
    public static NbdTls fromPemFiles(Path certificateChain, Path privateKey, Path clientCa) throws InvalidTlsFileException {
        Objects.requireNonNull(certificateChain, "certificateChain");
        Objects.requireNonNull(privateKey, "privateKey");
        List<X509Certificate> chain = certificates(certificateChain, "certificate file",
                "give the server's certificate (then any intermediate CA certificates) in PEM");
        X509Certificate leaf = chain.get(0);
        PrivateKey key = privateKey(privateKey);
        if (!keyMatches(key, leaf)) {
            throw new InvalidTlsFileException(privateKey, "private key file " + privateKey
                    + " does not belong to the certificate in " + certificateChain + " (" + leaf.getSubjectX500Principal()
                    + "): give the key the certificate was made for, or a certificate made for this key");
        }
        try {
            leaf.checkValidity();
        } catch (CertificateExpiredException e) {
            log.warn("TLS: the certificate in {} ({}) expired on {}: clients will refuse it; renew it",
                    certificateChain, leaf.getSubjectX500Principal(), leaf.getNotAfter());
        } catch (CertificateNotYetValidException e) {
            log.warn("TLS: the certificate in {} ({}) is not valid before {}: clients will refuse it until then",
                    certificateChain, leaf.getSubjectX500Principal(), leaf.getNotBefore());
        }
        SslContextBuilder b = SslContextBuilder.forServer(key, chain.toArray(X509Certificate[]::new))
                .sslProvider(SslProvider.JDK)
                .protocols(PROTOCOLS);
        if (clientCa != null) {
            List<X509Certificate> cas = certificates(clientCa, "CA file",
                    "give the certificate of the CA that signs the clients' certificates, in PEM");
            b.trustManager(cas.toArray(X509Certificate[]::new)).clientAuth(ClientAuth.REQUIRE);
        }
        try {
            return new NbdTls(b.build(), leaf, clientCa != null);
        } catch (javax.net.ssl.SSLException | IllegalArgumentException e) {
            throw new InvalidTlsFileException(certificateChain, "cannot set up TLS with " + certificateChain + " and "
                    + privateKey + (clientCa != null ? " and " + clientCa : "") + ": " + e.getMessage());
        }
    }

    /** A new TLS engine for one connection, in server mode. */
    SslHandler newHandler(ByteBufAllocator alloc) {
        return context.newHandler(alloc);
    }

    /** Whether clients must present a certificate signed by the configured CA. */
    public boolean requiresClientCertificates() {
        return clientCertificates;
    }

    @Override
    public String toString() {
        return "TLS as " + certificate.getSubjectX500Principal()
                + (clientCertificates ? ", client certificates required" : ", no client certificates");
    }

    private static byte[] read(Path file, String what, String todo) throws InvalidTlsFileException {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new InvalidTlsFileException(file, what + " " + file + " does not exist: " + todo);
        } catch (AccessDeniedException e) {
            throw new InvalidTlsFileException(file, what + " " + file + " cannot be read by this user ("
                    + System.getProperty("user.name") + "): let it read the file (a key: owner only, mode 600)");
        } catch (IOException e) {
            throw new InvalidTlsFileException(file, what + " " + file + " cannot be read: " + e.getMessage());
        }
    }

    private static List<X509Certificate> certificates(Path file, String what, String todo) throws InvalidTlsFileException {
        byte[] bytes = read(file, what, todo);
        String text = new String(bytes, StandardCharsets.US_ASCII);
        if (text.contains("PRIVATE KEY-----")) {
            throw new InvalidTlsFileException(file, what + " " + file + " holds a private key, not a certificate: " + todo);
        }
        try {
            List<X509Certificate> certs = CertificateFactory.getInstance("X.509")
                    .generateCertificates(new ByteArrayInputStream(bytes)).stream().map(c -> (X509Certificate) c).toList();
            if (certs.isEmpty()) {
                throw new InvalidTlsFileException(file, what + " " + file + " holds no certificate: " + todo);
            }
            return certs;
        } catch (CertificateException e) {
            throw new InvalidTlsFileException(file, what + " " + file + " is not a PEM certificate ("
                    + e.getMessage() + "): " + todo);
        }
    }

    private static PrivateKey privateKey(Path file) throws InvalidTlsFileException {
        String what = "private key file";
        String text = new String(read(file, what, "give the server certificate's private key in PEM"),
                StandardCharsets.US_ASCII);
        Matcher m = PEM.matcher(text);
        String convert = "convert it with 'openssl pkcs8 -topk8 -nocrypt -in " + file + " -out KEY.pem'";
        while (m.find()) {
            String type = m.group(1);
            if (!type.endsWith("PRIVATE KEY")) {
                continue;
            }
            if (type.equals("ENCRYPTED PRIVATE KEY") || m.group(0).contains("ENCRYPTED")) {
                throw new InvalidTlsFileException(file, what + " " + file + " is encrypted; clustermd reads unencrypted"
                        + " keys only: decrypt it with 'openssl pkey -in " + file + " -out KEY.pem' and keep that file"
                        + " readable by its owner only (mode 600)");
            }
            byte[] der;
            try {
                der = Base64.getMimeDecoder().decode(m.group(2));
            } catch (IllegalArgumentException e) {
                throw new InvalidTlsFileException(file, what + " " + file + ": bad base64 in the PEM block");
            }
            if (type.equals("RSA PRIVATE KEY")) {
                der = pkcs1ToPkcs8(der);
            } else if (!type.equals("PRIVATE KEY")) {
                throw new InvalidTlsFileException(file, what + " " + file + " holds a '" + type + "', which is not"
                        + " read here: " + convert);
            }
            PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
            for (String alg : List.of("RSA", "EC", "EdDSA", "RSASSA-PSS", "DSA")) {
                try {
                    return KeyFactory.getInstance(alg).generatePrivate(spec);
                } catch (GeneralSecurityException | RuntimeException e) {
                    // try the next algorithm
                }
            }
            throw new InvalidTlsFileException(file, what + " " + file + " holds a private key of a kind this JVM"
                    + " cannot read (RSA, EC, Ed25519/Ed448 and DSA keys are)");
        }
        if (text.contains("CERTIFICATE-----")) {
            throw new InvalidTlsFileException(file, what + " " + file + " holds a certificate, not a private key:"
                    + " give the key that belongs to the server's certificate");
        }
        throw new InvalidTlsFileException(file, what + " " + file + " is not a PEM private key"
                + " ('-----BEGIN PRIVATE KEY-----' expected)");
    }

    /**
     * Wraps a PKCS#1 RSAPrivateKey into a PKCS#8 PrivateKeyInfo:
     * {@code SEQUENCE { INTEGER 0, SEQUENCE { OID rsaEncryption, NULL }, OCTET STRING pkcs1 }}.
     */
    private static byte[] pkcs1ToPkcs8(byte[] pkcs1) {
        byte[] version = {0x02, 0x01, 0x00};
        byte[] algorithm = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01,
                0x01, 0x05, 0x00};
        byte[] octets = derTlv(0x04, pkcs1);
        byte[] body = new byte[version.length + algorithm.length + octets.length];
        System.arraycopy(version, 0, body, 0, version.length);
        System.arraycopy(algorithm, 0, body, version.length, algorithm.length);
        System.arraycopy(octets, 0, body, version.length + algorithm.length, octets.length);
        return derTlv(0x30, body);
    }

    private static byte[] derTlv(int tag, byte[] value) {
        int n = value.length;
        byte[] len = n < 0x80 ? new byte[] {(byte) n}
                : n < 0x100 ? new byte[] {(byte) 0x81, (byte) n}
                : n < 0x10000 ? new byte[] {(byte) 0x82, (byte) (n >> 8), (byte) n}
                : new byte[] {(byte) 0x83, (byte) (n >> 16), (byte) (n >> 8), (byte) n};
        byte[] out = new byte[1 + len.length + n];
        out[0] = (byte) tag;
        System.arraycopy(len, 0, out, 1, len.length);
        System.arraycopy(value, 0, out, 1 + len.length, n);
        return out;
    }

    /** Whether {@code key} is the private half of the certificate's public key: a signature made with it verifies. */
    private static boolean keyMatches(PrivateKey key, X509Certificate cert) {
        String alg = key.getAlgorithm();
        String certAlg = cert.getPublicKey().getAlgorithm();
        boolean edwards = alg.equals("EdDSA") || alg.startsWith("Ed");
        if (!(alg.equals(certAlg) || edwards && (certAlg.equals("EdDSA") || certAlg.startsWith("Ed")))) {
            return false;
        }
        try {
            Signature s = switch (alg) {
                case "RSA" -> Signature.getInstance("SHA256withRSA");
                case "EC" -> Signature.getInstance("SHA256withECDSA");
                case "DSA" -> Signature.getInstance("SHA256withDSA");
                case "RSASSA-PSS" -> {
                    Signature pss = Signature.getInstance("RSASSA-PSS");
                    pss.setParameter(new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1));
                    yield pss;
                }
                default -> Signature.getInstance(alg); // EdDSA, Ed25519, Ed448
            };
            byte[] challenge = new byte[32];
            new SecureRandom().nextBytes(challenge);
            s.initSign(key);
            s.update(challenge);
            byte[] sig = s.sign();
            s.initVerify(cert.getPublicKey());
            s.update(challenge);
            return s.verify(sig);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }
}
