// Package vmtest boots qemu VMs (package localcloud/qemu) inside tests and drives them over
// plain SSH, independently of the product's own SSH layer.
package vmtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"bootstrap/localcloud/qemu"
)

// Require skips t when qemu-system-x86_64 or debootstrap is missing, unless
// BOOTSTRAP_E2E_REQUIRE=1, in which case it fails t instead. Other missing tools (qemu-img,
// cloud-localds, mkfs.ext4) are errors from EnsureImage or Start, not reasons to skip.
//
// With -short (make unit) it always skips: VM tests belong to make e2e.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("real-VM test: skipped with -short (run make e2e)")
	}
	var missing []string
	for _, tool := range []string{"qemu-system-x86_64", "debootstrap"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("BOOTSTRAP_E2E_REQUIRE") == "1" {
		t.Fatalf("BOOTSTRAP_E2E_REQUIRE=1 but missing %v", missing)
	}
	t.Skipf("real-VM test needs %v (set BOOTSTRAP_E2E_REQUIRE=1 to fail instead)", missing)
}

// Boot is the usual test setup: Require, EnsureImage (default cache), Start with cfg (Dir
// defaults to a t.TempDir), and a cleanup that stops the VM and, if t failed, logs the tail of
// its console. It does not wait for SSH.
func Boot(t testing.TB, ctx context.Context, cfg qemu.Config) *qemu.VM {
	t.Helper()
	Require(t)
	start := time.Now()
	img, err := qemu.EnsureImage(ctx, "", &testLog{t: t})
	if err != nil {
		t.Fatalf("ensure image: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Logf("image ready after %s", d.Round(time.Second))
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	v, err := qemu.Start(img, cfg)
	if err != nil {
		t.Fatalf("start vm: %v", err)
	}
	t.Cleanup(func() {
		v.Stop()
		if t.Failed() {
			t.Logf("console of %s (last 80 lines):\n%s", v.Addr(), v.ConsoleTail(80))
			if l := v.QemuLog(); l != "" {
				t.Logf("qemu log of %s:\n%s", v.Addr(), l)
			}
		}
	})
	return v
}

// testLog adapts t.Log to an io.Writer, one call per line.
type testLog struct {
	t   testing.TB
	mu  sync.Mutex
	buf []byte
}

func (w *testLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}
