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
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
)

// globalOptions are flags every verb has.
type globalOptions struct {
	Workspace string
	Quiet     bool // only errors, warnings and results
	Verbose   bool // also remote commands and retries, on stderr
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

Settings: every flag can also come from BOOTSTRAP_<FLAG> (BOOTSTRAP_CHANNEL,
BOOTSTRAP_HOST_NIX...), bootstrap.yaml in the workspace, or bootstrap.yaml in the
user config directory; the command line wins, then the environment, then the
workspace's file, then the user's. Keys are the flag names; an empty variable
sets nothing.`,
		Example: `  bootstrap ssh root@203.0.113.7 --channel nixos-24.11 --host-nix ./host.nix -i ~/.ssh/id_ed25519
  bootstrap status
  bootstrap connect web-1`,
		Version:       versionLine(),
		Args:          unknownCommand,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if skipSettings(cmd) {
				return nil
			}
			return applySettings(cmd, g)
		},
		RunE: func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	pf := root.PersistentFlags()
	pf.StringVarP(&g.Workspace, "workspace", "w", ".", "workspace directory (keys, known_hosts, hosts/)")
	pf.BoolVarP(&g.Quiet, "quiet", "q", false, "print only errors, warnings and results")
	pf.BoolVarP(&g.Verbose, "verbose", "v", false, "also print remote commands and retries, on stderr")
	root.MarkFlagsMutuallyExclusive("quiet", "verbose")
	root.AddCommand(newSSHCmd(g), newCloneCmd(g), newDestroyCmd(g), newForgetCmd(g), newConnectCmd(g), newPushCmd(g),
		newGenerationsCmd(g), newRollbackCmd(g), newStatusCmd(g), newSecretsCmd(g), newExportCmd(g), newRotateKeyCmd(g), newVersionCmd())
	for _, c := range clouds {
		root.AddCommand(newCloudCmd(g, c))
	}
	root.InitDefaultCompletionCmd()
	addCompletionExamples(root)
	return root
}

// skipSettings: commands that print something fixed (help, version,
// completion scripts) work whatever the settings hold.
func skipSettings(cmd *cobra.Command) bool {
	p := cmd.CommandPath()
	return cmd.Name() == "help" || cmd.Name() == "version" || strings.HasPrefix(p, "bootstrap completion") || strings.HasPrefix(p, "bootstrap __complete")
}

// Execute runs the root command with a context cancelled by SIGINT,
// SIGTERM or SIGHUP (a closed terminal stops a run the way Ctrl-C does:
// what exists is recorded, the next run resumes) and returns the process
// exit code. A second signal says what was still running and exits at once.
func Execute(root *cobra.Command) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &lastLine{w: root.OutOrStdout()}
	root.SetOut(out)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go watchSignals(done, sigs, cancel, out, root.ErrOrStderr(), os.Exit)
	err := asUsage(root.ExecuteContext(ctx))
	if err == nil {
		return 0
	}
	return render(root.ErrOrStderr(), err)
}

// watchSignals cancels the run on the first signal; on a second one it
// says what was still running and calls exit(130) without waiting for the
// run to wind down. It returns when done is closed (the run returned).
func watchSignals(done <-chan struct{}, sigs <-chan os.Signal, cancel func(), running *lastLine, stderr io.Writer, exit func(int)) {
	select {
	case <-sigs:
	case <-done:
		return
	}
	cancel()
	select {
	case s := <-sigs:
		what := "the command"
		if l := running.String(); l != "" {
			what = strings.Join(strings.Fields(l), " ")
		}
		fmt.Fprintf(stderr, "\n%s again: exiting now; still running: %s; what exists is in the workspace, run the same command again to resume\n", s, what)
		exit(exitInterrupted)
	case <-done:
	}
}

// lastLine passes output through and remembers its last non-empty line:
// the step in progress.
type lastLine struct {
	mu   sync.Mutex
	w    io.Writer
	last string
	part []byte
}

func (l *lastLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(l.part[:i])); line != "" {
			l.last = line
		}
		l.part = l.part[i+1:]
	}
	if len(l.part) > 4096 {
		l.part = l.part[len(l.part)-4096:]
	}
	l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lastLine) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
