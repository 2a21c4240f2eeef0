package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/deploy"
)

// RollbackOptions are the inputs of `bootstrap rollback`.
type RollbackOptions struct {
	Name       string
	Generation int // 0: the previous one
	Timeout    time.Duration
	JSON       bool

	global *globalOptions
	stdout io.Writer
	stderr io.Writer
}

// rollbackResult is rollback's --json object.
type rollbackResult struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
	Hint     string `json:"hint,omitempty"`
	From     int    `json:"generation_before"`
	To       int    `json:"generation_after"`
	Config   bool   `json:"etc_nixos_restored"` // the kept copy of /etc/nixos was restored
}

func newRollbackCmd(g *globalOptions) *cobra.Command {
	o := &RollbackOptions{global: g}
	cmd := &cobra.Command{
		Use:   "rollback NAME [GENERATION]",
		Short: "Switch a host back to its previous (or the named) system generation",
		Long: `Switch a bootstrapped host to the generation before the current one (as nix-env
--rollback), or to GENERATION (see "bootstrap generations NAME"), and restore the copy
of /etc/nixos push kept for it, so /etc/nixos stays what the host runs. On the host:

  nix-env -p ` + deploy.SystemProfile + ` --switch-generation N
  (restore ` + deploy.CopiesDir + `/N to /etc/nixos)
  ` + deploy.SystemProfile + `/bin/switch-to-configuration switch

A generation the host does not have is refused before anything changes. A generation
without a kept copy (made before bootstrap push, or by system.autoUpgrade) is switched
to with /etc/nixos left as it is. The workspace's hosts/NAME is not changed: the next
push applies it again.`,
		Example: `  bootstrap rollback web-1        # the previous generation
  bootstrap rollback web-1 12
  bootstrap rollback web-1 --json | jq .generation_after`,
		Args:              argsBetween(1, 2),
		ValidArgsFunction: hostNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.stdout, o.stderr = args[0], cmd.OutOrStdout(), cmd.ErrOrStderr()
			if len(args) == 2 {
				n, err := strconv.Atoi(args[1])
				if err != nil || n < 1 {
					return usagef("generation %q is not a generation number (1, 2, ...: see bootstrap generations %s)", args[1], o.Name)
				}
				o.Generation = n
			}
			return runRollback(cmd.Context(), o)
		},
	}
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 15*time.Minute, "overall time limit")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the result as one JSON object (progress goes to stderr)")
	return cmd
}

func runRollback(ctx context.Context, o *RollbackOptions) error {
	if o.Timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	ctx, ws, release, err := openHost(ctx, o.global, o.Name, o.Timeout)
	if err != nil {
		return err
	}
	defer release()
	out := progressOut(o.global, o.JSON, o.stdout, o.stderr)
	res, err := deploy.RollbackHost(ctx, ws, o.Name, o.Generation, deploy.RollbackOptions{Report: &progress{w: out, width: len(o.Name)}, Verbose: verboseOut(o.global, o.stderr)})
	if err != nil && errors.Is(err, context.Canceled) {
		err = &bootstrap.StepError{Step: "rollback", Host: o.Name, Err: err}
	}
	if o.JSON && !isUsage(err) {
		r := rollbackResult{Name: o.Name, OK: err == nil}
		if res != nil {
			r.From, r.To, r.Config = res.From, res.To, res.Config
		}
		if err != nil {
			r.Error, r.Hint, r.ExitCode = explain(err)
		}
		if jerr := writeJSON(o.stdout, r); jerr != nil && err == nil {
			return jerr
		}
		return err
	}
	if err != nil {
		return err
	}
	if res.From == res.To {
		fmt.Fprintf(o.stdout, "done: %s already runs generation %d\n", o.Name, res.To)
		return nil
	}
	fmt.Fprintf(o.stdout, "done: %s rolled back to generation %d (was %d)\n", o.Name, res.To, res.From)
	fmt.Fprintf(o.stdout, "note: %s is unchanged: bootstrap push %s would apply it again (--dry-run shows the difference)\n", ws.Rel(ws.HostDir(o.Name)), o.Name)
	return nil
}
