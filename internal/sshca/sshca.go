// Package sshca is the organisation's SSH user certificate authority. The
// controller opens one Authority at start: it loads the current user CA key
// from the store, or makes an ed25519 one on first start, and signs
// short-lived OpenSSH user certificates for keys that clients generate in
// memory. Agents trust the CA public keys (UserCAKeys), which reach them
// over the control stream, and so check certificates offline. Machines
// that run their own sshd get the revoked tokens' key ids as an OpenSSH
// KRL (MarshalKRL).
//
// All cryptography is golang.org/x/crypto/ssh's.
package sshca

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/store"
)

// Limits and defaults of user certificates.
const (
	// MaxTTL is the longest validity SignUser grants.
	MaxTTL = 12 * time.Hour
	// ClockSkew is how far before now a certificate becomes valid, so that
	// a target whose clock is a little behind accepts it at once.
	ClockSkew = time.Minute
)

// The comments ending the authorized_keys lines of CA keys.
const (
	userCAComment = "burrow-user-ca"
	hostCAComment = "burrow-host-ca"
)

// Authority signs certificates with the current CA key of its kind. It is
// safe for concurrent use: Rotate and Reload swap the keys atomically.
type Authority struct {
	now     func() time.Time
	st      store.Store
	kind    string
	comment string
	cur     atomic.Pointer[keySet]
}

// keySet is what an Authority signs and trusts with, as loaded from the
// store at one moment.
type keySet struct {
	keys    []store.CAKey // every CA key of the kind, oldest first
	signers []ssh.Signer  // of keys[i] that could sign when loaded, else nil
}

// Open loads the current user CA from st, creating and storing an ed25519
// one if there is none. Two controllers starting at once against one store
// end up with the same CA: the store admits one current key per kind, and
// the one whose insert loses reads the winner's. now defaults to time.Now.
func Open(ctx context.Context, st store.Store, now func() time.Time) (*Authority, error) {
	return open(ctx, st, now, store.CAUser, userCAComment)
}

// OpenHost is Open for the host CA, which signs agents' host keys.
func OpenHost(ctx context.Context, st store.Store, now func() time.Time) (*Authority, error) {
	return open(ctx, st, now, store.CAHost, hostCAComment)
}

func open(ctx context.Context, st store.Store, now func() time.Time, kind, comment string) (*Authority, error) {
	if now == nil {
		now = time.Now
	}
	keys, err := st.ListCAKeys(ctx, kind)
	if err != nil {
		return nil, fmt.Errorf("sshca: load %s CA: %w", kind, err)
	}
	if _, ok := current(keys); !ok {
		if keys, err = create(ctx, st, now(), kind, comment); err != nil {
			return nil, fmt.Errorf("sshca: create %s CA: %w", kind, err)
		}
	}
	ks, err := load(keys, now())
	if err != nil {
		return nil, err
	}
	a := &Authority{now: now, st: st, kind: kind, comment: comment}
	a.cur.Store(ks)
	return a, nil
}

// create stores a new current CA key of kind, unless another controller
// just did, and returns the keys of that kind as they are now.
func create(ctx context.Context, st store.Store, now time.Time, kind, comment string) ([]store.CAKey, error) {
	k, err := newKey(kind, comment, now)
	if err != nil {
		return nil, err
	}
	if err := st.CreateCAKey(ctx, k); err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, err
	}
	return st.ListCAKeys(ctx, kind)
}

// newKey makes an ed25519 CA key of kind.
func newKey(kind, comment string, now time.Time) (store.CAKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return store.CAKey{}, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return store.CAKey{}, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return store.CAKey{}, err
	}
	return store.CAKey{
		ID: auth.NewID(), Kind: kind, Public: authorizedKey(sshPub, comment),
		Private: pem.EncodeToMemory(block), CreatedAt: now,
	}, nil
}

