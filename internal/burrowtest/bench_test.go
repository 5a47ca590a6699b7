package burrowtest_test

import (
	"context"
	"io"
	"net"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/burrowtest"
)

// Each benchmark runs over burrow (client → controller → agent, TLS on both
// hops, all in this process) and over direct TCP for a side-by-side ratio.
// The machines are noisy: compare the two in one run, not across runs.

type dialFunc func(b *testing.B, port int) net.Conn

func benchPaths(b *testing.B, run func(b *testing.B, dial dialFunc, port int)) {
	s := burrowtest.Start(b)
	s.StartAgent("bench", nil)
	port := burrowtest.Echo(b)
	c := s.Client(s.AdminToken)
	defer c.Close()
	direct := func(_ context.Context, _ string, port int) (net.Conn, error) {
		return net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	}
	paths := []struct {
		name string
		dial func(ctx context.Context, target string, port int) (net.Conn, error)
	}{{"direct", direct}, {"upgrade", c.DialPortForward}, {"gateway", c.DialStream}}
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			run(b, func(b *testing.B, port int) net.Conn {
				conn, err := p.dial(context.Background(), "bench", port)
				if err != nil {
					b.Fatal(err)
				}
				return conn
			}, port)
		})
	}
}

// BenchmarkThroughput streams 1 MiB writes through an echo and reads them
// back: both directions loaded at once.
func BenchmarkThroughput(b *testing.B) {
	benchPaths(b, func(b *testing.B, dial dialFunc, port int) {
		conn := dial(b, port)
		defer conn.Close()
		buf := make([]byte, 1<<20)
		b.SetBytes(int64(len(buf)))
		b.ResetTimer()
		go func() {
			for range b.N {
				if _, err := conn.Write(buf); err != nil {
					return
				}
			}
		}()
		rbuf := make([]byte, 256<<10)
		if _, err := io.ReadAtLeast(conn, rbuf, 0); err != nil {
			b.Fatal(err)
		}
		for left := int64(b.N) * int64(len(buf)); left > 0; {
			n, err := conn.Read(rbuf[:min(int64(len(rbuf)), left)])
			if err != nil {
				b.Fatal(err)
			}
			left -= int64(n)
		}
	})
}

// BenchmarkRTT is a 64-byte ping-pong on one connection; it reports p50
// and p99 in microseconds.
func BenchmarkRTT(b *testing.B) {
	benchPaths(b, func(b *testing.B, dial dialFunc, port int) {
		conn := dial(b, port)
		defer conn.Close()
		msg := make([]byte, 64)
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			conn.Write(msg)
			if _, err := io.ReadFull(conn, msg); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	})
}

// BenchmarkConnect opens a connection, echoes one byte and closes it.
func BenchmarkConnect(b *testing.B) {
	benchPaths(b, func(b *testing.B, dial dialFunc, port int) {
		one := []byte{1}
		b.SetParallelism(4)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				conn := dial(b, port)
				conn.Write(one)
				if _, err := io.ReadFull(conn, one); err != nil {
					b.Fatal(err)
				}
				conn.Close()
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
	})
}
