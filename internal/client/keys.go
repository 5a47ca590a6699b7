package client

import (
	"context"
	"net/url"

	"github.com/burrow-dev/burrow/internal/apitype"
)

// AddUserKey registers a plain SSH public key for gateway logins with the
// client's token.
func (c *Client) AddUserKey(ctx context.Context, req apitype.AddUserKeyRequest) (apitype.UserKey, error) {
	var k apitype.UserKey
	return k, c.do(ctx, "POST", "/v1/ssh/keys", req, &k)
}

// ListUserKeys returns the registered keys of the token's subject (of
// everyone for an admin token).
func (c *Client) ListUserKeys(ctx context.Context) ([]apitype.UserKey, error) {
	var ks []apitype.UserKey
	return ks, c.do(ctx, "GET", "/v1/ssh/keys", nil, &ks)
}

// DeleteUserKey removes a registered key.
func (c *Client) DeleteUserKey(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/v1/ssh/keys/"+url.PathEscape(id), nil, nil)
}
