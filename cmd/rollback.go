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

	global *globalOptions
	stdout io.Writer
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
  bootstrap rollback web-1 12`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usagef("usage: bootstrap rollback NAME [GENERATION]")
			}
			return nil
		},
		ValidArgsFunction: hostNames(g),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return applySettings(cmd, g)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.stdout = args[0], cmd.OutOrStdout()
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
	res, err := deploy.RollbackHost(ctx, ws, o.Name, o.Generation, deploy.RollbackOptions{Report: &progress{w: o.stdout, width: len(o.Name)}})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return &bootstrap.StepError{Step: "rollback", Host: o.Name, Err: err}
		}
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
