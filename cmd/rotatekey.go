package cmd

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"bootstrap/deploy"
	"bootstrap/workspace"
)

// RotateKeyOptions are the inputs of `bootstrap rotate-key`.
type RotateKeyOptions struct {
	Name    string
	Timeout time.Duration

	global *globalOptions
	stdout io.Writer
}

func newRotateKeyCmd(g *globalOptions) *cobra.Command {
	o := &RotateKeyOptions{global: g}
	cmd := &cobra.Command{
		Use:   "rotate-key NAME",
		Short: "Give a host a new deploy key of its own, and revoke the old one",
		Long: `Generate a new deploy key for the host (keys/NAME_ed25519.next until it is in use),
declare it beside the old one in hosts/NAME/bootstrap.nix and switch the host to it,
check that the new key alone logs in, take the old key out and switch again, and check
that the old key is refused. The new key then becomes keys/NAME_ed25519, and the record
names it. A host on the shared key (keys/deploy_ed25519) moves to a key of its own; the
shared key stays for the other hosts. Stopped half way, run it again.`,
		Example:           `  bootstrap rotate-key web-1`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: hostNames(g),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return applySettings(cmd, g)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.stdout = args[0], cmd.OutOrStdout()
			return runRotateKey(cmd.Context(), o)
		},
	}
	cmd.Flags().DurationVar(&o.Timeout, "timeout", DefaultPushTimeout, "overall time limit (two switches on the host)")
	return cmd
}

func runRotateKey(ctx context.Context, o *RotateKeyOptions) error {
	if o.Timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	ctx, ws, release, err := openHost(ctx, o.global, o.Name, o.Timeout)
	if err != nil {
		return err
	}
	defer release()
	if err := deploy.RotateKey(ctx, ws, o.Name, deploy.Options{Report: &progress{w: o.stdout, width: len(o.Name)}}); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "%s: logs in with %s alone\n", o.Name, workspace.HostKeyName(o.Name))
	return nil
}
