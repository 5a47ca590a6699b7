package sshca

import (
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
)

// HostCertTTL is the validity of an agent's host certificate. The
// controller signs a new one each time the agent connects.
const HostCertTTL = 30 * 24 * time.Hour

// HostSuffix is the domain under which every target is also known to
// OpenSSH: NAME, NAME.burrow and NAME.<org>.burrow are all principals of
// its host certificate.
const HostSuffix = ".burrow"

// SignHost certifies an agent's host key for the names of the targets it
// serves (each also as NAME.burrow and NAME.<org>.burrow), from ClockSkew
// ago for HostCertTTL. The key id names the agent.
func (a *Authority) SignHost(pub ssh.PublicKey, agentID, org string, names []string) (*ssh.Certificate, error) {
	var principals []string
	for _, n := range names {
		principals = append(principals, n, n+HostSuffix)
		if org != "" {
			principals = append(principals, n+"."+org+HostSuffix)
		}
	}
	return a.signHost(pub, "burrow-agent:"+agentID, principals)
}

// SignGateway certifies the controller's SSH gateway host key for the
// names and addresses clients reach it by, so that `ssh -J` trusts the
// gateway through the same @cert-authority line as the targets.
func (a *Authority) SignGateway(pub ssh.PublicKey, names []string) (*ssh.Certificate, error) {
	return a.signHost(pub, GatewayKeyID, names)
}

// GatewayKeyID is the key id of the gateway's host certificate.
const GatewayKeyID = "burrow-gateway"

func (a *Authority) signHost(pub ssh.PublicKey, keyID string, principals []string) (*ssh.Certificate, error) {
	if pub == nil {
		return nil, errors.New("sshca: sign host: no public key")
	}
	if _, ok := pub.(*ssh.Certificate); ok {
		return nil, errors.New("sshca: sign host: the key is a certificate")
	}
	if len(principals) == 0 {
		return nil, errors.New("sshca: sign host: no names")
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := a.now()
	cert := &ssh.Certificate{
		Key:             pub,
		Serial:          serial,
		CertType:        ssh.HostCert,
		KeyId:           keyID,
		ValidPrincipals: principals,
		ValidAfter:      uint64(now.Add(-ClockSkew).Unix()),
		ValidBefore:     uint64(now.Add(HostCertTTL).Unix()),
	}
	if err := cert.SignCert(rand.Reader, a.signer()); err != nil {
		return nil, fmt.Errorf("sshca: sign host: %w", err)
	}
	return cert, nil
}

// TrustedKeys returns the authorized_keys lines of every CA key of this
// Authority whose certificates are accepted now (UserCAKeys for the user
// CA; for the host CA, what @cert-authority lines hold).
func (a *Authority) TrustedKeys() []string { return a.UserCAKeys() }
