package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"bootstrap/bootstrap"
	"bootstrap/remote"
)

// RollbackOptions are the timeouts and progress of a rollback.
type RollbackOptions struct {
	ConnectTimeout   time.Duration // default DefaultConnectTimeout
	ReconnectTimeout time.Duration // the fresh connection afterwards, default DefaultReconnectTimeout
	Report           Reporter
	Verbose          io.Writer // when set, gets each remote command (RollbackHost)
}

// RollbackResult is what a rollback did.
type RollbackResult struct {
	Host     string
	From, To int
	// Config: the copy of /etc/nixos kept for To was restored; without one
	// /etc/nixos was left as it was.
	Config bool
	// Nixpkgs is what the host runs and its channel holds afterwards (nil
	// when nothing changed, or when it could not be read).
	Nixpkgs *bootstrap.Nixpkgs
}

// Rollback switches the host to generation gen (0: the newest one older
// than the current, as nix-env --rollback) with `nix-env -p
// /nix/var/nix/profiles/system --switch-generation N`, restores the copy of
// /etc/nixos push kept for it, and activates it with the generation's own
// `bin/switch-to-configuration switch` (what nixos-rebuild switch --rollback
// does, for any generation). A generation the host does not have is refused
// before anything changes (*GenerationError). Afterwards a fresh connection
// with the deploy key must succeed (*ConfirmError otherwise).
func Rollback(ctx context.Context, t Target, gen int, o RollbackOptions) (*RollbackResult, error) {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ReconnectTimeout <= 0 {
		o.ReconnectTimeout = DefaultReconnectTimeout
	}
	if t.Log == nil {
		t.Log = io.Discard
	}
	res := &RollbackResult{Host: t.Name}
	step := func(s, format string, args ...any) {
		if o.Report != nil {
			o.Report.Step(t.Name, s, fmt.Sprintf(format, args...))
		}
	}
	dctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	r, err := t.Dial(dctx)
	cancel()
	if err != nil {
		return res, fmt.Errorf("connect to %s: %w", t.Name, err)
	}
	defer r.Close()
	gens, err := ListGenerations(ctx, r)
	if err != nil {
		return res, fmt.Errorf("%s: %w", t.Name, err)
	}
	res.From = Current(gens)
	numbers := make([]int, len(gens))
	for i, g := range gens {
		numbers[i] = g.Number
	}
	target := gen
	if target == 0 {
		target = Previous(gens)
	}
	if target == 0 || !has(gens, target) {
		return res, &GenerationError{Host: t.Name, Generation: gen, Current: res.From, Have: numbers}
	}
	res.To = target
	if target == res.From {
		step("rollback", "already on generation %d: nothing to do", target)
		return res, nil
	}
	for _, g := range gens {
		if g.Number == target {
			res.Config = g.Config
		}
	}
	// Keep what runs now, so it can be rolled forward to.
	if res.From > 0 {
		cmd := keepCopyCmd(res.From, true)
		fmt.Fprintf(t.Log, "$ %s\n", cmd)
		if err := r.Run(ctx, cmd, t.Log, t.Log); err != nil {
			return res, fmt.Errorf("keep a copy of %s on %s: %w", NixOSDir, t.Name, err)
		}
	}
	if res.Config {
		step("rollback", "generation %d -> %d, with its copy of %s", res.From, target, NixOSDir)
	} else {
		step("rollback", "generation %d -> %d; no copy of %s was kept for %d: left as it is", res.From, target, NixOSDir, target)
	}
	script := rollbackScript(target, "switch")
	tail := &tailBuffer{max: 15}
	w := io.MultiWriter(t.Log, tail)
	fmt.Fprintf(t.Log, "$ %s\n", script)
	if err := r.Run(ctx, script, w, w); err != nil {
		var exit *remote.ExitError
		switch {
		case errors.As(err, &exit) && exit.Status == 3:
			return res, &GenerationError{Host: t.Name, Generation: target, Current: res.From, Have: numbers}
		case errors.As(err, &exit):
			return res, &RollbackError{Host: t.Name, Generation: target, Status: exit.Status, Tail: tail.String()}
		}
		return res, fmt.Errorf("roll back %s to generation %d: %w", t.Name, target, err)
	}
	step("confirm", "new connection with the deploy key (within %s)", o.ReconnectTimeout)
	rctx, cancel := context.WithTimeout(ctx, o.ReconnectTimeout)
	fresh, err := t.Dial(rctx)
	cancel()
	if err != nil {
		return res, &ConfirmError{Host: t.Name, Generation: target, Previous: res.From, Timeout: o.ReconnectTimeout, Err: err}
	}
	defer fresh.Close()
	if gens, err = ListGenerations(ctx, fresh); err != nil {
		return res, fmt.Errorf("%s: %w", t.Name, err)
	}
	if cur := Current(gens); cur != target {
		return res, fmt.Errorf("%s: after the rollback generation %d is current, not %d", t.Name, cur, target)
	}
	step("done", "generation %d (was %d)", target, res.From)
	if res.Nixpkgs, err = bootstrap.ReadNixpkgs(ctx, fresh, "rollback"); err != nil {
		step("done", "could not read the nixpkgs it runs: %v", err)
	} else {
		step("done", "runs %s", res.Nixpkgs)
	}
	return res, nil
}
