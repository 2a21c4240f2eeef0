package network

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The fixtures are CollectScript output as real hosts print it, with
// documentation addresses (RFC 5737, RFC 3849) where the provider does not
// need a particular one:
//   - digitalocean: Ubuntu 24.04 droplet, cloud-init's static netplan, eth0
//     with a public IPv4, the 10.x/16 anchor IP and a static IPv6 /64,
//     eth1 on the private network, systemd-resolved;
//   - hetznercloud: Debian 12, eth0 (the older images' name; newer ones
//     say enp1s0), cloud-init's ifupdown: IPv4 /32 from DHCP with the
//     on-link gateway 172.31.1.1, static IPv6 /64 via fe80::1,
//     /etc/hetzner-build;
//   - scaleway: Ubuntu 24.04, ens2, routed IPv4 (a /32 from DHCP, the
//     gateway outside it, from the lease's classless routes), IPv6 by SLAAC,
//     netplan with systemd-networkd, systemd-resolved;
//   - debian-dhcp: Debian 12, ifupdown "inet dhcp" with isc-dhcp-client;
//   - ubuntu-resolved: Ubuntu 22.04 from the installer, netplan dhcp4 with
//     systemd-networkd, SLAAC, systemd-resolved's 127.0.0.53 stub, and a
//     docker0 bridge.
var fixtureNames = []string{"digitalocean", "hetznercloud", "scaleway", "debian-dhcp", "ubuntu-resolved"}

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fixture(t testing.TB, name string) *Facts {
	t.Helper()
	f, err := Parse(readFixture(t, name))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return f
}

// addrs lists an interface's addresses as "ADDR/LEN origin".
func addrs(in Interface) []string {
	var out []string
	for _, a := range in.Addresses {
		out = append(out, fmt.Sprintf("%s/%d %s", a.Address, a.PrefixLength, a.Origin))
	}
	return out
}

func gateways(f *Facts) []string {
	var out []string
	for _, g := range f.Gateways {
		s := fmt.Sprintf("%s %s dev %s", g.Family, g.Address, g.Interface)
		if g.OnLink {
			s += " onlink"
		}
		out = append(out, s)
	}
	return out
}

