package network

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ifupdownClaims reads /etc/network/interfaces or a file of interfaces.d:
// "iface NAME inet|inet6 METHOD" stanzas and their "address", "netmask"
// and "dns-nameservers" lines. A name may have several stanzas (cloud-init
// writes one per extra address).
func ifupdownClaims(source, body string) []claim {
	var out []claim
	var cur *claim
	var family, addr, mask string
	end := func() {
		if cur == nil {
			return
		}
		if addr != "" {
			if pf, ok := prefixOf(addr, mask); ok {
				cur.static = append(cur.static, pf)
			}
		}
		out = append(out, *cur)
		cur, addr, mask = nil, "", ""
	}
	for line := range strings.Lines(body) {
		fields := strings.Fields(line)
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		switch fields[0] {
		case "iface":
			end()
			if len(fields) < 4 {
				continue
			}
			cur = &claim{source: source, name: fields[1]}
			family = fields[2]
			switch method := fields[3]; {
			case family == "inet" && method == "dhcp":
				cur.dhcp4 = true
			case family == "inet6" && method == "dhcp":
				cur.dhcp6 = true
			case family == "inet6" && method == "auto":
				cur.slaac = true
			}
		case "auto", "allow-hotplug", "source", "source-directory", "mapping":
			end()
		case "address":
			if cur != nil && len(fields) > 1 {
				addr = fields[1]
			}
		case "netmask":
			if cur != nil && len(fields) > 1 {
				mask = fields[1]
			}
		case "dns-nameservers":
			if cur != nil {
				cur.dns = append(cur.dns, addrList(strings.Join(fields[1:], " "))...)
			}
		}
	}
	end()
	return out
}

// prefixOf reads "ADDR/LEN", or ADDR with a netmask given as a dotted mask
// or a length.
func prefixOf(addr, mask string) (netip.Prefix, bool) {
	if pf, err := netip.ParsePrefix(addr); err == nil {
		return pf, true
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, false
	}
	bits := ip.BitLen()
	if n, err := strconv.Atoi(mask); err == nil {
		bits = n
	} else if m := net.ParseIP(mask).To4(); m != nil && ip.Is4() {
		ones, size := net.IPMask(m).Size()
		if size == 0 {
			return netip.Prefix{}, false
		}
		bits = ones
	}
	pf := netip.PrefixFrom(ip, bits)
	return pf, pf.IsValid()
}

