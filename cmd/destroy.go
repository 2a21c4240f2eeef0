package cmd

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/provider"
)

// DestroyOptions are the inputs of `bootstrap destroy`.
type DestroyOptions struct {
	Name     string
	Yes      bool
	Timeout  time.Duration
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
created is removed too, duplicates included). Without state.json the tags alone find
them, in --zone (default: the scw profile's). Every deletion is attempted and the
errors combined. Already gone is fine; running it twice is fine ("nothing left"). The
host's .nix files and log stay in the workspace; its state.json and known_hosts entry go.`,
		Args: cobra.ExactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return applySettings(cmd, g)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			o.stdin, o.stdout, o.stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runDestroy(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", DefaultDestroyTimeout, "overall time limit (servers take a while to stop and volumes to detach)")
	settingFlags(cmd.Flags(), o.Settings, func(s provider.Setting) bool { return s.Destroy }, func(_ provider.Cloud, s provider.Setting) (string, string) {
		return s.Default, s.Usage
	})
	return cmd
}

// DefaultDestroyTimeout bounds a destroy.
const DefaultDestroyTimeout = 15 * time.Minute

func runDestroy(ctx context.Context, o *DestroyOptions) error {
	if o.Timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	ctx, ws, release, err := openHost(ctx, o.global, o.Name, o.Timeout)
	if err != nil {
		return err
	}
	defer release()
	rec, ok, err := bootstrap.LoadRecord(ws, o.Name)
	if err != nil {
		return err
	}
	var c provider.Cloud
	var machine provider.Record
	switch {
	case ok:
		c = cloudNamed(rec.Provider)
		if c == nil {
			return usagef("%s is an existing %s host, not one bootstrap created: there is nothing to delete in a cloud; remove hosts/%s to forget it", o.Name, rec.Provider, o.Name)
		}
		machine = rec.Machine
	case len(clouds) == 1:
		// state.json is gone: the workspace's tags still find what exists.
		c = clouds[0]
	default:
		return usagef("no hosts/%s/state.json: say which cloud to look %s up in", o.Name, o.Name)
	}
	id, err := ws.ID()
	if err != nil {
		return err
	}
	gone, err := c.Destroy(ctx, o.Name, id, machine, settingsOf(c, o.Settings), func(what string) error {
		return confirm(o.stdin, o.stderr, o.Yes, what)
	})
	if err != nil {
		return err
	}
	if gone.What == "" {
		fmt.Fprintf(o.stdout, "%s: nothing left in %s\n", o.Name, gone.Where)
	} else {
		fmt.Fprintf(o.stdout, "destroyed %s: %s\n", o.Name, gone.What)
	}
	if !ok {
		return ws.RemoveHostFile(o.Name, bootstrap.HostKeyFile)
	}
	return bootstrap.Forget(ws, rec)
}
