// Package auth makes and checks burrow's secrets (API tokens, agent
// credentials, join tokens) and evaluates port policies. Secrets are random,
// shown once, and stored only as SHA-256 hashes.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Secret prefixes say what a secret is when it turns up somewhere (and let
// secret scanners find them).
const (
	PrefixAPI   = "brw_"  // user and admin API tokens
	PrefixAgent = "brwa_" // agent credentials
	PrefixJoin  = "brwj_" // join tokens
)

// NewSecret returns prefix followed by 32 random bytes, base64url encoded.
func NewSecret(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// NewID returns a short random identifier (not a secret).
func NewID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// Hash is what is stored of a secret.
func Hash(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// JoinToken is what an operator hands to an agent: the join secret and,
// when the controller uses a self-signed certificate, its fingerprint, so
// that one string both authenticates the agent and pins the controller.
type JoinToken struct {
	Secret      string
	Fingerprint string // "sha256:<hex>" or ""
}

// String encodes t as "<secret>" or "<secret>.<hex fingerprint>".
func (t JoinToken) String() string {
	if t.Fingerprint == "" {
		return t.Secret
	}
	return t.Secret + "." + strings.TrimPrefix(t.Fingerprint, "sha256:")
}

// ParseJoinToken decodes the String form.
func ParseJoinToken(s string) (JoinToken, error) {
	secret, fp, _ := strings.Cut(strings.TrimSpace(s), ".")
	if !strings.HasPrefix(secret, PrefixJoin) || len(secret) < len(PrefixJoin)+40 {
		return JoinToken{}, fmt.Errorf("not a burrow join token (expected %s…); create one with `burrow join-token create`", PrefixJoin)
	}
	t := JoinToken{Secret: secret}
	if fp != "" {
		b, err := hex.DecodeString(fp)
		if err != nil || len(b) != sha256.Size {
			return JoinToken{}, fmt.Errorf("join token: the part after '.' must be the controller's SHA-256 fingerprint in hex")
		}
		t.Fingerprint = "sha256:" + fp
	}
	return t, nil
}
