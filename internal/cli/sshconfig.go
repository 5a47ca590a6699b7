package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/client"
	"github.com/burrow-dev/burrow/internal/sshca"
)

// The certificate OpenSSH uses through ssh-config lives an hour and is
// renewed when less than half of it is left.
const (
	managedCertTTL   = time.Hour
	managedCertRenew = 30 * time.Minute
)

// identity is the burrow-managed key, certificate and known-hosts file of
// one context, for plain OpenSSH.
type identity struct{ dir string }

func managedIdentity(ctxName string) (identity, error) {
	path, err := configPath()
	if err != nil {
		return identity{}, err
	}
	return identity{dir: filepath.Join(filepath.Dir(path), "ssh", ctxName)}, nil
}

func (id identity) key() string        { return filepath.Join(id.dir, "id_ed25519") }
func (id identity) cert() string       { return filepath.Join(id.dir, "id_ed25519-cert.pub") }
func (id identity) knownHosts() string { return filepath.Join(id.dir, "known_hosts") }

// exists says whether ssh-config was ever run for this context.
func (id identity) exists() bool {
	_, err := os.Stat(id.key())
	return err == nil
}

// signer loads the key, creating it on first use.
func (id identity) signer() (ssh.Signer, error) {
	b, err := os.ReadFile(id.key())
	if errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := ssh.MarshalPrivateKey(priv, "burrow")
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(id.dir, 0o700); err != nil {
			return nil, err
		}
		b = pem.EncodeToMemory(block)
		if err := writeFileAtomic(id.key(), b, 0o600); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return ssh.ParsePrivateKey(b)
}

// upToMax is ttl, or the controller's maximum certificate lifetime if
// that is shorter.
func upToMax(ttl time.Duration, ca apitype.SSHCA) time.Duration {
	if ca.MaxCertTTL > 0 {
		return min(ttl, time.Duration(ca.MaxCertTTL)*time.Second)
	}
	return ttl
}

// renew gets a new certificate when the current one is missing or has
// less than minLeft (or half its life) left, and then refreshes the known
// hosts. It reports whether it wrote a certificate.
func (id identity) renew(ctx context.Context, c *client.Client, minLeft time.Duration) (bool, error) {
	if b, err := os.ReadFile(id.cert()); err == nil {
		if pub, _, _, _, err := ssh.ParseAuthorizedKey(b); err == nil {
			// Half its life left is enough too, for a controller whose
			// certificates live less than twice minLeft.
			if cert, ok := pub.(*ssh.Certificate); ok && cert.ValidBefore > cert.ValidAfter &&
				time.Until(time.Unix(int64(cert.ValidBefore), 0)) > min(minLeft, time.Duration(cert.ValidBefore-cert.ValidAfter)*time.Second/2) {
				return false, nil
			}
		}
	}
	return true, id.issue(ctx, c)
}

