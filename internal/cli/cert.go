package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/sshca"
)

// defaultCertIssueTTL is how long `burrow cert issue` certificates live:
// a working day.
const defaultCertIssueTTL = 8 * time.Hour

// certIssue is what `burrow cert issue` was asked for.
type certIssue struct {
	ttl    time.Duration
	ttlSet bool     // --ttl given; otherwise the default, up to the controller's maximum
	key    string   // --key: an existing private key file
	out    string   // --out: a directory for the files
	logins []string // --login; none = all of the token's
	source string   // --source-address
}

func newCertCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "cert", Short: "SSH user certificates for plain OpenSSH"}
	var o certIssue
	issue := &cobra.Command{
		Use:   "issue",
		Short: "Get a short-lived SSH certificate into your ssh-agent (or files)",
		Long: `Get an SSH user certificate signed by the controller's user CA, for the
logins your token may use.

By default a new ed25519 key is made in memory and added, with its
certificate, to the ssh-agent at $SSH_AUTH_SOCK for as long as the
certificate is valid; plain ssh then uses it. --out DIR writes
DIR/id_ed25519, DIR/id_ed25519.pub and DIR/id_ed25519-cert.pub instead.
--key FILE certifies an existing key: FILE-cert.pub is written next to it
(or into --out DIR), where ssh -i FILE finds it.`,
		Example: "  burrow cert issue --ttl 8h\n  burrow cert issue --out ~/.ssh/burrow --login deploy --source-address 10.0.0.0/8",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.ttlSet = cmd.Flags().Changed("ttl")
			if cmd.Flags().Changed("login") && (len(o.logins) == 0 || slices.Contains(o.logins, "")) {
				return errors.New("--login: give a login name; leave --login out for all of the token's logins")
			}
			return o.run(cmd.Context(), g)
		},
	}
	f := issue.Flags()
	f.DurationVar(&o.ttl, "ttl", defaultCertIssueTTL, fmt.Sprintf("how long the certificate is valid (at most %v, or the controller's shorter maximum)", sshca.MaxTTL))
	f.StringVar(&o.key, "key", "", "certify this existing private key file instead of making a new key")
	f.StringVar(&o.out, "out", "", "write key and certificate files into this directory instead of the ssh-agent")
	f.StringSliceVar(&o.logins, "login", nil, "login (principal) to include; repeat for more (default: all of the token's logins)")
	f.StringVar(&o.source, "source-address", "", "comma-separated IP addresses and CIDR prefixes the certificate may be used from")
	cmd.AddCommand(issue)
	return cmd
}

// toAgent says whether the key and certificate go into the ssh-agent.
func (o certIssue) toAgent() bool { return o.key == "" && o.out == "" }

func (o certIssue) run(ctx context.Context, g *globals) error {
	if o.ttl < time.Second || o.ttl > sshca.MaxTTL {
		return fmt.Errorf("--ttl %v: must be at least 1s and at most %v", o.ttl, sshca.MaxTTL)
	}
	if o.key == "" && o.out != "" { // before the controller is asked
		if err := mayReplaceKey(filepath.Join(o.out, "id_ed25519")); err != nil {
			return err
		}
	}
	var ag agent.ExtendedAgent
	if o.toAgent() {
		conn, err := dialSSHAgent()
		if err != nil {
			return err
		}
		defer conn.Close()
		ag = agent.NewClient(conn)
	}
	priv, pub, err := o.keyPair()
	if err != nil {
		return err
	}
	resp, cert, err := o.sign(ctx, pub)
	if err != nil {
		return err
	}
	where, err := o.deliver(ag, priv, cert, resp)
	if err != nil {
		return err
	}
	var asked time.Duration // the default follows the controller's maximum
	if o.ttlSet {
		asked = o.ttl
	}
	printIssued(g, resp, cert.CriticalOptions["source-address"], where, asked)
	return nil
}

