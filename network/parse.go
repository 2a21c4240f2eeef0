package network

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Parse reads the output of CollectScript. It fails only when the output has
// no usable `ip -j addr` (no ip command, or an iproute2 without JSON, older
// than 4.13); everything else that is missing or unreadable is left out.
func Parse(out string) (*Facts, error) {
	secs := splitSections(out)
	p := &parser{}
	var addrJSON, linkJSON, route4, route6 string
	for _, s := range secs {
		switch s.kind {
		case "cmd":
			switch s.name {
			case "ip -j addr":
				addrJSON = s.body
			case "ip -j -d link":
				linkJSON = s.body
			case "ip -j route":
				route4 = s.body
			case "ip -j -6 route":
				route6 = s.body
			case "resolvectl dns":
				p.resolvectl = s.body
			}
		case "exists":
			p.exists = append(p.exists, s.name)
		case "file", "hex":
			p.file(s)
		}
	}

	links, err := parseLinks(addrJSON, linkJSON)
	if err != nil {
		return nil, err
	}
	f := &Facts{}
	p.facts = f
	p.links = links
	p.interfaces()
	if err := p.routes(route4, IPv4); err != nil {
		return nil, err
	}
	if err := p.routes(route6, IPv6); err != nil {
		return nil, err
	}
	p.origins()
	p.nameservers()
	p.provider()
	if f.Interfaces == nil {
		f.Interfaces = []Interface{}
	}
	return f, nil
}

// parser holds what the sections say until Facts are put together.
type parser struct {
	facts *Facts
	links []link

	resolvConf   string // /etc/resolv.conf
	resolvedConf string // /run/systemd/resolve/resolv.conf
	resolvectl   string
	exists       []string
	vendor       string // DMI sys_vendor
	datasource   string // cloud-init's datasource

	leases []lease
	claims []claim
}

// link is one entry of ip -j addr, with its kind from ip -j -d link.
type link struct {
	Ifindex   int        `json:"ifindex"`
	Ifname    string     `json:"ifname"`
	Flags     []string   `json:"flags"`
	Operstate string     `json:"operstate"`
	LinkType  string     `json:"link_type"`
	Address   string     `json:"address"`
	Master    string     `json:"master"`
	AddrInfo  []addrInfo `json:"addr_info"`
	kind      string     // linkinfo.info_kind: "bridge", "veth", "vlan", ...; "" for a NIC
}

type addrInfo struct {
	Family     string `json:"family"`
	Local      string `json:"local"`
	Prefixlen  int    `json:"prefixlen"`
	Scope      string `json:"scope"`
	Dynamic    bool   `json:"dynamic"`
	Temporary  bool   `json:"temporary"`
	Mngtmpaddr bool   `json:"mngtmpaddr"`
	Protocol   string `json:"protocol"` // "kernel_ra", "kernel_ll", ... (iproute2 6.x on Linux 6.3+)
}

func parseLinks(addrJSON, linkJSON string) ([]link, error) {
	if strings.TrimSpace(addrJSON) == "" {
		return nil, errors.New("no output from `ip -j addr` on the host (iproute2 4.13 or newer is needed)")
	}
	var links []link
	if err := json.Unmarshal([]byte(addrJSON), &links); err != nil {
		return nil, fmt.Errorf("read `ip -j addr` output: %w", err)
	}
	var details []struct {
		Ifname   string `json:"ifname"`
		Master   string `json:"master"`
		LinkInfo struct {
			InfoKind string `json:"info_kind"`
		} `json:"linkinfo"`
	}
	if strings.TrimSpace(linkJSON) != "" {
		if err := json.Unmarshal([]byte(linkJSON), &details); err != nil {
			return nil, fmt.Errorf("read `ip -j -d link` output: %w", err)
		}
	}
	for i := range links {
		for _, d := range details {
			if d.Ifname == links[i].Ifname {
				links[i].kind = d.LinkInfo.InfoKind
				if links[i].Master == "" {
					links[i].Master = d.Master
				}
			}
		}
	}
	slices.SortStableFunc(links, func(a, b link) int { return a.Ifindex - b.Ifindex })
	return links, nil
}

var (
	ifnameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)
	macRE    = regexp.MustCompile(`^[0-9a-f]{2}(:[0-9a-f]{2}){5}$`)
)

