package network

import (
	"errors"
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	tests := []struct {
		fixture, mode, provider string
		static                  bool
		reason, summary         string
	}{
		// auto
		{"digitalocean", ModeAuto, "", true,
			"eth0 203.0.113.7/24 and 3 more are not from DHCP or SLAAC (netplan /etc/netplan/50-cloud-init.yaml)",
			"static (eth0 203.0.113.7/24 via 203.0.113.1, 10.19.0.5/16, 2001:db8:d0:1::a1/64 via 2001:db8:d0:1::1; eth1 10.114.0.2/20)"},
		{"hetznercloud", ModeAuto, "", true,
			"eth0 2001:db8:1f0:4e2a::1/64 is not from DHCP or SLAAC (ifupdown /etc/network/interfaces.d/50-cloud-init)",
			"static (eth0 203.0.113.10/32 via 172.31.1.1, 2001:db8:1f0:4e2a::1/64 via fe80::1)"},
		{"scaleway", ModeAuto, "", false,
			"every address is from DHCP or SLAAC: NixOS's default DHCP brings them back",
			"dhcp (ens2: DHCP lease, SLAAC)"},
		{"debian-dhcp", ModeAuto, "", false,
			"every address is from DHCP or SLAAC: NixOS's default DHCP brings them back",
			"dhcp (ens3: DHCP lease)"},
		{"ubuntu-resolved", ModeAuto, "", false,
			"every address is from DHCP or SLAAC: NixOS's default DHCP brings them back",
			"dhcp (enp1s0: DHCP lease, SLAAC)"},
		{"debian-dhcp", "", "", false, // "" is auto
			"every address is from DHCP or SLAAC: NixOS's default DHCP brings them back",
			"dhcp (ens3: DHCP lease)"},
		// auto, a provider that needs static although every address is from DHCP
		{"debian-dhcp", ModeAuto, "webdock", true,
			"provider webdock needs a static configuration (nixos-infect writes one for it)",
			"static (ens3 192.0.2.45/24 via 192.0.2.1)"},
		{"scaleway", ModeAuto, "hostinger", true,
			"provider hostinger needs a static configuration (nixos-infect writes one for it)",
			"static (ens2 203.0.113.20/32 via 198.51.100.1)"},
		// a provider given explicitly replaces the detected one
		{"scaleway", ModeAuto, "vultr", false,
			"every address is from DHCP or SLAAC: NixOS's default DHCP brings them back",
			"dhcp (ens2: DHCP lease, SLAAC)"},
		// explicit modes
		{"digitalocean", ModeDHCP, "", false,
			"--network dhcp: NixOS's default DHCP; eth0 203.0.113.7/24 (netplan /etc/netplan/50-cloud-init.yaml) is not from DHCP and may not come back",
			"dhcp (eth0: static 203.0.113.7/24, static 10.19.0.5/16, static 2001:db8:d0:1::a1/64; eth1: static 10.114.0.2/20)"},
		{"hetznercloud", ModeDHCP, "hetznercloud", false,
			"--network dhcp: NixOS's default DHCP; eth0 2001:db8:1f0:4e2a::1/64 (ifupdown /etc/network/interfaces.d/50-cloud-init) is not from DHCP and may not come back",
			"dhcp (eth0: DHCP lease, static 2001:db8:1f0:4e2a::1/64)"},
		{"debian-dhcp", ModeDHCP, "", false,
			"--network dhcp: NixOS's default DHCP",
			"dhcp (ens3: DHCP lease)"},
		{"debian-dhcp", ModeStatic, "", true,
			"--network static",
			"static (ens3 192.0.2.45/24 via 192.0.2.1)"},
		{"ubuntu-resolved", ModeStatic, "", true,
			"--network static",
			"static (enp1s0 198.51.100.23/24 via 198.51.100.1)"},
		{"hetznercloud", ModeStatic, "", true,
			"--network static",
			"static (eth0 203.0.113.10/32 via 172.31.1.1, 2001:db8:1f0:4e2a::1/64 via fe80::1)"},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+"/"+tt.mode+"/"+tt.provider, func(t *testing.T) {
			d, err := Decide(fixture(t, tt.fixture), tt.mode, tt.provider)
			if err != nil {
				t.Fatal(err)
			}
			wantMode := tt.mode
			if wantMode == "" {
				wantMode = ModeAuto
			}
			if d.Mode != wantMode || d.Static != tt.static {
				t.Errorf("got mode %q static %v, want %q %v", d.Mode, d.Static, wantMode, tt.static)
			}
			if d.Reason != tt.reason {
				t.Errorf("reason:\ngot  %q\nwant %q", d.Reason, tt.reason)
			}
			if d.Summary != tt.summary {
				t.Errorf("summary:\ngot  %q\nwant %q", d.Summary, tt.summary)
			}
			if strings.Contains(d.Reason+d.Summary, "\n") {
				t.Errorf("reason or summary spans lines: %q %q", d.Reason, d.Summary)
			}
		})
	}
}

