package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"bootstrap/remote"
)

// rebuild runs nixos-rebuild. An armed switch builds first, so a failing
// build never arms anything and the timer only has to cover the activation.
func (p *pusher) rebuild(ctx context.Context) error {
	if p.o.Action == Switch && p.o.ConfirmTimeout > 0 {
		cmd := "mkdir -p /var/lib/bootstrap && cd /var/lib/bootstrap && " + rebuildArgs(build, p.o.Upgrade)
		p.step("build", "%s, output in the log", rebuildArgs(build, p.o.Upgrade))
		if err := p.job(ctx, p.id+"-build", cmd, rebuildArgs(build, p.o.Upgrade)); err != nil {
			return err
		}
		if err := p.arm(ctx); err != nil {
			return p.withPutBack(ctx, err)
		}
		cmd = rebuildArgs(Switch, false)
		p.step("switch", "%s; rolls back by itself unless confirmed within %s", cmd, p.o.ConfirmTimeout)
		if err := p.job(ctx, p.id, cmd, cmd); err != nil {
			return err
		}
		return p.confirm(ctx)
	}
	cmd := rebuildArgs(p.o.Action, p.o.Upgrade)
	p.step(string(p.o.Action), "%s, output in the log", cmd)
	if err := p.job(ctx, p.id, cmd, cmd); err != nil {
		return err
	}
	if p.o.Action == Switch {
		return p.confirm(ctx)
	}
	return p.finish(ctx)
}

// job runs cmd as job id with its output in the log. It returns nil when
// the command succeeded (also when the connection dropped and a new one
// found it succeeded); every other outcome has been handled: the host was
// put back, or the armed timer takes over, and the error says so.
func (p *pusher) job(ctx context.Context, id, cmd, what string) error {
	tail := &tailBuffer{max: 15}
	w := io.MultiWriter(p.t.Log, tail)
	p.logf("$ %s\n", cmd)
	start := time.Now()
	runErr := p.r.Run(ctx, jobCmd(id, cmd), w, w)
	p.tail = tail.String()
	var exit *remote.ExitError
	switch {
	case runErr == nil:
		p.logf("# %s done in %s\n", what, time.Since(start).Round(time.Millisecond))
		return nil
	case ctx.Err() != nil:
		return p.interrupted(ctx, id, what)
	case errors.As(runErr, &exit):
		return p.failed(ctx, what, exit.Status)
	case errors.Is(runErr, remote.ErrConnectionLost):
		p.step(string(p.o.Action), "connection lost during %s; reconnecting", what)
		deadline := time.Now().Add(p.o.ReconnectTimeout)
		if p.timer != nil {
			deadline = p.armedAt.Add(p.o.ConfirmTimeout)
		}
		fresh, err := p.dial(ctx, deadline)
		switch {
		case err == nil:
		case p.timer != nil:
			return p.awaitRollback(ctx, err)
		case id == p.id && p.o.Action == Switch:
			return &ConfirmError{Host: p.t.Name, Previous: p.res.Before, Timeout: p.o.ReconnectTimeout, Err: err}
		default:
			return fmt.Errorf("lost the connection to %s during %s and no new one succeeded within %s (%w): %s holds the new configuration; once the host answers, check bootstrap generations %s and push again",
				p.t.Name, what, p.o.ReconnectTimeout, err, NixOSDir, p.t.Name)
		}
		p.r = fresh
		rc, err := p.output(ctx, waitJobCmd(id))
		if err != nil {
			return p.withPutBack(ctx, fmt.Errorf("wait for %s on %s: %w", what, p.t.Name, err))
		}
		if rc == "0" {
			return nil
		}
		status := -1
		fmt.Sscan(rc, &status)
		return p.failed(ctx, what, status)
	default:
		return p.withPutBack(ctx, fmt.Errorf("%s on %s: %w", what, p.t.Name, runErr))
	}
}

// failed puts the host back after nixos-rebuild exited with status.
func (p *pusher) failed(ctx context.Context, what string, status int) error {
	p.step("failed", "%s exited with status %d; putting the host back", what, status)
	be := &BuildError{Host: p.t.Name, Command: what, Status: status, Tail: p.tail, Before: p.res.Before}
	be.Activated, be.PutBackErr = p.putBack(ctx)
	p.res.After = p.res.Before
	if be.PutBackErr != nil {
		p.res.After = 0
	}
	return be
}

