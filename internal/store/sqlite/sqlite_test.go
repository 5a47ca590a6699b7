package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
	"github.com/burrow-dev/burrow/internal/store/storetest"
)

func openTemp(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "burrow.db"))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func TestConformanceMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(memoryPath)
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

// appliedMigrations returns schema_migrations as version -> applied_at.
func appliedMigrations(t *testing.T, db *DB) map[int64]int64 {
	t.Helper()
	rows, err := db.read.QueryContext(t.Context(), `SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := make(map[int64]int64)
	for rows.Next() {
		var v, at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		out[v] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReopenKeepsDataAndSkipsMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "burrow.db")
	tok := store.Token{ID: "t1", Name: "n", Hash: []byte{1, 2, 3}, Subject: "alice", Role: "admin",
		CreatedAt: time.Now()}

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	before := appliedMigrations(t, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != len(ms) {
		t.Fatalf("schema_migrations has %d rows after the first open, want %d", len(before), len(ms))
	}

	db, err = Open(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if after := appliedMigrations(t, db); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("schema_migrations changed on reopen: %v, was %v", after, before)
	}
	got, err := db.TokenByHash(t.Context(), tok.Hash)
	if err != nil {
		t.Fatalf("token lost on reopen: %v", err)
	}
	if got.ID != tok.ID || !got.CreatedAt.Equal(tok.CreatedAt.Truncate(time.Microsecond)) {
		t.Errorf("token after reopen = %+v, want %+v", got, tok)
	}
}

func TestOpenAwkwardPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%20chars&_pragma=x")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "burrow.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SetPolicy(t.Context(), store.Policy{Target: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not created at %q: %v", path, err)
	}
}

func pragma(t *testing.T, pool *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := pool.QueryRowContext(t.Context(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestPragmas(t *testing.T) {
	db := openTemp(t)
	t.Cleanup(func() { db.Close() })
	tests := []struct {
		pool *sql.DB
		name string
		want string
	}{
		{db.write, "journal_mode", "wal"},
		{db.write, "synchronous", "1"}, // NORMAL
		{db.write, "busy_timeout", "5000"},
		{db.write, "foreign_keys", "1"},
		{db.write, "query_only", "0"},
		{db.read, "journal_mode", "wal"},
		{db.read, "busy_timeout", "5000"},
		{db.read, "query_only", "1"},
	}
	for _, tt := range tests {
		pool := "write"
		if tt.pool == db.read {
			pool = "read"
		}
		if got := pragma(t, tt.pool, tt.name); got != tt.want {
			t.Errorf("%s pool: PRAGMA %s = %q, want %q", pool, tt.name, got, tt.want)
		}
	}
}

func TestReadPoolRejectsWrites(t *testing.T) {
	db := openTemp(t)
	t.Cleanup(func() { db.Close() })
	_, err := db.read.ExecContext(t.Context(), `DELETE FROM tokens`)
	if err == nil {
		t.Fatal("write through the read pool succeeded")
	}
}

// TestSessionsOutOfOrder checks the documented extras of this
// implementation: an end batch written before its start batch loses nothing,
// and a start batch can be retried.
func TestSessionsOutOfOrder(t *testing.T) {
	db := openTemp(t)
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	end := now.Add(time.Minute)
	start := store.Session{ID: "s1", Subject: "alice", TokenID: "t1", Target: "db", Port: 5432,
		FrontDoor: "ws", StartedAt: now}
	want := start
	want.EndedAt, want.BytesUp, want.BytesDown, want.Result = &end, 10, 20, "ok"

	if err := db.EndSessions(ctx, []store.Session{{ID: "s1", EndedAt: &end, BytesUp: 10, BytesDown: 20, Result: "ok"}}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := db.StartSessions(ctx, []store.Session{start}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.ListSessions(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].EndedAt == nil || !got[0].EndedAt.Equal(end) || !got[0].StartedAt.Equal(now) {
		t.Fatalf("ListSessions = %+v, want [%+v]", got, want)
	}
	got[0].EndedAt, got[0].StartedAt, want.EndedAt, want.StartedAt = nil, time.Time{}, nil, time.Time{}
	if got[0] != want {
		t.Errorf("session = %+v, want %+v", got[0], want)
	}
}

func TestRevokeTokenKeepsFirstTime(t *testing.T) {
	db := openTemp(t)
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	first := time.Unix(1_700_000_000, 0).UTC()
	tok := store.Token{ID: "t1", Hash: []byte{1}, Subject: "alice", Role: "admin", CreatedAt: first}
	if err := db.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{first, first.Add(time.Hour)} {
		if err := db.RevokeToken(ctx, "t1", at); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.TokenByHash(ctx, tok.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if got.RevokedAt == nil || !got.RevokedAt.Equal(first) {
		t.Errorf("RevokedAt = %v, want %v", got.RevokedAt, first)
	}
}

func TestTouchUnknownAgent(t *testing.T) {
	db := openTemp(t)
	t.Cleanup(func() { db.Close() })
	err := db.TouchAgent(t.Context(), "nope", time.Now())
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("TouchAgent unknown: err = %v, want %v", err, store.ErrNotFound)
	}
}

func TestErrorMessages(t *testing.T) {
	db := openTemp(t)
	t.Cleanup(func() { db.Close() })
	_, err := db.UseJoinToken(t.Context(), []byte{9}, time.Now())
	if got, want := fmt.Sprint(err), "sqlite: use join token: not found"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func BenchmarkStartEndSessions(b *testing.B) {
	const batch = 100
	db := openTemp(b)
	b.Cleanup(func() { db.Close() })
	ctx := context.Background()
	start := make([]store.Session, batch)
	end := make([]store.Session, batch)
	now := time.Now()
	n := 0
	for b.Loop() {
		for i := range start {
			id := fmt.Sprintf("s%d-%d", n, i)
			start[i] = store.Session{ID: id, Subject: "alice", TokenID: "t1", Target: "db", Port: 5432,
				FrontDoor: "ws", StartedAt: now}
			end[i] = start[i]
			end[i].EndedAt, end[i].BytesUp, end[i].BytesDown, end[i].Result = &now, 1000, 2000, "ok"
		}
		if err := db.StartSessions(ctx, start); err != nil {
			b.Fatal(err)
		}
		if err := db.EndSessions(ctx, end); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n*batch)/b.Elapsed().Seconds(), "sessions/s")
}

// TestUpgradeFrom0001 opens a database made by the first migration only:
// its tokens read back without logins and its agents without host keys.
func TestUpgradeFrom0001(t *testing.T) {
	path := filepath.Join(t.TempDir(), "burrow.db")
	old, err := openPool(dsn(path, writerParams()), 1)
	if err != nil {
		t.Fatal(err)
	}
	body, err := migrationFS.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)`,
		string(body),
		`INSERT INTO schema_migrations VALUES (1, 0)`,
		`INSERT INTO tokens VALUES ('t1', 'n', '01', 'alice', 'admin', 0, NULL, NULL)`,
		`INSERT INTO agents VALUES ('a1', 'one', 'linux', 'amd64', 'v1', 'null', 'null', 0, 0)`,
	} {
		if _, err := old.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	old.Close()

	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tok, err := db.TokenByHash(ctx, []byte{1})
	if err != nil || tok.ID != "t1" || tok.Logins != nil {
		t.Errorf("old token = %+v, %v; want t1 without logins", tok, err)
	}
	a, err := db.Agent(ctx, "a1")
	if err != nil || a.HostKey != "" {
		t.Errorf("old agent = %+v, %v; want a1 without host key", a, err)
	}
	if err := db.CreateCAKey(ctx, store.CAKey{ID: "k", Kind: store.CAUser, CreatedAt: time.Now()}); err != nil {
		t.Errorf("CreateCAKey after upgrade: %v", err)
	}
}

// TestConformanceTokenCache: the token cache passes the conformance suite
// too, revocations included.
func TestConformanceTokenCache(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.CacheTokens(openTemp(t), time.Hour) })
}

// TestFilesOwnerOnly: the database holds the CA private keys, so it and
// SQLite's side files are readable by their owner alone, and an existing
// database with a wider mode is narrowed.
func TestFilesOwnerOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "burrow.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tok := store.Token{ID: "t1", Name: "n", Hash: []byte{1}, Subject: "alice", Role: "admin", CreatedAt: time.Now()}
	if err := db.CreateToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue // no side file in this journal mode
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", filepath.Base(p), fi.Mode().Perm())
		}
	}
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path+"-journal", nil, 0o644) // as an older version might leave one
	os.Chmod(path+"-journal", 0o644)
	db, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, p := range []string{path, path + "-journal"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm() != 0o600 {
			t.Errorf("after reopening: %s has mode %v", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
