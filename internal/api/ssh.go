package api

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/sshca"
)

// DefaultCertTTL is the lifetime of an SSH certificate when the request
// names none: long enough to open a connection, short enough that a lost
// certificate is worthless soon.
const DefaultCertTTL = 5 * time.Minute

// minRSABits is the smallest RSA key the CA signs.
const minRSABits = 2048

// signSSHCertificate signs the caller's public key as an OpenSSH user
// certificate for some or all of the token's logins.
func (a *API) signSSHCertificate(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	var req apitype.SSHCertificateRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if a.opts.CA == nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "this controller has no SSH certificate authority"))
		return
	}
	cr, pub, err := certRequest(req, p, a.opts.Org, a.opts.CertPolicy)
	if err != nil {
		writeError(w, err)
		return
	}
	cert, err := a.opts.CA.SignUser(pub, cr)
	if err != nil {
		writeError(w, apitype.Errorf(apitype.CodeInternal, "%v", err))
		return
	}
	a.log.Info("ssh certificate issued", "subject", p.Subject, "token_id", p.TokenID, "key_id", cert.KeyId,
		"serial", cert.Serial, "principals", cert.ValidPrincipals, "key", ssh.FingerprintSHA256(pub),
		"valid_before", time.Unix(int64(cert.ValidBefore), 0).UTC())
	writeJSON(w, http.StatusCreated, apitype.SSHCertificate{
		Certificate: strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(cert)), "\n"),
		ValidAfter:  time.Unix(int64(cert.ValidAfter), 0).UTC(),
		ValidBefore: time.Unix(int64(cert.ValidBefore), 0).UTC(),
		Principals:  cert.ValidPrincipals,
		KeyID:       cert.KeyId,
	})
}

// certRequest checks req against the caller's token and says what to sign.
func certRequest(req apitype.SSHCertificateRequest, p dial.Principal, org string, policy sshca.Policy) (sshca.UserCertRequest, ssh.PublicKey, error) {
	pub, err := parseUserKey(req.PublicKey)
	if err != nil {
		return sshca.UserCertRequest{}, nil, err
	}
	ttl, err := certTTL(req.TTL, policy.LongestTTL())
	if err != nil {
		return sshca.UserCertRequest{}, nil, err
	}
	principals, err := certPrincipals(req.Principals, p)
	if err != nil {
		return sshca.UserCertRequest{}, nil, err
	}
	source, err := sourceAddress(req.SourceAddress)
	if err != nil {
		return sshca.UserCertRequest{}, nil, err
	}
	if p.ExpiresAt != nil { // a certificate never outlives its token
		ttl = min(ttl, time.Until(*p.ExpiresAt).Truncate(time.Second))
		if ttl <= 0 {
			return sshca.UserCertRequest{}, nil, apitype.Errorf(apitype.CodeUnauthenticated, "the token has expired")
		}
	}
	r := sshca.UserCertRequest{
		KeyID: sshca.UserKeyID(org, p.Subject, p.TokenID), Principals: principals, TTL: ttl, SourceAddress: source,
	}
	policy.Apply(&r) // the permit-* extensions
	return r, pub, nil
}

// sourceAddress checks a source-address list (IP addresses and CIDR
// prefixes, comma-separated; spaces around entries are dropped) and
// returns it in the form sshd reads: no spaces.
func sourceAddress(list string) (string, error) {
	if strings.TrimSpace(list) == "" {
		return "", nil
	}
	var out []string
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if err := checkSourceItem(item); err != nil {
			return "", apitype.Errorf(apitype.CodeInvalid, "source_address %q: %v", list, err)
		}
		out = append(out, item)
	}
	return strings.Join(out, ","), nil
}

// checkSourceItem accepts what sshd accepts: an IP address without a
// zone, or a CIDR prefix without host bits.
func checkSourceItem(item string) error {
	if p, err := netip.ParsePrefix(item); err == nil {
		if p != p.Masked() {
			return fmt.Errorf("%q has host bits set: write %s", item, p.Masked())
		}
		return nil
	}
	if a, err := netip.ParseAddr(item); err == nil && a.Zone() == "" {
		return nil
	}
	return fmt.Errorf("%q is neither an IP address nor a CIDR prefix such as 10.0.0.0/8", item)
}

