package deploy

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
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
// ("NAME:/etc/nixos/F") to the workspace ("hosts/NAME/F").
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
		fmt.Fprintf(&b, "--- %s\n+++ %s\n", from, to)
		writeHunks(&b, splitLines(c.Old), splitLines(c.New))
	}
	return b.String()
}

func isBinary(data []byte) bool {
	return bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data)
}

// splitLines splits data after each newline; the last line may lack one.
func splitLines(data []byte) []string {
	var lines []string
	s := string(data)
	for s != "" {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i+1])
		s = s[i+1:]
	}
	return lines
}

// edit is one line of an edit script: ' ' kept, '-' deleted from a, '+'
// inserted from b; a and b are the line's indexes in either file.
type edit struct {
	op   byte
	a, b int
}

// maxCells bounds the LCS table; beyond it a file is shown as replaced.
const maxCells = 4 << 20

// editScript returns a shortest edit script from a to b (deletions before
// insertions within a changed block), by LCS over the lines between the
// common prefix and suffix.
func editScript(a, b []string) []edit {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var out []edit
	for i := 0; i < pre; i++ {
		out = append(out, edit{' ', i, i})
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	n, m := len(ma), len(mb)
	if n*m > maxCells {
		for i := range ma {
			out = append(out, edit{'-', pre + i, pre})
		}
		for j := range mb {
			out = append(out, edit{'+', pre + n, pre + j})
		}
	} else {
		// l[i*(m+1)+j] is the LCS length of ma[i:] and mb[j:].
		l := make([]int32, (n+1)*(m+1))
		for i := n - 1; i >= 0; i-- {
			for j := m - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					l[i*(m+1)+j] = l[(i+1)*(m+1)+j+1] + 1
				} else {
					l[i*(m+1)+j] = max(l[(i+1)*(m+1)+j], l[i*(m+1)+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < n || j < m {
			switch {
			case i < n && j < m && ma[i] == mb[j]:
				out = append(out, edit{' ', pre + i, pre + j})
				i++
				j++
			case j == m || (i < n && l[(i+1)*(m+1)+j] >= l[i*(m+1)+j+1]):
				out = append(out, edit{'-', pre + i, pre + j})
				i++
			default:
				out = append(out, edit{'+', pre + i, pre + j})
				j++
			}
		}
	}
	for k := 0; k < suf; k++ {
		out = append(out, edit{' ', len(a) - suf + k, len(b) - suf + k})
	}
	return out
}

// writeHunks writes the @@ hunks turning a into b.
func writeHunks(w *strings.Builder, a, b []string) {
	script := editScript(a, b)
	for start := 0; start < len(script); {
		// The next change, and the end of the hunk around it: changes
		// closer than 2*contextLines share a hunk.
		first := start
		for first < len(script) && script[first].op == ' ' {
			first++
		}
		if first == len(script) {
			return
		}
		last := first
		for k := first; k < len(script); k++ {
			if script[k].op != ' ' {
				last = k
			} else if k-last > 2*contextLines {
				break
			}
		}
		lo := max(first-contextLines, start)
		hi := min(last+contextLines+1, len(script))
		writeHunk(w, a, b, script[lo:hi])
		start = hi
	}
}

func writeHunk(w *strings.Builder, a, b []string, h []edit) {
	aStart, bStart := h[0].a, h[0].b
	aLen, bLen := 0, 0
	for _, e := range h {
		if e.op != '+' {
			aLen++
		}
		if e.op != '-' {
			bLen++
		}
	}
	fmt.Fprintf(w, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
	for _, e := range h {
		line := ""
		switch e.op {
		case '+':
			line = b[e.b]
		default:
			line = a[e.a]
		}
		w.WriteByte(e.op)
		w.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			w.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange is diff -u's "start,length": 1-based; an empty range names the
// line before it; ",1" is left out.
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
