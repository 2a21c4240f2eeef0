// Package e2e drives the real bootstrap binary against real Debian VMs under
// qemu, with real OpenSSH and real reboots. nixos-infect itself cannot run
// here (no internet), so a stand-in with the same interface is served over
// local HTTP and passed with --infect-url/--infect-sha256; the product does
// not know the difference.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"bootstrap/localcloud/standin"
)

var (
	binary    string // the bootstrap binary under test
	infectURL string // the stand-in, served on 127.0.0.1
	infectSHA string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "bootstrap-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-o", binary, "./cmd/bootstrap")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build bootstrap:", err)
		return 1
	}
	srv, url, sha := standin.NewServer()
	defer srv.Close()
	infectURL, infectSHA = url, sha
	return m.Run()
}
