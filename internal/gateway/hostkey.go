package gateway

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// HostKeyFile is the gateway's host key in the controller's data
// directory.
const HostKeyFile = "ssh_gateway_ed25519_key"

// LoadOrCreateHostKey loads the OpenSSH private key at path, or makes an
// ed25519 one there (mode 0600) when there is none.
func LoadOrCreateHostKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b, err = createHostKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("gateway host key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("gateway host key %s: %w", path, err)
	}
	return signer, nil
}

// createHostKey writes a new ed25519 key to path through a temporary file,
// so that a crash leaves no half-written key; of two racing creators the
// second keeps the first's key.
func createHostKey(path string) ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "burrow-ssh-gateway")
	if err != nil {
		return nil, err
	}
	b := pem.EncodeToMemory(block)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ssh_gateway_key-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return os.ReadFile(path)
		}
		return nil, err
	}
	return b, nil
}
