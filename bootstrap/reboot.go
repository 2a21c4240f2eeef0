package bootstrap

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"bootstrap/channel"
	"bootstrap/infect"
	"bootstrap/remote"
)

// rebootCommand returns at once and reboots a second later, so the SSH
// session ends cleanly instead of being cut by the shutdown.
const rebootCommand = `nohup sh -c 'sleep 1; systemctl reboot || reboot' >/dev/null 2>&1 </dev/null &`

// verifyScript reads what proves the host now runs NixOS on our channel.
const verifyScript = `exec 2>&1
. /etc/os-release; echo "os_id=$ID"; echo "os_version=$VERSION_ID"
echo "boot_id=$(cat /proc/sys/kernel/random/boot_id)"
echo "nixos_version=$(nixos-version)"
nix-channel --list | sed 's/^/channel=/'
exit 0
`

// RebootError is a host that did not come back in time.
type RebootError struct {
	Address string
	Waited  time.Duration
	Err     error
}

func (e *RebootError) Error() string {
	return fmt.Sprintf("%s did not come back after the reboot within %s: %v", e.Address, e.Waited.Round(time.Second), e.Err)
}
func (e *RebootError) Unwrap() error { return e.Err }

// VerifyError is a host that came back but not as the NixOS we asked for.
type VerifyError struct{ Reason string }

func (e *VerifyError) Error() string { return e.Reason }

// rebootStep reboots into NixOS and waits, bounded and cancellable, until SSH
// answers with the same pinned host key, the deploy key and a new boot id.
type rebootStep struct{}

func (rebootStep) Name() string { return StepReboot }

func (rebootStep) starting(s *State) string {
	if s.facts != nil && s.facts.NixOS() {
		return ""
	}
	return fmt.Sprintf("rebooting %s into NixOS, waiting up to %s", s.Rec.Address, s.Opts.RebootTimeout)
}

func (rebootStep) Run(ctx context.Context, s *State) error {
	if !s.facts.NixOS() {
		if s.facts.BootID != s.Rec.BootIDBefore && s.Rec.RebootRequested {
			// Rebooted, yet still not NixOS: the infect did not take.
			return &VerifyError{Reason: fmt.Sprintf("%s rebooted but still runs %s, not NixOS", s.Rec.Address, s.Rec.OS)}
		}
		fmt.Fprintf(s.Log, "$ %s\n", rebootCommand)
		rebootStart := time.Now()
		if err := s.client.Client.Run(ctx, rebootCommand, s.Log, s.Log); err != nil {
			return fmt.Errorf("reboot %s: %w", s.Rec.Address, err)
		}
		s.Rec.RebootRequested = true
		if err := s.Save(); err != nil {
			return err
		}
		// Wait for the old connection to drop so the first new handshake
		// meets the new system instead of the old one shutting down.
		waitClosed(ctx, s.client.Client, 2*time.Minute)
		s.client.Close()
		s.client = nil

		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, s.Opts.RebootTimeout)
		defer cancel()
		cfg := s.dialConfig(true)
		// The old system may still answer while it shuts down, and refuse
		// the deploy key: that refusal is not final here.
		cfg.AuthAttempts = 3
		c, id, err := infect.WaitReboot(wctx, func(ctx context.Context) (*remote.Client, error) {
			c, err := remote.Dial(ctx, cfg)
			if err == nil {
				s.clock.handshake()
			}
			return c, err
		}, s.Rec.BootIDBefore)
		// The reboot's share ends here: the checks below are remote
		// commands, timed as such (counting them twice made the tool's own
		// overhead come out negative).
		s.clock.add(&s.clock.reboot, rebootStart)
		if err != nil {
			if ctx.Err() == nil && wctx.Err() != nil {
				return &RebootError{Address: s.Rec.Address, Waited: time.Since(start), Err: err}
			}
			return err
		}
		s.client = &conn{Client: c, clock: &s.clock}
		s.Rec.BootIDAfter = id
	}
	if err := verifyNixOS(ctx, s); err != nil {
		return err
	}
	s.Note("boot id %s -> %s, %s, channel %s", short(s.Rec.BootIDBefore), short(s.Rec.BootIDAfter), s.Rec.Nixpkgs, s.subscription())
	return nil
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// waitClosed returns when the connection has dropped, max has passed or ctx ended.
func waitClosed(ctx context.Context, c *remote.Client, max time.Duration) {
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-c.Done():
	case <-t.C:
	case <-ctx.Done():
	}
}

// verifyNixOS checks os-release and the root channel on the current connection.
func verifyNixOS(ctx context.Context, s *State) error {
	out, err := s.run(ctx, verifyScript)
	if err != nil {
		return fmt.Errorf("verify NixOS on %s: %w", s.Rec.Address, err)
	}
	var osID, bootID string
	var channels []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "os_id":
			osID = v
		case "boot_id":
			bootID = v
		case "nixos_version":
			s.Rec.NixOSVersion = v
		case "channel":
			channels = append(channels, v)
		}
	}
	if osID != "nixos" {
		return &VerifyError{Reason: fmt.Sprintf("%s came back running %q, not NixOS", s.Rec.Address, osID)}
	}
	if s.Rec.BootIDAfter == "" {
		s.Rec.BootIDAfter = bootID
	}
	np, err := ReadNixpkgs(ctx, s.client, "bootstrap")
	if err != nil {
		return fmt.Errorf("verify NixOS on %s: %w", s.Rec.Address, err)
	}
	s.Rec.Nixpkgs = np
	want := s.subscription()
	if !hasSubscription(channels, want) {
		return &VerifyError{Reason: fmt.Sprintf("root channel on %s is %q, want nixos %s", s.Rec.Address, strings.Join(channels, "; "), want.URL())}
	}
	if p := s.Rec.Pin; p != nil && np.Revision != p.Revision {
		return &VerifyError{Reason: fmt.Sprintf("%s runs %s, not %s (nixpkgs %s) it was pinned to", s.Rec.Address, np, p.Release, ShortRevision(p.Revision))}
	}
	return nil
}

// hasSubscription reports whether nix-channel --list lines name want as "nixos".
func hasSubscription(lines []string, want channel.Subscription) bool {
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "nixos" && strings.TrimRight(f[1], "/") == want.URL() {
			return true
		}
	}
	return false
}
