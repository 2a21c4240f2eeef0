package localcloud

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"bootstrap/localcloud/qemu"
)

// VMMachines boots each server as a qemu VM (package bootstrap/localcloud/qemu): the
// e2e Debian image, sshd forwarded to the server's loopback address port 22,
// cloud-init reading the server's "cloud-init" user data as its NoCloud
// seed (instance-id: the server id, so a power cycle does not re-run it).
// Each server gets a disk overlay of its own under WorkDir, kept across
// poweroff/poweron like a root volume; Close removes them.
type VMMachines struct {
	CacheDir string    // image cache; "" is qemu.EnsureImage's default
	WorkDir  string    // per-server VM directories; "" makes a temporary one
	MemoryMB int       // per VM; 0 is vm's default
	Log      io.Writer // image build progress and boot lines; nil: none
	// Forwards are loopback services every VM reaches from inside (qemu.Forward), such as
	// the local nixos.org stand-in (package localcloud/nixorg).
	Forwards []qemu.Forward

	mu      sync.Mutex
	img     *qemu.Image
	workDir string
	tempDir bool
}

// Boot implements Machines: it starts the VM and waits for its sshd.
func (m *VMMachines) Boot(ctx context.Context, s ServerInfo) (Machine, error) {
	if s.Address == "" {
		return nil, fmt.Errorf("boot %s: the server has no public IPv4 to forward SSH to", s.Name)
	}
	img, dir, err := m.prepare(ctx, s.ID)
	if err != nil {
		return nil, fmt.Errorf("boot %s: %w", s.Name, err)
	}
	var userData []byte
	if len(s.UserData) > 0 {
		userData = s.UserData
	}
	v, err := qemu.Start(img, qemu.Config{
		Addr:       s.Address,
		Dir:        dir,
		MemoryMB:   m.MemoryMB,
		UserData:   userData,
		InstanceID: s.ID,
		Hostname:   s.Name,
		Forwards:   m.Forwards,
	})
	if err != nil {
		return nil, fmt.Errorf("boot %s: %w", s.Name, err)
	}
	m.logf("booting %s (%s) at %s:22, disk in %s", s.Name, s.ID, s.Address, dir)
	if err := v.WaitSSH(ctx); err != nil {
		tail := v.ConsoleTail(20)
		_ = v.Stop()
		return nil, fmt.Errorf("boot %s: %w; console:\n%s", s.Name, err, tail)
	}
	m.logf("%s is up: ssh root@%s", s.Name, s.Address)
	return vmMachine{v}, nil
}

// prepare builds (or finds) the image once and returns the server's VM dir.
func (m *VMMachines) prepare(ctx context.Context, serverID string) (*qemu.Image, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.img == nil {
		img, err := qemu.EnsureImage(ctx, m.CacheDir, m.Log)
		if err != nil {
			return nil, "", err
		}
		m.img = img
	}
	if m.workDir == "" {
		if m.WorkDir != "" {
			m.workDir = m.WorkDir
		} else {
			dir, err := os.MkdirTemp("", "localcloud-vms-")
			if err != nil {
				return nil, "", err
			}
			m.workDir, m.tempDir = dir, true
		}
	}
	return m.img, filepath.Join(m.workDir, serverID), nil
}

// Close removes the VM directories (stop the Cloud first).
func (m *VMMachines) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.workDir == "" {
		return nil
	}
	var errs []error
	if m.tempDir {
		errs = append(errs, os.RemoveAll(m.workDir))
	} else {
		entries, err := os.ReadDir(m.workDir)
		errs = append(errs, err)
		for _, e := range entries {
			if isUUID(e.Name()) { // only what Boot created
				errs = append(errs, os.RemoveAll(filepath.Join(m.workDir, e.Name())))
			}
		}
	}
	m.workDir = ""
	return errors.Join(errs...)
}

func (m *VMMachines) logf(format string, args ...any) {
	if m.Log != nil {
		fmt.Fprintf(m.Log, "localcloud: "+format+"\n", args...)
	}
}

type vmMachine struct{ v *qemu.VM }

func (m vmMachine) Stop() error { return m.v.Stop() }
