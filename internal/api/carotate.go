package api

import (
	"net/http"
	"time"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/sshca"
	"github.com/burrow-dev/burrow/internal/store"
)

// rotateCA makes a new key of the user or host CA sign from now on, the
// previous one staying trusted for the overlap, and has agents told.
func (a *API) rotateCA(w http.ResponseWriter, r *http.Request, p dial.Principal) {
	var req apitype.RotateCARequest
	if err := readJSON(r, &req); err != nil {
		writeError(w, err)
		return
	}
	ca, overlap, err := a.rotateRequest(req)
	if err != nil {
		writeError(w, err)
		return
	}
	next, err := ca.Rotate(r.Context(), overlap)
	if err != nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "%v", err))
		return
	}
	a.trustChanged()
	a.log.Info("ssh CA rotated", "kind", req.Kind, "by", p.Subject, "overlap", overlap, "key_id", next.ID)
	writeJSON(w, http.StatusOK, apitype.RotatedCA{
		Kind: req.Kind, Key: next.Public, CreatedAt: next.CreatedAt.UTC(),
		PreviousTrustedUntil: next.CreatedAt.Add(overlap).UTC(), Trusted: ca.TrustedKeys(),
	})
}

// rotateRequest checks req and returns the CA it names and the overlap.
func (a *API) rotateRequest(req apitype.RotateCARequest) (*sshca.Authority, time.Duration, error) {
	overlap := apitype.DefaultCAOverlap
	if req.Overlap != "" {
		d, err := time.ParseDuration(req.Overlap)
		if err != nil || d < 0 || d > sshca.MaxOverlap {
			return nil, 0, apitype.Errorf(apitype.CodeInvalid, "overlap %q: want a duration between 0s and %v, e.g. 24h", req.Overlap, sshca.MaxOverlap)
		}
		overlap = d
	}
	var ca *sshca.Authority
	switch req.Kind {
	case store.CAUser:
		ca = a.opts.CA
	case store.CAHost:
		ca = a.opts.HostCA
	default:
		return nil, 0, apitype.Errorf(apitype.CodeInvalid, "kind %q: want %q or %q", req.Kind, store.CAUser, store.CAHost)
	}
	if ca == nil {
		return nil, 0, apitype.Errorf(apitype.CodeUnavailable, "this controller has no SSH %s CA", req.Kind)
	}
	return ca, overlap, nil
}

// trustChanged tells OnTrustChange, if set, that what agents trust
// changed.
func (a *API) trustChanged() {
	if a.opts.OnTrustChange != nil {
		a.opts.OnTrustChange()
	}
}
