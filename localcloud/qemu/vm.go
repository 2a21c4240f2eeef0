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
}

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
		// restrict=on: the guest reaches nothing outside; hostfwd rules still work.
		"-netdev", fmt.Sprintf("user,id=n0,restrict=on,hostfwd=tcp:%s:22-:22", cfg.Addr),
		"-device", "virtio-net-pci,netdev=n0",
		"-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0",
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
