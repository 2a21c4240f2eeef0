package network

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func ips(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	return out
}

func TestDhclientLeases(t *testing.T) {
	body := `default-duid "\000\001\000\001";
lease {
  interface "eth0";
  fixed-address 192.0.2.9;
  option domain-name-servers 192.0.2.53,192.0.2.54;
  option rfc3442-classless-static-routes 32,172,31,1,1,0,0,0,0,0,172,31,1,1;
}
lease6 {
  interface "eth0";
  ia-na 1e:2f:3a:4b {
    starts 1764700000;
    iaaddr 2001:db8::15 {
      starts 1764700000;
      preferred-life 4500;
    }
  }
  option dhcp6.name-servers 2001:db8::53;
}
`
	got := dhclientLeases("/var/lib/dhcp/dhclient.leases", body)
	want := []lease{
		{source: "lease /var/lib/dhcp/dhclient.leases", iface: "eth0", addrs: ips("192.0.2.9"), dns: ips("192.0.2.53", "192.0.2.54")},
		{source: "lease /var/lib/dhcp/dhclient.leases", iface: "eth0", addrs: ips("2001:db8::15"), dns: ips("2001:db8::53")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestDhclientLeaseFileNames(t *testing.T) {
	tests := []struct{ file, iface string }{
		{"/var/lib/dhcp/dhclient.eth0.leases", "eth0"},
		{"/var/lib/dhcp/dhclient6.ens3.leases", "ens3"},
		{"/var/lib/dhclient/dhclient-8a4e1c2d-0b3f-4c5d-9e6f-7a8b9c0d1e2f-eth1.lease", "eth1"},
		{"/var/lib/dhcp/dhclient.leases", ""},
	}
	for _, tt := range tests {
		// No interface statement: the file name says which interface.
		got := dhclientLeases(tt.file, "lease {\n  fixed-address 192.0.2.9;\n}\n")
		if len(got) != 1 || got[0].iface != tt.iface {
			t.Errorf("%s: got %+v, want one lease of %q", tt.file, got, tt.iface)
		}
	}
}

func TestNetworkdLease(t *testing.T) {
	got := networkdLease("/run/systemd/netif/leases/7", "# This is private data. Do not parse.\nADDRESS=192.0.2.9\nNETMASK=255.255.255.0\nDNS=192.0.2.53 192.0.2.54\n")
	want := []lease{{source: "lease /run/systemd/netif/leases/7", ifindex: 7, addrs: ips("192.0.2.9"), dns: ips("192.0.2.53", "192.0.2.54")}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if got := networkdLease("/run/systemd/netif/leases/x", "ADDRESS=192.0.2.9"); got != nil {
		t.Errorf("file name not an ifindex: got %+v, want nil", got)
	}
	if got := networkdLease("/run/systemd/netif/leases/2", "DNS=192.0.2.53"); got != nil {
		t.Errorf("no address: got %+v, want nil", got)
	}
}

// odHex prints b as `od -An -tx1 -v` does: 16 bytes a line.
func odHex(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		fmt.Fprintf(&s, " %02x", c)
		if i%16 == 15 {
			s.WriteString("\n")
		}
	}
	return s.String()
}

func bootReply(yiaddr [4]byte, options ...byte) []byte {
	b := make([]byte, 240)
	b[0] = 2 // BOOTREPLY
	copy(b[16:20], yiaddr[:])
	copy(b[236:240], []byte{0x63, 0x82, 0x53, 0x63})
	return append(b, options...)
}

func TestDhcpcdLease(t *testing.T) {
	msg := bootReply([4]byte{192, 0, 2, 9},
		0,                      // pad
		1, 4, 255, 255, 255, 0, // subnet mask
		6, 8, 192, 0, 2, 53, 192, 0, 2, 54, // DNS
		255)
	got := dhcpcdLease("/var/lib/dhcpcd/eth0.lease", odHex(msg))
	want := []lease{{source: "lease /var/lib/dhcpcd/eth0.lease", iface: "eth0", addrs: ips("192.0.2.9"), dns: ips("192.0.2.53", "192.0.2.54")}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	got = dhcpcdLease("/var/lib/dhcpcd5/dhcpcd-ens3.lease6", " 07 00 01 02")
	want = []lease{{source: "lease /var/lib/dhcpcd5/dhcpcd-ens3.lease6", iface: "ens3"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lease6: got %+v, want %+v", got, want)
	}

	for name, hexdump := range map[string]string{
		"short":      " 02 01 06",
		"not hex":    " zz",
		"no cookie":  odHex(make([]byte, 300)),
		"truncated":  odHex(bootReply([4]byte{192, 0, 2, 9}, 6, 8, 192, 0)),
		"no options": odHex(bootReply([4]byte{0, 0, 0, 0})),
	} {
		got := dhcpcdLease("/var/lib/dhcpcd/eth0.lease", hexdump)
		switch name {
		case "truncated":
			want := []lease{{source: "lease /var/lib/dhcpcd/eth0.lease", iface: "eth0", addrs: ips("192.0.2.9")}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: got %+v, want %+v", name, got, want)
			}
		case "no options":
			if len(got) != 1 || len(got[0].addrs) != 0 {
				t.Errorf("%s: got %+v, want one lease without addresses", name, got)
			}
		default:
			if got != nil {
				t.Errorf("%s: got %+v, want nil", name, got)
			}
		}
	}
}

func TestDhcpcdLeaseViaParse(t *testing.T) {
	msg := bootReply([4]byte{192, 0, 2, 9}, 255)
	f, err := Parse(host(`{"family":"inet","local":"192.0.2.9","prefixlen":24,"scope":"global"}`, "==> hex /var/lib/dhcpcd/eth0.lease\n"+odHex(msg)))
	if err != nil {
		t.Fatal(err)
	}
	a := f.Interfaces[0].Addresses[0]
	if a.Origin != OriginDHCP || a.Evidence != "lease /var/lib/dhcpcd/eth0.lease" {
		t.Errorf("got %s (%s), want dhcp from the dhcpcd lease", a.Origin, a.Evidence)
	}
}