// interfaces keeps the physical Ethernet interfaces: those udev can pin by
// MAC address. Virtual ones (bridges, VLANs, veth, tunnels) carry addresses
// NixOS would have to create them for; they are named in a warning.
func (p *parser) interfaces() {
	f := p.facts
	for _, l := range p.links {
		if l.LinkType == "loopback" || slices.Contains(l.Flags, "LOOPBACK") {
			continue
		}
		mac := strings.ToLower(l.Address)
		reason := ""
		switch {
		case l.kind != "":
			reason = l.kind + " interface"
		case l.Master != "":
			reason = "part of " + l.Master
		case l.LinkType != "ether":
			reason = "link type " + l.LinkType
		case !macRE.MatchString(mac):
			reason = fmt.Sprintf("MAC address %q", l.Address)
		case !ifnameRE.MatchString(l.Ifname):
			reason = "unusual name"
		}
		if reason != "" {
			if hasGlobal(l) {
				f.Warnings = append(f.Warnings, fmt.Sprintf("%s (%s) has addresses but is left out: only physical Ethernet interfaces are configured", l.Ifname, reason))
			}
			continue
		}
		in := Interface{Name: l.Ifname, Index: l.Ifindex, MAC: mac, Up: slices.Contains(l.Flags, "UP")}
		for _, a := range l.AddrInfo {
			ip, err := netip.ParseAddr(a.Local)
			if err != nil || (a.Family != IPv4 && a.Family != IPv6) {
				continue
			}
			in.Addresses = append(in.Addresses, Address{
				Address:      ip.String(),
				PrefixLength: a.Prefixlen,
				Family:       a.Family,
				Scope:        a.Scope,
				Dynamic:      a.Dynamic,
			})
		}
		f.Interfaces = append(f.Interfaces, in)
	}
}

func hasGlobal(l link) bool {
	for _, a := range l.AddrInfo {
		if a.Scope == "global" {
			return true
		}
	}
	return false
}

// routes reads ip -j route or ip -j -6 route: default routes become
// Gateways, other routes through a gateway become Routes.
func (p *parser) routes(js, family string) error {
	if strings.TrimSpace(js) == "" {
		return nil
	}
	var rs []struct {
		Type     string   `json:"type"`
		Dst      string   `json:"dst"`
		Gateway  string   `json:"gateway"`
		Dev      string   `json:"dev"`
		Protocol string   `json:"protocol"`
		Metric   int      `json:"metric"`
		Flags    []string `json:"flags"`
		Nexthops []any    `json:"nexthops"`
	}
	if err := json.Unmarshal([]byte(js), &rs); err != nil {
		return fmt.Errorf("read `ip -j route` (%s) output: %w", family, err)
	}
	f := p.facts
	var gws []Gateway
	for _, r := range rs {
		if r.Type != "" && r.Type != "unicast" {
			continue
		}
		in := f.Interface(r.Dev)
		if len(r.Nexthops) > 0 && r.Dst == "default" {
			f.Warnings = append(f.Warnings, fmt.Sprintf("multipath default route (%s) is not carried over", family))
			continue
		}
		gw, err := netip.ParseAddr(r.Gateway)
		if err != nil || in == nil {
			continue // a route without a gateway, or on an interface left out
		}
		if r.Dst == "default" {
			gws = append(gws, Gateway{
				Family:    family,
				Address:   gw.String(),
				Interface: r.Dev,
				Metric:    r.Metric,
				Protocol:  r.Protocol,
				OnLink:    slices.Contains(r.Flags, "onlink") || !inSubnets(gw, in),
			})
			continue
		}
		if r.Protocol == "kernel" || r.Protocol == "ra" {
			continue
		}
		dst := r.Dst
		if !strings.Contains(dst, "/") {
			if family == IPv4 {
				dst += "/32"
			} else {
				dst += "/128"
			}
		}
		pf, err := netip.ParsePrefix(dst)
		if err != nil {
			continue
		}
		f.Routes = append(f.Routes, Route{Family: family, Destination: pf.Masked().String(), Via: gw.String(), Interface: r.Dev, Protocol: r.Protocol})
	}
	slices.SortStableFunc(gws, func(a, b Gateway) int { return a.Metric - b.Metric })
	if len(gws) > 1 {
		var others []string
		for _, g := range gws[1:] {
			others = append(others, g.Address+" dev "+g.Interface)
		}
		f.Warnings = append(f.Warnings, fmt.Sprintf("several %s default routes: %s dev %s is kept, not %s", family, gws[0].Address, gws[0].Interface, strings.Join(others, ", ")))
	}
	if len(gws) > 0 {
		f.Gateways = append(f.Gateways, gws[0])
	}
	return nil
}