// dialSSHAgent connects to the ssh-agent at $SSH_AUTH_SOCK.
func dialSSHAgent() (net.Conn, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, errors.New("no ssh-agent: SSH_AUTH_SOCK is not set. Start an agent: eval $(ssh-agent) — or write files with --out DIR")
	}
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("ssh-agent at SSH_AUTH_SOCK=%s: %v. Start an agent: eval $(ssh-agent) — or write files with --out DIR", sock, err)
	}
	return conn, nil
}

// keyPair is the key to certify: a new ed25519 one, or the public half of
// --key (whose private half is not needed and may be encrypted).
func (o certIssue) keyPair() (ed25519.PrivateKey, ssh.PublicKey, error) {
	if o.key != "" {
		pub, err := readKeyFile(o.key)
		return nil, pub, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, nil, err
	}
	return priv, signer.PublicKey(), nil
}

// readKeyFile returns the public key of an OpenSSH private key file.
func readKeyFile(path string) (ssh.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	var encrypted *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &encrypted) && encrypted.PublicKey != nil:
		return encrypted.PublicKey, nil
	case err != nil:
		return nil, fmt.Errorf("--key %s: not a private key file: %v", path, err)
	}
	return signer.PublicKey(), nil
}

// sign has the controller certify pub.
func (o certIssue) sign(ctx context.Context, pub ssh.PublicKey) (apitype.SSHCertificate, *ssh.Certificate, error) {
	c, err := newClient()
	if err != nil {
		return apitype.SSHCertificate{}, nil, err
	}
	ttl := o.ttl
	if !o.ttlSet { // the default: no longer than the controller grants
		if ca, err := c.SSHCA(ctx); err == nil {
			ttl = upToMax(ttl, ca)
		}
	}
	resp, err := c.SignSSHCertificate(ctx, apitype.SSHCertificateRequest{
		PublicKey:     strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		Principals:    o.logins,
		TTL:           ttl.String(),
		SourceAddress: o.source,
	})
	if err != nil {
		return apitype.SSHCertificate{}, nil, err
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(resp.Certificate))
	if err != nil {
		return resp, nil, fmt.Errorf("the controller sent an unreadable certificate: %v", err)
	}
	cert, ok := k.(*ssh.Certificate)
	if !ok {
		return resp, nil, errors.New("the controller sent a key, not a certificate")
	}
	return resp, cert, nil
}

// deliver puts the certificate (and a new key) where it was asked to go
// and says where that is.
func (o certIssue) deliver(ag agent.ExtendedAgent, priv ed25519.PrivateKey, cert *ssh.Certificate, resp apitype.SSHCertificate) (string, error) {
	if ag != nil {
		return addToAgent(ag, priv, cert, resp)
	}
	if o.key != "" {
		return writeCertFor(o.key, o.out, cert)
	}
	return writeKeyFiles(o.out, priv, cert)
}

// addToAgent adds the key with its certificate to the agent, which
// forgets it when the certificate expires.
func addToAgent(ag agent.ExtendedAgent, priv ed25519.PrivateKey, cert *ssh.Certificate, resp apitype.SSHCertificate) (string, error) {
	left := time.Until(resp.ValidBefore).Truncate(time.Second)
	if left <= 0 {
		return "", errors.New("the certificate expired before it could be added: check this machine's clock")
	}
	err := ag.Add(agent.AddedKey{
		PrivateKey: priv, Certificate: cert, LifetimeSecs: uint32(left.Seconds()), Comment: resp.KeyID,
	})
	if err != nil {
		return "", fmt.Errorf("add to the ssh-agent at %s: %w", os.Getenv("SSH_AUTH_SOCK"), err)
	}
	where := fmt.Sprintf("added to the ssh-agent at %s for %v (`ssh-add -l` lists it)", os.Getenv("SSH_AUTH_SOCK"), left)
	// OpenSSH offers the agent's keys in order, and servers stop after
	// about six (MaxAuthTries): behind five others, this one may never be
	// tried.
	if keys, err := ag.List(); err == nil && len(keys) > maxAgentKeysTried {
		where += fmt.Sprintf("\nnote: the agent holds %d keys and OpenSSH offers them in order; a server stops after about %d, so this certificate may not be reached. Remove others (ssh-add -d FILE) or name it with IdentitiesOnly", len(keys), maxAgentKeysTried)
	}
	return where, nil
}

