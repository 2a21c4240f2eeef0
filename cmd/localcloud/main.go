// Command localcloud serves a fake Scaleway API on loopback for the demo and
// the e2e tests: servers powered on through it boot as qemu VMs reachable at
// their "public" loopback address. It prints the environment that points
// the scw CLI, the SDK and bootstrap at it.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"bootstrap/localcloud"
)

// accessKey is a well-formed access key (SCW + 17 characters); the local
// cloud checks only the secret key.
const accessKey = "SCWLOCALCLOUD0000000"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localcloud:", err)
		os.Exit(1)
	}
}

func run() error {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to serve the API on (port 0: any free port)")
	token := flag.String("token", "", "secret key (UUID) the API accepts in X-Auth-Token (default: a random one)")
	project := flag.String("project", "6a0e2c1d-3b4f-4a5e-8d7c-9b0a1f2e3d4c", "project id to export as SCW_DEFAULT_PROJECT_ID")
	pool := flag.String("pool", "127.0.0.100-127.0.0.149", "loopback addresses for flexible IPs, FIRST-LAST")
	machines := flag.String("machines", "vm", `what powering a server on boots: "vm" (qemu, see bootstrap/localcloud/qemu) or "none"`)
	cache := flag.String("cache", "", "VM image cache directory (default: $BOOTSTRAP_E2E_CACHE or the user cache dir)")
	memory := flag.Int("memory", 0, "VM memory in MB (default: 1024)")
	detach := flag.Duration("detach-delay", 2*time.Second, "how long an SBS volume takes to detach from a deleted server")
	quiet := flag.Bool("quiet", false, "do not log requests")
	flag.Parse()

	if *token == "" {
		*token = randomUUID()
	}
	addresses, err := parsePool(*pool)
	if err != nil {
		return err
	}
	opts := localcloud.Options{Token: *token, Addresses: addresses, DetachDelay: *detach}
	if !*quiet {
		opts.Log = os.Stderr
	}
	var vms *localcloud.VMMachines
	switch *machines {
	case "vm":
		vms = &localcloud.VMMachines{CacheDir: *cache, MemoryMB: *memory, Log: os.Stderr}
		opts.Machines = vms
	case "none":
		opts.Machines = localcloud.NoopMachines{BootDelay: 2 * time.Second, StopDelay: time.Second}
	default:
		return fmt.Errorf("--machines %q: want vm or none", *machines)
	}

	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", *listen, err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen %q: want a loopback IP such as 127.0.0.1", *listen)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	cloud := localcloud.New(opts)

	fmt.Printf("# local Scaleway API; to use it:\n")
	fmt.Printf("export SCW_API_URL=http://%s\n", l.Addr())
	fmt.Printf("export SCW_ACCESS_KEY=%s\n", accessKey)
	fmt.Printf("export SCW_SECRET_KEY=%s\n", *token)
	fmt.Printf("export SCW_DEFAULT_PROJECT_ID=%s\n", *project)
	fmt.Printf("export SCW_DEFAULT_ZONE=fr-par-1\n")
	fmt.Printf("# live resources: curl -s http://%s/_localcloud/resources\n", l.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- cloud.Serve(l) }()
	select {
	case err = <-served:
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "localcloud: stopping")
	}
	errs := []error{err, cloud.Close()}
	if vms != nil {
		errs = append(errs, vms.Close())
	}
	if left := cloud.Resources(); !left.Empty() {
		fmt.Fprintf(os.Stderr, "localcloud: left behind:\n%s\n", left)
	}
	return errors.Join(errs...)
}

// parsePool parses "FIRST-LAST" or a single address.
func parsePool(s string) ([]netip.Addr, error) {
	first, last, _ := strings.Cut(s, "-")
	if last == "" {
		last = first
	}
	a, err := netip.ParseAddr(strings.TrimSpace(first))
	if err != nil {
		return nil, fmt.Errorf("--pool %q: %w", s, err)
	}
	b, err := netip.ParseAddr(strings.TrimSpace(last))
	if err != nil {
		return nil, fmt.Errorf("--pool %q: %w", s, err)
	}
	addrs := localcloud.AddressRange(a, b)
	if len(addrs) == 0 {
		return nil, fmt.Errorf("--pool %q: empty range", s)
	}
	for _, x := range addrs {
		if !x.Is4() || !x.IsLoopback() {
			return nil, fmt.Errorf("--pool %q: %s is not in 127.0.0.0/8", s, x)
		}
	}
	return addrs, nil
}

func randomUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
