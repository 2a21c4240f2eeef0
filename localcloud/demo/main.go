// Command demo runs the main job end to end on the built-in local cloud: it
// starts the local Scaleway API (servers boot as real qemu VMs on loopback)
// and the local nixos.org stand-in the VMs reach, then runs the real
// bootstrap binary with the real pinned nixos-infect: `bootstrap scaleway
// demo-1 ...`, `bootstrap status` and `bootstrap destroy demo-1`, and checks
// that nothing is left.
//
// The script comes from the pin as the tool fetches it: the demo's own cache
// is filled from the operator's cache or the project's shared fixture when
// either has the pinned bytes, else the tool downloads it.
//
// Usage: go run ./localcloud/demo [-bootstrap bin/bootstrap] [-workspace DIR] [-keep]
//
// It imports localcloud, its qemu runner and nixos.org stand-in, and infect for the pin;
// nothing from e2e/.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"bootstrap/infect"
	"bootstrap/localcloud"
	"bootstrap/localcloud/nixorg"
	"bootstrap/localcloud/qemu"
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
	rig := nixorg.New(&nixorg.Evaluator{}, time.Now())
	rigLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	rigSrv := &http.Server{Handler: rig.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go rigSrv.Serve(rigLn) //nolint:errcheck // ends with Close
	defer rigSrv.Close()
	vms := &localcloud.VMMachines{Log: os.Stderr, MemoryMB: 1536, Forwards: []qemu.Forward{{Guest: nixorg.GuestAddr, Host: rigLn.Addr().String()}}}
	defer vms.Close()
	cloud := localcloud.New(localcloud.Options{
		Token:     token,
		Addresses: localcloud.AddressRange(netip.MustParseAddr("127.0.0.150"), netip.MustParseAddr("127.0.0.159")),
		Machines:  vms,
	})
	defer cloud.Close()
	api := httptest.NewServer(cloud.Handler())
	defer api.Close()
	cache := filepath.Join(*wsDir, ".cache")
	from := seedCache(cache)
	fmt.Printf("    SCW_API_URL=%s; the VMs' nixos.org is the local stand-in on %s\n    nixos-infect %s: %s\n    workspace: %s\n",
		api.URL, rigLn.Addr(), infect.Pinned.SHA256[:8], from, *wsDir)

	env := append(os.Environ(),
		"SCW_API_URL="+api.URL,
		"SCW_ACCESS_KEY=SCWLOCALCLOUD0000000",
		"SCW_SECRET_KEY="+token,
		"SCW_DEFAULT_PROJECT_ID="+project,
		"SCW_DEFAULT_ZONE=fr-par-1",
		"SCW_CONFIG_PATH="+filepath.Join(*wsDir, ".no-scw-config.yaml"),
		"XDG_CACHE_HOME="+cache,
	)
	bootstrap := func(args ...string) error {
		args = append(args, "--workspace", *wsDir)
		fmt.Printf("\n==> bootstrap %s\n", join(args))
		cmd := exec.CommandContext(ctx, abs, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, os.Stdout, os.Stderr
		return cmd.Run()
	}
	if err := bootstrap("scaleway", "demo-1", "--channel", *channel, "--type", "DEV1-S", "--zone", "fr-par-1",
		"--infect-env", "NIX_INSTALL_URL="+nixorg.GuestURL+"/nix/install", "--infect-env", "NO_SWAP=1", "--yes"); err != nil {
		fmt.Println("\n==> the run failed; destroying what it created")
		bootstrap("destroy", "demo-1", "--yes")
		return fmt.Errorf("bootstrap scaleway: %w", err)
	}
	if err := bootstrap("status"); err != nil {
		return err
	}
	if *keep {
		fmt.Printf("\n==> demo-1 runs; log in with:\n    cd %s && ssh -i keys/demo-1_ed25519 -o IdentitiesOnly=yes -o UserKnownHostsFile=known_hosts root@127.0.0.150\n    Ctrl-C destroys it.\n", *wsDir)
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

// seedCache puts the pinned nixos-infect into the demo's script cache from the operator's
// cache or the project's shared fixture, when one of them has the pinned bytes, and says
// where it came from.
func seedCache(cache string) string {
	want := infect.Pinned.SHA256
	var candidates []string
	if dir, err := os.UserCacheDir(); err == nil {
		candidates = append(candidates, filepath.Join(dir, "bootstrap", "nixos-infect", want))
	}
	commit := path.Base(path.Dir(infect.Pinned.URL))
	candidates = append(candidates, filepath.Join("..", "shared", "fixtures", "nixos-infect", "nixos-infect-"+commit))
	for _, c := range candidates {
		b, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
			continue
		}
		dir := filepath.Join(cache, "bootstrap", "nixos-infect")
		if os.MkdirAll(dir, 0o755) == nil && os.WriteFile(filepath.Join(dir, want), b, 0o644) == nil {
			return "the pinned bytes, from " + c
		}
	}
	return "fetched by bootstrap from " + infect.Pinned.URL
}
