package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/workspace"
)

// StatusOptions are the inputs of `bootstrap status`.
type StatusOptions struct {
	JSON   bool
	global *globalOptions
	out    io.Writer
	errOut io.Writer
}

func newStatusCmd(g *globalOptions) *cobra.Command {
	o := &StatusOptions{global: g}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the workspace's hosts and where each stands",
		Long: `List the workspace's hosts and where each stands, from hosts/*/state.json. Nothing
is contacted and nothing is written. A record that cannot be read (truncated,
mistyped, empty) is listed as broken with what to do, and the others still are;
then status exits 1.

--json prints an array: each host's state.json record, and for a broken one
{"name": NAME, "error": MESSAGE}.`,
		Example: `  bootstrap status
  bootstrap status --json | jq -r '.[] | select(.steps.capture.status == "done") | .name'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.out, o.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runStatus(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the hosts' state.json records as a JSON array")
	return cmd
}

// brokenStatus is a broken record in status --json.
type brokenStatus struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}

func runStatus(_ context.Context, o *StatusOptions) error {
	ws, err := workspace.Load(o.global.Workspace)
	if err != nil {
		return err
	}
	recs, broken, err := bootstrap.LoadRecords(ws)
	if err != nil {
		return err
	}
	if o.JSON {
		list := []any{}
		for _, r := range recs {
			list = append(list, r)
		}
		for _, b := range broken {
			list = append(list, brokenStatus{Name: b.Name, Error: b.Error()})
		}
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			return err
		}
		return brokenError(broken, len(recs))
	}
	if len(recs) == 0 && len(broken) == 0 {
		fmt.Fprintf(o.out, "no hosts in %s\n", ws.Dir)
		return nil
	}
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROVIDER\tADDRESS\tCHANNEL\tSTATE\tUPDATED")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Provider, dash(r.Address), r.Channel, r.Where(), r.UpdatedAt.Local().Format(time.DateTime))
	}
	for _, b := range broken {
		fmt.Fprintf(tw, "%s\t-\t-\t-\tBROKEN\t-\n", b.Name)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(broken) > 1 {
		for _, b := range broken {
			fmt.Fprintf(o.errOut, "note: %s: %v; %s\n", b.Name, b, b.Hint())
		}
	}
	return brokenError(broken, len(recs))
}

// brokenError is status's error when some records could not be read.
func brokenError(broken []*bootstrap.BrokenRecordError, good int) error {
	if len(broken) == 0 {
		return nil
	}
	if len(broken) == 1 {
		return broken[0]
	}
	return fmt.Errorf("%d of %d host records cannot be read (see the notes above): %w", len(broken), len(broken)+good, broken[0])
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
