package qemu

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config describes one VM.
type Config struct {
	Addr       string // loopback address for the guest's sshd, e.g. "127.0.0.12" (port 22 via hostfwd)
	Dir        string // per-VM work dir: qcow2 overlay, console.log, qemu.log, seed image
	MemoryMB   int    // default 1024
	UserData   []byte // cloud-init user-data; nil => boot with cloud-init disabled
	InstanceID string // NoCloud instance-id; default derived from Dir (only used with UserData)
	Hostname   string // NoCloud local-hostname; default "debian" (only used with UserData)

	// EFI boots with UEFI firmware (Debian's ovmf) instead of the BIOS; the kernel is still
	// loaded directly, so the image needs no boot loader (see firmware.sh).
	EFI bool
	// Disks are extra virtio disks, /dev/vdb onwards in this order, made on the first Start
	// and kept in Dir across power cycles like the overlay.
	Disks []Disk
	// Forwards make a loopback service of the host reachable from the guest at a fixed
	// address of qemu's user network (the guest reaches nothing else): each guest connection
	// to Guest is relayed to Host by socat.
	Forwards []Forward
}

// Disk is an extra disk of a VM, formatted when made.
type Disk struct {
	Name   string // file name in Dir, e.g. "esp.img"
	SizeMB int
	FSType string // "vfat" (an EFI system partition) or "ext4"
	// UUID is the file system's UUID: for vfat the volume id as "ABCD-1234", for ext4 a UUID.
	UUID string
	// Boot fills an ext4 disk with the image's kernel and initrd, as a separate /boot holds them.
	Boot bool
}

// Forward is one guest-to-host TCP relay; Guest must be in qemu's user network 10.0.2.0/24.
type Forward struct {
	Guest string // e.g. "10.0.2.100:80"
	Host  string // a loopback address of the host, e.g. "127.0.0.1:38211"
}

// OVMFCode and OVMFVars are the UEFI firmware Config.EFI boots with (Debian's
// ovmf package): the code read-only and a copy of the variable store per VM,
// on pflash. The single-file OVMF.fd loaded with -bios keeps its variables in
// RAM, and under TCG it sometimes spun at 100% CPU after a guest reboot and
// never reached the kernel (seen in the e2e: the second reboot of the EFI VM).
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	OVMFVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

// VM is a running (or exited) qemu process.
type VM struct {
	cfg     Config
	pid     int
	done    chan struct{} // closed when qemu has exited
	console string
	qemuLog string
	stop    sync.Once
}

