package agent

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/sshca"
)

// The comments in the files the agent writes for a machine's own sshd.
const (
	sshdCAHeader = "# burrow agent %s: the burrow user CA keys, for sshd's TrustedUserCAKeys.\n" +
		"# Rewritten by the agent whenever the controller's trust changes; do not edit.\n"
	sshdCAComment  = "burrow-user-ca"
	sshdKRLComment = "burrow agent: certificates of revoked tokens"
)

// sshdFiles keeps the TrustedUserCAKeys and RevokedKeys files of the
// machine's own OpenSSH sshd in step with the agent's trust, so that a
// revocation or a CA rotation reaches that sshd as soon as it reaches the
// agent. sshd reads both files at each login. A file is replaced by a
// rename, never written in place: sshd refuses every key while its
// RevokedKeys file is unreadable, and would trust too little or revoke
// too little from a half-written one.
type sshdFiles struct {
	caFile  string // "" if not kept
	krlFile string // "" if not kept
	agent   string // the agent's name, for the header
	log     *slog.Logger
	now     func() time.Time

	mu sync.Mutex
}

// update writes the files for this trust where their content changes. A
// trust without CA keys leaves both files alone: it can only be a
// mistake, and an empty TrustedUserCAKeys file would lock everyone out.
// Failures are logged; the agent goes on.
func (f *sshdFiles) update(caKeys []ssh.PublicKey, revokedKeyIDs []string) {
	if f == nil || f.caFile == "" && f.krlFile == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(caKeys) == 0 {
		f.log.Error("the SSH trust has no user CA keys: sshd's files are left as they are",
			"trusted_user_ca_keys", f.caFile, "revoked_keys", f.krlFile)
		return
	}
	if f.caFile != "" {
		if wrote, err := f.writeCAFile(caKeys); err != nil {
			f.log.Error("cannot write sshd's TrustedUserCAKeys file; sshd keeps the old one", "path", f.caFile, "err", err)
		} else if wrote {
			f.log.Info("wrote sshd's TrustedUserCAKeys file", "path", f.caFile, "ca_keys", len(caKeys))
		}
	}
	if f.krlFile != "" {
		if wrote, err := f.writeKRL(revokedKeyIDs); err != nil {
			f.log.Error("cannot write sshd's RevokedKeys file; sshd keeps the old one", "path", f.krlFile, "err", err)
		} else if wrote {
			f.log.Info("wrote sshd's RevokedKeys file", "path", f.krlFile, "revoked_key_ids", len(revokedKeyIDs))
		}
	}
}

// writeCAFile writes the CA keys in authorized_keys format, one a line.
func (f *sshdFiles) writeCAFile(caKeys []ssh.PublicKey) (wrote bool, err error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, sshdCAHeader, f.agent)
	for _, k := range caKeys {
		fmt.Fprintf(&b, "%s %s\n", strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))), sshdCAComment)
	}
	if old, err := os.ReadFile(f.caFile); err == nil && bytes.Equal(old, b.Bytes()) {
		return false, nil
	}
	return true, writeFileAtomic(f.caFile, b.Bytes(), 0o644)
}

// writeKRL writes a KRL revoking revokedKeyIDs unless the file already
// revokes exactly those (its header's version and time aside).
func (f *sshdFiles) writeKRL(revokedKeyIDs []string) (wrote bool, err error) {
	if old, err := os.ReadFile(f.krlFile); err == nil {
		if v, gen, ok := sshca.KRLHeader(old); ok && bytes.Equal(old, sshca.MarshalKRL(revokedKeyIDs, v, gen, sshdKRLComment)) {
			return false, nil
		}
	}
	now := f.now()
	return true, writeFileAtomic(f.krlFile, sshca.MarshalKRL(revokedKeyIDs, uint64(now.Unix()), now, sshdKRLComment), 0o644)
}

// writeFileAtomic replaces path with b: a temporary file in the same
// directory, written, synced and renamed over path, so that readers see
// the old file or the new one, never part of one.
func writeFileAtomic(path string, b []byte, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// Best effort: the rename survives a crash once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
