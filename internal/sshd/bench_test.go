package sshd

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pkg/sftp"
)

// BenchmarkSFTPDownload reads a file through the server over loopback TCP
// with pkg/sftp's client (as `burrow cp` does): the ceiling of the agent's
// SSH and SFTP servers alone, without the tunnel, to compare with the
// benchmark command's copies through burrow.
func BenchmarkSFTPDownload(b *testing.B) {
	e := newEnv(b, nil)
	client, err := sftp.NewClient(e.dial(b), sftp.UseConcurrentReads(true), sftp.MaxConcurrentRequestsPerFile(64), sftp.MaxPacketUnchecked(MaxSFTPData))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	path := filepath.Join(b.TempDir(), "blob")
	const size = 64 << 20
	if err := os.WriteFile(path, make([]byte, size), 0o600); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	for b.Loop() {
		f, err := client.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := f.WriteTo(io.Discard); err != nil || n != size {
			b.Fatalf("read %d bytes: %v", n, err)
		}
		f.Close()
	}
}