// networkdClaims reads a systemd-networkd .network file: [Match] Name= and
// MACAddress=, [Network] DHCP=, Address=, DNS=, IPv6AcceptRA=, and
// [Address] Address=.
func networkdClaims(source, body string) []claim {
	c := claim{source: source}
	var names []string
	sectionName := ""
	for line := range strings.Lines(body) {
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if strings.HasPrefix(t, "[") {
			sectionName = strings.Trim(t, "[]")
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch sectionName + "." + k {
		case "Match.Name":
			names = append(names, strings.Fields(v)...)
		case "Match.MACAddress", "Match.PermanentMACAddress":
			if f := strings.Fields(v); len(f) > 0 {
				c.mac = strings.ToLower(f[0])
			}
		case "Network.DHCP":
			switch strings.ToLower(v) {
			case "yes", "true", "both":
				c.dhcp4, c.dhcp6 = true, true
			case "ipv4":
				c.dhcp4 = true
			case "ipv6":
				c.dhcp6 = true
			}
		case "Network.IPv6AcceptRA":
			c.slaac = truthy(v)
		case "Network.Address", "Address.Address":
			if pf, ok := prefixOf(v, ""); ok {
				c.static = append(c.static, pf)
			}
		case "Network.DNS":
			c.dns = append(c.dns, addrList(v)...)
		}
	}
	if c.mac != "" {
		return []claim{c}
	}
	var out []claim
	for _, n := range names {
		c.name = n
		out = append(out, c)
	}
	return out
}

// netplanClaims reads a netplan YAML file's network.ethernets.
func netplanClaims(source, body string) []claim {
	var doc map[string]any
	if yaml.Unmarshal([]byte(body), &doc) != nil {
		return nil
	}
	return v2Claims(source, asMap(doc["network"]))
}

// v2Claims reads the ethernets of a netplan or cloud-init version 2
// network configuration.
func v2Claims(source string, network map[string]any) []claim {
	var out []claim
	for id, v := range asMap(network["ethernets"]) {
		e := asMap(v)
		match := asMap(e["match"])
		c := claim{source: source, name: id}
		if n := asString(e["set-name"]); n != "" {
			c.name = n
		} else if n := asString(match["name"]); n != "" {
			c.name = n
		}
		c.mac = strings.ToLower(asString(match["macaddress"]))
		c.dhcp4 = truthy(e["dhcp4"])
		c.dhcp6 = truthy(e["dhcp6"])
		c.slaac = truthy(e["accept-ra"])
		for _, a := range asList(e["addresses"]) {
			s := asString(a)
			if m := asMap(a); m != nil {
				s = ""
				for k := range m { // {"ADDR/LEN": {lifetime: ...}}
					s = k
				}
			}
			if pf, ok := prefixOf(s, ""); ok {
				c.static = append(c.static, pf)
			}
		}
		for _, a := range asList(asMap(e["nameservers"])["addresses"]) {
			c.dns = append(c.dns, addrList(asString(a))...)
		}
		out = append(out, c)
	}
	// YAML maps have no order.
	slices.SortFunc(out, func(a, b claim) int { return strings.Compare(a.name, b.name) })
	return out
}

// cloudInitClaims reads cloud-init network configuration: version 1 or 2,
// at the top level or under "network:", or OpenStack's network_data.json
// ("links" and "networks"). "network: {config: disabled}" says nothing.
func cloudInitClaims(source, body string) []claim {
	var doc map[string]any
	if yaml.Unmarshal([]byte(body), &doc) != nil {
		return nil
	}
	if n := asMap(doc["network"]); n != nil {
		doc = n
	}
	switch {
	case asString(doc["version"]) == "2":
		return v2Claims(source, doc)
	case asString(doc["version"]) == "1":
		return v1Claims(source, doc)
	case doc["links"] != nil && doc["networks"] != nil:
		return openstackClaims(source, doc)
	}
	return nil
}

func v1Claims(source string, doc map[string]any) []claim {
	var out []claim
	var dns []netip.Addr
	for _, v := range asList(doc["config"]) {
		e := asMap(v)
		switch asString(e["type"]) {
		case "nameserver":
			for _, a := range asList(e["address"]) {
				dns = append(dns, addrList(asString(a))...)
			}
			continue
		case "physical":
		default:
			continue
		}
		c := claim{source: source, name: asString(e["name"]), mac: strings.ToLower(asString(e["mac_address"]))}
		for _, s := range asList(e["subnets"]) {
			sn := asMap(s)
			switch t := asString(sn["type"]); t {
			case "dhcp", "dhcp4":
				c.dhcp4 = true
			case "dhcp6", "ipv6_dhcpv6-stateful":
				c.dhcp6 = true
			case "ipv6_slaac", "ipv6_dhcpv6-stateless":
				c.slaac = true
			case "static", "static6":
				if pf, ok := prefixOf(asString(sn["address"]), asString(sn["netmask"])); ok {
					c.static = append(c.static, pf)
				}
			}
			for _, a := range asList(sn["dns_nameservers"]) {
				c.dns = append(c.dns, addrList(asString(a))...)
			}
		}
		out = append(out, c)
	}
	if len(dns) > 0 {
		out = append(out, claim{source: source, dns: dns})
	}
	return out
}

func openstackClaims(source string, doc map[string]any) []claim {
	macs := map[string]string{}
	for _, v := range asList(doc["links"]) {
		l := asMap(v)
		macs[asString(l["id"])] = strings.ToLower(asString(l["ethernet_mac_address"]))
	}
	byLink := map[string]*claim{}
	var order []string
	for _, v := range asList(doc["networks"]) {
		n := asMap(v)
		id := asString(n["link"])
		c := byLink[id]
		if c == nil {
			c = &claim{source: source, mac: macs[id]}
			byLink[id] = c
			order = append(order, id)
		}
		switch asString(n["type"]) {
		case "ipv4_dhcp":
			c.dhcp4 = true
		case "ipv6_dhcp", "ipv6_dhcpv6-stateful":
			c.dhcp6 = true
		case "ipv6_slaac", "ipv6_dhcpv6-stateless":
			c.slaac = true
		case "ipv4", "ipv6":
			if pf, ok := prefixOf(asString(n["ip_address"]), asString(n["netmask"])); ok {
				c.static = append(c.static, pf)
			}
		}
	}
	var out []claim
	for _, id := range order {
		if byLink[id].mac != "" {
			out = append(out, *byLink[id])
		}
	}
	var dns []netip.Addr
	for _, v := range asList(doc["services"]) {
		if s := asMap(v); asString(s["type"]) == "dns" {
			dns = append(dns, addrList(asString(s["address"]))...)
		}
	}
	if len(dns) > 0 {
		out = append(out, claim{source: source, dns: dns})
	}
	return out
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// truthy reads a YAML or INI boolean: true, yes, on, 1.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		switch strings.ToLower(x) {
		case "true", "yes", "on", "1", "y":
			return true
		}
	}
	return false
}
