package bootstrap

import (
	"context"
	"errors"
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
		"certs/site.key":             []byte("-----BEGIN PRIVATE KEY-----"),
		"networking.nix":             []byte("{ ... }: { networking.interfaces.eth0.ipv4.addresses = [ prod ]; }"),
	}}
	foreign := &Source{Files: map[string][]byte{
		"configuration.nix":          []byte("{ ... }: { imports = [ ./hardware-configuration.nix ]; }"),
		"hardware-configuration.nix": []byte("old hardware"),
		"networking.nix":             []byte("{ ... }: { networking.interfaces.eth0.ipv4.addresses = [ prod ]; }"),
	}}
	tests := []struct {
		name        string
		src         *Source
		withSecrets bool
		hostNix     string
		extra       []string
		skipped     []string
	}{
		{"ours", ours, false, "{ ... }: { }", []string{"modules/web.nix"}, []string{"bootstrap.nix", "certs/site.key", "configuration.nix", "hardware-configuration.nix", "networking.nix"}},
		{"ours with secrets", ours, true, "{ ... }: { }", []string{"certs/site.key", "modules/web.nix"}, []string{"bootstrap.nix", "configuration.nix", "hardware-configuration.nix", "networking.nix"}},
		// A foreign configuration imports its networking.nix: a placeholder keeps it evaluating.
		{"foreign", foreign, false, "{ ... }: { imports = [ ./hardware-configuration.nix ]; }", []string{"hardware-configuration.nix", "networking.nix"}, []string{"configuration.nix", "hardware-configuration.nix", "networking.nix"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanClone(tt.src, tt.withSecrets)
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

// fakeSource answers ReadSource's script and file reads.
type fakeSource struct {
	out   string
	files map[string]string
}

func (f fakeSource) Output(context.Context, string) (string, error) { return f.out, nil }
func (f fakeSource) ReadFile(_ context.Context, p string) ([]byte, error) {
	if d, ok := f.files[p]; ok {
		return []byte(d), nil
	}
	return nil, errors.New("no such file")
}

func TestReadSource(t *testing.T) {
	good := "os_id=nixos\nnixos_version=24.11.1 (Vicuna)\nchannel=nixos https://nixos.org/channels/nixos-24.11\nfile=/etc/nixos/host.nix\nfile=/etc/nixos/bootstrap.nix\n"
	files := map[string]string{
		"/etc/nixos/host.nix":      "{ ... }: { }",
		"/etc/nixos/bootstrap.nix": templates.Marker + "\n  system.stateVersion = lib.mkDefault \"20.09\";\n",
	}
	src, err := ReadSource(context.Background(), fakeSource{good, files}, "web-1")
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
		_, err := ReadSource(context.Background(), fakeSource{out, nil}, "x")
		var pe *PreflightError
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want a refusal", name, err)
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
