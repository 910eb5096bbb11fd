// Command gmtls-lab is Sentinel's lab server and client for TLCP (GB/T 38636,
// record version 0x0101) built on github.com/tjfoc/gmsm/gmtls, plus the lab's
// certificate generator.
//
//	gmtls-lab --mode tlcp|dual --bind ADDR --port P --certs DIR [--suites e013,e011] [--max-conns N]
//	gmtls-lab client --host H --port P [--ca FILE] [--suites e013] [--tls]
//	gmtls-lab gencerts --out DIR [--cn NAME] [--san localhost,127.0.0.1,::1]
//
// Servers log to stderr; the client prints key=value lines to stdout.
package main

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	stdtls "crypto/tls"
	stdx509 "crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tjfoc/gmsm/gmtls"
	"github.com/tjfoc/gmsm/sm2"
	"github.com/tjfoc/gmsm/x509"
)

var logger = log.New(os.Stderr, "gmtls-lab ", log.LstdFlags|log.Lmicroseconds)

// stdout is the real standard output; tjfoc's gmtls prints debug lines with
// fmt.Println, so os.Stdout is pointed at stderr to keep stdout parseable.
var stdout = os.Stdout

func main() {
	os.Stdout = os.Stderr
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "client":
			os.Exit(runClient(os.Args[2:]))
		case "gencerts":
			os.Exit(runGencerts(os.Args[2:]))
		case "serve":
			os.Exit(runServer(os.Args[2:]))
		case "-h", "--help", "help":
			usage()
			return
		}
	}
	os.Exit(runServer(os.Args[1:]))
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  gmtls-lab [serve] --mode tlcp|dual --bind ADDR --port P --certs DIR [--suites e013,e011] [--max-conns N]
  gmtls-lab client --host H --port P [--ca FILE] [--suites e013,e011] [--tls] [--timeout 10s]
  gmtls-lab gencerts --out DIR [--cn NAME] [--san localhost,127.0.0.1,::1] [--days 365]`)
}

// ---------------------------------------------------------------- suites

var suiteNames = map[uint16]string{
	gmtls.GMTLS_SM2_WITH_SM4_SM3:       "ECC_SM4_CBC_SM3",
	gmtls.GMTLS_ECDHE_SM2_WITH_SM4_SM3: "ECDHE_SM4_CBC_SM3",
}

func suiteName(id uint16) string {
	if n, ok := suiteNames[id]; ok {
		return n
	}
	for _, s := range stdtls.CipherSuites() {
		if s.ID == id {
			return s.Name
		}
	}
	for _, s := range stdtls.InsecureCipherSuites() {
		if s.ID == id {
			return s.Name
		}
	}
	return "unknown"
}

func versionName(v uint16) string {
	switch v {
	case gmtls.VersionGMSSL:
		return "TLCP1.1"
	case 0x0301:
		return "TLS1.0"
	case 0x0302:
		return "TLS1.1"
	case 0x0303:
		return "TLS1.2"
	case 0x0304:
		return "TLS1.3"
	}
	return "unknown"
}

func parseSuites(s string) ([]uint16, error) {
	if s == "" {
		return nil, nil
	}
	var out []uint16
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(strings.ToLower(p)), "0x"), "0X")
		v, err := strconv.ParseUint(p, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("bad suite %q: %v", p, err)
		}
		out = append(out, uint16(v))
	}
	return out, nil
}

// ---------------------------------------------------------------- key material

func readPEMBlocks(path, typ string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type == typ {
			out = append(out, b.Bytes)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no %s PEM block", path, typ)
	}
	return out, nil
}

// loadSM2Pair loads an SM2 certificate (optionally followed by chain certificates
// given in extra) and its PKCS#8 SM2 private key.
func loadSM2Pair(certPath, keyPath string, extra ...[]byte) (gmtls.Certificate, error) {
	ders, err := readPEMBlocks(certPath, "CERTIFICATE")
	if err != nil {
		return gmtls.Certificate{}, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return gmtls.Certificate{}, err
	}
	key, err := x509.ReadPrivateKeyFromPem(keyPEM, nil)
	if err != nil {
		return gmtls.Certificate{}, fmt.Errorf("%s: %v", keyPath, err)
	}
	chain := append(ders, extra...)
	return gmtls.Certificate{Certificate: chain, PrivateKey: key}, nil
}

func loadECDSAPair(certPath, keyPath string) (gmtls.Certificate, error) {
	ders, err := readPEMBlocks(certPath, "CERTIFICATE")
	if err != nil {
		return gmtls.Certificate{}, err
	}
	kd, err := readPEMBlocks(keyPath, "PRIVATE KEY")
	if err != nil {
		return gmtls.Certificate{}, err
	}
	k, err := stdx509.ParsePKCS8PrivateKey(kd[0])
	if err != nil {
		return gmtls.Certificate{}, fmt.Errorf("%s: %v", keyPath, err)
	}
	return gmtls.Certificate{Certificate: ders, PrivateKey: k}, nil
}

// ---------------------------------------------------------------- server

func runServer(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	mode := fs.String("mode", "tlcp", "tlcp | dual")
	bind := fs.String("bind", "127.0.0.1", "IPv4 or IPv6 address to bind")
	port := fs.Int("port", 4433, "TCP port")
	certs := fs.String("certs", "", "directory written by 'gmtls-lab gencerts'")
	suites := fs.String("suites", "", "TLCP suites to enable, hex list (default e013,e011)")
	maxConns := fs.Int("max-conns", 256, "maximum concurrent connections")
	timeout := fs.Duration("timeout", 15*time.Second, "per-connection deadline")
	tlsMin := fs.String("tls-min", "", "dual mode: lowest standard TLS version, 1.0|1.1|1.2 (default: the stack's, TLS 1.0)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *certs == "" {
		logger.Print("--certs is required")
		return 2
	}
	caDER, err := readPEMBlocks(filepath.Join(*certs, "ca.crt"), "CERTIFICATE")
	if err != nil {
		logger.Print(err)
		return 1
	}
	sign, err := loadSM2Pair(filepath.Join(*certs, "sign.crt"), filepath.Join(*certs, "sign.key"))
	if err != nil {
		logger.Print(err)
		return 1
	}
	// Certificate message = sign, enc, CA (tjfoc concatenates both chains).
	enc, err := loadSM2Pair(filepath.Join(*certs, "enc.crt"), filepath.Join(*certs, "enc.key"), caDER...)
	if err != nil {
		logger.Print(err)
		return 1
	}
	suiteList, err := parseSuites(*suites)
	if err != nil {
		logger.Print(err)
		return 2
	}
	if suiteList == nil {
		suiteList = []uint16{gmtls.GMTLS_SM2_WITH_SM4_SM3, gmtls.GMTLS_ECDHE_SM2_WITH_SM4_SM3}
	}

	var cfg *gmtls.Config
	switch *mode {
	case "tlcp":
		cfg = &gmtls.Config{
			GMSupport:    gmtls.NewGMSupport(),
			Certificates: []gmtls.Certificate{sign, enc},
			CipherSuites: suiteList,
		}
	case "dual":
		std, err := loadECDSAPair(filepath.Join(*certs, "ecdsa.crt"), filepath.Join(*certs, "ecdsa.key"))
		if err != nil {
			logger.Print(err)
			return 1
		}
		cfg, err = gmtls.NewBasicAutoSwitchConfig(&sign, &enc, &std)
		if err != nil {
			logger.Print(err)
			return 1
		}
		if err := limitStandardTLS(cfg, *tlsMin); err != nil {
			logger.Print(err)
			return 2
		}
	default:
		logger.Printf("unknown mode %q", *mode)
		return 2
	}

	addr := net.JoinHostPort(*bind, strconv.Itoa(*port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Print(err)
		return 1
	}
	logger.Printf("mode=%s listening on %s suites=%s", *mode, ln.Addr(), hexList(suiteList))
	sem := make(chan struct{}, *maxConns)
	var seq uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			logger.Printf("accept: %v", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			logger.Printf("conn from %s refused: %d connections busy", c.RemoteAddr(), *maxConns)
			c.Close()
			continue
		}
		id := atomic.AddUint64(&seq, 1)
		go func() {
			defer func() { <-sem }()
			serveConn(id, c, cfg, *timeout)
		}()
	}
}

// limitStandardTLS sets the lowest TLS version for standard-TLS clients of a dual server.
// tjfoc checks MinVersion against every ClientHello, TLCP's 0x0101 included, so the limit
// lives in a second config handed only to clients that do not offer TLCP.
func limitStandardTLS(cfg *gmtls.Config, min string) error {
	versions := map[string]uint16{"": 0, "1.0": gmtls.VersionTLS10, "1.1": gmtls.VersionTLS11, "1.2": gmtls.VersionTLS12}
	v, ok := versions[min]
	if !ok {
		return fmt.Errorf("--tls-min %q: want 1.0, 1.1 or 1.2", min)
	}
	if v == 0 {
		return nil
	}
	std := cfg.Clone()
	std.MinVersion = v
	cfg.GetConfigForClient = func(info *gmtls.ClientHelloInfo) (*gmtls.Config, error) {
		for _, offered := range info.SupportedVersions {
			if offered == gmtls.VersionGMSSL {
				return nil, nil
			}
		}
		return std, nil
	}
	return nil
}

func hexList(l []uint16) string {
	var p []string
	for _, v := range l {
		p = append(p, fmt.Sprintf("0x%04X", v))
	}
	return strings.Join(p, ",")
}

func serveConn(id uint64, raw net.Conn, cfg *gmtls.Config, timeout time.Duration) {
	defer raw.Close()
	defer func() {
		if r := recover(); r != nil {
			logger.Printf("#%d %s panic in TLS stack: %v", id, raw.RemoteAddr(), r)
		}
	}()
	raw.SetDeadline(time.Now().Add(timeout))
	c := gmtls.Server(raw, cfg)
	if err := c.Handshake(); err != nil {
		logger.Printf("#%d %s handshake failed: %v", id, raw.RemoteAddr(), err)
		return
	}
	st := c.ConnectionState()
	logger.Printf("#%d %s handshake ok version=0x%04X suite=0x%04X (%s)", id, raw.RemoteAddr(), st.Version, st.CipherSuite, suiteName(st.CipherSuite))
	br := bufio.NewReader(io.LimitReader(c, 16384))
	reqLine := ""
	for {
		line, err := br.ReadString('\n')
		if reqLine == "" {
			reqLine = strings.TrimSpace(line)
		}
		if err != nil || strings.TrimSpace(line) == "" {
			break
		}
	}
	body := fmt.Sprintf("<html><body>sentinel lab gmtls server: %s suite 0x%04X %s</body></html>\n",
		versionName(st.Version), st.CipherSuite, suiteName(st.CipherSuite))
	resp := fmt.Sprintf("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	if _, err := c.Write([]byte(resp)); err != nil {
		logger.Printf("#%d write: %v", id, err)
	}
	logger.Printf("#%d request %q answered", id, reqLine)
	c.Close()
}

// ---------------------------------------------------------------- client

func runClient(args []string) int {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	host := fs.String("host", "127.0.0.1", "server address")
	port := fs.Int("port", 4433, "server port")
	caFile := fs.String("ca", "", "SM2 CA (PEM) to verify the server; without it verification is skipped")
	suites := fs.String("suites", "", "TLCP suites to offer, hex list (default e013,e011)")
	useTLS := fs.Bool("tls", false, "speak standard TLS (tjfoc's TLS 1.0-1.2 stack) instead of TLCP")
	sni := fs.String("servername", "", "SNI / name to verify (default: host)")
	timeout := fs.Duration("timeout", 10*time.Second, "dial+handshake timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// tjfoc's own verification checks the host name against the wrong certificate
	// of a TLCP chain, so the client verifies the chain itself after the handshake.
	cfg := &gmtls.Config{InsecureSkipVerify: true}
	var pool *x509.CertPool
	if !*useTLS {
		cfg.GMSupport = gmtls.NewGMSupport()
	}
	if l, err := parseSuites(*suites); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	} else if l != nil {
		cfg.CipherSuites = l
	}
	if *caFile != "" {
		pemData, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			fmt.Fprintln(os.Stderr, "no CA certificate in", *caFile)
			return 2
		}
	}
	cfg.ServerName = *sni
	if cfg.ServerName == "" {
		cfg.ServerName = *host
	}
	addr := net.JoinHostPort(*host, strconv.Itoa(*port))
	d := &net.Dialer{Timeout: *timeout}
	raw, err := d.Dial("tcp", addr)
	if err != nil {
		fmt.Fprintf(stdout, "result=connect-failed\nerror=%v\n", err)
		return 1
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(*timeout))
	c := gmtls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		fmt.Fprintf(stdout, "result=handshake-failed\nerror=%v\n", err)
		return 1
	}
	st := c.ConnectionState()
	verified := "skipped"
	if pool != nil {
		verified = "ok"
		if err := verifyChain(st.PeerCertificates, pool, cfg.ServerName, !*useTLS); err != nil {
			verified = "failed: " + err.Error()
		}
	}
	fmt.Fprintf(stdout, "result=ok\nprotocol=%s\nversion=0x%04X\nsuite=0x%04X\nsuite_name=%s\nverified=%s\n",
		versionName(st.Version), st.Version, st.CipherSuite, suiteName(st.CipherSuite), verified)
	for i, pc := range st.PeerCertificates {
		fmt.Fprintf(stdout, "peer_cert[%d]=subject=%q issuer=%q sigalg=%v keyusage=%d\n", i, pc.Subject.String(), pc.Issuer.String(), pc.SignatureAlgorithm, pc.KeyUsage)
	}
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", *host)
	resp, _ := io.ReadAll(io.LimitReader(c, 65536))
	first := strings.SplitN(string(resp), "\r\n", 2)[0]
	fmt.Fprintf(stdout, "http_status=%q\n", first)
	if verified != "skipped" && verified != "ok" {
		return 3
	}
	return 0
}

// verifyChain checks the server's chain against pool. For TLCP the first two
// certificates are the signing and encryption certificates; both must chain to
// the CA, and the signing certificate must match the server name.
func verifyChain(certs []*x509.Certificate, pool *x509.CertPool, name string, tlcp bool) error {
	if len(certs) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	leaves := 1
	if tlcp {
		leaves = 2
		if len(certs) < 2 {
			return errors.New("TLCP server sent fewer than two certificates")
		}
	}
	for _, c := range certs[leaves:] {
		inter.AddCert(c)
	}
	for i := 0; i < leaves; i++ {
		opts := x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if i == 0 {
			opts.DNSName = name
		}
		if _, err := certs[i].Verify(opts); err != nil {
			return fmt.Errorf("cert[%d]: %v", i, err)
		}
	}
	return nil
}

// ---------------------------------------------------------------- gencerts

func runGencerts(args []string) int {
	fs := flag.NewFlagSet("gencerts", flag.ContinueOnError)
	out := fs.String("out", "", "output directory")
	cn := fs.String("cn", "sentinel-lab.local", "subject CN for the server certificates")
	san := fs.String("san", "localhost,127.0.0.1,::1", "comma-separated DNS names / IP addresses")
	days := fs.Int("days", 365, "validity in days")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" {
		fmt.Fprintln(os.Stderr, "--out is required")
		return 2
	}
	if err := gencerts(*out, *cn, strings.Split(*san, ","), *days); err != nil {
		fmt.Fprintln(os.Stderr, "gencerts:", err)
		return 1
	}
	fmt.Fprintln(stdout, *out)
	return 0
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n.Add(n, big.NewInt(1))
}

func splitSAN(sans []string) (dns []string, ips []net.IP) {
	for _, s := range sans {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, s)
		}
	}
	return
}

func writeFile(dir, name string, data []byte, mode os.FileMode) error {
	return os.WriteFile(filepath.Join(dir, name), data, mode)
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func gencerts(dir, cn string, sans []string, days int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour).UTC()
	end := now.Add(time.Duration(days) * 24 * time.Hour)
	dns, ips := splitSAN(sans)
	org := []string{"Sentinel Lab"}

	// --- SM2 root CA (SM3withSM2)
	caKey, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	caTpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Sentinel Lab SM2 Root CA", Organization: org, Country: []string{"CN"}},
		NotBefore:             now,
		NotAfter:              end,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SignatureAlgorithm:    x509.SM2WithSM3,
		SubjectKeyId:          serial().Bytes()[:8],
	}
	caDER, err := x509.CreateCertificate(caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("ca: %v", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := writeFile(dir, "ca.crt", pemBytes("CERTIFICATE", caDER), 0o644); err != nil {
		return err
	}
	caKeyPEM, err := x509.WritePrivateKeyToPem(caKey, nil)
	if err != nil {
		return err
	}
	if err := writeFile(dir, "ca.key", caKeyPEM, 0o600); err != nil {
		return err
	}

	leaf := func(name, cnSuffix string, ku x509.KeyUsage, withSAN bool) error {
		k, err := sm2.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		tpl := &x509.Certificate{
			SerialNumber:          serial(),
			Subject:               pkix.Name{CommonName: cn + cnSuffix, Organization: org, Country: []string{"CN"}},
			NotBefore:             now,
			NotAfter:              end,
			KeyUsage:              ku,
			BasicConstraintsValid: true,
			SignatureAlgorithm:    x509.SM2WithSM3,
		}
		if withSAN {
			tpl.DNSNames, tpl.IPAddresses = dns, ips
			tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(tpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		kp, err := x509.WritePrivateKeyToPem(k, nil)
		if err != nil {
			return err
		}
		if err := writeFile(dir, name+".crt", pemBytes("CERTIFICATE", der), 0o644); err != nil {
			return err
		}
		return writeFile(dir, name+".key", kp, 0o600)
	}
	if err := leaf("sign", "", x509.KeyUsageDigitalSignature, true); err != nil {
		return err
	}
	if err := leaf("enc", " (enc)", x509.KeyUsageKeyEncipherment|x509.KeyUsageDataEncipherment|x509.KeyUsageKeyAgreement, true); err != nil {
		return err
	}
	if err := leaf("tls", "", x509.KeyUsageDigitalSignature, true); err != nil {
		return err
	}

	// --- ECDSA P-256 CA + server certificate (pqtls, TLS side of dual servers)
	eCAKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	eCATpl := &stdx509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Sentinel Lab ECDSA Root CA", Organization: org},
		NotBefore:             now,
		NotAfter:              end,
		KeyUsage:              stdx509.KeyUsageCertSign | stdx509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	eCADER, err := stdx509.CreateCertificate(rand.Reader, eCATpl, eCATpl, &eCAKey.PublicKey, eCAKey)
	if err != nil {
		return err
	}
	eCACert, _ := stdx509.ParseCertificate(eCADER)
	eKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	eTpl := &stdx509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: org},
		NotBefore:             now,
		NotAfter:              end,
		KeyUsage:              stdx509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
	}
	eDER, err := stdx509.CreateCertificate(rand.Reader, eTpl, eCACert, &eKey.PublicKey, crypto.Signer(eCAKey))
	if err != nil {
		return err
	}
	eKeyDER, err := stdx509.MarshalPKCS8PrivateKey(eKey)
	if err != nil {
		return err
	}
	if err := writeFile(dir, "ca-ecdsa.crt", pemBytes("CERTIFICATE", eCADER), 0o644); err != nil {
		return err
	}
	if err := writeFile(dir, "ecdsa.crt", append(pemBytes("CERTIFICATE", eDER), pemBytes("CERTIFICATE", eCADER)...), 0o644); err != nil {
		return err
	}
	return writeFile(dir, "ecdsa.key", pemBytes("PRIVATE KEY", eKeyDER), 0o600)
}
