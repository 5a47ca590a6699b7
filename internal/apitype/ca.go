package apitype

import "time"

// RotateCARequest asks the controller to rotate one of its SSH CAs.
type RotateCARequest struct {
	Kind string `json:"kind"` // "user" or "host"
	// Overlap is a Go duration, e.g. "24h" (the default), "0s" for none:
	// for the user CA, how long the old key stays trusted; for the host
	// CA, how long the old key keeps signing while the new one is only
	// published (it stays trusted sshca.HostSwitchGrace more).
	Overlap string `json:"overlap,omitempty"`
}

// DefaultCAOverlap is the overlap of a rotation whose request names none.
const DefaultCAOverlap = 24 * time.Hour

// RotatedCA answers a rotation: the new key and what is trusted now.
type RotatedCA struct {
	Kind string `json:"kind"`
	// Key is the new CA public key (authorized_keys line), trusted from
	// now on.
	Key       string    `json:"key"`
	CreatedAt time.Time `json:"created_at"`
	// SignsFrom is when Key starts signing: CreatedAt, or the end of the
	// overlap in a staged host CA rotation, until when the previous key
	// signs.
	SignsFrom time.Time `json:"signs_from"`
	// PreviousTrustedUntil is when the previous key stops being trusted.
	PreviousTrustedUntil time.Time `json:"previous_trusted_until"`
	// Trusted lists the CA keys of that kind trusted now, oldest first.
	Trusted []string `json:"trusted"`
}
