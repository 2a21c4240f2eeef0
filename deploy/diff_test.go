package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestChanges(t *testing.T) {
	local := map[string][]byte{"a.nix": []byte("1"), "b.nix": []byte("2"), "c.nix": []byte("new")}
	host := map[string][]byte{"a.nix": []byte("1"), "b.nix": []byte("old"), "d.nix": []byte("gone")}
	got := Changes(local, host)
	want := []Change{
		{File: "b.nix", Kind: Modified, Old: []byte("old"), New: []byte("2")},
		{File: "c.nix", Kind: Added, New: []byte("new")},
		{File: "d.nix", Kind: Removed, Old: []byte("gone")},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d changes %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.File != w.File || g.Kind != w.Kind || !bytes.Equal(g.Old, w.Old) || !bytes.Equal(g.New, w.New) {
			t.Errorf("change %d: got %+v, want %+v", i, g, w)
		}
	}
	if s := Summary(got); s != "b.nix, +c.nix, -d.nix" {
		t.Errorf("got summary %q", s)
	}
	if len(Changes(host, host)) != 0 {
		t.Error("identical files differ")
	}
}

func lines(n int, f func(i int) string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(f(i) + "\n")
	}
	return b.String()
}

var diffCases = []struct {
	name     string
	old, new string
}{
	{"one line changed", "a\nb\nc\n", "a\nB\nc\n"},
	{"added at the end", "a\nb\n", "a\nb\nc\nd\n"},
	{"removed at the start", "a\nb\nc\nd\n", "c\nd\n"},
	{"from nothing", "", "x\ny\n"},
	{"to nothing", "x\ny\n", ""},
	{"no newline at the end", "a\nb", "a\nc"},
	{"newline added at the end", "a\nb", "a\nb\n"},
	{"two hunks", lines(30, func(i int) string { return "line " + string(rune('a'+i%26)) + string(rune('0'+i/10)) }),
		strings.Replace(strings.Replace(lines(30, func(i int) string { return "line " + string(rune('a'+i%26)) + string(rune('0'+i/10)) }), "line c0", "changed", 1), "line d2", "changed too\nand more", 1)},
	{"close changes share a hunk", lines(12, func(i int) string { return string(rune('a' + i)) }),
		strings.NewReplacer("c\n", "C\n", "i\n", "I\n").Replace(lines(12, func(i int) string { return string(rune('a' + i)) }))},
	{"nix module", "{ pkgs, ... }:\n{\n  services.openssh.enable = true;\n  networking.hostName = \"web-1\";\n}\n",
		"{ pkgs, ... }:\n{\n  services.openssh.enable = true;\n  services.nginx.enable = true;\n  networking.hostName = \"web-1\";\n  environment.systemPackages = [ pkgs.git ];\n}\n"},
}

// Hunks are exactly what GNU diff -u prints.
func TestUnifiedDiffMatchesGNUDiff(t *testing.T) {
	if _, err := exec.LookPath("diff"); err != nil {
		t.Skip("needs diff")
	}
	dir := t.TempDir()
	for _, tt := range diffCases {
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		os.WriteFile(a, []byte(tt.old), 0o644)
		os.WriteFile(b, []byte(tt.new), 0o644)
		out, _ := exec.Command("diff", "-u", a, b).Output()
		// Drop GNU's two header lines; ours name the host and the workspace.
		want := string(out)
		for range 2 {
			_, want, _ = strings.Cut(want, "\n")
		}
		kind := Modified
		switch {
		case tt.old == "":
			kind = Added
		case tt.new == "":
			kind = Removed
		}
		got := UnifiedDiff("web-1", []Change{{File: "f.nix", Kind: kind, Old: []byte(tt.old), New: []byte(tt.new)}})
		_, got, _ = strings.Cut(got, "\n")
		_, got, _ = strings.Cut(got, "\n")
		if got != want {
			t.Errorf("%s: got\n%s\nwant (diff -u)\n%s", tt.name, got, want)
		}
	}
}

func TestUnifiedDiffHeaders(t *testing.T) {
	got := UnifiedDiff("web-1", []Change{
		{File: "a.nix", Kind: Added, New: []byte("x\n")},
		{File: "b.nix", Kind: Modified, Old: []byte("x\n"), New: []byte("y\n")},
		{File: "c.nix", Kind: Removed, Old: []byte("x\n")},
		{File: "d.nix", Kind: Modified, Old: []byte("x\x00"), New: []byte("y")},
	})
	want := `--- /dev/null
+++ hosts/web-1/a.nix
@@ -0,0 +1 @@
+x
--- web-1:/etc/nixos/b.nix
+++ hosts/web-1/b.nix
@@ -1 +1 @@
-x
+y
--- web-1:/etc/nixos/c.nix
+++ /dev/null
@@ -1 +0,0 @@
-x
Binary files web-1:/etc/nixos/d.nix and hosts/web-1/d.nix differ
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Large files that share no line: one hunk replacing the whole file.
func TestUnifiedDiffLarge(t *testing.T) {
	a := lines(3000, func(i int) string { return "a" + string(rune('0'+i%10)) + strings.Repeat("x", i%7) })
	b := lines(3000, func(i int) string { return "b" + string(rune('0'+i%10)) + strings.Repeat("x", i%7) })
	got := UnifiedDiff("h", []Change{{File: "f", Kind: Modified, Old: []byte(a), New: []byte(b)}})
	if !strings.Contains(got, "@@ -1,3000 +1,3000 @@\n") || strings.Count(got, "\n-") != 3000 || strings.Count(got, "\n+") != 3001 {
		t.Errorf("got a diff of %d bytes not replacing the file as a whole:\n%.300s", len(got), got)
	}
}

// A large file with a few changed lines gives a few small hunks, quickly.
func TestUnifiedDiffLargeFewChanges(t *testing.T) {
	a := lines(50000, func(i int) string { return fmt.Sprintf("line %d", i) })
	b := strings.NewReplacer("line 100\n", "changed 100\n", "line 25000\n", "changed 25000\n", "line 49999\n", "").Replace(a)
	start := time.Now()
	got := UnifiedDiff("h", []Change{{File: "f", Kind: Modified, Old: []byte(a), New: []byte(b)}})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
	if n := strings.Count(got, "\n@@ "); n != 3 || !strings.Contains(got, "-line 25000\n+changed 25000\n") {
		t.Errorf("got %d hunks, want 3:\n%s", n, got)
	}
}

// An empty file added keeps its headers, as diff -u -N prints them.
func TestUnifiedDiffEmptyFile(t *testing.T) {
	got := UnifiedDiff("web-1", []Change{{File: "empty.nix", Kind: Added, New: []byte{}}})
	if want := "--- /dev/null\n+++ hosts/web-1/empty.nix\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
