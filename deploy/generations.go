package deploy

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Generation is one generation of the host's system profile.
type Generation struct {
	Number  int       `json:"generation"`
	Date    time.Time `json:"date"`
	Current bool      `json:"current"` // the profile's generation: running, or booted next after push --boot
	// Config: push kept a copy of /etc/nixos for it, which rollback restores.
	Config bool `json:"etc_nixos_copy"`
}

// genLine is one line of `nix-env --list-generations`: Nix prints
// "%4d   %Y-%m-%d %H:%M:%S   (current)" in local time (we set TZ=UTC).
var genLine = regexp.MustCompile(`^\s*(\d+)\s+(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\s*(\(current\))?\s*$`)

// ParseGenerations parses `nix-env --list-generations` output printed with
// TZ=UTC, in the order given (Nix lists them ascending).
func ParseGenerations(out string) ([]Generation, error) {
	var gens []Generation
	for _, line := range strings.Split(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		m := genLine.FindStringSubmatch(line)
		if m == nil {
			return nil, fmt.Errorf("unexpected line in nix-env --list-generations: %q", line)
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			return nil, fmt.Errorf("generation number %q: %w", m[1], err)
		}
		date, err := time.Parse(time.DateTime, m[2])
		if err != nil {
			return nil, fmt.Errorf("generation %d date %q: %w", n, m[2], err)
		}
		gens = append(gens, Generation{Number: n, Date: date.UTC(), Current: m[3] != ""})
	}
	return gens, nil
}

// Current is the current generation's number, 0 when none is current.
func Current(gens []Generation) int {
	for _, g := range gens {
		if g.Current {
			return g.Number
		}
	}
	return 0
}

// Newest is the highest generation number, 0 when there is none.
func Newest(gens []Generation) int {
	n := 0
	for _, g := range gens {
		n = max(n, g.Number)
	}
	return n
}

// Previous is the newest generation older than the current one (what
// nix-env --rollback switches to), 0 when there is none.
func Previous(gens []Generation) int {
	cur, prev := Current(gens), 0
	for _, g := range gens {
		if g.Number < cur && g.Number > prev {
			prev = g.Number
		}
	}
	return prev
}

func has(gens []Generation, n int) bool {
	return slices.ContainsFunc(gens, func(g Generation) bool { return g.Number == n })
}

// copiesMark separates nix-env's listing from the list of kept copies.
const copiesMark = "--- bootstrap: copies of /etc/nixos"

// listCmd lists the generations (dates in UTC) and the copies of /etc/nixos
// kept for them.
func listCmd() string {
	return fmt.Sprintf("TZ=UTC nix-env --list-generations -p %s || exit; echo %s; ls -1 %s 2>/dev/null || true",
		SystemProfile, quote(copiesMark), CopiesDir)
}

// parseList parses listCmd's output.
func parseList(out string) ([]Generation, error) {
	listing, copies, _ := strings.Cut(out, copiesMark+"\n")
	gens, err := ParseGenerations(listing)
	if err != nil {
		return nil, err
	}
	kept := map[int]bool{}
	for _, name := range strings.Fields(copies) {
		if n, err := strconv.Atoi(name); err == nil {
			kept[n] = true
		}
	}
	for i := range gens {
		gens[i].Config = kept[gens[i].Number]
	}
	return gens, nil
}

// ListGenerations lists the host's system generations, marking those push
// kept a copy of /etc/nixos for.
func ListGenerations(ctx context.Context, r Runner) ([]Generation, error) {
	var out bytes.Buffer
	if err := r.Run(ctx, listCmd(), &out, nil); err != nil {
		return nil, fmt.Errorf("list generations: %w", err)
	}
	gens, err := parseList(out.String())
	if err != nil {
		return nil, fmt.Errorf("list generations: %w", err)
	}
	return gens, nil
}
