// Package store defines burrow's persistent state behind a small interface.
// Implementations live in subpackages (sqlite today, postgres later) and all
// pass the conformance suite in storetest. SQL is kept portable.
package store

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors returned by every implementation.
var (
	ErrNotFound  = errors.New("not found")
	ErrConflict  = errors.New("already exists")
	ErrExpired   = errors.New("expired")
	ErrExhausted = errors.New("no uses left")
	ErrRevoked   = errors.New("revoked")
	// ErrRotationUnderWay refuses a staged CA rotation while another
	// one's switch still lies ahead (RotateCAKey).
	ErrRotationUnderWay = errors.New("a staged rotation is under way")
)

// Token is an API or agent credential. Only the SHA-256 of the secret is
// stored.
type Token struct {
	ID        string
	Name      string
	Hash      []byte   // sha256 of the secret; unique
	Subject   string   // user name, or agent id for RoleAgent
	Role      string   // admin, member, agent
	Logins    []string // OS users this token may log in as over SSH
	CreatedAt time.Time
	ExpiresAt *time.Time
	RevokedAt *time.Time
}

// JoinToken is a bootstrap credential for agents.
type JoinToken struct {
	ID        string
	Hash      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
	MaxUses   int
	Uses      int
}

// Agent is what the controller remembers of an agent between connections.
type Agent struct {
	ID        string
	Name      string
	OS        string
	Arch      string
	Version   string
	Labels    map[string]string
	Targets   []Target
	HostKey   string // SSH host public key, authorized_keys format
	CreatedAt time.Time
	LastSeen  time.Time
}

// Target is a target as last reported by its agent.
type Target struct {
	Name  string
	Host  string
	Allow string
	Deny  string
	SSH   string // "builtin", "system" or "" (see tunnel.proto)
}

// Session is one audited dial.
type Session struct {
	ID        string
	Subject   string
	TokenID   string
	Target    string
	Port      int
	FrontDoor string
	StartedAt time.Time
	EndedAt   *time.Time
	BytesUp   int64
	BytesDown int64
	Result    string // "" while open; "ok" or an error code / message after
}

// SessionEvent is one thing that happened inside an audited session, as
// reported by the agent serving it: today the SSH events of the agent's
// built-in SSH server (apitype.EventSSHLogin and the other apitype.Event*
// kinds).
type SessionEvent struct {
	SessionID string
	At        time.Time
	Kind      string // e.g. "ssh-login", "ssh-exec", "ssh-exit"
	Login     string // the OS user of the SSH session
	Detail    string // the command, subsystem or forwarded address; "signal TERM" on a death by signal
	// ExitStatus is set on "ssh-exit": the program's exit status, or
	// 128+n for a death by signal n.
	ExitStatus *int
}

// Bounds of a SessionEvent's text, which comes from an agent.
const (
	MaxEventDetail = 4 << 10 // bytes of Detail
	MaxEventName   = 256     // bytes of Kind and of Login
)

// Clean returns e as every implementation stores it: Kind, Login and
// Detail made storable and bounded by CleanText, Detail to MaxEventDetail
// bytes and the others to MaxEventName.
func (e SessionEvent) Clean() SessionEvent {
	e.Kind = CleanText(e.Kind, MaxEventName)
	e.Login = CleanText(e.Login, MaxEventName)
	e.Detail = CleanText(e.Detail, MaxEventDetail)
	return e
}

// ellipsis ends text that CleanText cut.
const ellipsis = "\u2026"

