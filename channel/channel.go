// Package channel parses and describes NixOS channel names such as
// "nixos-24.11", "nixos-24.11-small" and "nixos-unstable".
//
// Only channels from nixos-20.09 on are supported: the generated
// configuration (package templates) is written against the options that
// exist from 20.09 to the newest release.
//
// A leaf: it imports nothing of this module.
package channel

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// LatestStable is the newest stable release this program knows of. It is the
// system.stateVersion written for nixos-unstable, whose own version is not a
// release yet.
const LatestStable = "26.05"

// Oldest supported release.
const (
	oldestYear  = 20
	oldestMonth = 9
)

// Channel is a parsed NixOS channel name. The zero value is not a valid
// channel; obtain one with Parse.
type Channel struct {
	year, month int // release, e.g. 24 and 11; zero for unstable
	unstable    bool
	small       bool
}

// Parse accepts "nixos-YY.MM", "nixos-YY.MM-small", "nixos-unstable" and
// "nixos-unstable-small". YY.MM must be a NixOS release (YY.03 or YY.09 up
// to 20.09, YY.05 or YY.11 from 21.05 on) no older than 20.09.
func Parse(s string) (Channel, error) {
	malformed := fmt.Errorf("invalid channel %q: want nixos-YY.MM, nixos-YY.MM-small or nixos-unstable", s)

	rest, ok := strings.CutPrefix(s, "nixos-")
	if !ok {
		return Channel{}, malformed
	}
	var c Channel
	if r, ok := strings.CutSuffix(rest, "-small"); ok {
		c.small = true
		rest = r
	}
	if rest == "unstable" {
		c.unstable = true
		return c, nil
	}

	// YY.MM, exactly two digits each.
	if len(rest) != 5 || rest[2] != '.' || !digits(rest[:2]) || !digits(rest[3:]) {
		return Channel{}, malformed
	}
	c.year, _ = strconv.Atoi(rest[:2])
	c.month, _ = strconv.Atoi(rest[3:])

	if c.year < oldestYear || (c.year == oldestYear && c.month < oldestMonth) {
		return Channel{}, fmt.Errorf("%s is older than the oldest supported channel nixos-%02d.%02d", s, oldestYear, oldestMonth)
	}
	if !isRelease(c.year, c.month) {
		return Channel{}, fmt.Errorf("invalid channel %q: %02d.%02d is not a NixOS release (releases are YY.03 and YY.09 up to 20.09, YY.05 and YY.11 from 21.05)", s, c.year, c.month)
	}
	return c, nil
}

// isRelease reports whether YY.MM is a NixOS release month: NixOS moved from
// March/September to May/November releases after 20.09 (the next one was 21.05).
func isRelease(year, month int) bool {
	if year <= 20 {
		return month == 3 || month == 9
	}
	return month == 5 || month == 11
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// String returns the channel name as accepted by Parse, e.g. "nixos-24.11-small".
func (c Channel) String() string {
	if c == (Channel{}) {
		return ""
	}
	s := "nixos-" + c.Version()
	if c.small {
		s += "-small"
	}
	return s
}

// Version returns "YY.MM" for a release channel and "unstable" for
// nixos-unstable(-small).
func (c Channel) Version() string {
	if c.unstable {
		return "unstable"
	}
	if c == (Channel{}) {
		return ""
	}
	return fmt.Sprintf("%02d.%02d", c.year, c.month)
}

// StateVersion is the system.stateVersion for a fresh install from this
// channel: the release itself, or LatestStable for nixos-unstable.
func (c Channel) StateVersion() string {
	if c.unstable {
		return LatestStable
	}
	return c.Version()
}

// AtLeast reports whether the channel is release yy.mm or newer; unstable is
// newer than every release.
func (c Channel) AtLeast(yy, mm int) bool {
	if c.unstable {
		return true
	}
	return c.year > yy || (c.year == yy && c.month >= mm)
}

// URL is the channel's address for nix-channel --add.
func (c Channel) URL() string { return "https://nixos.org/channels/" + c.String() }

// Small reports whether this is a -small channel (fewer packages built
// before it advances, so it updates sooner).
func (c Channel) Small() bool { return c.small }

// Unstable reports whether this is nixos-unstable or nixos-unstable-small.
func (c Channel) Unstable() bool { return c.unstable }

// MarshalText implements encoding.TextMarshaler (the channel name).
func (c Channel) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (c *Channel) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*c = p
	return nil
}

// Today is the day channels given by the operator are checked against.
func Today() time.Time { return time.Now() }

// NewestRelease is the newest NixOS release out on day. Releases are
// scheduled for the end of May and of November: YY.05 counts as out from
// June 1st, YY.11 from December 1st.
func NewestRelease(day time.Time) Channel {
	y, m := day.Year()%100, day.Month()
	switch {
	case m == time.December:
		return Channel{year: y, month: 11}
	case m >= time.June:
		return Channel{year: y, month: 5}
	default:
		return Channel{year: y - 1, month: 11}
	}
}

// NextRelease is the release scheduled after NewestRelease(day).
func NextRelease(day time.Time) Channel {
	n := NewestRelease(day)
	if n.month == 11 {
		return Channel{year: n.year + 1, month: 5}
	}
	return Channel{year: n.year, month: 11}
}

// ReleasedError is a well-formed channel of a release that is not out and
// not the next scheduled one either.
type ReleasedError struct {
	Channel, Newest, Next Channel
}

func (e *ReleasedError) Error() string {
	return fmt.Sprintf("%s is not a NixOS release yet: the newest is %s (%s is next, due at the end of %s 20%02d)",
		e.Channel, e.Newest, e.Next, map[int]string{5: "May", 11: "November"}[e.Next.month], e.Next.year)
}

// ParseReleased parses s as Parse does, and refuses a release later than
// the next one scheduled on day (its beta channel may already exist).
func ParseReleased(s string, day time.Time) (Channel, error) {
	c, err := Parse(s)
	if err != nil || c.unstable {
		return c, err
	}
	if next := NextRelease(day); !next.AtLeast(c.year, c.month) {
		return Channel{}, &ReleasedError{Channel: c, Newest: NewestRelease(day), Next: next}
	}
	return c, nil
}

// Known lists the channels that exist on day, for completion: the
// unstable ones, the newest release's -small, and every supported release,
// newest first.
func Known(day time.Time) []string {
	newest := NewestRelease(day)
	out := []string{"nixos-unstable", "nixos-unstable-small", newest.String() + "-small"}
	for c := newest; c.AtLeast(oldestYear, oldestMonth); c = c.previous() {
		out = append(out, c.String())
	}
	return out
}

// previous is the release before c.
func (c Channel) previous() Channel {
	switch {
	case c.year == 21 && c.month == 5:
		return Channel{year: 20, month: 9}
	case c.year <= 20 && c.month == 9:
		return Channel{year: c.year, month: 3}
	case c.year <= 20:
		return Channel{year: c.year - 1, month: 9}
	case c.month == 11:
		return Channel{year: c.year, month: 5}
	}
	return Channel{year: c.year - 1, month: 11}
}
