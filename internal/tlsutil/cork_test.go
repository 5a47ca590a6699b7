package tlsutil

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/credentials"
)

// countingConn counts the writes that reach the network.
type countingConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func testConfigs(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	certPEM, keyPEM, err := SelfSigned([]string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}},
		&tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{"h2"}}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// pair returns a corked client, the count of its network writes, and a
// corked server, both past the handshake.
func pair(t *testing.T) (*Conn, *countingConn, *Conn) {
	t.Helper()
	scfg, ccfg := testConfigs(t)
	a, b := tcpPair(t)
	raw := &countingConn{Conn: a}
	client, server := Client(raw, ccfg), Server(b, scfg)
	errc := make(chan error, 1)
	go func() { errc <- server.Handshake() }()
	if err := client.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	raw.writes.Store(0)
	return client, raw, server
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

func TestCorkOneWritePerWrite(t *testing.T) {
	client, raw, server := pair(t)
	msg := pattern(64 << 10) // four full records
	go client.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("data differs")
	}
	if n := raw.writes.Load(); n != 1 {
		t.Fatalf("64 KiB Write made %d network writes, want 1", n)
	}
}

func TestCorkBigWrite(t *testing.T) {
	client, raw, server := pair(t)
	msg := pattern(4<<20 + 12345)
	errc := make(chan error, 1)
	go func() {
		n, err := client.Write(msg)
		if err == nil && n != len(msg) {
			err = fmt.Errorf("wrote %d of %d", n, len(msg))
		}
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("data differs")
	}
	// Each network write carries at least MaxCork bytes but the last.
	if n, most := raw.writes.Load(), int64(len(msg)/MaxCork+1); n > most {
		t.Fatalf("%d network writes for %d bytes, want at most %d", n, len(msg), most)
	}
}

// TestCorkConcurrentWriters interleaves Writes of several goroutines:
// every message arrives whole and the TLS stream stays valid (a record
// out of order would fail its MAC).
func TestCorkConcurrentWriters(t *testing.T) {
	client, _, server := pair(t)
	const writers, each, size = 4, 50, 20000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			msg := bytes.Repeat([]byte{byte('a' + w)}, size)
			for range each {
				if _, err := client.Write(msg); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	go func() { wg.Wait(); client.CloseWrite() }()
	all, err := io.ReadAll(server)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != writers*each*size {
		t.Fatalf("read %d bytes, want %d", len(all), writers*each*size)
	}
	for i := 0; i < len(all); i += size {
		if m := all[i : i+size]; !bytes.Equal(m, bytes.Repeat(m[:1], size)) {
			t.Fatalf("message at %d is mixed", i)
		}
	}
}

// TestCorkHalfClose: CloseWrite sends close_notify after the data; the
// other side reads everything, then EOF, and can still answer.
func TestCorkHalfClose(t *testing.T) {
	client, _, server := pair(t)
	msg := pattern(100 << 10)
	go func() {
		client.Write(msg)
		client.CloseWrite()
	}()
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes, want %d", len(got), len(msg))
	}
	go func() {
		server.Write([]byte("reply"))
		server.Close()
	}()
	reply, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if string(reply) != "reply" {
		t.Fatalf("reply %q", reply)
	}
}

// TestCorkCloseBreaksWrite: Close while a Write is stuck behind a peer
// that does not read ends that Write with an error.
func TestCorkCloseBreaksWrite(t *testing.T) {
	client, _, _ := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := client.Write(make([]byte, 64<<20))
		errc <- err
	}()
	if err := client.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("close: %v", err) // a failed close_notify is expected here
	}
	if err := <-errc; err == nil {
		t.Fatal("Write succeeded on a closed connection")
	}
}

// TestCorkCloseNotify: Close after writes sends close_notify, so the peer
// reads a clean EOF after all the data.
func TestCorkCloseNotify(t *testing.T) {
	client, _, server := pair(t)
	msg := pattern(300 << 10)
	go func() {
		client.Write(msg)
		client.Close()
	}()
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatalf("read: %v (want a clean EOF)", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes, want %d", len(got), len(msg))
	}
}

