package gateway

import (
	"bytes"
	"context"
	"errors"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/sshcert"
	"github.com/burrow-dev/burrow/internal/store"
)

// unregisteredKey is the refusal of a plain key nobody registered.
const unregisteredKey = "this key is not registered; `burrow keys add` it, or use a burrow certificate (`burrow cert issue`)"

// errUnregisteredKey is that refusal, as the error a BannerError wraps.
var errUnregisteredKey = errors.New(unregisteredKey)

// refuseUnregistered refuses key with a banner that names it: OpenSSH may
// offer a plain key before a certificate that then logs in, and the user
// must see that the refusal was of that one key.
func refuseUnregistered(key ssh.PublicKey) error {
	msg := "burrow: " + sshcert.KeyName(key) + ": " + unregisteredKey
	return &ssh.BannerError{Err: errUnregisteredKey, Message: msg + "\r\n"}
}

// checkPlainKey accepts a plain key registered with `burrow keys add` as a
// login with the token that registered it, while that token is usable.
// Like certificates, only key itself decides (CVE-2024-45337): the
// returned Permissions name the token and the registered key.
func (s *Server) checkPlainKey(ctx context.Context, key ssh.PublicKey) (*ssh.Permissions, error) {
	k, err := s.opts.Store.UserKeyByFingerprint(ctx, ssh.FingerprintSHA256(key))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, refuseUnregistered(key)
	case err != nil:
		return nil, refuse("burrow: cannot check the key now: " + err.Error())
	}
	if !sameKey(k.PublicKey, key) { // a fingerprint is a hash: compare the key too
		return nil, refuseUnregistered(key)
	}
	tok, err := s.usableToken(ctx, k.TokenID, "the key's")
	if err != nil {
		return nil, refuse("burrow: " + err.Error() + " (the key was registered with it)")
	}
	return &ssh.Permissions{Extensions: map[string]string{
		extTokenID: tok.ID, extSubject: tok.Subject, extUserKey: k.ID,
	}}, nil
}

// sameKey reports whether the authorized_keys line stored holds key.
func sameKey(stored string, key ssh.PublicKey) bool {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(stored))
	return err == nil && bytes.Equal(pub.Marshal(), key.Marshal())
}
