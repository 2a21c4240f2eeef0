package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"bootstrap/deploy"
	"bootstrap/localcloud/nixorg"
)

// Loopback addresses of the revision tests' VMs.
const (
	addrPinSource = "127.0.0.40"
	addrPinClone  = "127.0.0.41"
)

// revisionOn reads what h runs and what root's channel follows, with plain OpenSSH.
func (e *env) revisionOn(h *host) (revision, version, channels string) {
	e.t.Helper()
	out, err := e.openssh(h, `echo "$(nixos-version --revision)"; echo "$(nixos-version)"; nix-channel --list`)
	if err != nil {
		e.t.Fatalf("read the revision on %s: %v\n%s", h.addr, err, out)
	}
	lines := strings.SplitN(out, "\n", 3)
	if len(lines) < 3 {
		e.t.Fatalf("read the revision on %s: got %q", h.addr, out)
	}
	return lines[0], lines[1], lines[2]
}

// assertRuns checks that h runs rel and that its record says so.
func assertRuns(t *testing.T, e *env, h *host, name string, rel nixorg.Release) {
	t.Helper()
	rev, version, _ := e.revisionOn(h)
	if rev != rel.Revision || version != rel.NixOSVersion() {
		t.Errorf("%s runs nixpkgs %s (%s), want %s (%s)", name, rev, version, rel.Revision, rel.NixOSVersion())
	}
	rec := e.record(name)
	if rec.Nixpkgs == nil || rec.Nixpkgs.Revision != rel.Revision || rec.Nixpkgs.Release != rel.Name() {
		t.Errorf("%s's record says it runs %+v, want %s (%s)", name, rec.Nixpkgs, rel.Name(), rel.Revision)
	}
}

// checkStatus runs status --check --json and decodes it.
func (e *env) checkStatus(t *testing.T, names ...string) (result, []deploy.Drift) {
	t.Helper()
	r := e.run(ctxFor(t, 5*time.Minute), append([]string{"status", "--check", "--json"}, names...)...)
	var drifts []deploy.Drift
	if err := json.Unmarshal([]byte(r.stdout), &drifts); err != nil {
		t.Fatalf("status --check --json: %v\n%s", err, r)
	}
	return r, drifts
}

// TestClonePinsTheSourceRevision bootstraps a source on a release of nixos-24.11, moves the
// channel on in the rig, and clones it: the clone runs the source's revision, not the
// channel's head, stays subscribed to that release, and the summary shows both revisions.
// push --upgrade then moves the clone to the head and records it.
func TestClonePinsTheSourceRevision(t *testing.T) {
	parallelVMs(t)
	hosts := bootHosts(t, layout{memoryMB: bigVM}, addrPinSource, addrPinClone)
	src, dst := hosts[0], hosts[1]
	rig := src.rig
	e := newEnv(t)
	ctx := ctxFor(t, 40*time.Minute)

	old, err := rig.Head("nixos-24.11")
	if err != nil {
		t.Fatal(err)
	}
	r := e.run(ctx, append(src.sshArgs("nixos-24.11", "--name", "prod-1"), noSwap...)...)
	if r.code != 0 {
		t.Fatalf("bootstrap the source: got %s", r)
	}
	assertRuns(t, e, src, "prod-1", old)

	// The channel moves on: its head is now another release, with another revision.
	head, err := rig.Advance("nixos-24.11")
	if err != nil || head.Revision == old.Revision {
		t.Fatalf("advance the channel: got %+v, %v", head, err)
	}

	r = e.run(ctx, "clone", "prod-1", "staging-1", "--to", "ssh", "--host", "root@"+dst.addr, "-i", dst.keyPath,
		"--host-key", dst.hostKeyFP, "--infect-env", "NIX_INSTALL_URL="+installURL, "--infect-env", "NO_SWAP=1", "--yes")
	if r.code != 0 {
		t.Fatalf("clone: got %s", r)
	}
	assertRuns(t, e, dst, "staging-1", old)
	if _, _, channels := e.revisionOn(dst); !strings.Contains(channels, "nixos "+old.URL()+"\n") {
		t.Errorf("got the clone's channels %q, want nixos %s (the source's release)", channels, old.URL())
	}
	q := regexp.QuoteMeta
	for _, want := range []string{`pinned to the source's release ` + q(old.Name()), `(?m)^nixpkgs: prod-1\s+` + q(old.Name()), `(?m)^\s+staging-1\s+` + q(old.Name()),
		`same nixpkgs revision: ` + old.Revision} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("clone output lacks %s:\n%s", want, r.stdout)
		}
	}
	if rec := e.record("staging-1"); rec.Pin == nil || rec.Pin.Revision != old.Revision || !rec.Done("pin") {
		t.Errorf("got pin %+v, steps %v; want the pin step done for %s", rec.Pin, rec.Steps, old.Revision)
	}
	if log := readFile(t, filepath.Join(e.ws, "hosts", "staging-1", "bootstrap.log")); !strings.Contains(log, "switch-to-configuration boot") || !strings.Contains(log, "pinned_revision="+old.Revision) {
		t.Errorf("the clone's log lacks the pin step's build for the boot:\n%s", log)
	}

	// Nothing drifted; the export pins one nixpkgs for both.
	if r, drifts := e.checkStatus(t); r.code != 0 || len(drifts) != 2 {
		t.Errorf("status --check: got %s", r)
	}
	if r = e.run(ctx, "export", "flake"); r.code != 0 || !strings.Contains(r.stdout, "2 host(s) (prod-1, staging-1) on 1 pinned nixpkgs") {
		t.Errorf("export flake: got %s", r)
	}

	// push --upgrade follows the channel again and moves the clone to its head, recorded.
	r = e.run(ctx, "push", "staging-1", "--upgrade")
	if r.code != 0 {
		t.Fatalf("push --upgrade: got %s", r)
	}
	assertRuns(t, e, dst, "staging-1", head)
	if _, _, channels := e.revisionOn(dst); !strings.Contains(channels, "nixos https://nixos.org/channels/nixos-24.11\n") {
		t.Errorf("got the clone's channels %q after push --upgrade, want nixos-24.11 again", channels)
	}
	if rec := e.record("staging-1"); rec.Nixpkgs.RecordedBy != "push --upgrade" {
		t.Errorf("got the revision recorded by %q, want push --upgrade", rec.Nixpkgs.RecordedBy)
	}
	assertRuns(t, e, src, "prod-1", old)
	if r, _ := e.checkStatus(t, "staging-1"); r.code != 0 {
		t.Errorf("status --check staging-1 after push --upgrade: got %s", r)
	}
	if r = e.run(ctx, "export", "colmena"); r.code != 0 || !strings.Contains(r.stdout, "on 2 pinned nixpkgs") {
		t.Errorf("export colmena: got %s", r)
	}
	hive := readFile(t, filepath.Join(e.ws, "hive.nix"))
	for _, rel := range []nixorg.Release{old, head} {
		if !strings.Contains(hive, rel.URL()+"/nixexprs.tar.xz") {
			t.Errorf("hive.nix does not pin %s:\n%s", rel.Name(), hive)
		}
	}

	// The source, still on the old release, is then changed by hand (one VM less for the
	// suite than a host of its own).
	checkDriftByHand(t, ctx, e, src, "prod-1", old, head)
}