// interrupted stops the job and puts the host back.
func (p *pusher) interrupted(ctx context.Context, id, what string) error {
	p.step("stop", "interrupted: stopping %s and putting the host back", what)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), putBackTimeout)
	defer cancel()
	if err := p.reconnectIfLost(pctx); err == nil {
		p.output(pctx, stopJobCmd(id))
	}
	if _, err := p.putBack(ctx); err != nil {
		return fmt.Errorf("push to %s interrupted during %s, and putting the host back failed: %v: %w", p.t.Name, what, err, ctx.Err())
	}
	return fmt.Errorf("push to %s interrupted during %s; put back on generation %d and its %s: %w", p.t.Name, what, p.res.Before, NixOSDir, ctx.Err())
}

// withPutBack puts the host back after err and returns err, noting a
// failure to put it back.
func (p *pusher) withPutBack(ctx context.Context, err error) error {
	if _, perr := p.putBack(ctx); perr != nil {
		return fmt.Errorf("%w; putting the host back failed too: %v", err, perr)
	}
	return err
}

// reconnectIfLost replaces a dropped connection with a fresh one.
func (p *pusher) reconnectIfLost(ctx context.Context) error {
	if err := p.r.Run(ctx, "true", nil, nil); err == nil {
		return nil
	}
	_, err := p.dial(ctx, time.Now().Add(p.o.ReconnectTimeout))
	return err
}

// putBack undoes the push on the host, even when ctx was cancelled: it
// disarms the timer, switches back to the generation that ran before if
// the profile moved (activated), and restores /etc/nixos from memory.
func (p *pusher) putBack(ctx context.Context) (activated bool, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), putBackTimeout)
	defer cancel()
	if err := p.reconnectIfLost(ctx); err != nil {
		return false, fmt.Errorf("reconnect: %w", err)
	}
	if p.timer != nil {
		out, err := p.output(ctx, p.timer.confirmCmd())
		if err != nil {
			return false, fmt.Errorf("disarm the rollback timer: %w", err)
		}
		if out == tooLate {
			// The timer's rollback runs; let it finish first.
			p.output(ctx, p.timer.waitRollbackCmd(p.o.ReconnectTimeout))
		}
		p.timer = nil
	}
	before := p.res.Before
	gens, err := ListGenerations(ctx, p.r)
	if err != nil {
		return false, err
	}
	if before > 0 && Current(gens) != before {
		activated = true
		activation := "switch"
		if p.o.Action == Boot {
			activation = "boot"
		}
		p.step("restore", "switching back to generation %d", before)
		if err := p.run(ctx, rollbackScript(before, activation)); err != nil {
			return true, fmt.Errorf("switch back to generation %d: %w", before, err)
		}
	}
	if err := p.restoreFiles(ctx); err != nil {
		return activated, err
	}
	p.step("restore", "%s restored", NixOSDir)
	return activated, nil
}

// finish records the new generation's copy of /etc/nixos, drops the copies
// of generations that are gone and clears the job's state.
func (p *pusher) finish(ctx context.Context) error {
	gens, err := ListGenerations(ctx, p.r)
	if err != nil {
		return fmt.Errorf("%s: %w", p.t.Name, err)
	}
	after := Current(gens)
	p.res.After = after
	if after > 0 {
		if err := p.run(ctx, keepCopyCmd(after, false)); err != nil {
			return fmt.Errorf("keep a copy of %s on %s: %w", NixOSDir, p.t.Name, err)
		}
	}
	if err := p.run(ctx, pruneCopiesCmd()+"; rm -rf -- "+runDir+"/"+p.id+"*"); err != nil {
		return fmt.Errorf("tidy %s on %s: %w", CopiesDir, p.t.Name, err)
	}
	if after == p.res.Before {
		p.step("done", "still generation %d (the same system)", after)
	} else {
		p.step("done", "generation %d (was %d)", after, p.res.Before)
	}
	// Pushed: what it runs now is recorded. A failure to read it does not
	// undo the push; the record then keeps what it had.
	if np, err := p.nixpkgs(ctx); err != nil {
		p.step("done", "could not read the nixpkgs it runs: %v", err)
	} else {
		p.res.Nixpkgs = np
		p.step("done", "runs %s", np)
	}
	return nil
}

// tailBuffer keeps the last max lines written to it.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  string
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.part + string(b)
	parts := strings.Split(s, "\n")
	t.part = parts[len(parts)-1]
	t.lines = append(t.lines, parts[:len(parts)-1]...)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if t.part != "" {
		lines = append(append([]string(nil), lines...), t.part)
		if len(lines) > t.max {
			lines = lines[len(lines)-t.max:]
		}
	}
	return strings.Join(lines, "\n")
}
