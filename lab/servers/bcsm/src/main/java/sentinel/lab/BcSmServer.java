package sentinel.lab;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FileReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.Reader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Vector;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.crypto.params.AsymmetricKeyParameter;
import org.bouncycastle.crypto.util.PrivateKeyFactory;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.Certificate;
import org.bouncycastle.tls.CertificateEntry;
import org.bouncycastle.tls.CipherSuite;
import org.bouncycastle.tls.DefaultTlsClient;
import org.bouncycastle.tls.DefaultTlsServer;
import org.bouncycastle.tls.NamedGroup;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.SecurityParameters;
import org.bouncycastle.tls.SignatureAndHashAlgorithm;
import org.bouncycastle.tls.SignatureScheme;
import org.bouncycastle.tls.TlsAuthentication;
import org.bouncycastle.tls.TlsClientProtocol;
import org.bouncycastle.tls.TlsCredentials;
import org.bouncycastle.tls.TlsFatalAlert;
import org.bouncycastle.tls.TlsServerCertificate;
import org.bouncycastle.tls.TlsServerProtocol;
import org.bouncycastle.tls.crypto.TlsCertificate;
import org.bouncycastle.tls.crypto.TlsCryptoParameters;
import org.bouncycastle.crypto.params.ECPrivateKeyParameters;
import org.bouncycastle.tls.DefaultTlsCredentialedSigner;
import org.bouncycastle.tls.crypto.impl.bc.BcTlsSM2Signer;
import org.bouncycastle.tls.crypto.impl.bc.BcTlsCertificate;
import org.bouncycastle.tls.crypto.Tls13Verifier;
import org.bouncycastle.crypto.signers.SM2Signer;
import org.bouncycastle.crypto.params.ParametersWithID;
import org.bouncycastle.crypto.io.SignerOutputStream;
import org.bouncycastle.tls.crypto.impl.bc.BcTlsCrypto;
import org.bouncycastle.util.io.pem.PemObject;
import org.bouncycastle.util.io.pem.PemReader;

/**
 * Sentinel lab server and client for ShangMi suites in TLS 1.3 (RFC 8998), on
 * BouncyCastle's low-level TLS API (bctls): TLS 1.3 only, TLS_SM4_GCM_SM3 (0x00C6)
 * [+ TLS_SM4_CCM_SM3 0x00C7 with --ccm], key share curveSM2 (41), signature
 * scheme sm2sig_sm3 (0x0708), SM2 certificate tls.crt/tls.key + ca.crt.
 *
 * <pre>
 * java -jar bcsm-lab-server.jar --mode tls13sm --bind ADDR --port P --certs DIR [--ccm] [--max-conns N]
 * java -jar bcsm-lab-server.jar --client HOST PORT [--ca FILE] [--suites c6,c7]
 * </pre>
 */
public final class BcSmServer {

    private static final SecureRandom RANDOM = new SecureRandom();
    private static final BcTlsCrypto CRYPTO = new BcTlsCrypto(RANDOM);
    private static final byte[] SM2_TLS13_ID = "TLSv1.3+GM+Cipher+Suite".getBytes(StandardCharsets.US_ASCII);

