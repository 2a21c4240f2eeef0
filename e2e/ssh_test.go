package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"bootstrap/e2e/vmtest"
)

// Loopback addresses of this package's VMs (port 22 each).
const (
	addrHappy    = "127.0.0.10"
	addrAgent    = "127.0.0.11"
	addrResume   = "127.0.0.12"
	addrNoReturn = "127.0.0.13"
	addrSudo     = "127.0.0.16"
	addrBench    = "127.0.0.19"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// assertNixOS checks, with plain OpenSSH and the workspace's deploy key and
// known_hosts, that h runs NixOS on channel.
func assertNixOS(t *testing.T, e *env, h *host, name, channel string) {
	t.Helper()
	out, err := e.openssh(h, `. /etc/os-release; echo "id=$ID version=$VERSION_ID"; nix-channel --list`)
	if err != nil {
		t.Fatalf("ssh with the deploy key: %v\n%s", err, out)
	}
	version := strings.TrimPrefix(channel, "nixos-")
	if !strings.Contains(out, "id=nixos version="+version) {
		t.Errorf("got os-release %q, want NixOS %s", out, version)
	}
	if !strings.Contains(out, "nixos https://nixos.org/channels/"+channel) {
		t.Errorf("got channels %q, want nixos %s", out, channel)
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

// acceptedKeys lists the key fingerprints sshd accepted for root in one boot
// (0 the current one, -1 the previous one), from the journal.
func acceptedKeys(t *testing.T, e *env, h *host, boot string) []string {
	t.Helper()
	out, err := e.openssh(h, "journalctl -b "+boot+" -u ssh -o cat --no-pager | grep 'Accepted publickey for root' || true")
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

func TestSSHHappyPath(t *testing.T) {
	vmtest.Require(t)
	t.Parallel()
	h := bootHost(t, addrHappy)
	e := newEnv(t)
	ctx := ctxFor(t, 15*time.Minute)
	name := "web-1"

	// First contact with an unknown host key and no terminal: refused, nothing changed.
	args := h.sshArgs("nixos-24.11", "--name", name)
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
	assertNixOS(t, e, h, name, "nixos-24.11")

	// Keys and files as the README promises.
	for path, want := range map[string]os.FileMode{"keys": 0o700 | os.ModeDir, "keys/deploy_ed25519": 0o600} {
		fi, err := os.Stat(filepath.Join(e.ws, path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: got mode %v, want %v", path, fi.Mode(), want)
		}
	}
	boot := readFile(t, filepath.Join(e.ws, "hosts", name, "bootstrap.nix"))
	deployPub := strings.Fields(readFile(t, filepath.Join(e.ws, "keys", "deploy_ed25519.pub")))[1]
	if !strings.Contains(boot, deployPub) || !strings.Contains(boot, strings.Fields(h.keyLine)[1]) {
		t.Errorf("bootstrap.nix lacks the deploy key or root's existing key:\n%s", boot)
	}
	if !strings.Contains(boot, "boot.tmp.cleanOnBoot") || !regexp.MustCompile(`system.stateVersion = .*"24.11"`).MatchString(boot) {
		t.Errorf("bootstrap.nix is not the 24.11 flavour:\n%s", boot)
	}

	// One handshake before the reboot (operator key) and one after (deploy key alone).
	deployFP := fingerprintOfFile(t, filepath.Join(e.ws, "keys", "deploy_ed25519.pub"))
	before := acceptedKeys(t, e, h, "-1")
	after := acceptedKeys(t, e, h, "0") // the tool's, then this test's own connections
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
	if st.code != 0 || !regexp.MustCompile(`(?m)^web-1\s+ssh\s+`+regexp.QuoteMeta(addrHappy)+`\s+nixos-24.11\s+ready`).MatchString(st.stdout) {
		t.Errorf("status: got %s", st)
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

func TestSSHAgentWithTenKeysOn2009(t *testing.T) {
	vmtest.Require(t)
	t.Parallel()
	h := bootHost(t, addrAgent)
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

	args := func(extra ...string) []string {
		a := []string{"ssh", "root@" + h.addr, "--channel", "nixos-20.09", "--name", "old-1", "--agent",
			"--host-key", h.hostKeyFP, "--infect-url", infectURL, "--infect-sha256", infectSHA, "--yes"}
		return append(a, extra...)
	}
	// Without -i at most four agent keys are offered: refused, naming them.
	r := e.run(ctx, args()...)
	if r.code != 4 || !strings.Contains(r.stderr, "othera") {
		t.Fatalf("agent without -i: got %s, want exit 4 naming the offered keys", r)
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
}

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

func TestSSHInfectFailsThenInterruptThenResume(t *testing.T) {
	vmtest.Require(t)
	t.Parallel()
	h := bootHost(t, addrResume)
	e := newEnv(t)
	ctx := ctxFor(t, 15*time.Minute)
	hostNix := filepath.Join(e.home, "host.nix")
	write := func(marker string) {
		if err := os.WriteFile(hostNix, []byte("{ pkgs, ... }:\n{\n  # bootstrap-standin: "+marker+"\n  environment.systemPackages = [ pkgs.vim ];\n}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := h.sshArgs("nixos-24.11", "--name", "api-1", "--host-nix", hostNix)

	// The infect fails: its last lines and the log path are shown, the host is unchanged.
	write("fail")
	r := e.run(ctx, args...)
	if r.code != 6 || !strings.Contains(r.stderr, "stand-in told to fail") || !strings.Contains(r.stderr, "bootstrap.log") {
		t.Fatalf("failing infect: got %s, want exit 6 with the infect's last lines and the log path", r)
	}

	// Fixed host.nix, but the run is interrupted (Ctrl-C) during the infect.
	write("sleep=30")
	cmd := e.command(ctx, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(e.ws, "hosts", "api-1", "bootstrap.log")
	deadline := time.Now().Add(3 * time.Minute)
	for !strings.Contains(readFileOr(logPath), "sleeping") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 || !strings.Contains(out.String(), "interrupted during infect") {
		t.Fatalf("interrupt: got %v\n%s\nwant exit 130 saying it was interrupted during infect", err, out.String())
	}

	// Running it again re-attaches to the same infect and finishes.
	r = e.run(ctx, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "re-attached to the running nixos-infect") {
		t.Fatalf("resume: got %s, want success re-attached to the running infect", r)
	}
	assertNixOS(t, e, h, "api-1", "nixos-24.11")
}

func readFileOr(path string) string {
	data, _ := os.ReadFile(path)
	return string(data)
}

func TestSSHRebootNeverReturns(t *testing.T) {
	vmtest.Require(t)
	t.Parallel()
	h := bootHost(t, addrNoReturn)
	e := newEnv(t)
	ctx := ctxFor(t, 15*time.Minute)
	hostNix := filepath.Join(e.home, "host.nix")
	if err := os.WriteFile(hostNix, []byte("{ ... }:\n{\n  # bootstrap-standin: no-ssh-after-reboot\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run(ctx, h.sshArgs("nixos-24.11", "--name", "lost-1", "--host-nix", hostNix, "--reboot-timeout", "45s")...)
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
		{"url without sha", []string{"--channel", "nixos-24.11", "--infect-url", infectURL}, 2, "--infect-sha256"},
		{"checksum mismatch", []string{"--channel", "nixos-24.11", "--infect-url", infectURL, "--infect-sha256", wrongSHA}, 6, "checksum mismatch"},
		{"unreachable", []string{"--channel", "nixos-24.11", "--infect-url", infectURL, "--infect-sha256", infectSHA, "--timeout", "3s"}, 3, "unreachable"},
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

// TestSSHSudoUser logs in as a user with passwordless sudo (cloud-init's
// debian user) instead of root: everything before the reboot goes through
// sudo; after it, root with the deploy key.
func TestSSHSudoUser(t *testing.T) {
	vmtest.Require(t)
	t.Parallel()
	h := bootHost(t, addrSudo)
	e := newEnv(t)
	ctx := ctxFor(t, 15*time.Minute)
	args := h.sshArgs("nixos-24.11", "--name", "sudo-1")
	args[1] = "debian@" + h.addr
	r := e.run(ctx, args...)
	if r.code != 0 {
		t.Fatalf("bootstrap ssh as a sudo user: got %s", r)
	}
	assertNixOS(t, e, h, "sudo-1", "nixos-24.11")
	if rec := e.record("sudo-1"); rec.User != "debian" {
		t.Errorf("got user %q in the state, want debian", rec.User)
	}
}
