// Package main is targetsrv, the target service of burrow's end-to-end test. It
// listens on one port per mode:
//
//   - echo:   writes back everything it reads; half-closes its side after
//     the client half-closes.
//   - hash:   reads until EOF, then writes the hex SHA-256 of what it read
//     and a newline, then closes.
//   - source: reads one line holding a decimal byte count N, writes N bytes
//     of the deterministic stream (ChaCha8 seeded with SourceSeed), then
//     closes.
//
// It prints "ready" on stdout once all listeners are open.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// SourceSeed seeds the source stream; the test holds a copy.
const SourceSeed = "burrow-e2e-source-stream-seed-01"

func main() {
	host := flag.String("host", "0.0.0.0", "address to listen on")
	echoPort := flag.Int("echo", 7001, "echo port")
	hashPort := flag.Int("hash", 7002, "hash port")
	sourcePort := flag.Int("source", 7003, "source port")
	flag.Parse()
	log.SetPrefix("targetsrv: ")
	log.SetFlags(log.Lmicroseconds)

	serve(*host, *echoPort, echo)
	serve(*host, *hashPort, hash)
	serve(*host, *sourcePort, source)
	fmt.Println("ready")
	select {}
}

func serve(host string, port int, handle func(*net.TCPConn) error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				log.Fatal(err)
			}
			go func() {
				defer c.Close()
				if err := handle(c.(*net.TCPConn)); err != nil {
					log.Printf("port %d, peer %s: %v", port, c.RemoteAddr(), err)
				}
			}()
		}
	}()
}

func echo(c *net.TCPConn) error {
	if _, err := io.Copy(c, c); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	return c.CloseWrite()
}

func hash(c *net.TCPConn) error {
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		return fmt.Errorf("hash: after %d bytes: %w", n, err)
	}
	_, err = fmt.Fprintf(c, "%s\n", hex.EncodeToString(h.Sum(nil)))
	return err
}

func source(c *net.TCPConn) error {
	line, err := bufio.NewReader(io.LimitReader(c, 32)).ReadString('\n')
	if err != nil {
		return fmt.Errorf("source: read count: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64)
	if err != nil || n < 0 {
		return fmt.Errorf("source: bad count %q", line)
	}
	var seed [32]byte
	copy(seed[:], SourceSeed)
	if _, err := io.Copy(c, io.LimitReader(rand.NewChaCha8(seed), n)); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	return nil
}

func init() {
	if len(SourceSeed) != 32 {
		fmt.Fprintln(os.Stderr, "SourceSeed must be 32 bytes")
		os.Exit(2)
	}
}
