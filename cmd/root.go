// Package cmd is the bootstrap command line: one file per verb, each binding
// its flags into the options of one call into the packages below, and printing
// what comes back. Errors are rendered once, in errors.go, with a hint and an
// exit code.
//
// It holds no logic of the house: the pipeline is package bootstrap, pushing
// and rolling back package deploy, secrets package secrets, and what a cloud
// needs (its settings, creating and deleting) its provider. A cloud is one
// line in clouds (cloud.go). Only cmd/bootstrap imports this package.
package cmd

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// globalOptions are flags every verb has.
type globalOptions struct {
	Workspace string
}

// NewRoot builds the command tree.
func NewRoot() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:   "bootstrap",
		Short: "Turn a fresh Debian/Ubuntu machine into a reproducible NixOS machine",
		Long: `bootstrap turns a fresh Debian or Ubuntu machine into NixOS with nixos-infect,
keeps its configuration in a plain-file workspace and on the host, and pins its
SSH host key.

Settings come from flags, then BOOTSTRAP_* environment variables (BOOTSTRAP_CHANNEL,
BOOTSTRAP_HOST_NIX...), then bootstrap.yaml in the workspace, then bootstrap.yaml in
the user config directory. Keys are the flag names.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.Workspace, "workspace", "w", ".", "workspace directory (keys, known_hosts, hosts/)")
	root.AddCommand(newSSHCmd(g), newCloneCmd(g), newDestroyCmd(g), newPushCmd(g), newGenerationsCmd(g), newRollbackCmd(g), newStatusCmd(g), newSecretsCmd(g), newExportCmd(g))
	for _, c := range clouds {
		root.AddCommand(newCloudCmd(g, c))
	}
	return root
}

// Execute runs the root command with a context cancelled by SIGINT/SIGTERM
// and returns the process exit code.
func Execute(root *cobra.Command) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	return render(root.ErrOrStderr(), err)
}
