// Package sqlite implements store.Store on a SQLite database file, using the
// pure-Go driver modernc.org/sqlite (no cgo).
//
// # Connections
//
// A DB holds two database/sql pools on the same file. The write pool has
// exactly one connection, so every write and every write transaction is
// serialised in Go, in FIFO order, instead of contending for SQLite's file
// lock: concurrent writers inside the process can never see SQLITE_BUSY, and
// transactions start with BEGIN IMMEDIATE so that even a writer in another
// process fails fast on the lock (after busy_timeout) rather than deadlocking
// on a read-to-write upgrade. The read pool has several connections opened
// with query_only; in WAL mode they read a consistent snapshot while the
// writer commits, so reads never queue behind a batch of audit rows. The
// special path ":memory:" uses a single one-connection pool for both, since
// every connection to ":memory:" would otherwise be a different database.
//
// # Encoding
//
// Times are stored as BIGINT microseconds since the Unix epoch and read back
// in UTC: sub-microsecond precision, the location and the monotonic reading
// are dropped (time.Time.UnixMicro truncates). Microseconds cover the whole
// range of years 1 to 9999, the zero time.Time included, and match
// PostgreSQL's timestamp precision. Nil *time.Time fields are NULL. Hashes and
// CA private keys are stored as lower-case hex TEXT, and agent labels and
// targets and token logins as JSON TEXT, so the schema stays portable to
// PostgreSQL.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/burrow-dev/burrow/internal/store"
)

var _ store.Store = (*DB)(nil)

// memoryPath is the path that opens a private in-memory database.
const memoryPath = ":memory:"

// roleAgent is the Token.Role of agent credentials, hidden by ListTokens.
const roleAgent = "agent"

//go:embed migrations/*.sql
var migrationFS embed.FS

// DB is a store.Store backed by a SQLite database. Create it with Open; it is
// safe for concurrent use.
type DB struct {
	write *sql.DB // one connection: all writes are serialised here
	read  *sql.DB // query_only connections, or write itself for ":memory:"

	// Statements on the hot path of every dial, prepared once per
	// connection instead of once per query.
	tokenByHash, policy *sql.Stmt
}

// Open opens (creating if needed) the SQLite database at path and brings its
// schema up to date. path is a file system path; ":memory:" opens a private
// in-memory database, handy in tests.
func Open(path string) (*DB, error) {
	db, err := open(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.prepare(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

func open(path string) (*DB, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	if path == memoryPath {
		return openMemory()
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := ownerOnly(abs); err != nil {
		return nil, err
	}
	write, err := openPool(dsn(abs, writerParams()), 1)
	if err != nil {
		return nil, err
	}
	if err := migrate(context.Background(), write); err != nil {
		return nil, errors.Join(err, write.Close())
	}
	read, err := openPool(dsn(abs, readerParams()), readConns())
	if err != nil {
		return nil, errors.Join(err, write.Close())
	}
	return &DB{write: write, read: read}, nil
}

// ownerOnly creates the database file readable by its owner alone, or
// makes an existing one so: it holds the CA private keys. SQLite gives its
// -wal and -shm files the main file's mode.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := f.Chmod(fi.Mode().Perm() &^ 0o077); err != nil {
			return err
		}
	}
	// Side files an older version left (after a crash the WAL may hold
	// the keys) keep their mode: SQLite sets it only when it makes them.
	for _, side := range []string{"-wal", "-shm", "-journal"} {
		if fi, err := os.Stat(path + side); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path+side, fi.Mode().Perm()&^0o077); err != nil {
				return err
			}
		}
	}
	return nil
}

func openMemory() (*DB, error) {
	db, err := openPool(memoryPath+"?"+writerParams().Encode(), 1)
	if err != nil {
		return nil, err
	}
	if err := migrate(context.Background(), db); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return &DB{write: db, read: db}, nil
}

// openPool opens a pool of at most n connections that are kept open for the
// life of the pool.
func openPool(dsn string, n int) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// readConns is the size of the read pool.
func readConns() int {
	return max(4, runtime.GOMAXPROCS(0))
}

