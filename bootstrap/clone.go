package bootstrap

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"bootstrap/channel"
	"bootstrap/network"
	"bootstrap/remote"
	"bootstrap/secrets"
	"bootstrap/workspace"
)

// Source is a NixOS machine a clone copies: its channel and its
// configuration, read over SSH.
type Source struct {
	Label        string // workspace name or user@host, for messages
	Channel      channel.Channel
	NixOSVersion string
	StateVersion string            // from system.stateVersion in /etc/nixos, "" when not found
	Files        map[string][]byte // the files read: *.nix, what they refer to, --include; by path relative to /etc/nixos
	Skipped      map[string]string // the other files of /etc/nixos (never read): why
	Ours         bool              // bootstrap.nix carries our marker
	Host         string            // the workspace host it is, "" for a machine outside the workspace
	Secrets      map[string][]byte // pulled from a machine outside the workspace, when asked
	Nixpkgs      *Nixpkgs          // the nixpkgs it runs and its channel holds
}

// Pin is the release a clone of src builds: the one src runs, of src's
// channel. A source whose revision or release cannot be read, or that runs
// a release of another channel than its own, is refused (*PreflightError):
// the clone would not run what it runs. followChannel subscribes the clone
// to the channel again once it is built.
func (src *Source) Pin(followChannel bool) (*Pin, error) {
	refuse := func(why string) error {
		return &PreflightError{
			Reason: fmt.Sprintf("cannot pin the clone to the nixpkgs clone source %s runs: %s", src.Label, why),
			Hint:   fmt.Sprintf("pass --channel-head to build the clone from the head of %s instead (it may then run another nixpkgs than the source)", src.Channel),
		}
	}
	n := src.Nixpkgs
	switch {
	case n == nil || n.Revision == "":
		return nil, refuse("nixos-version --revision gives no nixpkgs revision")
	case n.Release == "":
		return nil, refuse(fmt.Sprintf("its nixos-version %q names no release of a channel (was it built from a git checkout?)", src.NixOSVersion))
	}
	p, err := NewPin(src.Channel, n.Release, n.Revision, followChannel)
	if err != nil {
		return nil, refuse(err.Error() + " (was its channel changed without a rebuild?)")
	}
	return p, nil
}

// RevisionError is a clone that does not run its source's nixpkgs.
type RevisionError struct {
	Source, Clone               string
	SourceNixpkgs, CloneNixpkgs *Nixpkgs // nil: not read
}

func (e *RevisionError) Error() string {
	return fmt.Sprintf("clone %s runs %s, its source %s runs %s: the revisions differ", e.Clone, e.CloneNixpkgs, e.Source, e.SourceNixpkgs)
}

// Hint says where to look.
func (e *RevisionError) Hint() string {
	return fmt.Sprintf("see the pin and reboot steps in hosts/%s/bootstrap.log; bootstrap status --check %s shows what it runs now", e.Clone, e.Clone)
}

// SameRevision checks that the clone rec runs the nixpkgs revision src runs.
func (src *Source) SameRevision(rec *Record) error {
	if src.Nixpkgs != nil && rec.Nixpkgs != nil && src.Nixpkgs.Revision != "" && src.Nixpkgs.Revision == rec.Nixpkgs.Revision {
		return nil
	}
	return &RevisionError{Source: src.Label, Clone: rec.Name, SourceNixpkgs: src.Nixpkgs, CloneNixpkgs: rec.Nixpkgs}
}

// sourceReader is what ReadSource needs of a connection to the source.
type sourceReader interface {
	Output(ctx context.Context, cmd string) (string, error)
	// ReadFileMax reads at most max bytes, and fails on a longer file.
	ReadFileMax(ctx context.Context, path string, max int64) ([]byte, error)
}

// MaxSourceFile bounds what a clone copies per file: /etc/nixos holds text.
const MaxSourceFile = 1 << 20

// sourceScript lists the source's /etc/nixos, sizes and all (version
// control directories left out), without reading any file.
const sourceScript = `exec 2>/dev/null
. /etc/os-release; echo "os_id=$ID"
echo "nixos_version=$(nixos-version)"
nix-channel --list | sed 's/^/channel=/'
find /etc/nixos -name .git -prune -o -type f -printf 'file=%s %p\n'
exit 0
`

var stateVersionRE = regexp.MustCompile(`system\.stateVersion\s*=\s*(?:lib\.mk\w+\s*)?"([0-9]{2}\.[0-9]{2})"`)

