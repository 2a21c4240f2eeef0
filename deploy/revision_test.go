package deploy

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"bootstrap/channel"
)

const releaseURL = "https://releases.nixos.org/nixos/24.11/nixos-24.11.40.abc1234"

// Push records what the host runs, never moves it to its channel's nixpkgs
// without --upgrade, and --upgrade moves a host pinned to a release to the
// channel's head.
func TestPushKeepsTheRevision(t *testing.T) {
	nixos2411, _ := channel.Parse("nixos-24.11")
	tests := []struct {
		name         string
		channelRev   string // what root's channel holds before the push
		subscription string
		opts         Options
		wantErr      bool
		wantRev      string // the revision recorded after the push
		wantSub      string // root's subscription after the push
		wantBy       string
	}{
		{"switch", revOld, "https://nixos.org/channels/nixos-24.11", Options{Action: Switch}, false, revOld, "https://nixos.org/channels/nixos-24.11", "push"},
		{"boot", revOld, "https://nixos.org/channels/nixos-24.11", Options{Action: Boot}, false, revOld, "https://nixos.org/channels/nixos-24.11", "push --boot"},
		{"channel updated by hand", revNew, "https://nixos.org/channels/nixos-24.11", Options{Action: Switch}, true, "", "https://nixos.org/channels/nixos-24.11", ""},
		{"channel updated by hand, --upgrade", revNew, "https://nixos.org/channels/nixos-24.11", Options{Action: Switch, Upgrade: true}, false, revNew, "https://nixos.org/channels/nixos-24.11", "push --upgrade"},
		{"pinned", revOld, releaseURL, Options{Action: Switch}, false, revOld, releaseURL, "push"},
		{"pinned, --upgrade", revOld, releaseURL, Options{Action: Switch, Upgrade: true}, false, revNew, "https://nixos.org/channels/nixos-24.11", "push --upgrade"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t, hostEtc)
			h.channelRev, h.headRev, h.subscription = tt.channelRev, revNew, tt.subscription
			tg := target(h)
			tg.Channel = nixos2411
			rep := &recorder{}
			tt.opts.Report = rep
			res, err := Push(context.Background(), tg, tt.opts)
			var moved *ChannelMovedError
			switch {
			case tt.wantErr && !errors.As(err, &moved):
				t.Fatalf("got %v, want a *ChannelMovedError", err)
			case tt.wantErr:
				if len(h.writes) != 0 || h.ran("nixos-rebuild") || h.current != 1 || !strings.Contains(moved.Hint(), "push --upgrade web-1") {
					t.Errorf("a refused push changed the host: writes %q, commands %q, current %d; hint %q", h.writes, h.cmds, h.current, moved.Hint())
				}
				if res.Nixpkgs != nil {
					t.Errorf("got nixpkgs %+v recorded by a refused push", res.Nixpkgs)
				}
			case err != nil:
				t.Fatalf("push: %v\n%s", err, rep)
			case res.Nixpkgs == nil || res.Nixpkgs.Revision != tt.wantRev || res.Nixpkgs.Generation != 2 || res.Nixpkgs.RecordedBy != tt.wantBy:
				t.Errorf("got nixpkgs %+v, want revision %s of generation 2 recorded by %s", res.Nixpkgs, tt.wantRev, tt.wantBy)
			}
			if h.subscription != tt.wantSub {
				t.Errorf("got subscription %s, want %s", h.subscription, tt.wantSub)
			}
			// The subscription changes before nixos-rebuild --upgrade updates it.
			add := slices.IndexFunc(h.cmds, func(c string) bool { return strings.Contains(c, "nix-channel --add") })
			rebuild := slices.IndexFunc(h.cmds, func(c string) bool { return strings.Contains(c, "nixos-rebuild") })
			if add >= 0 && add > rebuild {
				t.Errorf("got commands %q, want the subscription changed before the rebuild", h.cmds)
			}
		})
	}
}

