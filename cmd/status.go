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
}

func newStatusCmd(g *globalOptions) *cobra.Command {
	o := &StatusOptions{global: g}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the workspace's hosts and where each stands",
		Args:  cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return applySettings(cmd, g)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.out = cmd.OutOrStdout()
			return runStatus(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the hosts' state.json records as a JSON array (with each host's recorded nixpkgs revision)")
	return cmd
}

func runStatus(_ context.Context, o *StatusOptions) error {
	ws, err := workspace.Open(o.global.Workspace)
	if err != nil {
		return err
	}
	recs, err := bootstrap.LoadRecords(ws)
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		if recs == nil {
			recs = []*bootstrap.Record{}
		}
		return enc.Encode(recs)
	}
	if len(recs) == 0 {
		fmt.Fprintf(o.out, "no hosts in %s\n", ws.Dir)
		return nil
	}
	tw := tabwriter.NewWriter(o.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPROVIDER\tADDRESS\tCHANNEL\tNIXPKGS\tSTATE\tUPDATED")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Provider, dash(r.Address), r.Channel, dash(r.NixpkgsLabel()), r.Where(), r.UpdatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
