package bootstrap

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"bootstrap/provider"
	"bootstrap/workspace"
)

const (
	revA = "abc1234def5678abc1234def5678abc1234def56"
	revB = "fed9876cba5432fed9876cba5432fed9876cba54"
)

func TestParseNixpkgs(t *testing.T) {
	tests := []struct {
		name string
		out  string
		want Nixpkgs
	}{
		{"pinned clone", `version=24.11.719.abc1234 (Vicuna)
revision=` + revA + `
boot_version=24.11.719.abc1234 (Vicuna)
boot_revision=` + revA + `
profile=system-2-link
channel_version=24.11
channel_suffix=.719.abc1234
channel_revision=` + revA + `
channel=nixos https://releases.nixos.org/nixos/24.11/nixos-24.11.719.abc1234
`, Nixpkgs{Revision: revA, Release: "nixos-24.11.719.abc1234", Generation: 2, Subscription: "https://releases.nixos.org/nixos/24.11/nixos-24.11.719.abc1234",
			ChannelRevision: revA, ChannelRelease: "nixos-24.11.719.abc1234"}},
		{"pushed with --boot, channel updated", `version=24.11.719.abc1234 (Vicuna)
revision=` + revA + `
boot_version=24.11.742.fed9876 (Vicuna)
boot_revision=` + revB + `
profile=system-13-link
channel_version=24.11
channel_suffix=.742.fed9876
channel_revision=` + revB + `
channel=home-manager https://example.org/hm
channel=nixos https://nixos.org/channels/nixos-24.11
`, Nixpkgs{Revision: revA, Release: "nixos-24.11.719.abc1234", BootRevision: revB, BootRelease: "nixos-24.11.742.fed9876", Generation: 13,
			Subscription: "https://nixos.org/channels/nixos-24.11", ChannelRevision: revB, ChannelRelease: "nixos-24.11.742.fed9876"}},
		{"nothing readable", "version=\nrevision=nixos-version: revision unknown\nprofile=\n", Nixpkgs{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseNixpkgs(tt.out); *got != tt.want {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestNixpkgsChannelMovedAndString(t *testing.T) {
	tests := []struct {
		n     *Nixpkgs
		moved bool
		str   string
	}{
		{nil, false, "an unknown nixpkgs"},
		{&Nixpkgs{Revision: revA, Release: "nixos-24.11.719.abc1234", ChannelRevision: revA}, false, "nixos-24.11.719.abc1234 (nixpkgs abc1234def56)"},
		{&Nixpkgs{Revision: revA, ChannelRevision: revB, ChannelRelease: "nixos-24.11.742.fed9876"}, true,
			"nixpkgs abc1234def56; its channel holds nixos-24.11.742.fed9876 (nixpkgs fed9876cba54)"},
		{&Nixpkgs{Revision: revA, BootRevision: revB, ChannelRevision: revB}, false, "nixpkgs abc1234def56, nixpkgs fed9876cba54 from the next boot"},
		{&Nixpkgs{ChannelRevision: revB}, false, "an unknown nixpkgs revision"},
	}
	for _, tt := range tests {
		if tt.n != nil {
			if got := tt.n.ChannelMoved(); got != tt.moved {
				t.Errorf("%+v: got ChannelMoved %v, want %v", *tt.n, got, tt.moved)
			}
		}
		if got := tt.n.String(); got != tt.str {
			t.Errorf("got %q, want %q", got, tt.str)
		}
	}
}

func TestSourcePin(t *testing.T) {
	src := func(channel, version string, n *Nixpkgs) *Source {
		return &Source{Label: "web-1", Channel: mustChannel(t, channel), NixOSVersion: version, Nixpkgs: n}
	}
	tests := []struct {
		name    string
		src     *Source
		wantURL string // "" means refused
	}{
		{"release", src("nixos-24.11", "24.11.719.abc1234 (Vicuna)", &Nixpkgs{Revision: revA, Release: "nixos-24.11.719.abc1234"}),
			"https://releases.nixos.org/nixos/24.11/nixos-24.11.719.abc1234"},
		{"small", src("nixos-24.11-small", "24.11.719.abc1234 (Vicuna)", &Nixpkgs{Revision: revA, Release: "nixos-24.11.719.abc1234"}),
			"https://releases.nixos.org/nixos/24.11-small/nixos-24.11.719.abc1234"},
		{"unstable", src("nixos-unstable", "25.05pre712345.abc1234 (Warbler)", &Nixpkgs{Revision: revA, Release: "nixos-25.05pre712345.abc1234"}),
			"https://releases.nixos.org/nixos/unstable/nixos-25.05pre712345.abc1234"},
		{"no revision", src("nixos-24.11", "24.11.719.abc1234 (Vicuna)", &Nixpkgs{Release: "nixos-24.11.719.abc1234"}), ""},
		{"not read", src("nixos-24.11", "", nil), ""},
		{"built from git", src("nixos-24.11", "24.11pre-git (Vicuna)", &Nixpkgs{Revision: revA}), ""},
		{"channel changed without a rebuild", src("nixos-24.11", "24.05.719.abc1234 (Uakari)", &Nixpkgs{Revision: revA, Release: "nixos-24.05.719.abc1234"}), ""},
		{"release of another revision", src("nixos-24.11", "24.11.719.abc1234 (Vicuna)", &Nixpkgs{Revision: revB, Release: "nixos-24.11.719.abc1234"}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.src.Pin(true)
			var pe *PreflightError
			switch {
			case tt.wantURL == "" && !errors.As(err, &pe):
				t.Fatalf("got %+v, %v; want a *PreflightError", p, err)
			case tt.wantURL == "" && !strings.Contains(pe.Hint, "--channel-head"):
				t.Errorf("got hint %q, want --channel-head named", pe.Hint)
			case tt.wantURL != "" && err != nil:
				t.Fatalf("got %v, want a pin", err)
			case tt.wantURL != "" && (p.URL != tt.wantURL || p.Revision != tt.src.Nixpkgs.Revision || p.Release != tt.src.Nixpkgs.Release || !p.FollowChannel):
				t.Errorf("got %+v, want %s of revision %s, following the channel", *p, tt.wantURL, tt.src.Nixpkgs.Revision)
			}
		})
	}
}

func TestSameRevision(t *testing.T) {
	src := &Source{Label: "web-1", Nixpkgs: &Nixpkgs{Revision: revA}}
	tests := []struct {
		name string
		src  *Source
		rec  *Record
		same bool
	}{
		{"same", src, &Record{Name: "web-2", Nixpkgs: &Nixpkgs{Revision: revA}}, true},
		{"other", src, &Record{Name: "web-2", Nixpkgs: &Nixpkgs{Revision: revB}}, false},
		{"clone not read", src, &Record{Name: "web-2"}, false},
		{"both unknown", &Source{Label: "web-1", Nixpkgs: &Nixpkgs{}}, &Record{Name: "web-2", Nixpkgs: &Nixpkgs{}}, false},
	}
	for _, tt := range tests {
		err := tt.src.SameRevision(tt.rec)
		var re *RevisionError
		if got := err == nil; got != tt.same || (!tt.same && !errors.As(err, &re)) {
			t.Errorf("%s: got %v, want same %v", tt.name, err, tt.same)
		}
	}
}

func TestPinScript(t *testing.T) {
	p, err := NewPin(mustChannel(t, "nixos-24.11"), "nixos-24.11.719.abc1234", revA, true)
	if err != nil {
		t.Fatal(err)
	}
	sh := "dash"
	if _, err := exec.LookPath(sh); err != nil {
		sh = "sh"
	}
	tests := []struct {
		name  string
		nixos bool
		want  []string // in this order
	}{
		{"before the reboot", false, []string{"NIXOS_CONFIG=/etc/nixos/configuration.nix", "PATH=/nix/var/nix/profiles/system/sw/bin:", "flock 9",
			"nix-channel --add https://releases.nixos.org/nixos/24.11/nixos-24.11.719.abc1234 nixos", "nix-channel --update nixos",
			`nix-env --set -I nixpkgs="$(realpath /root/.nix-defexpr/channels/nixos)" -f '<nixpkgs/nixos>' -p /nix/var/nix/profiles/system -A system`,
			"/nix/var/nix/profiles/system/bin/switch-to-configuration boot", "nix-channel --add https://nixos.org/channels/nixos-24.11 nixos", "pinned_revision="}},
		{"on NixOS already", true, []string{"flock 9", "nix-channel --add https://releases.nixos.org/nixos/24.11/nixos-24.11.719.abc1234 nixos",
			"nix-channel --update nixos", "nixos-rebuild switch", "nix-channel --add https://nixos.org/channels/nixos-24.11 nixos", "pinned_revision="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := pinScript(p, mustChannel(t, "nixos-24.11"), tt.nixos)
			at := 0
			for _, w := range tt.want {
				i := strings.Index(s[at:], w)
				if i < 0 {
					t.Fatalf("the script lacks %q after byte %d:\n%s", w, at, s)
				}
				at += i + len(w)
			}
			if tt.nixos && strings.Contains(s, "switch-to-configuration boot") {
				t.Errorf("on NixOS the script activates for the boot only:\n%s", s)
			}
			if out, err := exec.Command(sh, "-n", "-c", s).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", sh, err, out)
			}
		})
	}
	p.FollowChannel = false
	if s := pinScript(p, mustChannel(t, "nixos-24.11"), false); strings.Contains(s, "channels/nixos-24.11") {
		t.Errorf("without FollowChannel the script subscribes to the channel again:\n%s", s)
	}
}

func TestRecordForPin(t *testing.T) {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pin, _ := NewPin(mustChannel(t, "nixos-24.11"), "nixos-24.11.719.abc1234", revA, false)
	other, _ := NewPin(mustChannel(t, "nixos-24.11"), "nixos-24.11.742.fed9876", revB, false)
	opts := Options{Name: "web-2", Provider: "ssh", Host: "203.0.113.9", Port: 22, Channel: mustChannel(t, "nixos-24.11")}

	// A first run without a pin, then a rerun asking for one before the reboot: adopted.
	rec, _, err := recordFor(ws, opts)
	if err != nil || rec.Pin != nil {
		t.Fatalf("got %+v, %v; want a record without a pin", rec, err)
	}
	rec.mark(StepInfect, StatusDone)
	if err := SaveRecord(ws, rec); err != nil {
		t.Fatal(err)
	}
	withPin := opts
	withPin.Pin = pin
	if rec, _, err = recordFor(ws, withPin); err != nil || rec.Pin == nil || *rec.Pin != *pin {
		t.Fatalf("got %+v, %v; want the pin adopted before the reboot", rec, err)
	}
	if err := SaveRecord(ws, rec); err != nil {
		t.Fatal(err)
	}
	// A rerun without it keeps the recorded one; another one is a conflict.
	if rec, _, err = recordFor(ws, opts); err != nil || rec.Pin == nil || *rec.Pin != *pin {
		t.Errorf("got %+v, %v; want the recorded pin", rec, err)
	}
	withOther := opts
	withOther.Pin = other
	var ce *provider.ConflictError
	if _, _, err = recordFor(ws, withOther); !errors.As(err, &ce) || ce.Field != "release" {
		t.Errorf("got %v, want a conflict on the release", err)
	}
}

// fakeRunner answers one command with out.
type fakeRunner struct {
	out string
	got string
}

func (f *fakeRunner) Run(_ context.Context, cmd string, stdout, _ io.Writer) error {
	f.got = cmd
	_, err := io.WriteString(stdout, f.out)
	return err
}

func TestReadNixpkgs(t *testing.T) {
	r := &fakeRunner{out: "version=24.11.719.abc1234 (Vicuna)\nrevision=" + revA + "\n"}
	n, err := ReadNixpkgs(context.Background(), r, "push")
	if err != nil {
		t.Fatal(err)
	}
	if n.Revision != revA || n.Release != "nixos-24.11.719.abc1234" || n.RecordedBy != "push" || n.RecordedAt.IsZero() {
		t.Errorf("got %+v, want the revision, the release and who recorded it when", *n)
	}
	if r.got != nixpkgsScript {
		t.Errorf("ran %q, want the nixpkgs script", r.got)
	}
}