func TestParseFixtures(t *testing.T) {
	type iface struct {
		name, mac, v4, v6 string
		addrs             []string
	}
	tests := []struct {
		fixture     string
		ifaces      []iface
		gateways    []string
		nameservers []string
		nsSource    string
		provider    string
		warnings    []string
	}{
		{
			fixture: "digitalocean",
			ifaces: []iface{
				{"eth0", "a2:3c:4d:5e:6f:01", "static", "static", []string{
					"203.0.113.7/24 static", "10.19.0.5/16 static", "2001:db8:d0:1::a1/64 static", "fe80::a03c:4dff:fe5e:6f01/64 link-local",
				}},
				{"eth1", "b6:1d:2e:3f:40:02", "static", "none", []string{"10.114.0.2/20 static", "fe80::b41d:2eff:fe3f:4002/64 link-local"}},
			},
			gateways:    []string{"inet 203.0.113.1 dev eth0", "inet6 2001:db8:d0:1::1 dev eth0"},
			nameservers: []string{"198.51.100.2", "198.51.100.3"},
			nsSource:    "/etc/resolv.conf, local resolver 127.0.0.53 replaced by the servers of systemd-resolved (/run/systemd/resolve/resolv.conf)",
			provider:    "digitalocean",
		},
		{
			fixture: "hetznercloud",
			ifaces: []iface{
				{"eth0", "96:00:02:aa:bb:cc", "dhcp", "static", []string{
					"203.0.113.10/32 dhcp", "2001:db8:1f0:4e2a::1/64 static", "fe80::9400:2ff:feaa:bbcc/64 link-local",
				}},
			},
			gateways:    []string{"inet 172.31.1.1 dev eth0 onlink", "inet6 fe80::1 dev eth0 onlink"},
			nameservers: []string{"192.0.2.53", "192.0.2.54", "2001:db8:1f0::53"},
			nsSource:    "/etc/resolv.conf",
			provider:    "hetznercloud",
		},
		{
			fixture: "scaleway",
			ifaces: []iface{
				{"ens2", "de:00:00:5a:6b:7c", "dhcp", "slaac", []string{
					"203.0.113.20/32 dhcp", "2001:db8:5c:1:dc00:ff:fe5a:6b7c/64 slaac", "fe80::dc00:ff:fe5a:6b7c/64 link-local",
				}},
			},
			gateways:    []string{"inet 198.51.100.1 dev ens2 onlink", "inet6 fe80::dc00:ff:fe00:1 dev ens2 onlink"},
			nameservers: []string{"198.51.100.53"},
			nsSource:    "/etc/resolv.conf, local resolver 127.0.0.53 replaced by the servers of systemd-resolved (/run/systemd/resolve/resolv.conf)",
			provider:    "scaleway",
		},
		{
			fixture: "debian-dhcp",
			ifaces: []iface{
				{"ens3", "52:54:00:12:34:56", "dhcp", "none", []string{"192.0.2.45/24 dhcp", "fe80::5054:ff:fe12:3456/64 link-local"}},
			},
			gateways:    []string{"inet 192.0.2.1 dev ens3"},
			nameservers: []string{"192.0.2.1"},
			nsSource:    "/etc/resolv.conf",
		},
		{
			fixture: "ubuntu-resolved",
			ifaces: []iface{
				{"enp1s0", "52:54:00:ab:cd:ef", "dhcp", "slaac", []string{
					"198.51.100.23/24 dhcp", "2001:db8:77:1:5054:ff:feab:cdef/64 slaac", "fe80::5054:ff:feab:cdef/64 link-local",
				}},
			},
			gateways:    []string{"inet 198.51.100.1 dev enp1s0", "inet6 fe80::1 dev enp1s0 onlink"},
			nameservers: []string{"192.0.2.53", "2001:db8:77::53"},
			nsSource:    "/etc/resolv.conf, local resolver 127.0.0.53 replaced by the servers of systemd-resolved (/run/systemd/resolve/resolv.conf)",
			warnings:    []string{"docker0 (bridge interface) has addresses but is left out: only physical Ethernet interfaces are configured"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			f := fixture(t, tt.fixture)
			var got []iface
			for _, in := range f.Interfaces {
				got = append(got, iface{in.Name, in.MAC, in.IPv4Config, in.IPv6Config, addrs(in)})
			}
			if !reflect.DeepEqual(got, tt.ifaces) {
				t.Errorf("interfaces:\ngot  %+v\nwant %+v", got, tt.ifaces)
			}
			if g := gateways(f); !reflect.DeepEqual(g, tt.gateways) {
				t.Errorf("gateways: got %q, want %q", g, tt.gateways)
			}
			if !reflect.DeepEqual(f.Nameservers, tt.nameservers) {
				t.Errorf("nameservers: got %q, want %q", f.Nameservers, tt.nameservers)
			}
			if f.NameserverSource != tt.nsSource {
				t.Errorf("nameserver source: got %q, want %q", f.NameserverSource, tt.nsSource)
			}
			if f.Provider != tt.provider {
				t.Errorf("provider: got %q, want %q", f.Provider, tt.provider)
			}
			if !reflect.DeepEqual(f.Warnings, tt.warnings) {
				t.Errorf("warnings: got %q, want %q", f.Warnings, tt.warnings)
			}
			if len(f.Routes) != 0 {
				t.Errorf("routes: got %+v, want none", f.Routes)
			}
		})
	}
}

