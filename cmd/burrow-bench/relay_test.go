package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
)

// TestRelayChain runs the floor columns' shape, a plain hop then a TLS hop
// then a plain last hop, in front of an echo server: every byte comes back
// in order, and the client's half-close reaches the echo server (which only
// then closes, ending the read).
func TestRelayChain(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()

	last, err := listenHop("tls://127.0.0.1:0", "tcp://"+echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer last.Close()
	first, err := listenHop("tcp://127.0.0.1:0", "tls://"+last.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	c, err := net.Dial("tcp", first.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := make([]byte, 4<<20)
	_, _ = rand.Read(want)
	go func() {
		_, _ = c.Write(want)
		_ = c.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes back, want the %d sent, in order", len(got), len(want))
	}
}

func TestParseEndpoint(t *testing.T) {
	for _, s := range []string{"", "127.0.0.1:1", "udp://127.0.0.1:1", "tcp://"} {
		if _, err := parseEndpoint(s); err == nil {
			t.Errorf("parseEndpoint(%q) accepted", s)
		}
	}
	if e, err := parseEndpoint("tls://127.0.0.1:9"); err != nil || !e.tls || e.addr != "127.0.0.1:9" {
		t.Errorf("parseEndpoint(tls://127.0.0.1:9) = %+v, %v", e, err)
	}
}
