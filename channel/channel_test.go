package channel

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseValid(t *testing.T) {
	tests := []struct {
		in           string
		version      string
		stateVersion string
		small        bool
		unstable     bool
	}{
		{"nixos-20.09", "20.09", "20.09", false, false},
		{"nixos-20.09-small", "20.09", "20.09", true, false},
		{"nixos-21.05", "21.05", "21.05", false, false},
		{"nixos-22.11", "22.11", "22.11", false, false},
		{"nixos-23.05", "23.05", "23.05", false, false},
		{"nixos-24.11", "24.11", "24.11", false, false},
		{"nixos-24.11-small", "24.11", "24.11", true, false},
		{"nixos-26.05", "26.05", "26.05", false, false},
		{"nixos-27.11", "27.11", "27.11", false, false}, // newer than LatestStable: accepted
		{"nixos-unstable", "unstable", LatestStable, false, true},
		{"nixos-unstable-small", "unstable", LatestStable, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := c.String(); got != tt.in {
				t.Errorf("String() = %q, want %q", got, tt.in)
			}
			if got := c.Version(); got != tt.version {
				t.Errorf("Version() = %q, want %q", got, tt.version)
			}
			if got := c.StateVersion(); got != tt.stateVersion {
				t.Errorf("StateVersion() = %q, want %q", got, tt.stateVersion)
			}
			if got := c.Small(); got != tt.small {
				t.Errorf("Small() = %v, want %v", got, tt.small)
			}
			if got := c.Unstable(); got != tt.unstable {
				t.Errorf("Unstable() = %v, want %v", got, tt.unstable)
			}
			if got, want := c.URL(), "https://nixos.org/channels/"+tt.in; got != want {
				t.Errorf("URL() = %q, want %q", got, want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	const forms = "want nixos-YY.MM, nixos-YY.MM-small or nixos-unstable"
	tests := []struct {
		in   string
		want string // the whole error message
	}{
		// malformed
		{"", `invalid channel "": ` + forms},
		{"24.11", `invalid channel "24.11": ` + forms},
		{"nixos", `invalid channel "nixos": ` + forms},
		{"nixos-", `invalid channel "nixos-": ` + forms},
		{"nixos-24.1", `invalid channel "nixos-24.1": ` + forms},
		{"nixos-24.110", `invalid channel "nixos-24.110": ` + forms},
		{"nixos-2024.11", `invalid channel "nixos-2024.11": ` + forms},
		{"nixos-24-11", `invalid channel "nixos-24-11": ` + forms},
		{"nixos-2a.11", `invalid channel "nixos-2a.11": ` + forms},
		{"nixos-+4.11", `invalid channel "nixos-+4.11": ` + forms},
		{"nixos-24.11-large", `invalid channel "nixos-24.11-large": ` + forms},
		{"nixos-24.11-small-small", `invalid channel "nixos-24.11-small-small": ` + forms},
		{"nixos-unstable-large", `invalid channel "nixos-unstable-large": ` + forms},
		{"nixpkgs-unstable", `invalid channel "nixpkgs-unstable": ` + forms},
		{"NixOS-24.11", `invalid channel "NixOS-24.11": ` + forms},
		{" nixos-24.11", `invalid channel " nixos-24.11": ` + forms},
		{"nixos-24.11 ", `invalid channel "nixos-24.11 ": ` + forms},
		{"nixos-small", `invalid channel "nixos-small": ` + forms},
		// too old
		{"nixos-20.03", "nixos-20.03 is older than the oldest supported channel nixos-20.09"},
		{"nixos-19.09-small", "nixos-19.09-small is older than the oldest supported channel nixos-20.09"},
		{"nixos-13.10", "nixos-13.10 is older than the oldest supported channel nixos-20.09"},
		{"nixos-00.00", "nixos-00.00 is older than the oldest supported channel nixos-20.09"},
		// month not a release month
		{"nixos-20.11", `invalid channel "nixos-20.11": 20.11 is not a NixOS release (releases are YY.03 and YY.09 up to 20.09, YY.05 and YY.11 from 21.05)`},
		{"nixos-21.03", `invalid channel "nixos-21.03": 21.03 is not a NixOS release (releases are YY.03 and YY.09 up to 20.09, YY.05 and YY.11 from 21.05)`},
		{"nixos-24.09", `invalid channel "nixos-24.09": 24.09 is not a NixOS release (releases are YY.03 and YY.09 up to 20.09, YY.05 and YY.11 from 21.05)`},
		{"nixos-24.00-small", `invalid channel "nixos-24.00-small": 24.00 is not a NixOS release (releases are YY.03 and YY.09 up to 20.09, YY.05 and YY.11 from 21.05)`},
		{"nixos-24.13", `invalid channel "nixos-24.13": 24.13 is not a NixOS release (releases are YY.03 and YY.09 up to 20.09, YY.05 and YY.11 from 21.05)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error %q", tt.in, c, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse(%q) error = %q, want %q", tt.in, got, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans several lines, want one", err)
			}
			if c != (Channel{}) {
				t.Errorf("Parse(%q) returned %#v with the error, want the zero Channel", tt.in, c)
			}
		})
	}
}

func TestAtLeast(t *testing.T) {
	tests := []struct {
		ch     string
		yy, mm int
		want   bool
	}{
		{"nixos-20.09", 20, 9, true},
		{"nixos-20.09", 21, 5, false},
		{"nixos-22.11", 23, 5, false},
		{"nixos-23.05", 23, 5, true},
		{"nixos-23.05-small", 23, 5, true},
		{"nixos-23.05", 22, 11, true},
		{"nixos-23.11", 23, 5, true},
		{"nixos-24.11", 25, 5, false},
		{"nixos-25.05", 24, 11, true},
		{"nixos-unstable", 99, 11, true},
		{"nixos-unstable-small", 23, 5, true},
	}
	for _, tt := range tests {
		c, err := Parse(tt.ch)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.AtLeast(tt.yy, tt.mm); got != tt.want {
			t.Errorf("%s.AtLeast(%d, %d) = %v, want %v", tt.ch, tt.yy, tt.mm, got, tt.want)
		}
	}
}

func TestLatestStableIsARelease(t *testing.T) {
	c, err := Parse("nixos-" + LatestStable)
	if err != nil {
		t.Fatalf("LatestStable %q: %v", LatestStable, err)
	}
	if got := c.StateVersion(); got != LatestStable {
		t.Errorf("got %v, want %v", got, LatestStable)
	}
}

func TestZeroValue(t *testing.T) {
	var c Channel
	if got := c.String(); got != "" {
		t.Errorf("zero String() = %q, want empty", got)
	}
	if got := c.Version(); got != "" {
		t.Errorf("zero Version() = %q, want empty", got)
	}
}

func TestTextRoundTrip(t *testing.T) {
	type doc struct {
		Channel Channel `json:"channel"`
	}
	in := doc{}
	var err error
	if in.Channel, err = Parse("nixos-24.11-small"); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"channel":"nixos-24.11-small"}`; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	var out doc
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("got %v, want %v", out, in)
	}
	if err := json.Unmarshal([]byte(`{"channel":"nixos-20.03"}`), &out); err == nil {
		t.Errorf("unmarshal of nixos-20.03: got nil error, want one")
	}
}

func TestParseReleased(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		channel, day string
		ok           bool
		newest       string
	}{
		{"nixos-26.11", "2026-12-03", true, "nixos-26.11"},
		{"nixos-27.05", "2026-12-03", true, "nixos-26.11"}, // the next scheduled one
		{"nixos-27.11", "2026-12-03", false, "nixos-26.11"},
		{"nixos-99.11", "2026-12-03", false, "nixos-26.11"},
		{"nixos-26.11", "2026-05-20", false, "nixos-25.11"}, // 26.05 is the next one then
		{"nixos-26.05-small", "2026-05-20", true, "nixos-25.11"},
		{"nixos-unstable", "2026-05-20", true, ""},
		{"nixos-20.09", "2026-05-20", true, ""},
	}
	for _, tt := range tests {
		_, err := ParseReleased(tt.channel, day(tt.day))
		var re *ReleasedError
		if (err == nil) != tt.ok {
			t.Errorf("ParseReleased(%q) on %s: got %v, want ok=%v", tt.channel, tt.day, err, tt.ok)
		}
		if err != nil && errors.As(err, &re) && re.Newest.String() != tt.newest {
			t.Errorf("ParseReleased(%q) on %s: got newest %s, want %s", tt.channel, tt.day, re.Newest, tt.newest)
		}
	}
	if got := NewestRelease(day("2026-06-01")).String(); got != "nixos-26.05" {
		t.Errorf("newest on 2026-06-01: got %s, want nixos-26.05", got)
	}
	known := Known(day("2026-12-03"))
	if known[2] != "nixos-26.11-small" || known[3] != "nixos-26.11" || known[len(known)-1] != "nixos-20.09" || slices.Contains(known, "nixos-27.05") {
		t.Errorf("Known on 2026-12-03: got %v, want unstable, 26.11-small, 26.11 ... 20.09 and no 27.05", known)
	}
	if slices.Contains(known, "nixos-20.03") {
		t.Errorf("Known: got %v, want nothing older than 20.09", known)
	}
}