// TestParseEvidence checks that each interface names the configuration
// and leases that describe it.
func TestParseEvidence(t *testing.T) {
	tests := []struct {
		fixture, iface string
		want           []string
	}{
		{"hetznercloud", "eth0", []string{
			"ifupdown /etc/network/interfaces.d/50-cloud-init: dhcp4",
			"ifupdown /etc/network/interfaces.d/50-cloud-init: static 2001:db8:1f0:4e2a::1/64",
			"lease /var/lib/dhcp/dhclient.eth0.leases",
		}},
		{"debian-dhcp", "ens3", []string{"ifupdown /etc/network/interfaces: dhcp4", "lease /var/lib/dhcp/dhclient.ens3.leases"}},
		{"scaleway", "ens2", []string{
			"netplan /etc/netplan/50-cloud-init.yaml: dhcp4, dhcp6",
			"networkd /run/systemd/network/10-netplan-ens2.network: dhcp4, dhcp6",
			"lease /run/systemd/netif/leases/2",
		}},
		{"digitalocean", "eth1", []string{
			"netplan /etc/netplan/50-cloud-init.yaml: static 10.114.0.2/20",
			"networkd /run/systemd/network/10-netplan-eth1.network: static 10.114.0.2/20",
		}},
	}
	for _, tt := range tests {
		in := fixture(t, tt.fixture).Interface(tt.iface)
		if in == nil {
			t.Fatalf("%s: no interface %s", tt.fixture, tt.iface)
		}
		if !reflect.DeepEqual(in.Evidence, tt.want) {
			t.Errorf("%s %s evidence:\ngot  %q\nwant %q", tt.fixture, tt.iface, in.Evidence, tt.want)
		}
	}
}

// TestFactsJSON: Facts go into state.json and must come back equal.
func TestFactsJSON(t *testing.T) {
	for _, name := range fixtureNames {
		f := fixture(t, name)
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		var back Facts
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&back, f) {
			t.Errorf("%s: got %+v after a JSON round trip, want %+v", name, back, *f)
		}
		for _, key := range []string{`"interfaces":`, `"prefix_length":`, `"ipv4_config":`, `"origin":`} {
			if !strings.Contains(string(b), key) {
				t.Errorf("%s: JSON %s has no %s", name, b, key)
			}
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, out, want string }{
		{"empty", "", "no output from `ip -j addr` on the host (iproute2 4.13 or newer is needed)"},
		{"no ip", "\n==> ip -j addr\n\n==> ip -j route\n[]\n==> end\n", "no output from `ip -j addr` on the host (iproute2 4.13 or newer is needed)"},
		{"bad addr", "==> ip -j addr\n1: lo: <LOOPBACK,UP>\n", "read `ip -j addr` output: invalid character ':' after top-level value"},
		{"bad route", "==> ip -j addr\n[]\n==> ip -j route\n{\n", "read `ip -j route` (inet) output: unexpected end of JSON input"},
		{"bad link", "==> ip -j addr\n[]\n==> ip -j -d link\nnope\n", "read `ip -j -d link` output: invalid character 'o' in literal null (expecting 'u')"},
	}
	for _, tt := range tests {
		f, err := Parse(tt.out)
		if err == nil {
			t.Errorf("%s: got %+v, want error %q", tt.name, f, tt.want)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%s: got error %q, want %q", tt.name, err, tt.want)
		}
	}
}

func TestParseNoInterfaces(t *testing.T) {
	f, err := Parse("==> ip -j addr\n[]\n==> end\n")
	if err != nil {
		t.Fatal(err)
	}
	if f.Interfaces == nil || len(f.Interfaces) != 0 {
		t.Errorf("got interfaces %#v, want an empty list", f.Interfaces)
	}
	if want := []string{"no nameserver found"}; !reflect.DeepEqual(f.Warnings, want) {
		t.Errorf("got warnings %q, want %q", f.Warnings, want)
	}
}

