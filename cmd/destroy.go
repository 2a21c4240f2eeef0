package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/provider"
	"bootstrap/workspace"
)

// DestroyOptions are the inputs of `bootstrap destroy`.
type DestroyOptions struct {
	Name      string
	Yes       bool
	Settings  map[string]*string // the clouds' settings destroy takes (--profile)
	ZoneGiven bool               // --zone on the command line: look there by tags without a record
	JSON      bool
	Timeout   time.Duration

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
		Example: `  bootstrap destroy web-1
  bootstrap destroy web-1 --yes --json | jq -r .deleted`,
		Args:              exactArgs(1),
		ValidArgsFunction: hostNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			o.ZoneGiven = cmd.Flags().Changed("zone")
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
	cmd.Flags().DurationVar(&o.Timeout, "timeout", DefaultDestroyTimeout, "overall time limit (servers take a while to stop and volumes to detach)")
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

// DefaultDestroyTimeout bounds a destroy.
const DefaultDestroyTimeout = 15 * time.Minute

func runDestroy(ctx context.Context, o *DestroyOptions) (destroyResult, error) {
	var res destroyResult
	if o.Timeout <= 0 {
		return res, usagef("--timeout must be positive")
	}
	ctx, ws, release, err := openHost(ctx, o.global, o.Name, o.Timeout)
	if err != nil {
		return res, err
	}
	defer release()
	rec, ok, err := bootstrap.LoadRecord(ws, o.Name)
	if err != nil {
		return res, err
	}
	var c provider.Cloud
	var machine provider.Record
	switch {
	case ok:
		res.Provider = rec.Provider
		c = cloudNamed(rec.Provider)
		if c == nil || rec.Machine.IsZero() {
			return res, usagef("%s is an existing %s host, not one bootstrap created: there is nothing to delete in a cloud: bootstrap forget %s drops it from the workspace", o.Name, rec.Provider, o.Name)
		}
		machine = rec.Machine
	case len(clouds) == 1 && (hostDirExists(ws, o.Name) || o.ZoneGiven):
		// state.json is gone: the workspace's tags still find what exists.
		c = clouds[0]
		res.Provider = c.Name()
	case len(clouds) == 1:
		return res, usagef("no host %s in %s (no hosts/%s/state.json): nothing to destroy; if its state.json was lost, pass --zone ZONE to find what the workspace created there by its tags", o.Name, ws.Dir, o.Name)
	default:
		return res, usagef("no hosts/%s/state.json: say which cloud to look %s up in", o.Name, o.Name)
	}
	id, err := ws.ID()
	if err != nil {
		return res, err
	}
	gone, err := c.Destroy(ctx, o.Name, id, machine, settingsOf(c, o.Settings), func(what string) error {
		return confirm(o.stdin, o.stderr, o.Yes, what)
	})
	res.Where, res.Deleted = gone.Where, gone.What
	if err != nil {
		return res, err
	}
	if !o.JSON {
		if gone.What == "" {
			fmt.Fprintf(o.stdout, "%s: nothing left in %s\n", o.Name, gone.Where)
		} else {
			fmt.Fprintf(o.stdout, "destroyed %s: %s\n", o.Name, gone.What)
		}
	}
	if !ok {
		return res, ws.RemoveHostFile(o.Name, bootstrap.HostKeyFile)
	}
	if err := bootstrap.Forget(ws, rec); err != nil {
		return res, err
	}
	res.Forgot = true
	return res, nil
}

// hostDirExists reports whether hosts/NAME is there (a host whose
// state.json was lost).
func hostDirExists(ws *workspace.Workspace, name string) bool {
	fi, err := os.Stat(ws.HostDir(name))
	return err == nil && fi.IsDir()
}
