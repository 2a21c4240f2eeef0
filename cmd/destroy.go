package cmd

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/provider"
	"bootstrap/workspace"
)

// DestroyOptions are the inputs of `bootstrap destroy`.
type DestroyOptions struct {
	Name     string
	Yes      bool
	Settings map[string]*string // the clouds' settings destroy takes (--profile)

	global *globalOptions
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newDestroyCmd(g *globalOptions) *cobra.Command {
	o := &DestroyOptions{global: g, Settings: map[string]*string{}}
	cmd := &cobra.Command{
		Use:   "destroy NAME",
		Short: "Delete everything the workspace created for a cloud host",
		Long: `Delete the server, its SBS root volume and its flexible IP, as recorded in
hosts/NAME/state.json and as found by the workspace's tags (so what an interrupted run
created is removed too). Already gone is fine; running it twice is fine. The host's .nix
files and log stay in the workspace; its state.json and known_hosts entry go.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			o.stdin, o.stdout, o.stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runDestroy(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	settingFlags(cmd, o.Settings, func(s provider.Setting) bool { return s.Destroy }, func(_ provider.Cloud, s provider.Setting) (string, string) {
		return s.Default, s.Usage
	})
	return cmd
}

func runDestroy(ctx context.Context, o *DestroyOptions) error {
	if err := workspace.ValidName(o.Name); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	ws, err := workspace.Open(o.global.Workspace)
	if err != nil {
		return err
	}
	rec, ok, err := bootstrap.LoadRecord(ws, o.Name)
	if err != nil {
		return err
	}
	if !ok {
		return usagef("no host %s in %s (no hosts/%s/state.json): nothing to destroy", o.Name, ws.Dir, o.Name)
	}
	c := cloudNamed(rec.Provider)
	if c == nil || rec.Machine.IsZero() {
		return usagef("%s is an existing %s host, not one bootstrap created: there is nothing to delete in a cloud; remove hosts/%s to forget it", o.Name, rec.Provider, o.Name)
	}
	id, err := ws.ID()
	if err != nil {
		return err
	}
	gone, err := c.Destroy(ctx, o.Name, id, rec.Machine, settingsOf(c, o.Settings), func(what string) error {
		return confirm(o.stdin, o.stderr, o.Yes, what)
	})
	if err != nil {
		return err
	}
	if gone.What == "" {
		fmt.Fprintf(o.stdout, "%s: nothing exists in %s\n", o.Name, gone.Where)
	} else {
		fmt.Fprintf(o.stdout, "destroyed %s: %s\n", o.Name, gone.What)
	}
	return bootstrap.Forget(ws, rec)
}
