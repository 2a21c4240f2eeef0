package qemu_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bootstrap/e2e/vmtest"
	"bootstrap/localcloud/qemu"
)

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

// TestBootAndReboot boots a real VM with cloud-init, logs in with a pinned host key, reboots
// it from inside and checks that it comes back with a new boot id and the same host key.
func TestBootAndReboot(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	client := newSigner(t)
	hostPub, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := ssh.NewPublicKey(hostPub)
	if err != nil {
		t.Fatal(err)
	}
	ud, err := qemu.UserData([]string{string(ssh.MarshalAuthorizedKey(client.PublicKey()))}, hostKey, "e2e-vm")
	if err != nil {
		t.Fatal(err)
	}
	v := vmtest.Boot(t, ctx, qemu.Config{Addr: "127.0.0.200", UserData: ud, Hostname: "e2e-vm"})
	started := time.Now()
	if err := v.WaitSSH(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("boot: sshd banner after %s", time.Since(started).Round(100*time.Millisecond))
	c, bootID, err := vmtest.WaitNewBoot(ctx, v.Addr(), client, pinned, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("boot: root login after %s", time.Since(started).Round(100*time.Millisecond))

	// Password auth is switched off by cloud-init's config stage, after sshd first answers:
	// wait for cloud-init before checking it.
	checks := []struct{ cmd, want string }{
		{"cloud-init status --wait >/dev/null; cloud-init status", "status: done"},
		{"hostname", "e2e-vm"},
		{"sshd -T | grep -i '^passwordauthentication'", "passwordauthentication no"},
	}
	for _, ch := range checks {
		out, errOut, err := vmtest.Run(c, ch.cmd, nil)
		if err != nil {
			t.Fatalf("%s: %v: %s", ch.cmd, err, errOut)
		}
		if got := strings.TrimSpace(out); got != ch.want {
			t.Errorf("%s: got %q, want %q", ch.cmd, got, ch.want)
		}
	}
	t.Logf("boot: cloud-init done after %s", time.Since(started).Round(100*time.Millisecond))
	out, _, err := vmtest.Run(c, "df --output=avail -B1 / | tail -1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if free, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64); err != nil || free < 3<<29 {
		t.Errorf("got %q bytes free on /, want >= 1.5 GiB", strings.TrimSpace(out))
	}

	if err := vmtest.Reboot(c); err != nil {
		t.Fatal(err)
	}
	c.Close()
	rebooted := time.Now()
	c, newID, err := vmtest.WaitNewBoot(ctx, v.Addr(), client, pinned, bootID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reboot: root login with new boot id after %s", time.Since(rebooted).Round(100*time.Millisecond))
	if newID == bootID {
		t.Errorf("got boot id %s after reboot, want a new one", newID)
	}
	if !v.Running() {
		t.Error("qemu exited on guest reboot, want it to reset the guest")
	}

	// Power cycle: Stop, then Start with the same Config keeps the disk and the identity.
	if _, errOut, err := vmtest.Run(c, "echo kept > /root/power-cycle && sync", nil); err != nil {
		t.Fatalf("write marker: %v: %s", err, errOut)
	}
	c.Close()
	if err := v.Stop(); err != nil {
		t.Fatal(err)
	}
	img, err := qemu.EnsureImage(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cycled := time.Now()
	v2, err := qemu.Start(img, qemu.Config{Addr: "127.0.0.200", Dir: v.Dir(), UserData: ud, Hostname: "e2e-vm"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		v2.Stop()
		if t.Failed() {
			t.Logf("console after power cycle (last 40 lines):\n%s", v2.ConsoleTail(40))
		}
	})
	c, _, err = vmtest.WaitNewBoot(ctx, v2.Addr(), client, pinned, newID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Logf("power cycle: root login after %s", time.Since(cycled).Round(100*time.Millisecond))
	if out, _, err := vmtest.Run(c, "cat /root/power-cycle", nil); err != nil || strings.TrimSpace(out) != "kept" {
		t.Errorf("after power cycle: got %q, %v; want the file written before", out, err)
	}
}

// TestBootWithoutUserData: cloud-init disabled on the kernel command line, sshd still comes up
// with host keys generated on first boot; a wrong pinned key is reported as a mismatch.
func TestBootWithoutUserData(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	v := vmtest.Boot(t, ctx, qemu.Config{Addr: "127.0.0.201", MemoryMB: 512})
	started := time.Now()
	if err := v.WaitSSH(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("boot without cloud-init: sshd banner after %s", time.Since(started).Round(100*time.Millisecond))
	wrong := newSigner(t).PublicKey()
	_, err := vmtest.DialRoot(ctx, v.Addr(), newSigner(t), wrong)
	if !errors.Is(err, vmtest.ErrHostKeyMismatch) {
		t.Errorf("got %v, want vmtest.ErrHostKeyMismatch", err)
	}
	if strings.Contains(v.Console(), "Cloud-init v.") {
		t.Error("cloud-init ran, want it disabled")
	}
}

func TestStartRefuses(t *testing.T) {
	img := &qemu.Image{Kernel: "/nonexistent/vmlinuz", Initrd: "/nonexistent/initrd.img", Disk: "/nonexistent/disk.img"}
	for _, tt := range []struct {
		name string
		cfg  qemu.Config
	}{
		{"not loopback", qemu.Config{Addr: "10.0.2.15", Dir: t.TempDir()}},
		{"ipv6", qemu.Config{Addr: "::1", Dir: t.TempDir()}},
		{"hostname", qemu.Config{Addr: "localhost", Dir: t.TempDir()}},
		{"no dir", qemu.Config{Addr: "127.0.0.209"}},
	} {
		if v, err := qemu.Start(img, tt.cfg); err == nil {
			v.Stop()
			t.Errorf("%s: got nil error, want one", tt.name)
		}
	}

	// A taken address must fail Start, not let WaitSSH read another machine's banner.
	l, err := net.Listen("tcp", "127.0.0.209:22")
	if err != nil {
		t.Skipf("cannot bind 127.0.0.209:22 here: %v", err)
	}
	defer l.Close()
	v, err := qemu.Start(img, qemu.Config{Addr: "127.0.0.209", Dir: t.TempDir()})
	if err == nil {
		v.Stop()
		t.Fatal("got nil error for a taken address, want one")
	}
	if !strings.Contains(err.Error(), "port 22 is not free") {
		t.Errorf("got %v, want a port-taken error", err)
	}
}

func TestUserData(t *testing.T) {
	client := newSigner(t)
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	authorized := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(client.PublicKey()))) + " me@laptop"
	ud, err := qemu.UserData([]string{authorized}, hostKey, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	text := string(ud)
	for _, want := range []string{"#cloud-config\n", "hostname: web-1\n", "disable_root: false\n", "ssh_pwauth: false\n",
		"ssh_deletekeys: true\n", `  - "` + authorized + `"` + "\n", "  ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("user-data lacks %q:\n%s", want, text)
		}
	}
	// The private key must survive the YAML literal block (indentation stripped) intact.
	i := strings.Index(text, "-----BEGIN")
	j := strings.Index(text, "-----END OPENSSH PRIVATE KEY-----")
	if i < 0 || j < 0 {
		t.Fatalf("no PEM block in:\n%s", text)
	}
	block, _ := pem.Decode([]byte(strings.ReplaceAll(text[i:j+len("-----END OPENSSH PRIVATE KEY-----")], "\n    ", "\n")))
	if block == nil {
		t.Fatal("PEM block does not decode")
	}
	key, err := ssh.ParseRawPrivateKey(pem.EncodeToMemory(block))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := key.(*ed25519.PrivateKey); !ok || !got.Equal(hostKey) {
		t.Errorf("got host key %T, want the ed25519 key passed in", key)
	}

	for _, tt := range []struct {
		name     string
		keys     []string
		hostname string
	}{
		{"bad hostname", nil, "web_1"},
		{"bad key", []string{"ssh-ed25519 nope"}, "h"},
		{"two keys in one", []string{authorized + "\n" + authorized}, "h"},
	} {
		if _, err := qemu.UserData(tt.keys, nil, tt.hostname); err == nil {
			t.Errorf("%s: got nil error, want one", tt.name)
		}
	}
}