// recorder is a network connection that keeps what is written to it.
type recorder struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
	fail   error
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recorder) Close() error { return nil }

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Join(r.writes, nil)
}

// TestCorkerOrder plays crypto/tls: records are numbered under one lock
// (its output lock) and come both from corked Writes and, at the same
// time, from elsewhere (as alerts from Read do). They reach the network in
// their numbered order, and whatever is written while no Write runs is
// on the network when its write returns.
func TestCorkerOrder(t *testing.T) {
	rec := &recorder{}
	k := &corker{Conn: rec}
	var (
		outMu sync.Mutex
		seq   uint32
	)
	record := func() error {
		outMu.Lock()
		defer outMu.Unlock()
		seq++
		_, err := k.Write(fmt.Appendf(nil, "%08d;", seq))
		return err
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 200 {
			k.corkedWrite(func([]byte) (int, error) {
				for range 5 {
					if err := record(); err != nil {
						return 0, err
					}
				}
				return 0, nil
			}, nil)
		}
	})
	wg.Go(func() {
		for range 300 {
			if err := record(); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	want := make([]byte, 0, 1300*9)
	for i := 1; i <= 1300; i++ {
		want = fmt.Appendf(want, "%08d;", i)
	}
	if got := rec.bytes(); !bytes.Equal(got, want) {
		t.Fatalf("records out of order or lost:\n got %.200s…\nwant %.200s…", got, want)
	}

	// Uncorked, a write is on the network when it returns.
	if _, err := k.Write([]byte("alert")); err != nil {
		t.Fatal(err)
	}
	if got := rec.bytes(); !bytes.HasSuffix(got, []byte("alert")) {
		t.Fatalf("uncorked write was held back: %.20q", got[len(got)-20:])
	}
}

// TestCorkerCap: a corker holding MaxCork bytes sends them at once.
func TestCorkerCap(t *testing.T) {
	rec := &recorder{}
	k := &corker{Conn: rec}
	record := make([]byte, 16<<10)
	var during int
	k.corkedWrite(func([]byte) (int, error) {
		for range MaxCork/len(record) + 3 {
			k.Write(record)
		}
		rec.mu.Lock()
		during = len(rec.writes)
		rec.mu.Unlock()
		return 0, nil
	}, nil)
	if during != 1 {
		t.Fatalf("%d writes while corked, want 1 (at MaxCork)", during)
	}
	if len(rec.writes) != 2 || len(rec.bytes()) != (MaxCork/len(record)+3)*len(record) {
		t.Fatalf("%d writes, %d bytes after the Write", len(rec.writes), len(rec.bytes()))
	}
}

// TestCorkerStickyError: after a failed network write, every later write
// fails, and nothing more is sent.
func TestCorkerStickyError(t *testing.T) {
	boom := errors.New("boom")
	rec := &recorder{fail: boom}
	k := &corker{Conn: rec}
	if _, err := k.corkedWrite(func(p []byte) (int, error) { return k.Write(p) }, []byte("x")); !errors.Is(err, boom) {
		t.Fatalf("corked write: %v, want boom", err)
	}
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	if _, err := k.Write([]byte("y")); !errors.Is(err, boom) {
		t.Fatalf("later write: %v, want boom", err)
	}
	if len(rec.bytes()) != 0 {
		t.Fatalf("sent %q after a failure", rec.bytes())
	}
}

// TestCredentials: gRPC's TLS handshake through Credentials keeps its
// AuthInfo, and a Write leaves in one network write.
func TestCredentials(t *testing.T) {
	scfg, ccfg := testConfigs(t)
	a, b := tcpPair(t)
	raw := &countingConn{Conn: a}
	server := tls.Server(b, scfg)
	go server.Handshake()
	conn, info, err := Credentials(ccfg).ClientHandshake(context.Background(), "localhost:443", raw)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ti, ok := info.(credentials.TLSInfo)
	if !ok || !ti.State.HandshakeComplete || ti.State.NegotiatedProtocol != "h2" {
		t.Fatalf("auth info %#v", info)
	}
	raw.writes.Store(0)
	msg := pattern(200 << 10)
	go conn.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("data differs")
	}
	if n := raw.writes.Load(); n != 1 {
		t.Fatalf("%d network writes, want 1", n)
	}
}
