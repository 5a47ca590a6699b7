package storetest

import (
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
)

// User keys.

// userKey returns a key of subject registered by token at at(d); the key
// material is opaque to the store.
func userKey(id, token, subject string, d time.Duration) store.UserKey {
	return store.UserKey{ID: id, TokenID: token, Subject: subject, Name: "laptop " + id,
		PublicKey: "ssh-ed25519 AAAA" + id, Fingerprint: "SHA256:" + id, CreatedAt: at(d)}
}

func checkUserKey(t *testing.T, got, want store.UserKey) {
	t.Helper()
	g, w := got, want
	g.CreatedAt, w.CreatedAt = time.Time{}, time.Time{}
	if g != w {
		t.Errorf("user key = %+v, want %+v", got, want)
	}
	checkTime(t, "user key "+want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
}

func checkUserKeys(t *testing.T, s store.Store, subject string, want []store.UserKey) {
	t.Helper()
	got, err := s.ListUserKeys(t.Context(), subject)
	must(t, "ListUserKeys "+subject, err)
	if len(got) != len(want) {
		t.Fatalf("ListUserKeys(%q) returned %d keys, want %d: %+v", subject, len(got), len(want), got)
	}
	for i, w := range want {
		checkUserKey(t, got[i], w)
	}
}

// testUserKeys adds keys out of time order for two subjects, looks them up
// by fingerprint, lists them and deletes one.
func testUserKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	checkUserKeys(t, s, "", nil)
	keys := []store.UserKey{
		userKey("k2", "t1", "alice", time.Hour),
		userKey("k1", "t1", "alice", 0),
		userKey("k3", "t2", "bob", time.Minute),
	}
	for _, k := range keys {
		must(t, "AddUserKey "+k.ID, s.AddUserKey(ctx, k))
	}
	checkUserKeys(t, s, "alice", []store.UserKey{keys[1], keys[0]})
	checkUserKeys(t, s, "bob", []store.UserKey{keys[2]})
	checkUserKeys(t, s, "", []store.UserKey{keys[1], keys[2], keys[0]})
	checkUserKeys(t, s, "carol", nil)

	got, err := s.UserKeyByFingerprint(ctx, "SHA256:k3")
	must(t, "UserKeyByFingerprint", err)
	checkUserKey(t, got, keys[2])
	_, err = s.UserKeyByFingerprint(ctx, "SHA256:nope")
	checkErr(t, "UserKeyByFingerprint unknown", err, store.ErrNotFound)

	must(t, "DeleteUserKey", s.DeleteUserKey(ctx, "k1"))
	checkErr(t, "DeleteUserKey again", s.DeleteUserKey(ctx, "k1"), store.ErrNotFound)
	_, err = s.UserKeyByFingerprint(ctx, "SHA256:k1")
	checkErr(t, "UserKeyByFingerprint deleted", err, store.ErrNotFound)
	checkUserKeys(t, s, "alice", []store.UserKey{keys[0]})
}

// testUserKeyConflict: a fingerprint names one key, whichever token adds
// it; a deleted key's fingerprint can be added again.
func testUserKeyConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	k := userKey("k1", "t1", "alice", 0)
	must(t, "AddUserKey", s.AddUserKey(ctx, k))
	same := userKey("k2", "t2", "bob", time.Hour)
	same.Fingerprint = k.Fingerprint
	checkErr(t, "AddUserKey same fingerprint", s.AddUserKey(ctx, same), store.ErrConflict)
	checkErr(t, "AddUserKey same ID", s.AddUserKey(ctx, userKey("k1", "t1", "alice", time.Hour)), store.ErrConflict)
	must(t, "DeleteUserKey", s.DeleteUserKey(ctx, "k1"))
	must(t, "AddUserKey after delete", s.AddUserKey(ctx, same))
	checkUserKeys(t, s, "", []store.UserKey{same})
}
