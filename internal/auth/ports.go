package auth

import (
	"fmt"
	"strconv"
	"strings"
)

// PortRange is an inclusive range of TCP ports.
type PortRange struct{ Lo, Hi int }

// PortList is a parsed list such as "22,80,8000-8999". The empty list
// matches nothing.
type PortList []PortRange

// ParsePorts parses a comma-separated list of ports and ranges; "*" or
// "1-65535" means every port. Whitespace around items is ignored.
func ParsePorts(s string) (PortList, error) {
	var l PortList
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		r, err := parseRange(item)
		if err != nil {
			return nil, err
		}
		l = append(l, r)
	}
	return l, nil
}

func parseRange(item string) (PortRange, error) {
	if item == "*" {
		return PortRange{1, 65535}, nil
	}
	lo, hi, isRange := strings.Cut(item, "-")
	a, err := parsePort(lo)
	if err != nil {
		return PortRange{}, err
	}
	if !isRange {
		return PortRange{a, a}, nil
	}
	b, err := parsePort(hi)
	if err != nil {
		return PortRange{}, err
	}
	if b < a {
		return PortRange{}, fmt.Errorf("port range %q runs backwards", item)
	}
	return PortRange{a, b}, nil
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return n, nil
}

// Contains reports whether port is in l.
func (l PortList) Contains(port int) bool {
	for _, r := range l {
		if port >= r.Lo && port <= r.Hi {
			return true
		}
	}
	return false
}

// String renders l in the form ParsePorts reads.
func (l PortList) String() string {
	parts := make([]string, len(l))
	for i, r := range l {
		if r.Lo == r.Hi {
			parts[i] = strconv.Itoa(r.Lo)
		} else {
			parts[i] = fmt.Sprintf("%d-%d", r.Lo, r.Hi)
		}
	}
	return strings.Join(parts, ",")
}

// PortPolicy allows a port when it is in Allow (or Allow is empty) and not
// in Deny.
type PortPolicy struct {
	Allow PortList
	Deny  PortList
}

// ParsePolicy parses the allow and deny lists.
func ParsePolicy(allow, deny string) (PortPolicy, error) {
	a, err := ParsePorts(allow)
	if err != nil {
		return PortPolicy{}, fmt.Errorf("allow list: %w", err)
	}
	d, err := ParsePorts(deny)
	if err != nil {
		return PortPolicy{}, fmt.Errorf("deny list: %w", err)
	}
	return PortPolicy{Allow: a, Deny: d}, nil
}

// Allows reports whether port may be reached.
func (p PortPolicy) Allows(port int) bool {
	if port < 1 || port > 65535 {
		return false
	}
	if p.Deny.Contains(port) {
		return false
	}
	return len(p.Allow) == 0 || p.Allow.Contains(port)
}
