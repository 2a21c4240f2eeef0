package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/deploy"
	"bootstrap/secrets"
	"bootstrap/workspace"
)

// PushOptions are the inputs of `bootstrap push`.
type PushOptions struct {
	Names            []string
	All              bool
	DryRun           bool
	Boot             bool
	Upgrade          bool
	Parallel         int
	ConfirmTimeout   time.Duration
	Timeout          time.Duration
	SecretIdentities []string
	JSON             bool

	global *globalOptions
	stdout io.Writer
	stderr io.Writer
}

// DefaultPushTimeout bounds a whole push: a build on the host can be long.
const DefaultPushTimeout = time.Hour

func newPushCmd(g *globalOptions) *cobra.Command {
	o := &PushOptions{global: g}
	cmd := &cobra.Command{
		Use:   "push NAME... | --all",
		Short: "Copy hosts/NAME/*.nix to the host's /etc/nixos and nixos-rebuild there",
		Long: `Push a bootstrapped host's configuration: show a unified diff of hosts/NAME/*.nix
against the host's /etc/nixos (its top-level *.nix files, the ones bootstrap copies
back), upload the changed files atomically (and delete the ones the workspace no
longer has), write the host's secrets as "secrets push" does, and run nixos-rebuild
switch on the host: the build happens there, with the host's own channel, and
/etc/nixos stays what the host runs. Its output goes to hosts/NAME/bootstrap.log.

A push never moves a host to another nixpkgs revision: when root's channel on the host
holds another revision than the system (nix-channel --update by hand), push refuses
before changing anything. --upgrade moves it to the head of its channel on purpose (a
host pinned to one release, a clone, follows its channel again). The revision the host
runs afterwards is recorded in hosts/NAME/state.json.

If the build or the activation fails, the host is put back: the generation that ran
before, and /etc/nixos as it was. A copy of /etc/nixos is kept on the host for every
generation push makes (` + deploy.CopiesDir + `/N), for "bootstrap rollback".

After a switch, a new SSH connection with the deploy key must succeed; if it does
not, push says so and prints the rollback command. With --confirm-timeout D a
rollback is armed on the host (a systemd timer) after the build and before the
activation, and cancelled only once that new connection succeeded within D: a
configuration that breaks SSH or networking rolls itself back.

Several hosts (or --all: every bootstrapped host) are pushed in parallel, at most
--parallel at a time, each with its lines of progress, then a summary.`,
		Example: `  bootstrap push web-1
  bootstrap push web-1 --dry-run              # diff, and what activating would do
  bootstrap push web-1 --confirm-timeout 2m   # roll back by itself if SSH breaks
  bootstrap push web-1 --boot --upgrade       # newest channel, active after the next reboot
  bootstrap push --all --parallel 8
  bootstrap push --all --json | jq -r 'select(.ok | not) | .name'`,
		ValidArgsFunction: hostNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Names = args
			o.stdout, o.stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runPush(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.All, "all", false, "push every bootstrapped host of the workspace")
	f.BoolVar(&o.DryRun, "dry-run", false, "show the diff and what activating would do (nixos-rebuild dry-activate of a staged copy); change nothing")
	f.BoolVar(&o.Boot, "boot", false, "nixos-rebuild boot: the new configuration becomes active at the next reboot")
	f.BoolVar(&o.Upgrade, "upgrade", false, "nixos-rebuild --upgrade: move the host to the head of its channel (a host pinned to a release follows the channel again)")
	f.IntVar(&o.Parallel, "parallel", 4, "at most this many hosts at once")
	f.DurationVar(&o.ConfirmTimeout, "confirm-timeout", 0, "roll back on the host by itself unless a new SSH connection succeeds within this after the switch (e.g. 2m)")
	f.DurationVar(&o.Timeout, "timeout", DefaultPushTimeout, "overall time limit")
	f.StringArrayVar(&o.SecretIdentities, "secrets-identity", nil, "age identity or SSH private key that decrypts hosts/NAME/secrets (repeatable; default: the usual places)")
	f.BoolVar(&o.JSON, "json", false, "print one JSON object per host on stdout (progress and diffs go to stderr)")
	return cmd
}

// pushResult is push's --json object, one per host.
type pushResult struct {
	Name        string   `json:"name"`
	OK          bool     `json:"ok"`
	ExitCode    int      `json:"exit_code"`
	Error       string   `json:"error,omitempty"`
	Hint        string   `json:"hint,omitempty"`
	Action      string   `json:"action"`            // switch, boot or dry-activate
	Changes     []string `json:"changes"`           // "+added.nix", "modified.nix", "-removed.nix"
	UpToDate    bool     `json:"up_to_date"`        // nothing differed: nothing was built
	Before      int      `json:"generation_before"` // 0: unknown
	After       int      `json:"generation_after"`
	Secrets     []string `json:"secrets"` // written to the host
	DryActivate string   `json:"dry_activate,omitempty"`
	Seconds     float64  `json:"seconds"`
}

func pushResultOf(oc deploy.Outcome, action deploy.Action) pushResult {
	r := oc.Result
	pr := pushResult{Name: r.Host, OK: oc.Err == nil, Action: string(action), Changes: []string{}, UpToDate: r.UpToDate,
		Before: r.Before, After: r.After, Secrets: r.Secrets, DryActivate: r.DryActivate, Seconds: r.Took.Seconds()}
	if pr.Secrets == nil {
		pr.Secrets = []string{}
	}
	if len(r.Changes) > 0 {
		pr.Changes = strings.Split(deploy.Summary(r.Changes), ", ")
	}
	if oc.Err != nil {
		pr.Error, pr.Hint, pr.ExitCode = explain(pushError(oc))
	}
	return pr
}

// action checks the flags and says what nixos-rebuild does.
func (o *PushOptions) action() (deploy.Options, error) {
	opts := deploy.Options{Action: deploy.Switch, Upgrade: o.Upgrade, ConfirmTimeout: o.ConfirmTimeout}
	switch {
	case len(o.Names) == 0 && !o.All:
		return opts, usagef("name the hosts to push (bootstrap push NAME...), or pass --all")
	case len(o.Names) > 0 && o.All:
		return opts, usagef("--all pushes every host: name no hosts with it")
	case o.DryRun && o.Boot:
		return opts, usagef("--dry-run shows what a switch would do: leave out --boot")
	case o.DryRun && o.Upgrade:
		return opts, usagef("--dry-run changes nothing on the host, and --upgrade updates its channel: leave out one")
	case o.ConfirmTimeout < 0:
		return opts, usagef("--confirm-timeout must be positive")
	case o.ConfirmTimeout > 0 && (o.DryRun || o.Boot):
		return opts, usagef("--confirm-timeout guards a switch: --dry-run and --boot activate nothing")
	case o.ConfirmTimeout > 0 && o.ConfirmTimeout < 10*time.Second:
		return opts, usagef("--confirm-timeout %s is too short to activate and reconnect: give at least 10s", o.ConfirmTimeout)
	case o.Parallel < 1:
		return opts, usagef("--parallel must be at least 1")
	case o.Timeout <= 0:
		return opts, usagef("--timeout must be positive")
	}
	switch {
	case o.DryRun:
		opts.Action = deploy.DryActivate
	case o.Boot:
		opts.Action = deploy.Boot
	}
	return opts, nil
}

func runPush(ctx context.Context, o *PushOptions) error {
	opts, err := o.action()
	if err != nil {
		return err
	}
	ws, err := workspace.Load(o.global.Workspace)
	if err != nil {
		return err
	}
	names := o.Names
	if o.All {
		if names, err = ws.Hosts(); err != nil {
			return err
		}
	}
	if !o.DryRun {
		unlock, err := lockHosts(ws, false, names...)
		if err != nil {
			return err
		}
		defer unlock()
	}
	width := 0
	for _, n := range names {
		width = max(width, len(n))
	}
	out := progressOut(o.global, o.JSON, o.stdout, o.stderr)
	opts.Report = &progress{w: out, width: width}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	outcomes, err := deploy.PushHosts(ctx, ws, deploy.Request{
		Names: o.Names, All: o.All, Options: opts, Parallel: o.Parallel,
		Identities: func() ([]age.Identity, error) {
			ids, err := secrets.LoadIdentitiesWithPassphrase(o.SecretIdentities, func(path string) ([]byte, error) {
				return passphrasePrompt(path, o.stderr)()
			})
			if err != nil {
				return nil, &UsageError{Msg: "secrets: " + err.Error()}
			}
			return ids, nil
		},
		Skipped: func(name string, why error) { fmt.Fprintf(o.stderr, "note: skipping %s: %v\n", name, why) },
		Verbose: verboseOut(o.global, o.stderr),
	})
	if err != nil {
		return err
	}
	if o.JSON {
		for _, oc := range outcomes {
			if err := writeJSON(o.stdout, pushResultOf(oc, opts.Action)); err != nil {
				return err
			}
		}
		o.stdout = io.Discard
	}
	return o.summarize(outcomes, opts.Action)
}

// summarize prints what happened to each host (a summary for several) and
// returns the error to report.
func (o *PushOptions) summarize(outcomes []deploy.Outcome, action deploy.Action) error {
	for _, oc := range outcomes {
		if oc.Err == nil && oc.Result.DryActivate != "" {
			fmt.Fprintf(o.stdout, "%s: nixos-rebuild dry-activate says:\n", oc.Result.Host)
			for _, l := range strings.Split(oc.Result.DryActivate, "\n") {
				fmt.Fprintf(o.stdout, "  %s\n", l)
			}
		}
	}
	if len(outcomes) == 1 {
		oc := outcomes[0]
		if oc.Err != nil {
			return pushError(oc)
		}
		fmt.Fprintf(o.stdout, "done: %s %s\n", oc.Result.Host, outcomeLine(oc.Result, action))
		return nil
	}
	var failed []string
	var errs []error
	for _, oc := range outcomes {
		if oc.Err != nil {
			failed = append(failed, oc.Result.Host)
			errs = append(errs, pushError(oc))
		}
	}
	fmt.Fprintf(o.stdout, "summary: %d of %d host(s) pushed\n", len(outcomes)-len(failed), len(outcomes))
	width := 0
	for _, oc := range outcomes {
		width = max(width, len(oc.Result.Host))
	}
	for _, oc := range outcomes {
		line := outcomeLine(oc.Result, action)
		if oc.Err != nil {
			line = "FAILED: " + firstLine(oc.Err.Error())
		}
		fmt.Fprintf(o.stdout, "  %-*s  %s\n", width, oc.Result.Host, line)
	}
	if len(failed) > 0 {
		return &deploy.HostsError{Failed: failed, Total: len(outcomes), Errs: errs}
	}
	return nil
}

// pushError makes an interruption name the host (the renderer says
// "interrupted during push of NAME").
func pushError(oc deploy.Outcome) error {
	if errors.Is(oc.Err, context.Canceled) {
		return &bootstrap.StepError{Step: "push", Host: oc.Result.Host, Err: oc.Err}
	}
	return oc.Err
}

func outcomeLine(r *deploy.Result, action deploy.Action) string {
	files := ""
	if len(r.Changes) > 0 {
		files = " (" + deploy.Summary(r.Changes) + ")"
	}
	switch {
	case action == deploy.DryActivate && len(r.Changes) == 0:
		return "dry run: no file differs; nothing changed"
	case action == deploy.DryActivate:
		return fmt.Sprintf("dry run: %d file(s) differ%s; nothing changed", len(r.Changes), files)
	case r.UpToDate:
		return fmt.Sprintf("up to date on generation %d", r.After)
	case r.After == r.Before:
		return fmt.Sprintf("still generation %d, the same system%s", r.After, files)
	case action == deploy.Boot:
		return fmt.Sprintf("generation %d (was %d) from the next boot%s", r.After, r.Before, files)
	}
	return fmt.Sprintf("switched to generation %d (was %d)%s in %s", r.After, r.Before, files, r.Took.Round(100*time.Millisecond))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// progress prints deploy's progress: each host's diff as one block, and
// one line per step, "NAME  STEP  message".
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	width int
}

func (p *progress) Diff(host, diff string) {
	if diff == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, diff)
}

func (p *progress) Step(host, step, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%-*s  %-8s %s\n", p.width, host, step, msg)
}
