package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/workspace"
)

// StatusOptions are the inputs of `bootstrap status`.
type StatusOptions struct {
	JSON   bool
	Check  bool     // connect and compare each host with the workspace
	Names  []string // with Check: the hosts (none: every bootstrapped host)
	global *globalOptions
	out    io.Writer
	stderr io.Writer
}

func newStatusCmd(g *globalOptions) *cobra.Command {
	o := &StatusOptions{global: g}
	cmd := &cobra.Command{
		Use:   "status [--check [NAME...]]",
		Short: "List the workspace's hosts and where each stands; --check compares them with the hosts",
		Long: `List the workspace's hosts from their records: provider, address, channel, the
nixpkgs release each ran when last recorded (after the reboot, every push and rollback),
and where each stands. Nothing is contacted and nothing is written. A record that
cannot be read (truncated, mistyped, empty) is listed as broken with what to do, and
the others still are; then status exits 1.

--json prints an array: each host's state.json record, and for a broken one
{"name": NAME, "error": MESSAGE}.

With --check, connect to each host (or the named ones) and compare it with the
workspace: /etc/nixos file by file against hosts/NAME (the files push manages), the
nixpkgs revision it runs and its next boot's, root's channel and what it holds, the
current generation, and the host key. What differs is printed; the exit status is ` + strconv.Itoa(exitDrift) + `
when any host drifted or could not be checked. Nothing is written.`,
		Example: `  bootstrap status
  bootstrap status --json | jq '.[] | {name, revision: .nixpkgs.revision}'
  bootstrap status --check                  # every bootstrapped host
  bootstrap status --check web-1 --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && !o.Check {
				return usagef("status takes host names only with --check (bootstrap status --check %s)", strings.Join(args, " "))
			}
			return nil
		},
		ValidArgsFunction: hostNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.out, o.stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			if o.Check {
				o.Names = args
				return runCheck(cmd.Context(), o)
			}
			return runStatus(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the hosts' state.json records as a JSON array (with each host's recorded nixpkgs revision); with --check, what differs")
	cmd.Flags().BoolVar(&o.Check, "check", false, "connect to the hosts and compare them with the workspace: /etc/nixos, nixpkgs revision, channel, generation, host key; exit "+strconv.Itoa(exitDrift)+" on drift")
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
	fmt.Fprintln(tw, "NAME\tPROVIDER\tADDRESS\tCHANNEL\tSTATE\tNIXPKGS\tUPDATED")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Provider, dash(r.Address), r.Channel, r.Where(), dash(r.NixpkgsLabel()), r.UpdatedAt.Local().Format(time.DateTime))
	}
	for _, b := range broken {
		fmt.Fprintf(tw, "%s\t-\t-\t-\tBROKEN\t-\n", b.Name)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(broken) > 1 {
		for _, b := range broken {
			fmt.Fprintf(o.stderr, "note: %s: %v; %s\n", b.Name, b, b.Hint())
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
