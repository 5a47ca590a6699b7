package sqlite

import (
	"context"

	"github.com/burrow-dev/burrow/internal/store"
)

// User keys.

const userKeyCols = `id, token_id, subject, name, public_key, fingerprint, created_at`

func scanUserKey(sc scanner) (store.UserKey, error) {
	var (
		k       store.UserKey
		created int64
	)
	if err := sc.Scan(&k.ID, &k.TokenID, &k.Subject, &k.Name, &k.PublicKey, &k.Fingerprint, &created); err != nil {
		return store.UserKey{}, err
	}
	k.CreatedAt = fromDB(created)
	return k, nil
}

// AddUserKey inserts k; store.ErrConflict if the ID or the fingerprint
// exists.
func (db *DB) AddUserKey(ctx context.Context, k store.UserKey) error {
	_, err := db.write.ExecContext(ctx, `INSERT INTO user_keys (`+userKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.TokenID, k.Subject, k.Name, k.PublicKey, k.Fingerprint, toDB(k.CreatedAt))
	return wrap("add user key", err)
}

// ListUserKeys returns the keys of subject, or of everyone for "", oldest
// CreatedAt first (then by ID).
func (db *DB) ListUserKeys(ctx context.Context, subject string) ([]store.UserKey, error) {
	ks, err := queryAll(ctx, db.read, scanUserKey,
		`SELECT `+userKeyCols+` FROM user_keys WHERE ? = '' OR subject = ? ORDER BY created_at, id`, subject, subject)
	return ks, wrap("list user keys", err)
}

// UserKeyByFingerprint returns the key with that fingerprint;
// store.ErrNotFound if none.
func (db *DB) UserKeyByFingerprint(ctx context.Context, fingerprint string) (store.UserKey, error) {
	k, err := scanUserKey(db.read.QueryRowContext(ctx, `SELECT `+userKeyCols+` FROM user_keys WHERE fingerprint = ?`, fingerprint))
	return k, wrap("user key by fingerprint", err)
}

// DeleteUserKey removes a key; store.ErrNotFound if there is no such ID.
func (db *DB) DeleteUserKey(ctx context.Context, id string) error {
	return wrap("delete user key", db.execOne(ctx, `DELETE FROM user_keys WHERE id = ?`, id))
}
