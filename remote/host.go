package remote

import (
	"fmt"
	"net/netip"
	"strings"
)

// ValidHost checks that host is something to dial: an IP literal (IPv4, or
// IPv6 without brackets, a zone allowed) or a DNS host name (labels of
// letters, digits and '-', not starting or ending with '-', at most 63
// characters each and 253 in all, the last one not all digits).
func ValidHost(host string) error {
	if host == "" {
		return fmt.Errorf("empty host")
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if strings.Contains(host, ":") {
		return fmt.Errorf("%q is not an IPv6 address", host)
	}
	if len(host) > 253 {
		return fmt.Errorf("host name %q is longer than 253 characters", host)
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return fmt.Errorf("%q is not a host name or IP address: a label %q must be 1-63 letters, digits and '-', not starting or ending with '-'", host, l)
		}
	}
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		return fmt.Errorf("%q is not a valid IPv4 address", host)
	}
	return nil
}
