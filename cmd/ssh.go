package cmd

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	sshprovider "bootstrap/provider/ssh"
	"bootstrap/remote"
	"bootstrap/workspace"
)

// SSHOptions are the inputs of `bootstrap ssh`.
type SSHOptions struct {
	pipelineOptions
	Target string // [user@]host
	Port   int

	global *globalOptions
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newSSHCmd(g *globalOptions) *cobra.Command {
	o := &SSHOptions{global: g}
	cmd := &cobra.Command{
		Use:   "ssh [USER@]HOST",
		Short: "Turn an existing Debian/Ubuntu host reachable over SSH into NixOS",
		Example: `  bootstrap ssh root@203.0.113.7 --channel nixos-24.11 --host-nix ./host.nix -i ~/.ssh/id_ed25519
  bootstrap ssh admin@web-1.example.com --name web-1 --channel nixos-24.11 --agent -i ~/.ssh/id_ed25519
  bootstrap ssh root@[2001:db8::1] --port 2222 --channel nixos-24.11 --dry-run
  bootstrap ssh root@203.0.113.7 --channel nixos-24.11 --yes --json | jq -r .address`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Target = args[0]
			o.stdin, o.stdout, o.stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			opts, err := o.resolve(cmd)
			if err != nil {
				return err
			}
			return runSSH(cmd.Context(), o, opts)
		},
	}
	o.bind(cmd)
	cmd.Flags().StringVar(&o.Name, "name", "", "workspace name and hostname (default: derived from HOST)")
	cmd.Flags().IntVarP(&o.Port, "port", "p", 22, "SSH port")
	return cmd
}

// resolve validates everything before anything is contacted.
func (o *SSHOptions) resolve(cmd *cobra.Command) (bootstrap.Options, error) {
	user, host, err := splitTarget(o.Target)
	if err != nil {
		return bootstrap.Options{}, err
	}
	if o.Name == "" {
		o.Name = nameFromHost(host)
	}
	if o.Port < 1 || o.Port > 65535 {
		return bootstrap.Options{}, usagef("--port %d is not a TCP port: give 1 to 65535", o.Port)
	}
	opts, err := o.pipelineOptions.resolve(cmd.Context(), cmd.Flags())
	if err != nil {
		return opts, err
	}
	opts.Provider = "ssh"
	opts.User, opts.Host, opts.Port = user, host, o.Port
	opts.ExtraKnownHosts = userKnownHosts()
	return opts, nil
}

func runSSH(ctx context.Context, o *SSHOptions, opts bootstrap.Options) (err error) {
	o.printWarnings(o.stderr)
	if o.DryRun {
		ws, err := workspace.Load(o.global.Workspace)
		if err != nil {
			return err
		}
		if opts.PlanKeys, err = describeKeys(o.Identities, o.Agent, false); err != nil {
			return err
		}
		if !o.AcceptNewHostKey {
			opts.ConfirmHostKey = hostKeyPrompt(o.stdin, o.stderr)
		}
		return bootstrap.Plan(o.stdout, ws, opts)
	}
	ws, err := workspace.Load(o.global.Workspace)
	if err != nil {
		return err
	}
	opts.Stdout, opts.Verbose = o.streams(o.global, o.stdout, o.stderr)
	defer func() { err = o.report(o.global, o.stdout, ws, opts.Name, err) }()
	return runSSHPipeline(ctx, o, ws, opts)
}

// runSSHPipeline confirms, loads the login keys and runs the pipeline on an
// existing host (also used by clone).
func runSSHPipeline(ctx context.Context, o *SSHOptions, ws *workspace.Workspace, opts bootstrap.Options) error {
	unlock, err := lockHosts(ws, true, opts.Name)
	if err != nil {
		return err
	}
	defer unlock()
	rec, existed, err := bootstrap.LoadRecord(ws, opts.Name)
	if err != nil {
		return err
	}
	if !existed || !rec.Done(bootstrap.StepInfect) {
		if err := confirm(o.stdin, o.stderr, o.Yes, "replaces the operating system of "+opts.User+"@"+opts.Host+" with NixOS"); err != nil {
			return err
		}
	}
	keys, closer, err := loadKeys(o.Identities, o.Agent, o.stderr, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	opts.Keys = keys
	if !o.AcceptNewHostKey {
		opts.ConfirmHostKey = hostKeyPrompt(o.stdin, o.stderr)
	}
	return bootstrap.Bootstrap(ctx, ws, opts, &sshprovider.Machine{Host: opts.Host})
}

// splitTarget parses [user@]host, host a name, an IPv4 address or an IPv6
// address (in brackets or not); user defaults to root.
func splitTarget(t string) (user, host string, err error) {
	user, host = "root", t
	if i := strings.LastIndex(t, "@"); i >= 0 {
		user, host = t[:i], t[i+1:]
	}
	bracketed := strings.HasPrefix(host, "[")
	if bracketed {
		inner, rest, ok := strings.Cut(host[1:], "]")
		switch {
		case !ok:
			return "", "", usagef("invalid host %q: a [ without its ]; want [USER@]HOST, e.g. root@[2001:db8::1]", t)
		case rest != "":
			return "", "", usagef("invalid host %q: give the port with --port, not [HOST]:PORT", t)
		}
		if _, err := netip.ParseAddr(inner); err != nil || !strings.Contains(inner, ":") {
			return "", "", usagef("invalid host %q: brackets hold an IPv6 address, e.g. root@[2001:db8::1]", t)
		}
		host = inner
	}
	if user == "" || host == "" || strings.ContainsAny(user, " :/@[]") {
		return "", "", usagef("invalid host %q: want [USER@]HOST, e.g. root@203.0.113.7 or root@[2001:db8::1]", t)
	}
	if !bracketed {
		if h, _, err := net.SplitHostPort(host); err == nil && net.ParseIP(host) == nil && !strings.Contains(h, ":") {
			return "", "", usagef("invalid host %q: give the port with --port, not HOST:PORT", t)
		}
	}
	if err := remote.ValidHost(host); err != nil {
		return "", "", usagef("invalid host %q: %v", t, err)
	}
	return user, host, nil
}

// nameFromHost derives a workspace name: the first label of a DNS name, or
// the address with dots and colons as dashes (an IPv6 address's leading or
// trailing "::" gets a 0, so the name neither starts nor ends with '-').
func nameFromHost(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		name := strings.NewReplacer(".", "-", ":", "-").Replace(ip.WithZone("").String())
		if strings.HasPrefix(name, "-") {
			name = "0" + name
		}
		if strings.HasSuffix(name, "-") {
			name += "0"
		}
		return name
	}
	label, _, _ := strings.Cut(host, ".")
	return strings.ToLower(label)
}
