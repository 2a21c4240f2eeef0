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
	ChannelHead      bool // build from the head of the source's channel, not from the release it runs
	FollowChannel    bool // subscribe the clone to the channel again once it is built
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

The clone runs the nixpkgs revision the source runs, not the channel's head: before its
first boot it is subscribed to the source's release (releases.nixos.org keeps every one)
and built from it. It stays subscribed to that release unless --follow-channel; push
--upgrade moves it to the channel's head. A source whose revision cannot be read is
refused unless --channel-head. The summary shows both revisions.

SOURCE is a workspace host (then the new machine defaults to the same provider, type,
zone and image) or [user@]host of any reachable NixOS machine (--source-identity).`,
		Example: `  bootstrap clone web-1 web-1-staging
  bootstrap clone root@198.51.100.4 stage-2 --to ssh --host root@203.0.113.9 --source-identity ~/.ssh/id_ed25519`,
		Args:              exactArgs(2),
		ValidArgsFunction: firstArgHostName(g),
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
	f.BoolVar(&o.ChannelHead, "channel-head", false, "build the clone from the head of the source's channel instead of the release the source runs")
	f.BoolVar(&o.FollowChannel, "follow-channel", false, "once the clone is built from the source's release, subscribe it to the source's channel again (default: it stays on the release)")
	settingFlags(cmd, o.Settings, func(provider.Setting) bool { return true }, func(c provider.Cloud, s provider.Setting) (string, string) {
		return "", "with --to " + c.Name() + ": " + s.CloneUsage
	})
	// The channel is the source's; --channel may only confirm it.
	f.Lookup("channel").Usage = "must match the source's channel if given (default: the source's)"
	return cmd
}

func runClone(ctx context.Context, cmd *cobra.Command, o *CloneOptions) (err error) {
	if err := workspace.ValidName(o.Name); err != nil {
		return &UsageError{Msg: err.Error() + " (NAME is the second argument)"}
	}
	if o.ChannelHead && o.FollowChannel {
		return usagef("--follow-channel puts the channel back after building the source's release, and --channel-head builds the channel's head: give one")
	}
	if o.DryRun && o.JSON {
		return usagef("--json reports a run's result and --dry-run prints a plan: leave out one")
	}
	if err := checkIdentities("--source-identity", o.SourceIdentities); err != nil {
		return err
	}
	if err := checkFingerprint("--source-host-key", o.SourceHostKey); err != nil {
		return err
	}
	ws, err := workspace.Load(o.global.Workspace)
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
	if to == "ssh" {
		if _, _, err := splitTarget(o.Host); err != nil {
			return err
		}
		if o.Port < 1 || o.Port > 65535 {
			return usagef("--port %d is not a TCP port: give 1 to 65535", o.Port)
		}
	}
	if !o.DryRun {
		progress, _ := o.streams(o.global, o.stdout, o.stderr)
		stdout := o.stdout
		defer func() { err = o.report(o.global, stdout, ws, o.Name, err) }()
		o.stdout = progress
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
	var pin *bootstrap.Pin
	if !o.ChannelHead {
		if pin, err = src.Pin(o.FollowChannel); err != nil {
			return err
		}
	}
	plan := bootstrap.PlanClone(src)
	if plan.HostNix == nil {
		return usagef("clone source %s has neither host.nix nor configuration.nix in /etc/nixos", o.Source)
	}
	if o.WithSecrets && !o.DryRun {
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
	opts, err := o.resolve(ctx, cmd.Flags())
	if err != nil {
		return err
	}
	o.printWarnings(o.stderr)
	opts.HostNixPath = src.Label + ":/etc/nixos/" + map[bool]string{true: "host.nix", false: "configuration.nix"}[src.Ours]
	opts.ExtraFiles = plan.Extra
	opts.CloneOf = src.Label
	opts.StateVersion = src.StateVersion
	opts.Pin = pin
	opts.Stdout = o.stdout
	_, opts.Verbose = o.streams(o.global, o.stdout, o.stderr)
	fmt.Fprintf(o.stdout, "clone %s (%s, NixOS %s) as %s\n", src.Label, src.Channel, src.NixOSVersion, o.Name)
	if pin != nil {
		fmt.Fprintf(o.stdout, "  pinned to the source's release %s (nixpkgs %s)\n", pin.Release, bootstrap.ShortRevision(pin.Revision))
	} else {
		fmt.Fprintf(o.stdout, "  from the head of %s (--channel-head): the source runs %s\n", src.Channel, src.Nixpkgs)
	}

	if to == "ssh" {
		user, host, err := splitTarget(o.Host)
		if err != nil {
			return err
		}
		so := &SSHOptions{pipelineOptions: o.pipelineOptions, Target: o.Host, Port: o.Port, global: o.global, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr}
		opts.Provider, opts.User, opts.Host, opts.Port = "ssh", user, host, o.Port
		opts.ExtraKnownHosts = userKnownHosts()
		if o.DryRun {
			if opts.PlanKeys, err = describeKeys(o.Identities, o.Agent, false); err != nil {
				return err
			}
			if !o.AcceptNewHostKey {
				opts.ConfirmHostKey = hostKeyPrompt(o.stdin, o.stderr)
			}
			return bootstrap.Plan(o.stdout, ws, opts)
		}
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
		if err := runCloudPipeline(ctx, co, ws, opts); err != nil || o.DryRun {
			return err
		}
	}
	return printCloneSummary(o.stdout, ws, src, o.Name, plan, o.WithSecrets, pin != nil)
}

// printCloneSummary says how the clone differs from its source, and returns
// a *bootstrap.RevisionError when a pinned clone does not run the source's
// nixpkgs revision.
func printCloneSummary(w io.Writer, ws *workspace.Workspace, src *bootstrap.Source, name string, plan bootstrap.CloneFiles, withSecrets, pinned bool) error {
	rec, _, err := bootstrap.LoadRecord(ws, name)
	if err != nil {
		return err
	}
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
	var cloneNixpkgs *bootstrap.Nixpkgs
	if rec != nil {
		cloneNixpkgs = rec.Nixpkgs
	}
	width := max(len(src.Label), len(name))
	fmt.Fprintf(w, "nixpkgs: %-*s  %s\n", width, src.Label, src.Nixpkgs)
	fmt.Fprintf(w, "         %-*s  %s\n", width, name, cloneNixpkgs)
	if rec == nil {
		return nil
	}
	err = src.SameRevision(rec)
	switch {
	case err == nil:
		fmt.Fprintf(w, "same nixpkgs revision: %s\n", rec.Nixpkgs.Revision)
	case !pinned:
		fmt.Fprintf(w, "the revisions differ: the clone was built from the head of %s (--channel-head)\n", src.Channel)
		return nil
	}
	return err
}
