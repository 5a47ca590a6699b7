package cli

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/client"
	"github.com/burrow-dev/burrow/internal/sshca"
	"github.com/burrow-dev/burrow/internal/tunnel"
)

// sessionCertTTL is the life of the certificate `burrow ssh` and `burrow
// cp` mint for each connection: long enough for the handshake, useless
// soon after.
const sessionCertTTL = 5 * time.Minute

// sshTarget is what a client must know of a target before speaking SSH.
type sshTarget struct {
	apitype.Target
}

// hostKeyCallback checks the target's host key: the one its agent
// registered with the controller (no trust on first use), or, for a host
// running its own sshd, the user's known_hosts. algos are the host key
// algorithms to ask for (nil: the defaults).
func (t sshTarget) hostKeyCallback() (cb ssh.HostKeyCallback, algos []string, err error) {
	switch t.SSH {
	case "builtin":
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(t.HostKey))
		if err != nil {
			return nil, nil, fmt.Errorf("target %s has no usable host key registered (%v); restart its agent", t.Name, err)
		}
		// The plain key, not the host certificate the server also offers.
		return ssh.FixedHostKey(key), []string{key.Type()}, nil
	case "system":
		home, _ := os.UserHomeDir()
		cb, err := knownhosts.New(filepath.Join(home, ".ssh", "known_hosts"))
		if err != nil {
			return nil, nil, fmt.Errorf("target %s runs its own sshd and its host key must be in ~/.ssh/known_hosts: %v", t.Name, err)
		}
		return cb, nil, nil
	}
	return nil, nil, fmt.Errorf("target %s has no shell access: its agent runs with --ssh=off (or the target is not a host running sshd); `burrow port-forward` still works for its ports", t.Name)
}

// findTarget returns target as the controller knows it, or an error that
// says what to do: unknown, or offline since when. name may be NAME.<org>.
func findTarget(ctx context.Context, c *client.Client, name string) (sshTarget, error) {
	if err := tunnel.ValidName(name); err != nil {
		return sshTarget{}, fmt.Errorf("target %v", err)
	}
	ts, err := c.Targets(ctx)
	if err != nil {
		return sshTarget{}, err
	}
	t, ok := lookupTarget(ts, name)
	// NAME.<org>: no target's name ends in its org (agents may not declare
	// one), so this can only be NAME.
	if i := strings.LastIndex(name, "."); !ok && i > 0 {
		if ca, err := c.SSHCA(ctx); err == nil && ca.Org != "" && name[i+1:] == ca.Org {
			t, ok = lookupTarget(ts, name[:i])
		}
	}
	switch {
	case !ok:
		return sshTarget{}, fmt.Errorf("no target named %s; `burrow targets` lists the ones you can reach", name)
	case !t.Online:
		return sshTarget{}, fmt.Errorf("target %s is offline (last seen %s, %s ago)", t.Name, t.LastSeen.Format(time.RFC3339), time.Since(t.LastSeen).Round(time.Second))
	}
	return sshTarget{t}, nil
}

func lookupTarget(ts []apitype.Target, name string) (apitype.Target, bool) {
	for _, t := range ts {
		if t.Name == name {
			return t, true
		}
	}
	return apitype.Target{}, false
}

// sessionSigner makes an in-memory key and has the controller certify it
// for login, for a few minutes.
func sessionSigner(ctx context.Context, c *client.Client, login string, ttl time.Duration) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, err
	}
	return certify(ctx, c, signer, login, ttl)
}

// certify asks the controller for a certificate on signer's key.
func certify(ctx context.Context, c *client.Client, signer ssh.Signer, login string, ttl time.Duration) (ssh.Signer, error) {
	req := apitype.SSHCertificateRequest{
		PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))),
		TTL:       ttl.String(),
	}
	if login != "" {
		req.Principals = []string{login}
	}
	resp, err := c.SignSSHCertificate(ctx, req)
	if err != nil {
		return nil, err
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(resp.Certificate))
	if err != nil {
		return nil, fmt.Errorf("the controller sent an unreadable certificate: %v", err)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		return nil, errors.New("the controller sent a key, not a certificate")
	}
	return ssh.NewCertSigner(cert, signer)
}

// defaultLogin is the login OpenSSH would use: the local user's name.
func defaultLogin() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

