package cmd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"bootstrap/bootstrap"
	"bootstrap/deploy"
	"bootstrap/infect"
	"bootstrap/provider"
	sshprovider "bootstrap/provider/ssh"
	"bootstrap/remote"
	"bootstrap/secrets"
	"bootstrap/workspace"
)

// Exit codes. Scripts can tell what kind of failure happened.
const (
	exitError       = 1   // anything else
	exitUsage       = 2   // bad input; nothing was contacted or created
	exitUnreachable = 3   // could not reach the host
	exitSSH         = 4   // host key or authentication refused
	exitRefused     = 5   // preflight refused the host; nothing changed
	exitInfect      = 6   // fetching or running nixos-infect failed
	exitReboot      = 7   // the host did not come back as NixOS
	exitTimeout     = 8   // --timeout ran out
	exitInterrupted = 130 // Ctrl-C; rerun to resume
)

// render prints err as one line saying what happened and what to do, and
// returns the exit code. It is the only place errors reach the terminal.
func render(w io.Writer, err error) int {
	msg, hint, code := explain(err)
	msg, hint = withBilled(err, msg, hint)
	var fe *infect.FailedError
	var be *deploy.BuildError
	var hosts *deploy.HostsError
	switch {
	case errors.As(err, &hosts):
	case errors.As(err, &fe) && fe.Tail != "":
		printTail(w, "nixos-infect", fe.Tail)
	case errors.As(err, &be) && be.Tail != "":
		printTail(w, "nixos-rebuild", be.Tail)
	}
	if hint != "" {
		fmt.Fprintf(w, "error: %s; %s\n", msg, hint)
	} else {
		fmt.Fprintf(w, "error: %s\n", msg)
	}
	return code
}

// withBilled makes every failure after a cloud resource exists end with
// what is billed and the exact command that deletes it.
func withBilled(err error, msg, hint string) (string, string) {
	var billed *BilledError
	if !errors.As(err, &billed) {
		return msg, hint
	}
	if !strings.Contains(msg, billed.What) {
		msg += "; exists and is billed: " + billed.What
	}
	if !strings.Contains(hint, billed.Destroy()) {
		del := billed.Destroy() + " deletes it"
		if hint == "" {
			hint = del
		} else {
			hint += "; or " + del
		}
	}
	return msg, hint
}

func printTail(w io.Writer, what, tail string) {
	fmt.Fprintf(w, "last lines of %s:\n", what)
	for _, l := range strings.Split(strings.TrimRight(tail, "\n"), "\n") {
		fmt.Fprintf(w, "  | %s\n", l)
	}
}

func explain(err error) (msg, hint string, code int) {
	msg = err.Error()
	step, host := "", ""
	var se *bootstrap.StepError
	if errors.As(err, &se) {
		step, host = se.Step, se.Host
	}
	rerun := "run the same command again to resume"

	var (
		usage    *UsageError
		notReady *bootstrap.NotReadyError
		meta     *secrets.MetaError
		setting  *SettingError
		conflict *provider.ConflictError
		mismatch *remote.HostKeyMismatchError
		unknown  *remote.UnknownHostKeyError
		auth     *remote.AuthError
		unreach  *remote.UnreachableError
		pre      *bootstrap.PreflightError
		sum      *infect.ChecksumError
		failed   *infect.FailedError
		reboot   *bootstrap.RebootError
		verify   *bootstrap.VerifyError
		partial  interface{ Billed() string } // a cloud's error after something billable was created
		config   *provider.ConfigError
		resolve  *sshprovider.ResolveError
		decrypt  *secrets.DecryptError
		hosts    *deploy.HostsError
		confirm  *deploy.ConfirmError
		gen      *deploy.GenerationError
		record   *bootstrap.RecordError
		outside  *workspace.OutsideError
		flagOnly *FlagOnlyError
	)
	// Errors of push, generations and rollback carry their own hint; a
	// several-host error unwraps to every host's, so it goes first.
	var hinted interface{ Hint() string }
	switch {
	case errors.As(err, &hosts):
		return msg, hosts.Hint(), exitError
	case errors.As(err, &confirm):
		return msg, confirm.Hint(), exitReboot
	case errors.As(err, &gen):
		return msg, gen.Hint(), exitUsage
	case !errors.Is(err, context.Canceled) && errors.As(err, &hinted):
		return msg, hinted.Hint(), exitError
	}
	switch {
	case errors.As(err, &usage), errors.As(err, &notReady), errors.As(err, &meta), errors.As(err, &config),
		errors.As(err, &record), errors.As(err, &outside):
		return msg, "", exitUsage
	case errors.As(err, &flagOnly):
		return msg, "remove it from there and pass the flag when you mean it", exitUsage
	case errors.As(err, &setting):
		return msg, "fix or remove that setting", exitUsage
	case errors.As(err, &conflict):
		return msg, fmt.Sprintf("use %s %s, or pick another --name for a new host", conflict.Field, conflict.Recorded), exitUsage
	case errors.As(err, &mismatch):
		return msg, "the host key changed: if the host was reinstalled on purpose, remove its line from the workspace's known_hosts and run again; otherwise stop, the connection may be intercepted", exitSSH
	case errors.As(err, &unknown):
		return msg, "check the fingerprint out of band (e.g. the provider's console), then pass --host-key " + unknown.Fingerprint + " (or --accept-new-host-key)", exitSSH
	case errors.As(err, &auth):
		if step == bootstrap.StepReboot || step == bootstrap.StepCapture {
			return msg, "the deploy key was not accepted after the reboot: check users.users.root.openssh.authorizedKeys.keys in the host's configuration", exitSSH
		}
		return msg, "put one of these keys in the user's authorized_keys, or name the right one with -i (or --agent)", exitSSH
	case errors.Is(err, context.Canceled):
		msg = fmt.Sprintf("interrupted during %s of %s", cmp.Or(step, "the run"), host)
		if errors.As(err, &partial) {
			return msg + "; exists and is billed: " + partial.Billed(), rerun + ", or bootstrap destroy " + host + " to delete it", exitInterrupted
		}
		return msg, rerun, exitInterrupted
	case errors.As(err, &partial):
		return msg, "run the same command again to resume with what exists, or bootstrap destroy " + host + " to delete it", exitError
	case errors.As(err, &resolve):
		return msg, "check the host name, or give its address", exitUnreachable
	case errors.As(err, &decrypt):
		return msg, "pass --identity with a key whose public half is in recipients.txt; nothing was uploaded", exitUsage
	case errors.As(err, &reboot):
		return msg, "check the machine's console for a failed boot (boot loader device, root filesystem, sshd); if it is still coming up, " + rerun, exitReboot
	case errors.As(err, &unreach):
		return msg, "check the address, --port, firewall and that sshd runs; " + rerun, exitUnreachable
	case errors.As(err, &pre):
		return msg, pre.Hint + "; nothing was changed", exitRefused
	case errors.As(err, &sum):
		return msg, "the script is not the pinned one: check --infect-url and --infect-sha256", exitInfect
	case errors.As(err, &failed):
		return msg, "see the log in hosts/" + host + "/bootstrap.log; fix the cause (often host.nix), then " + rerun, exitInfect
	case errors.As(err, &verify):
		return msg, "see hosts/" + host + "/bootstrap.log and the machine's console", exitReboot
	case errors.Is(err, context.DeadlineExceeded):
		return msg, "--timeout ran out; " + rerun + " (or raise --timeout)", exitTimeout
	}
	return msg, "", exitError
}