// load makes the keySet of keys, with the private halves of those that
// sign at now or later: the current key, and a retired one whose
// retirement lies ahead.
func load(keys []store.CAKey, now time.Time) (*keySet, error) {
	if _, ok := current(keys); !ok {
		return nil, errors.New("sshca: the store has no current CA key")
	}
	ks := &keySet{keys: keys, signers: make([]ssh.Signer, len(keys))}
	for i, k := range keys {
		if k.RetiredAt != nil && !k.RetiredAt.After(now) {
			continue
		}
		signer, err := ssh.ParsePrivateKey(k.Private)
		if err != nil {
			return nil, fmt.Errorf("sshca: CA %s: private key: %w", k.ID, err)
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.Public))
		if err != nil {
			return nil, fmt.Errorf("sshca: CA %s: public key: %w", k.ID, err)
		}
		if !sameKey(pub, signer.PublicKey()) {
			return nil, fmt.Errorf("sshca: CA %s: public and private key do not match", k.ID)
		}
		ks.signers[i] = signer
	}
	return ks, nil
}

// signer is the key that signs at now: for the host CA, a retired key
// whose retirement still lies ahead (a staged rotation's predecessor; the
// soonest one, should there be several), else the current key.
func (ks *keySet) signer(now time.Time, staged bool) ssh.Signer {
	pick := -1
	for i, k := range ks.keys {
		switch {
		case ks.signers[i] == nil:
		case staged && k.RetiredAt != nil && k.RetiredAt.After(now):
			if pick < 0 || ks.keys[pick].RetiredAt == nil || k.RetiredAt.Before(*ks.keys[pick].RetiredAt) {
				pick = i
			}
		case k.RetiredAt == nil && pick < 0:
			pick = i
		}
	}
	if pick < 0 {
		panic("sshca: no CA key signs") // load parsed the current key, which is never retired
	}
	return ks.signers[pick]
}

// current is the store's current key: the one not retired (the store
// admits one per kind; should there be more, the newest).
func current(keys []store.CAKey) (store.CAKey, bool) {
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].RetiredAt == nil {
			return keys[i], true
		}
	}
	return store.CAKey{}, false
}

// trusted reports whether certificates signed by k are accepted at now.
func trusted(k store.CAKey, now time.Time) bool {
	return k.RetiredAt == nil || (k.TrustedUntil != nil && now.Before(*k.TrustedUntil))
}

func sameKey(a, b ssh.PublicKey) bool {
	return a.Type() == b.Type() && string(a.Marshal()) == string(b.Marshal())
}

// authorizedKey is pub's authorized_keys line with comment, without the
// trailing newline.
func authorizedKey(pub ssh.PublicKey, comment string) string {
	line := strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(pub)), "\n")
	if comment != "" {
		line += " " + comment
	}
	return line
}

// PublicKey is the public key of the CA key that signs now.
func (a *Authority) PublicKey() ssh.PublicKey { return a.signer().PublicKey() }

// signer is the CA key that signs now.
func (a *Authority) signer() ssh.Signer {
	return a.cur.Load().signer(a.now(), a.kind == store.CAHost)
}

// UserCAKeys returns the authorized_keys lines of every user CA whose
// certificates are accepted now: the current one and retired ones still in
// their overlap period, oldest first. This is what agents trust (and what a
// real sshd's TrustedUserCAKeys file holds).
func (a *Authority) UserCAKeys() []string {
	now := a.now()
	var out []string
	for _, k := range a.cur.Load().keys {
		if trusted(k, now) {
			out = append(out, k.Public)
		}
	}
	return out
}

// UserCATrust returns what UserCAKeys does and, for each key, until when
// it is trusted in Unix seconds (rounded down, so an agent drops it no
// later than the controller does): a retired key's overlap end, or 0 for
// the current key. Agents get both, so they stop trusting a retired key
// on time even while the controller is away.
func (a *Authority) UserCATrust() (keys []string, until []int64) {
	now := a.now()
	for _, k := range a.cur.Load().keys {
		if !trusted(k, now) {
			continue
		}
		keys = append(keys, k.Public)
		var u int64
		if k.RetiredAt != nil && k.TrustedUntil != nil {
			u = k.TrustedUntil.Unix()
		}
		until = append(until, u)
	}
	return keys, until
}

