package deploy

import (
	"context"
	"fmt"
	"math"
	"time"
)

// arm writes the rollback script and starts its timer.
func (p *pusher) arm(ctx context.Context) error {
	t := &confirmTimer{ID: p.id, Host: p.t.Name, Gen: p.res.Before, After: p.o.ConfirmTimeout}
	if t.Gen == 0 {
		return fmt.Errorf("cannot arm a rollback on %s: it has no current system generation", p.t.Name)
	}
	p.armedAt = time.Now()
	if err := p.r.WriteFile(ctx, t.scriptPath(), []byte(t.script(p.armedAt)), 0o700); err != nil {
		return fmt.Errorf("arm the rollback timer on %s: %w", p.t.Name, err)
	}
	if err := p.run(ctx, t.armCmd()); err != nil {
		return fmt.Errorf("arm the rollback timer on %s: %w", p.t.Name, err)
	}
	p.timer = t
	return nil
}

// confirm checks after a switch that the host answers a fresh connection
// with the deploy key; with a timer armed, that connection disarms it.
func (p *pusher) confirm(ctx context.Context) error {
	// Which generation the switch made, asked on the old connection (it
	// usually survives a broken sshd; bounded in case it hangs).
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if gens, err := ListGenerations(lctx, p.r); err == nil {
		p.res.After = Current(gens)
	}
	cancel()
	timeout := p.o.ReconnectTimeout
	deadline := time.Now().Add(timeout)
	if p.timer != nil {
		timeout = p.o.ConfirmTimeout
		deadline = p.armedAt.Add(timeout)
	}
	p.step("confirm", "new connection with the deploy key (within %s)", time.Until(deadline).Round(time.Second))
	fresh, err := p.dial(ctx, deadline)
	if err != nil {
		if ctx.Err() != nil {
			if p.timer != nil {
				return fmt.Errorf("interrupted before %s confirmed the switch: it rolls back to generation %d by itself: %w", p.t.Name, p.res.Before, ctx.Err())
			}
			return fmt.Errorf("interrupted before %s answered a new connection after the switch: %w", p.t.Name, ctx.Err())
		}
		if p.timer != nil {
			return p.awaitRollback(ctx, err)
		}
		return &ConfirmError{Host: p.t.Name, Generation: p.res.After, Previous: p.res.Before, Timeout: timeout, Err: err}
	}
	p.r = fresh
	if p.timer != nil {
		out, err := p.output(ctx, p.timer.confirmCmd())
		if err != nil {
			return fmt.Errorf("disarm the rollback timer on %s: %w (it rolls back to generation %d unless disarmed)", p.t.Name, err, p.res.Before)
		}
		if out == tooLate {
			return p.awaitRollback(ctx, nil)
		}
		p.timer = nil
		p.step("confirm", "answered; rollback timer disarmed")
	}
	return p.finish(ctx)
}

// awaitRollback waits for the armed timer's rollback: for the host to
// answer again and the rollback to finish, then reports.
func (p *pusher) awaitRollback(ctx context.Context, dialErr error) error {
	ce := &ConfirmError{Host: p.t.Name, Generation: p.res.After, Previous: p.res.Before, Timeout: p.o.ConfirmTimeout, Armed: true, Err: dialErr}
	p.step("confirm", "no answer within %s: the host rolls back to generation %d by itself; waiting for it", p.o.ConfirmTimeout, p.res.Before)
	// The timer fires at armedAt+ConfirmTimeout; the rollback then restarts
	// what the new configuration broke.
	deadline := p.armedAt.Add(p.o.ConfirmTimeout).Add(p.o.ReconnectTimeout)
	if time.Until(deadline) < p.o.ReconnectTimeout {
		deadline = time.Now().Add(p.o.ReconnectTimeout)
	}
	if _, err := p.dial(ctx, deadline); err != nil {
		return ce
	}
	if rc, err := p.output(ctx, p.timer.waitRollbackCmd(p.o.ReconnectTimeout)); err != nil || rc == "pending" {
		return ce
	}
	gens, err := ListGenerations(ctx, p.r)
	// A connection lost during the switch itself never read which
	// generation it made: the newest one, if newer than before the push.
	if err == nil && ce.Generation == p.res.Before && Newest(gens) > p.newest {
		ce.Generation = Newest(gens)
	}
	if err == nil && Current(gens) == p.res.Before {
		ce.RolledBack = true
		p.res.After = p.res.Before
		p.step("rollback", "back on generation %d with its %s", p.res.Before, NixOSDir)
	}
	return ce
}

