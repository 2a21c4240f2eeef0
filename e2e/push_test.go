package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"bootstrap/deploy"
)

// Loopback addresses of the push test's VMs.
const (
	addrPushA = "127.0.0.30"
	addrPushB = "127.0.0.31"
)

// runAll runs bootstrap commands at the same time (each args list in env envs[i]).
func runAll(t *testing.T, ctx context.Context, envs []*env, args [][]string) []result {
	t.Helper()
	out := make([]result, len(args))
	errs := make([]error, len(args))
	var wg sync.WaitGroup
	for i := range args {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := envs[i].command(ctx, args[i]...)
			var o, e bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &e
			start := time.Now()
			err := cmd.Run()
			out[i] = result{stdout: o.String(), stderr: e.String(), took: time.Since(start)}
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				out[i].code = ee.ExitCode()
			case err != nil:
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("run bootstrap %s: %v", strings.Join(args[i], " "), err)
		}
		t.Logf("bootstrap %s -> exit %d in %s", strings.Join(args[i], " "), out[i].code, out[i].took.Round(time.Millisecond))
	}
	return out
}

// copyTree copies the regular files and directories under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// generations runs `bootstrap generations NAME --json`.
func (e *env) generations(ctx context.Context, name string) []deploy.Generation {
	e.t.Helper()
	r := e.run(ctx, "generations", name, "--json")
	if r.code != 0 {
		e.t.Fatalf("generations %s: got %s", name, r)
	}
	var gens []deploy.Generation
	if err := json.Unmarshal([]byte(r.stdout), &gens); err != nil {
		e.t.Fatalf("generations %s --json: %v\n%s", name, err, r.stdout)
	}
	return gens
}

