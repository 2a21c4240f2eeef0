package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"bootstrap/templates"
	"bootstrap/workspace"
)

func TestSourceChannel(t *testing.T) {
	tests := []struct {
		lines []string
		want  string // "" means an error
	}{
		{[]string{"nixos https://nixos.org/channels/nixos-24.11"}, "nixos-24.11"},
		{[]string{"home-manager https://example.org/hm", "nixos https://nixos.org/channels/nixos-20.09/"}, "nixos-20.09"},
		{[]string{"nixos https://nixos.org/channels/nixos-unstable"}, "nixos-unstable"},
		{[]string{"nixpkgs https://nixos.org/channels/nixos-24.11"}, ""},
		{[]string{"nixos https://example.org/my-fork"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		got, err := sourceChannel(tt.lines)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("sourceChannel(%q): got %s, want an error", tt.lines, got)
		case tt.want != "" && (err != nil || got.String() != tt.want):
			t.Errorf("sourceChannel(%q): got %v, %v; want %s", tt.lines, got, err, tt.want)
		}
	}
}

func TestPlanClone(t *testing.T) {
	ours := &Source{Ours: true, Files: map[string][]byte{
		"host.nix":                   []byte("{ ... }: { }"),
		"configuration.nix":          []byte("generated"),
		"bootstrap.nix":              []byte(templates.Marker + "\n"),
		"hardware-configuration.nix": []byte("old hardware"),
		"modules/web.nix":            []byte("{ ... }: { }"),
		"networking.nix":             []byte("{ ... }: { networking.interfaces.eth0.ipv4.addresses = [ prod ]; }"),
	}, Skipped: map[string]string{"certs/site.key": secretSkip}}
	foreign := &Source{Files: map[string][]byte{
		"configuration.nix":          []byte("{ ... }: { imports = [ ./hardware-configuration.nix ]; }"),
		"hardware-configuration.nix": []byte("old hardware"),
		"networking.nix":             []byte("{ ... }: { networking.interfaces.eth0.ipv4.addresses = [ prod ]; }"),
	}}
	tests := []struct {
		name    string
		src     *Source
		hostNix string
		extra   []string
		skipped []string
	}{
		{"ours", ours, "{ ... }: { }", []string{"modules/web.nix"}, []string{"bootstrap.nix", "certs/site.key", "configuration.nix", "hardware-configuration.nix", "networking.nix"}},
		// A foreign configuration imports its networking.nix: a placeholder keeps it evaluating.
		{"foreign", foreign, "{ ... }: { imports = [ ./hardware-configuration.nix ]; }", []string{"hardware-configuration.nix", "networking.nix"}, []string{"configuration.nix", "hardware-configuration.nix", "networking.nix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanClone(tt.src)
			if string(p.HostNix) != tt.hostNix {
				t.Errorf("got host.nix %q, want %q", p.HostNix, tt.hostNix)
			}
			if got := strings.Join(slices.Sorted(maps.Keys(p.Extra)), ","); got != strings.Join(tt.extra, ",") {
				t.Errorf("got extra files %s, want %s", got, strings.Join(tt.extra, ","))
			}
			if got := strings.Join(slices.Sorted(maps.Keys(p.Skipped)), ","); got != strings.Join(tt.skipped, ",") {
				t.Errorf("got skipped %s, want %s", got, strings.Join(tt.skipped, ","))
			}
			if hw, ok := p.Extra["hardware-configuration.nix"]; ok && strings.Contains(string(hw), "old hardware") {
				t.Error("the source's hardware-configuration.nix is copied")
			}
			if n, ok := p.Extra["networking.nix"]; ok && strings.Contains(string(n), "prod") {
				t.Error("the source's networking.nix is copied")
			}
		})
	}
}

// fakeSource answers ReadSource's script and file reads, and records the
// files read.
type fakeSource struct {
	out   string
	files map[string]string
	read  *[]string
}

func (f fakeSource) Output(context.Context, string) (string, error) { return f.out, nil }
func (f fakeSource) ReadFileMax(_ context.Context, p string, max int64) ([]byte, error) {
	if f.read != nil {
		*f.read = append(*f.read, p)
	}
	if d, ok := f.files[p]; ok {
		if int64(len(d)) > max {
			return nil, errors.New("too long")
		}
		return []byte(d), nil
	}
	return nil, errors.New("no such file")
}

// listing is the source script's output for files.
func listing(files map[string]string, extra ...string) string {
	out := "os_id=nixos\nnixos_version=24.11.1 (Vicuna)\nchannel=nixos https://nixos.org/channels/nixos-24.11\n"
	for _, p := range slices.Sorted(maps.Keys(files)) {
		out += fmt.Sprintf("file=%d %s\n", len(files[p]), p)
	}
	return out + strings.Join(extra, "")
}

func TestReadSource(t *testing.T) {
	files := map[string]string{
		"/etc/nixos/host.nix":      "{ ... }: { }",
		"/etc/nixos/bootstrap.nix": templates.Marker + "\n  system.stateVersion = lib.mkDefault \"20.09\";\n",
	}
	src, err := ReadSource(context.Background(), fakeSource{out: listing(files), files: files}, "web-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if src.Channel.String() != "nixos-24.11" || !src.Ours || src.StateVersion != "20.09" || len(src.Files) != 2 {
		t.Errorf("got channel %s ours %v state version %q files %d; want nixos-24.11 true 20.09 2", src.Channel, src.Ours, src.StateVersion, len(src.Files))
	}
	for name, out := range map[string]string{
		"not nixos":  "os_id=debian\n",
		"no channel": "os_id=nixos\n",
	} {
		_, err := ReadSource(context.Background(), fakeSource{out: out}, "x", nil)
		var pe *PreflightError
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want a refusal", name, err)
		}
	}
}

