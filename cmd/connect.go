package cmd

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/remote"
	"bootstrap/workspace"
)

// ConnectOptions are the inputs of `bootstrap connect`.
type ConnectOptions struct {
	Name    string
	Command []string // after --
	Print   bool

	global *globalOptions
	stdout io.Writer
	// exec replaces the process with argv; nil is syscall.Exec of the ssh
	// found in PATH.
	exec func(argv []string) error
}

func newConnectCmd(g *globalOptions) *cobra.Command {
	o := &ConnectOptions{global: g}
	cmd := &cobra.Command{
		Use:   "connect NAME [-- COMMAND...]",
		Short: "Open OpenSSH to a host of the workspace, as the tool logs in",
		Long: `Run OpenSSH's ssh to a host of the workspace, the way hcloud server ssh does: as
root with the deploy key alone (-i keys/deploy_ed25519 -o IdentitiesOnly=yes), the
workspace's known_hosts and StrictHostKeyChecking=yes; before the host rebooted into
NixOS, as the user it was bootstrapped with and your own keys. Anything after --
runs on the host instead of a shell. ssh replaces bootstrap, so its exit status is
the command's. --print prints the command line instead.`,
		Example: `  bootstrap connect web-1
  bootstrap connect web-1 -- nixos-version
  bootstrap connect web-1 --print`,
		Args:              argsBetween(1, -1),
		ValidArgsFunction: hostNames(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			if at := cmd.ArgsLenAtDash(); at >= 0 {
				if at != 1 {
					return usagef("give one NAME before --; usage: %s", cmd.UseLine())
				}
				o.Command = args[1:]
			} else if len(args) > 1 {
				return usagef("put the remote command after --: bootstrap connect %s -- %s", args[0], strings.Join(args[1:], " "))
			}
			o.Name, o.stdout = args[0], cmd.OutOrStdout()
			return runConnect(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.Print, "print", false, "print the ssh command line instead of running it")
	return cmd
}

func runConnect(_ context.Context, o *ConnectOptions) error {
	ws, err := workspace.Load(o.global.Workspace)
	if err != nil {
		return err
	}
	rec, err := bootstrap.LoadHost(ws, o.Name, bootstrap.StepConnect)
	if err != nil {
		return err
	}
	argv, err := bootstrap.SSHArgs(ws, rec, o.Command...)
	if err != nil {
		return err
	}
	if o.Print {
		quoted := make([]string, len(argv))
		for i, a := range argv {
			quoted[i] = remote.Quote(a)
		}
		fmt.Fprintln(o.stdout, strings.Join(quoted, " "))
		return nil
	}
	if o.exec != nil {
		return o.exec(argv)
	}
	path, err := exec.LookPath("ssh")
	if err != nil {
		return fmt.Errorf("connect needs OpenSSH's ssh in PATH: %w", err)
	}
	return syscall.Exec(path, argv, os.Environ())
}
