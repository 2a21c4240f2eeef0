package channel

import (
	"strings"
	"testing"
)

func TestReleaseName(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"24.11.719.abc1234 (Vicuna)", "nixos-24.11.719.abc1234", ""},
		{"24.11.711466.5d67ea6b4b63", "nixos-24.11.711466.5d67ea6b4b63", ""},
		{"25.05pre712345.abc1234 (Warbler)", "nixos-25.05pre712345.abc1234", ""},
		{"", "", "no NixOS version"},
		{"24.11pre-git (Vicuna)", "", "not one of a channel release"},
		{"24.11.20241231.ABCDEF0", "", "not one of a channel release"},
		{"24.11", "", "not one of a channel release"},
	}
	for _, tt := range tests {
		got, err := ReleaseName(tt.in)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("ReleaseName(%q): got %q, %v; want %q, error containing %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestReleaseOf(t *testing.T) {
	const rev = "abc1234def5678abc1234def5678abc1234def56"
	tests := []struct {
		channel, release, revision string
		ok                         bool
	}{
		{"nixos-24.11", "nixos-24.11.719.abc1234", rev, true},
		{"nixos-24.11-small", "nixos-24.11.719.abc1234", "", true},
		{"nixos-24.11", "nixos-24.05.719.abc1234", rev, false},
		{"nixos-24.11", "nixos-24.11.719.fff1234", rev, false},
		{"nixos-24.11", "nixos-25.05pre719.abc1234", "", false},
		{"nixos-unstable", "nixos-25.05pre719.abc1234", rev, true},
		{"nixos-unstable", "nixos-24.11.719.abc1234", "", false},
		{"nixos-24.11", "nixos-24.11", "", false},
	}
	for _, tt := range tests {
		c, _ := Parse(tt.channel)
		err := c.ReleaseOf(tt.release, tt.revision)
		if got := err == nil; got != tt.ok {
			t.Errorf("%s.ReleaseOf(%q, %q): got %v, want ok %v", tt.channel, tt.release, tt.revision, err, tt.ok)
		}
	}
}

func TestSubscription(t *testing.T) {
	tests := []struct {
		url, channel, release, canonical, str string
	}{
		{"https://nixos.org/channels/nixos-24.11", "nixos-24.11", "", "https://nixos.org/channels/nixos-24.11", "nixos-24.11"},
		{"https://channels.nixos.org/nixos-24.11-small/", "nixos-24.11-small", "", "https://nixos.org/channels/nixos-24.11-small", "nixos-24.11-small"},
		{"https://releases.nixos.org/nixos/24.11/nixos-24.11.719.abc1234", "nixos-24.11", "nixos-24.11.719.abc1234",
			"https://releases.nixos.org/nixos/24.11/nixos-24.11.719.abc1234", "release nixos-24.11.719.abc1234 of nixos-24.11"},
		{"https://releases.nixos.org/nixos/24.11-small/nixos-24.11.742.def5678/", "nixos-24.11-small", "nixos-24.11.742.def5678",
			"https://releases.nixos.org/nixos/24.11-small/nixos-24.11.742.def5678", "release nixos-24.11.742.def5678 of nixos-24.11-small"},
		{"https://releases.nixos.org/nixos/unstable/nixos-25.05pre712345.abc1234", "nixos-unstable", "nixos-25.05pre712345.abc1234",
			"https://releases.nixos.org/nixos/unstable/nixos-25.05pre712345.abc1234", "release nixos-25.05pre712345.abc1234 of nixos-unstable"},
	}
	for _, tt := range tests {
		s, err := ParseSubscription(tt.url)
		if err != nil {
			t.Errorf("ParseSubscription(%q): %v", tt.url, err)
			continue
		}
		if s.Channel.String() != tt.channel || s.Release != tt.release || s.URL() != tt.canonical || s.String() != tt.str {
			t.Errorf("ParseSubscription(%q): got %s, %q, %s, %q; want %s, %q, %s, %q", tt.url, s.Channel, s.Release, s.URL(), s, tt.channel, tt.release, tt.canonical, tt.str)
		}
	}
	for _, bad := range []string{"", "https://nixos.org/channels/nixpkgs-unstable", "https://releases.nixos.org/nixos/24.05/nixos-24.11.719.abc1234",
		"https://releases.nixos.org/nixos/foo/nixos-24.11.719.abc1234", "https://example.com/nixexprs.tar.xz"} {
		if s, err := ParseSubscription(bad); err == nil {
			t.Errorf("ParseSubscription(%q): got %v, want an error", bad, s)
		}
	}
}
