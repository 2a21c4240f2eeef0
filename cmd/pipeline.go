package cmd

import (
	"bufio"
	"context"
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
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"

	"bootstrap/bootstrap"
	"bootstrap/channel"
	"bootstrap/infect"
	"bootstrap/network"
	"bootstrap/remote"
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
	ConnectTimeout   time.Duration
	DryRun           bool
	Yes              bool
	AutoUpgrade      bool
	SecretIdentities []string
	JSON             bool

	// warnings are found while resolving (host.nix), printed before the run.
	warnings        []string
	SharedDeployKey bool
	KeepKeys        string
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
	f.DurationVar(&o.ConnectTimeout, "connect-timeout", bootstrap.DefaultConnectTimeout, "how long to keep trying to reach a host that should be up (a cloud server just created waits up to --timeout)")
	f.BoolVar(&o.JSON, "json", false, "print the result as one JSON object on stdout (progress goes to stderr)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print every step, remote command and file; contact and write nothing")
	f.BoolVarP(&o.Yes, "yes", "y", false, "do not ask before replacing the host's operating system")
	f.BoolVar(&o.AutoUpgrade, "auto-upgrade", false, "turn on system.autoUpgrade, following --channel")
	f.StringVar(&o.KeepKeys, "keep-keys", bootstrap.KeepAll, "which keys besides the deploy key log in as root on NixOS: all (root's authorized_keys, options kept, without the cloud images' login refusal), none, or FILE (its authorized_keys lines); a sudo user's keys are never carried")
	f.BoolVar(&o.SharedDeployKey, "shared-deploy-key", false, "log in to a new host with the workspace's shared deploy key (keys/deploy_ed25519, root on every host that uses it) instead of its own (keys/NAME_ed25519)")
	f.StringArrayVar(&o.SecretIdentities, "secrets-identity", nil, "age identity or SSH private key that decrypts hosts/NAME/secrets (repeatable; default: the usual places)")
	_ = cmd.RegisterFlagCompletionFunc("network", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{network.ModeAuto, network.ModeDHCP, network.ModeStatic}, cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("channel", completeChannels)
}

var fingerprintRE = regexp.MustCompile(`^SHA256:[A-Za-z0-9+/]{43}$`)

// checkFingerprint checks a host key flag's value ("" is none).
func checkFingerprint(flag, v string) error {
	if v != "" && !fingerprintRE.MatchString(v) {
		return usagef("%s %q is not a SHA256 fingerprint: want SHA256: and 43 base64 characters, as ssh-keygen -lf prints", flag, v)
	}
	return nil
}

// resolve validates the flags into pipeline options (keys are loaded later,
// only when the run is real). Every check here happens before anything is
// contacted or created.
func (o *pipelineOptions) resolve(ctx context.Context, flags *pflag.FlagSet) (bootstrap.Options, error) {
	var opts bootstrap.Options
	if o.Channel == "" {
		return opts, usagef("--channel is required, e.g. --channel %s", channel.NewestRelease(channel.Today()))
	}
	ch, err := channel.ParseReleased(o.Channel, channel.Today())
	if err != nil {
		return opts, &UsageError{Msg: err.Error()}
	}
	opts.Channel = ch
	if err := workspace.ValidName(o.Name); err != nil {
		if flags.Lookup("name") != nil {
			return opts, &UsageError{Msg: err.Error() + " (set it with --name)"}
		}
		return opts, &UsageError{Msg: err.Error()}
	}
	if o.DryRun && o.JSON {
		return opts, usagef("--json reports a run's result and --dry-run prints a plan: leave out one")
	}
	opts.Name = o.Name
	if err := checkFingerprint("--host-key", o.HostKey); err != nil {
		return opts, err
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
	if o.Timeout <= 0 || o.RebootTimeout <= 0 || o.ConnectTimeout <= 0 {
		return opts, usagef("--timeout, --reboot-timeout and --connect-timeout must be positive (e.g. 10m)")
	}
	opts.Timeout, opts.RebootTimeout, opts.ConnectTimeout = o.Timeout, o.RebootTimeout, o.ConnectTimeout
	if !o.Agent {
		if err := checkIdentities("--identity", o.Identities); err != nil {
			return opts, err
		}
	}
	for _, p := range o.Identities {
		if _, err := os.Stat(p); err != nil && o.Agent {
			if _, perr := os.Stat(p + ".pub"); perr != nil {
				return opts, usagef("identity %s: neither it nor %s.pub exists, and --agent needs one to pick the agent's key: fix --identity", p, p)
			}
		}
	}
	if o.Agent && os.Getenv("SSH_AUTH_SOCK") == "" {
		return opts, usagef("--agent needs an ssh-agent: SSH_AUTH_SOCK is not set (start one with eval $(ssh-agent) and ssh-add)")
	}

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

	data, err := readCapped(o.HostNix, templates.MaxHostNix)
	switch {
	case err == nil:
		check, err := templates.CheckHostNix(ctx, data, o.HostNix)
		if err != nil {
			return opts, &UsageError{Msg: err.Error()}
		}
		for _, w := range check.Warnings {
			o.warnings = append(o.warnings, fmt.Sprintf("%s: %s; it would be world-readable in the Nix store: keep it with bootstrap secrets set %s KEY", o.HostNix, w, o.Name))
		}
		if check.Note != "" {
			o.warnings = append(o.warnings, o.HostNix+": "+check.Note)
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

// readCapped reads a file of at most limit bytes (one more is read, so an
// oversized file shows as such to the checks).
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// isPublicKey reports a file that holds an authorized_keys line.
func isPublicKey(path string) bool {
	data, err := readCapped(path, 16<<10)
	if err != nil {
		return false
	}
	_, _, _, _, err = ssh.ParseAuthorizedKey(data)
	return err == nil
}

// checkIdentities refuses, before anything is contacted, an identity file
// that is missing or that others may read: OpenSSH refuses those too. (With
// --agent the private file is not read: its .pub picks the agent's key.)
func checkIdentities(flag string, paths []string) error {
	for _, p := range paths {
		fi, err := os.Stat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return usagef("identity %s does not exist: fix %s", p, flag)
		case err != nil:
			return usagef("identity %s: %v", p, err)
		case fi.IsDir():
			return usagef("identity %s is a directory: %s takes a private key file", p, flag)
		case isPublicKey(p):
			return usagef("identity %s is a public key: %s takes the private key (%s)", p, flag, strings.TrimSuffix(p, ".pub"))
		}
		if err := remote.CheckKeyMode(p); err != nil {
			return usagef("identity: %v", err)
		}
	}
	return nil
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
