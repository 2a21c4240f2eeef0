package network

import (
	"bytes"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"bootstrap/channel"
)

// NetworkingNix returns /etc/nixos/networking.nix: the host's present
// addresses, default gateways, routes and nameservers as a static NixOS
// configuration, and its interface names pinned by MAC address. It is an
// *Error when there is no address to configure (see Decide).
//
// The options are the same on every channel from nixos-20.09 to
// nixos-unstable, so ch is only checked and named in the header. Checked
// in nixpkgs:
//   - nixos/modules/tasks/network-interfaces.nix (2025): addrOpts
//     { address; prefixLength; }, routeOpts { address; prefixLength; via;
//     type; options; }, gatewayOpts { address; interface; metric; source; },
//     interfaceOpts ipv4/ipv6.addresses and ipv4/ipv6.routes,
//     networking.defaultGateway{,6} (nullOr (coercedTo str (submodule))),
//     networking.nameservers (listOf str), networking.useDHCP (bool). Its
//     renamed-option list holds only the pre-18.03 names (ip4, ip6,
//     ipAddress, prefixLength, subnetMask, preferTempAddress);
//   - network-interfaces-scripted.nix at 17.09-beta (i.ip4) and 18.03-beta
//     (i.ipv4.addresses), and the later commit that added routes' "type"
//     next to an existing "via": "type", gateways' "source" and "metric"
//     are not used;
//   - nixos/modules/services/hardware/udev.nix, in its 2018-2021 and
//     current forms: networking.usePredictableInterfaceNames (bool,
//     default true), services.udev.extraRules (lines, written to
//     99-local.rules, after 80-net-setup-link.rules, which only names an
//     interface whose NAME is still empty);
//   - nixos/modules/services/networking/dhcpcd.nix: dhcpcd runs only when
//     networking.useDHCP or some interface's useDHCP is true (enableDHCP);
//   - the 20.09 release notes (rl-2009.section.md), whole: nothing renames
//     these options; its note that scripted networking now sets a link's
//     MAC address and MTU with .link files matched on the original name
//     does not apply, as neither is set here. The later release notes were
//     stored only as early drafts where looked up (rl-2205, rl-2511), so
//     the range rests on the module sources at both ends and on
//     nixos-infect, which writes the same options for every channel.
//
// networking.dhcpcd.enable is left alone (nixos-infect sets it false): with
// useDHCP false dhcpcd does not run, and turning it off would silently
// break a host.nix that asks for DHCP on one interface.
//
// Priorities: everything is lib.mkDefault, so a plain definition in
// host.nix replaces it, except two. networking.useDHCP is
// lib.mkOverride 900: the hardware-configuration.nix that
// nixos-generate-config writes (22.05 on) says networking.useDHCP =
// lib.mkDefault true, and two mkDefault values that differ are a conflict;
// 900 beats mkDefault (1000) and loses to a plain definition (100).
// services.udev.extraRules is a plain definition: it is a lines option, so
// host.nix's rules are added to these instead of replacing them.
func NetworkingNix(f *Facts, ch channel.Channel) ([]byte, error) {
	if ch == (channel.Channel{}) {
		return nil, fmt.Errorf("networking.nix: channel not set")
	}
	if f == nil || !hasStaticConfig(f) {
		if f == nil {
			f = &Facts{}
		}
		return nil, noAddress(f, "static network configuration")
	}
	for _, in := range f.Interfaces {
		if !ifnameRE.MatchString(in.Name) || !macRE.MatchString(in.MAC) {
			return nil, fmt.Errorf("networking.nix: interface %q with MAC %q: not a name and MAC address bootstrap can write", in.Name, in.MAC)
		}
	}

	var b bytes.Buffer
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Static network configuration of this host (%s), written by bootstrap\n", ch)
	w("# from the addresses, routes and resolvers it had before nixos-infect.\n")
	w("# configuration.nix imports it. Each value is a default: define the same\n")
	w("# option in host.nix to replace it.\n")
	w("{ lib, ... }:\n{\n")

	if pinsDHCP(f) {
		w("  # Addresses from DHCP are pinned as they are now: no DHCP client runs.\n")
	}
	w("  networking.useDHCP = lib.mkOverride 900 false;\n")
	w("  networking.usePredictableInterfaceNames = lib.mkDefault %t;\n", !kernelNames(f))
	if len(f.Nameservers) > 0 {
		w("  networking.nameservers = lib.mkDefault [")
		for _, ns := range f.Nameservers {
			if _, err := netip.ParseAddr(ns); err != nil {
				return nil, fmt.Errorf("networking.nix: nameserver %q: %w", ns, err)
			}
			w(" %s", nixString(ns))
		}
		w(" ];\n")
	}
	for _, family := range []string{IPv4, IPv6} {
		g := staticGateway(f, family)
		if g == nil {
			continue
		}
		if _, err := netip.ParseAddr(g.Address); err != nil || f.Interface(g.Interface) == nil {
			return nil, fmt.Errorf("networking.nix: default gateway %q on %q: not an address on an interface of the host", g.Address, g.Interface)
		}
		opt := "defaultGateway"
		if family == IPv6 {
			opt = "defaultGateway6"
		}
		w("  networking.%s = lib.mkDefault { address = %s; interface = %s; };\n", opt, nixString(g.Address), nixString(g.Interface))
	}

	for _, in := range f.Interfaces {
		block, err := interfaceBlock(f, in)
		if err != nil {
			return nil, err
		}
		if block != "" {
			w("\n  networking.interfaces.%s = {\n%s  };\n", nixAttr(in.Name), block)
		}
	}

	w("\n  # Interface names pinned by MAC address: NixOS's kernel and udev would not\n")
	w("  # always name the NICs as this host did. Rules in host.nix are added to these.\n")
	w("  services.udev.extraRules = ''\n")
	for _, in := range f.Interfaces {
		w("    SUBSYSTEM==\"net\", ACTION==\"add\", DRIVERS==\"?*\", ATTR{address}==\"%s\", ATTR{type}==\"1\", NAME=\"%s\"\n", in.MAC, in.Name)
	}
	w("  '';\n}\n")
	return b.Bytes(), nil
}