// TestDecideHetznerBuild: /etc/hetzner-build alone makes auto choose
// static, as nixos-infect's autodetectProvider would.
func TestDecideHetznerBuild(t *testing.T) {
	f := fixture(t, "debian-dhcp")
	f.Provider, f.ProviderEvidence = "hetznercloud", "/etc/hetzner-build exists"
	d, err := Decide(f, ModeAuto, "")
	if err != nil {
		t.Fatal(err)
	}
	want := "provider hetznercloud needs a static configuration (nixos-infect writes one for it): /etc/hetzner-build exists"
	if !d.Static || d.Reason != want {
		t.Errorf("got static %v %q, want static %q", d.Static, d.Reason, want)
	}
}

func TestDecideErrors(t *testing.T) {
	slaacOnly, err := Parse(host(`{"family":"inet6","local":"2001:db8::5054:ff:fe00:1","prefixlen":64,"scope":"global","dynamic":true,"mngtmpaddr":true},{"family":"inet6","local":"fe80::5054:ff:fe00:1","prefixlen":64,"scope":"link"}`))
	if err != nil {
		t.Fatal(err)
	}
	none, err := Parse("==> ip -j addr\n[]\n")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		f           *Facts
		mode        string
		reason, fix string
	}{
		{"bad mode", fixture(t, "debian-dhcp"), "manual", `invalid --network "manual"`, "use --network auto, dhcp or static"},
		{"upper case", fixture(t, "debian-dhcp"), "Static", `invalid --network "Static"`, "use --network auto, dhcp or static"},
		{"static, SLAAC only", slaacOnly, ModeStatic, "--network static: no address to configure (only link-local or SLAAC addresses on eth0)", "use --network dhcp, or configure the network in host.nix"},
		{"static, no interface", none, ModeStatic, "--network static: the host has no physical Ethernet interface to configure", "use --network dhcp, or configure the network in host.nix"},
		{"static, nil facts", nil, ModeStatic, "--network static: the host has no physical Ethernet interface to configure", "use --network dhcp, or configure the network in host.nix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Decide(tt.f, tt.mode, "")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("got %+v, %v; want an *Error", d, err)
			}
			if e.Error() != tt.reason || e.Hint() != tt.fix {
				t.Errorf("got %q (hint %q), want %q (hint %q)", e.Error(), e.Hint(), tt.reason, tt.fix)
			}
			if strings.Contains(e.Error()+e.Hint(), "\n") {
				t.Errorf("error spans lines: %q", e.Error()+e.Hint())
			}
		})
	}
}

// TestDecideAutoNothingToPin: a provider that needs static but a host
// with nothing to pin gets DHCP rather than an empty configuration.
func TestDecideAutoNothingToPin(t *testing.T) {
	f, err := Parse(host(`{"family":"inet6","local":"2001:db8::5054:ff:fe00:1","prefixlen":64,"scope":"global","dynamic":true,"mngtmpaddr":true}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decide(f, ModeAuto, "digitalocean")
	if err != nil {
		t.Fatal(err)
	}
	want := Decision{
		Mode:    ModeAuto,
		Reason:  "provider digitalocean needs a static configuration, but the host has no address to pin: NixOS's default DHCP",
		Summary: "dhcp (eth0: SLAAC)",
	}
	if d != want {
		t.Errorf("got %+v, want %+v", d, want)
	}
}
