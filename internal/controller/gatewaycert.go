package controller

import (
	"net"
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
// by, the principals of its host certificate: the --hostname values and
// the addresses it listens on. A wildcard listener stands for every local
// address but the loopback ones, which no other machine reaches it by; a
// loopback address named explicitly (burrow dev) brings localhost with
// it. The machine's own host name is left out: it is also the name of
// the target an agent on this machine serves.
func (c *Controller) gatewayHosts() []string {
	hosts := slices.Clone(c.opts.Hostnames)
	for _, addr := range []string{c.opts.Listen, c.opts.SSHListen} {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			hosts = append(hosts, host)
			if ip != nil && ip.IsLoopback() {
				hosts = append(hosts, "localhost")
			}
			continue
		}
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLinkLocalUnicast() && !ipn.IP.IsLoopback() {
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
// gatewayHosts when the gateway has no certificate yet, the signing host
// CA key changed (a rotation, or a staged one's switch), the names
// changed, or half of the certificate's validity has passed. It runs at
// start and with every trust refresh. A failure is logged: the gateway then offers its plain
// key (and the previous certificate) still.
func (c *Controller) certifyGateway() {
	if c.hostCA == nil || c.sshGateway == nil {
		return
	}
	c.gwCert.mu.Lock()
	defer c.gwCert.mu.Unlock()
	hosts := c.gatewayHosts()
	ca, key, now := string(c.hostCA.PublicKey().Marshal()), strings.Join(hosts, ","), c.opts.Now()
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
