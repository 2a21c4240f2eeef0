package standin

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bootstrap/e2e/vmtest"
	"bootstrap/localcloud/qemu"
)

func TestNewServer(t *testing.T) {
	srv, url, sum := NewServer()
	defer srv.Close()
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("got url %s, want one on 127.0.0.1", url)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.Sum256(body)
	if hex.EncodeToString(got[:]) != sum || sum != SHA256() {
		t.Errorf("got body sha256 %x, want %s (SHA256() %s)", got, sum, SHA256())
	}
	if !bytes.Equal(body, Script()) {
		t.Error("served body differs from Script()")
	}
	resp, err = http.Get(strings.TrimSuffix(url, Path) + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("got status %d for another path, want 404", resp.StatusCode)
	}
}

func TestScriptLints(t *testing.T) {
	if !bytes.HasPrefix(script, []byte("#! /usr/bin/env bash\n")) || !bytes.Contains(script, []byte("\nset -euo pipefail\n")) {
		t.Error("script must start with a bash shebang and set -euo pipefail")
	}
	// Syntax only: the script must never run on the test host.
	cmd := exec.Command("bash", "-n")
	cmd.Stdin = bytes.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("bash -n: %v\n%s", err, out)
	}
	if _, err := exec.LookPath("shellcheck"); err != nil {
		t.Log("shellcheck not installed; skipping lint")
		return
	}
	cmd = exec.Command("shellcheck", "-s", "bash", "-")
	cmd.Stdin = bytes.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// guest is a booted Debian VM with root logged in through cloud-init's key.
type guest struct {
	vm      *qemu.VM
	key     ssh.Signer    // the key cloud-init installed for root ("old" key)
	hostKey ssh.PublicKey // the ed25519 host key cloud-init installed
	client  *ssh.Client
	bootID  string
}

func bootGuest(t *testing.T, ctx context.Context, addr, hostname string) *guest {
	t.Helper()
	key := newSigner(t)
	hostPub, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := ssh.NewPublicKey(hostPub)
	if err != nil {
		t.Fatal(err)
	}
	ud, err := qemu.UserData([]string{authorizedKey(key.PublicKey(), "old@test")}, hostPriv, hostname)
	if err != nil {
		t.Fatal(err)
	}
	v := vmtest.Boot(t, ctx, qemu.Config{Addr: addr, UserData: ud, Hostname: hostname})
	start := time.Now()
	c, id, err := vmtest.WaitNewBoot(ctx, v.Addr(), key, hostKey, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Logf("%s: root login after %s", addr, time.Since(start).Round(100*time.Millisecond))
	g := &guest{vm: v, key: key, hostKey: hostKey, client: c, bootID: id}
	// cloud-init restarts sshd and rewrites files in its later stages; let it finish first.
	g.mustRun(t, "cloud-init status --wait >/dev/null || true")
	return g
}

func (g *guest) run(cmd string, stdin []byte) (string, string, error) {
	return vmtest.Run(g.client, cmd, stdin)
}

func (g *guest) mustRun(t *testing.T, cmd string) string {
	t.Helper()
	out, errOut, err := g.run(cmd, nil)
	if err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", cmd, err, out, errOut)
	}
	return out
}

func (g *guest) upload(t *testing.T, path string, data []byte, mode string) {
	t.Helper()
	cmd := fmt.Sprintf("mkdir -p \"$(dirname %[1]s)\" && cat > %[1]s && chmod %[2]s %[1]s", path, mode)
	if _, errOut, err := g.run(cmd, data); err != nil {
		t.Fatalf("upload %s: %v: %s", path, err, errOut)
	}
}

// exitStatus is the remote exit status of err (0 for nil, -1 if there is none).
func exitStatus(err error) int {
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.ExitStatus()
	default:
		return -1
	}
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func authorizedKey(k ssh.PublicKey, comment string) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " " + comment
}

const configurationNix = `{ ... }: {
  imports = [ ./host.nix ];
  services.openssh.enable = true;
  system.stateVersion = "24.11";
}
`

