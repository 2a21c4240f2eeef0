// Package network reads how a Debian or Ubuntu host's network is configured
// before nixos-infect, decides whether NixOS's default DHCP will bring it
// back after the reboot, and otherwise writes a static networking.nix that
// does.
//
// nixos-infect writes a static networking.nix for the providers that need one
// only when it also writes configuration.nix; bootstrap always writes
// configuration.nix, so this package does that part instead.
//
// The package is pure logic. The caller runs CollectScript on the host and
// hands its output to Parse; the Facts are JSON for state.json. Decide picks
// dhcp or static for --network auto|dhcp|static, and NetworkingNix renders
// the file, to be written as /etc/nixos/networking.nix (FileName) and
// imported by configuration.nix.
package network

// FileName is the name of the generated file in /etc/nixos.
const FileName = "networking.nix"

// Modes of Decide: the values of --network.
const (
	ModeAuto   = "auto"
	ModeDHCP   = "dhcp"
	ModeStatic = "static"
)

// Address families, as ip -j names them.
const (
	IPv4 = "inet"
	IPv6 = "inet6"
)

// Origins: how an address came to be on its interface.
const (
	OriginDHCP      = "dhcp"       // IPv4 from a DHCP server
	OriginDHCPv6    = "dhcpv6"     // IPv6 from a DHCPv6 server
	OriginSLAAC     = "slaac"      // IPv6 from router advertisements
	OriginStatic    = "static"     // configured by hand or by cloud-init from metadata
	OriginLinkLocal = "link-local" // fe80::/10 or 169.254.0.0/16: made by the kernel, never configured
	OriginTemporary = "temporary"  // IPv6 privacy address: made by the kernel, never configured
)

// Facts are what Parse learns from CollectScript's output: the host's live
// addresses, routes and resolvers, and how each address was configured.
type Facts struct {
	// Interfaces are the physical Ethernet interfaces, in ifindex order.
	// Loopback, virtual and enslaved interfaces are left out (see Warnings).
	Interfaces []Interface `json:"interfaces"`
	// Gateways are the default routes of the main table, the preferred
	// (lowest metric) of each family first.
	Gateways []Gateway `json:"gateways,omitempty"`
	// Routes are the other routes through a gateway (static or from DHCP)
	// on the interfaces above; routes the kernel derives from an address
	// or a router advertisement are left out.
	Routes []Route `json:"routes,omitempty"`
	// Nameservers are the resolvers the host really uses, loopback stubs
	// (systemd-resolved's 127.0.0.53, a local dnsmasq) replaced by the
	// upstream servers they forward to; no duplicates.
	Nameservers []string `json:"nameservers,omitempty"`
	// NameserverSource says where Nameservers were read.
	NameserverSource string `json:"nameserver_source,omitempty"`
	// Search is resolv.conf's search list.
	Search []string `json:"search,omitempty"`
	// Provider is the nixos-infect PROVIDER name found on the host
	// ("hetznercloud", "digitalocean"), or another provider's name in lower
	// case ("scaleway"), or "".
	Provider string `json:"provider,omitempty"`
	// ProviderEvidence says what named the provider.
	ProviderEvidence string `json:"provider_evidence,omitempty"`
	// Warnings are facts that may matter to the operator: interfaces left
	// out, a stub resolver without a known upstream, several gateways.
	Warnings []string `json:"warnings,omitempty"`
}

// Interface is one physical network interface.
type Interface struct {
	Name  string `json:"name"`
	Index int    `json:"index"`
	MAC   string `json:"mac"`
	Up    bool   `json:"up"`
	// Addresses are all addresses, link-local ones included (Origin says
	// which are configured).
	Addresses []Address `json:"addresses,omitempty"`
	// IPv4Config and IPv6Config sum up the origins of the interface's
	// configurable addresses of each family: "dhcp", "static", "slaac",
	// "dhcpv6", several joined by "+", or "none".
	IPv4Config string `json:"ipv4_config"`
	IPv6Config string `json:"ipv6_config"`
	// Evidence names the configuration that mentions the interface, e.g.
	// "netplan /etc/netplan/50-cloud-init.yaml: dhcp4" or "lease
	// /run/systemd/netif/leases/2".
	Evidence []string `json:"evidence,omitempty"`
}

// Address is one address of an interface.
type Address struct {
	Address      string `json:"address"`
	PrefixLength int    `json:"prefix_length"`
	Family       string `json:"family"` // IPv4 or IPv6
	Scope        string `json:"scope"`  // "global", "link", "host", ...
	// Dynamic: the kernel expires the address (ip -j addr's "dynamic"), as
	// DHCP clients and SLAAC set it up.
	Dynamic bool `json:"dynamic,omitempty"`
	// Origin is one of the Origin constants.
	Origin string `json:"origin"`
	// Evidence says why Origin was chosen.
	Evidence string `json:"evidence"`
}

// Configurable reports whether the address belongs in a static
// configuration: link-local and temporary addresses are the kernel's own.
func (a Address) Configurable() bool {
	return a.Origin != OriginLinkLocal && a.Origin != OriginTemporary && a.Scope != "host"
}

// Gateway is a default route.
type Gateway struct {
	Family    string `json:"family"`
	Address   string `json:"address"`
	Interface string `json:"interface"`
	Metric    int    `json:"metric,omitempty"`
	// Protocol is the route's origin as ip names it ("static", "dhcp",
	// "ra", "kernel"); "" for the routes ifupdown and dhclient add.
	Protocol string `json:"protocol,omitempty"`
	// OnLink: the gateway is in none of the interface's subnets (Hetzner's
	// 172.31.1.1 for a /32, or a link-local IPv6 gateway), or the route is
	// flagged onlink; the static configuration then adds a host route
	// (/32 or /128) to the gateway on the interface.
	OnLink bool `json:"on_link,omitempty"`
}

// Route is a non-default route through a gateway.
type Route struct {
	Family      string `json:"family"`
	Destination string `json:"destination"` // prefix, e.g. "10.0.0.0/16"
	Via         string `json:"via,omitempty"`
	Interface   string `json:"interface"`
	Protocol    string `json:"protocol,omitempty"`
}

// Interface returns the interface named name, or nil.
func (f *Facts) Interface(name string) *Interface {
	for i := range f.Interfaces {
		if f.Interfaces[i].Name == name {
			return &f.Interfaces[i]
		}
	}
	return nil
}

// Gateway returns the preferred default gateway of a family, or nil.
func (f *Facts) Gateway(family string) *Gateway {
	for i := range f.Gateways {
		if f.Gateways[i].Family == family {
			return &f.Gateways[i]
		}
	}
	return nil
}

// Error is a choice Decide or NetworkingNix cannot make; nothing was
// generated. Hint says what to do about it.
type Error struct {
	Reason string
	Fix    string
}

func (e *Error) Error() string { return e.Reason }

// Hint is one line telling the operator what to do.
func (e *Error) Hint() string { return e.Fix }