// splitLogin reads "user@target"; the target may be written as OpenSSH
// users know it (targetName).
func splitLogin(arg string) (login, target string) {
	if i := strings.LastIndex(arg, "@"); i >= 0 {
		return arg[:i], targetName(arg[i+1:])
	}
	return "", targetName(arg)
}

// targetName takes a target's name as OpenSSH users write it too: in any
// case, with a final dot, as NAME.burrow (the ssh-config wildcard) or
// NAME.<org>.burrow; the controller's dialer maps NAME.<org> to NAME.
func targetName(arg string) string {
	return strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(arg), "."), sshca.HostSuffix)
}

// dialSSH connects to target's SSH server through the controller as login:
// the target lookup, the certificate and the tunnel are fetched at once.
func dialSSH(ctx context.Context, c *client.Client, target, login string, banner io.Writer) (*ssh.Client, error) {
	var (
		t                         sshTarget
		signer                    ssh.Signer
		conn                      net.Conn
		findErr, certErr, dialErr error
		wg                        sync.WaitGroup
	)
	wg.Add(3)
	go func() { defer wg.Done(); t, findErr = findTarget(ctx, c, target) }()
	go func() { defer wg.Done(); signer, certErr = sessionSigner(ctx, c, login, sessionCertTTL) }()
	go func() { defer wg.Done(); conn, dialErr = c.DialPortForward(ctx, target, 22) }()
	wg.Wait()
	// The target's own description explains best why there is no shell.
	hostKey, hostKeyAlgos, err := t.hostKeyCallback()
	if err = cmp.Or(findErr, err, certErr, dialErr); err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, err
	}
	var told atomic.Bool // the server said why it refused, in a banner
	cfg := &ssh.ClientConfig{
		User:              login,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: hostKeyAlgos,
		BannerCallback: func(msg string) error {
			told.Store(true)
			_, err := io.WriteString(banner, msg)
			return err
		},
		Timeout: 30 * time.Second,
	}
	// The handshake has no context of its own: cancelling ctx (a signal)
	// or a target that stalls past the timeout ends it by closing conn.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	t0 := time.AfterFunc(cfg.Timeout, func() { conn.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(conn, t.Name+":22", cfg) // known_hosts knows NAME, not NAME.<org>
	t0.Stop()
	stop()
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if told.Load() && strings.Contains(err.Error(), "unable to authenticate") {
			// The banner above said why; x/crypto's list of methods adds nothing.
			return nil, fmt.Errorf("ssh to %s as %s: login refused", target, login)
		}
		return nil, fmt.Errorf("ssh to %s as %s: %w", target, login, err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	go keepAlive(client, keepAliveInterval, keepAliveMissed, func() {
		fmt.Fprintf(banner, "burrow: no answer from %s for %v; the connection is lost%s", target, keepAliveInterval*keepAliveMissed, newline())
	})
	return client, nil
}

// Keepalives of burrow's own SSH client, as ssh-config's entries give
// OpenSSH (ServerAliveInterval 30, ServerAliveCountMax 3): a connection that
// stops answering (a laptop asleep, a network gone) ends within two
// minutes (90 s after the first unanswered request) instead of hanging.
const (
	keepAliveInterval = 30 * time.Second
	keepAliveMissed   = 3
)

// keepAlive asks the server for a keepalive@openssh.com reply every
// interval until client closes. When missed intervals pass without an
// answer it calls lost and closes client.
func keepAlive(client *ssh.Client, interval time.Duration, missed int, lost func()) {
	done := make(chan struct{})
	go func() { client.Wait(); close(done) }()
	answered := make(chan struct{}, 1)
	t := time.NewTicker(interval)
	defer t.Stop()
	waiting := 0 // intervals since the last request was sent without an answer
	for {
		select {
		case <-done:
			return
		case <-answered:
			waiting = 0
		case <-t.C:
			if waiting == 0 {
				go func() {
					// Any reply counts, a refusal too: the server is there.
					if _, _, err := client.SendRequest("keepalive@openssh.com", true, nil); err == nil {
						answered <- struct{}{}
					}
				}()
			}
			if waiting++; waiting > missed {
				lost()
				client.Close()
				return
			}
		}
	}
}
