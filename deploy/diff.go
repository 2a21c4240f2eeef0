package deploy

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/aymanbagabas/go-udiff"
)

// ChangeKind says what a push does to one file of /etc/nixos.
type ChangeKind int

const (
	Added    ChangeKind = iota // only in the workspace: uploaded
	Modified                   // in both, different: uploaded
	Removed                    // only on the host: deleted
)

func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Modified:
		return "modified"
	case Removed:
		return "removed"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// Change is one file that differs between hosts/NAME and the host's /etc/nixos.
type Change struct {
	File string // base name, e.g. host.nix
	Kind ChangeKind
	Old  []byte // on the host (nil when Added)
	New  []byte // in the workspace (nil when Removed)
}

// Changes compares the workspace's files with the host's, both by base name,
// and returns the differences sorted by file name.
func Changes(local, host map[string][]byte) []Change {
	var out []Change
	for name, data := range local {
		old, ok := host[name]
		switch {
		case !ok:
			out = append(out, Change{File: name, Kind: Added, New: data})
		case !bytes.Equal(old, data):
			out = append(out, Change{File: name, Kind: Modified, Old: old, New: data})
		}
	}
	for name, data := range host {
		if _, ok := local[name]; !ok {
			out = append(out, Change{File: name, Kind: Removed, Old: data})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// Summary is "host.nix, configuration.nix (+new.nix, -old.nix)" style:
// modified files plain, added with +, removed with -.
func Summary(changes []Change) string {
	parts := make([]string, len(changes))
	for i, c := range changes {
		switch c.Kind {
		case Added:
			parts[i] = "+" + c.File
		case Removed:
			parts[i] = "-" + c.File
		default:
			parts[i] = c.File
		}
	}
	return strings.Join(parts, ", ")
}

// contextLines is how many unchanged lines surround each hunk, as diff -u.
const contextLines = 3

// UnifiedDiff renders changes as a unified diff from the host's /etc/nixos
// ("NAME:/etc/nixos/F") to the workspace ("hosts/NAME/F"), hunks as GNU
// diff -u prints them (computed by go-udiff, the Go tools' diff).
func UnifiedDiff(name string, changes []Change) string {
	var b strings.Builder
	for _, c := range changes {
		from, to := name+":"+NixOSDir+"/"+c.File, "hosts/"+name+"/"+c.File
		switch c.Kind {
		case Added:
			from = "/dev/null"
		case Removed:
			to = "/dev/null"
		}
		if isBinary(c.Old) || isBinary(c.New) {
			fmt.Fprintf(&b, "Binary files %s and %s differ\n", from, to)
			continue
		}
		old, new := string(c.Old), string(c.New)
		// ToUnified fails only on edits that do not fit old; Lines makes none.
		d, err := udiff.ToUnified(from, to, old, udiff.Lines(old, new), contextLines)
		if err != nil || d == "" { // d is "" for an empty file added or removed
			d = fmt.Sprintf("--- %s\n+++ %s\n", from, to)
		}
		b.WriteString(d)
	}
	return b.String()
}

func isBinary(data []byte) bool {
	return bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data)
}
