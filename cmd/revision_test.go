package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bootstrap/bootstrap"
	"bootstrap/workspace"
)

// execute runs the command line in a fresh root and returns its exit code,
// stdout and stderr.
func execute(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := 0
	if err := root.ExecuteContext(ctx); err != nil {
		code = render(&errOut, err)
	}
	return code, out.String(), errOut.String()
}

func TestStatusShowsTheRevision(t *testing.T) {
	dir := t.TempDir()
	ws, err := workspace.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := &bootstrap.Record{Name: "web-1", Provider: "ssh", User: "root", Address: "203.0.113.7", Port: 22, Channel: "nixos-24.11",
		Nixpkgs: &bootstrap.Nixpkgs{Revision: "abc1234def5678abc1234def5678abc1234def56", Release: "nixos-24.11.719.abc1234"}}
	if err := bootstrap.SaveRecord(ws, rec); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := execute(t, "-w", dir, "status")
	if code != 0 || !strings.Contains(out, "NIXPKGS") || !strings.Contains(out, "nixos-24.11.719.abc1234") {
		t.Errorf("status: got %d\n%s%s\nwant the release in a NIXPKGS column", code, out, errOut)
	}
	code, out, _ = execute(t, "-w", dir, "status", "--json")
	if code != 0 || !strings.Contains(out, `"revision": "abc1234def5678abc1234def5678abc1234def56"`) || !strings.Contains(out, `"release": "nixos-24.11.719.abc1234"`) {
		t.Errorf("status --json: got %d\n%s\nwant the revision and the release", code, out)
	}
}

// Bad inputs are refused with exit 2 before anything is contacted or written.
func TestRevisionBadInputs(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string // in the error line
	}{
		{[]string{"status", "web-1"}, "only with --check"},
		{[]string{"status", "--check", "web-9"}, "no host web-9"},
		{[]string{"status", "--check", "Web_1"}, "invalid name"},
		{[]string{"clone", "web-1", "web-2", "--channel-head", "--follow-channel", "--to", "ssh", "--host", "root@203.0.113.9"}, "give one"},
		{[]string{"export", "nomad"}, "colmena or flake"},
		{[]string{"export"}, "colmena or flake"},
		{[]string{"export", "colmena"}, "no bootstrapped host"},
	}
	for _, tt := range tests {
		code, out, errOut := execute(t, append([]string{"-w", dir}, tt.args...)...)
		if code != exitUsage || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: got exit %d\n%s%s\nwant %d and %q", strings.Join(tt.args, " "), code, out, errOut, exitUsage, tt.want)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 0 {
		t.Errorf("bad inputs wrote %s", filepath.Join(dir, strings.Join(names, ", ")))
	}
}

func TestExport(t *testing.T) {
	dir := t.TempDir()
	ws, err := workspace.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	done := &bootstrap.StepRecord{Status: bootstrap.StatusDone}
	rec := &bootstrap.Record{Name: "web-1", Provider: "ssh", User: "root", Address: "203.0.113.7", Port: 22, Channel: "nixos-24.11",
		Steps: map[string]*bootstrap.StepRecord{bootstrap.StepReboot: done, bootstrap.StepCapture: done}}
	if err := bootstrap.SaveRecord(ws, rec); err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteHostFile("web-1", "configuration.nix", []byte("{ ... }: { }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Bootstrapped before revisions were recorded: refused, nothing written.
	if code, _, errOut := execute(t, "-w", dir, "export", "flake"); code != exitUsage || !strings.Contains(errOut, "bootstrap push web-1 records it") {
		t.Errorf("export without a revision: got %d %q, want %d and a hint to push", code, errOut, exitUsage)
	}
	if _, err := os.Stat(filepath.Join(dir, "flake.nix")); err == nil {
		t.Error("flake.nix written for a host without a revision")
	}
	rec.Nixpkgs = &bootstrap.Nixpkgs{Revision: "abc1234def5678abc1234def5678abc1234def56", Release: "nixos-24.11.719.abc1234", Subscription: "https://nixos.org/channels/nixos-24.11"}
	if err := bootstrap.SaveRecord(ws, rec); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := execute(t, "-w", dir, "export", "flake")
	if code != 0 || !strings.Contains(out, "wrote flake.nix and ssh_config: 1 host(s) (web-1) on 1 pinned nixpkgs") ||
		!strings.Contains(out, `NIX_SSHOPTS="-F ssh_config" nixos-rebuild switch --flake .#web-1 --target-host root@web-1`) {
		t.Errorf("export flake: got %d\n%s%s", code, out, errOut)
	}
	flake, err := os.ReadFile(filepath.Join(dir, "flake.nix"))
	if err != nil || !strings.Contains(string(flake), `nixpkgs-abc1234def56.url = "github:NixOS/nixpkgs/abc1234def5678abc1234def5678abc1234def56";`) {
		t.Errorf("got flake.nix %s, %v; want the host's revision pinned", flake, err)
	}
	// A hive.nix of the user's own is kept.
	if err := os.WriteFile(filepath.Join(dir, "hive.nix"), []byte("{ }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := execute(t, "-w", dir, "export", "colmena"); code != exitUsage || !strings.Contains(errOut, "--force") {
		t.Errorf("export over a foreign hive.nix: got %d %q, want %d and --force named", code, errOut, exitUsage)
	}
	if code, out, _ := execute(t, "-w", dir, "export", "colmena", "--force"); code != 0 || !strings.Contains(out, "SSH_CONFIG_FILE=ssh_config colmena apply") {
		t.Errorf("export colmena --force: got %d\n%s", code, out)
	}
}
