package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"bootstrap/deploy"
	"bootstrap/workspace"
)

// runCheck is `bootstrap status --check [NAME...]`: the drift of each host.
func runCheck(ctx context.Context, o *StatusOptions) error {
	ws, err := workspace.Open(o.global.Workspace)
	if err != nil {
		return err
	}
	drifts, err := deploy.Check(ctx, ws, deploy.CheckRequest{
		Names:   o.Names,
		Skipped: func(name string, why error) { fmt.Fprintf(o.stderr, "note: skipping %s: %v\n", name, why) },
	})
	if drifts == nil && err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(o.out)
		enc.SetIndent("", "  ")
		if drifts == nil {
			drifts = []deploy.Drift{}
		}
		if jerr := enc.Encode(drifts); jerr != nil {
			return jerr
		}
		return err
	}
	for _, d := range drifts {
		printDrift(o.out, d)
	}
	return err
}

// printDrift prints one host's drift: a line when it matches, else what
// differs and the diff of its files.
func printDrift(w io.Writer, d deploy.Drift) {
	if !d.Drifted() {
		fmt.Fprintf(w, "%s: as the workspace says: %s, generation %d, /etc/nixos the same\n", d.Host, d.Nixpkgs, d.Nixpkgs.Generation)
		return
	}
	fmt.Fprintf(w, "%s: DRIFT\n", d.Host)
	width := len("/etc/nixos/")
	for _, f := range d.Files {
		width = max(width, len("/etc/nixos/"+f.File))
	}
	for _, x := range d.Differences {
		width = max(width, len(x.What))
	}
	for _, f := range d.Files {
		fmt.Fprintf(w, "  %-*s  %s\n", width, "/etc/nixos/"+f.File, f.State)
	}
	for _, x := range d.Differences {
		fmt.Fprintf(w, "  %-*s  workspace: %s\n  %-*s  host:      %s\n", width, x.What, x.Workspace, width, "", x.Host)
	}
	if d.Error != "" {
		fmt.Fprintf(w, "  %-*s  %s\n", width, "not checked", d.Error)
	}
	if d.Diff != "" {
		for _, l := range strings.SplitAfter(strings.TrimRight(d.Diff, "\n")+"\n", "\n") {
			if l != "" {
				fmt.Fprintf(w, "  | %s", l)
			}
		}
	}
}