// checkDriftByHand changes a bootstrapped host that runs old by hand, while its channel's head
// is head: status --check finds each change and exits 11; a push does not move the host to
// the nixpkgs its channel was updated to by hand, push --upgrade does and records it, and
// then nothing has drifted.
func checkDriftByHand(t *testing.T, ctx context.Context, e *env, h *host, name string, old, head nixorg.Release) {
	t.Helper()
	if r, drifts := e.checkStatus(t, name); r.code != 0 || len(drifts) != 1 || drifts[0].Nixpkgs == nil || drifts[0].Nixpkgs.Revision != old.Revision {
		t.Fatalf("status --check before the changes by hand: got %s", r)
	}

	// By hand on the host: a file of /etc/nixos, and root's channel updated to the head.
	if out, err := e.openssh(h, "echo '# changed by hand' >> /etc/nixos/host.nix && nix-channel --update"); err != nil {
		t.Fatalf("change the host by hand: %v\n%s", err, out)
	}
	r, drifts := e.checkStatus(t, name)
	if r.code != 11 || len(drifts) != 1 {
		t.Fatalf("status --check after changes by hand: got %s, want exit 11", r)
	}
	d := drifts[0]
	if len(d.Files) != 1 || d.Files[0] != (deploy.FileDrift{File: "host.nix", State: "differs"}) || !strings.Contains(d.Diff, "-# changed by hand") {
		t.Errorf("got files %+v, diff %q; want host.nix differing by the line added by hand", d.Files, d.Diff)
	}
	found := false
	for _, x := range d.Differences {
		if x.What == "channel revision" && strings.Contains(x.Workspace, old.Revision) && strings.Contains(x.Host, head.Revision) {
			found = true
		}
	}
	if !found {
		t.Errorf("got differences %+v, want the channel's revision %s -> %s", d.Differences, old.Revision, head.Revision)
	}
	text := e.run(ctx, "status", "--check")
	if text.code != 11 || !strings.Contains(text.stdout, name+": DRIFT") || !strings.Contains(text.stdout, "/etc/nixos/host.nix") || !strings.Contains(text.stderr, "drift on 1 of 2 host(s): "+name) {
		t.Errorf("status --check: got %s", text)
	}

	// A push would build what the channel now holds: refused, nothing changed.
	gens := e.generations(ctx, name)
	hostNix := readFile(t, filepath.Join(e.ws, "hosts", name, "host.nix"))
	writeWS(t, e, name, "host.nix", hostNix+"# a change in the workspace\n")
	r = e.run(ctx, "push", name)
	if r.code == 0 || !strings.Contains(r.stderr, "a push would move it to its channel's revision; nothing was changed") || !strings.Contains(r.stderr, "push --upgrade "+name) {
		t.Errorf("push with the channel moved: got %s", r)
	}
	if got := e.generations(ctx, name); len(got) != len(gens) || deploy.Current(got) != deploy.Current(gens) {
		t.Errorf("a refused push changed the generations: %v -> %v", gens, got)
	}
	assertRuns(t, e, h, name, old)

	// --upgrade moves it on purpose and records it; then nothing has drifted.
	if r = e.run(ctx, "push", name, "--upgrade"); r.code != 0 {
		t.Fatalf("push --upgrade: got %s", r)
	}
	assertRuns(t, e, h, name, head)
	if r, drifts := e.checkStatus(t); r.code != 0 || len(drifts) != 2 || drifts[0].Drifted() || drifts[1].Drifted() {
		t.Errorf("status --check after push --upgrade: got %s", r)
	}
	if err := os.Remove(filepath.Join(e.ws, "hosts", name, "configuration.nix")); err != nil {
		t.Fatal(err)
	}
	if r, _ := e.checkStatus(t); r.code != 11 {
		t.Errorf("status --check with the workspace's configuration.nix gone: got %s, want exit 11", r)
	}
}
