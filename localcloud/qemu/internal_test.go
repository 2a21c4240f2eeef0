package qemu

import (
	"testing"
)

func TestMirrorFromList(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"plain", "deb http://mirror.example.org/debian bookworm main\n", "http://mirror.example.org/debian"},
		{"security first", "deb http://security.example.org/debian-security bookworm-security main\ndeb http://mirror2.example.org/debian bookworm main", "http://mirror2.example.org/debian"},
		{"options", "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main", "http://mirror.example/debian"},
		{"commented and deb-src", "# deb http://a/debian bookworm main\ndeb-src http://b/debian bookworm main\ndeb http://c.example/pub bookworm main", "http://c.example/pub"},
		{"ubuntu only", "deb http://archive.example.org/ubuntu jammy main", ""},
		{"cdrom", "deb cdrom:[Debian]/ bookworm main", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mirrorFromList(tt.text); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMirrorFromDeb822(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"debian.sources", `Types: deb
# http://snapshot.example.org/archive/debian/20250520T000000Z
URIs: http://mirror.example.org/debian
Suites: bookworm bookworm-updates
Components: main

Types: deb
URIs: http://security.example.org/debian-security
Suites: bookworm-security
Components: main
`, "http://mirror.example.org/debian"},
		{"security first", "Types: deb\nURIs: http://x.example/debian-security\nSuites: bookworm-security\n\nTypes: deb deb-src\nURIs: http://y.example/mirror\nSuites: bookworm\n", "http://y.example/mirror"},
		{"disabled", "Enabled: no\nTypes: deb\nURIs: http://a/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://b/debian\nSuites: bookworm\n", "http://b/debian"},
		{"src only", "Types: deb-src\nURIs: http://a/debian\nSuites: bookworm\n", ""},
		{"not debian", "Types: deb\nURIs: https://node.example.org/node_20.x\nSuites: nodistro\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mirrorFromDeb822(tt.text); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a/b", "/a/b"},
		{`/a\040b`, "/a b"},
		{`/a\134b`, `/a\b`},
		{`/tail\04`, `/tail\04`},
	}
	for _, tt := range tests {
		if got := unescapeMountinfo(tt.in); got != tt.want {
			t.Errorf("unescapeMountinfo(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