// inSubnets reports whether ip is in a subnet of one of in's addresses.
// A link-local IPv6 gateway counts as outside: it needs the interface named.
func inSubnets(ip netip.Addr, in *Interface) bool {
	if ip.Is6() && ip.IsLinkLocalUnicast() {
		return false
	}
	for _, a := range in.Addresses {
		pa, err := netip.ParseAddr(a.Address)
		if err != nil || pa.Is4() != ip.Is4() || a.Scope != "global" {
			continue
		}
		if pf, err := pa.Prefix(a.PrefixLength); err == nil && pf.Contains(ip) && a.PrefixLength < pa.BitLen() {
			return true
		}
	}
	return false
}

// file sorts a file section to the reader of its kind.
func (p *parser) file(s section) {
	name := s.name
	switch {
	case name == "/etc/resolv.conf":
		p.resolvConf = s.body
	case name == "/run/systemd/resolve/resolv.conf":
		p.resolvedConf = s.body
	case name == "/sys/class/dmi/id/sys_vendor":
		p.vendor = strings.TrimSpace(s.body)
	case name == "/sys/class/dmi/id/product_name":
	case name == "/var/lib/cloud/instance/datasource":
		p.datasource = strings.TrimSpace(s.body)
	case s.kind == "hex":
		p.leases = append(p.leases, dhcpcdLease(name, s.body)...)
	case strings.HasPrefix(name, "/run/systemd/netif/leases/"):
		p.leases = append(p.leases, networkdLease(name, s.body)...)
	case strings.HasPrefix(name, "/var/lib/dhcp/"), strings.HasPrefix(name, "/var/lib/dhclient/"):
		p.leases = append(p.leases, dhclientLeases(name, s.body)...)
	case strings.HasPrefix(name, "/etc/netplan/"):
		p.claims = append(p.claims, netplanClaims("netplan "+name, s.body)...)
	case strings.HasPrefix(name, "/etc/network/interfaces"):
		p.claims = append(p.claims, ifupdownClaims("ifupdown "+name, s.body)...)
	case strings.HasSuffix(name, ".network"):
		p.claims = append(p.claims, networkdClaims("networkd "+name, s.body)...)
	case strings.HasPrefix(name, "/etc/cloud/"), strings.HasPrefix(name, "/var/lib/cloud/"):
		p.claims = append(p.claims, cloudInitClaims("cloud-init "+name, s.body)...)
	}
}

// lease is what a DHCP client recorded for one interface.
type lease struct {
	source  string // e.g. "lease /var/lib/dhcp/dhclient.eth0.leases"
	iface   string // interface name; "" when only ifindex is known
	ifindex int
	addrs   []netip.Addr
	dns     []netip.Addr
}

// claim is what one configuration file says about one interface.
type claim struct {
	source string // e.g. "netplan /etc/netplan/50-cloud-init.yaml"
	name   string // interface name or glob; "" when matched by MAC only
	mac    string
	dhcp4  bool
	dhcp6  bool
	slaac  bool
	static []netip.Prefix
	dns    []netip.Addr
}

func (c claim) describe() string {
	var parts []string
	if c.dhcp4 {
		parts = append(parts, "dhcp4")
	}
	if c.dhcp6 {
		parts = append(parts, "dhcp6")
	}
	if c.slaac {
		parts = append(parts, "slaac")
	}
	for _, s := range c.static {
		parts = append(parts, "static "+s.String())
	}
	if len(parts) == 0 {
		parts = append(parts, "no addresses")
	}
	return c.source + ": " + strings.Join(parts, ", ")
}

func (c claim) matches(in *Interface) bool {
	if c.mac != "" {
		return strings.EqualFold(c.mac, in.MAC)
	}
	if c.name == "" {
		return false
	}
	ok, err := path.Match(c.name, in.Name)
	return err == nil && ok
}

func (l lease) matches(in *Interface) bool {
	return l.iface == in.Name || (l.iface == "" && l.ifindex == in.Index)
}

// origins decides how each address was configured, from the address flags
// cross-checked with the leases and configuration files, and sums it up
// per interface.
func (p *parser) origins() {
	for i := range p.facts.Interfaces {
		in := &p.facts.Interfaces[i]
		var cl []claim
		note := func(e string) {
			if !slices.Contains(in.Evidence, e) {
				in.Evidence = append(in.Evidence, e)
			}
		}
		for _, c := range p.claims {
			if c.matches(in) {
				cl = append(cl, c)
				note(c.describe())
			}
		}
		var ls []lease
		for _, l := range p.leases {
			if l.matches(in) {
				ls = append(ls, l)
				note(l.source)
			}
		}
		for j := range in.Addresses {
			a := &in.Addresses[j]
			a.Origin, a.Evidence = origin(p.linkAddr(in.Name, a.Address), *a, cl, ls)
		}
		in.IPv4Config = summarize(in.Addresses, IPv4)
		in.IPv6Config = summarize(in.Addresses, IPv6)
	}
}