// offeredHostKey handshakes asking only for algo; it returns the host key the server used.
func offeredHostKey(ctx context.Context, addr, algo string) (ssh.PublicKey, error) {
	var got ssh.PublicKey
	cfg := &ssh.ClientConfig{
		User:              "nobody",
		HostKeyAlgorithms: []string{algo},
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			got = k
			return errors.New("host key seen") // stop here: no authentication needed
		},
		Timeout: 15 * time.Second,
	}
	conn, err := (&net.Dialer{Timeout: cfg.Timeout}).DialContext(ctx, "tcp", net.JoinHostPort(addr, "22"))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(cfg.Timeout)) //nolint:errcheck
	_, _, _, err = ssh.NewClientConn(conn, addr, cfg)
	if got != nil {
		return got, nil
	}
	return nil, err
}

// TestInfectAndReboot runs the stand-in like the product does (NO_REBOOT=1, then reboot) and
// checks what a NixOS host looks like afterwards.
func TestInfectAndReboot(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	g := bootGuest(t, ctx, "127.0.0.202", "debian-standin")

	newKey := newSigner(t)
	hostNix := fmt.Sprintf(`{ ... }: {
  networking.hostName = "standin-host";
  # A commented-out key must not let anyone in:
  # users.users.root.openssh.authorizedKeys.keys = [ "%s" ];
  users.users.root.openssh.authorizedKeys.keys = [ "%s" ];
}
`, authorizedKey(g.key.PublicKey(), "old@test"), authorizedKey(newKey.PublicKey(), "new@test"))
	g.upload(t, "/etc/nixos/configuration.nix", []byte(configurationNix), "0644")
	g.upload(t, "/etc/nixos/host.nix", []byte(hostNix), "0644")
	g.upload(t, "/root/nixos-infect", Script(), "0755")

	run := "NIX_CHANNEL=nixos-24.11 NIXOS_IMPORT=./host.nix NO_REBOOT=1 /root/nixos-infect"
	for i := 1; i <= 2; i++ { // the second run must be harmless
		out, errOut, err := g.run(run, nil)
		if err != nil {
			t.Fatalf("run %d: %v\nstdout:\n%s\nstderr:\n%s", i, err, out, errOut)
		}
		if i == 1 {
			t.Logf("stand-in output:\n%s%s", out, errOut)
		}
	}
	if got := g.mustRun(t, "cat /etc/nixos/configuration.nix"); got != configurationNix {
		t.Errorf("configuration.nix was rewritten:\n%s", got)
	}
	lustrate := g.mustRun(t, "cat /etc/NIXOS_LUSTRATE")
	for _, want := range []string{"etc/nixos\n", "etc/resolv.conf\n", "root/.nix-defexpr/channels\n", "etc/ssh/ssh_host_ed25519_key\n", "etc/ssh/ssh_host_ed25519_key.pub\n"} {
		if strings.Count(lustrate, want) != 1 {
			t.Errorf("/etc/NIXOS_LUSTRATE has %q %d times, want once:\n%s", want, strings.Count(lustrate, want), lustrate)
		}
	}
	// Nothing changes before the reboot: the old key still works, Debian is still Debian.
	if got := g.mustRun(t, ". /etc/os-release; echo $ID"); strings.TrimSpace(got) != "debian" {
		t.Errorf("got os ID %q before reboot, want debian", got)
	}

	if err := vmtest.Reboot(g.client); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c, id, err := vmtest.WaitNewBoot(ctx, g.vm.Addr(), newKey, g.hostKey, g.bootID)
	if err != nil {
		t.Fatalf("log in with the new key after reboot: %v", err)
	}
	defer c.Close()
	t.Logf("reboot into stand-in NixOS: new key logs in after %s", time.Since(start).Round(100*time.Millisecond))
	if id == g.bootID {
		t.Errorf("got boot id %s, want a new one", id)
	}
	g.client = c

	if old, err := vmtest.DialRoot(ctx, g.vm.Addr(), g.key, g.hostKey); err == nil {
		old.Close()
		t.Error("old key still logs in after reboot")
	} else if errors.Is(err, vmtest.ErrHostKeyMismatch) || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("old key: got %v, want an authentication failure", err)
	}
	if _, err := offeredHostKey(ctx, g.vm.Addr(), ssh.KeyAlgoECDSA256); err == nil {
		t.Error("sshd still offers an ecdsa host key, want only rsa and ed25519")
	}
	if k, err := offeredHostKey(ctx, g.vm.Addr(), ssh.KeyAlgoRSASHA512); err != nil || k.Type() != ssh.KeyAlgoRSA {
		t.Errorf("rsa host key: got %v, %v; want an ssh-rsa key", k, err)
	}

	checks := []struct{ cmd, want string }{
		{". /etc/os-release; echo $ID $VERSION_ID $NAME", "nixos 24.11 NixOS"},
		{". /etc/os-release; echo $PRETTY_NAME", "NixOS 24.11 (stand-in)"},
		{"nix-channel --list", "nixos https://nixos.org/channels/nixos-24.11"},
		{"nixos-version", "24.11.20250101.0000000 (Vicuna)"},
		{"hostname", "standin-host"},
		{"cat /etc/ssh/authorized_keys.d/root", authorizedKey(newKey.PublicKey(), "new@test")},
		{"test -e /etc/NIXOS && test ! -e /etc/NIXOS_LUSTRATE && echo staged-and-done", "staged-and-done"},
		{"test -e /root/.ssh/authorized_keys.pre-nixos && test ! -e /root/.ssh/authorized_keys && echo moved", "moved"},
		{"test -e /etc/cloud/cloud-init.disabled && echo off", "off"},
		{"systemctl is-enabled nixos-infect-standin.service || true", "disabled"},
	}
	for _, ch := range checks {
		if got := strings.TrimSpace(g.mustRun(t, ch.cmd)); got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.cmd, got, ch.want)
		}
	}
	hw := g.mustRun(t, "nixos-generate-config --show-hardware-config")
	for _, want := range []string{`fileSystems."/" =`, `device = "/dev/disk/by-uuid/`, `fsType = "ext4";`,
		`(modulesPath + "/profiles/qemu-guest.nix")`, `"virtio_blk"`, `nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";`} {
		if !strings.Contains(hw, want) {
			t.Errorf("hardware config lacks %q:\n%s", want, hw)
		}
	}
	if t.Failed() {
		t.Logf("hardware config:\n%s", hw)
	}
}

