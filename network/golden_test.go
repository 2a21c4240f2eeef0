package network

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"bootstrap/channel"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from NetworkingNix")

// goldenChannels are the channels each fixture's networking.nix is kept
// for, in testdata/golden/<fixture>/<version>.nix.
var goldenChannels = []string{"nixos-20.09", "nixos-23.05", "nixos-24.11", "nixos-unstable"}

func mustChannel(t testing.TB, s string) channel.Channel {
	t.Helper()
	c, err := channel.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// generated returns every golden file's name and NetworkingNix output.
func generated(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range fixtureNames {
		f := fixture(t, name)
		for _, ch := range goldenChannels {
			c := mustChannel(t, ch)
			b, err := NetworkingNix(f, c)
			if err != nil {
				t.Fatalf("NetworkingNix(%s, %s): %v", name, ch, err)
			}
			out[filepath.Join(name, c.Version()+".nix")] = b
		}
	}
	return out
}

func TestGolden(t *testing.T) {
	for file, got := range generated(t) {
		path := filepath.Join("testdata", "golden", file)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./network -update to create it)", err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs (go test ./network -update rewrites it):\ngot\n%s\nwant\n%s", path, got, want)
		}
	}
}

// TestNetworkingNixChannels: the channel changes only the header.
func TestNetworkingNixChannels(t *testing.T) {
	f := fixture(t, "hetznercloud")
	var bodies []string
	for _, ch := range append(goldenChannels, "nixos-22.05-small", "nixos-26.05") {
		b, err := NetworkingNix(f, mustChannel(t, ch))
		if err != nil {
			t.Fatal(err)
		}
		first, rest, _ := strings.Cut(string(b), "\n")
		if want := "(" + ch + ")"; !strings.Contains(first, want) {
			t.Errorf("%s: header %q does not name %s", ch, first, want)
		}
		bodies = append(bodies, rest)
	}
	for i := range bodies {
		if bodies[i] != bodies[0] {
			t.Errorf("%s: body differs from %s's", goldenChannels[min(i, len(goldenChannels)-1)], goldenChannels[0])
		}
	}
}

func TestNetworkingNixErrors(t *testing.T) {
	ch := mustChannel(t, "nixos-24.11")
	slaac, err := Parse(host(`{"family":"inet6","local":"2001:db8::5054:ff:fe00:1","prefixlen":64,"scope":"global","dynamic":true,"mngtmpaddr":true}`))
	if err != nil {
		t.Fatal(err)
	}
	var e *Error
	if _, err := NetworkingNix(slaac, ch); !errors.As(err, &e) ||
		e.Error() != "static network configuration: no address to configure (only link-local or SLAAC addresses on eth0)" {
		t.Errorf("SLAAC only: got %v, want an *Error saying there is no address to configure", err)
	}
	if _, err := NetworkingNix(nil, ch); !errors.As(err, &e) {
		t.Errorf("nil facts: got %v, want an *Error", err)
	}
	if _, err := NetworkingNix(fixture(t, "hetznercloud"), channel.Channel{}); err == nil || err.Error() != "networking.nix: channel not set" {
		t.Errorf("no channel: got %v, want %q", err, "networking.nix: channel not set")
	}

	bad := []func(f *Facts){
		func(f *Facts) { f.Interfaces[0].Name = `eth0"; evil = "` },
		func(f *Facts) { f.Interfaces[0].MAC = "96:00:02:aa:bb:cc\", RUN+=\"/bin/sh" },
		func(f *Facts) { f.Nameservers = []string{`192.0.2.1" ]; x = [ "`} },
		func(f *Facts) { f.Interfaces[0].Addresses[0].Address = "not-an-address" },
		func(f *Facts) { f.Interfaces[0].Addresses[0].PrefixLength = 33 },
		func(f *Facts) {
			f.Routes = []Route{{Family: IPv4, Destination: "10.0.0.0/8", Via: "${x}", Interface: "eth0"}}
		},
		func(f *Facts) { f.Gateways[0].Address = `172.31.1.1"; x = "` },
		func(f *Facts) { f.Gateways[1].Interface = "eth9" },
	}
	for i, corrupt := range bad {
		f := fixture(t, "hetznercloud")
		corrupt(f)
		if b, err := NetworkingNix(f, ch); err == nil {
			t.Errorf("corruption %d: got no error, want one; output:\n%s", i, b)
		}
	}
}

// TestNetworkingNixRoutes: routes through a gateway are kept, and a gateway
// outside the interface's subnets gets a host route of its own.
func TestNetworkingNixRoutes(t *testing.T) {
	f, err := Parse(host(`{"family":"inet","local":"10.0.0.2","prefixlen":32,"scope":"global","dynamic":true}`,
		"==> ip -j route\n"+`[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},`+
			`{"dst":"10.0.0.0/16","gateway":"10.0.0.1","dev":"eth0","protocol":"dhcp","flags":[]},`+
			`{"dst":"10.1.0.0/16","gateway":"10.0.0.1","dev":"eth0","protocol":"dhcp","flags":[]}]`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NetworkingNix(f, mustChannel(t, "nixos-24.11"))
	if err != nil {
		t.Fatal(err)
	}
	want := `    ipv4.routes = lib.mkDefault [
      { address = "192.0.2.1"; prefixLength = 32; } # the gateway, outside the subnets: on the link
      { address = "10.0.0.1"; prefixLength = 32; } # the gateway, outside the subnets: on the link
      { address = "10.0.0.0"; prefixLength = 16; via = "10.0.0.1"; }
      { address = "10.1.0.0"; prefixLength = 16; via = "10.0.0.1"; }
    ];
`
	if !strings.Contains(string(b), want) {
		t.Errorf("got\n%s\nwant it to contain\n%s", b, want)
	}
}

func TestNixString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"eth0", `"eth0"`},
		{`a"b`, `"a\"b"`},
		{`\`, `"\\"`},
		{"${x}", `"\${x}"`},
		{"$x", `"$x"`},
		{"a\nb", `"a\nb"`},
	}
	for _, tt := range tests {
		if got := nixString(tt.in); got != tt.want {
			t.Errorf("nixString(%q): got %s, want %s", tt.in, got, tt.want)
		}
	}
	for in, want := range map[string]string{"eth0": "eth0", "enp1s0": "enp1s0", "eth0.100": `"eth0.100"`, "0eth": `"0eth"`} {
		if got := nixAttr(in); got != want {
			t.Errorf("nixAttr(%q): got %s, want %s", in, got, want)
		}
	}
}
