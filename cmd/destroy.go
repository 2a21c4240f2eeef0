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
	JSON     bool

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
		Example: `  bootstrap destroy web-1
  bootstrap destroy web-1 --yes --json | jq -r .deleted`,
		Args:              exactArgs(1),
		ValidArgsFunction: hostNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			o.stdin, o.stdout, o.stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			res, err := runDestroy(cmd.Context(), o)
			if o.JSON && !isUsage(err) {
				res.Name, res.OK = o.Name, err == nil
				if err != nil {
					res.Error, res.Hint, res.ExitCode = explain(err)
				}
				if jerr := writeJSON(o.stdout, res); jerr != nil && err == nil {
					return jerr
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the result as one JSON object")
	settingFlags(cmd, o.Settings, func(s provider.Setting) bool { return s.Destroy }, func(_ provider.Cloud, s provider.Setting) (string, string) {
		return s.Default, s.Usage
	})
	return cmd
}

// destroyResult is destroy's --json object.
type destroyResult struct {
	Name     string `json:"name"`
	OK       bool   `json:"ok"`
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
	Hint     string `json:"hint,omitempty"`
	Provider string `json:"provider,omitempty"`
	Where    string `json:"where,omitempty"`   // e.g. the zone
	Deleted  string `json:"deleted,omitempty"` // what was deleted; "" when nothing existed
	Forgot   bool   `json:"forgot"`            // the record and known_hosts entry went too
}

func runDestroy(ctx context.Context, o *DestroyOptions) (destroyResult, error) {
	var res destroyResult
	if err := workspace.ValidName(o.Name); err != nil {
		return res, &UsageError{Msg: err.Error()}
	}
	ws, err := workspace.Load(o.global.Workspace)
	if err != nil {
		return res, err
	}
	rec, ok, err := bootstrap.LoadRecord(ws, o.Name)
	if err != nil {
		return res, err
	}
	if !ok {
		return res, usagef("no host %s in %s (no hosts/%s/state.json): nothing to destroy", o.Name, ws.Dir, o.Name)
	}
	res.Provider = rec.Provider
	c := cloudNamed(rec.Provider)
	if c == nil || rec.Machine.IsZero() {
		return res, usagef("%s is an existing %s host, not one bootstrap created: there is nothing to delete in a cloud: bootstrap forget %s drops it from the workspace", o.Name, rec.Provider, o.Name)
	}
	id, err := ws.ID()
	if err != nil {
		return res, err
	}
	gone, err := c.Destroy(ctx, o.Name, id, rec.Machine, settingsOf(c, o.Settings), func(what string) error {
		return confirm(o.stdin, o.stderr, o.Yes, what)
	})
	res.Where, res.Deleted = gone.Where, gone.What
	if err != nil {
		return res, err
	}
	if !o.JSON {
		if gone.What == "" {
			fmt.Fprintf(o.stdout, "%s: nothing exists in %s\n", o.Name, gone.Where)
		} else {
			fmt.Fprintf(o.stdout, "destroyed %s: %s\n", o.Name, gone.What)
		}
	}
	if err := bootstrap.Forget(ws, rec); err != nil {
		return res, err
	}
	res.Forgot = true
	return res, nil
}
