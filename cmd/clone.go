package cmd

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/provider"
	"bootstrap/secrets"
	"bootstrap/workspace"
)

// CloneOptions are the inputs of `bootstrap clone`.
type CloneOptions struct {
	pipelineOptions
	Source           string // workspace host, or [user@]host of any NixOS machine
	To               string // "ssh" or a cloud's name
	Host             string // --host [user@]host with --to ssh
	Port             int
	SourceIdentities []string
	SourceHostKey    string
	WithSecrets      bool
	Includes         []string
	Settings         map[string]*string // the clouds' settings, "" for the source's or the default

	global *globalOptions
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newCloneCmd(g *globalOptions) *cobra.Command {
	o := &CloneOptions{global: g, Settings: map[string]*string{}}
	cmd := &cobra.Command{
		Use:   "clone SOURCE NAME",
		Short: "Make a new machine with the channel and configuration of a NixOS machine",
		Long: `Read a NixOS machine's /etc/nixos, root channel and state version over SSH and bootstrap
a new machine NAME with the same channel and its *.nix files (and the files they refer to
by relative path), except hardware-configuration.nix, which is captured fresh on the new
hardware. Other files only with --include GLOB; a file that looks like a secret never
(wireguard keys, *.key, *.env, credentials...). The new host gets its own hostname
(forced in bootstrap.nix), its own SSH host keys and its own deploy key. Bootstrap's
secrets are copied only with --with-secrets, and only into the age store.

SOURCE is a workspace host (then the new machine defaults to the same provider, type,
zone and image) or [user@]host of any reachable NixOS machine (--source-identity).`,
		Example: `  bootstrap clone web-1 web-1-staging
  bootstrap clone root@198.51.100.4 stage-2 --to ssh --host root@203.0.113.9 --source-identity ~/.ssh/id_ed25519`,
		Args: cobra.ExactArgs(2),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return applySettings(cmd, g)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Source, o.Name = args[0], args[1]
			o.stdin, o.stdout, o.stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runClone(cmd.Context(), cmd, o)
		},
	}
	o.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&o.To, "to", "", `where the new machine comes from: "ssh", or a cloud: "`+strings.Join(strings.Split(cloudNames(), " or "), `", "`)+`" (default for a source of this workspace made there)`)
	f.StringVar(&o.Host, "host", "", "with --to ssh: the existing [USER@]HOST to turn into the clone")
	f.IntVarP(&o.Port, "port", "p", 22, "with --to ssh: SSH port of --host")
	f.StringArrayVar(&o.SourceIdentities, "source-identity", nil, "private key to log in to a SOURCE outside the workspace (repeatable)")
	f.StringVar(&o.SourceHostKey, "source-host-key", "", "expected ed25519 host key fingerprint of SOURCE, SHA256:...")
	f.BoolVar(&o.WithSecrets, "with-secrets", false, "copy the source's secrets too, into the age store (never to a plaintext file)")
	f.StringArrayVar(&o.Includes, "include", nil, "also copy the files of the source's /etc/nixos matching GLOB (on the path below /etc/nixos or the base name; repeatable); files that look like secrets are never copied")
	settingFlags(f, o.Settings, func(provider.Setting) bool { return true }, func(c provider.Cloud, s provider.Setting) (string, string) {
		return "", "with --to " + c.Name() + ": " + s.CloneUsage
	})
	// The channel is the source's; --channel may only confirm it.
	f.Lookup("channel").Usage = "must match the source's channel if given (default: the source's)"
	return cmd
}

