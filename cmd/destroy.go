package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/provider/scaleway"
	"bootstrap/workspace"
)

// DestroyOptions are the inputs of `bootstrap destroy`.
type DestroyOptions struct {
	Name    string
	Yes     bool
	Profile string

	global *globalOptions
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newDestroyCmd(g *globalOptions) *cobra.Command {
	o := &DestroyOptions{global: g}
	cmd := &cobra.Command{
		Use:   "destroy NAME",
		Short: "Delete everything the workspace created for a cloud host",
		Long: `Delete the server, its SBS root volume and its flexible IP, as recorded in
hosts/NAME/state.json and as found by the workspace's tags (so what an interrupted run
created is removed too). Already gone is fine; running it twice is fine. The host's .nix
files and log stay in the workspace; its state.json and known_hosts entry go.`,
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
	cmd.Flags().StringVar(&o.Profile, "profile", "", "scw config profile (default: the active one)")
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
	made, ok, err := scaleway.LoadRecord(rec.Machine)
	if err != nil {
		return err
	}
	if rec.Provider != scaleway.Kind || !ok {
		return usagef("%s is an existing %s host, not one bootstrap created: there is nothing to delete in a cloud; remove hosts/%s to forget it", o.Name, rec.Provider, o.Name)
	}
	prov, _, err := scalewayClient(o.Profile, made.Zone)
	if err != nil {
		return err
	}
	id, err := ws.ID()
	if err != nil {
		return err
	}
	// What the record says, plus what carries our tags (a run may have died
	// between a create and its save).
	res := made.Resources()
	found, err := prov.Find(ctx, made.Zone, id, o.Name)
	if err != nil {
		return fmt.Errorf("look up %s by its tags: %w", o.Name, err)
	}
	res = merge(res, found)
	if res.Empty() {
		fmt.Fprintf(o.stdout, "%s: nothing exists in %s\n", o.Name, made.Zone)
		return forget(ws, rec)
	}
	if err := confirm(o.stdin, o.stderr, o.Yes, "deletes "+res.String()); err != nil {
		return err
	}
	if err := prov.Destroy(ctx, res); err != nil {
		return fmt.Errorf("destroy %s: %w", o.Name, err)
	}
	fmt.Fprintf(o.stdout, "destroyed %s: %s\n", o.Name, res)
	return forget(ws, rec)
}

// merge adds what the tag lookup found to what the record holds.
func merge(rec, found scaleway.Resources) scaleway.Resources {
	if rec.Zone == "" {
		rec.Zone = found.Zone
	}
	if rec.IPID == "" {
		rec.IPID, rec.IPAddress = found.IPID, found.IPAddress
	}
	if rec.ServerID == "" {
		rec.ServerID = found.ServerID
	}
	seen := map[string]bool{}
	for _, v := range rec.VolumeIDs {
		seen[v] = true
	}
	for _, v := range found.VolumeIDs {
		if !seen[v] {
			rec.VolumeIDs = append(rec.VolumeIDs, v)
		}
	}
	return rec
}

// forget drops the host's state and pinned key; its .nix files and log stay.
func forget(ws *workspace.Workspace, rec *bootstrap.Record) error {
	if rec.Address != "" {
		if err := ws.ForgetHost(rec.Address, rec.Port); err != nil {
			return err
		}
	}
	for _, f := range []string{"state.json", "ssh_host_ed25519_key"} {
		if err := os.Remove(ws.HostFile(rec.Name, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
