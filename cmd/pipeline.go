package cmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"bootstrap/bootstrap"
	"bootstrap/channel"
	"bootstrap/infect"
	"bootstrap/network"
	"bootstrap/templates"
	"bootstrap/workspace"
)

// pipelineOptions are the flags of every verb that runs the bootstrap
// pipeline (ssh, scaleway).
type pipelineOptions struct {
	Name             string
	Channel          string
	HostNix          string
	Identities       []string
	Agent            bool
	HostKey          string
	AcceptNewHostKey bool
	InfectURL        string
	InfectSHA256     string
	InfectEnv        []string
	Network          string
	Timeout          time.Duration
	RebootTimeout    time.Duration
	DryRun           bool
	Yes              bool
	AutoUpgrade      bool
	SecretIdentities []string
	SharedDeployKey  bool
	KeepKeys         string
}

func (o *pipelineOptions) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.Channel, "channel", "", "NixOS channel: nixos-YY.MM, nixos-YY.MM-small or nixos-unstable (required)")
	f.StringVar(&o.HostNix, "host-nix", "./host.nix", "the host's own NixOS module; a minimal one is generated when the default is absent")
	f.StringArrayVarP(&o.Identities, "identity", "i", nil, "private key to log in with (repeatable); only these keys are offered")
	f.BoolVar(&o.Agent, "agent", false, "use keys from SSH_AUTH_SOCK: only the one matching -i, or at most 4 when no -i is given")
	f.StringVar(&o.HostKey, "host-key", "", "expected ed25519 host key fingerprint, SHA256:...")
	f.BoolVar(&o.AcceptNewHostKey, "accept-new-host-key", false, "trust and pin an unknown host key on first contact (a changed key is still refused)")
	f.StringVar(&o.InfectURL, "infect-url", "", "nixos-infect URL overriding the pinned one (needs --infect-sha256)")
	f.StringVar(&o.InfectSHA256, "infect-sha256", "", "sha256 of the script at --infect-url")
	f.StringVar(&o.Network, "network", network.ModeAuto, "how NixOS gets the host's network back after the reboot: auto (static when an address is not from DHCP/SLAAC, or the provider needs it), dhcp, or static (networking.nix from the live network)")
	f.StringArrayVar(&o.InfectEnv, "infect-env", nil, "NAME=VALUE for nixos-infect's environment (repeatable): "+strings.Join(infect.KnownEnv(), ", ")+"; a rerun without it reuses the recorded ones")
	f.DurationVar(&o.Timeout, "timeout", bootstrap.DefaultTimeout, "overall time limit")
	f.DurationVar(&o.RebootTimeout, "reboot-timeout", bootstrap.DefaultRebootTimeout, "how long to wait for the host to come back after the reboot")
	f.BoolVar(&o.DryRun, "dry-run", false, "print every step, remote command and file; contact and write nothing")
	f.BoolVarP(&o.Yes, "yes", "y", false, "do not ask before replacing the host's operating system")
	f.BoolVar(&o.AutoUpgrade, "auto-upgrade", false, "turn on system.autoUpgrade, following --channel")
	f.StringVar(&o.KeepKeys, "keep-keys", bootstrap.KeepAll, "which keys besides the deploy key log in as root on NixOS: all (root's authorized_keys, options kept, without the cloud images' login refusal), none, or FILE (its authorized_keys lines); a sudo user's keys are never carried")
	f.BoolVar(&o.SharedDeployKey, "shared-deploy-key", false, "log in to a new host with the workspace's shared deploy key (keys/deploy_ed25519, root on every host that uses it) instead of its own (keys/NAME_ed25519)")
	f.StringArrayVar(&o.SecretIdentities, "secrets-identity", nil, "age identity or SSH private key that decrypts hosts/NAME/secrets (repeatable; default: the usual places)")
	_ = cmd.RegisterFlagCompletionFunc("network", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{network.ModeAuto, network.ModeDHCP, network.ModeStatic}, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("channel", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"nixos-26.05", "nixos-25.11", "nixos-25.05", "nixos-24.11", "nixos-unstable"}, cobra.ShellCompDirectiveNoFileComp
	})
}

var fingerprintRE = regexp.MustCompile(`^SHA256:[A-Za-z0-9+/]{43}$`)

// UsageError is bad input: nothing was contacted or created.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

