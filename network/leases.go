package network

import (
	"encoding/hex"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"
)

var dhclientFileRE = regexp.MustCompile(`^dhclient6?[.-](.+)\.leases?$`)

// dhclientLeases reads an ISC dhclient lease file: one "lease {...}" or
// "lease6 {...}" block per lease, the newest last.
func dhclientLeases(file, body string) []lease {
	var out []lease
	var cur *lease
	fileIface := ""
	if m := dhclientFileRE.FindStringSubmatch(path.Base(file)); m != nil {
		fileIface = m[1]
		if i := strings.LastIndex(fileIface, "-"); i >= 0 && strings.HasPrefix(path.Base(file), "dhclient-") {
			fileIface = fileIface[i+1:] // dhclient-UUID-eth0.lease
		}
	}
	depth := 0
	for line := range strings.Lines(body) {
		t := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(line), ";"))
		if depth == 0 && (t == "lease {" || t == "lease6 {") {
			cur = &lease{source: "lease " + file, iface: fileIface}
		}
		depth += strings.Count(t, "{") - strings.Count(t, "}")
		if cur == nil {
			continue
		}
		fields := strings.Fields(t)
		switch {
		case len(fields) >= 2 && fields[0] == "interface":
			cur.iface = strings.Trim(fields[1], `"`)
		case len(fields) >= 2 && (fields[0] == "fixed-address" || fields[0] == "iaaddr"):
			if ip, err := netip.ParseAddr(fields[1]); err == nil {
				cur.addrs = append(cur.addrs, ip)
			}
		case len(fields) >= 3 && fields[0] == "option" && (fields[1] == "domain-name-servers" || fields[1] == "dhcp6.name-servers"):
			cur.dns = append(cur.dns, addrList(strings.Join(fields[2:], " "))...)
		}
		if depth == 0 {
			if len(cur.addrs) > 0 || len(cur.dns) > 0 {
				out = append(out, *cur)
			}
			cur = nil
		}
	}
	return out
}

// networkdLease reads a systemd-networkd DHCPv4 lease,
// /run/systemd/netif/leases/IFINDEX: KEY=VALUE lines.
func networkdLease(file, body string) []lease {
	idx, err := strconv.Atoi(path.Base(file))
	if err != nil {
		return nil
	}
	l := lease{source: "lease " + file, ifindex: idx}
	for line := range strings.Lines(body) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "ADDRESS":
			l.addrs = append(l.addrs, addrList(v)...)
		case "DNS":
			l.dns = append(l.dns, addrList(v)...)
		}
	}
	if len(l.addrs) == 0 {
		return nil
	}
	return []lease{l}
}

// dhcpcdLease reads a dhcpcd lease given as `od -An -tx1` hex: a DHCPv4
// lease is the server's BOOTP reply (the address at offset 16, options
// after the magic cookie at 236). A DHCPv6 lease (.lease6) is only noted.
func dhcpcdLease(file, hexdump string) []lease {
	base := path.Base(file)
	name := strings.TrimPrefix(base, "dhcpcd-")
	l := lease{source: "lease " + file}
	if n, ok := strings.CutSuffix(name, ".lease6"); ok {
		l.iface = n
		return []lease{l}
	}
	n, ok := strings.CutSuffix(name, ".lease")
	if !ok {
		return nil
	}
	l.iface = n
	b, err := hex.DecodeString(strings.Join(strings.Fields(hexdump), ""))
	if err != nil || len(b) < 240 || b[0] != 2 || string(b[236:240]) != "\x63\x82\x53\x63" {
		return nil
	}
	if ip := netip.AddrFrom4([4]byte(b[16:20])); !ip.IsUnspecified() {
		l.addrs = append(l.addrs, ip)
	}
	for i := 240; i < len(b); {
		code := b[i]
		if code == 0 {
			i++
			continue
		}
		if code == 255 || i+1 >= len(b) {
			break
		}
		n := int(b[i+1])
		if i+2+n > len(b) {
			break
		}
		if data := b[i+2 : i+2+n]; code == 6 {
			for j := 0; j+4 <= len(data); j += 4 {
				l.dns = append(l.dns, netip.AddrFrom4([4]byte(data[j:j+4])))
			}
		}
		i += 2 + n
	}
	return []lease{l}
}

// addrList reads addresses separated by commas or spaces.
func addrList(s string) []netip.Addr {
	var out []netip.Addr
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if ip, err := netip.ParseAddr(strings.Trim(w, `"`)); err == nil {
			out = append(out, ip)
		}
	}
	return out
}
