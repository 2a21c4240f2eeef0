package cmd

import (
	"cmp"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"bootstrap/infect"
)

// buildInfo is what the binary knows of its own build: the module version
// and, when built from a checkout with VCS stamping, the commit, its date
// and whether the tree had changes.
type buildInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Date     string `json:"date"`
	Modified bool   `json:"modified"`
	Go       string `json:"go"`

	InfectCommit string `json:"nixos_infect_commit"`
	InfectSHA256 string `json:"nixos_infect_sha256"`
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: "unknown", Commit: "unknown", Date: "unknown", InfectCommit: infect.PinnedCommit, InfectSHA256: infect.Pinned.SHA256}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Go = info.GoVersion
	b.Version = cmp.Or(info.Main.Version, b.Version)
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Date = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// versionLine is what --version and bootstrap version print.
func versionLine() string {
	b := readBuildInfo()
	commit := b.Commit
	if b.Modified {
		commit += " (modified)"
	}
	return fmt.Sprintf("bootstrap %s\ncommit %s, built %s, %s\nnixos-infect %s, sha256 %s",
		b.Version, commit, b.Date, cmp.Or(b.Go, "go unknown"), b.InfectCommit, b.InfectSHA256)
}

func newVersionCmd() *cobra.Command {
	asJSON := false
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, the commit and build date, and the pinned nixos-infect",
		Long: `Print bootstrap's version, the commit and date it was built from (when the build
recorded them: go build in a git checkout does), and the nixos-infect commit and
sha256 it runs unless --infect-url says otherwise. bootstrap --version prints the same.`,
		Example: `  bootstrap version
  bootstrap version --json | jq -r .nixos_infect_sha256`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), readBuildInfo())
			}
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print it as a JSON object")
	return cmd
}
