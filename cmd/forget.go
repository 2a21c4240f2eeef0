package cmd

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/workspace"
)

// ForgetOptions are the inputs of `bootstrap forget`.
type ForgetOptions struct {
	Name   string
	Yes    bool
	DryRun bool
	Orphan bool
	JSON   bool

	global *globalOptions
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newForgetCmd(g *globalOptions) *cobra.Command {
	o := &ForgetOptions{global: g}
	cmd := &cobra.Command{
		Use:   "forget NAME",
		Short: "Drop a host from the workspace: hosts/NAME and its known_hosts entry",
		Long: `Remove hosts/NAME (its state.json, .nix files, log and secrets) and the host's
known_hosts entry from the workspace. Nothing is contacted: the machine itself is
not touched. Use it for a host you no longer manage, or a first run with a typo
that you do not want to resume.

A cloud machine that was created and not destroyed is refused, because it would
stay billed with nothing to find it by: bootstrap destroy NAME deletes it and
forgets it. --orphan forgets it anyway.`,
		Example: `  bootstrap forget web-1 --dry-run    # what would go
  bootstrap forget web-1 --yes`,
		Args:              exactArgs(1),
		ValidArgsFunction: hostNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			o.stdin, o.stdout, o.stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runForget(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	f.BoolVar(&o.DryRun, "dry-run", false, "say what would be removed; remove nothing")
	f.BoolVar(&o.Orphan, "orphan", false, "forget a cloud machine that was not destroyed (it stays billed)")
	f.BoolVar(&o.JSON, "json", false, "print what was removed as a JSON object")
	return cmd
}

func runForget(_ context.Context, o *ForgetOptions) error {
	if err := workspace.ValidName(o.Name); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	ws, err := workspace.Load(o.global.Workspace)
	if err != nil {
		return err
	}
	plan, err := bootstrap.ForgetHost(ws, o.Name, o.Orphan, true)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%s (%d file(s))", plan.Dir, len(plan.Files))
	if len(plan.HostKeys) > 0 {
		what += " and the known_hosts entry of " + strings.Join(plan.HostKeys, ", ")
	}
	if o.DryRun {
		if o.JSON {
			return writeJSON(o.stdout, plan)
		}
		fmt.Fprintf(o.stdout, "dry run: would remove %s; nothing removed\n", what)
		for _, f := range plan.Files {
			fmt.Fprintf(o.stdout, "  %s\n", f)
		}
		return nil
	}
	if err := confirm(o.stdin, o.stderr, o.Yes, "removes "+what+" from the workspace"); err != nil {
		return err
	}
	done, err := bootstrap.ForgetHost(ws, o.Name, o.Orphan, false)
	if err != nil {
		return err
	}
	if o.JSON {
		return writeJSON(o.stdout, done)
	}
	fmt.Fprintf(o.stdout, "forgot %s: removed %s\n", o.Name, what)
	return nil
}
