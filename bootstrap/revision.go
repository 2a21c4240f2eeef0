package bootstrap

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"bootstrap/channel"
)

// Nixpkgs is the nixpkgs a host runs and the one its root channel holds,
// read after the reboot and after every push and rollback, so the workspace
// knows the revision of each host, not only its channel's name.
type Nixpkgs struct {
	// Revision is the nixpkgs git revision of the running system
	// (nixos-version --revision); Release the release it was built from,
	// from nixos-version ("" when it was not built from one).
	Revision string `json:"revision,omitempty"`
	Release  string `json:"release,omitempty"`
	// BootRevision and BootRelease are the system profile's, when they differ
	// from the running system's (after push --boot, until the next boot).
	BootRevision string `json:"boot_revision,omitempty"`
	BootRelease  string `json:"boot_release,omitempty"`
	// Generation is the system profile's current generation.
	Generation int `json:"generation,omitempty"`
	// Subscription is the address root's nixos channel follows (a channel,
	// or one release of it); ChannelRevision and ChannelRelease what it holds
	// now (its .git-revision, and its .version and .version-suffix).
	Subscription    string `json:"subscription,omitempty"`
	ChannelRevision string `json:"channel_revision,omitempty"`
	ChannelRelease  string `json:"channel_release,omitempty"`

	RecordedAt time.Time `json:"recorded_at"`
	RecordedBy string    `json:"recorded_by"` // reboot, push, push --upgrade, rollback...
}

// NextRevision is the revision the host runs after its next boot.
func (n *Nixpkgs) NextRevision() string {
	if n.BootRevision != "" {
		return n.BootRevision
	}
	return n.Revision
}

// ChannelMoved reports whether root's channel holds another nixpkgs than
// the system the next boot runs: a rebuild would move the host to it.
func (n *Nixpkgs) ChannelMoved() bool {
	return n.ChannelRevision != "" && n.NextRevision() != "" && n.ChannelRevision != n.NextRevision()
}

// NixpkgsLabel names the nixpkgs the host ran when last recorded: its
// release, or its short revision; "" when none was recorded.
func (r *Record) NixpkgsLabel() string {
	switch n := r.Nixpkgs; {
	case n == nil:
		return ""
	case n.Release != "":
		return n.Release
	}
	return ShortRevision(r.Nixpkgs.Revision)
}

// ShortRevision is the revision as people quote it: 12 hex digits.
func ShortRevision(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// SystemProfile is the profile whose generations are the host's systems.
const SystemProfile = "/nix/var/nix/profiles/system"

// nixpkgsScript reads what Nixpkgs holds, on a NixOS host as root. The
// system profile's own nixos-version says what the next boot runs. Root's
// channels are found where nix-channel keeps them.
const nixpkgsScript = `exec 2>/dev/null
echo "version=$(nixos-version)"
echo "revision=$(nixos-version --revision)"
p=` + SystemProfile + `/sw/bin/nixos-version
echo "boot_version=$($p)"
echo "boot_revision=$($p --revision)"
echo "profile=$(readlink ` + SystemProfile + `)"
for c in /root/.nix-defexpr/channels/nixos /nix/var/nix/profiles/per-user/root/channels/nixos; do [ -e "$c" ] && break; done
echo "channel_version=$(cat "$c/.version")"
echo "channel_suffix=$(cat "$c/.version-suffix")"
echo "channel_revision=$(cat "$c/.git-revision")"
HOME=/root nix-channel --list | sed 's/^/channel=/'
exit 0
`

var (
	revisionRE   = regexp.MustCompile(`^[0-9a-f]{40}$`)
	generationRE = regexp.MustCompile(`^system-([0-9]+)-link$`)
)

// ReadNixpkgs reads the host's Nixpkgs over r, a root shell on a NixOS
// host; by says who records it. What cannot be read stays empty.
func ReadNixpkgs(ctx context.Context, r interface {
	Run(ctx context.Context, cmd string, stdout, stderr io.Writer) error
}, by string) (*Nixpkgs, error) {
	var out bytes.Buffer
	if err := r.Run(ctx, nixpkgsScript, &out, nil); err != nil {
		return nil, fmt.Errorf("read the nixpkgs revision: %w", err)
	}
	n := parseNixpkgs(out.String())
	n.RecordedAt, n.RecordedBy = time.Now().UTC(), by
	return n, nil
}

// parseNixpkgs reads nixpkgsScript's output.
func parseNixpkgs(out string) *Nixpkgs {
	n := &Nixpkgs{}
	var bootVersion, bootRevision, chVersion, chSuffix string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		v = strings.TrimSpace(v)
		switch k {
		case "version":
			n.Release, _ = channel.ReleaseName(v)
		case "revision":
			if revisionRE.MatchString(v) {
				n.Revision = v
			}
		case "boot_version":
			bootVersion = v
		case "boot_revision":
			if revisionRE.MatchString(v) {
				bootRevision = v
			}
		case "profile":
			if m := generationRE.FindStringSubmatch(v); m != nil {
				n.Generation, _ = strconv.Atoi(m[1])
			}
		case "channel_version":
			chVersion = v
		case "channel_suffix":
			chSuffix = v
		case "channel_revision":
			if revisionRE.MatchString(v) {
				n.ChannelRevision = v
			}
		case "channel":
			if f := strings.Fields(v); len(f) == 2 && f[0] == "nixos" {
				n.Subscription = f[1]
			}
		}
	}
	if chVersion != "" {
		n.ChannelRelease, _ = channel.ReleaseName(chVersion + chSuffix)
	}
	if bootRevision != "" && bootRevision != n.Revision {
		n.BootRevision = bootRevision
		n.BootRelease, _ = channel.ReleaseName(bootVersion)
	}
	return n
}

// String is one line for people: the release and revision it runs, and
// what its channel holds when that differs. A nil Nixpkgs is unknown.
func (n *Nixpkgs) String() string {
	if n == nil {
		return "an unknown nixpkgs"
	}
	s := describe(n.Release, n.Revision)
	if n.BootRevision != "" {
		s += ", " + describe(n.BootRelease, n.BootRevision) + " from the next boot"
	}
	if n.ChannelMoved() {
		s += "; its channel holds " + describe(n.ChannelRelease, n.ChannelRevision)
	}
	return s
}

func describe(release, revision string) string {
	switch {
	case revision == "":
		return "an unknown nixpkgs revision"
	case release == "":
		return "nixpkgs " + ShortRevision(revision)
	}
	return release + " (nixpkgs " + ShortRevision(revision) + ")"
}
