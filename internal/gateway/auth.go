package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/sshca"
	"github.com/burrow-dev/burrow/internal/sshcert"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/store"
)

// Extensions of the Permissions the gateway returns for the key that
// authenticated; the connection reads who it serves from them only.
const (
	extTokenID     = "burrow-token-id"
	extSubject     = "burrow-subject"
	extKeyID       = "burrow-key-id"       // a certificate's key id
	extUserKey     = "burrow-user-key-id"  // a registered key's id (store.UserKey)
	extValidBefore = "burrow-valid-before" // unix seconds; "" for never
)

// login is who a connection serves.
type login struct {
	subject, tokenID string
	keyID            string    // of the certificate; "" for a registered key
	userKey          string    // id of the registered key; "" for a certificate
	validBefore      time.Time // of the certificate; zero: never expires
}

func loginOf(p *ssh.Permissions) login {
	if p == nil {
		return login{}
	}
	l := login{subject: p.Extensions[extSubject], tokenID: p.Extensions[extTokenID], keyID: p.Extensions[extKeyID],
		userKey: p.Extensions[extUserKey]}
	if v, err := strconv.ParseInt(p.Extensions[extValidBefore], 10, 64); err == nil {
		l.validBefore = time.Unix(v, 0)
	}
	return l
}

// credential says what the connection logged in with.
func (l login) credential() string {
	if l.userKey != "" {
		return "registered key " + l.userKey
	}
	return fmt.Sprintf("certificate %q", l.keyID)
}

// refuse is an authentication failure whose message OpenSSH prints.
func refuse(msg string) error {
	return &ssh.BannerError{Err: errors.New(msg), Message: msg + "\r\n"}
}

// checkKey decides from key alone whether it may log in: a burrow
// certificate, or a plain key registered with `burrow keys add`.
func (s *Server) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	cert, ok := key.(*ssh.Certificate)
	if !ok {
		return s.checkPlainKey(context.Background(), key)
	}
	if cert.CertType != ssh.UserCert {
		return nil, refuse("burrow: this is not a user certificate")
	}
	if !s.trusted(cert.SignatureKey) {
		return nil, refuse("burrow: the certificate is not signed by a CA this gateway trusts; get a new one")
	}
	if err := s.checkValidity(cert); err != nil {
		return nil, err
	}
	if err := sshcert.CheckSourceAddress(cert, meta.RemoteAddr()); err != nil {
		return nil, refuse("burrow: " + err.Error())
	}
	// The login name given to the gateway is informational: check the
	// certificate as if it named one of its own principals.
	checker := ssh.CertChecker{Clock: s.opts.Now, IsUserAuthority: s.trusted}
	perms, err := checker.Authenticate(asPrincipal{meta, firstPrincipal(cert)}, key)
	if err != nil {
		return nil, refuse("burrow: certificate refused: " + err.Error())
	}
	tok, err := s.tokenOf(context.Background(), cert.KeyId)
	if err != nil {
		return nil, refuse("burrow: " + err.Error())
	}
	return &ssh.Permissions{CriticalOptions: perms.CriticalOptions, Extensions: map[string]string{
		extTokenID: tok.ID, extSubject: tok.Subject, extKeyID: cert.KeyId, extValidBefore: validBefore(cert),
	}}, nil
}

// asPrincipal presents a connection as logging in as user.
type asPrincipal struct {
	ssh.ConnMetadata
	user string
}

func (a asPrincipal) User() string { return a.user }

func firstPrincipal(cert *ssh.Certificate) string {
	if len(cert.ValidPrincipals) == 0 {
		return ""
	}
	return cert.ValidPrincipals[0]
}

func validBefore(cert *ssh.Certificate) string {
	if cert.ValidBefore == ssh.CertTimeInfinity {
		return ""
	}
	return strconv.FormatUint(cert.ValidBefore, 10)
}

// trusted reports whether auth is a user CA trusted now.
func (s *Server) trusted(auth ssh.PublicKey) bool {
	return sshcert.Signed(auth, sshcert.ParseKeys(s.opts.UserCAKeys()))
}

// checkValidity refuses a certificate outside its validity window with a
// message that says which end was missed.
func (s *Server) checkValidity(cert *ssh.Certificate) error {
	if err := sshcert.CheckValidity(cert, s.opts.Now()); err != nil {
		return refuse("burrow: " + err.Error())
	}
	return nil
}

// tokenOf returns the usable token a certificate's key id names.
func (s *Server) tokenOf(ctx context.Context, keyID string) (store.Token, error) {
	org, subject, tokenID, ok := sshca.ParseUserKeyID(keyID)
	if !ok { // or from before key ids named the org
		org = s.opts.Org
		subject, tokenID, ok = sshca.ParseLegacyUserKeyID(keyID)
	}
	if !ok {
		return store.Token{}, fmt.Errorf("the certificate's key id %q is not a burrow one (burrow:<org>:<subject>:<token id>); get a new one", keyID)
	}
	if org != s.opts.Org {
		return store.Token{}, fmt.Errorf("the certificate is for org %q, and this gateway serves org %q; get one from this org's controller", org, s.opts.Org)
	}
	t, err := s.usableToken(ctx, tokenID, "the certificate's")
	if err != nil {
		return store.Token{}, err
	}
	if t.Subject != subject {
		return store.Token{}, fmt.Errorf("the certificate's key id %q does not match its token", keyID)
	}
	return t, nil
}

// usableToken loads the token with id and refuses it if revoked, expired
// or an agent's; whose ("the certificate's", "the key's") starts the
// messages.
func (s *Server) usableToken(ctx context.Context, id, whose string) (store.Token, error) {
	t, err := s.opts.Store.Token(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Token{}, fmt.Errorf("%s token %s no longer exists", whose, id)
	case err != nil:
		return store.Token{}, fmt.Errorf("cannot check %s token now: %v", whose, err)
	case t.RevokedAt != nil:
		return store.Token{}, fmt.Errorf("%s token %s was revoked at %s; ask an admin for a new one", whose, t.ID, t.RevokedAt.UTC().Format(time.RFC3339))
	case t.ExpiresAt != nil && !s.opts.Now().Before(*t.ExpiresAt):
		return store.Token{}, fmt.Errorf("%s token %s expired at %s; ask an admin for a new one", whose, t.ID, t.ExpiresAt.UTC().Format(time.RFC3339))
	case t.Role == apitype.RoleAgent:
		return store.Token{}, errors.New("agent credentials cannot use the gateway")
	}
	return t, nil
}

// whose starts messages about the login's token.
func (l login) whose() string {
	if l.userKey != "" {
		return "the key's"
	}
	return "the certificate's"
}

// stillValid refuses new channels once the certificate has expired.
func (c *conn) stillValid() error {
	if vb := c.login.validBefore; !vb.IsZero() && !c.s.opts.Now().Before(vb) {
		return fmt.Errorf("burrow: the certificate expired at %s; reconnect with a new one", vb.UTC().Format(time.RFC3339))
	}
	return nil
}

// principal is the connection's principal as its token is now: a token
// revoked or expired since login opens nothing more.
func (c *conn) principal(ctx context.Context) (dial.Principal, error) {
	t, err := c.s.usableToken(ctx, c.login.tokenID, c.login.whose())
	if err != nil {
		return dial.Principal{}, apitype.Errorf(apitype.CodeUnauthenticated, "burrow: %v", err)
	}
	return dial.Principal{Subject: t.Subject, Role: t.Role, TokenID: t.ID, Logins: t.Logins, ExpiresAt: t.ExpiresAt}, nil
}
