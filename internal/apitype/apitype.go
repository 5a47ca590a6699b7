// Package apitype holds the wire types shared by the controller's REST API,
// the agent and the client. It depends on the standard library only.
package apitype

import (
	"errors"
	"fmt"
	"time"
)

// Target is one place a user can reach: an agent's own machine or a host
// declared to it with --target.
type Target struct {
	Name     string            `json:"name"`
	Agent    string            `json:"agent"`
	Host     string            `json:"host,omitempty"` // as declared on the agent; informational
	Online   bool              `json:"online"`
	LastSeen time.Time         `json:"last_seen"`
	OS       string            `json:"os,omitempty"`
	Arch     string            `json:"arch,omitempty"`
	Version  string            `json:"version,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Allow    string            `json:"allow_ports,omitempty"` // agent-side allow list, "" = all
	Deny     string            `json:"deny_ports,omitempty"`  // agent-side deny list
	// The controller-side policy (PUT /v1/targets/{name}/policy), which
	// applies on top of the agent's lists.
	PolicyAllow string `json:"policy_allow_ports,omitempty"`
	PolicyDeny  string `json:"policy_deny_ports,omitempty"`
	HostKey     string `json:"host_key,omitempty"` // the agent's SSH host key, authorized_keys format
	SSH         string `json:"ssh,omitempty"`      // "builtin", "system" or "" (no shell access)
}

// Policy is the controller-side port policy of one target. Empty Allow means
// every port not denied.
type Policy struct {
	Target string `json:"target"`
	Allow  string `json:"allow_ports"`
	Deny   string `json:"deny_ports"`
}

// Token is an API token as shown to its owner; Secret is set only once, in
// the response that created it.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Subject   string     `json:"subject"`
	Role      string     `json:"role"`
	Logins    []string   `json:"logins,omitempty"` // OS users it may log in as over SSH
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	Secret    string     `json:"secret,omitempty"`
}

// CreateTokenRequest is the body of POST /v1/tokens.
type CreateTokenRequest struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Role    string `json:"role"`
	// Logins are the OS users the token may log in as over SSH. None
	// given: root for an admin, the subject for a member.
	Logins []string      `json:"logins,omitempty"`
	TTL    time.Duration `json:"ttl,omitempty"` // nanoseconds; 0 = never expires
}

// JoinToken is a bootstrap token an agent exchanges once for its credential.
type JoinToken struct {
	ID        string    `json:"id"`
	ExpiresAt time.Time `json:"expires_at"`
	MaxUses   int       `json:"max_uses"`
	Uses      int       `json:"uses"`
	Secret    string    `json:"secret,omitempty"`
}

// CreateJoinTokenRequest is the body of POST /v1/join-tokens.
type CreateJoinTokenRequest struct {
	TTL     time.Duration `json:"ttl"`      // 0: one hour; at most MaxJoinTokenTTL
	MaxUses int           `json:"max_uses"` // 0: one
}

// MaxJoinTokenTTL bounds a join token's life: it is a bearer secret that
// makes agents, so it should not lie around.
const MaxJoinTokenTTL = 30 * 24 * time.Hour

// Ticket is a short-lived, single-use credential for clients (browsers)
// that cannot set an Authorization header on a WebSocket request.
type Ticket struct {
	Ticket    string    `json:"ticket"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Whoami describes the caller of the API.
type Whoami struct {
	Subject string `json:"subject"`
	Role    string `json:"role"`
	TokenID string `json:"token_id"`
}

// Session is one audited connection through the dialer.
type Session struct {
	ID        string     `json:"id"`
	Subject   string     `json:"subject"`
	Target    string     `json:"target"`
	Port      int        `json:"port"`
	FrontDoor string     `json:"front_door"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	BytesUp   int64      `json:"bytes_up"`   // client → target
	BytesDown int64      `json:"bytes_down"` // target → client
	Result    string     `json:"result"`
}

// SessionEvent is one thing that happened inside an audited session, as
// reported by the agent serving it.
type SessionEvent struct {
	SessionID string    `json:"session_id"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"` // one of the Event* kinds
	Login     string    `json:"login"`
	// Detail is the command, subsystem or forwarded address, or "signal
	// TERM" on a death by signal; at most 4 KiB, cut with "…".
	Detail string `json:"detail"`
	// ExitStatus is set on EventSSHExit: the exit status, or 128+n for a
	// death by signal n.
	ExitStatus *int `json:"exit_status,omitempty"`
}

// Kinds of session events reported by agents' built-in SSH servers.
const (
	EventSSHLogin         = "ssh-login"          // Login was accepted
	EventSSHShell         = "ssh-shell"          // an interactive shell started
	EventSSHExec          = "ssh-exec"           // Detail, a command, started
	EventSSHSFTP          = "ssh-sftp"           // the SFTP subsystem started
	EventSSHForward       = "ssh-forward"        // direct-tcpip to Detail, host:port
	EventSSHRemoteForward = "ssh-remote-forward" // tcpip-forward of Detail, host:port
	EventSSHExit          = "ssh-exit"           // a program ended with ExitStatus
)

// SSHCertificateRequest is the body of POST /v1/ssh/certificates: sign
// PublicKey (an authorized_keys line) as a user certificate.
type SSHCertificateRequest struct {
	PublicKey  string   `json:"public_key"`
	Principals []string `json:"principals,omitempty"` // default: all of the token's logins
	TTL        string   `json:"ttl,omitempty"`        // Go duration, e.g. "5m"; default 5m, at most 12h
	// SourceAddress, if set, limits where the certificate may be used
	// from: comma-separated IP addresses and CIDR prefixes, e.g.
	// "10.0.0.0/8,192.0.2.1" (the source-address critical option).
	SourceAddress string `json:"source_address,omitempty"`
}

// SSHCertificate is a signed OpenSSH user certificate.
type SSHCertificate struct {
	Certificate string    `json:"certificate"` // authorized_keys line, as in id_ed25519-cert.pub
	ValidAfter  time.Time `json:"valid_after"`
	ValidBefore time.Time `json:"valid_before"`
	Principals  []string  `json:"principals"`
	KeyID       string    `json:"key_id"`
}

// RevokedUser is the answer to revoking a user: every API token of the
// subject was revoked, which makes their certificates useless at once.
type RevokedUser struct {
	Subject        string   `json:"subject"`
	TokensRevoked  []string `json:"tokens_revoked"`  // ids revoked now (ones revoked before are not listed)
	SessionsClosed int      `json:"sessions_closed"` // live sessions of those tokens, closed
}

// SSHCA is what SSH servers must trust to accept burrow's certificates.
type SSHCA struct {
	// Org is the org's name: user certificates' key ids are
	// "burrow:<org>:<subject>:<token id>", and targets are also
	// NAME.<org>.burrow.
	Org        string   `json:"org,omitempty"`
	UserCAKeys []string `json:"user_ca_keys"` // authorized_keys lines, as in sshd's TrustedUserCAKeys
	// HostCAKeys sign agents' host certificates (for @cert-authority
	// lines in known_hosts).
	HostCAKeys []string `json:"host_ca_keys"`
	// GatewayHosts are the names and addresses the controller's SSH
	// gateway has a host certificate for, from the same host CA: the
	// @cert-authority line lists them too, so `ssh -J` needs no pinned
	// gateway key.
	GatewayHosts []string `json:"gateway_hosts,omitempty"`
	// MaxCertTTL is the longest lifetime this controller grants user
	// certificates, in seconds: clients ask for at most that.
	MaxCertTTL int64 `json:"max_cert_ttl_seconds,omitempty"`
}

// Roles.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"
	RoleAgent  = "agent"
)

// Error codes. The API maps each to one HTTP status, in one place.
const (
	CodeUnauthenticated = "unauthenticated" // 401
	CodeForbidden       = "forbidden"       // 403
	CodeNotFound        = "not_found"       // 404
	CodeInvalid         = "invalid"         // 400
	CodeConflict        = "conflict"        // 409
	CodeUnavailable     = "unavailable"     // 503
	CodeTimeout         = "timeout"         // 504
	CodeInternal        = "internal"        // 500
)

// Error is burrow's domain error: a machine-readable code and a message
// written for the person who will read it.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, or CodeInternal.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Upgrade protocol of the raw port-forward stream (HTTP/1.1 Upgrade).
const UpgradeProtocol = "burrow-tcp/1"