// CleanText returns s as valid UTF-8 without NUL bytes (which PostgreSQL's
// TEXT refuses), in at most limit bytes: each run of invalid bytes and
// each NUL becomes U+FFFD, and a longer text is cut at a character boundary
// and ends with "…" (so limit must be at least 3).
func CleanText(s string, limit int) string {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	}
	if len(s) <= limit {
		return s
	}
	cut := max(limit-len(ellipsis), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// CA kinds.
const (
	CAUser = "user" // signs user certificates
	CAHost = "host" // signs agents' host keys
)

// CAKey is one SSH certificate authority key. A kind has at most one
// current key (RetiredAt nil). Rotation retires it and adds its successor;
// a retired key is still trusted, so certificates it signed keep working,
// until TrustedUntil (never trusted again when TrustedUntil is nil). The
// key that signs is the oldest one not retired yet: the current key, or a
// retired one whose RetiredAt still lies ahead (package sshca).
type CAKey struct {
	ID           string
	Kind         string // CAUser or CAHost
	Public       string // authorized_keys line
	Private      []byte // OpenSSH PEM private key
	CreatedAt    time.Time
	RetiredAt    *time.Time
	TrustedUntil *time.Time
}

// UserKey is a plain SSH public key registered for logging in to the
// gateway (`burrow keys add`). It is bound to the token that registered it:
// a login with the key is a login with that token, so the key stops
// working when the token is revoked or expires (and is deleted by nobody:
// `burrow keys remove` it). Subject is the token's, kept for listing.
type UserKey struct {
	ID          string
	TokenID     string
	Subject     string
	Name        string
	PublicKey   string // authorized_keys line, without comment
	Fingerprint string // ssh.FingerprintSHA256: "SHA256:..."; unique
	CreatedAt   time.Time
}

// Policy is the controller-side port policy of a target.
type Policy struct {
	Target string
	Allow  string
	Deny   string
}

// Store is burrow's persistence. All methods are safe for concurrent use.
type Store interface {
	// CreateToken inserts t; ErrConflict if the ID or hash exists.
	CreateToken(ctx context.Context, t Token) error
	// TokenByHash returns the token with that hash, ErrNotFound if none.
	// It does not check expiry or revocation; callers do.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// Token returns the token with that ID, ErrNotFound if none. Like
	// TokenByHash it does not check expiry or revocation.
	Token(ctx context.Context, id string) (Token, error)
	// ListTokens returns all tokens of non-agent roles, oldest first.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken sets RevokedAt; ErrNotFound if no such ID.
	RevokeToken(ctx context.Context, id string, at time.Time) error
	// RevokeSubject revokes every token of subject (used when an agent is
	// re-joined or removed).
	RevokeSubject(ctx context.Context, subject string, at time.Time) error

	// CreateJoinToken inserts a join token.
	CreateJoinToken(ctx context.Context, t JoinToken) error
	// UseJoinToken atomically checks and consumes one use of the join token
	// with that hash: ErrNotFound, ErrExpired (now >= ExpiresAt) or
	// ErrExhausted (Uses >= MaxUses); on success Uses is incremented and the
	// updated token returned.
	UseJoinToken(ctx context.Context, hash []byte, now time.Time) (JoinToken, error)

	// UpsertAgent inserts or replaces the agent with a.ID (CreatedAt of an
	// existing row is kept; every other field, HostKey included, is
	// replaced).
	UpsertAgent(ctx context.Context, a Agent) error
	// Agent returns one agent; ErrNotFound.
	Agent(ctx context.Context, id string) (Agent, error)
	// ListAgents returns all agents ordered by name.
	ListAgents(ctx context.Context) ([]Agent, error)
	// TouchAgent sets LastSeen.
	TouchAgent(ctx context.Context, id string, at time.Time) error
	// DeleteAgent removes an agent; ErrNotFound.
	DeleteAgent(ctx context.Context, id string) error

	// StartSessions and EndSessions write audit rows in batches; a batch is
	// one transaction. EndSessions sets EndedAt, bytes and Result.
	StartSessions(ctx context.Context, s []Session) error
	EndSessions(ctx context.Context, s []Session) error
	// ListSessions returns the newest sessions first, at most limit.
	ListSessions(ctx context.Context, limit int) ([]Session, error)

	// AddSessionEvents stores events, Clean'd, in one transaction. Events
	// of one session must come from one writer at a time (the controller
	// serving it): each gets the next number in its session's insertion
	// order.
	AddSessionEvents(ctx context.Context, events []SessionEvent) error
	// SessionEvents returns the events of a session ordered by At, then by
	// insertion; none if the session has none. ErrNotFound if there is
	// neither a session nor an event with that ID (events may be written
	// before their session's start row).
	SessionEvents(ctx context.Context, sessionID string) ([]SessionEvent, error)

	// SetPolicy inserts or replaces a target's policy; Policy returns it
	// (ErrNotFound if none).
	SetPolicy(ctx context.Context, p Policy) error
	Policy(ctx context.Context, target string) (Policy, error)

	// CreateCAKey inserts k; ErrConflict if the ID exists, or if k is
	// current (RetiredAt nil) and its kind already has a current key, so
	// that of two controllers creating the first CA at once exactly one
	// succeeds.
	CreateCAKey(ctx context.Context, k CAKey) error
	// ListCAKeys returns every key of kind, retired ones included, oldest
	// first.
	ListCAKeys(ctx context.Context, kind string) ([]CAKey, error)

	// CA rotation.

	// RotateCAKey, in one transaction, retires the current key of
	// next.Kind (RetiredAt = retiredAt, TrustedUntil = trustedUntil), and
	// any key whose retirement is scheduled after retiredAt (their
	// TrustedUntil only ever shrinks), and inserts next as the new current
	// key. retiredAt may lie ahead of next.CreatedAt (now): the retired key
	// signs until then (a staged host CA rotation); such a rotation gets
	// ErrRotationUnderWay, changing nothing, while a key's retirement still
	// lies ahead of now. Without overlap (trustedUntil not after
	// next.CreatedAt: a compromised key) the trust of every earlier key of
	// the kind ends at trustedUntil. ErrNotFound if the kind has no current key (create
	// the first with CreateCAKey); ErrConflict if next.ID exists. next's
	// RetiredAt and TrustedUntil are ignored.
	RotateCAKey(ctx context.Context, next CAKey, retiredAt, trustedUntil time.Time) error

	// AddUserKey registers k; ErrConflict if the ID or the Fingerprint
	// exists (a key belongs to one token at a time).
	AddUserKey(ctx context.Context, k UserKey) error
	// ListUserKeys returns the keys of subject ("" for every subject),
	// oldest first.
	ListUserKeys(ctx context.Context, subject string) ([]UserKey, error)
	// UserKeyByFingerprint returns the key with that fingerprint;
	// ErrNotFound if none.
	UserKeyByFingerprint(ctx context.Context, fingerprint string) (UserKey, error)
	// DeleteUserKey removes a key; ErrNotFound if no such ID.
	DeleteUserKey(ctx context.Context, id string) error

	// InitSetting stores value under name if name has no value yet, and
	// returns the value name has then (the one given, or the one stored
	// before): a deployment's fixed values, such as its org's name.
	InitSetting(ctx context.Context, name, value string, now time.Time) (string, error)

	// Ping checks the store is usable (for /readyz).
	Ping(ctx context.Context) error
	Close() error
}