func TestSplitSections(t *testing.T) {
	out := "noise before\n\n==> ip -j addr\n[]\n\n==> file /etc/resolv.conf\nnameserver 192.0.2.1\n==> file relative\nx\n==> hex /var/lib/dhcpcd/eth0.lease\n 02 01\n==> exists /etc/hetzner-build\n\n==> readlink /etc/resolv.conf\n../run/x\n==> end\n==> file /after/end\n"
	got := splitSections(out)
	want := []section{
		{"cmd", "ip -j addr", "[]"},
		{"file", "/etc/resolv.conf", "nameserver 192.0.2.1"},
		{"cmd", "file relative", "x"},
		{"hex", "/var/lib/dhcpcd/eth0.lease", " 02 01"},
		{"exists", "/etc/hetzner-build", ""},
		{"cmd", "readlink /etc/resolv.conf", "../run/x"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// host builds CollectScript output for one interface eth0 with the given
// addr_info entries, plus more sections.
func host(addrInfo string, more ...string) string {
	s := `==> ip -j addr
[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP"],"link_type":"loopback","address":"00:00:00:00:00:00","addr_info":[]},` +
		`{"ifindex":2,"ifname":"eth0","flags":["BROADCAST","UP"],"link_type":"ether","address":"52:54:00:00:00:01","addr_info":[` + addrInfo + `]}]
`
	for _, m := range more {
		s += "\n" + m + "\n"
	}
	return s + "==> end\n"
}

func TestOrigins(t *testing.T) {
	const dyn4 = `{"family":"inet","local":"192.0.2.9","prefixlen":24,"scope":"global","dynamic":true}`
	const perm4 = `{"family":"inet","local":"192.0.2.9","prefixlen":24,"scope":"global"}`
	tests := []struct {
		name       string
		out        string
		origin     string
		evidence   string
		ipv4, ipv6 string
	}{
		{"v4 dynamic, no lease", host(dyn4), OriginDHCP, "ip: dynamic", "dhcp", "none"},
		{"v4 permanent, no config", host(perm4), OriginStatic, "ip: no lifetime", "static", "none"},
		{"v4 permanent, dhclient lease", host(perm4, "==> file /var/lib/dhcp/dhclient.eth0.leases\nlease {\n  interface \"eth0\";\n  fixed-address 192.0.2.9;\n}"),
			OriginDHCP, "lease /var/lib/dhcp/dhclient.eth0.leases", "dhcp", "none"},
		{"v4 permanent, ifupdown dhcp", host(perm4, "==> file /etc/network/interfaces\niface eth0 inet dhcp"),
			OriginDHCP, "ifupdown /etc/network/interfaces: dhcp4", "dhcp", "none"},
		{"v4 dynamic but configured static", host(dyn4, "==> file /etc/network/interfaces\niface eth0 inet static\n  address 192.0.2.9\n  netmask 255.255.255.0"),
			OriginStatic, "ifupdown /etc/network/interfaces", "static", "none"},
		{"v4 networkd lease by ifindex", host(perm4, "==> file /run/systemd/netif/leases/2\nADDRESS=192.0.2.9\nDNS=192.0.2.53"),
			OriginDHCP, "lease /run/systemd/netif/leases/2", "dhcp", "none"},
		{"v4 lease of another interface", host(perm4, "==> file /run/systemd/netif/leases/3\nADDRESS=192.0.2.9"),
			OriginStatic, "ip: no lifetime", "static", "none"},
		{"v6 kernel_ra", host(`{"family":"inet6","local":"2001:db8::5054:ff:fe00:1","prefixlen":64,"scope":"global","dynamic":true,"protocol":"kernel_ra"}`),
			OriginSLAAC, "ip: kernel_ra", "none", "slaac"},
		{"v6 mngtmpaddr", host(`{"family":"inet6","local":"2001:db8::5054:ff:fe00:1","prefixlen":64,"scope":"global","dynamic":true,"mngtmpaddr":true}`),
			OriginSLAAC, "ip: mngtmpaddr", "none", "slaac"},
		{"v6 temporary", host(`{"family":"inet6","local":"2001:db8::1234:5678:9abc:def0","prefixlen":64,"scope":"global","dynamic":true,"temporary":true}`),
			OriginTemporary, "ip: temporary (privacy) address", "none", "none"},
		{"v6 dynamic /128", host(`{"family":"inet6","local":"2001:db8::15","prefixlen":128,"scope":"global","dynamic":true}`),
			OriginDHCPv6, "ip: dynamic /128", "none", "dhcpv6"},
		{"v6 dhclient6 lease", host(`{"family":"inet6","local":"2001:db8::15","prefixlen":128,"scope":"global","dynamic":true}`,
			"==> file /var/lib/dhcp/dhclient6.eth0.leases\nlease6 {\n  interface \"eth0\";\n  ia-na 1e:2f:3a:4b {\n    iaaddr 2001:db8::15 {\n      max-life 7200;\n    }\n  }\n  option dhcp6.name-servers 2001:db8::53;\n}"),
			OriginDHCPv6, "lease /var/lib/dhcp/dhclient6.eth0.leases", "none", "dhcpv6"},
		{"v6 permanent, inet6 auto", host(`{"family":"inet6","local":"2001:db8::5054:ff:fe00:1","prefixlen":64,"scope":"global"}`, "==> file /etc/network/interfaces\niface eth0 inet6 auto"),
			OriginSLAAC, "ifupdown /etc/network/interfaces: router advertisements", "none", "slaac"},
		{"v6 permanent", host(`{"family":"inet6","local":"2001:db8::7","prefixlen":64,"scope":"global"}`),
			OriginStatic, "ip: no lifetime", "none", "static"},
		{"v4 link-local", host(`{"family":"inet","local":"169.254.3.4","prefixlen":16,"scope":"link"}`),
			OriginLinkLocal, "link-local address", "none", "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.out)
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Interfaces) != 1 || len(f.Interfaces[0].Addresses) != 1 {
				t.Fatalf("got interfaces %+v, want eth0 with one address", f.Interfaces)
			}
			in := f.Interfaces[0]
			a := in.Addresses[0]
			if a.Origin != tt.origin || a.Evidence != tt.evidence {
				t.Errorf("got origin %q (%q), want %q (%q)", a.Origin, a.Evidence, tt.origin, tt.evidence)
			}
			if in.IPv4Config != tt.ipv4 || in.IPv6Config != tt.ipv6 {
				t.Errorf("got config %s/%s, want %s/%s", in.IPv4Config, in.IPv6Config, tt.ipv4, tt.ipv6)
			}
		})
	}
}

func TestInterfacesLeftOut(t *testing.T) {
	out := `==> ip -j addr
[{"ifindex":2,"ifname":"eth0","flags":["UP"],"link_type":"ether","address":"52:54:00:00:00:01","master":"br0","addr_info":[]},` +
		`{"ifindex":3,"ifname":"br0","flags":["UP"],"link_type":"ether","address":"52:54:00:00:00:01","addr_info":[{"family":"inet","local":"192.0.2.9","prefixlen":24,"scope":"global"}]},` +
		`{"ifindex":4,"ifname":"wg0","flags":["UP"],"link_type":"none","addr_info":[{"family":"inet","local":"10.8.0.1","prefixlen":24,"scope":"global"}]},` +
		`{"ifindex":5,"ifname":"veth1","flags":["UP"],"link_type":"ether","address":"aa:bb:cc:dd:ee:ff","addr_info":[]}]
==> ip -j -d link
[{"ifname":"br0","linkinfo":{"info_kind":"bridge"}},{"ifname":"wg0","linkinfo":{"info_kind":"wireguard"}},{"ifname":"veth1","linkinfo":{"info_kind":"veth"}}]
==> end
`
	f, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Interfaces) != 0 {
		t.Errorf("got interfaces %+v, want none", f.Interfaces)
	}
	want := []string{
		"br0 (bridge interface) has addresses but is left out: only physical Ethernet interfaces are configured",
		"wg0 (wireguard interface) has addresses but is left out: only physical Ethernet interfaces are configured",
		"no nameserver found",
	}
	if !reflect.DeepEqual(f.Warnings, want) {
		t.Errorf("got warnings %q, want %q", f.Warnings, want)
	}
}

