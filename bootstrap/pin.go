package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"bootstrap/channel"
	"bootstrap/remote"
)

// Pin is the nixpkgs release a host is built from instead of its channel's
// head: a clone's is its source's, so staging runs what production runs.
type Pin struct {
	Release  string `json:"release"`  // nixos-24.11.719.abc1234
	URL      string `json:"url"`      // where nixos.org keeps it (releases.nixos.org)
	Revision string `json:"revision"` // the nixpkgs revision it holds
	// FollowChannel subscribes root to the moving channel again once the
	// system is built: the host runs the release until its next upgrade.
	// Without it root stays subscribed to the release.
	FollowChannel bool `json:"follow_channel,omitempty"`
}

// NewPin pins to the release named release of ch, which must hold revision.
func NewPin(ch channel.Channel, release, revision string, followChannel bool) (*Pin, error) {
	if !revisionRE.MatchString(revision) {
		return nil, fmt.Errorf("nixpkgs revision %q is not 40 hex digits", revision)
	}
	if err := ch.ReleaseOf(release, revision); err != nil {
		return nil, err
	}
	return &Pin{Release: release, URL: ch.ReleaseURL(release), Revision: revision, FollowChannel: followChannel}, nil
}

// subscription is what root's nixos channel follows after the pipeline.
func (s *State) subscription() channel.Subscription {
	sub := channel.Subscription{Channel: s.Opts.Channel}
	if p := s.Rec.Pin; p != nil && !p.FollowChannel {
		sub.Release = p.Release
	}
	return sub
}

// PinError is a pinned release that could not be installed, or that built
// another nixpkgs than the one asked for.
type PinError struct {
	Host    string
	Release string
	Reason  string
}

func (e *PinError) Error() string {
	return fmt.Sprintf("pin %s to %s: %s", e.Host, e.Release, e.Reason)
}

// pinStep makes the host build the pinned release instead of the channel's
// head that nixos-infect installed: root subscribes to the release's
// address, updates its channel and builds the system again, for the boot
// into NixOS. Before the reboot (on the still-Debian host) it does what the
// script does (l.392-396, 427): nix-env --set of the system profile, then
// switch-to-configuration boot, with the tools of the system the infect
// built. A host that rebooted into NixOS before the pin ran (an interrupted
// run, a reboot from the provider) gets nixos-rebuild switch instead. The
// script is idempotent and takes a lock, so a rerun after an interruption
// runs it again from the start, after any copy still running on the host.
type pinStep struct{}

func (pinStep) Name() string { return StepPin }

func (pinStep) starting(s *State) string {
	return fmt.Sprintf("building %s (nixpkgs %s) instead of the channel's head", s.Rec.Pin.Release, ShortRevision(s.Rec.Pin.Revision))
}

func (pinStep) Run(ctx context.Context, s *State) error {
	p := s.Rec.Pin
	nixos := s.facts != nil && s.facts.NixOS()
	script := pinScript(p, s.Opts.Channel, nixos)
	fmt.Fprintf(s.Log, "$ %s\n", script)
	var out bytes.Buffer
	w := io.MultiWriter(s.Log, &out)
	if err := s.client.Run(ctx, "sh -c "+remote.Quote(script), w, w); err != nil {
		var exit *remote.ExitError
		if errors.As(err, &exit) {
			return &PinError{Host: s.Rec.Name, Release: p.Release, Reason: fmt.Sprintf("exit status %d: %s", exit.Status, lastLines(out.String(), 5))}
		}
		return err
	}
	got := ""
	for _, l := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(l, "pinned_revision="); ok {
			got = strings.TrimSpace(v)
		}
	}
	if got != p.Revision {
		return &PinError{Host: s.Rec.Name, Release: p.Release, Reason: fmt.Sprintf("the system built from it is of nixpkgs %q, want %s", got, p.Revision)}
	}
	when := "for the boot into NixOS"
	if nixos {
		when = "and switched to (the host already ran NixOS)"
	}
	follows := "root follows the release"
	if p.FollowChannel {
		follows = "root follows " + s.Opts.Channel.String() + " again"
	}
	s.Note("%s (nixpkgs %s) built %s; %s", p.Release, ShortRevision(p.Revision), when, follows)
	return nil
}

// pinScript is the pin step's remote script, run as root. Before the
// reboot the tools are those of the system nixos-infect built (the script
// deleted the installer's profile); NIXOS_CONFIG is set as the script sets
// it, for <nixpkgs/nixos>.
func pinScript(p *Pin, ch channel.Channel, nixos bool) string {
	var b strings.Builder
	b.WriteString("set -e\nexport HOME=/root NIXOS_CONFIG=/etc/nixos/configuration.nix\n")
	b.WriteString("[ -f /etc/ssl/certs/ca-certificates.crt ] && export NIX_SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt\n")
	if !nixos {
		b.WriteString("export PATH=" + SystemProfile + "/sw/bin:$PATH\n")
	}
	b.WriteString("mkdir -p /var/lib/bootstrap\nexec 9>/var/lib/bootstrap/pin.lock\nflock 9\n")
	fmt.Fprintf(&b, "nix-channel --add %s nixos\nnix-channel --update nixos\n", remote.Quote(p.URL))
	if nixos {
		b.WriteString("nixos-rebuild switch\n")
	} else {
		fmt.Fprintf(&b, "nix-env --set -I nixpkgs=\"$(realpath /root/.nix-defexpr/channels/nixos)\" -f '<nixpkgs/nixos>' -p %s -A system\n", SystemProfile)
		fmt.Fprintf(&b, "%s/bin/switch-to-configuration boot\n", SystemProfile)
	}
	if p.FollowChannel {
		fmt.Fprintf(&b, "nix-channel --add %s nixos\n", remote.Quote(ch.URL()))
	}
	fmt.Fprintf(&b, "echo \"pinned_revision=$(%s/sw/bin/nixos-version --revision)\"\n", SystemProfile)
	return b.String()
}

// lastLines is the last n non-empty lines of out, joined by "; ".
func lastLines(out string, n int) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return strings.Join(lines[max(0, len(lines)-n):], "; ")
}
