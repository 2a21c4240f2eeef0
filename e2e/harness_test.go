package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bootstrap/bootstrap"
	"bootstrap/e2e/vmtest"
	"bootstrap/localcloud/qemu"
)

// host is a fresh Debian VM reachable as root with a test key, whose ed25519
// host key we generated (so tests can pass --host-key), and the nixos.org
// stand-in it reaches.
type host struct {
	vm        *qemu.VM
	addr      string
	rig       *rig
	keyPath   string // root's login key (OpenSSH private key file, 0600)
	keyLine   string
	hostKeyFP string
}

func newKey(t testing.TB, dir, name string) (path string, signer ssh.Signer, line string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, name)
	if err != nil {
		t.Fatal(err)
	}
	signer, err = ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	line = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " " + name
	path = filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, signer, line
}

// persistJournal keeps sshd's log across the reboot, so tests can count the
// handshakes made before and after it.
const persistJournal = `  - [ sh, -c, "mkdir -p /var/log/journal && systemctl restart systemd-journald" ]
`

// layout is how a test VM's disks look, as providers' images do.
type layout struct {
	efi bool // UEFI firmware and an EFI system partition on /boot/efi
	// separateBoot: /boot is an ext4 file system of its own (Ubuntu 24.04's cloud images).
	separateBoot bool
	// static: eth0 gets its address from /etc/network/interfaces, not from DHCP (qemu's user
	// network: 10.0.2.15/24 via 10.0.2.2, resolver 10.0.2.3), as on providers without DHCP.
	static   bool
	memoryMB int
}

// Fixed file system ids of the extra disks: each VM has disks of its own.
const (
	espUUID  = "B00F-E5B1"
	bootUUID = "b007b007-0000-4000-8000-000000000b00"
)

// mounts is cloud-init bootcmd (it runs before sshd, on every boot until NixOS turns
// cloud-init off) that mounts the layout's file systems and records them in fstab.
func (l layout) mounts() string {
	var b strings.Builder
	mount := func(spec, mp, fstype, opts string) {
		fmt.Fprintf(&b, "  - [ sh, -c, \"grep -q ' %s ' /etc/fstab || { mkdir -p %s && echo '%s %s %s %s 0 2' >> /etc/fstab; }; mountpoint -q %s || mount %s\" ]\n",
			mp, mp, spec, mp, fstype, opts, mp, mp)
	}
	if l.separateBoot {
		mount("UUID="+bootUUID, "/boot", "ext4", "defaults")
	}
	if l.efi {
		mount("UUID="+espUUID, "/boot/efi", "vfat", "umask=0077")
	}
	if l.static {
		// cloud-init runs after networking.service brought eth0 up with DHCP: take it down,
		// forget the lease, and bring it up again from a static stanza.
		cmd := `grep -q 'inet static' /etc/network/interfaces || { ifdown eth0; rm -f /var/lib/dhcp/dhclient*; ` +
			`printf '%s\n' 'auto lo' 'iface lo inet loopback' '' 'auto eth0' 'iface eth0 inet static' '    address 10.0.2.15/24' '    gateway 10.0.2.2' > /etc/network/interfaces; ` +
			`echo 'nameserver 10.0.2.3' > /etc/resolv.conf; ifup eth0; }`
		q, _ := json.Marshal(cmd)
		fmt.Fprintf(&b, "  - [ sh, -c, %s ]\n", q)
	}
	return b.String()
}

func (l layout) disks() []qemu.Disk {
	var d []qemu.Disk
	if l.separateBoot {
		d = append(d, qemu.Disk{Name: "boot.img", SizeMB: 256, FSType: "ext4", UUID: bootUUID, Boot: true})
	}
	if l.efi {
		d = append(d, qemu.Disk{Name: "esp.img", SizeMB: 64, FSType: "vfat", UUID: espUUID})
	}
	return d
}

// bootHost boots a Debian VM on addr and waits for its sshd.
func bootHost(t testing.TB, addr string) *host {
	t.Helper()
	return bootHosts(t, layout{}, addr)[0]
}

