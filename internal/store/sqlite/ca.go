package sqlite

import (
	"context"
	"database/sql"
	"encoding/hex"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
)

// RotateCAKey retires the current key of next.Kind, and any whose
// retirement is scheduled after retiredAt, and inserts next as the current
// one, in one transaction; store.ErrNotFound if the kind has no current
// key, store.ErrConflict if next.ID exists, store.ErrRotationUnderWay for
// a staged rotation while another is. A retired key's trust is never
// extended; a rotation without overlap ends every earlier key's.
func (db *DB) RotateCAKey(ctx context.Context, next store.CAKey, retiredAt, trustedUntil time.Time) error {
	err := inTx(ctx, db.write, func(tx *sql.Tx) error {
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ca_keys WHERE kind = ? AND retired_at IS NULL`, next.Kind).Scan(&current); err != nil {
			return err
		}
		if current == 0 {
			return sql.ErrNoRows
		}
		if retiredAt.After(next.CreatedAt) {
			var staged int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM ca_keys WHERE kind = ? AND retired_at > ?`,
				next.Kind, toDB(next.CreatedAt)).Scan(&staged); err != nil {
				return err
			}
			if staged > 0 {
				return store.ErrRotationUnderWay
			}
		}
		_, err := tx.ExecContext(ctx,
			`UPDATE ca_keys SET retired_at = ?, trusted_until = MIN(COALESCE(trusted_until, ?), ?)
			 WHERE kind = ? AND (retired_at IS NULL OR retired_at > ?)`,
			toDB(retiredAt), toDB(trustedUntil), toDB(trustedUntil), next.Kind, toDB(retiredAt))
		if err != nil {
			return err
		}
		if !trustedUntil.After(next.CreatedAt) { // no overlap: only next is trusted from now on
			if _, err := tx.ExecContext(ctx, `UPDATE ca_keys SET trusted_until = ? WHERE kind = ? AND trusted_until > ?`,
				toDB(trustedUntil), next.Kind, toDB(trustedUntil)); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO ca_keys (`+caKeyCols+`) VALUES (?, ?, ?, ?, ?, NULL, NULL)`,
			next.ID, next.Kind, next.Public, hex.EncodeToString(next.Private), toDB(next.CreatedAt))
		return err
	})
	return wrap("rotate CA key", err)
}
