package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

const (
	addrCloneSource = "127.0.0.14"
	addrCloneTarget = "127.0.0.15"
)

// setSecret runs `bootstrap secrets set NAME KEY -` with value on stdin.
func (e *env) setSecret(t *testing.T, name, key, value string) {
	t.Helper()
	cmd := e.command(ctxFor(t, time.Minute), "secrets", "set", name, key, "-", "--new-host")
	cmd.Stdin = strings.NewReader(value)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secrets set %s %s: %v\n%s", name, key, err, out)
	}
}

// assertSecret checks a secret file on h: value, mode 0400 and owner root.
func assertSecret(t *testing.T, e *env, h *host, key, value string) {
	t.Helper()
	out, err := e.openssh(h, "stat -c '%a %U %G' /var/lib/bootstrap/secrets/"+key+" && stat -c '%a %U' /var/lib/bootstrap/secrets && cat /var/lib/bootstrap/secrets/"+key)
	if err != nil {
		t.Fatalf("read secret %s on %s: %v\n%s", key, h.addr, err, out)
	}
	want := "400 root root\n700 root\n" + value
	if out != want {
		t.Errorf("secret %s on %s: got %q, want %q", key, h.addr, out, want)
	}
}

// assertNowhere checks that value appears in no file of the workspace.
func assertNowhere(t *testing.T, dir, value string) {
	t.Helper()
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		if data, _ := os.ReadFile(p); bytes.Contains(data, []byte(value)) {
			t.Errorf("secret value found in plaintext in %s", p)
		}
		return nil
	})
}

