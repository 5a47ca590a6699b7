package sqlite

import (
	"context"
	"database/sql"

	"github.com/burrow-dev/burrow/internal/store"
)

// Session events.

const sessionEventCols = `session_id, occurred_at, kind, login, detail, exit_status`

func scanSessionEvent(sc scanner) (store.SessionEvent, error) {
	var (
		e      store.SessionEvent
		at     int64
		status sql.NullInt64
	)
	if err := sc.Scan(&e.SessionID, &at, &e.Kind, &e.Login, &e.Detail, &status); err != nil {
		return store.SessionEvent{}, err
	}
	e.At = fromDB(at)
	if status.Valid {
		n := int(status.Int64)
		e.ExitStatus = &n
	}
	return e, nil
}

// AddSessionEvents inserts the events, cleaned (store.SessionEvent.Clean),
// in one transaction. Each is numbered after the highest number its session
// has so far, read in the same transaction.
func (db *DB) AddSessionEvents(ctx context.Context, events []store.SessionEvent) error {
	if len(events) == 0 {
		return nil
	}
	err := inTx(ctx, db.write, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO session_events (seq, `+sessionEventCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		last := map[string]int64{} // highest seq by session id
		for _, e := range events {
			if err := insertSessionEvent(ctx, tx, stmt, last, e.Clean()); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap("add session events", err)
}

// insertSessionEvent inserts e with the next seq of its session, reading
// the session's highest seq into last the first time the batch meets it.
func insertSessionEvent(ctx context.Context, tx *sql.Tx, stmt *sql.Stmt, last map[string]int64, e store.SessionEvent) error {
	seq, ok := last[e.SessionID]
	if !ok {
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM session_events WHERE session_id = ?`, e.SessionID).Scan(&seq)
		if err != nil {
			return err
		}
	}
	seq++
	last[e.SessionID] = seq
	var status any
	if e.ExitStatus != nil {
		status = int64(*e.ExitStatus)
	}
	_, err := stmt.ExecContext(ctx, seq, e.SessionID, toDB(e.At), e.Kind, e.Login, e.Detail, status)
	return err
}

// SessionEvents returns a session's events by occurred_at, then seq. With
// none it tells a session without events (an empty list) from no session
// (store.ErrNotFound).
func (db *DB) SessionEvents(ctx context.Context, sessionID string) ([]store.SessionEvent, error) {
	es, err := queryAll(ctx, db.read, scanSessionEvent,
		`SELECT `+sessionEventCols+` FROM session_events WHERE session_id = ? ORDER BY occurred_at, seq`, sessionID)
	if err == nil && len(es) == 0 {
		es = []store.SessionEvent{}
		var n int
		err = db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE id = ?`, sessionID).Scan(&n)
		if err == nil && n == 0 {
			err = sql.ErrNoRows
		}
	}
	if err != nil {
		return nil, wrap("session events", err)
	}
	return es, nil
}
