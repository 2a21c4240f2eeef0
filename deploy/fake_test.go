package deploy

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"bootstrap/remote"
)

// fakeHost is a NixOS host as deploy sees it: /etc/nixos, the system
// profile's generations, the copies of /etc/nixos, a confirm timer. It
// understands exactly the commands deploy sends and fails the test on any
// other, and records every command and upload.
type fakeHost struct {
	t  *testing.T
	mu sync.Mutex

	etc     map[string][]byte         // /etc/nixos by base name
	gens    []int                     // ascending
	current int                       // 0: none
	copies  map[int]map[string][]byte // CopiesDir/N
	secrets map[string][]byte         // uploaded secret temp files

	// nixpkgs: the revision each generation was built from, what root's
	// channel holds and follows, and what nix-channel --update fetches.
	revs         map[int]string
	channelRev   string
	headRev      string
	subscription string

	cmds   []string
	writes []string

	// rebuild decides what nixos-rebuild ACTION does (after the fake applied
	// a successful build: switch/boot made a new generation). nil: success.
	rebuild func(h *fakeHost, action string) (out string, status int, err error)

	armed      bool // a confirm timer runs
	timerFired bool // ... and decided to roll back (set by tests)
	confirmed  bool
	jobRC      string // what waitJobCmd prints

	dials   int
	dialErr func(n int) error // error of the n-th dial (1-based); nil: all succeed
}

func newFakeHost(t *testing.T, etc map[string]string) *fakeHost {
	h := &fakeHost{t: t, etc: map[string][]byte{}, gens: []int{1}, current: 1, copies: map[int]map[string][]byte{}, secrets: map[string][]byte{}, jobRC: "0",
		revs: map[int]string{}, channelRev: revOld, headRev: revOld, subscription: "https://nixos.org/channels/nixos-24.11"}
	for k, v := range etc {
		h.etc[k] = []byte(v)
	}
	return h
}

func (h *fakeHost) dial(ctx context.Context) (Remote, error) {
	h.mu.Lock()
	h.dials++
	n := h.dials
	h.mu.Unlock()
	if h.dialErr != nil {
		if err := h.dialErr(n); err != nil {
			<-ctx.Done() // Dial retries until its context ends
			return nil, &remote.UnreachableError{Addr: "fake:22", Err: err, Ctx: ctx.Err()}
		}
	}
	return &fakeConn{h: h}, nil
}

func (h *fakeHost) etcString() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[string]string{}
	for k, v := range h.etc {
		m[k] = string(v)
	}
	return m
}

func (h *fakeHost) ran(substr string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.cmds, func(c string) bool { return strings.Contains(c, substr) })
}

func (h *fakeHost) listing() string {
	var b strings.Builder
	for _, g := range h.gens {
		mark := ""
		if g == h.current {
			mark = "(current)"
		}
		fmt.Fprintf(&b, "%4d   2024-05-01 10:00:%02d   %s\n", g, g%60, mark)
	}
	b.WriteString(copiesMark + "\n")
	for _, n := range slices.Sorted(maps.Keys(h.copies)) {
		fmt.Fprintf(&b, "%d\n", n)
	}
	return b.String()
}

var (
	copyRE     = regexp.MustCompile(`mv \S+/\.(\d+)\.tmp `)
	switchGenR = regexp.MustCompile(`--switch-generation (\d+)`)
	rebuildRE  = regexp.MustCompile(`nixos-rebuild (switch|boot|build|dry-activate)`)
	quotedPath = regexp.MustCompile(`'?(/etc/nixos/[^' ]+|/var/lib/bootstrap/staging-[^' ]+)'?`)
)