// pinsDHCP reports whether a static configuration pins addresses that
// came from DHCP or DHCPv6.
func pinsDHCP(f *Facts) bool {
	for _, in := range f.Interfaces {
		for _, family := range []string{IPv4, IPv6} {
			for _, a := range staticAddresses(in, family) {
				if a.Origin == OriginDHCP || a.Origin == OriginDHCPv6 {
					return true
				}
			}
		}
	}
	return false
}

var kernelNameRE = regexp.MustCompile(`^eth[0-9]+$`)

// kernelNames reports whether an interface has a kernel-style name (eth0):
// then NixOS must not rename the NICs to predictable names first, as
// nixos-infect decides for eth* names. The udev rules pin each name anyway.
func kernelNames(f *Facts) bool {
	return slices.ContainsFunc(f.Interfaces, func(in Interface) bool { return kernelNameRE.MatchString(in.Name) })
}

// interfaceBlock is the body of networking.interfaces.NAME: its pinned
// addresses, a host route to each gateway outside its subnets, and its
// other routes.
func interfaceBlock(f *Facts, in Interface) (string, error) {
	var b strings.Builder
	for _, family := range []string{IPv4, IPv6} {
		v := "ipv4"
		if family == IPv6 {
			v = "ipv6"
		}
		if family == IPv6 && slices.ContainsFunc(in.Addresses, func(a Address) bool { return a.Origin == OriginSLAAC }) {
			b.WriteString("    # IPv6 addresses from router advertisements (SLAAC) are left to the kernel.\n")
		}
		if addrs := staticAddresses(in, family); len(addrs) > 0 {
			fmt.Fprintf(&b, "    %s.addresses = lib.mkDefault [\n", v)
			for _, a := range addrs {
				ip, err := netip.ParseAddr(a.Address)
				if err != nil || a.PrefixLength < 0 || a.PrefixLength > ip.BitLen() {
					return "", fmt.Errorf("networking.nix: %s address %s/%d is not an address with a prefix length", in.Name, a.Address, a.PrefixLength)
				}
				comment := ""
				switch a.Origin {
				case OriginDHCP:
					comment = " # from DHCP"
				case OriginDHCPv6:
					comment = " # from DHCPv6"
				}
				fmt.Fprintf(&b, "      { address = %s; prefixLength = %d; }%s\n", nixString(ip.String()), a.PrefixLength, comment)
			}
			b.WriteString("    ];\n")
		}

		type route struct {
			dst     netip.Prefix
			via     string
			comment string
		}
		var routes []route
		addHost := func(gw string) {
			ip, err := netip.ParseAddr(gw)
			if err != nil || inSubnets(ip, &in) {
				return
			}
			dst := netip.PrefixFrom(ip, ip.BitLen())
			for _, r := range routes {
				if r.dst == dst && r.via == "" {
					return
				}
			}
			routes = append(routes, route{dst: dst, comment: " # the gateway, outside the subnets: on the link"})
		}
		if g := staticGateway(f, family); g != nil && g.Interface == in.Name {
			addHost(g.Address)
		}
		for _, r := range f.Routes {
			if r.Family == family && r.Interface == in.Name {
				addHost(r.Via)
			}
		}
		for _, r := range f.Routes {
			if r.Family != family || r.Interface != in.Name {
				continue
			}
			dst, err := netip.ParsePrefix(r.Destination)
			via, err2 := netip.ParseAddr(r.Via)
			if err != nil || err2 != nil {
				return "", fmt.Errorf("networking.nix: %s route %s via %s is not a prefix and an address", in.Name, r.Destination, r.Via)
			}
			routes = append(routes, route{dst: dst.Masked(), via: via.String()})
		}
		if len(routes) > 0 {
			fmt.Fprintf(&b, "    %s.routes = lib.mkDefault [\n", v)
			for _, r := range routes {
				via := ""
				if r.via != "" {
					via = " via = " + nixString(r.via) + ";"
				}
				fmt.Fprintf(&b, "      { address = %s; prefixLength = %d;%s }%s\n", nixString(r.dst.Addr().String()), r.dst.Bits(), via, r.comment)
			}
			b.WriteString("    ];\n")
		}
	}
	return b.String(), nil
}

var nixIdentRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_'-]*$`)

// nixAttr is an attribute name, quoted unless it is a plain identifier.
func nixAttr(s string) string {
	if nixIdentRE.MatchString(s) {
		return s
	}
	return nixString(s)
}

// nixString quotes s as a Nix double-quoted string: backslash, double
// quote and the "${" of an interpolation are escaped. The values written
// here are validated addresses and names; this keeps them inert anyway.
func nixString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "${", `\${`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}
