// Package qemu runs real Debian 12 (bookworm) virtual machines under qemu: the machines of the
// local cloud (package localcloud) and of the end-to-end tests.
//
// EnsureImage builds one raw ext4 root image with debootstrap (cached, keyed by the recipe);
// Start boots a VM from a copy-on-write overlay of it with qemu's TCG accelerator (KVM is
// unreliable on the machines this runs on) and forwards the guest's port 22 to a loopback
// address of the host. The guest network is qemu user networking with restrict=on: the guest
// can reach nothing but its forwarded port, so VMs never send traffic off the machine.
//
// It imports nothing of this module: nothing from bootstrap's pipeline,
// providers, or e2e/.
package qemu

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Image is a bootable Debian 12 image: a kernel, its initrd and a raw ext4 root file system
// (no partition table; the guest mounts /dev/vda as /). Disk is read-only: VMs write to overlays.
type Image struct{ Dir, Kernel, Initrd, Disk string }

const (
	suite = "bookworm"
	// imageSize leaves about 6 GiB free in the guest; the product's preflight wants 3 GiB
	// (the system plus nixos-infect's 1 GiB swap file in /tmp). The raw file is sparse.
	imageSize = "8G"
)

// packages is the debootstrap --include list. python3-cffi-backend is named explicitly because
// debootstrap does not resolve virtual packages and cloud-init's python3-cryptography needs it.
var packages = []string{
	"openssh-server", "linux-image-amd64", "systemd-sysv", "udev", "iproute2", "ifupdown",
	"isc-dhcp-client", "kmod", "cloud-init", "python3-cffi-backend", "locales", "sudo", "procps",
	"util-linux", "ca-certificates",
	// What nixos-infect's checkEnv needs (l.329-356 of the pinned script) and Debian and Ubuntu
	// cloud images have: it would apt-get them, and the guest has no route out.
	"curl", "bzip2", "xz-utils",
	// The initramfs's shell and tools for firmware.sh.
	"busybox",
}

// customize runs on the host with the debootstrap tree as working directory. It is part of the
// cache key: editing it rebuilds the image.
var customize = `set -euo pipefail
# cloud-init's locale module fails (status "error") without a generated locale.
echo 'en_US.UTF-8 UTF-8' > etc/locale.gen
chroot . /usr/sbin/locale-gen
echo 'LANG=en_US.UTF-8' > etc/default/locale

# Only the NoCloud seed (or nothing); never probe network metadata services. cloud-init must not
# write its own network config: /etc/network/interfaces below already brings eth0 up.
cat > etc/cloud/cloud.cfg.d/90-bootstrap-e2e.cfg <<'CFG'
datasource_list: [ NoCloud, None ]
network: {config: disabled}
CFG

# The kernel command line has net.ifnames=0, so the NIC is eth0.
cat > etc/network/interfaces <<'NET'
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
NET

echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' > etc/fstab
echo debian > etc/hostname
cat > etc/hosts <<'HOSTS'
127.0.0.1	localhost
127.0.1.1	debian
::1	localhost ip6-localhost ip6-loopback
HOSTS

echo 'PermitRootLogin prohibit-password' > etc/ssh/sshd_config.d/10-bootstrap-e2e.conf
# Empty root password, locked: keys only.
chroot . /usr/sbin/usermod -p '!' root

# Every VM must get its own identity: no machine id and no SSH host keys in the image.
# systemd creates the machine id on first boot; cloud-init writes or generates host keys, and
# e2e-ssh-hostkeys.service generates them when cloud-init is disabled.
: > etc/machine-id
rm -f var/lib/dbus/machine-id etc/ssh/ssh_host_*
cat > etc/systemd/system/e2e-ssh-hostkeys.service <<'UNIT'
[Unit]
Description=Generate SSH host keys missing from the bootstrap e2e image
After=cloud-init.service
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/e2e-ssh-hostkeys.service etc/systemd/system/multi-user.target.wants/e2e-ssh-hostkeys.service

# Emulated CPU is scarce (TCG, several VMs per core): mask jobs a throwaway VM does not need.
# The guest has no route out, so apt's periodic runs could only fail anyway.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service; do
  ln -sf /dev/null "etc/systemd/system/$unit"
done

# A small initrd with just what mounts /dev/vda (and reads an ESP), instead of MODULES=most: the
# kernel+initrd stage of each boot is several seconds shorter under TCG.
sed -i 's/^MODULES=.*/MODULES=list/' etc/initramfs-tools/initramfs.conf
printf '%s\n' virtio_pci virtio_blk ext4 vfat nls_cp437 nls_ascii nls_utf8 >> etc/initramfs-tools/modules
# The emulated firmware and boot loader (firmware.sh) runs in the initramfs after / is mounted.
install -m 0755 /dev/stdin etc/initramfs-tools/scripts/local-bottom/bootstrap-firmware <<'FIRMWARE'
` + firmware + `FIRMWARE
chroot . update-initramfs -u -k all

# What stands for a NixOS system's closure when the emulated first boot moves /etc away: this
# pristine /etc (no host keys, machine id or resolv.conf; nothing a first boot wrote).
mkdir -p usr/lib/bootstrap-image
cp -a etc usr/lib/bootstrap-image/etc
rm -f usr/lib/bootstrap-image/etc/resolv.conf
`

