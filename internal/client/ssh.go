package client

import (
	"context"

	"github.com/burrow-dev/burrow/internal/apitype"
)

// SignSSHCertificate has the controller's user CA sign req.PublicKey as a
// short-lived SSH user certificate for some or all of the token's logins.
func (c *Client) SignSSHCertificate(ctx context.Context, req apitype.SSHCertificateRequest) (apitype.SSHCertificate, error) {
	var cert apitype.SSHCertificate
	return cert, c.do(ctx, "POST", "/v1/ssh/certificates", req, &cert)
}

// SSHCA returns the user CA keys whose certificates SSH servers accept.
func (c *Client) SSHCA(ctx context.Context) (apitype.SSHCA, error) {
	var ca apitype.SSHCA
	return ca, c.do(ctx, "GET", "/v1/ssh/ca", nil, &ca)
}

// RotateCA rotates the user or host SSH CA (admin).
func (c *Client) RotateCA(ctx context.Context, req apitype.RotateCARequest) (apitype.RotatedCA, error) {
	var out apitype.RotatedCA
	return out, c.do(ctx, "POST", "/v1/ssh/ca/rotate", req, &out)
}
