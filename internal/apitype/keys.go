package apitype

import "time"

// AddUserKeyRequest is the body of POST /v1/ssh/keys: register PublicKey
// (an authorized_keys line) for logins to the gateway with the caller's
// token.
type AddUserKeyRequest struct {
	Name      string `json:"name,omitempty"` // default: the key's comment, else its fingerprint
	PublicKey string `json:"public_key"`
}

// UserKey is a registered SSH public key. Logging in to the gateway with
// it is logging in with the token that registered it (TokenID), so it
// works only while that token does.
type UserKey struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	PublicKey   string    `json:"public_key"`  // authorized_keys line, without comment
	Fingerprint string    `json:"fingerprint"` // SHA256:...
	Subject     string    `json:"subject"`
	TokenID     string    `json:"token_id"`
	CreatedAt   time.Time `json:"created_at"`
}