func TestRoutes(t *testing.T) {
	out := host(`{"family":"inet","local":"10.0.0.2","prefixlen":32,"scope":"global","dynamic":true},{"family":"inet","local":"192.0.2.9","prefixlen":24,"scope":"global"}`,
		`==> ip -j route
[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","protocol":"static","metric":200,"flags":[]},`+
			`{"dst":"default","gateway":"192.0.2.254","dev":"eth0","protocol":"static","metric":100,"flags":["onlink"]},`+
			`{"dst":"10.0.0.0/16","gateway":"10.0.0.1","dev":"eth0","protocol":"dhcp","metric":100,"flags":[]},`+
			`{"dst":"10.0.0.1","dev":"eth0","protocol":"dhcp","scope":"link","flags":[]},`+
			`{"dst":"198.51.100.0/24","gateway":"192.0.2.3","dev":"eth0","flags":[]},`+
			`{"dst":"203.0.113.0/24","gateway":"192.0.2.4","dev":"docker0","flags":[]},`+
			`{"type":"blackhole","dst":"198.51.100.128/25","flags":[]}]`)
	f, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	wantGW := []string{"inet 192.0.2.254 dev eth0 onlink"}
	if g := gateways(f); !reflect.DeepEqual(g, wantGW) {
		t.Errorf("gateways: got %q, want %q", g, wantGW)
	}
	wantRoutes := []Route{
		{Family: IPv4, Destination: "10.0.0.0/16", Via: "10.0.0.1", Interface: "eth0", Protocol: "dhcp"},
		{Family: IPv4, Destination: "198.51.100.0/24", Via: "192.0.2.3", Interface: "eth0"},
	}
	if !reflect.DeepEqual(f.Routes, wantRoutes) {
		t.Errorf("routes: got %+v, want %+v", f.Routes, wantRoutes)
	}
	wantWarn := "several inet default routes: 192.0.2.254 dev eth0 is kept, not 192.0.2.1 dev eth0"
	if !slices.Contains(f.Warnings, wantWarn) {
		t.Errorf("warnings %q lack %q", f.Warnings, wantWarn)
	}
}

