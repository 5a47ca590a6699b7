package sqlite

import (
	"context"
	"time"
)

// InitSetting stores value under name unless name is set already, and
// returns the value stored. A setting is never changed once stored, so
// of two controllers starting at once both get the same value.
func (db *DB) InitSetting(ctx context.Context, name, value string, now time.Time) (string, error) {
	if _, err := db.write.ExecContext(ctx, `INSERT INTO settings (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, value, toDB(now)); err != nil {
		return "", wrap("init setting", err)
	}
	var v string
	err := db.write.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	return v, wrap("init setting", err)
}