// bootHosts boots Debian VMs on addrs at the same time and waits for their sshd. They share
// one nixos.org stand-in.
func bootHosts(t testing.TB, l layout, addrs ...string) []*host {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r := newRig(t)
	hosts := make([]*host, len(addrs))
	for i, addr := range addrs {
		hosts[i] = startHost(t, ctx, addr, r, l)
	}
	for _, h := range hosts {
		if err := h.vm.WaitSSH(ctx); err != nil {
			t.Fatalf("vm %s: %v", h.addr, err)
		}
	}
	return hosts
}

// startHost starts a Debian VM on addr with a fresh root key and host key.
func startHost(t testing.TB, ctx context.Context, addr string, r *rig, l layout) *host {
	t.Helper()
	realScript(t)
	keyPath, _, keyLine := newKey(t, t.TempDir(), "operator")
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostPub, err := ssh.NewPublicKey(hostPriv.Public())
	if err != nil {
		t.Fatal(err)
	}
	ud, err := qemu.UserData([]string{keyLine}, hostPriv, "debian")
	if err != nil {
		t.Fatal(err)
	}
	ud = append(append(bytes.TrimRight(ud, "\n"), '\n'), "bootcmd:\n"+persistJournal+l.mounts()...)
	v := vmtest.Boot(t, ctx, qemu.Config{Addr: addr, UserData: ud, EFI: l.efi, Disks: l.disks(), MemoryMB: l.memoryMB, Forwards: []qemu.Forward{r.fwd}})
	return &host{vm: v, addr: addr, rig: r, keyPath: keyPath, keyLine: keyLine, hostKeyFP: ssh.FingerprintSHA256(hostPub)}
}

// env is an operator's machine: a home of its own (no ~/.ssh/known_hosts, no
// caches, no agent unless a test starts one) and a workspace.
type env struct {
	t     testing.TB
	home  string
	ws    string
	extra []string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, home: t.TempDir(), ws: t.TempDir()}
	if err := os.MkdirAll(filepath.Join(e.home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	seedScriptCache(t, e.home)
	return e
}

type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout\n" + r.stdout + "--- stderr\n" + r.stderr
}

func (e *env) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, append(args, "--workspace", e.ws)...)
	cmd.Env = append([]string{
		"HOME=" + e.home,
		"PATH=" + os.Getenv("PATH"),
		"XDG_CACHE_HOME=" + filepath.Join(e.home, ".cache"),
		"XDG_CONFIG_HOME=" + filepath.Join(e.home, ".config"),
	}, e.extra...)
	cmd.Stdin = nil
	return cmd
}

// run runs bootstrap to completion.
func (e *env) run(ctx context.Context, args ...string) result {
	e.t.Helper()
	cmd := e.command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		e.t.Fatalf("run bootstrap: %v", err)
	}
	e.t.Logf("bootstrap %s -> exit %d in %s", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond))
	return r
}

// sshArgs are the infect/host-key flags every run against h needs.
func (h *host) sshArgs(channel string, extra ...string) []string {
	return append([]string{"ssh", "root@" + h.addr, "--channel", channel, "-i", h.keyPath,
		"--host-key", h.hostKeyFP, "--infect-env", "NIX_INSTALL_URL=" + installURL, "--yes"}, extra...)
}

// record reads hosts/NAME/state.json.
func (e *env) record(name string) *bootstrap.Record {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(e.ws, "hosts", name, "state.json"))
	if err != nil {
		e.t.Fatalf("state.json: %v", err)
	}
	var rec bootstrap.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		e.t.Fatalf("state.json: %v", err)
	}
	return &rec
}

// openssh runs a command on h with the real OpenSSH client and the
// workspace's deploy keys (each host's own, and the shared one) and
// known_hosts, strictly, as the README promises.
func (e *env) openssh(h *host, remoteCmd string) (string, error) {
	var args []string
	keys, _ := filepath.Glob(filepath.Join(e.ws, "keys", "*_ed25519"))
	for _, k := range keys {
		args = append(args, "-i", k)
	}
	args = append(args, "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile="+filepath.Join(e.ws, "known_hosts"),
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
		"-F", "/dev/null", "root@"+h.addr, remoteCmd)
	cmd := exec.Command("ssh", args...)
	cmd.Env = []string{"HOME=" + e.home, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