// dsn builds a "file:" URI for the absolute path abs. The driver consumes
// the underscore parameters; SQLite ignores them.
func dsn(abs string, params url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // a Windows drive letter: file:///C:/...
	}
	u := url.URL{Scheme: "file", Path: p, RawQuery: params.Encode()}
	return u.String()
}

// writerParams are the DSN parameters of the writer connection. journal_mode
// is persistent in the file, so only the writer needs to set it.
func writerParams() url.Values {
	return url.Values{
		"_pragma": {
			"busy_timeout(5000)",
			"journal_mode(WAL)",
			"synchronous(NORMAL)",
			"foreign_keys(1)",
		},
		"_txlock": {"immediate"},
	}
}

// readerParams are the DSN parameters of the read pool's connections.
func readerParams() url.Values {
	return url.Values{
		"_pragma": {
			"busy_timeout(5000)",
			"foreign_keys(1)",
			"query_only(1)",
		},
	}
}

// prepare readies the statements every dial runs.
func (db *DB) prepare() error {
	var err error
	if db.tokenByHash, err = db.read.Prepare(`SELECT ` + tokenCols + ` FROM tokens WHERE hash = ?`); err != nil {
		return err
	}
	db.policy, err = db.read.Prepare(`SELECT target, allow, deny FROM policies WHERE target = ?`)
	return err
}

// Close closes the database.
func (db *DB) Close() error {
	for _, st := range []*sql.Stmt{db.tokenByHash, db.policy} {
		if st != nil {
			st.Close()
		}
	}
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	if err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// Ping checks that both the writer and the read pool answer.
func (db *DB) Ping(ctx context.Context) error {
	err := db.write.PingContext(ctx)
	if err == nil {
		err = db.read.PingContext(ctx)
	}
	return wrap("ping", err)
}

// migration is one embedded schema migration.
type migration struct {
	version int64
	name    string
}

// migrate applies, in version order, every embedded migration not yet
// recorded in schema_migrations. Each runs in its own transaction, together
// with its schema_migrations row, and is skipped if that row exists once the
// transaction holds the write lock: two processes opening the same new file
// apply each migration once.
func migrate(ctx context.Context, db *sql.DB) error {
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT NOT NULL PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`
	if _, err := db.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		if err := inTx(ctx, db, func(tx *sql.Tx) error { return applyMigration(ctx, tx, m) }); err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	return nil
}

// migrations lists the embedded migrations sorted by version. File names
// are "<version>_<description>.sql".
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	ms := make([]migration, 0, len(names))
	seen := make(map[int64]string, len(names))
	for _, name := range names {
		prefix, _, _ := strings.Cut(filepath.Base(name), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migration %s: bad version: %w", name, err)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, name, v)
		}
		seen[v] = name
		ms = append(ms, migration{version: v, name: name})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

func applyMigration(ctx context.Context, tx *sql.Tx, m migration) error {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n)
	if err != nil || n > 0 {
		return err
	}
	body, err := migrationFS.ReadFile(m.name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.version, toDB(time.Now()))
	return err
}

// inTx runs fn in a transaction on db (the writer), committing if fn returns
// nil and rolling back otherwise.
func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		// fn's error is the one worth reporting; a failed rollback
		// discards the transaction anyway.
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// wrap maps driver errors to the store errors and prefixes op, once, for
// every error a DB method returns.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrNotFound)
	case isConflict(err):
		return fmt.Errorf("sqlite: %s: %w: %v", op, store.ErrConflict, err)
	default:
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
}

// isConflict reports whether err is a primary key or unique constraint
// violation.
func isConflict(err error) bool {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	code := se.Code()
	return code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// execOne runs a statement on the writer that must affect a row;
// store.ErrNotFound if it affected none.
func (db *DB) execOne(ctx context.Context, query string, args ...any) error {
	res, err := db.write.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// queryAll runs a query on the read pool and scans every row with scan.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Time and hash encoding.

func toDB(t time.Time) int64 { return t.UnixMicro() }

func fromDB(us int64) time.Time { return time.UnixMicro(us).UTC() }

func toDBPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return toDB(*t)
}

func fromDBPtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromDB(n.Int64)
	return &t
}

func hashToDB(h []byte) string { return hex.EncodeToString(h) }

func hashFromDB(s string) ([]byte, error) {
	h, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bad stored hash: %w", err)
	}
	return h, nil
}

// Tokens.

const tokenCols = `id, name, hash, subject, role, logins, created_at, expires_at, revoked_at`

func scanToken(sc scanner) (store.Token, error) {
	var (
		t            store.Token
		hash, logins string
		created      int64
		exp, rev     sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &t.Name, &hash, &t.Subject, &t.Role, &logins, &created, &exp, &rev); err != nil {
		return store.Token{}, err
	}
	h, err := hashFromDB(hash)
	if err != nil {
		return store.Token{}, err
	}
	if err := json.Unmarshal([]byte(logins), &t.Logins); err != nil {
		return store.Token{}, fmt.Errorf("bad stored logins: %w", err)
	}
	t.Hash, t.CreatedAt, t.ExpiresAt, t.RevokedAt = h, fromDB(created), fromDBPtr(exp), fromDBPtr(rev)
	return t, nil
}

// CreateToken inserts t; store.ErrConflict if the ID or hash exists.
func (db *DB) CreateToken(ctx context.Context, t store.Token) error {
	logins, err := json.Marshal(t.Logins)
	if err == nil {
		_, err = db.write.ExecContext(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, hashToDB(t.Hash), t.Subject, t.Role, string(logins),
			toDB(t.CreatedAt), toDBPtr(t.ExpiresAt), toDBPtr(t.RevokedAt))
	}
	return wrap("create token", err)
}

// TokenByHash returns the token with that hash; store.ErrNotFound if none.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	row := db.tokenByHash.QueryRowContext(ctx, hashToDB(hash))
	t, err := scanToken(row)
	return t, wrap("token by hash", err)
}

// Token returns the token with that ID; store.ErrNotFound if none.
func (db *DB) Token(ctx context.Context, id string) (store.Token, error) {
	row := db.read.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`, id)
	t, err := scanToken(row)
	return t, wrap("token", err)
}

