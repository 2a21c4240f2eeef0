package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Loopback addresses of this package's VMs (port 22 each).
const (
	addrHappy    = "127.0.0.10"
	addrAgent    = "127.0.0.11"
	addrResume   = "127.0.0.12"
	addrNoReturn = "127.0.0.13"
	addrEFI      = "127.0.0.17"
	addrBoot     = "127.0.0.18"
	addrBench    = "127.0.0.19"
)

// noSwap skips nixos-infect's 1 GiB swap file (dd into /tmp takes a while under emulation);
// the VMs that use it get the memory preflight then wants instead. The happy path keeps it.
var noSwap = []string{"--infect-env", "NO_SWAP=1"}

const bigVM = 1536 // MiB: RAM alone passes preflight's memory check without the swap file

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// assertNixOS checks, with plain OpenSSH and the workspace's deploy key and
// known_hosts, that h runs NixOS on channel, at the release the rig's channel
// points at, after exactly one lustration of the old root.
func assertNixOS(t *testing.T, e *env, h *host, name, channel string) {
	t.Helper()
	out, err := e.openssh(h, `. /etc/os-release; echo "id=$ID version=$VERSION_ID"; nix-channel --list; echo "nixos-version=$(nixos-version)"
[ -e /etc/NIXOS_LUSTRATE ] && echo lustrate-pending; [ -d /old-root ] && echo lustrated; [ -d /old-root/old-root ] && echo lustrated-twice
echo "infect-rc=$(cat /var/lib/bootstrap/infect/infect.rc 2>/dev/null)"`)
	if err != nil {
		t.Fatalf("ssh with the deploy key: %v\n%s", err, out)
	}
	head, err := h.rig.Head(channel)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "id=nixos version="+head.Version) {
		t.Errorf("got os-release %q, want NixOS %s", out, head.Version)
	}
	if !strings.Contains(out, "nixos https://nixos.org/channels/"+channel+"\n") {
		t.Errorf("got channels %q, want nixos %s", out, channel)
	}
	if !strings.Contains(out, "nixos-version="+head.NixOSVersion()+"\n") {
		t.Errorf("got %q, want nixos-version %s (the channel's release)", out, head.NixOSVersion())
	}
	for _, bad := range []string{"lustrate-pending", "lustrated-twice"} {
		if strings.Contains(out, bad) {
			t.Errorf("got %q: %s", out, bad)
		}
	}
	if !strings.Contains(out, "lustrated\n") || !strings.Contains(out, "infect-rc=0\n") {
		t.Errorf("got %q, want /old-root from the first boot and the infect's exit status 0 kept in /var/lib/bootstrap", out)
	}
	rec := e.record(name)
	if !rec.Complete() {
		t.Errorf("got state %+v, want complete", rec.Steps)
	}
	if rec.BootIDBefore == "" || rec.BootIDBefore == rec.BootIDAfter {
		t.Errorf("got boot ids %q -> %q, want two different ids", rec.BootIDBefore, rec.BootIDAfter)
	}
	for _, f := range []string{"host.nix", "configuration.nix", "bootstrap.nix", "hardware-configuration.nix", "bootstrap.log"} {
		if _, err := os.Stat(filepath.Join(e.ws, "hosts", name, f)); err != nil {
			t.Errorf("workspace: %v", err)
		}
	}
	// The workspace and the host hold the same configuration.
	for _, f := range []string{"host.nix", "configuration.nix", "bootstrap.nix", "hardware-configuration.nix"} {
		remote, err := e.openssh(h, "cat /etc/nixos/"+f)
		if err != nil {
			t.Fatalf("read /etc/nixos/%s: %v", f, err)
		}
		if local := readFile(t, filepath.Join(e.ws, "hosts", name, f)); local != remote {
			t.Errorf("hosts/%s/%s differs from the host's /etc/nixos/%s", name, f, f)
		}
	}
}