func TestCloneWithSecrets(t *testing.T) {
	parallelVMs(t)
	src := bootHosts(t, layout{memoryMB: bigVM}, addrCloneSource)[0]
	e := newEnv(t)
	ctx := ctxFor(t, 25*time.Minute)

	// The operator's age identity (in the usual place) and the workspace's recipients.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(e.home, ".config", "bootstrap")
	if err := os.MkdirAll(cfg, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "age.txt"), []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.ws, "recipients.txt"), []byte(id.Recipient().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const dbPassword, apiToken = "db-pw-7f3a9c1e-plaintext", "api-token-51d0b2c4-plaintext"
	e.setSecret(t, "web-src", "db-password", dbPassword)
	e.setSecret(t, "web-src", "api-token", apiToken)

	hostNix := filepath.Join(e.home, "host.nix")
	os.WriteFile(hostNix, []byte("{ pkgs, ... }:\n{\n  networking.hostName = \"prod-web\";\n  environment.systemPackages = [ pkgs.htop ];\n}\n"), 0o644)
	r := e.run(ctx, append(src.sshArgs("nixos-24.11", "--name", "web-src", "--host-nix", hostNix, "--auto-upgrade"), noSwap...)...)
	if r.code != 0 {
		t.Fatalf("bootstrap the source: got %s", r)
	}
	assertNixOS(t, e, src, "web-src", "nixos-24.11")
	assertSecret(t, e, src, "db-password", dbPassword)
	if out, _ := e.openssh(src, "grep -c 'system.autoUpgrade.channel = \"https://nixos.org/channels/nixos-24.11\"' /etc/nixos/bootstrap.nix"); strings.TrimSpace(out) != "1" {
		t.Errorf("got autoUpgrade lines %q in the host's bootstrap.nix, want 1", out)
	}

	// Secrets are on disk: a second reboot keeps them.
	bootID := e.record("web-src").BootIDAfter
	e.openssh(src, "nohup sh -c 'sleep 1; reboot' >/dev/null 2>&1 &")
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out, err := e.openssh(src, "cat /proc/sys/kernel/random/boot_id")
		if err == nil && strings.TrimSpace(out) != bootID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("source did not come back after a second reboot")
		}
		time.Sleep(2 * time.Second)
	}
	assertSecret(t, e, src, "db-password", dbPassword)
	assertSecret(t, e, src, "api-token", apiToken)

	// Rotation: a new value and a removed secret.
	const rotated = "db-pw-rotated-0c9e2b7d"
	e.setSecret(t, "web-src", "db-password", rotated)
	if r = e.run(ctx, "secrets", "rm", "web-src", "api-token"); r.code != 0 {
		t.Fatalf("secrets rm: got %s", r)
	}
	if r = e.run(ctx, "secrets", "push", "web-src", "--prune"); r.code != 0 {
		t.Fatalf("secrets push --prune: got %s", r)
	}
	assertSecret(t, e, src, "db-password", rotated)
	if out, _ := e.openssh(src, "ls /var/lib/bootstrap/secrets"); strings.TrimSpace(out) != "db-password" {
		t.Errorf("got secrets %q after push --prune, want only db-password", out)
	}
	// A wrong identity stops before anything is uploaded.
	other, _ := age.GenerateX25519Identity()
	wrong := filepath.Join(e.home, "wrong.txt")
	os.WriteFile(wrong, []byte(other.String()+"\n"), 0o600)
	if r = e.run(ctx, "secrets", "push", "web-src", "--identity", wrong); r.code != 2 || !strings.Contains(r.stderr, "db-password") {
		t.Errorf("push with a wrong identity: got %s, want exit 2 naming the secret", r)
	}
	assertSecret(t, e, src, "db-password", rotated)

	// The clone target, still Debian: refused as a source, then cloned onto.
	dst := bootHosts(t, layout{memoryMB: bigVM}, addrCloneTarget)[0]
	if r = e.run(ctx, "clone", "root@"+dst.addr, "nope-1", "--to", "ssh", "--host", "root@"+src.addr,
		"--source-identity", dst.keyPath, "--source-host-key", dst.hostKeyFP, "--yes"); r.code != 5 || !strings.Contains(r.stderr, "not NixOS") {
		t.Errorf("clone from a Debian source: got %s, want exit 5 saying it is not NixOS", r)
	}
	if r = e.run(ctx, "clone", "web-src", "web-src", "--to", "ssh", "--host", "root@"+dst.addr); r.code != 2 || !strings.Contains(r.stderr, "already holds") {
		t.Errorf("clone onto an existing name: got %s, want exit 2", r)
	}
	// Files of /etc/nixos that are no Nix code and key material stay on the source.
	const wgKey = "wg-private-key-0c9e1f-plaintext"
	if out, err := e.openssh(src, "mkdir -p /etc/nixos/wireguard && echo "+wgKey+" > /etc/nixos/wireguard/private && echo "+wgKey+" > /etc/nixos/wg0.priv && echo AWS=1 > /etc/nixos/credentials.env"); err != nil {
		t.Fatalf("plant key material on the source: %v\n%s", err, out)
	}
	r = e.run(ctx, "clone", "web-src", "web-clone", "--to", "ssh", "--host", "root@"+dst.addr, "-i", dst.keyPath,
		"--host-key", dst.hostKeyFP, "--with-secrets", "--follow-channel", "--infect-env", "NIX_INSTALL_URL="+installURL, "--infect-env", "NO_SWAP=1", "--yes")
	if r.code != 0 {
		t.Fatalf("clone: got %s", r)
	}
	// Built from the source's release, then subscribed to the channel again (--follow-channel).
	assertNixOS(t, e, dst, "web-clone", "nixos-24.11")
	assertSecret(t, e, dst, "db-password", rotated)
	if rec := e.record("web-clone"); rec.CloneOf != "web-src" {
		t.Errorf("got clone_of %q, want web-src", rec.CloneOf)
	}
	for _, f := range []string{"host.nix"} {
		a, _ := e.openssh(src, "cat /etc/nixos/"+f)
		b, _ := e.openssh(dst, "cat /etc/nixos/"+f)
		if a != b || a == "" {
			t.Errorf("/etc/nixos/%s differs between source and clone", f)
		}
	}
	// Captured fresh on the clone's hardware (the stand-in names the machine by its host key).
	hw := readFile(t, filepath.Join(e.ws, "hosts", "web-clone", "hardware-configuration.nix"))
	if !strings.Contains(hw, "machine: "+dst.hostKeyFP) || strings.Contains(hw, src.hostKeyFP) {
		t.Errorf("hosts/web-clone/hardware-configuration.nix was not captured on the clone:\n%s", hw)
	}
	if out, _ := e.openssh(dst, "hostname"); strings.TrimSpace(out) != "web-clone" {
		t.Errorf("got hostname %q on the clone, want web-clone (forced over host.nix's prod-web)", strings.TrimSpace(out))
	}
	if !strings.Contains(r.stdout, "hardware-configuration.nix") || !strings.Contains(r.stdout, "captured fresh") {
		t.Errorf("clone summary does not say what differs:\n%s", r.stdout)
	}
	hk1, hk2 := e.record("web-src").HostKey, e.record("web-clone").HostKey
	if hk1 == hk2 {
		t.Errorf("the clone has the source's host key %s", hk1)
	}
	// No secret value in plaintext anywhere in the workspace (state, logs,
	// .nix files) nor in either host's /etc/nixos.
	if out, _ := e.openssh(dst, "ls /etc/nixos/wireguard /etc/nixos/wg0.priv /etc/nixos/credentials.env 2>/dev/null"); strings.TrimSpace(out) != "" {
		t.Errorf("got key material copied to the clone: %q", out)
	}
	if !strings.Contains(r.stdout, "looks like a secret") {
		t.Errorf("clone summary does not name the files it left behind:\n%s", r.stdout)
	}
	for _, v := range []string{dbPassword, apiToken, rotated, wgKey} {
		assertNowhere(t, e.ws, v)
		for _, h := range []*host{src, dst} {
			if h == src && v == wgKey {
				continue // planted there on purpose
			}
			if out, _ := e.openssh(h, "grep -rl -- '"+v+"' /etc/nixos || true"); strings.TrimSpace(out) != "" {
				t.Errorf("secret value found in %s on %s", out, h.addr)
			}
		}
	}
}
