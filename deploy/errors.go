package deploy

import (
	"fmt"
	"strings"
	"time"

	"bootstrap/bootstrap"
)

// BuildError: nixos-rebuild failed on the host (the build, or the activation
// after the profile switched). Push then puts the host back: the generation
// that ran before (when the profile had switched) and /etc/nixos as it was.
type BuildError struct {
	Host      string
	Command   string // e.g. "nixos-rebuild switch"
	Status    int    // exit status; -1 when it ended without one (killed)
	Tail      string // its last output lines
	Activated bool   // the profile had switched: the activation failed
	Before    int    // the generation the host is back on (0: unknown)
	// PutBackErr: putting the host back failed too; the host may hold a
	// configuration it does not run.
	PutBackErr error
}

func (e *BuildError) Error() string {
	what := "failed"
	if e.Status > 0 {
		what = fmt.Sprintf("failed (exit status %d)", e.Status)
	}
	stage := "build"
	if e.Activated {
		stage = "activation"
	}
	if e.PutBackErr != nil {
		return fmt.Sprintf("%s on %s %s in the %s, and putting the host back failed: %v", e.Command, e.Host, what, stage, e.PutBackErr)
	}
	back := NixOSDir + " restored"
	if e.Before > 0 {
		back += fmt.Sprintf(", on generation %d", e.Before)
	}
	if e.Activated {
		back = fmt.Sprintf("switched back to generation %d and its %s", e.Before, NixOSDir)
	}
	return fmt.Sprintf("%s on %s %s in the %s; %s", e.Command, e.Host, what, stage, back)
}

// Hint says what to do next.
func (e *BuildError) Hint() string {
	if e.PutBackErr != nil {
		return fmt.Sprintf("see hosts/%s/bootstrap.log; check with bootstrap generations %s, then bootstrap rollback %s", e.Host, e.Host, e.Host)
	}
	return fmt.Sprintf("see hosts/%s/bootstrap.log; fix the configuration in hosts/%s and push again", e.Host, e.Host)
}

// ConfirmError: after switching, the host did not answer a fresh SSH
// connection with the deploy key in time (the new configuration may break
// SSH or networking).
type ConfirmError struct {
	Host       string
	Generation int           // the generation switched to (0: unknown)
	Previous   int           // the generation before the push
	Timeout    time.Duration // how long push waited
	Armed      bool          // --confirm-timeout: the host rolls back by itself
	RolledBack bool          // seen back on Previous (Armed only)
	// Err is the last connection error. It is not unwrapped: the host was
	// reachable for the push, and the wait was push's own, not --timeout.
	Err error
}

func (e *ConfirmError) Error() string {
	gen := "the new generation"
	if e.Generation > 0 {
		gen = fmt.Sprintf("generation %d", e.Generation)
	}
	msg := fmt.Sprintf("%s did not answer a new SSH connection within %s of switching to %s", e.Host, e.Timeout, gen)
	switch {
	case e.Armed && e.RolledBack:
		return fmt.Sprintf("%s: it rolled back to generation %d by itself", msg, e.Previous)
	case e.Armed:
		return fmt.Sprintf("%s: it rolls back to generation %d by itself, not seen yet", msg, e.Previous)
	}
	if e.Err != nil {
		msg += fmt.Sprintf(" (%v)", e.Err)
	}
	return msg
}

// Hint says what to do next.
func (e *ConfirmError) Hint() string {
	switch {
	case e.Armed && e.RolledBack:
		return fmt.Sprintf("the new configuration breaks SSH or networking: fix hosts/%s and push again", e.Host)
	case e.Armed:
		return fmt.Sprintf("check the machine's console; once it answers: bootstrap generations %s", e.Host)
	}
	return fmt.Sprintf("if the new configuration broke SSH or networking, run on the machine's console: %s (or, once SSH answers: bootstrap rollback %s %d)",
		RollbackCommand(e.Previous), e.Host, e.Previous)
}

// GenerationError: rollback to a generation the host does not have, or
// without an older one.
type GenerationError struct {
	Host       string
	Generation int // wanted; 0: the previous one
	Current    int
	Have       []int
}

func (e *GenerationError) Error() string {
	have := make([]string, len(e.Have))
	for i, n := range e.Have {
		have[i] = fmt.Sprint(n)
	}
	if e.Generation == 0 {
		return fmt.Sprintf("%s has no generation older than the current %d (it has %s): nothing changed", e.Host, e.Current, strings.Join(have, ", "))
	}
	return fmt.Sprintf("%s has no generation %d (it has %s): nothing changed", e.Host, e.Generation, strings.Join(have, ", "))
}

// Hint says what to do next.
func (e *GenerationError) Hint() string {
	return fmt.Sprintf("pick one listed by bootstrap generations %s", e.Host)
}

// RollbackError: switch-to-configuration failed after the profile switched
// to the wanted generation (its /etc/nixos was restored).
type RollbackError struct {
	Host       string
	Generation int
	Status     int
	Tail       string
}

func (e *RollbackError) Error() string {
	return fmt.Sprintf("rollback of %s to generation %d: the activation failed (exit status %d); the profile and %s are on generation %d", e.Host, e.Generation, e.Status, NixOSDir, e.Generation)
}

// Hint says what to do next.
func (e *RollbackError) Hint() string {
	return fmt.Sprintf("see hosts/%s/bootstrap.log and the machine's journal", e.Host)
}

// HostsError: some hosts of a multi-host push failed. Unwrap gives each
// host's error.
type HostsError struct {
	Failed []string // host names, in command-line order
	Total  int
	Errs   []error
}

func (e *HostsError) Error() string {
	return fmt.Sprintf("%d of %d hosts failed: %s", len(e.Failed), e.Total, strings.Join(e.Failed, ", "))
}

func (e *HostsError) Unwrap() []error { return e.Errs }

// Hint says what to do next.
func (e *HostsError) Hint() string {
	return "see the summary above and each host's hosts/NAME/bootstrap.log; push the failed ones again once fixed"
}

// DryRunError: nixos-rebuild dry-activate failed (the staged configuration
// does not build). Nothing on the host changed.
type DryRunError struct {
	Host   string
	Status int
	Tail   string
}

func (e *DryRunError) Error() string {
	return fmt.Sprintf("nixos-rebuild dry-activate on %s failed (exit status %d): the new configuration does not build; nothing changed", e.Host, e.Status)
}

// Hint says what to do next.
func (e *DryRunError) Hint() string {
	return fmt.Sprintf("see hosts/%s/bootstrap.log; fix the configuration in hosts/%s", e.Host, e.Host)
}

// ChannelMovedError: root's channel on the host holds another nixpkgs than
// the system it runs, or runs from the next boot (nix-channel --update by
// hand, an upgrade that failed). nixos-rebuild builds what the channel
// holds, so a push would move the host to that revision: push refuses
// unless --upgrade. Nothing was changed.
type ChannelMovedError struct {
	Host    string
	Nixpkgs *bootstrap.Nixpkgs
}

func (e *ChannelMovedError) Error() string {
	return fmt.Sprintf("%s runs %s: a push would move it to its channel's revision; nothing was changed", e.Host, e.Nixpkgs)
}

// Hint says what to do next.
func (e *ChannelMovedError) Hint() string {
	return fmt.Sprintf("bootstrap push --upgrade %s moves it there on purpose (and records it), or nix-channel --rollback on the host puts its channel back", e.Host)
}
