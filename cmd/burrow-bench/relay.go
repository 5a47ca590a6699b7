package main

// relay: the reference forwarder behind the benchmark's floor columns. It
// moves bytes along the same hops as burrow (client → CLI → controller →
// agent → target, the last two in one process) and does nothing else: no
// protocol, no multiplexing, no session records. With tcp:// endpoints the
// kernel splices the bytes; with tls:// every hop but the last is TLS, as
// burrow's are. Whatever these columns cannot reach on a machine, no design
// with that shape can, which separates "burrow is slow" from "this
// topology on this machine is slow".

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// hopFlags collects repeated -hop FROM=TO values.
type hopFlags []string

func (h *hopFlags) String() string     { return strings.Join(*h, " ") }
func (h *hopFlags) Set(v string) error { *h = append(*h, v); return nil }

// endpoint is one side of a hop: tcp://HOST:PORT or tls://HOST:PORT.
type endpoint struct {
	tls  bool
	addr string
}

func parseEndpoint(s string) (endpoint, error) {
	scheme, addr, ok := strings.Cut(s, "://")
	if !ok || addr == "" || (scheme != "tcp" && scheme != "tls") {
		return endpoint{}, fmt.Errorf("endpoint %q: want tcp://HOST:PORT or tls://HOST:PORT", s)
	}
	return endpoint{tls: scheme == "tls", addr: addr}, nil
}

func runRelay(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	var hops hopFlags
	fs.Var(&hops, "hop", "FROM=TO, each tcp://HOST:PORT or tls://HOST:PORT (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(hops) == 0 {
		return errors.New("at least one -hop FROM=TO is required")
	}
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for _, h := range hops {
		from, to, ok := strings.Cut(h, "=")
		if !ok {
			return fmt.Errorf("-hop %q: want FROM=TO", h)
		}
		ln, err := listenHop(from, to)
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		fmt.Fprintf(os.Stderr, "burrow-bench relay: %s -> %s\n", from, to)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	return nil
}

// serverTLS is the relay's one self-signed certificate, made on first use.
var serverTLS = sync.OnceValues(selfSignedTLS)

// clientTLS trusts any certificate: the relay runs on loopback for a
// benchmark and protects nothing.
var clientTLS = &tls.Config{InsecureSkipVerify: true}

// listenHop listens on from and relays every connection to to.
func listenHop(from, to string) (net.Listener, error) {
	src, err := parseEndpoint(from)
	if err != nil {
		return nil, err
	}
	dst, err := parseEndpoint(to)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", src.addr)
	if err != nil {
		return nil, err
	}
	if src.tls {
		cfg, err := serverTLS()
		if err != nil {
			ln.Close()
			return nil, err
		}
		ln = tls.NewListener(ln, cfg)
	}
	dial := func() (net.Conn, error) { return net.Dial("tcp", dst.addr) }
	if dst.tls {
		dial = func() (net.Conn, error) { return tls.Dial("tcp", dst.addr, clientTLS) }
	}
	go serveRelay(ln, dial)
	return ln, nil
}

func serveRelay(ln net.Listener, dial func() (net.Conn, error)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			n, err := dial()
			if err != nil {
				fmt.Fprintf(os.Stderr, "burrow-bench relay: %v\n", err)
				return
			}
			defer n.Close()
			done := make(chan struct{})
			go func() { relayCopy(n, c); close(done) }()
			relayCopy(c, n)
			<-done
		}()
	}
}

// relayCopy copies src to dst, then passes the EOF on as a half-close.
func relayCopy(dst, src net.Conn) {
	_, _ = io.CopyBuffer(dst, src, make([]byte, 256<<10))
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

func selfSignedTLS() (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, nil
}