// A clone copies *.nix and what they refer to by relative path, other
// files only with --include, and never reads a file that looks like a
// secret, nor one over MaxSourceFile.
func TestReadSourceCopiesNixNotSecrets(t *testing.T) {
	files := map[string]string{
		"/etc/nixos/configuration.nix":           "{ ... }: { imports = [ ./hardware-configuration.nix ./wg.nix ./modules ]; environment.etc.motd.source = ./files/motd; }",
		"/etc/nixos/hardware-configuration.nix":  "{ }",
		"/etc/nixos/wg.nix":                      "{ ... }: { networking.wireguard.interfaces.wg0.privateKeyFile = \"/etc/nixos/wireguard/private\"; x = ../wg0.priv; }",
		"/etc/nixos/modules/default.nix":         "{ ... }: { imports = [ ../wg0.priv ]; }",
		"/etc/nixos/files/motd":                  "hello",
		"/etc/nixos/wireguard/private":           "WG-PRIVATE-KEY",
		"/etc/nixos/wg0.priv":                    "WG0-PRIVATE-KEY",
		"/etc/nixos/credentials.env":             "AWS_SECRET=1",
		"/etc/nixos/restic.env":                  "RESTIC_PASSWORD=2",
		"/etc/nixos/certs/site.key":              "-----BEGIN PRIVATE KEY-----",
		"/etc/nixos/README.md":                   "notes",
		"/etc/nixos/static/logo.svg":             "<svg/>",
		"/etc/nixos/big.nix":                     strings.Repeat("#", MaxSourceFile+1),
		"/etc/nixos/.git/config":                 "[core]",
		"/etc/nixos/secrets.nix":                 "{ password = \"x\"; }",
		"/etc/nixos/../../etc/shadow":            "root:x",
		"/etc/nixos/modules/../../outside.nix":   "{ }",
		"/etc/nixos/files/../files/motd.extra":   "more",
		"/etc/nixos/files/with space/not-me.nix": "{ }",
	}
	var read []string
	src, err := ReadSource(context.Background(), fakeSource{out: listing(files), files: files, read: &read}, "web-1", []string{"static/*"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(slices.Sorted(maps.Keys(src.Files)), ",")
	want := "configuration.nix,files/motd,files/with space/not-me.nix,hardware-configuration.nix,modules/default.nix,static/logo.svg,wg.nix"
	if got != want {
		t.Errorf("got files read\n%s\nwant\n%s", got, want)
	}
	for _, p := range read {
		for _, secret := range []string{"private", ".priv", ".env", ".key", ".git", "secrets.nix", "shadow", "big.nix"} {
			if strings.Contains(p, secret) {
				t.Errorf("read %s from the source, want it never read", p)
			}
		}
	}
	for rel, why := range map[string]string{
		"wireguard/private": "looks like a secret", "wg0.priv": "refers to it", "credentials.env": "looks like a secret",
		"restic.env": "looks like a secret", "certs/site.key": "looks like a secret", "README.md": "--include README.md",
		"big.nix": "over 1024 KiB", "secrets.nix": "looks like a secret",
	} {
		if !strings.Contains(src.Skipped[rel], why) {
			t.Errorf("skipped %s: got %q, want it to say %q", rel, src.Skipped[rel], why)
		}
	}
	plan := PlanClone(src)
	for name := range plan.Extra {
		if secretLike.MatchString(name) {
			t.Errorf("the clone would get %s", name)
		}
	}
}

func TestSourceRecord(t *testing.T) {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for name, done := range map[string]string{"web-1": StepCapture, "web-2": StepInfect} {
		rec := &Record{Name: name, Provider: "ssh", Address: "192.0.2.1", Port: 22, Channel: "nixos-24.11", Steps: map[string]*StepRecord{done: {Status: StatusDone}}}
		if err := SaveRecord(ws, rec); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		source     string
		wantRecord bool
		wantErr    string
	}{
		{"web-1", true, ""},
		{"web-2", false, "web-2 has not finished bootstrapping (infect done)"},
		{"db-9", false, ""},
		{"root@198.51.100.4", false, ""},
	}
	for _, tt := range tests {
		rec, err := SourceRecord(ws, tt.source)
		var nr *NotReadyError
		switch {
		case tt.wantErr != "" && (!errors.As(err, &nr) || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: got %v, want a NotReadyError saying %q", tt.source, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || (rec != nil) != tt.wantRecord):
			t.Errorf("%s: got %v, %v, want a record %v", tt.source, rec, err, tt.wantRecord)
		}
	}
}
