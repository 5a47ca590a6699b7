package api

import (
	"errors"
	"net/http"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/auth"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/store"
)

// maxKeyName bounds the name of a registered key.
const maxKeyName = 128

// addUserKey registers a plain public key for gateway logins, bound to the
// caller's token.
func (a *API) addUserKey(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	var req apitype.AddUserKeyRequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	k, err := newUserKey(req, p)
	if err != nil {
		writeError(w, err)
		return
	}
	k.CreatedAt = a.opts.Now()
	if err := a.opts.Store.AddUserKey(r.Context(), k); err != nil {
		writeError(w, a.addKeyError(r, k, p, err))
		return
	}
	a.log.Info("ssh key registered", "key_id", k.ID, "subject", p.Subject, "token_id", p.TokenID, "key", k.Fingerprint)
	writeJSON(w, http.StatusCreated, apiUserKey(k))
}

// newUserKey validates req and returns the key to store for p.
func newUserKey(req apitype.AddUserKeyRequest, p dial.Principal) (store.UserKey, error) {
	pub, err := parseUserKey(req.PublicKey)
	if err != nil {
		return store.UserKey{}, err
	}
	_, comment, _, _, _ := ssh.ParseAuthorizedKey([]byte(req.PublicKey))
	name := strings.TrimSpace(req.Name)
	if name == "" {
		name = strings.TrimSpace(comment)
	}
	if name == "" {
		name = ssh.FingerprintSHA256(pub)
	}
	if len(name) > maxKeyName {
		return store.UserKey{}, apitype.Errorf(apitype.CodeInvalid, "name is longer than %d bytes", maxKeyName)
	}
	return store.UserKey{
		ID: auth.NewID(), TokenID: p.TokenID, Subject: p.Subject, Name: store.CleanText(name, maxKeyName),
		PublicKey:   strings.TrimSuffix(string(ssh.MarshalAuthorizedKey(pub)), "\n"),
		Fingerprint: ssh.FingerprintSHA256(pub),
	}, nil
}

// addKeyError says why k could not be stored.
func (a *API) addKeyError(r *http.Request, k store.UserKey, p dial.Principal, err error) error {
	if !errors.Is(err, store.ErrConflict) {
		return apitype.Errorf(apitype.CodeUnavailable, "store key: %v", err)
	}
	old, lerr := a.opts.Store.UserKeyByFingerprint(r.Context(), k.Fingerprint)
	if lerr == nil && (old.Subject == p.Subject || p.Role == apitype.RoleAdmin) {
		return apitype.Errorf(apitype.CodeConflict, "key %s is already registered as %s (token %s); `burrow keys remove %s` first to register it again",
			k.Fingerprint, old.ID, old.TokenID, old.ID)
	}
	return apitype.Errorf(apitype.CodeConflict, "key %s is already registered by another user", k.Fingerprint)
}

// listUserKeys lists the caller's subject's keys, or everyone's for an
// admin.
func (a *API) listUserKeys(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	ks, err := a.opts.Store.ListUserKeys(r.Context(), keysOwner(p))
	if err != nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "list keys: %v", err))
		return
	}
	out := make([]apitype.UserKey, 0, len(ks))
	for _, k := range ks {
		out = append(out, apiUserKey(k))
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteUserKey removes a key of the caller's subject (any key for an
// admin); another user's key is reported as not found.
func (a *API) deleteUserKey(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	id := r.PathValue("id")
	ks, err := a.opts.Store.ListUserKeys(r.Context(), keysOwner(p))
	if err == nil && !hasKey(ks, id) {
		err = store.ErrNotFound
	}
	if err == nil {
		err = a.opts.Store.DeleteUserKey(r.Context(), id)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, apitype.Errorf(apitype.CodeNotFound, "no key with id %s (`burrow keys list` shows them)", id))
		return
	case err != nil:
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "delete key: %v", err))
		return
	}
	a.log.Info("ssh key removed", "key_id", id, "by", p.Subject)
	w.WriteHeader(http.StatusNoContent)
}

// keysOwner is the subject whose keys p manages: its own, or everyone's
// ("") for an admin.
func keysOwner(p dial.Principal) string {
	if p.Role == apitype.RoleAdmin {
		return ""
	}
	return p.Subject
}

func hasKey(ks []store.UserKey, id string) bool {
	for _, k := range ks {
		if k.ID == id {
			return true
		}
	}
	return false
}

func apiUserKey(k store.UserKey) apitype.UserKey {
	return apitype.UserKey{ID: k.ID, Name: k.Name, PublicKey: k.PublicKey, Fingerprint: k.Fingerprint,
		Subject: k.Subject, TokenID: k.TokenID, CreatedAt: k.CreatedAt.UTC()}
}
