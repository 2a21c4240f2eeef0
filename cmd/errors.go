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
	"bootstrap/export"
	"bootstrap/infect"
	"bootstrap/provider"
	sshprovider "bootstrap/provider/ssh"
	"bootstrap/remote"
	"bootstrap/secrets"
	"bootstrap/workspace"
)

// Exit codes. Scripts can tell what kind of failure happened. exitCodes is
// the table the README shows (a test keeps the two equal).
const (
	exitOK          = 0
	exitError       = 1   // anything else
	exitUsage       = 2   // bad input; nothing was written or contacted
	exitUnreachable = 3   // could not reach the host
	exitHostKey     = 4   // host key unknown or changed
	exitRefused     = 5   // preflight refused the host; nothing changed
	exitInfect      = 6   // fetching or running nixos-infect failed
	exitReboot      = 7   // the host did not come back as NixOS
	exitTimeout     = 8   // --timeout ran out
	exitAuth        = 9   // the host refused every key offered
	exitAPI         = 10  // a cloud API failed or could not be reached
	exitDrift       = 11  // status --check: a host differs from the workspace
	exitInterrupted = 130 // Ctrl-C; rerun to resume
)

// exitCodes is the README's exit-code table, in order.
var exitCodes = []struct {
	Code    int
	Meaning string
}{
	{exitOK, "done"},
	{exitError, "other error"},
	{exitUsage, "bad input (arguments, unknown flag, settings or config file, channel, name, host, host.nix, identity): nothing was written and no host was contacted (a cloud's read-only checks may have run)"},
	{exitUnreachable, "host unreachable: refused, timed out, no route, the name does not resolve, or something other than SSH answers"},
	{exitHostKey, "host key unknown or changed"},
	{exitRefused, "preflight refused the host: nothing was changed"},
	{exitInfect, "nixos-infect: the download failed, the checksum does not match, or the script failed (its last lines and the log path are shown)"},
	{exitReboot, "the host did not come back after the reboot, or not as NixOS on the channel"},
	{exitTimeout, "`--timeout` ran out"},
	{exitAuth, "login refused: no offered key was accepted (the keys are named)"},
	{exitAPI, "the cloud's API failed, refused the credentials, or could not be reached"},
	{exitDrift, "`status --check` found drift, or could not check a host"},
	{exitInterrupted, "interrupted (Ctrl-C): run the same command again to resume"},
}

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
	prefix := paint(colour(w), "31", "error:")
	msg = strings.ReplaceAll(strings.TrimSpace(msg), "\n", " ")
	if hint != "" {
		fmt.Fprintf(w, "%s %s; %s\n", prefix, msg, hint)
	} else {
		fmt.Fprintf(w, "%s %s\n", prefix, msg)
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

// printTail shows the last lines of a remote tool's output above the error.
func printTail(w io.Writer, what, tail string) {
	fmt.Fprintf(w, "last lines of %s:\n", what)
	for _, l := range strings.Split(strings.TrimRight(tail, "\n"), "\n") {
		fmt.Fprintf(w, "  | %s\n", l)
	}
}

func explain(err error) (msg, hint string, code int) {
	msg = err.Error()
	step, host, prov := "", "", ""
	var se *bootstrap.StepError
	if errors.As(err, &se) {
		step, host, prov = se.Step, se.Host, se.Provider
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
		notSSH   *remote.NotSSHError
		unreach  *remote.UnreachableError
		pre      *bootstrap.PreflightError
		sum      *infect.ChecksumError
		download *infect.DownloadError
		failed   *infect.FailedError
		reboot   *bootstrap.RebootError
		verify   *bootstrap.VerifyError
		partial  interface{ Billed() string } // a cloud's error after something billable was created
		config   *provider.ConfigError
		api      *provider.APIError
		resolve  *sshprovider.ResolveError
		decrypt  *secrets.DecryptError
		hosts    *deploy.HostsError
		confirm  *deploy.ConfirmError
		gen      *deploy.GenerationError
		drift    *deploy.DriftError
		noRev    *export.NoRevisionError
		foreign  *export.ForeignFileError
		broken   *bootstrap.BrokenRecordError
		cloudM   *bootstrap.CloudMachineError
		notDir   *workspace.NotDirError
		cfgFile  *ConfigFileError
		record   *bootstrap.RecordError
		outside  *workspace.OutsideError
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
	case errors.As(err, &drift):
		return msg, drift.Hint(), exitDrift
	case errors.As(err, &noRev):
		return msg, noRev.Hint(), exitUsage
	case errors.As(err, &foreign):
		return msg, foreign.Hint(), exitUsage
	case errors.As(err, &broken):
		return msg, broken.Hint(), exitError
	case errors.As(err, &cloudM):
		return msg, cloudM.Hint(), exitUsage
	case errors.As(err, &download):
		return msg, download.Hint(), exitInfect
	case !errors.Is(err, context.Canceled) && errors.As(err, &hinted):
		return msg, hinted.Hint(), exitError
	}
	switch {
	case errors.As(err, &usage), errors.As(err, &notReady), errors.As(err, &meta), errors.As(err, &config), errors.As(err, &notDir),
		errors.As(err, &record), errors.As(err, &outside):
		return msg, "", exitUsage
	case errors.As(err, &setting):
		return msg, setting.hint(), exitUsage
	case errors.As(err, &cfgFile):
		return msg, "fix that file (keys are flag names, values as on the command line)", exitUsage
	case errors.As(err, &conflict):
		return msg, conflictHint(conflict), exitUsage
	case errors.As(err, &mismatch):
		return msg, "the host key changed: if the host was reinstalled on purpose, remove its line from the workspace's known_hosts and run again; otherwise stop, the connection may be intercepted", exitHostKey
	case errors.As(err, &unknown):
		return msg, "check the fingerprint out of band (e.g. the provider's console), then pass --host-key " + unknown.Fingerprint + " (or --accept-new-host-key)", exitHostKey
	case errors.As(err, &auth):
		if step == bootstrap.StepReboot || step == bootstrap.StepCapture {
			return msg, "the deploy key was not accepted after the reboot: check users.users.root.openssh.authorizedKeys.keys in the host's configuration", exitAuth
		}
		if prov != "" && prov != "ssh" {
			return msg, "the new server did not take the deploy key: check its cloud-init output in the console, then " + rerun, exitAuth
		}
		return msg, "put one of these keys in the user's authorized_keys, or name the right one with -i (or --agent)", exitAuth
	case errors.Is(err, context.Canceled):
		msg = fmt.Sprintf("interrupted during %s of %s", cmp.Or(step, "the run"), cmp.Or(host, "the host"))
		if errors.As(err, &partial) {
			return msg + "; exists and is billed: " + partial.Billed(), rerun + ", or bootstrap destroy " + host + " to delete it", exitInterrupted
		}
		return msg, rerun, exitInterrupted
	case errors.As(err, &partial):
		code = exitError
		if errors.As(err, &api) {
			code = exitAPI
		}
		return msg, "run the same command again to resume with what exists, or bootstrap destroy " + host + " to delete it", code
	case errors.As(err, &api):
		return msg, "check the network, SCW_API_URL and the credentials (scw info), then " + rerun + "; nothing billable was created", exitAPI
	case errors.As(err, &resolve):
		return msg, "check the host name, or give its address", exitUnreachable
	case errors.As(err, &decrypt):
		return msg, "pass --identity with a key whose public half is in recipients.txt; nothing was uploaded", exitUsage
	case errors.As(err, &reboot):
		return msg, "check the machine's console for a failed boot (boot loader device, root filesystem, sshd); if it is still coming up, " + rerun, exitReboot
	case errors.As(err, &notSSH):
		if prov != "" && prov != "ssh" {
			return msg, "something other than sshd answers on the server's port 22: check the server in the cloud's console", exitUnreachable
		}
		return msg, "something other than sshd listens there: check the host and --port", exitUnreachable
	case errors.As(err, &unreach):
		if prov != "" && prov != "ssh" {
			return msg, "check the server in the cloud's console (state, security group, boot), then " + rerun, exitUnreachable
		}
		return msg, "check the address, --port, firewall and that sshd runs (raise --connect-timeout for a slow host); " + rerun, exitUnreachable
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

// conflictHint says how to resume a host with what it recorded, or start
// it over: never a flag the command lacks.
func conflictHint(c *provider.ConflictError) string {
	over := "to start over: bootstrap forget " + c.Name + " (after bootstrap destroy " + c.Name + " for a cloud machine)"
	switch c.Field {
	case "address":
		return "give " + c.Recorded + " to resume " + c.Name + ", or, if the machine there is gone, " + over
	case "provider":
		return c.Name + " is a " + c.Recorded + " host: resume it with bootstrap " + c.Recorded + ", or " + over
	}
	return "pass --" + c.Field + " " + c.Recorded + " to resume " + c.Name + ", or " + over
}