// parseUserKey parses one authorized_keys line holding a plain public key
// (no options, no certificate) of a type OpenSSH still accepts.
func parseUserKey(line string) (ssh.PublicKey, error) {
	if strings.TrimSpace(line) == "" {
		return nil, apitype.Errorf(apitype.CodeInvalid, "public_key is required: an authorized_keys line such as the contents of ~/.ssh/id_ed25519.pub")
	}
	pub, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	switch {
	case err != nil:
		return nil, apitype.Errorf(apitype.CodeInvalid, "public_key is not an SSH public key in authorized_keys format: %v", err)
	case len(options) > 0:
		return nil, apitype.Errorf(apitype.CodeInvalid, "public_key must be a bare key, without authorized_keys options")
	case strings.TrimSpace(string(rest)) != "":
		return nil, apitype.Errorf(apitype.CodeInvalid, "public_key must be one key, not several lines")
	}
	return pub, checkKeyType(pub)
}

// checkKeyType refuses certificates and keys too weak to sign.
func checkKeyType(pub ssh.PublicKey) error {
	if _, ok := pub.(*ssh.Certificate); ok {
		return apitype.Errorf(apitype.CodeInvalid, "public_key is a certificate; send the plain public key")
	}
	if pub.Type() == ssh.KeyAlgoDSA {
		return apitype.Errorf(apitype.CodeInvalid, "DSA keys are not accepted: use ed25519 (ssh-keygen -t ed25519)")
	}
	if ck, ok := pub.(ssh.CryptoPublicKey); ok {
		if k, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
			return apitype.Errorf(apitype.CodeInvalid, "RSA key of %d bits is too weak: use ed25519 or RSA of at least %d bits", k.N.BitLen(), minRSABits)
		}
	}
	return nil
}

// certTTL parses a Go duration of at most longest; "" is DefaultCertTTL
// (or longest, if shorter).
func certTTL(s string, longest time.Duration) (time.Duration, error) {
	if s == "" {
		return min(DefaultCertTTL, longest), nil
	}
	ttl, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, apitype.Errorf(apitype.CodeInvalid, "ttl %q is not a duration such as 5m or 1h", s)
	case ttl < time.Second: // certificates count whole seconds
		return 0, apitype.Errorf(apitype.CodeInvalid, "ttl %q must be at least 1s", s)
	case ttl > longest:
		return 0, apitype.Errorf(apitype.CodeInvalid, "ttl %q is longer than this controller's maximum %v", s, longest)
	}
	return ttl, nil
}

// certPrincipals returns the requested logins, or all of the token's;
// each must be one of the token's logins.
func certPrincipals(want []string, p dial.Principal) ([]string, error) {
	if len(p.Logins) == 0 {
		return nil, apitype.Errorf(apitype.CodeForbidden,
			"token %s of %s may not log in over SSH as anyone: an admin can create a token that may, with `burrow token create --login NAME`", p.TokenID, p.Subject)
	}
	if len(want) == 0 {
		return slices.Clone(p.Logins), nil
	}
	var out []string
	for _, l := range want {
		if err := auth.CheckLogin(l); err != nil {
			return nil, apitype.Errorf(apitype.CodeInvalid, "principals: %v", err)
		}
		if !slices.Contains(p.Logins, l) {
			return nil, apitype.Errorf(apitype.CodeForbidden,
				"token %s of %s may not log in as %q (it may as %s): an admin can create a token that may, with `burrow token create --login %s`",
				p.TokenID, p.Subject, l, strings.Join(p.Logins, ", "), l)
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// sshCA lists the user CA keys SSH servers should trust and the host CA
// keys clients should trust.
func (a *API) sshCA(w http.ResponseWriter, r *http.Request, _ dial.Principal) {
	if a.opts.CA == nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "this controller has no SSH certificate authority"))
		return
	}
	resp := apitype.SSHCA{Org: a.opts.Org, UserCAKeys: a.opts.CA.UserCAKeys(), HostCAKeys: []string{},
		MaxCertTTL: int64(a.opts.CertPolicy.LongestTTL() / time.Second)}
	if resp.UserCAKeys == nil {
		resp.UserCAKeys = []string{}
	}
	if a.opts.HostCA != nil {
		resp.HostCAKeys = append(resp.HostCAKeys, a.opts.HostCA.TrustedKeys()...)
		if a.opts.GatewayHosts != nil {
			resp.GatewayHosts = a.opts.GatewayHosts()
		}
	}
	writeJSON(w, http.StatusOK, resp)
}