// TestFailAndControls: environment checks and the fail marker leave the system unchanged;
// the sleep marker delays a successful run.
func TestFailAndControls(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	g := bootGuest(t, ctx, "127.0.0.203", "debian-fail")
	g.upload(t, "/etc/nixos/configuration.nix", []byte(configurationNix), "0644")
	g.upload(t, "/etc/nixos/host.nix", []byte("{ ... }: {\n  "+MarkerFail+"\n}\n"), "0644")
	g.upload(t, "/etc/nixos/slow.nix", []byte("{ ... }: {\n  "+MarkerSleep(3)+"\n}\n"), "0644")
	g.upload(t, "/tmp/nixos-infect", Script(), "0755")

	tests := []struct {
		name, cmd, wantOut string
	}{
		{"no channel", "NIXOS_IMPORT=./host.nix NO_REBOOT=1 /tmp/nixos-infect", "ERROR: NIX_CHANNEL is not set"},
		{"no import", "NIX_CHANNEL=nixos-24.11 NO_REBOOT=1 /tmp/nixos-infect", "ERROR: NIXOS_IMPORT is not set"},
		{"missing import", "NIX_CHANNEL=nixos-24.11 NIXOS_IMPORT=./nope.nix NO_REBOOT=1 /tmp/nixos-infect", "ERROR: NIXOS_IMPORT=./nope.nix does not name a file"},
		{"bad channel", "NIX_CHANNEL=nixos-banana NIXOS_IMPORT=./host.nix NO_REBOOT=1 /tmp/nixos-infect", "ERROR: unknown channel"},
		{"not root", "runuser -u debian -- env NIX_CHANNEL=nixos-24.11 NIXOS_IMPORT=./host.nix NO_REBOOT=1 /tmp/nixos-infect", "ERROR: Must run as root"},
		{"fail marker", "NIX_CHANNEL=nixos-24.11 NIXOS_IMPORT=./host.nix NO_REBOOT=1 /tmp/nixos-infect", "ERROR: stand-in told to fail"},
	}
	for _, tt := range tests {
		out, errOut, err := g.run(tt.cmd, nil)
		if got := exitStatus(err); got != 1 {
			t.Errorf("%s: got exit status %d (%v), want 1\n%s%s", tt.name, got, err, out, errOut)
		}
		if !strings.Contains(out, tt.wantOut) {
			t.Errorf("%s: output lacks %q:\n%s%s", tt.name, tt.wantOut, out, errOut)
		}
	}
	if got := strings.TrimSpace(g.mustRun(t, "ls -d /etc/NIXOS /etc/NIXOS_LUSTRATE /root/.nix-channels /usr/local/bin/nix-channel /nix /etc/systemd/system/nixos-infect-standin.service 2>/dev/null || true")); got != "" {
		t.Errorf("failed runs changed the system, found: %s", got)
	}

	start := time.Now()
	out, errOut, err := g.run("NIX_CHANNEL=nixos-unstable NIXOS_IMPORT=./slow.nix NO_REBOOT=1 /tmp/nixos-infect", nil)
	if err != nil {
		t.Fatalf("sleep marker run: %v\n%s%s", err, out, errOut)
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("sleep=3 run took %s, want >= 3s", d)
	}
	for _, ch := range []struct{ cmd, want string }{
		{"nixos-version", "26.11pre20250101.0000000 (Unknown)"},
		{"nix-channel --list", "nixos https://nixos.org/channels/nixos-unstable"},
		{"test -e /etc/NIXOS && echo staged", "staged"},
	} {
		if got := strings.TrimSpace(g.mustRun(t, ch.cmd)); got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.cmd, got, ch.want)
		}
	}
}