func TestPushUpToDateRecords(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	tg := target(h)
	tg.Files = map[string][]byte{}
	for k, v := range hostEtc {
		tg.Files[k] = []byte(v)
	}
	res, err := Push(context.Background(), tg, Options{Action: Switch})
	if err != nil || !res.UpToDate || res.Nixpkgs == nil || res.Nixpkgs.Revision != revOld {
		t.Errorf("got %+v, %v; want up to date, with the revision recorded", res, err)
	}
}

func TestPushDryRunSaysTheChannelMoved(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	h.channelRev = revNew
	rep := &recorder{}
	res, err := Push(context.Background(), target(h), Options{Action: DryActivate, Report: rep})
	if err != nil || res.Nixpkgs != nil {
		t.Fatalf("got %+v, %v; want a dry run that records nothing", res, err)
	}
	if !strings.Contains(rep.String(), "web-1 note the host runs") || !strings.Contains(rep.String(), "without --upgrade") {
		t.Errorf("got steps\n%s\nwant a note that push refuses to move it", rep)
	}
}

func TestRollbackPutsTheChannelBack(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	h.gens, h.current = []int{1, 2}, 2
	h.revs[2], h.channelRev = revNew, revNew // pushed with --upgrade
	res, err := Rollback(context.Background(), Target{Name: "web-1", Dial: h.dial}, 1, RollbackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.channelRev != revOld || res.Nixpkgs == nil || res.Nixpkgs.Revision != revOld || res.Nixpkgs.ChannelRevision != revOld || res.Nixpkgs.RecordedBy != "rollback" {
		t.Errorf("got channel %s, nixpkgs %+v; want both back on %s, recorded by rollback", h.channelRev, res.Nixpkgs, revOld)
	}
}

// The channel part of the rollback script, in a real shell: root's channels
// profile goes back to its newest generation holding the system's revision.
func TestChannelBackScript(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	system := filepath.Join(dir, "system")
	channels := filepath.Join(dir, "channels")
	write := func(p, data string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	// nix-env -p PROFILE --switch-generation N, as Nix does it.
	write(filepath.Join(bin, "nix-env"), "#!/bin/sh\n[ \"$1\" = -p ] && [ \"$3\" = --switch-generation ] || exit 2\n[ -e \"$2-$4-link\" ] || exit 1\nln -sfn \"$(basename \"$2\")-$4-link\" \"$2\"\n", 0o755)
	for n, rev := range map[string]string{"1": revOld, "2": revNew, "3": revOld, "4": revNew} {
		write(filepath.Join(dir, "store", "env-"+n, "nixos", ".git-revision"), rev, 0o644)
		if err := os.Symlink(filepath.Join(dir, "store", "env-"+n), channels+"-"+n+"-link"); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		current string // the channels profile's generation
		system  string // the system's revision
		want    string // the generation afterwards
		say     string
	}{
		{"back to the newest holding it", "4", revOld, "3", "root's channel back on its generation 3: nixpkgs " + revOld},
		{"already there", "3", revOld, "3", ""},
		{"none holds it", "4", "0123456789012345678901234567890123456789", "4", "no generation of root's channel holds nixpkgs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(channels)
			if err := os.Symlink("channels-"+tt.current+"-link", channels); err != nil {
				t.Fatal(err)
			}
			write(filepath.Join(system, "sw", "bin", "nixos-version"), "#!/bin/sh\necho "+tt.system+"\n", 0o755)
			cmd := exec.Command("sh", "-c", channelBackScript(system, channels))
			cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			got, _ := os.Readlink(channels)
			if got != "channels-"+tt.want+"-link" || !strings.Contains(string(out), tt.say) || (tt.say == "" && len(out) != 0) {
				t.Errorf("got %s and %q, want generation %s and %q", got, out, tt.want, tt.say)
			}
		})
	}
}
