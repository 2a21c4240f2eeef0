package network

import (
	"net/netip"
	"reflect"
	"testing"
)

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

func TestIfupdownClaims(t *testing.T) {
	body := `# comment
auto lo
iface lo inet loopback
    dns-nameservers 192.0.2.53 192.0.2.54

allow-hotplug eth0
iface eth0 inet static
    address 203.0.113.7
    netmask 255.255.255.0
    gateway 203.0.113.1
iface eth0 inet6 static
    address 2001:db8::7
    netmask 64
iface eth1 inet dhcp
iface eth1 inet6 auto
iface eth2 inet6 dhcp
iface eth3 inet static
    address 198.51.100.9/25
`
	got := ifupdownClaims("ifupdown x", body)
	want := []claim{
		{source: "ifupdown x", name: "lo", dns: ips("192.0.2.53", "192.0.2.54")},
		{source: "ifupdown x", name: "eth0", static: prefixes("203.0.113.7/24")},
		{source: "ifupdown x", name: "eth0", static: prefixes("2001:db8::7/64")},
		{source: "ifupdown x", name: "eth1", dhcp4: true},
		{source: "ifupdown x", name: "eth1", slaac: true},
		{source: "ifupdown x", name: "eth2", dhcp6: true},
		{source: "ifupdown x", name: "eth3", static: prefixes("198.51.100.9/25")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestPrefixOf(t *testing.T) {
	tests := []struct {
		addr, mask, want string
	}{
		{"192.0.2.9/24", "", "192.0.2.9/24"},
		{"192.0.2.9", "255.255.255.128", "192.0.2.9/25"},
		{"192.0.2.9", "28", "192.0.2.9/28"},
		{"192.0.2.9", "", "192.0.2.9/32"},
		{"2001:db8::9", "", "2001:db8::9/128"},
		{"2001:db8::9", "56", "2001:db8::9/56"},
	}
	for _, tt := range tests {
		got, ok := prefixOf(tt.addr, tt.mask)
		if !ok || got.String() != tt.want {
			t.Errorf("prefixOf(%q, %q): got %v %v, want %s", tt.addr, tt.mask, got, ok, tt.want)
		}
	}
	for _, bad := range [][2]string{{"", ""}, {"x", ""}, {"192.0.2.9", "40"}, {"192.0.2.9/99", ""}} {
		if got, ok := prefixOf(bad[0], bad[1]); ok {
			t.Errorf("prefixOf(%q, %q): got %v, want not ok", bad[0], bad[1], got)
		}
	}
}

func TestNetworkdClaims(t *testing.T) {
	got := networkdClaims("networkd a.network", `[Match]
Name=en* eth0

[Network]
DHCP=ipv4
IPv6AcceptRA=yes
Address=192.0.2.9/24
DNS=192.0.2.53

[Address]
Address=2001:db8::9/64
`)
	base := claim{source: "networkd a.network", dhcp4: true, slaac: true, static: prefixes("192.0.2.9/24", "2001:db8::9/64"), dns: ips("192.0.2.53")}
	en, eth := base, base
	en.name, eth.name = "en*", "eth0"
	if want := []claim{en, eth}; !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	got = networkdClaims("networkd b.network", "[Match]\nMACAddress=52:54:00:AA:BB:CC\nName=eth0\n[Network]\nDHCP=yes\n")
	want := []claim{{source: "networkd b.network", mac: "52:54:00:aa:bb:cc", dhcp4: true, dhcp6: true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("by MAC: got %+v, want %+v", got, want)
	}
}

func TestClaimMatches(t *testing.T) {
	in := &Interface{Name: "enp1s0", MAC: "52:54:00:aa:bb:cc"}
	tests := []struct {
		c    claim
		want bool
	}{
		{claim{name: "enp1s0"}, true},
		{claim{name: "en*"}, true},
		{claim{name: "eth0"}, false},
		{claim{mac: "52:54:00:AA:BB:CC", name: "eth0"}, true}, // the MAC decides
		{claim{mac: "52:54:00:aa:bb:cd", name: "enp1s0"}, false},
		{claim{}, false},
	}
	for _, tt := range tests {
		if got := tt.c.matches(in); got != tt.want {
			t.Errorf("%+v matches %s: got %v, want %v", tt.c, in.Name, got, tt.want)
		}
	}
}

func TestNetplanClaims(t *testing.T) {
	body := `network:
  version: 2
  renderer: networkd
  ethernets:
    id0:
      match:
        macaddress: "52:54:00:AA:BB:CC"
      set-name: eth0
      dhcp4: "yes"
      accept-ra: true
      addresses:
        - 192.0.2.9/24
        - "2001:db8::9/64":
            lifetime: 0
      nameservers:
        addresses: [192.0.2.53, "2001:db8::53"]
    enp2s0:
      dhcp6: true
    byname:
      match:
        name: ens*
      dhcp4: false
`
	got := netplanClaims("netplan x.yaml", body)
	want := []claim{
		{source: "netplan x.yaml", name: "enp2s0", dhcp6: true},
		{source: "netplan x.yaml", name: "ens*"},
		{source: "netplan x.yaml", name: "eth0", mac: "52:54:00:aa:bb:cc", dhcp4: true, slaac: true, static: prefixes("192.0.2.9/24", "2001:db8::9/64"), dns: ips("192.0.2.53", "2001:db8::53")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got := netplanClaims("netplan bad.yaml", "network: [\n"); got != nil {
		t.Errorf("bad YAML: got %+v, want nil", got)
	}
}

func TestCloudInitClaims(t *testing.T) {
	v1 := `network:
  version: 1
  config:
    - type: physical
      name: eth0
      mac_address: "52:54:00:aa:bb:cc"
      subnets:
        - type: static
          address: 192.0.2.9
          netmask: 255.255.255.0
          dns_nameservers: [192.0.2.53]
        - type: static6
          address: 2001:db8::9/64
        - type: dhcp6
    - type: physical
      name: eth1
      subnets:
        - type: dhcp
        - type: ipv6_slaac
    - type: nameserver
      address: [192.0.2.54]
`
	got := cloudInitClaims("cloud-init a.cfg", v1)
	want := []claim{
		{source: "cloud-init a.cfg", name: "eth0", mac: "52:54:00:aa:bb:cc", dhcp6: true, static: prefixes("192.0.2.9/24", "2001:db8::9/64"), dns: ips("192.0.2.53")},
		{source: "cloud-init a.cfg", name: "eth1", dhcp4: true, slaac: true},
		{source: "cloud-init a.cfg", dns: ips("192.0.2.54")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v1:\ngot  %+v\nwant %+v", got, want)
	}

	v2 := `{"version": 2, "ethernets": {"eth0": {"dhcp4": true, "match": {"macaddress": "52:54:00:aa:bb:cc"}}}}`
	got = cloudInitClaims("cloud-init network-config.json", v2)
	want = []claim{{source: "cloud-init network-config.json", name: "eth0", mac: "52:54:00:aa:bb:cc", dhcp4: true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v2: got %+v, want %+v", got, want)
	}

	openstack := `{"links": [{"id": "tap1", "type": "phy", "ethernet_mac_address": "52:54:00:AA:BB:CC"}],
"networks": [{"id": "n0", "link": "tap1", "type": "ipv4", "ip_address": "192.0.2.9", "netmask": "255.255.255.0"},
             {"id": "n1", "link": "tap1", "type": "ipv6_slaac"}],
"services": [{"type": "dns", "address": "192.0.2.53"}]}`
	got = cloudInitClaims("cloud-init network-config.json", openstack)
	want = []claim{
		{source: "cloud-init network-config.json", mac: "52:54:00:aa:bb:cc", slaac: true, static: prefixes("192.0.2.9/24")},
		{source: "cloud-init network-config.json", dns: ips("192.0.2.53")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("openstack: got %+v, want %+v", got, want)
	}

	for _, body := range []string{"network: {config: disabled}\n", "datasource_list: [ NoCloud ]\n", "not: [yaml\n"} {
		if got := cloudInitClaims("cloud-init x", body); got != nil {
			t.Errorf("%q: got %+v, want nil", body, got)
		}
	}
}

func TestTruthy(t *testing.T) {
	for _, v := range []any{true, "true", "yes", "on", "1", "Yes", "y"} {
		if !truthy(v) {
			t.Errorf("truthy(%#v): got false, want true", v)
		}
	}
	for _, v := range []any{false, "false", "no", "off", "0", "", nil, 1} {
		if truthy(v) {
			t.Errorf("truthy(%#v): got true, want false", v)
		}
	}
}
