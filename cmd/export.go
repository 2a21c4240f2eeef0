package cmd

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"bootstrap/export"
	"bootstrap/workspace"
)

// ExportOptions are the inputs of `bootstrap export`.
type ExportOptions struct {
	Format export.Format
	Force  bool

	global *globalOptions
	stdout io.Writer
	stderr io.Writer
}

func newExportCmd(g *globalOptions) *cobra.Command {
	o := &ExportOptions{global: g}
	cmd := &cobra.Command{
		Use:   "export colmena|flake",
		Short: "Write the workspace's hosts for colmena (hive.nix) or as a flake (flake.nix)",
		Long: `Hand the workspace over to a deployment engine: write, at the workspace's root, hive.nix
for colmena, or flake.nix with nixosConfigurations.NAME (and the same hosts for colmena),
plus ssh_config. They use hosts/NAME/configuration.nix as it is, each host's nixpkgs
revision as bootstrap last recorded it (one pinned nixpkgs per revision in use), its
address and port, root, and the workspace's deploy key and known_hosts (ssh_config).

Every bootstrapped host is exported; one without a recorded revision is refused (bootstrap
push records it). A hive.nix, flake.nix or ssh_config that bootstrap did not write is not
replaced unless --force. Then, from the workspace:

  ` + export.ColmenaApply + `
  ` + export.RebuildFlake("NAME"),
		Example: `  bootstrap export colmena && SSH_CONFIG_FILE=ssh_config colmena apply
  bootstrap export flake && git add flake.nix ssh_config hosts && nix flake check`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 || (args[0] != string(export.Colmena) && args[0] != string(export.Flake)) {
				return usagef("usage: bootstrap export colmena|flake: say which to write, colmena or flake")
			}
			return nil
		},
		ValidArgs: []string{string(export.Colmena), string(export.Flake)},
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return applySettings(cmd, g)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Format, o.stdout, o.stderr = export.Format(args[0]), cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runExport(o)
		},
	}
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace a hive.nix, flake.nix or ssh_config that bootstrap did not write")
	return cmd
}

func runExport(o *ExportOptions) error {
	ws, err := workspace.Open(o.global.Workspace)
	if err != nil {
		return err
	}
	hosts, err := export.LoadHosts(ws, func(name string, why error) { fmt.Fprintf(o.stderr, "note: skipping %s: %v\n", name, why) })
	if err != nil {
		return err
	}
	res, err := export.Write(ws, o.Format, hosts, o.Force)
	if err != nil {
		return err
	}
	names := make([]string, len(res.Hosts))
	for i, h := range res.Hosts {
		names[i] = h.Name
	}
	fmt.Fprintf(o.stdout, "wrote %s: %d host(s) (%s) on %d pinned nixpkgs\n", strings.Join(res.Files, " and "), len(names), strings.Join(names, ", "), res.Revision)
	switch o.Format {
	case export.Colmena:
		fmt.Fprintf(o.stdout, "next, from %s:\n  %s\n", ws.Dir, export.ColmenaApply)
	case export.Flake:
		fmt.Fprintf(o.stdout, "next, from %s (in a git repository, git add flake.nix %s hosts first):\n  %s\n  %s\n", ws.Dir, export.SSHConfig, export.RebuildFlake(names[0]), export.ColmenaApply)
	}
	return nil
}