// ListTokens returns every token whose role is not "agent", oldest first.
func (db *DB) ListTokens(ctx context.Context) ([]store.Token, error) {
	ts, err := queryAll(ctx, db.read, scanToken,
		`SELECT `+tokenCols+` FROM tokens WHERE role <> ? ORDER BY created_at, id`, roleAgent)
	return ts, wrap("list tokens", err)
}

// RevokeToken sets RevokedAt; store.ErrNotFound if no such ID. A token that
// is already revoked keeps its first revocation time.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) error {
	err := db.execOne(ctx, `UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, toDB(at), id)
	return wrap("revoke token", err)
}

// RevokeSubject revokes every unrevoked token of subject; none is not an
// error.
func (db *DB) RevokeSubject(ctx context.Context, subject string, at time.Time) error {
	_, err := db.write.ExecContext(ctx,
		`UPDATE tokens SET revoked_at = ? WHERE subject = ? AND revoked_at IS NULL`, toDB(at), subject)
	return wrap("revoke subject", err)
}

// Join tokens.

const joinTokenCols = `id, hash, created_at, expires_at, max_uses, uses`

func scanJoinToken(sc scanner) (store.JoinToken, error) {
	var (
		t            store.JoinToken
		hash         string
		created, exp int64
	)
	if err := sc.Scan(&t.ID, &hash, &created, &exp, &t.MaxUses, &t.Uses); err != nil {
		return store.JoinToken{}, err
	}
	h, err := hashFromDB(hash)
	if err != nil {
		return store.JoinToken{}, err
	}
	t.Hash, t.CreatedAt, t.ExpiresAt = h, fromDB(created), fromDB(exp)
	return t, nil
}

// CreateJoinToken inserts a join token; store.ErrConflict if the ID or hash
// exists.
func (db *DB) CreateJoinToken(ctx context.Context, t store.JoinToken) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO join_tokens (`+joinTokenCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, hashToDB(t.Hash), toDB(t.CreatedAt), toDB(t.ExpiresAt), t.MaxUses, t.Uses)
	return wrap("create join token", err)
}

