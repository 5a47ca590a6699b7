package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/burrow-dev/burrow/internal/apitype"
	"github.com/burrow-dev/burrow/internal/dial"
	"github.com/burrow-dev/burrow/internal/sshca"
	"github.com/burrow-dev/burrow/internal/store"
)

// rotateCA makes a new key of the user or host CA (sshca.Authority.Rotate
// says when it signs and how long the previous one stays trusted), and has
// agents told.
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
	rot, err := ca.Rotate(r.Context(), overlap)
	if errors.Is(err, sshca.ErrRotationUnderWay) {
		writeError(w, apitype.Errorf(apitype.CodeConflict, "%v", err))
		return
	}
	if err != nil {
		writeError(w, apitype.Errorf(apitype.CodeUnavailable, "%v", err))
		return
	}
	a.trustChanged()
	a.log.Info("ssh CA rotated", "kind", req.Kind, "by", p.Subject, "overlap", overlap, "key_id", rot.Key.ID, "signs_from", rot.SignsFrom)
	writeJSON(w, http.StatusOK, apitype.RotatedCA{
		Kind: req.Kind, Key: rot.Key.Public, CreatedAt: rot.Key.CreatedAt.UTC(), SignsFrom: rot.SignsFrom.UTC(),
		PreviousTrustedUntil: rot.PreviousTrustedUntil.UTC(), Trusted: ca.TrustedKeys(),
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