func TestInSubnets(t *testing.T) {
	in := &Interface{Addresses: []Address{
		{Address: "203.0.113.10", PrefixLength: 32, Family: IPv4, Scope: "global"},
		{Address: "192.0.2.9", PrefixLength: 24, Family: IPv4, Scope: "global"},
		{Address: "2001:db8::7", PrefixLength: 64, Family: IPv6, Scope: "global"},
		{Address: "fe80::1:2", PrefixLength: 64, Family: IPv6, Scope: "link"},
	}}
	tests := []struct {
		ip   string
		want bool
	}{
		{"192.0.2.1", true},
		{"192.0.3.1", false},
		{"203.0.113.10", false}, // a /32 has no neighbours
		{"203.0.113.1", false},
		{"2001:db8::1", true},
		{"2001:db8:1::1", false},
		{"fe80::1", false}, // link-local: always named with its interface
	}
	for _, tt := range tests {
		if got := inSubnets(netip.MustParseAddr(tt.ip), in); got != tt.want {
			t.Errorf("inSubnets(%s): got %v, want %v", tt.ip, got, tt.want)
		}
	}
}

func TestNameservers(t *testing.T) {
	const stub = "==> file /etc/resolv.conf\nnameserver 127.0.0.53\noptions edns0\nsearch example.internal"
	tests := []struct {
		name    string
		more    []string
		want    []string
		source  string
		warning string
	}{
		{"plain", []string{"==> file /etc/resolv.conf\nnameserver 192.0.2.53\nnameserver 192.0.2.53\nnameserver 2001:db8::53"},
			[]string{"192.0.2.53", "2001:db8::53"}, "/etc/resolv.conf", ""},
		{"stub in the middle", []string{"==> file /etc/resolv.conf\nnameserver 192.0.2.1\nnameserver 127.0.0.1\nnameserver ::1", "==> file /run/systemd/resolve/resolv.conf\nnameserver 192.0.2.53\nnameserver 192.0.2.1"},
			[]string{"192.0.2.1", "192.0.2.53"}, "/etc/resolv.conf, local resolver 127.0.0.1 replaced by the servers of systemd-resolved (/run/systemd/resolve/resolv.conf)", ""},
		{"stub, resolvectl", []string{stub, "==> resolvectl dns\nGlobal: 192.0.2.5#dns.example\nLink 2 (eth0): 192.0.2.53 2001:db8::53%eth0 fe80::1"},
			[]string{"192.0.2.5", "192.0.2.53", "2001:db8::53", "fe80::1"}, "/etc/resolv.conf, local resolver 127.0.0.53 replaced by the servers of systemd-resolved (resolvectl dns)", ""},
		{"stub, lease and config", []string{stub, "==> file /run/systemd/netif/leases/2\nADDRESS=192.0.2.9\nDNS=192.0.2.53 192.0.2.54", "==> file /etc/network/interfaces\niface lo inet loopback\n  dns-nameservers 192.0.2.60"},
			[]string{"192.0.2.53", "192.0.2.54", "192.0.2.60"}, "/etc/resolv.conf, local resolver 127.0.0.53 replaced by the servers of lease /run/systemd/netif/leases/2, ifupdown /etc/network/interfaces", ""},
		{"stub alone", []string{stub}, nil, "", "/etc/resolv.conf names the local resolver 127.0.0.53 and its upstream servers are unknown"},
		{"no resolv.conf", []string{"==> file /run/systemd/netif/leases/2\nADDRESS=192.0.2.9\nDNS=192.0.2.53"},
			[]string{"192.0.2.53"}, "lease /run/systemd/netif/leases/2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(host(`{"family":"inet","local":"192.0.2.9","prefixlen":24,"scope":"global"}`, tt.more...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Nameservers, tt.want) {
				t.Errorf("got %q, want %q", f.Nameservers, tt.want)
			}
			if f.NameserverSource != tt.source {
				t.Errorf("got source %q, want %q", f.NameserverSource, tt.source)
			}
			if tt.warning != "" && !slices.Contains(f.Warnings, tt.warning) {
				t.Errorf("got warnings %q, want %q among them", f.Warnings, tt.warning)
			}
		})
	}
}

