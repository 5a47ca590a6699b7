package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
)

// RotateCAKey retires the current key of next.Kind and inserts next as
// the current one, in one transaction; store.ErrNotFound if the kind has
// no current key, store.ErrConflict if next.ID exists.
func (db *DB) RotateCAKey(ctx context.Context, next store.CAKey, retiredAt, trustedUntil time.Time) error {
	err := inTx(ctx, db.write, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE ca_keys SET retired_at = ?, trusted_until = ? WHERE kind = ? AND retired_at IS NULL`,
			toDB(retiredAt), toDB(trustedUntil), next.Kind)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sql.ErrNoRows
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO ca_keys (`+caKeyCols+`) VALUES (?, ?, ?, ?, ?, NULL, NULL)`,
			next.ID, next.Kind, next.Public, hex.EncodeToString(next.Private), toDB(next.CreatedAt))
		return err
	})
	return wrap("rotate CA key", err)
}