//go:embed firmware.sh
var firmware string

// recipeKey hashes everything that determines the image content except the mirror.
func recipeKey() string {
	h := sha256.New()
	fmt.Fprintf(h, "suite=%s\nsize=%s\npackages=%s\n--\n%s", suite, imageSize, strings.Join(packages, ","), customize)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// EnsureImage builds the Debian 12 image once and caches it under cacheDir ("" means
// $BOOTSTRAP_E2E_CACHE, else os.UserCacheDir()/bootstrap-e2e). Concurrent callers, also in other
// processes, serialise on a lock file; the image appears by an atomic rename, so an interrupted
// build never leaves a half image behind. Building needs root (debootstrap, chroot) and the Debian
// mirror the host's apt uses ($BOOTSTRAP_E2E_MIRROR overrides it). log gets progress lines (nil: none).
func EnsureImage(ctx context.Context, cacheDir string, log io.Writer) (*Image, error) {
	if log == nil {
		log = io.Discard
	}
	var err error
	if cacheDir == "" {
		if cacheDir, err = defaultCacheDir(); err != nil {
			return nil, err
		}
	}
	// Absolute paths: qemu resolves the overlay's backing file and -kernel from its own cwd.
	if cacheDir, err = filepath.Abs(cacheDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("create image cache %s: %w", cacheDir, err)
	}
	name := "debian12-" + recipeKey()
	final := filepath.Join(cacheDir, name)
	if img, ok := cachedImage(final); ok {
		return img, nil
	}

	unlock, err := lockFile(ctx, filepath.Join(cacheDir, name+".lock"), log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another process may have finished the build while we waited for the lock.
	if img, ok := cachedImage(final); ok {
		return img, nil
	}
	// Leftovers of interrupted builds: safe to delete now that we hold the lock.
	stale, _ := filepath.Glob(filepath.Join(cacheDir, ".build-"+name+"-*"))
	for _, dir := range stale {
		if err := removeTree(dir); err != nil {
			return nil, fmt.Errorf("remove interrupted build %s: %w", dir, err)
		}
	}

	work, err := os.MkdirTemp(cacheDir, ".build-"+name+"-")
	if err != nil {
		return nil, fmt.Errorf("create image build dir: %w", err)
	}
	defer removeTree(work) //nolint:errcheck // best effort; a later build removes leftovers
	if err := build(ctx, work, log); err != nil {
		return nil, fmt.Errorf("build debian 12 image in %s: %w", work, err)
	}
	if err := os.Rename(filepath.Join(work, "out"), final); err != nil {
		return nil, fmt.Errorf("publish image %s: %w", final, err)
	}
	img, ok := cachedImage(final)
	if !ok {
		return nil, fmt.Errorf("image %s incomplete after build", final)
	}
	return img, nil
}

func defaultCacheDir() (string, error) {
	if d := os.Getenv("BOOTSTRAP_E2E_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find image cache dir (set BOOTSTRAP_E2E_CACHE): %w", err)
	}
	return filepath.Join(d, "bootstrap-e2e"), nil
}

func cachedImage(dir string) (*Image, bool) {
	img := &Image{
		Dir:    dir,
		Kernel: filepath.Join(dir, "vmlinuz"),
		Initrd: filepath.Join(dir, "initrd.img"),
		Disk:   filepath.Join(dir, "disk.img"),
	}
	for _, f := range []string{img.Kernel, img.Initrd, img.Disk} {
		if _, err := os.Stat(f); err != nil {
			return nil, false
		}
	}
	return img, true
}

// lockFile takes an exclusive flock, polling so that waiting honours ctx.
func lockFile(ctx context.Context, path string, log io.Writer) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open image lock %s: %w", path, err)
	}
	logged := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it anyway
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !logged {
			fmt.Fprintf(log, "vm: waiting for another process building the image (%s)\n", path)
			logged = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for image lock %s: %w", path, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// build makes work/out/{vmlinuz,initrd.img,disk.img}; work/tree is the debootstrap target.
func build(ctx context.Context, work string, log io.Writer) error {
	if os.Geteuid() != 0 {
		return errors.New("building the image needs root (debootstrap, chroot)")
	}
	mirror, err := hostMirror()
	if err != nil {
		return err
	}
	tree := filepath.Join(work, "tree")
	out := filepath.Join(work, "out")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(log, "vm: debootstrap %s from %s (takes a few minutes)\n", suite, mirror)
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(packages, ","), suite, tree, mirror)
	cmd.Env = append(os.Environ(), proxyEnv()...)
	if err := runLogged(cmd, filepath.Join(work, "debootstrap.log")); err != nil {
		return fmt.Errorf("debootstrap: %w", err)
	}
	fmt.Fprintf(log, "vm: debootstrap done in %s\n", time.Since(start).Round(time.Second))

	cmd = exec.CommandContext(ctx, "bash", "-c", customize)
	cmd.Dir = tree
	if err := runLogged(cmd, filepath.Join(work, "customize.log")); err != nil {
		return fmt.Errorf("customize tree: %w", err)
	}
	if err := copyBootFiles(tree, out); err != nil {
		return err
	}
	disk := filepath.Join(out, "disk.img")
	for _, args := range [][]string{
		{"truncate", "-s", imageSize, disk},
		{"mkfs.ext4", "-q", "-L", "root", "-d", tree, disk},
	} {
		if b, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", args[0], err, strings.TrimSpace(string(b)))
		}
	}
	// VMs only read the base image (through their overlays); make accidents loud.
	if err := os.Chmod(disk, 0o444); err != nil {
		return err
	}
	recipe := fmt.Sprintf("suite: %s\nmirror: %s\nsize: %s\npackages: %s\nbuilt: %s in %s\n\n%s",
		suite, mirror, imageSize, strings.Join(packages, ","), time.Now().UTC().Format(time.RFC3339),
		time.Since(start).Round(time.Second), customize)
	if err := os.WriteFile(filepath.Join(out, "recipe.txt"), []byte(recipe), 0o644); err != nil {
		return err
	}
	if err := removeTree(tree); err != nil {
		return fmt.Errorf("remove debootstrap tree: %w", err)
	}
	fmt.Fprintf(log, "vm: image built in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// runLogged runs cmd with its output in logPath; on failure the error carries the log's tail.
func runLogged(cmd *exec.Cmd, logPath string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	// debootstrap runs dpkg in a chroot: on cancellation kill the whole process group, not only
	// the direct child, so nothing keeps writing into (or holding mounts in) the tree.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w; last output:\n%s", err, tailLines(string(b), 20))
	}
	return nil
}

func copyBootFiles(tree, out string) error {
	for _, f := range []struct{ glob, name string }{
		{"boot/vmlinuz-*", "vmlinuz"},
		{"boot/initrd.img-*", "initrd.img"},
	} {
		matches, _ := filepath.Glob(filepath.Join(tree, f.glob))
		if len(matches) != 1 {
			return fmt.Errorf("want exactly one %s in the tree, found %d", f.glob, len(matches))
		}
		b, err := os.ReadFile(matches[0])
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, f.name), b, 0o444); err != nil {
			return err
		}
	}
	return nil
}

// removeTree deletes a build directory, first detaching anything a failed debootstrap left
// mounted inside it (proc, sys, ...): RemoveAll must never descend into a live mount.
func removeTree(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	mounts, err := mountsUnder(abs)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount %s: %w", m, err)
		}
	}
	if mounts, err = mountsUnder(abs); err != nil {
		return err
	} else if len(mounts) > 0 {
		return fmt.Errorf("still mounted under %s: %v", abs, mounts)
	}
	return os.RemoveAll(abs)
}

// mountsUnder lists mount points below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, sc.Err()
}

// unescapeMountinfo undoes the \ooo octal escapes of /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
