package remote

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"
)

func TestPinnedKeys(t *testing.T) {
	a, b := newSigner(t).PublicKey(), newSigner(t).PublicKey()
	file := filepath.Join(t.TempDir(), "known_hosts")
	content := knownhosts.Line([]string{"203.0.113.7"}, a) + "\n" +
		knownhosts.Line([]string{knownhosts.HashHostname("[::1]:2222")}, b) + "\n" +
		"# a comment\n"
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want string
	}{
		{KnownHostsName("203.0.113.7", 22), Fingerprint(a)},
		{KnownHostsName("::1", 2222), Fingerprint(b)},
		{KnownHostsName("203.0.113.8", 22), ""},
	}
	for _, tt := range tests {
		got, err := PinnedKeys(file, tt.name)
		if err != nil {
			t.Fatal(err)
		}
		if g := join(got); g != tt.want {
			t.Errorf("PinnedKeys(%q): got %q, want %q", tt.name, g, tt.want)
		}
	}
	if got, err := PinnedKeys(filepath.Join(t.TempDir(), "none"), "h"); err != nil || got != nil {
		t.Errorf("missing file: got %v, %v; want nothing", got, err)
	}
}

func join(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}
