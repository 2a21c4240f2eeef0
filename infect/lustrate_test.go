package infect

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLustrateScript runs the lustrate command in a real shell on temp files.
func TestLustrateScript(t *testing.T) {
	const ours = "var/lib/bootstrap\nroot/.nix-channels\n"
	tests := []struct{ name, osID, before, want, out string }{
		{"missing file", "debian", "\x00", ours, "ok"},
		{"empty file", "ubuntu", "", ours, "ok"},
		{"no final newline", "debian", "etc/nixos", "etc/nixos\n" + ours, "ok"},
		{"prefix is not the line", "debian", "etc/nixos\nvar/lib/bootstrap/x\n", "etc/nixos\nvar/lib/bootstrap/x\n" + ours, "ok"},
		{"one already there", "debian", "etc/nixos\nvar/lib/bootstrap\nroot/x\n", "etc/nixos\nvar/lib/bootstrap\nroot/x\nroot/.nix-channels\n", "ok"},
		{"running NixOS", "nixos", "\x00", "\x00", runsNixOS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			f := filepath.Join(dir, "NIXOS LUSTRATE")
			osr := filepath.Join(dir, "os-release")
			if err := os.WriteFile(osr, []byte("NAME=x\nID="+tt.osID+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.before != "\x00" {
				if err := os.WriteFile(f, []byte(tt.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 { // idempotent
				out, err := exec.Command("sh", "-c", lustrateScript(f, osr)).CombinedOutput()
				if err != nil || strings.TrimSpace(string(out)) != tt.out {
					t.Fatalf("got %v, output %q; want output %q", err, out, tt.out)
				}
			}
			got, err := os.ReadFile(f)
			if tt.want == "\x00" {
				if err == nil {
					t.Errorf("got %s written on NixOS: %q, want no file", f, got)
				}
				return
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