// run interprets one command.
func (h *fakeHost) run(cmd string, stdout io.Writer) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cmds = append(h.cmds, cmd)
	switch {
	case cmd == "true":
	case strings.HasPrefix(cmd, "find /etc/nixos"):
		for _, n := range slices.Sorted(maps.Keys(h.etc)) {
			fmt.Fprintln(stdout, n)
		}
	case strings.Contains(cmd, "nix-env --list-generations"):
		io.WriteString(stdout, h.listing())
	case strings.HasPrefix(cmd, "exec 2>/dev/null\necho \"version=$(nixos-version)\""):
		io.WriteString(stdout, h.nixpkgs())
	case strings.HasPrefix(cmd, "HOME=/root nix-channel --add "):
		h.subscription = strings.Fields(cmd)[3]
	case strings.Contains(cmd, "--switch-generation"):
		n, _ := strconv.Atoi(switchGenR.FindStringSubmatch(cmd)[1])
		if !slices.Contains(h.gens, n) {
			return 3, nil
		}
		h.current = n
		if strings.Contains(cmd, "root's channel back") {
			h.channelRev = h.rev(n)
		}
		if c, ok := h.copies[n]; ok {
			h.etc = maps.Clone(c)
		}
	case strings.Contains(cmd, "install -d -m 0700 "+CopiesDir):
		n, _ := strconv.Atoi(copyRE.FindStringSubmatch(cmd)[1])
		if _, ok := h.copies[n]; ok && strings.HasPrefix(cmd, "[ -d") {
			break
		}
		h.copies[n] = maps.Clone(h.etc)
	case strings.HasPrefix(cmd, "for d in "+CopiesDir):
		for n := range h.copies {
			if !slices.Contains(h.gens, n) {
				delete(h.copies, n)
			}
		}
	case strings.HasPrefix(cmd, "rm -f -- /etc/nixos/"):
		for _, m := range quotedPath.FindAllStringSubmatch(cmd, -1) {
			delete(h.etc, path.Base(m[1]))
		}
	case strings.Contains(cmd, "systemd-run"):
		h.armed = true
	case strings.Contains(cmd, ".decided 2>/dev/null; then"):
		if h.timerFired {
			io.WriteString(stdout, tooLate+"\n")
			break
		}
		h.armed, h.confirmed = false, true
		io.WriteString(stdout, confirmed+"\n")
	case strings.Contains(cmd, ".rollback-rc"):
		io.WriteString(stdout, "0\n")
	case strings.Contains(cmd, "kill -TERM"), strings.Contains(cmd, "echo gone"):
		io.WriteString(stdout, h.jobRC+"\n")
	case strings.Contains(cmd, "nixos-rebuild"):
		action := rebuildRE.FindStringSubmatch(cmd)[1]
		if strings.Contains(cmd, "--upgrade") {
			h.channelRev = h.headRev
		}
		if action == "switch" || action == "boot" {
			n := h.gens[len(h.gens)-1] + 1
			h.gens = append(h.gens, n)
			h.current = n
			h.revs[n] = h.channelRev
		}
		if h.rebuild != nil {
			out, status, err := h.rebuild(h, action)
			io.WriteString(stdout, out)
			return status, err
		}
		fmt.Fprintf(stdout, "building the system configuration...\n")
		if action == "dry-activate" {
			fmt.Fprintf(stdout, "would restart the following units: sshd.service\n")
		}
	case strings.HasPrefix(cmd, "mkdir -p -m 0700 "+stagingPrefix), strings.HasPrefix(cmd, "rm -rf -- "+stagingPrefix),
		strings.HasPrefix(cmd, "rm -f -- '"+stagingPrefix), strings.HasPrefix(cmd, "rm -f -- "+stagingPrefix):
	case strings.HasPrefix(cmd, "install -d -m 0700 -o root -g root /var/lib/bootstrap/secrets"),
		strings.HasPrefix(cmd, "cd -- /var/lib/bootstrap/secrets"):
	default:
		h.t.Errorf("fake host: unexpected command %q", cmd)
		return 127, nil
	}
	return 0, nil
}

// Revisions of nixpkgs the fake host runs: the one it was bootstrapped
// with, and the channel's head.
const (
	revOld = "abc1234def5678abc1234def5678abc1234def56"
	revNew = "fed9876cba5432fed9876cba5432fed9876cba54"
)

// rev is the revision generation n was built from.
func (h *fakeHost) rev(n int) string {
	if r, ok := h.revs[n]; ok {
		return r
	}
	return revOld
}

// nixpkgs answers bootstrap's nixpkgs script.
func (h *fakeHost) nixpkgs() string {
	v := func(rev string) string { return "24.11." + strconv.Itoa(len(rev)) + "." + rev[:7] }
	return fmt.Sprintf("version=%s (Vicuna)\nrevision=%s\nboot_version=%[1]s (Vicuna)\nboot_revision=%[2]s\nprofile=system-%[3]d-link\n"+
		"channel_version=24.11\nchannel_suffix=.%[4]d.%[5]s\nchannel_revision=%[6]s\nchannel=nixos %[7]s\n",
		v(h.rev(h.current)), h.rev(h.current), h.current, len(h.channelRev), h.channelRev[:7], h.channelRev, h.subscription)
}

// fakeConn is one connection to a fakeHost.
type fakeConn struct {
	h      *fakeHost
	closed bool
}

func (c *fakeConn) Run(ctx context.Context, cmd string, stdout, stderr io.Writer) error {
	if stdout == nil {
		stdout = io.Discard
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	status, err := c.h.run(cmd, stdout)
	if err != nil {
		return err
	}
	if status != 0 {
		return &remote.ExitError{Cmd: cmd, Host: "fake:22", Status: status}
	}
	return nil
}

func (c *fakeConn) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode) error {
	h := c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes = append(h.writes, p)
	switch {
	case path.Dir(p) == NixOSDir:
		h.etc[path.Base(p)] = append([]byte(nil), data...)
	case strings.HasPrefix(p, stagingPrefix), strings.HasPrefix(p, confirmDir+"/"):
	case strings.HasPrefix(p, "/var/lib/bootstrap/secrets/"):
		h.secrets[path.Base(p)] = data
	default:
		h.t.Errorf("fake host: unexpected upload %s", p)
	}
	return nil
}

func (c *fakeConn) ReadFile(ctx context.Context, p string) ([]byte, error) {
	h := c.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if data, ok := h.etc[path.Base(p)]; ok && path.Dir(p) == NixOSDir {
		return data, nil
	}
	return nil, fs.ErrNotExist
}

func (c *fakeConn) Close() error { c.closed = true; return nil }

// recorder is a Reporter keeping everything.
type recorder struct {
	mu    sync.Mutex
	diffs map[string]string
	steps []string
}

func (r *recorder) Diff(host, diff string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.diffs == nil {
		r.diffs = map[string]string{}
	}
	r.diffs[host] = diff
}

func (r *recorder) Step(host, step, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.steps = append(r.steps, host+" "+step+" "+msg)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.steps, "\n")
}