// resolve validates the flags into pipeline options (keys are loaded later,
// only when the run is real). Every check here happens before anything is
// contacted or created.
func (o *pipelineOptions) resolve(flags *pflag.FlagSet) (bootstrap.Options, error) {
	var opts bootstrap.Options
	if o.Channel == "" {
		return opts, usagef("--channel is required, e.g. --channel nixos-24.11")
	}
	ch, err := channel.Parse(o.Channel)
	if err != nil {
		return opts, &UsageError{Msg: err.Error()}
	}
	opts.Channel = ch
	if err := workspace.ValidName(o.Name); err != nil {
		return opts, &UsageError{Msg: err.Error() + " (set it with --name)"}
	}
	opts.Name = o.Name
	if o.HostKey != "" && !fingerprintRE.MatchString(o.HostKey) {
		return opts, usagef("--host-key %q is not a SHA256 fingerprint: want SHA256: and 43 base64 characters, as ssh-keygen -lf prints", o.HostKey)
	}
	opts.HostKey = o.HostKey
	opts.AcceptNewHostKey = o.AcceptNewHostKey
	opts.AutoUpgrade = o.AutoUpgrade
	opts.SharedDeployKey = o.SharedDeployKey
	switch o.KeepKeys {
	case "", bootstrap.KeepAll, bootstrap.KeepNone:
		opts.KeepKeys = o.KeepKeys
	default:
		data, err := os.ReadFile(o.KeepKeys)
		if err != nil {
			return opts, usagef("--keep-keys %s: want all, none or a readable authorized_keys file: %v", o.KeepKeys, err)
		}
		if opts.KeepKeysLines, err = bootstrap.KeyLinesOf(data, o.KeepKeys); err != nil {
			return opts, &UsageError{Msg: "--keep-keys " + err.Error()}
		}
		opts.KeepKeys = o.KeepKeys
	}
	switch o.Network {
	case network.ModeAuto, network.ModeDHCP, network.ModeStatic:
		opts.Network = o.Network
	default:
		return opts, usagef("--network %q: want auto, dhcp or static", o.Network)
	}
	opts.SecretIdentities = o.SecretIdentities
	if o.Timeout <= 0 || o.RebootTimeout <= 0 {
		return opts, usagef("--timeout and --reboot-timeout must be positive")
	}
	opts.Timeout, opts.RebootTimeout = o.Timeout, o.RebootTimeout

	switch {
	case o.InfectURL == "" && o.InfectSHA256 == "":
		opts.Infect = infect.Pinned
	case o.InfectURL == "" || o.InfectSHA256 == "":
		return opts, usagef("--infect-url and --infect-sha256 go together: give both or neither")
	default:
		opts.Infect = infect.Source{URL: o.InfectURL, SHA256: strings.ToLower(o.InfectSHA256)}
	}
	if err := opts.Infect.Validate(); err != nil {
		return opts, &UsageError{Msg: err.Error()}
	}
	if flags.Changed("infect-env") {
		env, err := infect.ParseEnv(o.InfectEnv, opts.Infect != infect.Pinned)
		if err != nil {
			return opts, &UsageError{Msg: err.Error()}
		}
		opts.InfectEnv = env
	}
	if dir, err := os.UserCacheDir(); err == nil {
		opts.InfectCacheDir = filepath.Join(dir, "bootstrap", "nixos-infect")
	}

	data, err := os.ReadFile(o.HostNix)
	switch {
	case err == nil:
		if len(strings.TrimSpace(string(data))) == 0 {
			return opts, usagef("%s is empty: write a NixOS module there, e.g. { pkgs, ... }: { }", o.HostNix)
		}
		opts.HostNix, opts.HostNixPath = data, o.HostNix
	case errors.Is(err, fs.ErrNotExist) && !flags.Changed("host-nix") && o.HostNix == "./host.nix":
		opts.HostNix = templates.DefaultHostNix(o.Name)
	case errors.Is(err, fs.ErrNotExist):
		return opts, usagef("host.nix %s does not exist: fix --host-nix, or leave it out to start from a minimal one", o.HostNix)
	default:
		return opts, usagef("cannot read host.nix %s: %v", o.HostNix, err)
	}
	return opts, nil
}

// confirm asks before something destructive or billable ("replaces the
// operating system of root@203.0.113.7 with NixOS"), unless --yes. Without a
// terminal it refuses rather than assume.
func confirm(in io.Reader, out io.Writer, yes bool, action string) error {
	if yes {
		return nil
	}
	if !isTerminal(in) {
		return usagef("this %s: pass --yes to confirm (no terminal to ask on)", action)
	}
	fmt.Fprintf(out, "This %s. Continue? [y/N] ", action)
	line, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return usagef("not confirmed; nothing was changed")
	}
	return nil
}

// hostKeyPrompt returns the interactive host key confirmation, or nil when
// there is no terminal (then unknown keys are refused with a hint).
func hostKeyPrompt(in io.Reader, out io.Writer) func(host, fp string) (bool, error) {
	if !isTerminal(in) {
		return nil
	}
	r := bufio.NewReader(in)
	return func(host, fp string) (bool, error) {
		fmt.Fprintf(out, "The authenticity of host %s can't be established.\nED25519 key fingerprint is %s.\nTrust and pin it? [y/N] ", host, fp)
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			return false, err
		}
		a := strings.ToLower(strings.TrimSpace(line))
		return a == "y" || a == "yes", nil
	}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
