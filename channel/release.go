package channel

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// A channel moves: https://nixos.org/channels/nixos-24.11 redirects to its
// newest release. Each release keeps an address of its own on
// releases.nixos.org, under the channel's directory (the channel's name
// without "nixos-": 24.11, 24.11-small, unstable):
// https://releases.nixos.org/nixos/24.11/nixos-24.11.719.abc1234. Subscribing
// root to that address pins the host to the release: nix-channel --update
// fetches the same nixpkgs every time.

// releasesURL is where nixos.org keeps every release of every channel.
const releasesURL = "https://releases.nixos.org/nixos/"

// releaseRE is a release's name: nixos-, the version, and a suffix made of
// a count and the short nixpkgs revision (.719.abc1234 on a release
// channel, pre712345.abc1234 on unstable, whose version is the next release).
var releaseRE = regexp.MustCompile(`^nixos-([0-9]{2}\.[0-9]{2})(\.[0-9]+|pre[0-9]+)\.([0-9a-f]{7,40})$`)

// ReleaseName is the name of the release a system was built from, read from
// what nixos-version prints ("24.11.719.abc1234 (Vicuna)" is release
// nixos-24.11.719.abc1234). A system not built from a release (from a git
// checkout, say) has none.
func ReleaseName(nixosVersion string) (string, error) {
	f := strings.Fields(nixosVersion)
	if len(f) == 0 {
		return "", fmt.Errorf("no NixOS version")
	}
	name := "nixos-" + f[0]
	if !releaseRE.MatchString(name) {
		return "", fmt.Errorf("NixOS version %q is not one of a channel release (want YY.MM.N.REV or YY.MMpreN.REV)", f[0])
	}
	return name, nil
}

// ReleaseOf checks that the release named name belongs to c (its version is
// the channel's, or the next release's with a pre suffix on unstable) and
// that its short revision starts revision when revision is given.
func (c Channel) ReleaseOf(name, revision string) error {
	m := releaseRE.FindStringSubmatch(name)
	if m == nil {
		return fmt.Errorf("%q is not the name of a release (want nixos-YY.MM.N.REV)", name)
	}
	switch pre := strings.HasPrefix(m[2], "pre"); {
	case c.unstable && !pre:
		return fmt.Errorf("release %s is not one of %s (an unstable release is named nixos-YY.MMpreN.REV)", name, c)
	case !c.unstable && (pre || m[1] != c.Version()):
		return fmt.Errorf("release %s is not one of %s", name, c)
	}
	if revision != "" && !strings.HasPrefix(revision, m[3]) {
		return fmt.Errorf("release %s is not of nixpkgs revision %s", name, revision)
	}
	return nil
}

// ReleaseURL is where nixos.org keeps the release named name of c.
func (c Channel) ReleaseURL(name string) string {
	return releasesURL + strings.TrimPrefix(c.String(), "nixos-") + "/" + name
}

// Subscription is what a channel named "nixos" follows, as nix-channel
// --list shows it: the channel, or one release of it (Release != "").
type Subscription struct {
	Channel Channel
	Release string // the release's name; "" when following the channel
}

// ParseSubscription reads a channel address: one whose last element is a
// channel's name (https://nixos.org/channels/nixos-24.11, or
// channels.nixos.org), or a release's (releases.nixos.org/nixos/DIR/RELEASE,
// DIR naming the channel).
func ParseSubscription(url string) (Subscription, error) {
	u := strings.TrimRight(url, "/")
	base := path.Base(u)
	if c, err := Parse(base); err == nil {
		return Subscription{Channel: c}, nil
	}
	if releaseRE.MatchString(base) {
		c, err := Parse("nixos-" + path.Base(path.Dir(u)))
		if err != nil {
			return Subscription{}, fmt.Errorf("release address %q: its directory names no channel: %w", url, err)
		}
		if err := c.ReleaseOf(base, ""); err != nil {
			return Subscription{}, fmt.Errorf("release address %q: %w", url, err)
		}
		return Subscription{Channel: c, Release: base}, nil
	}
	return Subscription{}, fmt.Errorf("%q names neither a NixOS channel nor a release of one", url)
}

// URL is the subscription's address for nix-channel --add.
func (s Subscription) URL() string {
	if s.Release != "" {
		return s.Channel.ReleaseURL(s.Release)
	}
	return s.Channel.URL()
}

// String says what is followed: "nixos-24.11", or "release
// nixos-24.11.719.abc1234 of nixos-24.11".
func (s Subscription) String() string {
	if s.Release != "" {
		return "release " + s.Release + " of " + s.Channel.String()
	}
	return s.Channel.String()
}
