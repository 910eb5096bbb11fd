// Command pqtls-lab is Sentinel's lab server (and client) for standard TLS with
// the hybrid post-quantum group X25519MLKEM768, built on Go's crypto/tls.
//
//	pqtls-lab [--mode pq|classic] --bind ADDR --port P --certs DIR [--max-conns N]
//	pqtls-lab client --host H --port P [--ca FILE] [--groups x25519mlkem768,x25519] [--tls12]
//
// Server: TLS 1.2 and 1.3, groups X25519MLKEM768 (preferred) and X25519
// (mode classic: X25519 and P-256 only), ECDSA P-256 certificate ecdsa.crt/ecdsa.key.
package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

var logger = log.New(os.Stderr, "pqtls-lab ", log.LstdFlags|log.Lmicroseconds)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "client" {
		os.Exit(runClient(os.Args[2:]))
	}
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	os.Exit(runServer(args))
}

var groupNames = map[string]tls.CurveID{
	"x25519mlkem768": tls.X25519MLKEM768,
	"x25519":         tls.X25519,
	"p256":           tls.CurveP256,
	"secp256r1":      tls.CurveP256,
	"p384":           tls.CurveP384,
}

func parseGroups(s string) ([]tls.CurveID, error) {
	var out []tls.CurveID
	for _, p := range strings.Split(s, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		g, ok := groupNames[p]
		if !ok {
			return nil, fmt.Errorf("unknown group %q", p)
		}
		out = append(out, g)
	}
	return out, nil
}

func runServer(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	mode := fs.String("mode", "pq", "pq (X25519MLKEM768+X25519) | classic (X25519+P-256)")
	bind := fs.String("bind", "127.0.0.1", "IPv4 or IPv6 address")
	port := fs.Int("port", 8443, "TCP port")
	certs := fs.String("certs", "", "directory with ecdsa.crt / ecdsa.key")
	maxConns := fs.Int("max-conns", 256, "maximum concurrent connections")
	timeout := fs.Duration("timeout", 15*time.Second, "per-connection deadline")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *certs == "" {
		logger.Print("--certs is required")
		return 2
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(*certs, "ecdsa.crt"), filepath.Join(*certs, "ecdsa.key"))
	if err != nil {
		logger.Print(err)
		return 1
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   tls.VersionTLS13,
	}
	switch *mode {
	case "pq":
		cfg.CurvePreferences = []tls.CurveID{tls.X25519MLKEM768, tls.X25519}
	case "classic":
		cfg.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	default:
		logger.Printf("unknown mode %q", *mode)
		return 2
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*bind, strconv.Itoa(*port)))
	if err != nil {
		logger.Print(err)
		return 1
	}
	logger.Printf("mode=%s listening on %s groups=%v", *mode, ln.Addr(), cfg.CurvePreferences)
	sem := make(chan struct{}, *maxConns)
	var seq uint64
	for {
		c, err := ln.Accept()
		if err != nil {
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

func serveConn(id uint64, raw net.Conn, cfg *tls.Config, timeout time.Duration) {
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(timeout))
	c := tls.Server(raw, cfg)
	if err := c.Handshake(); err != nil {
		logger.Printf("#%d %s handshake failed: %v", id, raw.RemoteAddr(), err)
		return
	}
	st := c.ConnectionState()
	logger.Printf("#%d %s handshake ok version=%s suite=0x%04X group=%v", id, raw.RemoteAddr(),
		tls.VersionName(st.Version), st.CipherSuite, st.CurveID)
	br := bufio.NewReader(io.LimitReader(c, 16384))
	req := ""
	for {
		line, err := br.ReadString('\n')
		if req == "" {
			req = strings.TrimSpace(line)
		}
		if err != nil || strings.TrimSpace(line) == "" {
			break
		}
	}
	body := fmt.Sprintf("<html><body>sentinel lab pqtls server: %s %s group %v</body></html>\n",
		tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), st.CurveID)
	fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
	logger.Printf("#%d request %q answered", id, req)
	c.Close()
}

func runClient(args []string) int {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	host := fs.String("host", "127.0.0.1", "server address")
	port := fs.Int("port", 8443, "server port")
	caFile := fs.String("ca", "", "CA (PEM) to verify the server; without it verification is skipped")
	groups := fs.String("groups", "x25519mlkem768,x25519", "groups to offer")
	tls12 := fs.Bool("tls12", false, "offer TLS 1.2 only")
	sni := fs.String("servername", "", "server name to verify (default: host)")
	timeout := fs.Duration("timeout", 10*time.Second, "dial+handshake timeout")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	gl, err := parseGroups(*groups)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg := &tls.Config{CurvePreferences: gl, InsecureSkipVerify: true, ServerName: *sni}
	if cfg.ServerName == "" {
		cfg.ServerName = *host
	}
	if *tls12 {
		cfg.MaxVersion = tls.VersionTLS12
	}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cfg.RootCAs = pool
		cfg.InsecureSkipVerify = false
	}
	d := &net.Dialer{Timeout: *timeout}
	c, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(*host, strconv.Itoa(*port)), cfg)
	if err != nil {
		fmt.Printf("result=handshake-failed\nerror=%v\n", err)
		return 1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(*timeout))
	st := c.ConnectionState()
	fmt.Printf("result=ok\nprotocol=%s\nversion=0x%04X\nsuite=0x%04X\nsuite_name=%s\ngroup=%v\ngroup_id=%d\nverified=%v\n",
		tls.VersionName(st.Version), st.Version, st.CipherSuite, tls.CipherSuiteName(st.CipherSuite), st.CurveID, uint16(st.CurveID), *caFile != "")
	for i, pc := range st.PeerCertificates {
		fmt.Printf("peer_cert[%d]=subject=%q issuer=%q sigalg=%v\n", i, pc.Subject.String(), pc.Issuer.String(), pc.SignatureAlgorithm)
	}
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", *host)
	resp, _ := io.ReadAll(io.LimitReader(c, 65536))
	fmt.Printf("http_status=%q\n", strings.SplitN(string(resp), "\r\n", 2)[0])
	return 0
}