// forget removes the certificate, so that the next connection through
// ssh-config's entries gets a new one (after `burrow login` changed the
// token behind the context).
func (id identity) forget() error {
	if err := os.Remove(id.cert()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// issue gets a new certificate for the identity's key, whatever the
// current one holds, and refreshes the known hosts.
func (id identity) issue(ctx context.Context, c *client.Client) error {
	signer, err := id.signer()
	if err != nil {
		return fmt.Errorf("burrow ssh key in %s: %w", id.dir, err)
	}
	ca, caErr := c.SSHCA(ctx)
	certSigner, err := certify(ctx, c, signer, "", upToMax(managedCertTTL, ca))
	if err != nil {
		return err
	}
	line := ssh.MarshalAuthorizedKey(certSigner.PublicKey())
	if err := writeFileAtomic(id.cert(), line, 0o644); err != nil {
		return err
	}
	// Host keys change when an agent is set up anew: refresh them along
	// with the certificate, at most every half hour.
	if ts, err := c.Targets(ctx); err == nil && caErr == nil {
		id.writeKnownHosts(ca, ts)
	}
	return nil
}

// writeKnownHosts records the host CA, an @cert-authority line that
// vouches for every target with the built-in SSH server (and the gateway)
// through its host certificate, and after it the host keys agents
// registered, under NAME, NAME.burrow and NAME.<org>.burrow. OpenSSH
// checks a certificate against the CA first; the plain keys are its
// fallback when the CA in this file is not the one that signed (after
// `burrow ca rotate --host --overlap 0s`, until the next renewal rewrites
// the file; a staged rotation publishes the new key before it signs).
func (id identity) writeKnownHosts(ca apitype.SSHCA, ts []apitype.Target) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# written by burrow: the controller's host CA, then the host keys agents registered\n")
	for _, l := range certAuthorityLines(ca, ts) {
		fmt.Fprintln(&b, l)
	}
	for _, t := range ts {
		// Names from the controller go into a pattern list: nothing that
		// would read as more than a name.
		if t.SSH != "builtin" || t.HostKey == "" || !safeName.MatchString(t.Name) {
			continue
		}
		names := t.Name + "," + t.Name + ".burrow"
		if sshca.CheckOrg(ca.Org) == nil {
			names += "," + t.Name + "." + ca.Org + ".burrow"
		}
		fmt.Fprintf(&b, "%s %s\n", names, t.HostKey)
	}
	if err := os.MkdirAll(id.dir, 0o700); err != nil {
		return err
	}
	return writeFileAtomic(id.knownHosts(), []byte(b.String()), 0o644)
}

func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// defaultSSHConfig is the user's ~/.ssh/config.
func defaultSSHConfig() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".ssh", "config"), nil
}

