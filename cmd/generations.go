package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"bootstrap/deploy"
	"bootstrap/workspace"
)

// GenerationsOptions are the inputs of `bootstrap generations`.
type GenerationsOptions struct {
	Name    string
	JSON    bool
	Timeout time.Duration

	global *globalOptions
	stdout io.Writer
}

func newGenerationsCmd(g *globalOptions) *cobra.Command {
	o := &GenerationsOptions{global: g}
	cmd := &cobra.Command{
		Use:   "generations NAME",
		Short: "List a host's NixOS system generations (number, date, current)",
		Long: `List the system generations of a bootstrapped host (nix-env --list-generations -p
` + deploy.SystemProfile + `): number, date, which is current (running, or
the next boot's after push --boot), and whether push kept a copy of /etc/nixos for
it, which "bootstrap rollback" restores.`,
		Example: `  bootstrap generations web-1
  bootstrap generations web-1 --json | jq '.[] | select(.current)'`,
		Args:              exactArgs(1),
		ValidArgsFunction: hostNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name, o.stdout = args[0], cmd.OutOrStdout()
			return runGenerations(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the generations as a JSON array")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 2*time.Minute, "overall time limit")
	return cmd
}

func runGenerations(ctx context.Context, o *GenerationsOptions) error {
	if o.Timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	ws, err := workspace.Load(o.global.Workspace)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	gens, err := deploy.Generations(ctx, ws, o.Name)
	if err != nil {
		return err
	}
	return printGenerations(o.stdout, o.Name, gens, o.JSON)
}

func printGenerations(w io.Writer, name string, gens []deploy.Generation, asJSON bool) error {
	if asJSON {
		if gens == nil {
			gens = []deploy.Generation{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(gens)
	}
	if len(gens) == 0 {
		fmt.Fprintf(w, "%s has no system generations (%s is empty)\n", name, deploy.SystemProfile)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GENERATION\tDATE\tCURRENT\t/ETC/NIXOS COPY")
	for _, g := range gens {
		cur, kept := "", "-"
		if g.Current {
			cur = "current"
		}
		if g.Config {
			kept = "kept"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", g.Number, g.Date.Local().Format(time.DateTime), cur, kept)
	}
	return tw.Flush()
}
