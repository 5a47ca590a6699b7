package storetest

import (
	"testing"
	"time"

	"github.com/burrow-dev/burrow/internal/store"
)

// testCAKeyRotate: each rotation retires the current key with its overlap
// and makes the successor current; keys retired before keep theirs; other
// kinds are untouched.
func testCAKeyRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	u1, host := caKey("u1", store.CAUser, 0), caKey("h1", store.CAHost, 0)
	must(t, "CreateCAKey u1", s.CreateCAKey(ctx, u1))
	must(t, "CreateCAKey h1", s.CreateCAKey(ctx, host))
	u2 := caKey("u2", store.CAUser, time.Hour)
	u2.RetiredAt = ptr(at(time.Hour)) // ignored: the successor is current
	must(t, "RotateCAKey u2", s.RotateCAKey(ctx, u2, at(time.Hour), at(25*time.Hour)))
	u2.RetiredAt = nil
	checkCAKeys(t, s, store.CAUser, []store.CAKey{retired(u1, time.Hour, 25*time.Hour), u2})
	u3 := caKey("u3", store.CAUser, 2*time.Hour)
	must(t, "RotateCAKey u3", s.RotateCAKey(ctx, u3, at(2*time.Hour), at(3*time.Hour)))
	checkCAKeys(t, s, store.CAUser, []store.CAKey{
		retired(u1, time.Hour, 25*time.Hour), retired(u2, 2*time.Hour, 3*time.Hour), u3,
	})
	checkCAKeys(t, s, store.CAHost, []store.CAKey{host})
	// The partial unique index still admits one current key.
	checkErr(t, "CreateCAKey u4", s.CreateCAKey(ctx, caKey("u4", store.CAUser, 3*time.Hour)), store.ErrConflict)
}

// testCAKeyRotateStaged: a retirement may be scheduled ahead (a staged
// host CA rotation), which refuses another staged rotation until then; a
// rotation retiring at once retires that key too, and only ever shortens
// its trust.
func testCAKeyRotateStaged(t *testing.T, s store.Store) {
	ctx := t.Context()
	h1 := caKey("h1", store.CAHost, 0)
	must(t, "CreateCAKey h1", s.CreateCAKey(ctx, h1))
	h2 := caKey("h2", store.CAHost, time.Minute)
	must(t, "RotateCAKey h2", s.RotateCAKey(ctx, h2, at(time.Hour), at(time.Hour+10*time.Minute)))
	checkCAKeys(t, s, store.CAHost, []store.CAKey{retired(h1, time.Hour, time.Hour+10*time.Minute), h2})
	// Another staged rotation before h1's retirement: refused, nothing changes.
	checkErr(t, "a second staged RotateCAKey",
		s.RotateCAKey(ctx, caKey("hx", store.CAHost, 90*time.Second), at(2*time.Hour), at(3*time.Hour)), store.ErrRotationUnderWay)
	checkCAKeys(t, s, store.CAHost, []store.CAKey{retired(h1, time.Hour, time.Hour+10*time.Minute), h2})
	h3 := caKey("h3", store.CAHost, 2*time.Minute)
	must(t, "RotateCAKey h3", s.RotateCAKey(ctx, h3, at(2*time.Minute), at(2*time.Minute)))
	checkCAKeys(t, s, store.CAHost, []store.CAKey{
		retired(h1, 2*time.Minute, 2*time.Minute), retired(h2, 2*time.Minute, 2*time.Minute), h3,
	})
	// A long overlap does not bring back the trust of a key retired before.
	h4 := caKey("h4", store.CAHost, 3*time.Minute)
	must(t, "RotateCAKey h4", s.RotateCAKey(ctx, h4, at(3*time.Minute), at(24*time.Hour)))
	checkCAKeys(t, s, store.CAHost, []store.CAKey{
		retired(h1, 2*time.Minute, 2*time.Minute), retired(h2, 2*time.Minute, 2*time.Minute),
		retired(h3, 3*time.Minute, 24*time.Hour), h4,
	})
	// Without overlap (a compromised key) every earlier key stops being
	// trusted, h3 in its overlap too.
	h5 := caKey("h5", store.CAHost, 4*time.Minute)
	must(t, "RotateCAKey h5", s.RotateCAKey(ctx, h5, at(4*time.Minute), at(4*time.Minute)))
	checkCAKeys(t, s, store.CAHost, []store.CAKey{
		retired(h1, 2*time.Minute, 2*time.Minute), retired(h2, 2*time.Minute, 2*time.Minute),
		retired(h3, 3*time.Minute, 4*time.Minute), retired(h4, 4*time.Minute, 4*time.Minute), h5,
	})
}

// testCAKeyRotateRefused: a kind without a current key, or a successor
// whose ID exists, changes nothing.
func testCAKeyRotateRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	checkErr(t, "RotateCAKey without a current key",
		s.RotateCAKey(ctx, caKey("u1", store.CAUser, 0), at(0), at(time.Hour)), store.ErrNotFound)
	checkCAKeys(t, s, store.CAUser, nil)
	u1 := caKey("u1", store.CAUser, 0)
	must(t, "CreateCAKey u1", s.CreateCAKey(ctx, u1))
	checkErr(t, "RotateCAKey to an existing ID",
		s.RotateCAKey(ctx, caKey("u1", store.CAUser, time.Hour), at(time.Hour), at(2*time.Hour)), store.ErrConflict)
	checkCAKeys(t, s, store.CAUser, []store.CAKey{u1})
}
