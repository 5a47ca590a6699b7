package controller

import (
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/burrow-dev/burrow/internal/sshca"
)

// gatewayCert remembers what the gateway's host certificate was signed
// for, so that certifyGateway signs again only when something changed.
type gatewayCert struct {
	mu      sync.Mutex
	ca      string    // the host CA key that signed it
	hosts   string    // its principals, joined
	renewAt time.Time // half its validity
}

// gatewayHosts are the names and addresses clients may reach the gateway
// by, the principals of its host certificate: this machine's names, the
// --hostname values, and the addresses it listens on (every local address
// for a wildcard listener).
func (c *Controller) gatewayHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	hosts = append(hosts, c.opts.Hostnames...)
	for _, addr := range []string{c.opts.Listen, c.opts.SSHListen} {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			hosts = append(hosts, host)
			continue
		}
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() {
				hosts = append(hosts, ipn.IP.String())
			}
		}
	}
	// Names that would break a known_hosts pattern list are left out.
	hosts = slices.DeleteFunc(hosts, func(h string) bool { return h == "" || strings.ContainsAny(h, " \t,*?!#@[]") })
	slices.Sort(hosts)
	return slices.Compact(hosts)
}

// certifyGateway has the host CA sign the gateway's host key for
// gatewayHosts when the gateway has no certificate yet, the current host
// CA key changed (a rotation), the names changed, or half of the
// certificate's validity has passed. It runs at start and with every
// trust refresh. A failure is logged: the gateway then offers its plain
// key (and the previous certificate) still.
func (c *Controller) certifyGateway() {
	if c.hostCA == nil || c.sshGateway == nil {
		return
	}
	hosts := c.gatewayHosts()
	ca, key, now := string(c.hostCA.PublicKey().Marshal()), strings.Join(hosts, ","), c.opts.Now()
	c.gwCert.mu.Lock()
	defer c.gwCert.mu.Unlock()
	if c.gwCert.ca == ca && c.gwCert.hosts == key && now.Before(c.gwCert.renewAt) {
		return
	}
	cert, err := c.hostCA.SignGateway(c.sshGateway.HostKey(), hosts)
	if err == nil {
		err = c.sshGateway.SetHostCertificate(cert)
	}
	if err != nil {
		c.log.Warn("certify the SSH gateway's host key", "err", err)
		return
	}
	c.gwCert.ca, c.gwCert.hosts, c.gwCert.renewAt = ca, key, now.Add(sshca.HostCertTTL/2)
	c.log.Debug("certified the SSH gateway's host key", "hosts", hosts)
}