// Start boots a VM from img. An existing overlay in cfg.Dir is reused, so Stop followed by Start
// with the same Config is a power cycle; a fresh Dir means a fresh disk. qemu runs in its own
// session (setsid, stdin /dev/null) and is killed if this process dies.
func Start(img *Image, cfg Config) (*VM, error) {
	ip := net.ParseIP(cfg.Addr)
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		return nil, fmt.Errorf("start vm: address %q is not an IPv4 loopback address", cfg.Addr)
	}
	if cfg.Dir == "" {
		return nil, errors.New("start vm: Config.Dir is required")
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 1024
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("start vm %s: %w", cfg.Addr, err)
	}
	// If the address is taken (a leftover VM, another test run), qemu would exit at once while
	// WaitSSH happily read the other machine's banner: refuse up front instead.
	l, err := net.Listen("tcp", net.JoinHostPort(cfg.Addr, "22"))
	if err != nil {
		return nil, fmt.Errorf("start vm %s: port 22 is not free (another VM or test run?): %w", cfg.Addr, err)
	}
	l.Close()
	var extraDrives []string
	overlay := filepath.Join(cfg.Dir, "disk.qcow2")
	if _, err := os.Stat(overlay); errors.Is(err, os.ErrNotExist) {
		disk, err := filepath.Abs(img.Disk)
		if err != nil {
			return nil, err
		}
		if b, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-b", disk, "-F", "raw", overlay).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("start vm %s: create overlay: %w: %s", cfg.Addr, err, strings.TrimSpace(string(b)))
		}
	}

	for _, d := range cfg.Disks {
		path, err := makeDisk(img, cfg.Dir, d)
		if err != nil {
			return nil, fmt.Errorf("start vm %s: %w", cfg.Addr, err)
		}
		extraDrives = append(extraDrives, "-drive", "file="+path+",format=raw,if=virtio")
	}
	netdev := fmt.Sprintf("user,id=n0,restrict=on,hostfwd=tcp:%s:22-:22", cfg.Addr)
	for _, f := range cfg.Forwards {
		rule, err := guestfwd(f)
		if err != nil {
			return nil, fmt.Errorf("start vm %s: %w", cfg.Addr, err)
		}
		netdev += "," + rule
	}

	cmdline := "root=/dev/vda rw console=ttyS0 net.ifnames=0"
	args := []string{
		"-name", "bootstrap-e2e-" + cfg.Addr,
		"-accel", "tcg", // KVM guests hang or abort on these machines (see shared notes)
		"-m", fmt.Sprint(cfg.MemoryMB), "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
		// append=on keeps the log of earlier boots of the same Dir.
		"-chardev", "file,id=ser0,append=on,path=" + filepath.Join(cfg.Dir, "console.log"),
		"-serial", "chardev:ser0",
		"-kernel", img.Kernel, "-initrd", img.Initrd,
		"-drive", "file=" + overlay + ",format=qcow2,if=virtio",
		// restrict=on: the guest reaches nothing outside; hostfwd and guestfwd rules still work.
		"-netdev", netdev,
		"-device", "virtio-net-pci,netdev=n0",
		"-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0",
	}
	args = append(args, extraDrives...)
	if cfg.EFI {
		vars := filepath.Join(cfg.Dir, "OVMF_VARS.fd")
		if _, err := os.Stat(OVMFCode); err != nil {
			return nil, fmt.Errorf("start vm %s: UEFI firmware: %w (apt-get install ovmf)", cfg.Addr, err)
		}
		if _, err := os.Stat(vars); err != nil { // a restart of the same Dir keeps its variables
			data, err := os.ReadFile(OVMFVars)
			if err != nil {
				return nil, fmt.Errorf("start vm %s: UEFI variables: %w (apt-get install ovmf)", cfg.Addr, err)
			}
			if err := os.WriteFile(vars, data, 0o644); err != nil {
				return nil, fmt.Errorf("start vm %s: %w", cfg.Addr, err)
			}
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+OVMFCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	}
	if cfg.UserData != nil {
		seed, err := writeSeed(cfg)
		if err != nil {
			return nil, fmt.Errorf("start vm %s: %w", cfg.Addr, err)
		}
		args = append(args, "-drive", "file="+seed+",format=raw,if=virtio,readonly=on")
	} else {
		cmdline += " cloud-init=disabled"
	}
	// No -no-reboot: a guest reboot resets the machine and qemu boots the same -kernel again.
	args = append(args, "-append", cmdline)

	qemuLog := filepath.Join(cfg.Dir, "qemu.log")
	logf, err := os.Create(qemuLog)
	if err != nil {
		return nil, fmt.Errorf("start vm %s: %w", cfg.Addr, err)
	}
	defer logf.Close()
	cmd := exec.Command("qemu-system-x86_64", args...)
	cmd.Stdout, cmd.Stderr = logf, logf // stdin stays /dev/null
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setsid: true,
		// No orphaned VMs holding their address when a test binary is killed (e.g. go test -timeout).
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start vm %s: %w", cfg.Addr, err)
	}
	v := &VM{
		cfg:     cfg,
		pid:     cmd.Process.Pid,
		done:    make(chan struct{}),
		console: filepath.Join(cfg.Dir, "console.log"),
		qemuLog: qemuLog,
	}
	go func() {
		cmd.Wait() //nolint:errcheck // exit status of a killed qemu carries no information
		close(v.done)
	}()
	return v, nil
}

// writeSeed makes the NoCloud seed image (cloud-localds) from cfg.UserData.
func writeSeed(cfg Config) (string, error) {
	id := cfg.InstanceID
	if id == "" {
		// Stable per Dir: a power cycle (Stop, Start) must not look like a new instance to
		// cloud-init, which would replace the host keys.
		abs, _ := filepath.Abs(cfg.Dir)
		sum := sha256.Sum256([]byte(abs))
		id = "i-" + hex.EncodeToString(sum[:8])
	}
	host := cfg.Hostname
	if host == "" {
		host = "debian"
	}
	ud := filepath.Join(cfg.Dir, "user-data")
	md := filepath.Join(cfg.Dir, "meta-data")
	seed := filepath.Join(cfg.Dir, "seed.img")
	if err := os.WriteFile(ud, cfg.UserData, 0o600); err != nil {
		return "", err
	}
	if err := os.WriteFile(md, []byte(fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", id, host)), 0o644); err != nil {
		return "", err
	}
	if b, err := exec.Command("cloud-localds", seed, ud, md).CombinedOutput(); err != nil {
		return "", fmt.Errorf("cloud-localds: %w: %s", err, strings.TrimSpace(string(b)))
	}
	return seed, nil
}

// Addr is the loopback address the guest's sshd is forwarded to (port 22).
func (v *VM) Addr() string { return v.cfg.Addr }

// SSHAddr is Addr with the port, for net.Dial.
func (v *VM) SSHAddr() string { return net.JoinHostPort(v.cfg.Addr, "22") }

// Dir is the VM's work directory.
func (v *VM) Dir() string { return v.cfg.Dir }

// Running reports whether qemu has not exited yet.
func (v *VM) Running() bool {
	select {
	case <-v.done:
		return false
	default:
		return true
	}
}

// Console returns the serial console output so far (all boots of this Dir).
func (v *VM) Console() string {
	b, _ := os.ReadFile(v.console)
	return string(b)
}

// QemuLog returns qemu's own stdout and stderr (startup errors, "terminating on signal").
func (v *VM) QemuLog() string {
	b, _ := os.ReadFile(v.qemuLog)
	return strings.TrimSpace(string(b))
}

// ConsoleTail returns the last n lines of the console, handy in failure messages.
func (v *VM) ConsoleTail(n int) string { return tailLines(v.Console(), n) }

// Stop kills qemu (its whole process group) and waits for it to exit. Idempotent.
func (v *VM) Stop() error {
	v.stop.Do(func() {
		if !v.Running() {
			return
		}
		syscall.Kill(-v.pid, syscall.SIGTERM) //nolint:errcheck // it may have just exited
		select {
		case <-v.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-v.pid, syscall.SIGKILL) //nolint:errcheck
			<-v.done
		}
	})
	return nil
}