func runClone(ctx context.Context, cmd *cobra.Command, o *CloneOptions) error {
	if err := workspace.ValidName(o.Name); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	ws, err := workspace.Open(o.global.Workspace)
	if err != nil {
		return err
	}
	if _, exists, err := bootstrap.LoadRecord(ws, o.Name); err != nil {
		return err
	} else if exists {
		return usagef("the workspace already holds a host %s: pick another name for the clone (or bootstrap destroy %s)", o.Name, o.Name)
	}
	srcRec, err := bootstrap.SourceRecord(ws, o.Source)
	if err != nil {
		return err
	}
	ours := srcRec != nil
	to := o.To
	if to == "" {
		switch {
		case o.Host != "":
			to = "ssh"
		case ours && cloudNamed(srcRec.Provider) != nil:
			to = srcRec.Provider
		default:
			return usagef("say where the clone runs: --to ssh --host [USER@]HOST, or --to %s", cloudNames())
		}
	}
	if to != "ssh" && cloudNamed(to) == nil {
		return usagef("--to %q: want ssh or %s", to, cloudNames())
	}
	if to == "ssh" && o.Host == "" {
		return usagef("--to ssh needs --host [USER@]HOST: the existing machine to turn into the clone")
	}

	// Read the source.
	var login bootstrap.SourceLogin
	if !ours {
		if login.User, login.Host, err = splitTarget(o.Source); err != nil {
			return err
		}
		keys, closer, err := loadKeys(o.SourceIdentities, o.Agent, o.stderr, false)
		if err != nil {
			return err
		}
		defer closer.Close()
		login.Keys, login.HostKey, login.AcceptNewHostKey = keys, o.SourceHostKey, o.AcceptNewHostKey
		login.ExtraKnownHosts, login.ConfirmHostKey = userKnownHosts(), hostKeyPrompt(o.stdin, o.stderr)
	}
	if o.Timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	sctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	src, err := bootstrap.ReadCloneSource(sctx, ws, o.Source, srcRec, login, o.WithSecrets, o.Includes)
	if err != nil {
		return err
	}
	defer secrets.Wipe(src.Secrets)
	if o.Channel != "" && o.Channel != src.Channel.String() {
		return usagef("--channel %s differs from the source's channel %s: a clone keeps the source's channel", o.Channel, src.Channel)
	}
	o.Channel = src.Channel.String()
	plan := bootstrap.PlanClone(src)
	if plan.HostNix == nil {
		return usagef("clone source %s has neither host.nix nor configuration.nix in /etc/nixos", o.Source)
	}
	if o.WithSecrets {
		if err := bootstrap.CopySecrets(ws, src, o.Name); err != nil {
			return err
		}
	}

	// Bootstrap the new machine with the source's channel and files.
	dir, err := os.MkdirTemp("", "bootstrap-clone-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	hostNix := filepath.Join(dir, "host.nix")
	if err := os.WriteFile(hostNix, plan.HostNix, 0o600); err != nil {
		return err
	}
	o.HostNix = hostNix
	if err := cmd.Flags().Set("host-nix", hostNix); err != nil {
		return err
	}
	opts, err := o.resolve(cmd.Flags())
	if err != nil {
		return err
	}
	opts.HostNixPath = src.Label + ":/etc/nixos/" + map[bool]string{true: "host.nix", false: "configuration.nix"}[src.Ours]
	opts.ExtraFiles = plan.Extra
	opts.CloneOf = src.Label
	opts.StateVersion = src.StateVersion
	opts.Stdout = o.stdout
	fmt.Fprintf(o.stdout, "clone %s (%s, NixOS %s) as %s\n", src.Label, src.Channel, src.NixOSVersion, o.Name)

	if to == "ssh" {
		user, host, err := splitTarget(o.Host)
		if err != nil {
			return err
		}
		so := &SSHOptions{pipelineOptions: o.pipelineOptions, Target: o.Host, Port: o.Port, global: o.global, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr}
		opts.Provider, opts.User, opts.Host, opts.Port = "ssh", user, host, o.Port
		opts.ExtraKnownHosts = userKnownHosts()
		if err := runSSHPipeline(ctx, so, ws, opts); err != nil {
			return err
		}
	} else {
		c := cloudNamed(to)
		co := &CloudOptions{pipelineOptions: o.pipelineOptions, cloud: c, Settings: settingsOf(c, o.Settings), global: o.global, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr}
		if ours && srcRec.Provider == to {
			made, err := c.SettingsOf(srcRec.Machine)
			if err != nil {
				return err
			}
			for k, v := range made {
				co.Settings[k] = cmp.Or(co.Settings[k], v)
			}
		}
		if err := runCloudPipeline(ctx, co, ws, opts); err != nil {
			return err
		}
	}
	printCloneSummary(o.stdout, ws, src, o.Name, plan, o.WithSecrets)
	return nil
}

func printCloneSummary(w io.Writer, ws *workspace.Workspace, src *bootstrap.Source, name string, plan bootstrap.CloneFiles, withSecrets bool) {
	rec, _, _ := bootstrap.LoadRecord(ws, name)
	fmt.Fprintf(w, "clone %s of %s differs in:\n", name, src.Label)
	fmt.Fprintf(w, "  hostname                    %s (forced in bootstrap.nix)\n", name)
	if rec != nil {
		fmt.Fprintf(w, "  address                     %s\n", rec.Address)
		fmt.Fprintf(w, "  ssh host keys               its own (%s)\n", rec.HostKey)
	}
	for _, s := range slices.Sorted(maps.Keys(plan.Skipped)) {
		fmt.Fprintf(w, "  %-27s %s\n", s, plan.Skipped[s])
	}
	if !withSecrets {
		fmt.Fprintf(w, "  %-27s not copied (use --with-secrets)\n", "secrets")
	}
	fmt.Fprintf(w, "same: channel %s, state version %s, %d other file(s) of /etc/nixos\n", src.Channel, cmp.Or(src.StateVersion, "from the channel"), len(plan.Extra))
}