// linkAddr returns the raw ip -j addr entry of an address.
func (p *parser) linkAddr(ifname, addr string) addrInfo {
	for _, l := range p.links {
		if l.Ifname != ifname {
			continue
		}
		for _, a := range l.AddrInfo {
			if ip, err := netip.ParseAddr(a.Local); err == nil && ip.String() == addr {
				return a
			}
		}
	}
	return addrInfo{}
}

func origin(raw addrInfo, a Address, cl []claim, ls []lease) (string, string) {
	ip, _ := netip.ParseAddr(a.Address)
	v6 := a.Family == IPv6
	switch {
	case a.Scope == "host":
		return OriginStatic, "host scope"
	case ip.IsLinkLocalUnicast() || a.Scope == "link":
		return OriginLinkLocal, "link-local address"
	case raw.Temporary:
		return OriginTemporary, "ip: temporary (privacy) address"
	}
	for _, l := range ls {
		if slices.Contains(l.addrs, ip) {
			if v6 {
				return OriginDHCPv6, l.source
			}
			return OriginDHCP, l.source
		}
	}
	prefix := netip.PrefixFrom(ip, a.PrefixLength)
	for _, c := range cl {
		if slices.Contains(c.static, prefix) {
			return OriginStatic, c.source
		}
	}
	if v6 {
		switch {
		case raw.Protocol == "kernel_ra":
			return OriginSLAAC, "ip: kernel_ra"
		case raw.Mngtmpaddr:
			return OriginSLAAC, "ip: mngtmpaddr"
		case a.Dynamic && a.PrefixLength == 128:
			return OriginDHCPv6, "ip: dynamic /128"
		case a.Dynamic:
			return OriginSLAAC, "ip: dynamic"
		}
		for _, c := range cl {
			switch {
			case c.dhcp6 && a.PrefixLength == 128:
				return OriginDHCPv6, c.source + ": dhcp6"
			case c.slaac || c.dhcp6:
				return OriginSLAAC, c.source + ": router advertisements"
			}
		}
		return OriginStatic, "ip: no lifetime"
	}
	if a.Dynamic {
		return OriginDHCP, "ip: dynamic"
	}
	for _, c := range cl {
		if c.dhcp4 {
			return OriginDHCP, c.source + ": dhcp4"
		}
	}
	return OriginStatic, "ip: no lifetime"
}

// summarize joins the distinct origins of a family's configurable
// addresses, in a fixed order.
func summarize(addrs []Address, family string) string {
	seen := map[string]bool{}
	for _, a := range addrs {
		if a.Family == family && a.Configurable() {
			seen[a.Origin] = true
		}
	}
	var out []string
	for _, o := range []string{OriginStatic, OriginDHCP, OriginDHCPv6, OriginSLAAC} {
		if seen[o] {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "+")
}

// resolvConf returns the nameservers and search domains of a resolv.conf.
func resolvConf(s string) (ns []netip.Addr, search []string) {
	for line := range strings.Lines(s) {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if ip, err := netip.ParseAddr(fields[1]); err == nil {
				ns = append(ns, unzone(ip))
			}
		case "search", "domain":
			search = fields[1:]
		}
	}
	return ns, search
}

// nameservers picks the resolvers: /etc/resolv.conf's, a loopback stub in
// it replaced, in place, by the upstream servers: systemd-resolved's
// (/run/systemd/resolve/resolv.conf, then `resolvectl dns`), then those from
// the DHCP leases and configuration files.
func (p *parser) nameservers() {
	f := p.facts
	ns, search := resolvConf(p.resolvConf)
	f.Search = search
	source := "/etc/resolv.conf"

	upstream, upSource := p.upstream()
	var out []netip.Addr
	stub := ""
	for _, ip := range ns {
		if !ip.IsLoopback() {
			out = append(out, ip)
			continue
		}
		if stub == "" {
			stub = ip.String()
			out = append(out, upstream...)
		}
	}
	switch {
	case stub != "" && len(upstream) > 0:
		source = fmt.Sprintf("/etc/resolv.conf, local resolver %s replaced by the servers of %s", stub, upSource)
	case stub != "":
		f.Warnings = append(f.Warnings, fmt.Sprintf("/etc/resolv.conf names the local resolver %s and its upstream servers are unknown", stub))
	case len(ns) == 0 && len(upstream) > 0:
		out = upstream
		source = upSource
	}
	seen := map[netip.Addr]bool{}
	for _, ip := range out {
		if !seen[ip] {
			seen[ip] = true
			f.Nameservers = append(f.Nameservers, ip.String())
		}
	}
	if len(f.Nameservers) > 0 {
		f.NameserverSource = source
	} else {
		f.Warnings = append(f.Warnings, "no nameserver found")
	}
}

