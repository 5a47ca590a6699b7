//go:build e2e && linux

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// pollInterval is how often eventually re-checks its condition.
const pollInterval = 50 * time.Millisecond

// sourceSeed is targetsrv's SourceSeed (testdata/targetsrv/main.go).
const sourceSeed = "burrow-e2e-source-stream-seed-01"

// eventually calls check until it returns nil and fails t if it has not
// within timeout. It returns how long it took.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	if err := poll(timeout, check); err != nil {
		t.Fatalf("%s: not true within %v: %v", what, timeout, err)
	}
	return time.Since(start)
}

// poll calls check until it returns nil or timeout passes; it returns the
// last error in the latter case.
func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(pollInterval)
	}
}

// stream is n deterministic pseudo-random bytes named by seed.
func stream(seed string, n int64) io.Reader {
	var s [32]byte
	copy(s[:], seed)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func randomBytes(seed string, n int) []byte {
	b, err := io.ReadAll(stream(seed, int64(n)))
	if err != nil {
		panic(err)
	}
	return b
}

func sha256Hex(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, 1<<20))
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// echoExact writes payload to an echo service and reads exactly as many
// bytes back, without half-closing.
func echoExact(c net.Conn, payload []byte, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		werr <- err
	}()
	got := make([]byte, len(payload))
	n, rerr := io.ReadFull(c, got)
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("read: got %d of %d bytes: %w", n, len(payload), rerr)
	}
	return sameBytes(got, payload)
}

// echoHalfClose writes payload to an echo service, half-closes, and reads
// until EOF.
func echoHalfClose(c *net.TCPConn, payload []byte, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	got, rerr := io.ReadAll(c)
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("read: got %d of %d bytes: %w", len(got), len(payload), rerr)
	}
	return sameBytes(got, payload)
}

func sameBytes(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	return fmt.Errorf("got %d bytes, want %d; first difference at offset %d", len(got), len(want), i)
}

// hashWriter is a SHA-256 that prints as hex.
type hashWriter struct{ hash.Hash }

func newHashWriter() hashWriter { return hashWriter{sha256.New()} }

func (h hashWriter) hex() string { return hex.EncodeToString(h.Sum(nil)) }