// maxAgentKeysTried is OpenSSH sshd's default MaxAuthTries.
const maxAgentKeysTried = 6

// writeKeyFiles writes a new key and its certificate into dir.
func writeKeyFiles(dir string, priv ed25519.PrivateKey, cert *ssh.Certificate) (string, error) {
	block, err := ssh.MarshalPrivateKey(priv, cert.KeyId)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	key := filepath.Join(dir, "id_ed25519")
	if err := mayReplaceKey(key); err != nil {
		return "", err
	}
	files := []struct {
		path string
		b    []byte
		mode os.FileMode
	}{
		{key, pem.EncodeToMemory(block), 0o600},
		{key + ".pub", ssh.MarshalAuthorizedKey(cert.Key), 0o644},
		{key + "-cert.pub", ssh.MarshalAuthorizedKey(cert), 0o644},
	}
	for _, f := range files {
		if err := writeFileAtomic(f.path, f.b, f.mode); err != nil {
			return "", fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	return fmt.Sprintf("wrote %s, %s.pub and %s-cert.pub; use them with: ssh -i %s LOGIN@HOST", key, key, key, key), nil
}

// mayReplaceKey refuses to overwrite the private key file key unless it is
// missing or an earlier `cert issue --out` wrote it: one whose certificate
// next to it is burrow's and for that key. `--out ~/.ssh` must not destroy
// the user's own id_ed25519.
func mayReplaceKey(key string) error {
	b, err := os.ReadFile(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	refuse := fmt.Errorf("%s exists and is not a key burrow wrote; keep it and certify it with --key %s, or write into another --out directory", key, key)
	if err != nil {
		return refuse
	}
	priv, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return refuse
	}
	cb, err := os.ReadFile(key + "-cert.pub")
	if err != nil {
		return refuse
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(cb)
	if err != nil {
		return refuse
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok || !strings.HasPrefix(cert.KeyId, "burrow:") || !bytes.Equal(cert.Key.Marshal(), priv.PublicKey().Marshal()) {
		return refuse
	}
	return nil
}

// writeCertFor writes the certificate of the key file key as
// key-cert.pub, in dir if set, else next to the key.
func writeCertFor(key, dir string, cert *ssh.Certificate) (string, error) {
	path := key + "-cert.pub"
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", err
		}
		path = filepath.Join(dir, filepath.Base(key)+"-cert.pub")
	}
	if err := writeFileAtomic(path, ssh.MarshalAuthorizedKey(cert), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if dir != "" {
		return fmt.Sprintf("wrote %s; use it with: ssh -i %s -o CertificateFile=%s LOGIN@HOST", path, key, path), nil
	}
	return fmt.Sprintf("wrote %s, which ssh -i %s uses", path, key), nil
}

// printIssued says what was issued and where it went.
func printIssued(g *globals, resp apitype.SSHCertificate, source, where string, asked time.Duration) {
	fmt.Fprintf(g.stdout, "certificate %s for %s, valid until %s\n", resp.KeyID,
		strings.Join(resp.Principals, ", "), resp.ValidBefore.Local().Format(time.RFC3339))
	if time.Until(resp.ValidBefore) < asked-time.Minute {
		fmt.Fprintf(g.stdout, "shorter than the %v asked for: a certificate ends with the token it was issued for\n", asked)
	}
	if source != "" {
		fmt.Fprintf(g.stdout, "usable only from %s\n", source)
	}
	fmt.Fprintln(g.stdout, where)
}