// UseJoinToken consumes one use of the join token with that hash in a single
// conditional UPDATE. If no row qualifies it reports, from the same
// transaction, store.ErrNotFound, store.ErrExpired (checked first: now is at
// or past ExpiresAt, compared in microseconds) or store.ErrExhausted.
func (db *DB) UseJoinToken(ctx context.Context, hash []byte, now time.Time) (store.JoinToken, error) {
	var t store.JoinToken
	err := inTx(ctx, db.write, func(tx *sql.Tx) error {
		var err error
		t, err = useJoinToken(ctx, tx, hashToDB(hash), toDB(now))
		return err
	})
	return t, wrap("use join token", err)
}

func useJoinToken(ctx context.Context, tx *sql.Tx, hash string, now int64) (store.JoinToken, error) {
	row := tx.QueryRowContext(ctx, `UPDATE join_tokens SET uses = uses + 1
		WHERE hash = ? AND uses < max_uses AND expires_at > ?
		RETURNING `+joinTokenCols, hash, now)
	t, err := scanJoinToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return store.JoinToken{}, joinTokenRefusal(ctx, tx, hash, now)
	}
	return t, err
}

// joinTokenRefusal says why the join token with hash could not be used.
func joinTokenRefusal(ctx context.Context, tx *sql.Tx, hash string, now int64) error {
	var exp int64
	err := tx.QueryRowContext(ctx, `SELECT expires_at FROM join_tokens WHERE hash = ?`, hash).Scan(&exp)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	case now >= exp:
		return store.ErrExpired
	default:
		return store.ErrExhausted
	}
}

// Agents.

const agentCols = `id, name, os, arch, version, labels, targets, host_key, created_at, last_seen`

// targetJSON is the stored form of a store.Target, with stable key names.
type targetJSON struct {
	Name  string `json:"name"`
	Host  string `json:"host"`
	Allow string `json:"allow"`
	Deny  string `json:"deny"`
	SSH   string `json:"ssh,omitempty"`
}

// encodeAgentJSON encodes labels and targets. A nil map or slice is stored
// as JSON null and an empty one as {} or [], so both read back as written.
func encodeAgentJSON(a store.Agent) (labels, targets string, err error) {
	l, err := json.Marshal(a.Labels)
	if err != nil {
		return "", "", err
	}
	var ts []targetJSON
	if a.Targets != nil {
		ts = make([]targetJSON, len(a.Targets))
		for i, t := range a.Targets {
			ts[i] = targetJSON(t)
		}
	}
	tj, err := json.Marshal(ts)
	if err != nil {
		return "", "", err
	}
	return string(l), string(tj), nil
}

func decodeAgentJSON(a *store.Agent, labels, targets string) error {
	if err := json.Unmarshal([]byte(labels), &a.Labels); err != nil {
		return fmt.Errorf("bad stored labels: %w", err)
	}
	var ts []targetJSON
	if err := json.Unmarshal([]byte(targets), &ts); err != nil {
		return fmt.Errorf("bad stored targets: %w", err)
	}
	if ts != nil {
		a.Targets = make([]store.Target, len(ts))
		for i, t := range ts {
			a.Targets[i] = store.Target(t)
		}
	}
	return nil
}

func scanAgent(sc scanner) (store.Agent, error) {
	var (
		a                 store.Agent
		labels, targets   string
		created, lastSeen int64
	)
	if err := sc.Scan(&a.ID, &a.Name, &a.OS, &a.Arch, &a.Version, &labels, &targets, &a.HostKey, &created, &lastSeen); err != nil {
		return store.Agent{}, err
	}
	if err := decodeAgentJSON(&a, labels, targets); err != nil {
		return store.Agent{}, err
	}
	a.CreatedAt, a.LastSeen = fromDB(created), fromDB(lastSeen)
	return a, nil
}