// confirmTimer is the rollback armed on the host before a switch: unless
// push confirms a fresh connection within After, systemd runs the script,
// which switches back to generation Gen and its /etc/nixos.
type confirmTimer struct {
	ID    string
	Host  string
	Gen   int
	After time.Duration
}

func (c confirmTimer) unit() string       { return "bootstrap-confirm-" + c.ID }
func (c confirmTimer) scriptPath() string { return confirmDir + "/" + c.ID + ".sh" }
func (c confirmTimer) decided() string    { return runDir + "/" + c.ID + ".decided" }
func (c confirmTimer) rcFile() string     { return runDir + "/" + c.ID + ".rollback-rc" }

// script is run by the timer. Whoever creates the decided directory first,
// this script or push confirming, decides; the script then waits for the
// switch job to end (a slow activation is not cut) and rolls back.
func (c confirmTimer) script(now time.Time) string {
	job := runDir + "/" + c.ID
	return fmt.Sprintf(`#!/bin/sh
# Armed by bootstrap push on %[1]s at %[2]s: unless the push confirms a new SSH
# connection within %[3]s, switch back to generation %[4]d and its /etc/nixos.
mkdir -p %[5]s
mkdir %[6]s 2>/dev/null || exit 0
echo "bootstrap: the push was not confirmed within %[3]s: rolling back to generation %[4]d"
pid=$(cat %[7]s.pid 2>/dev/null)
while [ ! -e %[7]s.rc ] && [ -n "$pid" ] && kill -0 -- "-$pid" 2>/dev/null; do sleep 1; done
(
%[8]s
)
rc=$?
echo $rc > %[9]s
rm -f -- %[10]s
exit $rc
`, c.Host, now.UTC().Format(time.RFC3339), c.After, c.Gen, runDir, c.decided(), job, rollbackScript(c.Gen, "switch"), c.rcFile(), c.scriptPath())
}

// armCmd starts the transient timer (systemd-run), with the login PATH so
// the script finds nix-env; timer and service are unloaded once done.
func (c confirmTimer) armCmd() string {
	secs := int(math.Ceil(c.After.Seconds()))
	return fmt.Sprintf(`mkdir -p %s && systemd-run --quiet --collect --unit=%s --description=%s --on-active=%ds --timer-property=AccuracySec=1s --timer-property=RemainAfterElapse=no --setenv=PATH="$PATH" /bin/sh %s`,
		runDir, c.unit(), quote(fmt.Sprintf("bootstrap push: roll back to generation %d unless confirmed", c.Gen)), secs, c.scriptPath())
}

// Outcomes of confirmCmd.
const (
	confirmed = "confirmed"
	tooLate   = "too-late"
)

// confirmCmd decides for the push: it stops the timer and prints
// "confirmed", or prints "too-late" when the timer's rollback already began.
func (c confirmTimer) confirmCmd() string {
	return fmt.Sprintf(`mkdir -p %[1]s; if mkdir %[2]s 2>/dev/null; then systemctl stop %[3]s.timer 2>/dev/null; rm -f -- %[4]s; echo %[5]s; else echo %[6]s; fi`,
		runDir, c.decided(), c.unit(), c.scriptPath(), confirmed, tooLate)
}

// waitRollbackCmd waits up to limit for the timer's rollback to finish and
// prints its exit status, or "pending".
func (c confirmTimer) waitRollbackCmd(limit time.Duration) string {
	return fmt.Sprintf(`i=0; while [ ! -e %[1]s ] && [ $i -lt %[2]d ]; do sleep 1; i=$((i+1)); done; cat %[1]s 2>/dev/null || echo pending`,
		c.rcFile(), int(limit.Seconds()))
}