    private static void log(String msg) {
        System.err.println(Instant.now() + " bcsm-lab " + msg);
    }

    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        String mode = "tls13sm", bind = "127.0.0.1", certs = null, ca = null, suites = null;
        int port = 4443, maxConns = 64;
        boolean ccm = false;
        String clientHost = null;
        int clientPort = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--mode": mode = args[++i]; break;
                case "--bind": bind = args[++i]; break;
                case "--port": port = Integer.parseInt(args[++i]); break;
                case "--certs": certs = args[++i]; break;
                case "--max-conns": maxConns = Integer.parseInt(args[++i]); break;
                case "--ccm": ccm = true; break;
                case "--ca": ca = args[++i]; break;
                case "--suites": suites = args[++i]; break;
                case "--client":
                    clientHost = args[++i];
                    clientPort = Integer.parseInt(args[++i]);
                    break;
                default:
                    System.err.println("unknown argument " + args[i]);
                    usage();
                    System.exit(2);
            }
        }
        if (clientHost != null) {
            System.exit(runClient(clientHost, clientPort, ca, suites));
        }
        if (!"tls13sm".equals(mode)) {
            System.err.println("unsupported mode " + mode + " (only tls13sm; see README for TLCP)");
            System.exit(2);
        }
        if (certs == null) {
            usage();
            System.exit(2);
        }
        runServer(bind, port, Path.of(certs), ccm, maxConns);
    }

    private static void usage() {
        System.err.println("usage: java -jar bcsm-lab-server.jar --mode tls13sm --bind ADDR --port P --certs DIR [--ccm] [--max-conns N]\n"
                + "       java -jar bcsm-lab-server.jar --client HOST PORT [--ca FILE] [--suites c6,c7]");
    }

    // ------------------------------------------------------------------ key material

    private static List<byte[]> readPem(Path p, String type) throws IOException {
        List<byte[]> out = new ArrayList<>();
        try (PemReader r = new PemReader(new FileReader(p.toFile(), StandardCharsets.US_ASCII))) {
            PemObject o;
            while ((o = r.readPemObject()) != null) {
                if (o.getType().equals(type)) {
                    out.add(o.getContent());
                }
            }
        }
        if (out.isEmpty()) {
            throw new IOException(p + ": no " + type + " PEM block");
        }
        return out;
    }

    private static AsymmetricKeyParameter readKey(Path p) throws IOException {
        try (Reader r = new FileReader(p.toFile(), StandardCharsets.US_ASCII); PEMParser pp = new PEMParser(r)) {
            Object o = pp.readObject();
            if (o instanceof PrivateKeyInfo) {
                return PrivateKeyFactory.createKey((PrivateKeyInfo) o);
            }
            throw new IOException(p + ": expected an unencrypted PKCS#8 PRIVATE KEY, got " + o);
        }
    }

    // ------------------------------------------------------------------ server

    private static void runServer(String bind, int port, Path dir, boolean ccm, int maxConns) throws Exception {
        List<byte[]> chain = new ArrayList<>(readPem(dir.resolve("tls.crt"), "CERTIFICATE"));
        chain.addAll(readPem(dir.resolve("ca.crt"), "CERTIFICATE"));
        CertificateEntry[] entries = new CertificateEntry[chain.size()];
        for (int i = 0; i < entries.length; i++) {
            entries[i] = new CertificateEntry(CRYPTO.createCertificate(chain.get(i)), null);
        }
        Certificate certificate = new Certificate(new byte[0], entries);
        AsymmetricKeyParameter key = readKey(dir.resolve("tls.key"));
        int[] suites = ccm ? new int[] {CipherSuite.TLS_SM4_GCM_SM3, CipherSuite.TLS_SM4_CCM_SM3}
                : new int[] {CipherSuite.TLS_SM4_GCM_SM3};

        ThreadPoolExecutor pool = new ThreadPoolExecutor(maxConns, maxConns, 30, TimeUnit.SECONDS,
                new ArrayBlockingQueue<>(maxConns * 4));
        pool.allowCoreThreadTimeOut(true);
        AtomicLong seq = new AtomicLong();
        try (ServerSocket ss = new ServerSocket()) {
            ss.setReuseAddress(true);
            ss.bind(new InetSocketAddress(InetAddress.getByName(bind), port), 128);
            log("mode=tls13sm listening on " + ss.getLocalSocketAddress() + " suites="
                    + (ccm ? "0x00C6,0x00C7" : "0x00C6") + " group=curveSM2(41) sigalg=sm2sig_sm3(0x0708)");
            while (true) {
                Socket s = ss.accept();
                long id = seq.incrementAndGet();
                try {
                    pool.execute(() -> serveConn(id, s, certificate, key, suites));
                } catch (RejectedExecutionException e) {
                    log("#" + id + " " + s.getRemoteSocketAddress() + " refused: too many connections");
                    closeQuietly(s);
                }
            }
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // nothing to do
        }
    }

    private static void serveConn(long id, Socket s, Certificate certificate, AsymmetricKeyParameter key, int[] suites) {
        String peer = String.valueOf(s.getRemoteSocketAddress());
        try {
            s.setSoTimeout(15000);
            TlsServerProtocol proto = new TlsServerProtocol(s.getInputStream(), s.getOutputStream());
            SmServer server = new SmServer(certificate, key, suites);
            proto.accept(server);
            SecurityParameters sp = server.sp;
            String info = String.format("version=%s suite=0x%04X group=curveSM2(41)", sp.getNegotiatedVersion(),
                    sp.getCipherSuite());
            log("#" + id + " " + peer + " handshake ok " + info);
            InputStream in = proto.getInputStream();
            ByteArrayOutputStream req = new ByteArrayOutputStream();
            int b;
            while (req.size() < 16384 && (b = in.read()) >= 0) {
                req.write(b);
                String sofar = req.toString(StandardCharsets.ISO_8859_1);
                if (sofar.endsWith("\r\n\r\n") || sofar.endsWith("\n\n")) {
                    break;
                }
            }
            String first = req.toString(StandardCharsets.ISO_8859_1).split("\r?\n", 2)[0];
            String body = "<html><body>sentinel lab bcsm server: " + info + "</body></html>\n";
            String resp = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: " + body.length()
                    + "\r\nConnection: close\r\n\r\n" + body;
            OutputStream out = proto.getOutputStream();
            out.write(resp.getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            log("#" + id + " request \"" + first + "\" answered");
            proto.close();
        } catch (TlsFatalAlert e) {
            if (System.getenv("BCSM_DEBUG") != null) { e.printStackTrace(); }
            log("#" + id + " " + peer + " handshake failed: alert " + AlertDescription.getText(e.getAlertDescription())
                    + " (" + e.getMessage() + ")");
        } catch (Exception | LinkageError | AssertionError e) {
            log("#" + id + " " + peer + " connection failed: " + e);
        } finally {
            closeQuietly(s);
        }
    }

    static final class SmServer extends DefaultTlsServer {
        private final Certificate certificate;
        private final AsymmetricKeyParameter key;
        private final int[] suites;

        SmServer(Certificate certificate, AsymmetricKeyParameter key, int[] suites) {
            super(CRYPTO);
            this.certificate = certificate;
            this.key = key;
            this.suites = suites;
        }

        @Override
        protected ProtocolVersion[] getSupportedVersions() {
            return ProtocolVersion.TLSv13.only();
        }

        @Override
        protected int[] getSupportedCipherSuites() {
            return suites.clone();
        }

        @Override
        public int[] getSupportedGroups() {
            return new int[] {NamedGroup.curveSM2};
        }

        @Override
        public TlsCredentials getCredentials() {
            // RFC 8998 §3.2.1: TLS 1.3 SM2 signatures use the distinguishing ID
            // "TLSv1.3+GM+Cipher+Suite" (BcDefaultTlsCredentialedSigner would pick ECDSA).
            BcTlsSM2Signer signer = new BcTlsSM2Signer(CRYPTO, (ECPrivateKeyParameters) key, SM2_TLS13_ID);
            return new DefaultTlsCredentialedSigner(new TlsCryptoParameters(context), signer, certificate,
                    SignatureScheme.getSignatureAndHashAlgorithm(SignatureScheme.sm2sig_sm3));
        }

        SecurityParameters sp;

        @Override
        public void notifyHandshakeComplete() throws IOException {
            super.notifyHandshakeComplete();
            sp = context.getSecurityParametersConnection();
        }

        @Override
        public void notifyAlertRaised(short level, short desc, String msg, Throwable cause) {
            // logged by the connection handler
        }
    }

    // ------------------------------------------------------------------ client

    /**
     * bctls 1.83 signs sm2sig_sm3 but cannot verify it (BcTlsRawKeyCertificate.createVerifier
     * raises internal_error), so the client supplies an RFC 8998 verifier: SM2 with SM3 and
     * the ID "TLSv1.3+GM+Cipher+Suite" over the TLS 1.3 CertificateVerify content.
     */
    static final class SmCertificate extends BcTlsCertificate {
        SmCertificate(BcTlsCrypto crypto, byte[] der) throws IOException {
            super(crypto, der);
        }

        @Override
        public Tls13Verifier createVerifier(int signatureScheme) throws IOException {
            if (signatureScheme != SignatureScheme.sm2sig_sm3) {
                return super.createVerifier(signatureScheme);
            }
            SM2Signer signer = new SM2Signer();
            signer.init(false, new ParametersWithID(getPubKeyEC(), SM2_TLS13_ID));
            SignerOutputStream os = new SignerOutputStream(signer);
            return new Tls13Verifier() {
                @Override
                public OutputStream getOutputStream() {
                    return os;
                }

                @Override
                public boolean verifySignature(byte[] signature) {
                    return signer.verifySignature(signature);
                }
            };
        }
    }

    static final BcTlsCrypto CLIENT_CRYPTO = new BcTlsCrypto(RANDOM) {
        @Override
        public TlsCertificate createCertificate(byte[] encoding) throws IOException {
            return new SmCertificate(this, encoding);
        }

        @Override
        public TlsCertificate createCertificate(short type, byte[] encoding) throws IOException {
            if (type == org.bouncycastle.tls.CertificateType.X509) {
                return new SmCertificate(this, encoding);
            }
            return super.createCertificate(type, encoding);
        }
    };

    static final class SmClient extends DefaultTlsClient {
        final int[] suites;
        TlsCertificate[] peer = new TlsCertificate[0];

        SmClient(int[] suites) {
            super(CLIENT_CRYPTO);
            this.suites = suites;
        }

        @Override
        protected ProtocolVersion[] getSupportedVersions() {
            return ProtocolVersion.TLSv13.only();
        }

        @Override
        protected int[] getSupportedCipherSuites() {
            return suites.clone();
        }

        @Override
        protected Vector getSupportedGroups(Vector namedGroupRoles) {
            Vector<Integer> v = new Vector<>();
            v.add(NamedGroup.curveSM2);
            return v;
        }

        @Override
        public Vector getEarlyKeyShareGroups() {
            Vector<Integer> v = new Vector<>();
            v.add(NamedGroup.curveSM2);
            return v;
        }

        @Override
        protected Vector getSupportedSignatureAlgorithms() {
            Vector<SignatureAndHashAlgorithm> v = new Vector<>();
            v.add(SignatureScheme.getSignatureAndHashAlgorithm(SignatureScheme.sm2sig_sm3));
            return v;
        }

        @Override
        public TlsAuthentication getAuthentication() {
            return new TlsAuthentication() {
                @Override
                public void notifyServerCertificate(TlsServerCertificate sc) {
                    peer = sc.getCertificate().getCertificateList();
                }

                @Override
                public org.bouncycastle.tls.TlsCredentials getClientCredentials(
                        org.bouncycastle.tls.CertificateRequest req) {
                    return null;
                }
            };
        }

        SecurityParameters sp;

        @Override
        public void notifyHandshakeComplete() throws IOException {
            super.notifyHandshakeComplete();
            sp = context.getSecurityParametersConnection();
        }
    }

    private static int runClient(String host, int port, String ca, String suiteList) throws Exception {
        int[] suites = {CipherSuite.TLS_SM4_GCM_SM3, CipherSuite.TLS_SM4_CCM_SM3};
        if (suiteList != null) {
            String[] parts = suiteList.split(",");
            suites = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                suites[i] = Integer.parseInt(parts[i].trim().toLowerCase().replace("0x", ""), 16);
            }
        }
        SmClient client = new SmClient(suites);
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getByName(host), port), 10000);
            s.setSoTimeout(10000);
            TlsClientProtocol proto = new TlsClientProtocol(s.getInputStream(), s.getOutputStream());
            try {
                proto.connect(client);
            } catch (IOException e) {
                if (System.getenv("BCSM_DEBUG") != null) { e.printStackTrace(); }
                System.out.println("result=handshake-failed");
                System.out.println("error=" + e);
                return 1;
            }
            SecurityParameters sp = client.sp;
            CertificateFactory cf = CertificateFactory.getInstance("X.509", "BC");
            List<X509Certificate> certs = new ArrayList<>();
            for (TlsCertificate tc : client.peer) {
                certs.add((X509Certificate) cf.generateCertificate(new ByteArrayInputStream(tc.getEncoded())));
            }
            String verified = "skipped";
            if (ca != null) {
                verified = verify(certs, ca, cf);
            }
            System.out.println("result=ok");
            System.out.println("protocol=" + sp.getNegotiatedVersion());
            System.out.printf("version=0x%04X%n", sp.getNegotiatedVersion().getFullVersion());
            System.out.printf("suite=0x%04X%n", sp.getCipherSuite());
            System.out.println("suite_name=" + (sp.getCipherSuite() == CipherSuite.TLS_SM4_GCM_SM3 ? "TLS_SM4_GCM_SM3"
                    : sp.getCipherSuite() == CipherSuite.TLS_SM4_CCM_SM3 ? "TLS_SM4_CCM_SM3" : "other"));
            // the client offers (and sends a key share for) curveSM2 only
            System.out.println("group=curveSM2");
            System.out.println("group_id=" + NamedGroup.curveSM2);
            System.out.println("verified=" + verified);
            for (int i = 0; i < certs.size(); i++) {
                X509Certificate c = certs.get(i);
                System.out.printf("peer_cert[%d]=subject=\"%s\" issuer=\"%s\" sigalg=%s%n", i,
                        c.getSubjectX500Principal().getName(), c.getIssuerX500Principal().getName(), c.getSigAlgName());
            }
            OutputStream out = proto.getOutputStream();
            out.write(("GET / HTTP/1.0\r\nHost: " + host + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            ByteArrayOutputStream resp = new ByteArrayOutputStream();
            byte[] buf = new byte[4096];
            int n;
            try {
                while ((n = proto.getInputStream().read(buf)) > 0 && resp.size() < 65536) {
                    resp.write(buf, 0, n);
                }
            } catch (IOException e) {
                // server closed; BC reports a close without close_notify as an exception
                if (System.getenv("BCSM_DEBUG") != null) {
                    e.printStackTrace();
                }
            }
            System.out.println("http_status=\"" + resp.toString(StandardCharsets.ISO_8859_1).split("\r\n", 2)[0] + "\"");
            proto.close();
            return verified.equals("skipped") || verified.equals("ok") ? 0 : 3;
        }
    }

    /** Chain check: each certificate signed by the next, the last by (or equal to) the CA. */
    private static String verify(List<X509Certificate> certs, String caFile, CertificateFactory cf) {
        try (InputStream in = new java.io.FileInputStream(caFile)) {
            X509Certificate caCert = (X509Certificate) cf.generateCertificate(in);
            if (certs.isEmpty()) {
                return "failed: no certificate";
            }
            for (int i = 0; i < certs.size(); i++) {
                X509Certificate c = certs.get(i);
                c.checkValidity();
                if (c.equals(caCert)) {
                    return "ok";
                }
                X509Certificate issuer = i + 1 < certs.size() ? certs.get(i + 1) : caCert;
                c.verify(issuer.getPublicKey(), "BC");
            }
            return certs.get(certs.size() - 1).getIssuerX500Principal().equals(caCert.getSubjectX500Principal())
                    ? "ok" : "failed: chain does not end at the CA";
        } catch (Exception e) {
            return "failed: " + e;
        }
    }
}