// UpsertAgent inserts or replaces the agent with a.ID; the CreatedAt of an
// existing row is kept.
func (db *DB) UpsertAgent(ctx context.Context, a store.Agent) error {
	labels, targets, err := encodeAgentJSON(a)
	if err == nil {
		_, err = db.write.ExecContext(ctx, `INSERT INTO agents (`+agentCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET
				name = excluded.name, os = excluded.os, arch = excluded.arch,
				version = excluded.version, labels = excluded.labels,
				targets = excluded.targets, host_key = excluded.host_key,
				last_seen = excluded.last_seen`,
			a.ID, a.Name, a.OS, a.Arch, a.Version, labels, targets, a.HostKey, toDB(a.CreatedAt), toDB(a.LastSeen))
	}
	return wrap("upsert agent", err)
}

// Agent returns one agent; store.ErrNotFound if there is no such ID.
func (db *DB) Agent(ctx context.Context, id string) (store.Agent, error) {
	a, err := scanAgent(db.read.QueryRowContext(ctx, `SELECT `+agentCols+` FROM agents WHERE id = ?`, id))
	return a, wrap("agent", err)
}

// ListAgents returns all agents ordered by name (then ID).
func (db *DB) ListAgents(ctx context.Context) ([]store.Agent, error) {
	as, err := queryAll(ctx, db.read, scanAgent, `SELECT `+agentCols+` FROM agents ORDER BY name, id`)
	return as, wrap("list agents", err)
}

// TouchAgent sets LastSeen; store.ErrNotFound if there is no such ID.
func (db *DB) TouchAgent(ctx context.Context, id string, at time.Time) error {
	return wrap("touch agent", db.execOne(ctx, `UPDATE agents SET last_seen = ? WHERE id = ?`, toDB(at), id))
}

// DeleteAgent removes an agent; store.ErrNotFound if there is no such ID.
func (db *DB) DeleteAgent(ctx context.Context, id string) error {
	return wrap("delete agent", db.execOne(ctx, `DELETE FROM agents WHERE id = ?`, id))
}

// Sessions.

const sessionCols = `id, subject, token_id, target, port, front_door, started_at, ended_at, bytes_up, bytes_down, result`

const insertSession = `INSERT INTO sessions (` + sessionCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func sessionArgs(s store.Session) []any {
	return []any{s.ID, s.Subject, s.TokenID, s.Target, s.Port, s.FrontDoor,
		toDB(s.StartedAt), toDBPtr(s.EndedAt), s.BytesUp, s.BytesDown, s.Result}
}

func scanSession(sc scanner) (store.Session, error) {
	var (
		s       store.Session
		started int64
		ended   sql.NullInt64
	)
	err := sc.Scan(&s.ID, &s.Subject, &s.TokenID, &s.Target, &s.Port, &s.FrontDoor,
		&started, &ended, &s.BytesUp, &s.BytesDown, &s.Result)
	if err != nil {
		return store.Session{}, err
	}
	s.StartedAt, s.EndedAt = fromDB(started), fromDBPtr(ended)
	return s, nil
}

// StartSessions writes the sessions in one transaction. A session whose ID
// exists gets its start fields (Subject, TokenID, Target, Port, FrontDoor,
// StartedAt) overwritten and keeps its end fields, so a batch can be
// retried, and can land after the EndSessions batch of the same sessions.
func (db *DB) StartSessions(ctx context.Context, s []store.Session) error {
	err := db.sessionBatch(ctx, s, insertSession+` ON CONFLICT (id) DO UPDATE SET
		subject = excluded.subject, token_id = excluded.token_id, target = excluded.target,
		port = excluded.port, front_door = excluded.front_door, started_at = excluded.started_at`)
	return wrap("start sessions", err)
}

// EndSessions sets EndedAt, BytesUp, BytesDown and Result of the sessions in
// one transaction. A session not started yet is inserted whole, so no audit
// row is lost if the end batch is written before the start batch.
func (db *DB) EndSessions(ctx context.Context, s []store.Session) error {
	err := db.sessionBatch(ctx, s, insertSession+` ON CONFLICT (id) DO UPDATE SET
		ended_at = excluded.ended_at, bytes_up = excluded.bytes_up,
		bytes_down = excluded.bytes_down, result = excluded.result`)
	return wrap("end sessions", err)
}

// sessionBatch runs query, prepared once, for each session in one
// transaction.
func (db *DB) sessionBatch(ctx context.Context, s []store.Session, query string) error {
	if len(s) == 0 {
		return nil
	}
	return inTx(ctx, db.write, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, x := range s {
			if _, err := stmt.ExecContext(ctx, sessionArgs(x)...); err != nil {
				return err
			}
		}
		return nil
	})
}

// ListSessions returns at most limit sessions, newest StartedAt first (then
// by descending ID); none if limit <= 0.
func (db *DB) ListSessions(ctx context.Context, limit int) ([]store.Session, error) {
	if limit <= 0 {
		return nil, nil
	}
	ss, err := queryAll(ctx, db.read, scanSession,
		`SELECT `+sessionCols+` FROM sessions ORDER BY started_at DESC, id DESC LIMIT ?`, limit)
	return ss, wrap("list sessions", err)
}

// Policies.

// SetPolicy inserts or replaces a target's policy.
func (db *DB) SetPolicy(ctx context.Context, p store.Policy) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO policies (target, allow, deny) VALUES (?, ?, ?)
		ON CONFLICT (target) DO UPDATE SET allow = excluded.allow, deny = excluded.deny`,
		p.Target, p.Allow, p.Deny)
	return wrap("set policy", err)
}

// Policy returns a target's policy; store.ErrNotFound if none was set.
func (db *DB) Policy(ctx context.Context, target string) (store.Policy, error) {
	var p store.Policy
	err := db.policy.QueryRowContext(ctx, target).
		Scan(&p.Target, &p.Allow, &p.Deny)
	return p, wrap("policy", err)
}

// CA keys.

const caKeyCols = `id, kind, public_key, private_key, created_at, retired_at, trusted_until`

func scanCAKey(sc scanner) (store.CAKey, error) {
	var (
		k                store.CAKey
		private          string
		created          int64
		retired, trusted sql.NullInt64
	)
	if err := sc.Scan(&k.ID, &k.Kind, &k.Public, &private, &created, &retired, &trusted); err != nil {
		return store.CAKey{}, err
	}
	priv, err := hex.DecodeString(private)
	if err != nil {
		return store.CAKey{}, fmt.Errorf("bad stored private key of CA %s: %w", k.ID, err)
	}
	k.Private, k.CreatedAt, k.RetiredAt, k.TrustedUntil = priv, fromDB(created), fromDBPtr(retired), fromDBPtr(trusted)
	return k, nil
}

// CreateCAKey inserts k; store.ErrConflict if the ID exists or k is
// current and its kind already has a current key (a partial unique index
// enforces that).
func (db *DB) CreateCAKey(ctx context.Context, k store.CAKey) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO ca_keys (`+caKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Kind, k.Public, hex.EncodeToString(k.Private), toDB(k.CreatedAt), toDBPtr(k.RetiredAt), toDBPtr(k.TrustedUntil))
	return wrap("create CA key", err)
}

// ListCAKeys returns every key of kind, oldest CreatedAt first (then by
// ID).
func (db *DB) ListCAKeys(ctx context.Context, kind string) ([]store.CAKey, error) {
	ks, err := queryAll(ctx, db.read, scanCAKey,
		`SELECT `+caKeyCols+` FROM ca_keys WHERE kind = ? ORDER BY created_at, id`, kind)
	return ks, wrap("list CA keys", err)
}