// upstream returns the non-loopback servers a local stub resolver forwards
// to, and where they were found.
func (p *parser) upstream() ([]netip.Addr, string) {
	keep := func(ips []netip.Addr) []netip.Addr {
		return slices.DeleteFunc(ips, func(ip netip.Addr) bool { return ip.IsLoopback() })
	}
	if ns, _ := resolvConf(p.resolvedConf); len(keep(ns)) > 0 {
		return keep(ns), "systemd-resolved (/run/systemd/resolve/resolv.conf)"
	}
	if ns := keep(resolvectlDNS(p.resolvectl)); len(ns) > 0 {
		return ns, "systemd-resolved (resolvectl dns)"
	}
	var ns []netip.Addr
	var from []string
	for _, l := range p.leases {
		if len(l.dns) > 0 {
			ns = append(ns, l.dns...)
			from = append(from, l.source)
		}
	}
	for _, c := range p.claims {
		if len(c.dns) > 0 {
			ns = append(ns, c.dns...)
			from = append(from, c.source)
		}
	}
	if ns = keep(ns); len(ns) > 0 {
		return ns, strings.Join(slices.Compact(from), ", ")
	}
	return nil, ""
}

// unzone drops the "%iface" zone of an address that needs none: only a
// link-local server is reached through a named interface.
func unzone(ip netip.Addr) netip.Addr {
	if ip.IsLinkLocalUnicast() {
		return ip
	}
	return ip.WithZone("")
}

// resolvectlDNS reads `resolvectl dns`: "Global: ADDR..." and "Link N
// (NAME): ADDR..." lines; an address may carry "#server-name" or "%iface".
func resolvectlDNS(s string) []netip.Addr {
	var out []netip.Addr
	for line := range strings.Lines(s) {
		_, rest, ok := strings.Cut(line, ":")
		if !ok || !(strings.HasPrefix(line, "Global") || strings.HasPrefix(line, "Link ")) {
			continue
		}
		for _, w := range strings.Fields(rest) {
			w, _, _ = strings.Cut(w, "#")
			if ip, err := netip.ParseAddr(w); err == nil {
				out = append(out, unzone(ip))
			}
		}
	}
	return out
}

// needStatic are the nixos-infect providers for which it writes a static
// networking.nix (doNetConf, near the end of the script).
var needStatic = []string{"digitalocean", "servarica", "hetznercloud", "webdock", "layer7", "hostinger"}

// NeedsStatic reports whether nixos-infect writes a static network
// configuration for this PROVIDER name.
func NeedsStatic(provider string) bool { return slices.Contains(needStatic, provider) }

// provider names the provider from what the host says of itself:
// /etc/hetzner-build (what nixos-infect's autodetectProvider tests), then
// cloud-init's datasource, then the DMI system vendor.
func (p *parser) provider() {
	f := p.facts
	if slices.Contains(p.exists, "/etc/hetzner-build") {
		f.Provider, f.ProviderEvidence = "hetznercloud", "/etc/hetzner-build exists"
		return
	}
	known := []struct{ match, name string }{
		{"hetzner", "hetznercloud"},
		{"digitalocean", "digitalocean"},
		{"scaleway", "scaleway"},
	}
	for _, k := range known {
		if strings.Contains(strings.ToLower(p.datasource), k.match) {
			f.Provider, f.ProviderEvidence = k.name, "cloud-init datasource "+strconv.Quote(firstField(p.datasource))
			return
		}
	}
	for _, k := range known {
		if strings.Contains(strings.ToLower(p.vendor), k.match) {
			f.Provider, f.ProviderEvidence = k.name, "system vendor "+strconv.Quote(p.vendor)
			return
		}
	}
}

func firstField(s string) string {
	s, _, _ = strings.Cut(s, ":")
	return strings.TrimSpace(s)
}
