// Package e2e drives the real bootstrap binary against real Debian VMs under
// qemu, with real OpenSSH, real reboots and the real pinned nixos-infect
// script. Only what needs the internet is stood in for, by the local cloud's
// nixos.org stand-in (package localcloud/nixorg): Nix's installer, the
// channels, and the build of the system; and the parts of NixOS's first boot
// a Debian VM can emulate (stage-1 lustration, activation).
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var binary string // the bootstrap binary under test

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
	return m.Run()
}