func newSSHConfigCmd(g *globals) *cobra.Command {
	var write, renew, remove bool
	var ctxName, sshConfig, config string
	cmd := &cobra.Command{
		Use:   "ssh-config",
		Short: "Print (or --write) an OpenSSH config for every target you can reach",
		Long: `Print OpenSSH "Host" entries for every target you can reach, and a
NAME.burrow wildcard, so that plain ssh, scp, sftp and rsync work:
  burrow ssh-config >> ~/.ssh/config      or      burrow ssh-config --write
The entries use "burrow proxy" as ProxyCommand, a key and a short-lived
certificate that burrow keeps renewed, and a known-hosts file holding the
host keys agents registered, so there is never a host key prompt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			useConfig(config)
			ctxName = contextName(ctxName)
			if remove { // needs no controller: the context may be gone
				if sshConfig == "" {
					var err error
					if sshConfig, err = defaultSSHConfig(); err != nil {
						return err
					}
				}
				removed, err := removeSSHConfigSection(sshConfig, ctxName)
				if err != nil {
					return err
				}
				if !removed {
					return fmt.Errorf("%s has no section of context %s", sshConfig, ctxName)
				}
				fmt.Fprintf(g.stdout, "Removed the section of context %s from %s.\n", ctxName, sshConfig)
				return nil
			}
			c, err := newClientFor(ctxName)
			if err != nil {
				return err
			}
			defer c.Close()
			id, err := managedIdentity(ctxName)
			if err != nil {
				return err
			}
			if renew { // from the config's Match exec line: quiet, fast
				_, err := id.renew(cmd.Context(), c, managedCertRenew)
				return err
			}
			ts, err := c.Targets(cmd.Context())
			if err != nil {
				return err
			}
			// Asked for by hand: always a fresh certificate, in case the
			// controller (and its CA) behind this context changed.
			if err := id.issue(cmd.Context(), c); err != nil {
				return err
			}
			ca, err := c.SSHCA(cmd.Context())
			if err != nil {
				return err
			}
			if err := id.writeKnownHosts(ca, ts); err != nil {
				return err
			}
			block := sshConfigBlock(ctxName, selfPath(), id, ts)
			if !write {
				_, err := io.WriteString(g.stdout, block)
				return err
			}
			try := "ssh " // OpenSSH reads ~/.ssh/config by itself, any other file with -F
			if sshConfig == "" {
				if sshConfig, err = defaultSSHConfig(); err != nil {
					return err
				}
			} else {
				try += "-F " + sshConfig + " "
			}
			if err := writeSSHConfig(sshConfig, ctxName, block); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Wrote %d target(s) of context %s to %s. Try: %s%s\n", len(ts), ctxName, sshConfig, try, firstTarget(ts))
			if b, err := os.ReadFile(sshConfig); err == nil {
				if others := otherSections(string(b), ctxName); len(others) > 0 {
					fmt.Fprintf(g.stderr, "note: %s also has the section of context %s; for a name both have, the first section in the file answers (`burrow ssh-config --remove --context NAME` removes one)\n",
						sshConfig, strings.Join(others, ", "))
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&write, "write", false, "update the burrow section of ~/.ssh/config instead of printing")
	f.StringVar(&sshConfig, "ssh-config-file", "", "the file --write updates (default ~/.ssh/config)")
	f.BoolVar(&remove, "remove", false, "remove the context's section from the file instead")
	f.StringVar(&ctxName, "context", "", "context to use (default: the current one)")
	f.StringVar(&config, "config", "", "client config file (default $BURROW_CONFIG, else ~/.config/burrow/config.yaml)")
	f.BoolVar(&renew, "renew", false, "only renew the certificate if it expires soon (used by the generated config)")
	f.MarkHidden("renew")
	return cmd
}

func firstTarget(ts []apitype.Target) string {
	for _, online := range []bool{true, false} { // an online one if there is
		for _, t := range ts {
			if t.SSH != "" && t.Online == online {
				return t.Name
			}
		}
	}
	return "TARGET"
}

// selfPath is this executable's absolute path, so the generated config
// does not depend on PATH or on the user's shell.
func selfPath() string {
	if exe, err := os.Executable(); err == nil {
		return exe
	}
	return "burrow"
}

// quoteSSH quotes a word for ssh_config (double quotes; it has no escapes,
// so a path with a double quote cannot be used).
func quoteSSH(s string) string {
	if strings.ContainsAny(s, " \t") {
		return `"` + s + `"`
	}
	return s
}

// shellWord single-quotes s for the shell OpenSSH runs "exec" with.
func shellWord(s string) string {
	if regexp.MustCompile(`^[A-Za-z0-9_./-]+$`).MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var safeName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)

func sshConfigBlock(ctxName, exe string, id identity, ts []apitype.Target) string {
	var names []string
	for _, t := range ts {
		if t.SSH != "" && safeName.MatchString(t.Name) {
			names = append(names, t.Name)
		}
	}
	sort.Strings(names)
	hosts := append(names, "*.burrow")
	var b strings.Builder
	fmt.Fprintf(&b, "# burrow ssh-config for context %s (generated %s)\n", ctxName, time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# Renews the certificate before OpenSSH reads it; silent unless it fails.\n")
	// The client config in use goes along, so that these lines work
	// whatever the environment OpenSSH is started from.
	cfgArg, cfgArgShell := "", ""
	if p, err := configPath(); err == nil && os.Getenv("BURROW_CONFIG") != "" {
		if abs, err := filepath.Abs(p); err == nil {
			cfgArg, cfgArgShell = " --config "+quoteSSH(abs), " --config "+shellWord(abs)
		}
	}
	fmt.Fprintf(&b, "Match host %s exec \"%s ssh-config%s --context %s --renew\"\n\n", strings.Join(hosts, ","), shellWord(exe), cfgArgShell, ctxName)
	fmt.Fprintf(&b, "Host %s\n", strings.Join(hosts, " "))
	fmt.Fprintf(&b, "    ProxyCommand %s proxy%s --context %s %%n %%p\n", quoteSSH(exe), cfgArg, ctxName)
	fmt.Fprintf(&b, "    IdentityFile %s\n", quoteSSH(id.key()))
	fmt.Fprintf(&b, "    CertificateFile %s\n", quoteSSH(id.cert()))
	fmt.Fprintf(&b, "    IdentitiesOnly yes\n")
	fmt.Fprintf(&b, "    UserKnownHostsFile %s ~/.ssh/known_hosts\n", quoteSSH(id.knownHosts()))
	fmt.Fprintf(&b, "    StrictHostKeyChecking yes\n")
	fmt.Fprintf(&b, "    ServerAliveInterval 30\n")
	// AES-GCM has assembly in x/crypto/ssh, ChaCha20 not: ~30% faster copies.
	fmt.Fprintf(&b, "    Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com\n")
	// Whatever follows in the file (options, an Include) applies to every
	// host again, as it did before this section was put in front of it.
	fmt.Fprintf(&b, "Match all\n")
	return b.String()
}

// sectionMarkers are the lines around context ctxName's section.
func sectionMarkers(ctxName string) (begin, end string) {
	return "# --- burrow " + ctxName + " begin (managed by `burrow ssh-config --write`) ---\n",
		"# --- burrow " + ctxName + " end ---\n"
}

// otherSections names the contexts other than ctxName that have a burrow
// section in config s.
func otherSections(s, ctxName string) []string {
	var names []string
	for _, line := range strings.Split(s, "\n") {
		name, ok := strings.CutPrefix(line, "# --- burrow ")
		if name, _, ok2 := strings.Cut(name, " begin (managed by"); ok && ok2 && name != ctxName {
			names = append(names, name)
		}
	}
	return names
}

// removeSSHConfigSection removes context ctxName's section from path, if
// it has one, and reports whether it did.
func removeSSHConfigSection(path, ctxName string) (bool, error) {
	path, err := linkTarget(path)
	if err != nil {
		return false, err
	}
	old, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s := string(old)
	begin, end := sectionMarkers(ctxName)
	i := strings.Index(s, begin)
	if i < 0 {
		return false, nil
	}
	j := strings.Index(s[i:], end)
	if j < 0 {
		return false, fmt.Errorf("%s has the start of burrow's section but not its end (%q); fix it by hand", path, strings.TrimSpace(end))
	}
	rest := strings.TrimPrefix(s[i+j+len(end):], "\n") // the blank line written after it
	return true, writeFileAtomic(path, []byte(s[:i]+rest), 0o600)
}

// writeSSHConfig replaces the context's marked section of path, or adds
// it before the first Host or Match block or Include, keeping everything
// else as it was.
func writeSSHConfig(path, ctxName, block string) error {
	begin, end := sectionMarkers(ctxName)
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	s := string(old)
	section := begin + block + end
	if i := strings.Index(s, begin); i >= 0 {
		j := strings.Index(s[i:], end)
		if j < 0 {
			return fmt.Errorf("%s has the start of burrow's section but not its end (%q); fix it by hand", path, strings.TrimSpace(end))
		}
		s = s[:i] + section + s[i+j+len(end):]
	} else if i := sectionPlace(s); i >= 0 {
		// OpenSSH takes the first value it reads for each option: ahead of
		// the user's own Host and Match blocks (a "Host *" with its own
		// UserKnownHostsFile, say), burrow's entries keep their options.
		// The user's global options above stay first.
		s = s[:i] + section + "\n" + s[i:]
	} else {
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		if s != "" {
			s += "\n"
		}
		s += section
	}
	// A config that links elsewhere (a dotfile manager's) is written where
	// the link points, and stays a link.
	path, err = linkTarget(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return writeFileAtomic(path, []byte(s), 0o600)
}

// linkTarget follows path through symbolic links to the file they name,
// which need not exist yet (a dotfile manager's link made before its
// file).
func linkTarget(path string) (string, error) {
	for range 40 { // as the kernel's ELOOP bound
		dest, err := os.Readlink(path)
		if err != nil {
			return path, nil // not a link (or nothing there): write here
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
}

// sectionPlace is where a new burrow section goes in config s: before
// another context's burrow section if there is one (never inside it),
// else before the first Host or Match block or Include (whose files may
// hold Host blocks); -1 means at the end.
func sectionPlace(s string) int {
	if i := strings.Index(s, "# --- burrow "); i >= 0 && (i == 0 || s[i-1] == '\n') {
		return i
	}
	return firstHostLine(s)
}

// firstHostLine is the offset of the first line of s that starts a Host or
// Match block or is an Include (keywords are case-insensitive and may be
// followed by "="), or -1.
func firstHostLine(s string) int {
	off := 0
	for _, line := range strings.SplitAfter(s, "\n") {
		f := strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '=' })
		if len(f) > 0 && (strings.EqualFold(f[0], "Host") || strings.EqualFold(f[0], "Match") || strings.EqualFold(f[0], "Include")) {
			return off
		}
		off += len(line)
	}
	return -1
}