func TestProvider(t *testing.T) {
	tests := []struct {
		more             []string
		provider, reason string
	}{
		{[]string{"==> exists /etc/hetzner-build", "==> file /sys/class/dmi/id/sys_vendor\nQEMU"}, "hetznercloud", "/etc/hetzner-build exists"},
		{[]string{"==> file /var/lib/cloud/instance/datasource\nDataSourceDigitalOcean: DataSourceDigitalOcean"}, "digitalocean", `cloud-init datasource "DataSourceDigitalOcean"`},
		{[]string{"==> file /sys/class/dmi/id/sys_vendor\nHetzner"}, "hetznercloud", `system vendor "Hetzner"`},
		{[]string{"==> file /sys/class/dmi/id/sys_vendor\nQEMU"}, "", ""},
		{nil, "", ""},
	}
	for _, tt := range tests {
		f, err := Parse(host("", tt.more...))
		if err != nil {
			t.Fatal(err)
		}
		if f.Provider != tt.provider || f.ProviderEvidence != tt.reason {
			t.Errorf("%q: got %q (%q), want %q (%q)", tt.more, f.Provider, f.ProviderEvidence, tt.provider, tt.reason)
		}
	}
}

func TestNeedsStatic(t *testing.T) {
	for _, p := range []string{"digitalocean", "servarica", "hetznercloud", "webdock", "layer7", "hostinger"} {
		if !NeedsStatic(p) {
			t.Errorf("NeedsStatic(%q): got false, want true", p)
		}
	}
	for _, p := range []string{"", "scaleway", "lightsail", "vultr", "Hetznercloud"} {
		if NeedsStatic(p) {
			t.Errorf("NeedsStatic(%q): got true, want false", p)
		}
	}
}
