package network

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Decision is how the host's network is configured after the reboot.
type Decision struct {
	Mode string `json:"mode"` // ModeAuto, ModeDHCP or ModeStatic: what was asked
	// Static: generate networking.nix (NetworkingNix) and import it; false
	// leaves the network to NixOS's default DHCP.
	Static bool `json:"static"`
	// Reason is one line saying why.
	Reason string `json:"reason"`
	// Summary is what the plan and the progress line show, e.g.
	// "static (eth0 203.0.113.7/24 via 203.0.113.1, 2001:db8::7/64 via fe80::1)"
	// or "dhcp (eth0: DHCP lease)".
	Summary string `json:"summary"`
}

// Decide chooses between NixOS's default DHCP and a static configuration.
// mode is ModeAuto (or ""), ModeDHCP or ModeStatic. provider is the
// nixos-infect PROVIDER name when known; "" falls back to f.Provider (which
// holds "hetznercloud" where /etc/hetzner-build exists, as nixos-infect's
// autodetectProvider decides).
//
// Auto chooses static when any address was not configured by DHCP (IPv4)
// or by router advertisements or DHCPv6 (IPv6), or when the provider is
// one nixos-infect writes a static configuration for (NeedsStatic).
// Static with nothing to configure is an *Error.
func Decide(f *Facts, mode, provider string) (Decision, error) {
	if mode == "" {
		mode = ModeAuto
	}
	if mode != ModeAuto && mode != ModeDHCP && mode != ModeStatic {
		return Decision{}, &Error{
			Reason: fmt.Sprintf("invalid --network %q", mode),
			Fix:    "use --network auto, dhcp or static",
		}
	}
	if f == nil {
		f = &Facts{}
	}
	if provider == "" {
		provider = f.Provider
	}
	d := Decision{Mode: mode}
	first, firstEvidence, nStatic := firstStatic(f)
	usable := hasStaticConfig(f)

	switch mode {
	case ModeDHCP:
		d.Reason = "--network dhcp: NixOS's default DHCP"
		if nStatic > 0 {
			d.Reason += fmt.Sprintf("; %s (%s) is not from DHCP and may not come back", first, firstEvidence)
		}
	case ModeStatic:
		if !usable {
			return Decision{}, noAddress(f, "--network static")
		}
		d.Static = true
		d.Reason = "--network static"
	default:
		switch {
		case nStatic > 0 && usable:
			d.Static = true
			d.Reason = first + " is not from DHCP or SLAAC"
			if nStatic > 1 {
				d.Reason = fmt.Sprintf("%s and %d more are not from DHCP or SLAAC", first, nStatic-1)
			}
			d.Reason += " (" + firstEvidence + ")"
		case NeedsStatic(provider) && usable:
			d.Static = true
			d.Reason = fmt.Sprintf("provider %s needs a static configuration (nixos-infect writes one for it)", provider)
			if provider == f.Provider && f.ProviderEvidence != "" {
				d.Reason += ": " + f.ProviderEvidence
			}
		case NeedsStatic(provider):
			d.Reason = fmt.Sprintf("provider %s needs a static configuration, but the host has no address to pin: NixOS's default DHCP", provider)
		default:
			d.Reason = "every address is from DHCP or SLAAC: NixOS's default DHCP brings them back"
		}
	}
	if d.Static {
		d.Summary = "static (" + staticSummary(f) + ")"
	} else {
		d.Summary = "dhcp (" + dhcpSummary(f) + ")"
	}
	return d, nil
}

// noAddress is the error of a static configuration with nothing in it.
func noAddress(f *Facts, what string) *Error {
	if len(f.Interfaces) == 0 {
		return &Error{
			Reason: what + ": the host has no physical Ethernet interface to configure",
			Fix:    "use --network dhcp, or configure the network in host.nix",
		}
	}
	return &Error{
		Reason: what + ": no address to configure (only link-local or SLAAC addresses on " + names(f) + ")",
		Fix:    "use --network dhcp, or configure the network in host.nix",
	}
}

func names(f *Facts) string {
	var n []string
	for _, in := range f.Interfaces {
		n = append(n, in.Name)
	}
	return strings.Join(n, ", ")
}

// firstStatic names the first static address ("eth0 203.0.113.7/20") and
// its evidence, and counts the static addresses.
func firstStatic(f *Facts) (first, evidence string, n int) {
	for _, in := range f.Interfaces {
		for _, a := range in.Addresses {
			if a.Configurable() && a.Origin == OriginStatic {
				if n == 0 {
					first, evidence = fmt.Sprintf("%s %s/%d", in.Name, a.Address, a.PrefixLength), a.Evidence
				}
				n++
			}
		}
	}
	return first, evidence, n
}

// staticAddresses are the addresses a static configuration pins: all
// configurable ones but SLAAC's, which the kernel configures again from
// router advertisements (NixOS leaves accept_ra on when no DHCP client
// runs). DHCP and DHCPv6 addresses are pinned as they are now.
func staticAddresses(in Interface, family string) []Address {
	var out []Address
	for _, a := range in.Addresses {
		if a.Family == family && a.Configurable() && a.Origin != OriginSLAAC {
			out = append(out, a)
		}
	}
	return out
}

func hasStaticConfig(f *Facts) bool {
	for _, in := range f.Interfaces {
		if len(staticAddresses(in, IPv4)) > 0 || len(staticAddresses(in, IPv6)) > 0 {
			return true
		}
	}
	return false
}

// staticGateway returns the default gateway of a family a static
// configuration sets, or nil: one learned from router advertisements is
// learned again.
func staticGateway(f *Facts, family string) *Gateway {
	g := f.Gateway(family)
	if g == nil || g.Protocol == "ra" {
		return nil
	}
	return g
}

// staticSummary lists each interface's pinned addresses, the first of each
// family on the gateway's interface followed by "via GATEWAY".
func staticSummary(f *Facts) string {
	var parts []string
	for _, in := range f.Interfaces {
		var items []string
		for _, family := range []string{IPv4, IPv6} {
			g := staticGateway(f, family)
			for i, a := range staticAddresses(in, family) {
				s := fmt.Sprintf("%s/%d", a.Address, a.PrefixLength)
				if i == 0 && g != nil && g.Interface == in.Name {
					s += " via " + g.Address
				}
				items = append(items, s)
			}
		}
		if len(items) > 0 {
			parts = append(parts, in.Name+" "+strings.Join(items, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// dhcpSummary says per interface where its addresses come from.
func dhcpSummary(f *Facts) string {
	var parts []string
	for _, in := range f.Interfaces {
		var kinds []string
		add := func(k string) {
			if !slices.Contains(kinds, k) {
				kinds = append(kinds, k)
			}
		}
		for _, a := range in.Addresses {
			if !a.Configurable() {
				continue
			}
			switch a.Origin {
			case OriginDHCP:
				if strings.HasPrefix(a.Evidence, "lease ") {
					add("DHCP lease")
				} else {
					add("DHCP")
				}
			case OriginDHCPv6:
				add("DHCPv6")
			case OriginSLAAC:
				add("SLAAC")
			case OriginStatic:
				ip, _ := netip.ParseAddr(a.Address)
				add("static " + netip.PrefixFrom(ip, a.PrefixLength).String())
			}
		}
		if len(kinds) > 0 {
			parts = append(parts, in.Name+": "+strings.Join(kinds, ", "))
		}
	}
	if len(parts) == 0 {
		return "no address yet"
	}
	return strings.Join(parts, "; ")
}