// acceptedKeys lists the key fingerprints sshd accepted for root in the current boot (before:
// false) or in the last boot of the old Debian system, whose journal the first NixOS boot moved
// to /old-root (before: true).
func acceptedKeys(t *testing.T, e *env, h *host, before bool) []string {
	t.Helper()
	cmd := "journalctl -b 0 -u ssh -o cat --no-pager"
	if before {
		cmd = "journalctl -D /old-root/var/log/journal -b -0 -u ssh -o cat --no-pager"
	}
	out, err := e.openssh(h, cmd+" | grep 'Accepted publickey for root' || true")
	if err != nil {
		t.Fatalf("journalctl: %v\n%s", err, out)
	}
	re := regexp.MustCompile(`SHA256:[A-Za-z0-9+/]+`)
	var fps []string
	for _, l := range strings.Split(out, "\n") {
		if fp := re.FindString(l); fp != "" {
			fps = append(fps, fp)
		}
	}
	return fps
}

// stable is the current stable channel the happy path runs on.
const stable = "nixos-26.05"

// TestSSHHappyPath runs the real nixos-infect on a BIOS host with the script's defaults (its
// swap file included): BIOS needs bootFs=/boot, which fails the test without it.
func TestSSHHappyPath(t *testing.T) {
	parallelVMs(t)
	h := bootHost(t, addrHappy)
	e := newEnv(t)
	ctx := ctxFor(t, 15*time.Minute)
	name := "web-1"

	// First contact with an unknown host key and no terminal: refused, nothing changed.
	args := h.sshArgs(stable, "--name", name)
	noPin := append([]string(nil), args...)
	for i, a := range noPin {
		if a == "--host-key" {
			noPin = append(noPin[:i], noPin[i+2:]...)
			break
		}
	}
	r := e.run(ctx, noPin...)
	if r.code != 4 || !strings.Contains(r.stderr, "--host-key "+h.hostKeyFP) {
		t.Fatalf("unknown host key: got %s\nwant exit 4 naming --host-key %s", r, h.hostKeyFP)
	}
	if _, err := os.Stat(filepath.Join(e.ws, "hosts", name, "configuration.nix")); err == nil {
		t.Fatal("configuration.nix written although the host key was refused")
	}

	r = e.run(ctx, args...)
	if r.code != 0 {
		t.Fatalf("bootstrap ssh: got %s", r)
	}
	for _, step := range []string{"connect", "preflight", "upload", "infect", "reboot", "capture"} {
		if !regexp.MustCompile(`(?m)^  ` + step + `\s+\d[\d.]*(ms|s|m\S*)\s`).MatchString(r.stdout) {
			t.Errorf("got output without a timed %q line:\n%s", step, r.stdout)
		}
	}
	// Root's existing key is named as carried over.
	if opFP := fingerprintOfFile(t, h.keyPath+".pub"); !regexp.MustCompile(`(?m)^  keys\s+carried\s+ssh-ed25519 ` + regexp.QuoteMeta(opFP)).MatchString(r.stdout) {
		t.Errorf("got output without the operator's key %s named as carried:\n%s", opFP, r.stdout)
	}
	assertNixOS(t, e, h, name, stable)
	// The run's timing splits the wall time without counting anything twice (bench/overhead
	// reports its overhead share).
	if lr := e.record(name).LastRun; lr == nil || lr.OverheadSeconds < 0 || lr.RemoteSeconds+lr.RebootSeconds > lr.WallSeconds {
		t.Errorf("got last_run %+v, want remote + reboot within the wall time and a non-negative overhead", lr)
	}
	log := readFile(t, filepath.Join(e.ws, "hosts", name, "bootstrap.log"))
	for _, want := range []string{"Setting up swapspace", "removed '/nix/var/nix/profiles/default", "updating GRUB 2 menu", "Installing for i386-pc platform"} {
		if !strings.Contains(log, want) {
			t.Errorf("bootstrap.log lacks %q: the real script's path through swap, GC and grub", want)
		}
	}

	// Keys and files as the README promises.
	for path, want := range map[string]os.FileMode{"keys": 0o700 | os.ModeDir, "keys/" + name + "_ed25519": 0o600} {
		fi, err := os.Stat(filepath.Join(e.ws, path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: got mode %v, want %v", path, fi.Mode(), want)
		}
	}
	boot := readFile(t, filepath.Join(e.ws, "hosts", name, "bootstrap.nix"))
	deployPub := strings.Fields(readFile(t, filepath.Join(e.ws, "keys", name+"_ed25519.pub")))[1]
	if !strings.Contains(boot, deployPub) || !strings.Contains(boot, strings.Fields(h.keyLine)[1]) {
		t.Errorf("bootstrap.nix lacks the deploy key or root's existing key:\n%s", boot)
	}
	if !strings.Contains(boot, "boot.tmp.cleanOnBoot") || !regexp.MustCompile(`system.stateVersion = .*"26.05"`).MatchString(boot) {
		t.Errorf("bootstrap.nix is not the 26.05 flavour:\n%s", boot)
	}

	// One handshake before the reboot (operator key) and one after (deploy key alone).
	deployFP := fingerprintOfFile(t, filepath.Join(e.ws, "keys", name+"_ed25519.pub"))
	before := acceptedKeys(t, e, h, true)
	after := acceptedKeys(t, e, h, false) // the tool's, then this test's own connections
	if len(before) != 1 {
		t.Errorf("got %d handshakes before the reboot %v, want 1", len(before), before)
	}
	if len(after) < 1 || after[0] != deployFP {
		t.Errorf("got first handshake after the reboot with %v, want the deploy key %s", after, deployFP)
	}
	if len(after) != 1+3+4 { // the tool's one; assertNixOS's 1+4 and acceptedKeys' 2 so far
		t.Logf("handshakes in this boot: %d (informational)", len(after))
	}

	// Running it again finds nothing to do: no second infect, no reboot.
	bootID := e.record(name).BootIDAfter
	r = e.run(ctx, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "infect") || !strings.Contains(r.stdout, "skipped") {
		t.Fatalf("rerun: got %s, want success with skipped steps", r)
	}
	if got := e.record(name).BootIDAfter; got != bootID {
		t.Errorf("rerun rebooted the host: boot id %s -> %s", bootID, got)
	}
	if out, _ := e.openssh(h, "cat /proc/sys/kernel/random/boot_id"); strings.TrimSpace(out) != bootID {
		t.Errorf("got boot id %q after the rerun, want %q", strings.TrimSpace(out), bootID)
	}

	st := e.run(ctx, "status")
	if st.code != 0 || !regexp.MustCompile(`(?m)^web-1\s+ssh\s+`+regexp.QuoteMeta(addrHappy)+`\s+`+stable+`\s+ready`).MatchString(st.stdout) {
		t.Errorf("status: got %s", st)
	}

	// bootstrap connect runs OpenSSH as the tool logs in (deploy key, the workspace's
	// known_hosts, strictly); the remote command's output and status are its own.
	conn := e.command(ctx)
	conn.Args = []string{binary, "--workspace", e.ws, "connect", name, "--", "nixos-version"}
	if out, err := conn.CombinedOutput(); err != nil || !strings.Contains(string(out), ".") {
		t.Errorf("connect %s -- nixos-version: got %v\n%s", name, err, out)
	}
	// --json: one object saying where the host stands.
	j := e.run(ctx, append(append([]string(nil), args...), "--json", "--quiet")...)
	var res struct {
		Name    string   `json:"name"`
		OK      bool     `json:"ok"`
		State   string   `json:"state"`
		Address string   `json:"address"`
		SSH     []string `json:"ssh"`
	}
	if j.code != 0 || json.Unmarshal([]byte(j.stdout), &res) != nil || !res.OK || res.Name != name || res.State != "ready" || res.Address != addrHappy || len(res.SSH) == 0 {
		t.Errorf("rerun --json: got %s, want one object saying %s is ready at %s", j, name, addrHappy)
	}

	// A changed host key stops everything.
	if out, err := e.openssh(h, "rm -f /etc/ssh/ssh_host_ed25519_key* && ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key && systemctl restart ssh"); err != nil {
		t.Fatalf("rotate host key: %v\n%s", err, out)
	}
	r = e.run(ctx, args...)
	if r.code != 4 || !regexp.MustCompile(`host key of \S+ changed`).MatchString(r.stderr) {
		t.Fatalf("changed host key: got %s, want exit 4 saying the host key changed", r)
	}
}

func fingerprintOfFile(t *testing.T, pub string) string {
	t.Helper()
	out, err := exec.Command("ssh-keygen", "-lf", pub).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[1]
}

// TestSSHAgentWithTenKeysOn2009 offers only the right agent key, on the oldest channel, with
// an older Nix installer pinned through --infect-env (the script installs the newest Nix).
func TestSSHAgentWithTenKeysOn2009(t *testing.T) {
	parallelVMs(t)
	h := bootHosts(t, layout{memoryMB: bigVM}, addrAgent)[0]
	e := newEnv(t)
	ctx := ctxFor(t, 15*time.Minute)

	// An agent holding nine other keys and then the right one.
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	waitFor(t, func() bool { _, err := os.Stat(sock); return err == nil })
	keys := t.TempDir()
	for i := 0; i < 9; i++ {
		p, _, _ := newKey(t, keys, "other"+string(rune('a'+i)))
		sshAdd(t, sock, p)
	}
	sshAdd(t, sock, h.keyPath)
	// The private key file is gone: only the agent can sign with it.
	if err := os.Remove(h.keyPath); err != nil {
		t.Fatal(err)
	}
	e.extra = []string{"SSH_AUTH_SOCK=" + sock}

	const oldNix = "2.3.18"
	args := func(extra ...string) []string {
		a := []string{"ssh", "root@" + h.addr, "--channel", "nixos-20.09", "--name", "old-1", "--agent",
			"--host-key", h.hostKeyFP, "--infect-env", "NIX_INSTALL_URL=" + nixorgURL("/nix/nix-"+oldNix+"/install"), "--yes"}
		return append(append(a, noSwap...), extra...)
	}
	// Without -i at most four agent keys are offered: refused, naming them.
	r := e.run(ctx, args()...)
	if r.code != 9 || !strings.Contains(r.stderr, "othera") {
		t.Fatalf("agent without -i: got %s, want exit 9 (login refused) naming the offered keys", r)
	}
	// With -i only the matching agent key is offered, and sshd's MaxAuthTries 6 is never reached.
	r = e.run(ctx, args("-i", h.keyPath)...)
	if r.code != 0 {
		t.Fatalf("agent with -i: got %s", r)
	}
	assertNixOS(t, e, h, "old-1", "nixos-20.09")
	boot := readFile(t, filepath.Join(e.ws, "hosts", "old-1", "bootstrap.nix"))
	if !strings.Contains(boot, "boot.cleanTmpDir") || !regexp.MustCompile(`system.stateVersion = .*"20.09"`).MatchString(boot) {
		t.Errorf("bootstrap.nix is not the 20.09 flavour:\n%s", boot)
	}
	// The pinned installer built the system, and the record says which one it was told to use.
	if got := h.rig.builtWith(); len(got) != 1 || got[0] != oldNix {
		t.Errorf("got systems built with Nix %v, want one with %s", got, oldNix)
	}
	if env := e.record("old-1").InfectEnv; env["NIX_INSTALL_URL"] != nixorgURL("/nix/nix-"+oldNix+"/install") || env["NO_SWAP"] != "1" {
		t.Errorf("got infect_env %v in state.json, want the --infect-env values", env)
	}
}

func nixorgURL(path string) string { return strings.TrimSuffix(installURL, "/nix/install") + path }

func sshAdd(t *testing.T, sock, key string) {
	t.Helper()
	cmd := exec.Command("ssh-add", key)
	cmd.Env = []string{"SSH_AUTH_SOCK=" + sock, "PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add %s: %v\n%s", key, err, out)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if ok() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("condition not met in 5s")
}

// rootSSH runs a command on h as root with the operator's own key (before the reboot the deploy
// key may not be authorized yet), against the host key pinned in the workspace.
func (e *env) rootSSH(h *host, remoteCmd string) (string, error) {
	cmd := exec.Command("ssh", "-i", h.keyPath,
		"-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile="+filepath.Join(e.ws, "known_hosts"),
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
		"-F", "/dev/null", "root@"+h.addr, remoteCmd)
	cmd.Env = []string{"HOME=" + e.home, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSSHInfectFailsThenInterruptThenRebootThenRerun: a configuration that does not evaluate
// fails the infect; the fixed one is interrupted during the infect, which goes on and finishes
// on the host; the host reboots into NixOS without the tool; the same command then finishes
// the job without infecting the NixOS host again nor writing NIXOS_LUSTRATE on it.
func TestSSHInfectFailsThenInterruptThenRebootThenRerun(t *testing.T) {
	parallelVMs(t)
	h := bootHosts(t, layout{memoryMB: bigVM}, addrResume)[0]
	e := newEnv(t)
	ctx := ctxFor(t, 20*time.Minute)
	hostNix := filepath.Join(e.home, "host.nix")
	write := func(body string) {
		if err := os.WriteFile(hostNix, []byte("{ pkgs, ... }:\n{\n"+body+"\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := append(h.sshArgs("nixos-24.11", "--name", "api-1", "--host-nix", hostNix), noSwap...)

	// A configuration that does not evaluate: Nix's own error, the log path, exit 6.
	write(`  environment.systemPackages = [ pkgs.vim ];
  services.openssh.enable = throw "host.nix: not ready yet";`)
	r := e.run(ctx, args...)
	if r.code != 6 || !strings.Contains(r.stderr, "host.nix: not ready yet") || !strings.Contains(r.stderr, "bootstrap.log") {
		t.Fatalf("failing infect: got %s, want exit 6 with Nix's error and the log path", r)
	}

	// Fixed, but interrupted (Ctrl-C) while the build is slow.
	write(`  environment.systemPackages = [ pkgs.vim ];`)
	h.rig.SetBuildDelay(45 * time.Second)
	cmd := e.command(ctx, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(e.ws, "hosts", "api-1", "bootstrap.log")
	deadline := time.Now().Add(5 * time.Minute)
	for strings.Count(readFileOr(logPath), "building the system configuration") < 2 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 || !strings.Contains(out.String(), "interrupted during infect") {
		t.Fatalf("interrupt: got %v\n%s\nwant exit 130 saying it was interrupted during infect", err, out.String())
	}
	h.rig.SetBuildDelay(0)

	// The infect goes on without the tool and finishes; then the host reboots, into NixOS.
	deadline = time.Now().Add(5 * time.Minute)
	for {
		o, _ := e.rootSSH(h, "cat /var/lib/bootstrap/infect/infect.rc 2>/dev/null")
		if strings.TrimSpace(o) == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the interrupted infect did not finish on the host: infect.rc %q", o)
		}
		time.Sleep(2 * time.Second)
	}
	oldBoot, _ := e.rootSSH(h, "cat /proc/sys/kernel/random/boot_id")
	e.rootSSH(h, "systemctl reboot")
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		if o, err := e.openssh(h, "cat /proc/sys/kernel/random/boot_id"); err == nil && strings.TrimSpace(o) != strings.TrimSpace(oldBoot) {
			break
		}
		select {
		case <-wctx.Done():
			t.Fatalf("the host did not come back as NixOS after a reboot by hand: %v\n%s", wctx.Err(), h.vm.ConsoleTail(40))
		case <-time.After(2 * time.Second):
		}
	}

	// The same command: the host runs NixOS, so it is verified and captured, never infected.
	bootID, _ := e.openssh(h, "cat /proc/sys/kernel/random/boot_id")
	r = e.run(ctx, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "rebooted into NixOS in an earlier run") {
		t.Fatalf("rerun on the NixOS host: got %s", r)
	}
	if strings.Contains(r.stdout, "running nixos-infect") || strings.Contains(r.stdout, "re-attached") {
		t.Errorf("the rerun started nixos-infect on a NixOS host:\n%s", r.stdout)
	}
	assertNixOS(t, e, h, "api-1", "nixos-24.11")
	if o, _ := e.openssh(h, "cat /proc/sys/kernel/random/boot_id"); o != bootID {
		t.Errorf("the rerun rebooted the host: boot id %q -> %q", bootID, o)
	}
	if rec := e.record("api-1"); rec.Steps["infect"].Status != "skipped" {
		t.Errorf("got infect %+v in state.json, want skipped (finished before the reboot)", rec.Steps["infect"])
	}
}

func readFileOr(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

// TestSSHRebootNeverReturns: a configuration that turns sshd off (for real, in the evaluated
// configuration) leaves a host that never answers after the reboot.
func TestSSHRebootNeverReturns(t *testing.T) {
	parallelVMs(t)
	h := bootHosts(t, layout{memoryMB: bigVM}, addrNoReturn)[0]
	e := newEnv(t)
	ctx := ctxFor(t, 15*time.Minute)
	hostNix := filepath.Join(e.home, "host.nix")
	if err := os.WriteFile(hostNix, []byte("{ lib, ... }:\n{\n  services.openssh.enable = lib.mkForce false;\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run(ctx, append(h.sshArgs("nixos-24.11", "--name", "lost-1", "--host-nix", hostNix, "--reboot-timeout", "60s"), noSwap...)...)
	if r.code != 7 || !strings.Contains(r.stderr, "did not come back") || !strings.Contains(r.stderr, "console") {
		t.Fatalf("got %s, want exit 7 saying the host did not come back and what to check", r)
	}
	rec := e.record("lost-1")
	if !rec.RebootRequested || rec.Steps["reboot"].Status != "failed" || !rec.Done("infect") {
		t.Errorf("got state %+v, want infect done, reboot requested and failed", rec.Steps)
	}
}

// TestSSHBadInputs needs no VM: every bad input is refused with one line
// before any host is contacted (127.0.0.99 has nothing listening).
func TestSSHBadInputs(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t, 2*time.Minute)
	missing := filepath.Join(e.home, "missing.nix")
	wrongSHA := strings.Repeat("ab", 32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(realScript(t)) }))
	defer srv.Close()
	base := []string{"ssh", "root@127.0.0.99", "--yes"}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no channel", nil, 2, "--channel is required"},
		{"bad channel", []string{"--channel", "24.11"}, 2, "nixos-YY.MM"},
		{"too old channel", []string{"--channel", "nixos-19.09"}, 2, "oldest supported"},
		{"missing host.nix", []string{"--channel", "nixos-24.11", "--host-nix", missing}, 2, missing},
		{"bad name", []string{"--channel", "nixos-24.11", "--name", "Web_1"}, 2, "invalid name"},
		{"bad host key", []string{"--channel", "nixos-24.11", "--host-key", "MD5:aa"}, 2, "--host-key"},
		{"url without sha", []string{"--channel", "nixos-24.11", "--infect-url", srv.URL}, 2, "--infect-sha256"},
		{"checksum mismatch", []string{"--channel", "nixos-24.11", "--infect-url", srv.URL, "--infect-sha256", wrongSHA}, 6, "checksum mismatch"},
		{"infect env reserved", []string{"--channel", "nixos-24.11", "--infect-env", "NIX_CHANNEL=nixos-24.11"}, 2, "it is --channel"},
		{"infect env typo", []string{"--channel", "nixos-24.11", "--infect-env", "NIX_INSTAL_URL=x"}, 2, "use one of"},
		{"infect env bootFs", []string{"--channel", "nixos-24.11", "--infect-env", "bootFs=/boot"}, 2, "BIOS"},
		{"unreachable", []string{"--channel", "nixos-24.11", "--timeout", "3s"}, 3, "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(ctx, append(append([]string(nil), base...), tt.args...)...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != tt.code || len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") || !strings.Contains(lines[0], tt.want) {
				t.Errorf("got %s, want exit %d and one error line mentioning %q", r, tt.code, tt.want)
			}
		})
	}
	// Nothing was written for the host that never answered but a state
	// saying where it stopped.
	if _, err := os.Stat(filepath.Join(e.ws, "hosts", "127-0-0-99", "configuration.nix")); err == nil {
		t.Error("configuration.nix written for a host that was never reached")
	}
}

// pushAndReboot pushes a change that records its generation in an activation script, reboots
// the host, and returns what booted: the generation the firmware's grub found must be the new
// one, which needs grub.cfg where grub reads it (a separate /boot kept mounted on EFI).
func pushAndReboot(t *testing.T, ctx context.Context, e *env, h *host, name string) {
	t.Helper()
	hostNix := filepath.Join(e.ws, "hosts", name, "host.nix")
	body := strings.TrimRight(readFile(t, hostNix), "\n")
	i := strings.LastIndex(body, "}")
	body = body[:i] + "  system.activationScripts.pushed = \"echo pushed > /run/pushed-generation\";\n}\n"
	writeWS(t, e, name, "host.nix", body)
	if r := e.run(ctx, "push", name); r.code != 0 {
		t.Fatalf("push: got %s", r)
	}
	want, err := e.openssh(h, "readlink -f /nix/var/nix/profiles/system")
	if err != nil {
		t.Fatalf("read the system profile: %v", err)
	}
	oldBoot, _ := e.openssh(h, "cat /proc/sys/kernel/random/boot_id")
	e.openssh(h, "systemctl reboot")
	// As long as the tool's own --reboot-timeout: OVMF alone takes about 70 s under TCG on an
	// idle machine, minutes with three other VMs on the same cores.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	rebooted := time.Now()
	for {
		if o, err := e.openssh(h, "cat /proc/sys/kernel/random/boot_id"); err == nil && o != oldBoot {
			t.Logf("%s answered with a new boot id %s after systemctl reboot returned", name, time.Since(rebooted).Round(time.Second))
			break
		}
		select {
		case <-wctx.Done():
			t.Fatalf("the host did not come back after the reboot: %v\n%s", wctx.Err(), h.vm.ConsoleTail(40))
		case <-time.After(2 * time.Second):
		}
	}
	var got string
	// Right after the boot an emulated machine on a busy host may still be slow to answer.
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(3 * time.Second) {
		if got, err = e.openssh(h, "readlink -f /run/booted-system; cat /run/pushed-generation"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if got != want+"pushed\n" {
		t.Errorf("after the push and a reboot, got booted system %q, want %q and its activation script run", got, want)
	}
}

// TestSSHEFISeparateBoot: UEFI firmware, a separate ext4 /boot and the ESP on /boot/efi, as
// Ubuntu 24.04's cloud image has them. The real script's EFI branch runs (umount, mv, remount,
// wipe of the ESP); NixOS must keep mounting /boot, or a pushed generation never boots.
func TestSSHEFISeparateBoot(t *testing.T) {
	parallelVMs(t)
	h := bootHosts(t, layout{efi: true, separateBoot: true, memoryMB: bigVM}, addrEFI)[0]
	e := newEnv(t)
	ctx := ctxFor(t, 25*time.Minute)
	r := e.run(ctx, append(h.sshArgs("nixos-unstable", "--name", "efi-1"), noSwap...)...)
	if r.code != 0 {
		t.Fatalf("bootstrap ssh on EFI: got %s", r)
	}
	assertNixOS(t, e, h, "efi-1", "nixos-unstable")
	log := readFile(t, filepath.Join(e.ws, "hosts", "efi-1", "bootstrap.log"))
	for _, want := range []string{"renamed '/boot/efi' -> '/boot/efi.bak'", "Installing for x86_64-efi platform"} {
		if !strings.Contains(log, want) {
			t.Errorf("bootstrap.log lacks %q: the real script's EFI branch", want)
		}
	}
	out, err := e.openssh(h, "findmnt -n -o SOURCE,FSTYPE /boot; findmnt -n -o SOURCE,FSTYPE /boot/efi; ls /boot/efi/EFI/BOOT")
	if err != nil || !regexp.MustCompile(`(?s)^/dev/vd\S+ ext4\n/dev/vd\S+ vfat\nBOOTX64.EFI\n$`).MatchString(out) {
		t.Errorf("got mounts %q, %v; want /boot (ext4) and the ESP with grub on /boot/efi", out, err)
	}
	hw := readFile(t, filepath.Join(e.ws, "hosts", "efi-1", "hardware-configuration.nix"))
	if !strings.Contains(hw, `fileSystems."/boot" =`) || !strings.Contains(hw, `fileSystems."/boot/efi" =`) {
		t.Errorf("hardware-configuration.nix lacks /boot or /boot/efi:\n%s", hw)
	}
	pushAndReboot(t, ctx, e, h, "efi-1")
}

// TestSSHBIOSSeparateBoot: a BIOS host with a separate /boot. With bootFs=/boot the script cannot
// move a mount point, so it copies /boot, empties and unmounts it (l.421): grub goes to the root
// file system, which NixOS then boots from. A -small channel comes back as itself.
func TestSSHBIOSSeparateBoot(t *testing.T) {
	parallelVMs(t)
	h := bootHosts(t, layout{separateBoot: true, memoryMB: bigVM}, addrBoot)[0]
	e := newEnv(t)
	ctx := ctxFor(t, 25*time.Minute)
	r := e.run(ctx, append(h.sshArgs("nixos-24.11-small", "--name", "boot-1"), noSwap...)...)
	if r.code != 0 {
		t.Fatalf("bootstrap ssh with a separate /boot: got %s", r)
	}
	assertNixOS(t, e, h, "boot-1", "nixos-24.11-small")
	// The old /boot's copy went to /old-root with the rest of the old system.
	if out, _ := e.openssh(h, "findmnt -n /boot || echo not-mounted; ls /boot/grub/grub.cfg /old-root/boot.bak/vmlinuz"); out != "not-mounted\n/boot/grub/grub.cfg\n/old-root/boot.bak/vmlinuz\n" {
		t.Errorf("got %q, want /boot on the root file system with grub.cfg, and the old /boot copied", out)
	}
	pushAndReboot(t, ctx, e, h, "boot-1")
}

// addrStatic is the VM whose address is static, not from DHCP.
const addrStatic = "127.0.0.21"

// TestSSHStaticNetwork: a host whose address is not from DHCP gets networking.nix, and NixOS's
// first boot applies it (as the rig's activation turns it into the Debian network config):
// the host answers after the reboot only if the declared address, gateway and interface
// name are right.
//
// It also logs in as a user with passwordless sudo (cloud-init's debian user) instead of
// root, as on most cloud images: everything before the reboot goes through sudo; after it,
// root with the deploy key. (One VM for both: each bootstrap costs minutes of the suite.)
func TestSSHStaticNetwork(t *testing.T) {
	parallelVMs(t)
	h := bootHosts(t, layout{static: true, memoryMB: bigVM}, addrStatic)[0]
	e := newEnv(t)
	ctx := ctxFor(t, 20*time.Minute)
	args := append(h.sshArgs("nixos-24.11", "--name", "static-1"), noSwap...)
	args[1] = "debian@" + h.addr
	r := e.run(ctx, args...)
	if r.code != 0 {
		t.Fatalf("bootstrap ssh of a static host as a sudo user: got %s", r)
	}
	if rec := e.record("static-1"); rec.User != "debian" {
		t.Errorf("got user %q in the state, want debian", rec.User)
	}
	if !strings.Contains(r.stdout, "network: static (eth0 10.0.2.15/24 via 10.0.2.2)") {
		t.Errorf("the preflight line does not say the network is static and why:\n%s", r.stdout)
	}
	assertNixOS(t, e, h, "static-1", "nixos-24.11")
	nix := readFile(t, filepath.Join(e.ws, "hosts", "static-1", "networking.nix"))
	if got := e.hostFile(h, "networking.nix"); got != nix {
		t.Errorf("networking.nix on the host differs from the workspace's")
	}
	if conf := readFile(t, filepath.Join(e.ws, "hosts", "static-1", "configuration.nix")); !strings.Contains(conf, "./networking.nix") {
		t.Errorf("configuration.nix does not import networking.nix:\n%s", conf)
	}
	if d := e.record("static-1").NetworkDecision; d == nil || !d.Static {
		t.Errorf("got network decision %+v in state.json, want static", d)
	}
	out, err := e.openssh(h, "ip -4 -o addr show dev eth0; ip route show default; ps -C dhclient -o pid= | wc -l")
	if err != nil || !strings.Contains(out, "inet 10.0.2.15/24") || !strings.Contains(out, "default via 10.0.2.2 dev eth0") || !strings.HasSuffix(out, "0\n") {
		t.Errorf("got %q, %v; want eth0 10.0.2.15/24 via 10.0.2.2 and no DHCP client", out, err)
	}
}