// WaitSSH waits until the guest's sshd sends its banner on Addr:22. A TCP connect alone proves
// nothing: qemu's hostfwd accepts connections even while nothing listens in the guest.
func (v *VM) WaitSSH(ctx context.Context) error {
	var last error
	for {
		if last = probeSSH(ctx, v.SSHAddr()); last == nil && v.Running() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for ssh on %s: %w (last attempt: %v)", v.SSHAddr(), ctx.Err(), last)
		case <-v.done:
			return fmt.Errorf("wait for ssh on %s: qemu exited: %s", v.SSHAddr(), v.QemuLog())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func probeSSH(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline) //nolint:errcheck
	line, err := bufio.NewReader(conn).ReadString('\n')
	if strings.HasPrefix(line, "SSH-2.0") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read ssh banner: %w", err)
	}
	return fmt.Errorf("unexpected banner %q", line)
}

var (
	volumeIDRE = regexp.MustCompile(`^[0-9A-F]{4}-[0-9A-F]{4}$`)
	uuidRE     = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// makeDisk creates and formats d in dir unless it exists, and returns its path.
func makeDisk(img *Image, dir string, d Disk) (string, error) {
	if d.Name == "" || d.Name != filepath.Base(d.Name) || d.Name == "disk.qcow2" {
		return "", fmt.Errorf("disk name %q: want a plain file name", d.Name)
	}
	path := filepath.Join(dir, d.Name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if d.SizeMB < 1 {
		return "", fmt.Errorf("disk %s: size %d MB", d.Name, d.SizeMB)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	if err := os.Truncate(tmp, int64(d.SizeMB)<<20); err != nil {
		return "", err
	}
	var mk []string
	switch d.FSType {
	case "vfat":
		if !volumeIDRE.MatchString(d.UUID) {
			return "", fmt.Errorf("disk %s: vfat volume id %q: want XXXX-XXXX in upper-case hex", d.Name, d.UUID)
		}
		mk = []string{"mkfs.vfat", "-F", "32", "-i", strings.ReplaceAll(d.UUID, "-", ""), "-n", "ESP", tmp}
		if d.Boot {
			return "", fmt.Errorf("disk %s: Boot needs ext4", d.Name)
		}
	case "ext4":
		if !uuidRE.MatchString(d.UUID) {
			return "", fmt.Errorf("disk %s: ext4 UUID %q: want a lower-case UUID", d.Name, d.UUID)
		}
		mk = []string{"mkfs.ext4", "-q", "-U", d.UUID, "-L", strings.TrimSuffix(d.Name, filepath.Ext(d.Name)), tmp}
		if d.Boot {
			content, err := os.MkdirTemp(dir, ".boot-")
			if err != nil {
				return "", err
			}
			defer os.RemoveAll(content)
			for _, f := range []string{img.Kernel, img.Initrd} {
				b, err := os.ReadFile(f)
				if err != nil {
					return "", err
				}
				if err := os.WriteFile(filepath.Join(content, filepath.Base(f)), b, 0o644); err != nil {
					return "", err
				}
			}
			mk = append(mk[:len(mk)-1], "-d", content, tmp)
		}
	default:
		return "", fmt.Errorf("disk %s: file system %q: want vfat or ext4", d.Name, d.FSType)
	}
	if b, err := exec.Command(mk[0], mk[1:]...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("disk %s: %s: %w: %s", d.Name, mk[0], err, strings.TrimSpace(string(b)))
	}
	return path, os.Rename(tmp, path)
}

// guestfwd renders f as a qemu user-network guestfwd rule: qemu starts the command for each
// guest connection with the connection on its stdin and stdout.
func guestfwd(f Forward) (string, error) {
	gh, gp, err := net.SplitHostPort(f.Guest)
	if ip := net.ParseIP(gh); err != nil || ip == nil || !ip.To4().Mask(net.CIDRMask(24, 32)).Equal(net.IPv4(10, 0, 2, 0)) {
		return "", fmt.Errorf("forward %q: the guest side must be an address:port in 10.0.2.0/24", f.Guest)
	}
	hh, hp, err := net.SplitHostPort(f.Host)
	if ip := net.ParseIP(hh); err != nil || ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("forward %q: the host side must be a loopback address:port", f.Host)
	}
	if _, err := exec.LookPath("socat"); err != nil {
		return "", fmt.Errorf("forward to %s: socat relays guest connections: %w (apt-get install socat)", f.Host, err)
	}
	return fmt.Sprintf("guestfwd=tcp:%s:%s-cmd:socat STDIO TCP:%s:%s", gh, gp, hh, hp), nil
}