// ReadSource reads the source machine: it must run NixOS with a readable
// root "nixos" channel, or nothing is cloned. Of /etc/nixos it reads only
// what a clone copies (see PlanClone): the *.nix files, the files they
// refer to by relative path (./files/motd), and those matching includes
// (path.Match on the path below /etc/nixos or the base name); never a file
// that looks like a secret (secretLike), never one over MaxSourceFile. The
// others are listed in Source.Skipped, unread.
func ReadSource(ctx context.Context, r sourceReader, label string, includes []string) (*Source, error) {
	out, err := r.Output(ctx, sourceScript)
	if err != nil {
		return nil, fmt.Errorf("read clone source %s: %w", label, err)
	}
	src := &Source{Label: label, Files: map[string][]byte{}, Skipped: map[string]string{}}
	var osID string
	var channels []string
	sizes := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
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
			size, p, ok := strings.Cut(v, " ")
			n, err := strconv.ParseInt(size, 10, 64)
			rel, below := strings.CutPrefix(path.Clean(p), NixOSDir+"/")
			if !ok || err != nil || !below {
				continue // not below /etc/nixos once cleaned
			}
			sizes[rel] = n
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
	read := func(rel string) error {
		if sizes[rel] > MaxSourceFile {
			src.Skipped[rel] = fmt.Sprintf("over %d KiB: /etc/nixos holds text", MaxSourceFile>>10)
			return nil
		}
		data, err := r.ReadFileMax(ctx, NixOSDir+"/"+rel, MaxSourceFile)
		if err != nil {
			return fmt.Errorf("copy %s/%s from %s: %w", NixOSDir, rel, label, err)
		}
		src.Files[rel] = data
		return nil
	}
	// The *.nix files, then what they refer to.
	for _, rel := range slices.Sorted(maps.Keys(sizes)) {
		switch {
		case !strings.HasSuffix(rel, ".nix"):
		case secretLike.MatchString(rel):
			src.Skipped[rel] = secretSkip
		default:
			if err := read(rel); err != nil {
				return nil, err
			}
		}
	}
	referenced := map[string]string{}
	for _, rel := range slices.Sorted(maps.Keys(src.Files)) {
		for _, ref := range relativeRefs(rel, src.Files[rel]) {
			if _, ok := referenced[ref]; !ok {
				referenced[ref] = rel
			}
		}
	}
	for _, rel := range slices.Sorted(maps.Keys(sizes)) {
		if strings.HasSuffix(rel, ".nix") {
			continue
		}
		by, isRef := referenced[rel]
		included := slices.ContainsFunc(includes, func(g string) bool {
			a, _ := path.Match(g, rel)
			b, _ := path.Match(g, path.Base(rel))
			return a || b
		})
		switch {
		case secretLike.MatchString(rel):
			src.Skipped[rel] = secretSkip
		case isRef || included:
			if err := read(rel); err != nil {
				return nil, err
			}
		default:
			src.Skipped[rel] = "not a .nix file nor referred to by one: copy it with --include " + rel
		}
		if isRef && src.Skipped[rel] != "" {
			src.Skipped[rel] += " (" + by + " refers to it)"
		}
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

// pathLiteral is a Nix path relative to the file it is in: ./x, ../x.
var pathLiteral = regexp.MustCompile(`(?:^|[\s\[\](){};=:,])(\.\.?/[A-Za-z0-9._+\-/]+)`)

// relativeRefs lists the files below /etc/nixos that the Nix file rel
// refers to by relative path, as paths below /etc/nixos.
func relativeRefs(rel string, data []byte) []string {
	var refs []string
	for _, m := range pathLiteral.FindAllSubmatch(data, -1) {
		p := path.Clean(path.Join(path.Dir(rel), string(m[1])))
		if p == "." || p == ".." || strings.HasPrefix(p, "../") {
			continue // outside /etc/nixos
		}
		refs = append(refs, p)
	}
	return refs
}

// sourceChannel picks the root channel named "nixos" from nix-channel
// --list: a channel, or a release of one (a pinned host).
func sourceChannel(lines []string) (channel.Channel, error) {
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "nixos" {
			sub, err := channel.ParseSubscription(f[1])
			return sub.Channel, err
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

// secretLike names files in /etc/nixos that look like key material or
// credentials: a clone never copies them, in plaintext or at all (clone
// --with-secrets copies bootstrap's own secrets, into the age store).
var secretLike = regexp.MustCompile(`(?i)(secret|password|passwd|token|credential|private|\.priv$|\.key$|\.pem$|\.p12$|\.age$|\.env$|id_(rsa|ed25519|ecdsa)|(^|/)wireguard/|(^|/)\.git(/|$))`)

const secretSkip = "looks like a secret: never copied in plaintext; put it in the age store (bootstrap secrets set NAME KEY FILE) and read it from " + secrets.Dir + "/KEY"

// PlanClone decides which of the files read from the source the new
// machine gets: never hardware-configuration.nix (captured fresh on the
// new hardware), never our generated configuration.nix and bootstrap.nix
// (regenerated for the new host); and it carries over what ReadSource did
// not read, with why.
func PlanClone(src *Source) CloneFiles {
	cf := CloneFiles{Extra: map[string][]byte{}, Skipped: map[string]string{}}
	maps.Copy(cf.Skipped, src.Skipped)
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

// SourceRecord is the record of a clone source that is a host of the
// workspace, nil for a machine outside it ([user@]host). A workspace host
// that has not finished bootstrapping is a *NotReadyError.
func SourceRecord(ws *workspace.Workspace, source string) (*Record, error) {
	if workspace.ValidName(source) != nil {
		return nil, nil
	}
	rec, ours, err := LoadRecord(ws, source)
	if err != nil || !ours {
		return nil, err
	}
	if !rec.Complete() {
		return nil, &NotReadyError{Name: source, Reason: fmt.Sprintf("%s has not finished bootstrapping (%s): finish it before cloning it", source, rec.Where())}
	}
	return rec, nil
}

// SourceLogin is how to log in to a clone source outside the workspace. Its
// host key is verified like any first contact's (see Options).
type SourceLogin struct {
	User, Host       string
	Keys             []remote.Key
	HostKey          string // expected SHA256 fingerprint, optional
	AcceptNewHostKey bool
	ExtraKnownHosts  []string // read-only known_hosts files
	ConfirmHostKey   func(host, fingerprint string) (bool, error)
}

// ReadCloneSource connects to the machine a clone copies and reads it (see
// ReadSource): rec, a host of the workspace, as root with the deploy key
// and its pinned host key; without rec, the machine login names. With
// pullSecrets the values in secrets.Dir on the source are read too, into
// Source.Secrets (a workspace host's are copied from the workspace instead).
func ReadCloneSource(ctx context.Context, ws *workspace.Workspace, label string, rec *Record, login SourceLogin, pullSecrets bool, includes []string) (*Source, error) {
	var c *remote.Client
	var err error
	if rec != nil {
		c, err = DialHost(ctx, ws, rec)
	} else {
		c, err = dialSource(ctx, ws, login)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to clone source %s: %w", label, err)
	}
	defer c.Close()
	src, err := ReadSource(ctx, c, label, includes)
	if err != nil {
		return nil, err
	}
	if src.Nixpkgs, err = ReadNixpkgs(ctx, c, "clone source"); err != nil {
		return nil, fmt.Errorf("read clone source %s: %w", label, err)
	}
	if rec != nil {
		src.Host = rec.Name
	}
	if pullSecrets && rec == nil {
		if src.Secrets, err = secrets.Pull(ctx, c); err != nil {
			return nil, err
		}
	}
	return src, nil
}

// dialSource connects to a clone source outside the workspace, port 22,
// with sudo when the user is not root.
func dialSource(ctx context.Context, ws *workspace.Workspace, l SourceLogin) (*remote.Client, error) {
	hk := &remote.HostKeys{KnownHosts: ws.KnownHosts(), Extra: l.ExtraKnownHosts, Fingerprint: l.HostKey, AcceptNew: l.AcceptNewHostKey}
	if !l.AcceptNewHostKey {
		hk.Confirm = l.ConfirmHostKey
	}
	c, err := remote.Dial(ctx, remote.Config{Host: l.Host, Port: 22, User: l.User, Keys: l.Keys, HostKeys: hk})
	if err != nil {
		return nil, err
	}
	if l.User != "root" {
		c.SetSudo(true)
	}
	return c, nil
}

// CopySecrets gives the clone to its source's secrets: a workspace host's
// ciphertexts and secrets.yaml as they are, or a foreign source's pulled
// values encrypted to the workspace's recipients (then wiped).
func CopySecrets(ws *workspace.Workspace, src *Source, to string) error {
	store := secrets.Store{WorkspaceDir: ws.Dir}
	if src.Host != "" {
		return store.Copy(src.Host, to)
	}
	defer secrets.Wipe(src.Secrets)
	for _, k := range slices.Sorted(maps.Keys(src.Secrets)) {
		if err := store.Set(to, k, src.Secrets[k]); err != nil {
			return fmt.Errorf("store secret %s of the clone: %w", k, err)
		}
	}
	return nil
}