// assertGenerations checks the host's generation numbers, the current one, and which have a
// copy of /etc/nixos.
func assertGenerations(t *testing.T, gens []deploy.Generation, want []int, current int, kept []int) {
	t.Helper()
	var got, gotKept []int
	cur := 0
	for _, g := range gens {
		got = append(got, g.Number)
		if g.Current {
			cur = g.Number
		}
		if g.Config {
			gotKept = append(gotKept, g.Number)
		}
		if time.Since(g.Date) > time.Hour || time.Until(g.Date) > time.Minute {
			t.Errorf("generation %d: got date %s, want about now", g.Number, g.Date)
		}
	}
	if !equalInts(got, want) || cur != current || !equalInts(gotKept, kept) {
		t.Errorf("got generations %v current %d copies %v, want %v current %d copies %v", got, cur, gotKept, want, current, kept)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// hostFile reads /etc/nixos/NAME on h; "" when it does not exist.
func (e *env) hostFile(h *host, name string) string {
	e.t.Helper()
	out, err := e.openssh(h, "cat /etc/nixos/"+name+" 2>/dev/null || true")
	if err != nil {
		e.t.Fatalf("read /etc/nixos/%s on %s: %v\n%s", name, h.addr, err, out)
	}
	return out
}

// withOption adds a NixOS option definition to a host.nix like templates.DefaultHostNix's
// (a function of { pkgs, ... } returning an attribute set), giving it lib.
func withOption(body, def string) string {
	body = strings.Replace(body, "{ pkgs, ... }:", "{ pkgs, lib, ... }:", 1)
	i := strings.LastIndex(body, "}")
	return body[:i] + "  " + def + "\n" + body[i:]
}

// Configurations the push test deploys: each does what it says for real, in the evaluated
// configuration.
const (
	breakSSH       = "services.openssh.enable = lib.mkForce false;"
	failBuild      = `services.openssh.enable = throw "bootstrap e2e: this configuration does not build";`
	failActivation = `system.activationScripts.bootstrapE2EFails = "echo failing on purpose; exit 3";`
)

func writeWS(t *testing.T, e *env, name, file, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.ws, "hosts", name, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPushGenerationsRollback bootstraps two hosts with the real nixos-infect, then pushes changes,
// a failing build, a failing activation, a switch that breaks SSH under --confirm-timeout,
// rollbacks, and both hosts in parallel.
func TestPushGenerationsRollback(t *testing.T) {
	parallelVMs(t)
	hosts := bootHosts(t, layout{memoryMB: bigVM}, addrPushA, addrPushB)
	a, b := hosts[0], hosts[1]
	ctx := ctxFor(t, 30*time.Minute)

	// Bootstrap both at once: b in a workspace of its own with the same deploy key, merged
	// into e's afterwards (one workspace's known_hosts must not be written by two runs).
	e, eb := newEnv(t), newEnv(t)
	keys := filepath.Join(e.ws, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	newKey(t, keys, "deploy_ed25519")
	copyTree(t, keys, filepath.Join(eb.ws, "keys"))
	rs := runAll(t, ctx, []*env{e, eb}, [][]string{
		append(a.sshArgs("nixos-24.11", "--name", "web-1", "--shared-deploy-key"), noSwap...),
		append(b.sshArgs("nixos-24.11", "--name", "web-2", "--shared-deploy-key"), noSwap...),
	})
	for _, r := range rs {
		if r.code != 0 {
			t.Fatalf("bootstrap: got %s", r)
		}
	}
	copyTree(t, filepath.Join(eb.ws, "hosts", "web-2"), filepath.Join(e.ws, "hosts", "web-2"))
	f, err := os.OpenFile(e.ws+"/known_hosts", os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(readFile(t, filepath.Join(eb.ws, "known_hosts")))
	f.Close()

	// Generation 1 is what the infect built.
	assertGenerations(t, e.generations(ctx, "web-1"), []int{1}, 1, nil)
	hostNix := filepath.Join(e.ws, "hosts", "web-1", "host.nix")
	original := readFile(t, hostNix)
	if got := e.hostFile(a, "host.nix"); got != original {
		t.Fatalf("host.nix on the host differs from the workspace before any push")
	}

	// 1. A change: the diff is shown, /etc/nixos updated, generation 2 made.
	// A change of an option's value: a comment alone would build the same system, and Nix makes
	// no new generation for it.
	change1 := withOption(original, `environment.etc."bootstrap-e2e".text = "first change";`)
	writeWS(t, e, "web-1", "host.nix", change1)
	writeWS(t, e, "web-1", "extra.nix", "{ ... }: { }\n")
	r := e.run(ctx, "push", "web-1")
	if r.code != 0 {
		t.Fatalf("push: got %s", r)
	}
	for _, want := range []string{"--- web-1:/etc/nixos/host.nix\n+++ hosts/web-1/host.nix\n", "+  environment.etc.\"bootstrap-e2e\".text = \"first change\";\n",
		"--- /dev/null\n+++ hosts/web-1/extra.nix\n", "done: web-1 switched to generation 2 (was 1)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("push output lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := e.hostFile(a, "host.nix"); got != change1 {
		t.Errorf("got host.nix on the host %q, want the pushed one", got)
	}
	if got := e.hostFile(a, "extra.nix"); got != "{ ... }: { }\n" {
		t.Errorf("got extra.nix on the host %q, want it uploaded", got)
	}
	assertGenerations(t, e.generations(ctx, "web-1"), []int{1, 2}, 2, []int{1, 2})
	if log := readFile(t, filepath.Join(e.ws, "hosts", "web-1", "bootstrap.log")); !strings.Contains(log, "$ nixos-rebuild switch") || !strings.Contains(log, "activating the configuration") {
		t.Errorf("bootstrap.log lacks the nixos-rebuild run:\n%s", log)
	}
	r = e.run(ctx, "push", "web-1")
	if r.code != 0 || !strings.Contains(r.stdout, "up to date on generation 2") {
		t.Errorf("push without changes: got %s", r)
	}

	// 2. A dry run shows the diff and changes nothing.
	writeWS(t, e, "web-1", "host.nix", withOption(change1, breakSSH))
	r = e.run(ctx, "push", "web-1", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "+  "+breakSSH) || !strings.Contains(r.stdout, "would stop the following units: sshd.service") {
		t.Errorf("dry run: got %s", r)
	}
	if got := e.hostFile(a, "host.nix"); got != change1 {
		t.Errorf("a dry run changed host.nix on the host: %q", got)
	}

	// 3. A failing build leaves /etc/nixos as it was, on generation 2.
	writeWS(t, e, "web-1", "host.nix", withOption(change1, failBuild))
	r = e.run(ctx, "push", "web-1")
	if r.code == 0 || !strings.Contains(r.stderr, "nixos-rebuild switch on web-1 failed (exit status 1) in the build; /etc/nixos restored, on generation 2") {
		t.Errorf("failing build: got %s", r)
	}
	if got := e.hostFile(a, "host.nix"); got != change1 {
		t.Errorf("after a failing build got host.nix on the host %q, want the one of generation 2", got)
	}
	assertGenerations(t, e.generations(ctx, "web-1"), []int{1, 2}, 2, []int{1, 2})

	// 4. A failing activation goes back to generation 2 (the new one, 3, stays listed).
	writeWS(t, e, "web-1", "host.nix", withOption(change1, failActivation))
	r = e.run(ctx, "push", "web-1")
	if r.code == 0 || !strings.Contains(r.stderr, "in the activation; switched back to generation 2") {
		t.Errorf("failing activation: got %s", r)
	}
	if got := e.hostFile(a, "host.nix"); got != change1 {
		t.Errorf("after a failing activation got host.nix on the host %q, want the one of generation 2", got)
	}
	assertGenerations(t, e.generations(ctx, "web-1"), []int{1, 2, 3}, 2, []int{1, 2})

	// 5. Rollback to a named generation restores its /etc/nixos; a missing one is refused.
	r = e.run(ctx, "rollback", "web-1", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "done: web-1 rolled back to generation 1 (was 2)") {
		t.Fatalf("rollback to 1: got %s", r)
	}
	if got := e.hostFile(a, "host.nix"); got != original {
		t.Errorf("after the rollback got host.nix on the host %q, want generation 1's", got)
	}
	if got := e.hostFile(a, "extra.nix"); got != "" {
		t.Errorf("after the rollback extra.nix is still on the host: %q", got)
	}
	r = e.run(ctx, "rollback", "web-1", "42")
	if r.code == 0 || !strings.Contains(r.stderr, "web-1 has no generation 42 (it has 1, 2, 3)") {
		t.Errorf("rollback to 42: got %s", r)
	}
	assertGenerations(t, e.generations(ctx, "web-1"), []int{1, 2, 3}, 1, []int{1, 2})

	// 6. A switch that breaks SSH, with --confirm-timeout: the host comes back by itself on
	// generation 1, with its /etc/nixos.
	writeWS(t, e, "web-1", "host.nix", withOption(change1, breakSSH))
	r = e.run(ctx, "push", "web-1", "--confirm-timeout", "20s")
	if r.code == 0 || !strings.Contains(r.stderr, "web-1 did not answer a new SSH connection within 20s of switching to generation 4: it rolled back to generation 1 by itself") {
		t.Errorf("broken ssh: got %s", r)
	}
	if r.took < 20*time.Second {
		t.Errorf("broken ssh: gave up after %s, before the confirm timeout", r.took)
	}
	if got := e.hostFile(a, "host.nix"); got != original {
		t.Errorf("after the rollback by itself got host.nix on the host %q, want generation 1's", got)
	}
	assertGenerations(t, e.generations(ctx, "web-1"), []int{1, 2, 3, 4}, 1, []int{1, 2})
	if out, err := e.openssh(a, "systemctl list-timers --all --no-legend 'bootstrap-confirm-*' | wc -l"); err != nil || strings.TrimSpace(out) != "0" {
		t.Errorf("confirm timers left on the host: %q, %v", out, err)
	}

	// 7. Both hosts at once, with a confirm timeout that is disarmed; web-2's new secret is
	// written too.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.home, ".config", "bootstrap"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.home, ".config", "bootstrap", "age.txt"), []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.ws, "recipients.txt"), []byte(id.Recipient().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const token = "token-for-web-2-8c1f"
	set := e.command(ctx, "secrets", "set", "web-2", "api-token", "-")
	set.Stdin = strings.NewReader(token)
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("secrets set: %v\n%s", err, out)
	}
	writeWS(t, e, "web-1", "host.nix", change1)
	webB := withOption(readFile(t, filepath.Join(e.ws, "hosts", "web-2", "host.nix")), `environment.etc."bootstrap-e2e".text = "web-2 change";`)
	writeWS(t, e, "web-2", "host.nix", webB)
	r = e.run(ctx, "push", "--all", "--confirm-timeout", "2m", "--parallel", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "summary: 2 of 2 host(s) pushed") {
		t.Fatalf("push --all: got %s", r)
	}
	assertGenerations(t, e.generations(ctx, "web-1"), []int{1, 2, 3, 4, 5}, 5, []int{1, 2, 5})
	assertGenerations(t, e.generations(ctx, "web-2"), []int{1, 2}, 2, []int{1, 2})
	if got := e.hostFile(b, "host.nix"); got != webB {
		t.Errorf("got host.nix on web-2 %q, want the pushed one", got)
	}
	if out, err := e.openssh(b, "stat -c '%a %U' /var/lib/bootstrap/secrets/api-token && cat /var/lib/bootstrap/secrets/api-token"); err != nil || out != "400 root\n"+token {
		t.Errorf("secret on web-2: got %q, %v; want it written 0400 root", out, err)
	}
	for _, h := range hosts {
		if out, err := e.openssh(h, "systemctl list-timers --all --no-legend 'bootstrap-confirm-*' | wc -l"); err != nil || strings.TrimSpace(out) != "0" {
			t.Errorf("%s: confirm timers left: %q, %v", h.addr, out, err)
		}
	}

	// 8. web-1 leaves the shared deploy key for one of its own; web-2 keeps the shared one.
	r = e.run(ctx, "rotate-key", "web-1")
	if r.code != 0 {
		t.Fatalf("rotate-key: got %s", r)
	}
	if got := e.record("web-1").DeployKey; got != "keys/web-1_ed25519" {
		t.Errorf("got deploy key %q recorded, want keys/web-1_ed25519", got)
	}
	loginWith := func(h *host, key string) error {
		cmd := exec.Command("ssh", "-i", filepath.Join(e.ws, key), "-o", "IdentitiesOnly=yes",
			"-o", "UserKnownHostsFile="+filepath.Join(e.ws, "known_hosts"), "-o", "StrictHostKeyChecking=yes",
			"-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-F", "/dev/null", "root@"+h.addr, "true")
		cmd.Env = []string{"HOME=" + e.home, "PATH=" + os.Getenv("PATH")}
		return cmd.Run()
	}
	if err := loginWith(a, "keys/web-1_ed25519"); err != nil {
		t.Errorf("web-1 with its own key: %v", err)
	}
	if err := loginWith(a, "keys/deploy_ed25519"); err == nil {
		t.Errorf("web-1 still lets the shared key in after rotate-key")
	}
	if err := loginWith(b, "keys/deploy_ed25519"); err != nil {
		t.Errorf("web-2 with the shared key: %v", err)
	}
	if r = e.run(ctx, "push", "web-1"); r.code != 0 {
		t.Errorf("push after rotate-key: got %s", r)
	}
}
