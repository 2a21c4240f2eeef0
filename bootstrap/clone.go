package bootstrap

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"

	"bootstrap/channel"
	"bootstrap/network"
)

// Source is a NixOS machine a clone copies: its channel and its
// configuration, read over SSH.
type Source struct {
	Label        string // workspace name or user@host, for messages
	Channel      channel.Channel
	NixOSVersion string
	StateVersion string            // from system.stateVersion in /etc/nixos, "" when not found
	Files        map[string][]byte // every file under /etc/nixos, by path relative to it
	Ours         bool              // bootstrap.nix carries our marker
}

// sourceReader is what ReadSource needs of a connection to the source.
type sourceReader interface {
	Output(ctx context.Context, cmd string) (string, error)
	ReadFile(ctx context.Context, path string) ([]byte, error)
}

// MaxSourceFile bounds what a clone copies per file: /etc/nixos holds text.
const MaxSourceFile = 1 << 20

const sourceScript = `exec 2>/dev/null
. /etc/os-release; echo "os_id=$ID"
echo "nixos_version=$(nixos-version)"
nix-channel --list | sed 's/^/channel=/'
find /etc/nixos -type f -size -1024k | sed 's/^/file=/'
exit 0
`

var stateVersionRE = regexp.MustCompile(`system\.stateVersion\s*=\s*(?:lib\.mk\w+\s*)?"([0-9]{2}\.[0-9]{2})"`)

// ReadSource reads the source machine: it must run NixOS with a readable
// root "nixos" channel, or nothing is cloned.
func ReadSource(ctx context.Context, r sourceReader, label string) (*Source, error) {
	out, err := r.Output(ctx, sourceScript)
	if err != nil {
		return nil, fmt.Errorf("read clone source %s: %w", label, err)
	}
	src := &Source{Label: label, Files: map[string][]byte{}}
	var osID string
	var channels, files []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "os_id":
			osID = v
		case "nixos_version":
			src.NixOSVersion = v
		case "channel":
			channels = append(channels, v)
		case "file":
			files = append(files, v)
		}
	}
	if osID != "nixos" {
		return nil, &PreflightError{Reason: fmt.Sprintf("clone source %s runs %q, not NixOS", label, osID), Hint: "clone from a NixOS machine (bootstrap one first)"}
	}
	ch, err := sourceChannel(channels)
	if err != nil {
		return nil, &PreflightError{Reason: fmt.Sprintf("cannot read the channel of clone source %s: %v", label, err), Hint: "give root a nixos channel on the source (nix-channel --add https://nixos.org/channels/nixos-YY.MM nixos)"}
	}
	src.Channel = ch
	for _, f := range files {
		rel := strings.TrimPrefix(path.Clean(f), "/etc/nixos/")
		if rel == f || strings.HasPrefix(rel, "../") {
			continue
		}
		data, err := r.ReadFile(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("copy %s from %s: %w", f, label, err)
		}
		src.Files[rel] = data
	}
	src.Ours = strings.HasPrefix(string(src.Files["bootstrap.nix"]), templatesMarker())
	for _, name := range slices.Sorted(maps.Keys(src.Files)) {
		if m := stateVersionRE.FindSubmatch(src.Files[name]); m != nil {
			src.StateVersion = string(m[1])
			break
		}
	}
	return src, nil
}

// sourceChannel picks the root channel named "nixos" from nix-channel --list.
func sourceChannel(lines []string) (channel.Channel, error) {
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "nixos" {
			name := path.Base(strings.TrimRight(f[1], "/"))
			return channel.Parse(name)
		}
	}
	if len(lines) == 0 {
		return channel.Channel{}, fmt.Errorf("root has no channels")
	}
	return channel.Channel{}, fmt.Errorf("no channel named nixos in %q", strings.Join(lines, "; "))
}

// CloneFiles is what a clone uploads besides the generated files.
type CloneFiles struct {
	HostNix []byte            // the source's host.nix, or its configuration.nix when it is not ours
	Extra   map[string][]byte // other files, by path relative to /etc/nixos
	Skipped map[string]string // path: why it was not copied
}

// secretLike names files in /etc/nixos that look like key material; they
// are only copied with --with-secrets.
var secretLike = regexp.MustCompile(`(?i)(secret|password|passwd|token|\.key$|\.pem$|\.age$|id_(rsa|ed25519|ecdsa))`)

// PlanClone decides which of the source's files the new machine gets:
// never hardware-configuration.nix (captured fresh on the new hardware),
// never our generated configuration.nix and bootstrap.nix (regenerated for
// the new host), and key-like files only withSecrets.
func PlanClone(src *Source, withSecrets bool) CloneFiles {
	cf := CloneFiles{Extra: map[string][]byte{}, Skipped: map[string]string{}}
	for _, name := range slices.Sorted(maps.Keys(src.Files)) {
		data := src.Files[name]
		switch {
		case name == "hardware-configuration.nix":
			cf.Skipped[name] = "captured fresh on the new machine"
		case name == network.FileName:
			cf.Skipped[name] = "the new machine's network is its own, read by its preflight"
		case src.Ours && (name == "configuration.nix" || name == "bootstrap.nix"):
			cf.Skipped[name] = "regenerated for the new host"
		case src.Ours && name == "host.nix":
			cf.HostNix = data
		case !src.Ours && name == "configuration.nix":
			cf.HostNix = data // imported by our configuration.nix as host.nix
		case !withSecrets && secretLike.MatchString(name):
			cf.Skipped[name] = "looks like a secret (copy with --with-secrets)"
		default:
			cf.Extra[name] = data
		}
	}
	if !src.Ours {
		// The source's configuration imports its hardware file; the real
		// one is captured after the first boot.
		cf.Extra["hardware-configuration.nix"] = []byte("# Placeholder until bootstrap captures this machine's hardware after its first boot.\n{ ... }: { }\n")
		if _, ok := src.Files[network.FileName]; ok {
			// Its configuration imports it; the new machine's own replaces
			// this when its network is static.
			cf.Extra[network.FileName] = []byte("# The source's static network is not this machine's: NixOS's DHCP, unless bootstrap wrote this machine's own.\n{ ... }: { }\n")
		}
		if cf.HostNix != nil {
			cf.Skipped["configuration.nix"] = "kept as host.nix; configuration.nix is regenerated"
		}
	}
	return cf
}
