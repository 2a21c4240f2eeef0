// Command demo runs the main job end to end on the built-in local cloud: it
// starts the local Scaleway API (servers boot as real qemu VMs on loopback),
// serves the nixos-infect stand-in over local HTTP, then runs the real
// bootstrap binary: `bootstrap scaleway demo-1 ...`, `bootstrap status` and
// `bootstrap destroy demo-1`, and checks that nothing is left.
//
// Usage: go run ./localcloud/demo [-bootstrap bin/bootstrap] [-workspace DIR] [-keep]
//
// It imports localcloud and its stand-in, nothing from e2e/.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"bootstrap/localcloud"
	"bootstrap/localcloud/standin"
)

const (
	token   = "0e7a45bb-6c1e-4c43-9a6b-3d2f3c1b9a10"
	project = "6a0e2c1d-3b4f-4a5e-8d7c-9b0a1f2e3d4c"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bootstrap", "bin/bootstrap", "the bootstrap binary")
	wsDir := flag.String("workspace", "", "workspace directory (default: a new temporary one, kept)")
	keep := flag.Bool("keep", false, "keep demo-1 running instead of destroying it (stop with Ctrl-C)")
	channel := flag.String("channel", "nixos-24.11", "NixOS channel")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *wsDir == "" {
		d, err := os.MkdirTemp("", "bootstrap-demo-")
		if err != nil {
			return err
		}
		*wsDir = d
	}
	abs, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}

	fmt.Println("==> starting the local cloud (a Scaleway API on loopback; servers boot as qemu VMs)")
	vms := &localcloud.VMMachines{Log: os.Stderr}
	defer vms.Close()
	cloud := localcloud.New(localcloud.Options{
		Token:     token,
		Addresses: localcloud.AddressRange(netip.MustParseAddr("127.0.0.150"), netip.MustParseAddr("127.0.0.159")),
		Machines:  vms,
	})
	defer cloud.Close()
	api := httptest.NewServer(cloud.Handler())
	defer api.Close()
	infect, url, sha := standin.NewServer()
	defer infect.Close()
	fmt.Printf("    SCW_API_URL=%s, nixos-infect stand-in at %s\n    workspace: %s\n", api.URL, url, *wsDir)

	env := append(os.Environ(),
		"SCW_API_URL="+api.URL,
		"SCW_ACCESS_KEY=SCWLOCALCLOUD0000000",
		"SCW_SECRET_KEY="+token,
		"SCW_DEFAULT_PROJECT_ID="+project,
		"SCW_DEFAULT_ZONE=fr-par-1",
		"SCW_CONFIG_PATH="+filepath.Join(*wsDir, ".no-scw-config.yaml"),
	)
	bootstrap := func(args ...string) error {
		args = append(args, "--workspace", *wsDir)
		fmt.Printf("\n==> bootstrap %s\n", join(args))
		cmd := exec.CommandContext(ctx, abs, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
		return cmd.Run()
	}
	if err := bootstrap("scaleway", "demo-1", "--channel", *channel, "--type", "DEV1-S", "--zone", "fr-par-1",
		"--infect-url", url, "--infect-sha256", sha, "--yes"); err != nil {
		fmt.Println("\n==> the run failed; destroying what it created")
		bootstrap("destroy", "demo-1", "--yes")
		return fmt.Errorf("bootstrap scaleway: %w", err)
	}
	if err := bootstrap("status"); err != nil {
		return err
	}
	if *keep {
		fmt.Printf("\n==> demo-1 runs; log in with:\n    cd %s && ssh -i keys/deploy_ed25519 -o IdentitiesOnly=yes -o UserKnownHostsFile=known_hosts root@127.0.0.150\n    Ctrl-C destroys it.\n", *wsDir)
		<-ctx.Done()
		ctx = context.Background()
	}
	if err := bootstrap("destroy", "demo-1", "--yes"); err != nil {
		return fmt.Errorf("bootstrap destroy: %w", err)
	}
	if inv := cloud.Resources(); !inv.Empty() {
		return fmt.Errorf("left in the local cloud: %s", inv)
	}
	fmt.Printf("\n==> done: nothing left in the local cloud; the workspace is in %s\n", *wsDir)
	return nil
}

func join(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}
