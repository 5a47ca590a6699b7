package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/sshd"
	"github.com/burrow-dev/burrow/internal/tunnel/tunnelpb"
)

// SSH kinds of a target: who answers its port 22.
const (
	SSHBuiltin = "builtin" // the agent's own SSH server, over tunnel streams only
	SSHSystem  = "system"  // the host's own sshd
	SSHOff     = ""        // port 22 is an ordinary port
)

const hostKeyFile = "ssh_host_ed25519_key"

// loadHostKey reads the agent's SSH host key, creating it on first start.
// It is registered with the controller in every hello, so clients can
// check it without trusting on first use.
func loadHostKey(dir string) (ssh.Signer, error) {
	path := filepath.Join(dir, hostKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "burrow agent host key")
		if err != nil {
			return nil, err
		}
		b = pem.EncodeToMemory(block)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("host key: %w", err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("host key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("host key %s is unreadable (%v); remove it to make a new one", path, err)
	}
	return signer, nil
}

// setTrust installs the user CA keys and the revoked certificate key ids
// the controller sent, writes them for the machine's own sshd if asked,
// and caches them, so the agent keeps checking certificates while the
// controller is away. A host certificate in t (after a host CA rotation)
// replaces the one the SSH server offers.
func (a *Agent) setTrust(t *tunnelpb.Trust) {
	if t == nil {
		return
	}
	a.trustMu.Lock()
	defer a.trustMu.Unlock()
	a.setHostCertificate(t.GetHostCertificate())
	a.applyTrust(t.GetUserCaKeys(), t.GetUserCaTrustedUntil(), t.GetRevokedKeyIds())
	if slices.Equal(a.state.UserCAKeys, t.GetUserCaKeys()) && slices.Equal(a.state.UserCATrustedUntil, t.GetUserCaTrustedUntil()) &&
		slices.Equal(a.state.RevokedKeyIDs, t.GetRevokedKeyIds()) {
		return
	}
	a.state.UserCAKeys, a.state.UserCATrustedUntil, a.state.RevokedKeyIDs = t.GetUserCaKeys(), t.GetUserCaTrustedUntil(), t.GetRevokedKeyIds()
	if err := a.state.Save(a.opts.DataDir); err != nil {
		a.log.Error("cannot cache the SSH trust", "err", err)
	}
}

// stopTrustTimer stops the timer that would drop a retired CA key.
func (a *Agent) stopTrustTimer() {
	a.trustMu.Lock()
	defer a.trustMu.Unlock()
	a.trustGen++ // a callback already waiting for trustMu finds it stale
	if a.trustTimer != nil {
		a.trustTimer.Stop()
		a.trustTimer = nil
	}
}

// trustSlack is how long after a key's trusted-until time the agent looks
// again, so that its clock is past it by then.
const trustSlack = 100 * time.Millisecond

// applyTrust installs the user CA keys still trusted now (a retired key
// goes at its trusted-until time, by this machine's clock) and the revoked
// key ids, in the SSH server and in sshd's files. While a retired key
// remains, a timer applies the same trust again when it ends, so the key
// goes on time even if the controller is unreachable then.
func (a *Agent) applyTrust(lines []string, until []int64, revokedIDs []string) {
	revoked := make(map[string]bool, len(revokedIDs))
	for _, id := range revokedIDs {
		revoked[id] = true
	}
	a.revoked.Store(&revoked)
	now := a.now()
	var keys []ssh.PublicKey
	var next time.Time
	for i, line := range lines {
		if i < len(until) && until[i] > 0 {
			end := time.Unix(until[i], 0)
			if !now.Before(end) {
				continue // its overlap is over
			}
			if next.IsZero() || end.Before(next) {
				next = end
			}
		}
		k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			a.log.Error("controller sent an unreadable user CA key", "err", err)
			continue
		}
		keys = append(keys, k)
	}
	a.userCAs.Store(&keys)
	a.sshdFiles.update(keys, revokedIDs)
	a.trustGen++
	if a.trustTimer != nil {
		a.trustTimer.Stop() // its callback may be waiting for trustMu already: gen stops it
		a.trustTimer = nil
	}
	if !next.IsZero() {
		gen := a.trustGen
		a.trustTimer = time.AfterFunc(next.Sub(now)+trustSlack, func() {
			a.trustMu.Lock()
			defer a.trustMu.Unlock()
			if a.trustGen != gen {
				return // newer trust came in meanwhile
			}
			a.log.Info("a retired user CA key's overlap ended: no longer trusted")
			a.applyTrust(lines, until, revokedIDs)
		})
	}
}

// isRevoked reports whether certificates with keyID must be refused.
func (a *Agent) isRevoked(keyID string) bool {
	p := a.revoked.Load()
	return p != nil && (*p)[keyID]
}

func (a *Agent) trusted() []ssh.PublicKey {
	if p := a.userCAs.Load(); p != nil {
		return *p
	}
	return nil
}

// startSSH prepares the built-in SSH server.
func (a *Agent) startSSH() error {
	key, err := loadHostKey(a.opts.DataDir)
	if err != nil {
		return err
	}
	a.hostKey = key
	a.sshd, err = sshd.New(sshd.Options{
		HostKey:     key,
		Trust:       a.trusted,
		Revoked:     a.isRevoked,
		Name:        a.self,
		DialTCP:     a.dialForSSH,
		SFTPCommand: a.opts.SFTPCommand,
		EnvAllow:    a.opts.SSHEnvAllow,
		OnEvent:     a.sessionEvent,
		Logger:      a.log.With("component", "sshd"),
	})
	return err
}

// dialForSSH serves ssh -L from the target's point of view: the agent's
// own loopback, or one of its declared targets, each under its own port
// policy. Nothing else is reachable, as with port-forward.
func (a *Agent) dialForSSH(ctx context.Context, host string, port int) (net.Conn, error) {
	name := ""
	switch host {
	case "localhost", "127.0.0.1", "::1", a.self:
		name = a.self
	default:
		for _, t := range a.targets {
			if t.Name == host || t.Host == host {
				name = t.Name
			}
		}
	}
	if name == "" {
		return nil, fmt.Errorf("%s is not one of the targets of agent %s; forward to localhost or a declared target", host, a.self)
	}
	return a.connect(ctx, name, port)
}

// setHostCertificate has the SSH server offer the host certificate the
// controller signed, so that OpenSSH trusts the agent through one
// @cert-authority line instead of a known_hosts entry per target.
func (a *Agent) setHostCertificate(line string) {
	if line == "" || a.sshd == nil {
		return
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	cert, ok := pub.(*ssh.Certificate)
	if err != nil || !ok {
		a.log.Error("controller sent an unreadable host certificate", "err", err)
		return
	}
	if err := a.sshd.SetHostCertificate(cert); err != nil {
		a.log.Error("cannot use the host certificate", "err", err)
	}
}