// UserCertRequest says what a user certificate grants.
type UserCertRequest struct {
	// KeyID identifies the certificate in the target's logs; it is not a
	// secret.
	KeyID string
	// Principals are the OS users the certificate may log in as; at
	// least one.
	Principals []string
	// TTL is how long from now the certificate is valid: more than 0 and
	// at most MaxTTL.
	TTL time.Duration
	// Permit* set the matching permit-* extensions.
	PermitPTY, PermitPortForwarding, PermitAgentForwarding, PermitUserRC bool
	// SourceAddress, if set, is the source-address critical option: a
	// comma-separated list of addresses and CIDR prefixes the certificate
	// may be used from.
	SourceAddress string
}

// check returns an error saying what is wrong with r.
func (r UserCertRequest) check() error {
	switch {
	case len(r.Principals) == 0:
		return errors.New("a user certificate needs at least one principal")
	case r.TTL <= 0:
		return fmt.Errorf("certificate lifetime %v must be positive", r.TTL)
	case r.TTL > MaxTTL:
		return fmt.Errorf("certificate lifetime %v is longer than the maximum %v", r.TTL, MaxTTL)
	}
	for _, p := range r.Principals {
		if p == "" {
			return errors.New("empty principal")
		}
	}
	if r.SourceAddress != "" {
		return checkSourceAddress(r.SourceAddress)
	}
	return nil
}

// checkSourceAddress accepts what sshd accepts in source-address: a
// comma-separated list of IP addresses and CIDR prefixes.
func checkSourceAddress(list string) error {
	for item := range strings.SplitSeq(list, ",") {
		if _, err := netip.ParsePrefix(item); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(item); err != nil {
			return fmt.Errorf("source-address %q: %q is neither an IP address nor a CIDR prefix", list, item)
		}
	}
	return nil
}

// extensions are the permit-* extensions r asks for.
func (r UserCertRequest) extensions() map[string]string {
	ext := map[string]string{}
	for name, on := range map[string]bool{
		"permit-pty":              r.PermitPTY,
		"permit-port-forwarding":  r.PermitPortForwarding,
		"permit-agent-forwarding": r.PermitAgentForwarding,
		"permit-user-rc":          r.PermitUserRC,
	} {
		if on {
			ext[name] = ""
		}
	}
	return ext
}

// SignUser returns a user certificate for pub, signed by the current user
// CA: valid from ClockSkew before now to TTL after it, with a random
// serial. pub must be a plain public key, not a certificate.
func (a *Authority) SignUser(pub ssh.PublicKey, r UserCertRequest) (*ssh.Certificate, error) {
	if pub == nil {
		return nil, errors.New("sshca: sign user: no public key")
	}
	if _, ok := pub.(*ssh.Certificate); ok {
		return nil, errors.New("sshca: sign user: the key is a certificate; send the plain public key")
	}
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("sshca: sign user: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("sshca: sign user: %w", err)
	}
	now := a.now()
	cert := &ssh.Certificate{
		Key:             pub,
		Serial:          serial,
		CertType:        ssh.UserCert,
		KeyId:           r.KeyID,
		ValidPrincipals: append([]string(nil), r.Principals...),
		ValidAfter:      uint64(now.Add(-ClockSkew).Unix()),
		ValidBefore:     uint64(now.Add(r.TTL).Unix()),
		Permissions:     ssh.Permissions{CriticalOptions: map[string]string{}, Extensions: r.extensions()},
	}
	if r.SourceAddress != "" {
		cert.CriticalOptions["source-address"] = r.SourceAddress
	}
	if err := cert.SignCert(rand.Reader, a.signer()); err != nil {
		return nil, fmt.Errorf("sshca: sign user: %w", err)
	}
	return cert, nil
}

func randomSerial() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(b[:]), nil
}