// TestNoSSHAfterReboot: with the no-ssh-after-reboot marker the guest boots again (console
// login prompt) but sshd never answers.
func TestNoSSHAfterReboot(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	g := bootGuest(t, ctx, "127.0.0.204", "debian-nossh")
	g.upload(t, "/etc/nixos/host.nix", []byte("{ ... }: {\n  "+MarkerNoSSHAfterReboot+"\n}\n"), "0644")
	g.upload(t, "/root/nixos-infect", Script(), "0755")
	if out, errOut, err := g.run("NIX_CHANNEL=nixos-24.11 NIXOS_IMPORT=./host.nix NO_REBOOT=1 /root/nixos-infect", nil); err != nil {
		t.Fatalf("stand-in: %v\n%s%s", err, out, errOut)
	}
	// No configuration.nix was uploaded: the stand-in generated one like upstream, with the
	// keys from root's authorized_keys.
	if got := g.mustRun(t, "cat /etc/nixos/configuration.nix"); !strings.Contains(got, "./host.nix") ||
		!strings.Contains(got, "''"+authorizedKey(g.key.PublicKey(), "old@test")+"''") {
		t.Errorf("generated configuration.nix lacks the import or root's key:\n%s", got)
	}
	consoleBefore := len(g.vm.Console())
	if err := vmtest.Reboot(g.client); err != nil {
		t.Fatal(err)
	}

	// Wait for the stand-in's console line, then for the login prompt that follows it.
	for {
		console := g.vm.Console()[consoleBefore:]
		i := strings.Index(console, "nixos-infect-standin: ssh disabled")
		if i >= 0 && strings.Contains(console[i:], "login:") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no 'ssh disabled' and login prompt on the console: %v", ctx.Err())
		case <-time.After(time.Second):
		}
	}
	waitCtx, cancelWait := context.WithTimeout(ctx, 15*time.Second)
	defer cancelWait()
	if err := g.vm.WaitSSH(waitCtx); err == nil {
		t.Error("sshd answers after reboot, want it off")
	}
	if !g.vm.Running() {
		t.Error("qemu exited")
	}
}
