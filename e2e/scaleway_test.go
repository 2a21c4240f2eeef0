package e2e

import (
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"bootstrap/bootstrap"
	"bootstrap/e2e/vmtest"
	"bootstrap/localcloud"
	"bootstrap/localcloud/qemu"
	"bootstrap/provider/scaleway"
)

const (
	cloudToken   = "0e7a45bb-6c1e-4c43-9a6b-3d2f3c1b9a10"
	cloudProject = "6a0e2c1d-3b4f-4a5e-8d7c-9b0a1f2e3d4c"
)

// newCloud starts the local Scaleway API on 127.0.0.1 with flexible IPs
// from first..last; withVMs boots a real VM per powered-on server, which
// reaches the returned nixos.org stand-in. It points e at it the way the scw
// CLI is pointed: SCW_* variables, no config file.
func newCloud(t *testing.T, e *env, first, last string, withVMs bool) (*localcloud.Cloud, *rig) {
	t.Helper()
	opts := localcloud.Options{
		Token:     cloudToken,
		Addresses: localcloud.AddressRange(netip.MustParseAddr(first), netip.MustParseAddr(last)),
	}
	var vms *localcloud.VMMachines
	var r *rig
	if withVMs {
		vmtest.Require(t)
		realScript(t)
		r = newRig(t)
		vms = &localcloud.VMMachines{WorkDir: t.TempDir(), MemoryMB: bigVM, Forwards: []qemu.Forward{r.fwd}}
		opts.Machines = vms
	}
	c := localcloud.New(opts)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() {
		srv.Close()
		c.Close()
		if vms != nil {
			vms.Close()
		}
	})
	e.extra = append(e.extra,
		"SCW_API_URL="+srv.URL,
		"SCW_ACCESS_KEY=SCWLOCALCLOUD0000000",
		"SCW_SECRET_KEY="+cloudToken,
		"SCW_DEFAULT_PROJECT_ID="+cloudProject,
		"SCW_DEFAULT_ZONE=fr-par-1",
		"SCW_CONFIG_PATH="+filepath.Join(e.home, "no-scw-config.yaml"),
	)
	return c, r
}

func scalewayArgs(name, channel string, extra ...string) []string {
	return append([]string{"scaleway", name, "--channel", channel, "--type", "DEV1-S", "--zone", "fr-par-1",
		"--infect-env", "NIX_INSTALL_URL=" + installURL, "--infect-env", "NO_SWAP=1", "--yes"}, extra...)
}

func assertNothingLeft(t *testing.T, c *localcloud.Cloud) {
	t.Helper()
	if inv := c.Resources(); !inv.Empty() {
		t.Errorf("resources left in the local cloud: %s", inv)
	}
}

func TestScalewayToNixOSThrough429sThenDestroy(t *testing.T) {
	parallelVMs(t)
	e := newEnv(t)
	c, rg := newCloud(t, e, "127.0.0.100", "127.0.0.104", true)
	ctx := ctxFor(t, 20*time.Minute)
	// A 429 storm during the create and during the wait for "running".
	for _, f := range []localcloud.Fault{
		{Kind: localcloud.FaultStatus, Status: 429, Method: "POST", Path: "/instance/v1/zones/*/ips", Count: 3},
		{Kind: localcloud.FaultStatus, Status: 429, Method: "POST", Path: "/instance/v1/zones/*/servers", Count: 3},
		{Kind: localcloud.FaultStatus, Status: 429, Method: "GET", Path: "/instance/v1/zones/*/servers/*", Count: 6},
	} {
		if err := c.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
	r := e.run(ctx, scalewayArgs("demo-1", "nixos-24.11")...)
	if r.code != 0 {
		t.Fatalf("bootstrap scaleway: got %s", r)
	}
	inv := c.Resources()
	if len(inv.Servers) != 1 || len(inv.IPs) != 1 {
		t.Fatalf("got %s, want exactly one server and one IP", inv)
	}
	rec := e.record("demo-1")
	if made := scalewayRecord(t, rec); made == nil || made.ServerID == "" || made.IPID == "" || len(made.VolumeIDs) != 1 {
		t.Fatalf("got scaleway record %+v, want server, IP and root volume ids", made)
	}
	// No trust on first use: the pinned key is the one we generated, and its
	// private half is gone from the workspace.
	if _, err := os.Stat(filepath.Join(e.ws, "hosts", "demo-1", "ssh_host_ed25519_key")); err == nil {
		t.Error("the generated host key is still in the workspace after the first connection")
	}
	// ... nor in the cloud: the user data that carried it is deleted.
	if ud := inv.Servers[0].UserData; len(ud) != 0 {
		t.Errorf("got user data %q on the server after the first connection, want none: it holds the host private key", ud)
	}
	h := &host{addr: rec.Address, rig: rg}
	assertNixOS(t, e, h, "demo-1", "nixos-24.11")

	// A staging copy: same provider, type, zone and image by default.
	r = e.run(ctx, "clone", "demo-1", "demo-1-staging", "--follow-channel", "--infect-env", "NIX_INSTALL_URL="+installURL, "--infect-env", "NO_SWAP=1", "--yes")
	if r.code != 0 {
		t.Fatalf("clone: got %s", r)
	}
	staging := e.record("demo-1-staging")
	if made := scalewayRecord(t, staging); made == nil || made.CommercialType != "DEV1-S" || made.Zone != "fr-par-1" || staging.CloneOf != "demo-1" {
		t.Errorf("got clone record %+v (clone of %q), want a DEV1-S in fr-par-1 cloned from demo-1", made, staging.CloneOf)
	}
	assertNixOS(t, e, &host{addr: staging.Address, rig: rg}, "demo-1-staging", "nixos-24.11")
	if inv := c.Resources(); len(inv.Servers) != 2 {
		t.Errorf("got %s, want two servers", inv)
	}

	for _, name := range []string{"demo-1", "demo-1-staging"} {
		r = e.run(ctx, "destroy", name, "--yes")
		if r.code != 0 || !strings.Contains(r.stdout, "destroyed "+name) {
			t.Fatalf("destroy %s: got %s", name, r)
		}
	}
	assertNothingLeft(t, c)
	if kh := readFileOr(filepath.Join(e.ws, "known_hosts")); strings.Contains(kh, rec.Address+" ") {
		t.Errorf("known_hosts still pins %s after destroy:\n%s", rec.Address, kh)
	}
	// Destroy is idempotent: without state.json it looks the host up by its tags.
	if r = e.run(ctx, "destroy", "demo-1", "--yes"); r.code != 0 || !strings.Contains(r.stdout, "demo-1: nothing left in fr-par-1") {
		t.Errorf("second destroy: got %s, want exit 0 saying nothing is left", r)
	}
}

// TestScalewayLostCreateResponseAndInterrupt: the server create's answer is lost and the run
// is interrupted (Ctrl-C) once the server exists: it exits 130 saying what is billed, the
// server was adopted, not created twice, and destroy leaves nothing. (The resume of such a run
// to NixOS is TestFaultMatrixVM's; this one needs no VM.)
func TestScalewayLostCreateResponseAndInterrupt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _ := newCloud(t, e, "127.0.0.105", "127.0.0.109", false)
	ctx := ctxFor(t, 10*time.Minute)
	// The server is created but the answer is lost: it must be adopted, not duplicated.
	if err := c.InjectFault(localcloud.Fault{Kind: localcloud.FaultLostResponse, Method: "POST", Path: "/instance/v1/zones/*/servers", Count: 1}); err != nil {
		t.Fatal(err)
	}
	// Ctrl-C once the server exists.
	cmd := e.command(ctx, scalewayArgs("stage-1", "nixos-20.09")...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(e.ws, "hosts", "stage-1", "state.json")
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(readFileOr(statePath), `"server_id"`) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 || !strings.Contains(out.String(), "billed") || !strings.Contains(out.String(), "bootstrap destroy stage-1") {
		t.Fatalf("interrupt: got %v\n%s\nwant exit 130 saying what exists and is billed, and how to destroy it", err, out.String())
	}
	if inv := c.Resources(); len(inv.Servers) != 1 || len(inv.IPs) != 1 {
		t.Fatalf("got %s, want exactly one server and one IP (the lost create adopted)", inv)
	}
	if r := e.run(ctx, "destroy", "stage-1", "--yes"); r.code != 0 {
		t.Fatalf("destroy: got %s", r)
	}
	assertNothingLeft(t, c)
}

func TestScalewayStuckServerTimesOutThenDestroy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _ := newCloud(t, e, "127.0.0.110", "127.0.0.114", false)
	ctx := ctxFor(t, 5*time.Minute)
	if err := c.InjectFault(localcloud.Fault{Kind: localcloud.FaultStuckStarting, Method: "POST", Path: "/instance/v1/zones/*/servers/*/action", Count: -1}); err != nil {
		t.Fatal(err)
	}
	r := e.run(ctx, scalewayArgs("stuck-1", "nixos-24.11", "--timeout", "20s")...)
	if r.code == 0 || !strings.Contains(r.stderr, "billed") || !strings.Contains(r.stderr, "bootstrap destroy stuck-1") {
		t.Fatalf("got %s, want a failure naming what is billed and how to destroy it", r)
	}
	if inv := c.Resources(); len(inv.Servers) != 1 {
		t.Fatalf("got %s, want the stuck server", inv)
	}
	c.ClearFaults() // the provider gets the server unstuck
	if r = e.run(ctx, "destroy", "stuck-1", "--yes"); r.code != 0 {
		t.Fatalf("destroy: got %s", r)
	}
	assertNothingLeft(t, c)
}

func TestScalewayBadInputsCreateNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, _ := newCloud(t, e, "127.0.0.115", "127.0.0.119", false)
	ctx := ctxFor(t, 2*time.Minute)
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"unknown type", scalewayArgs("bad-1", "nixos-24.11", "--type", "NOPE-XL"), nil, "NOPE-XL"},
		{"unknown image", scalewayArgs("bad-1", "nixos-24.11", "--image", "windows_11"), nil, "windows_11"},
		{"unknown zone", scalewayArgs("bad-1", "nixos-24.11", "--zone", "xx-nowhere-9"), nil, "xx-nowhere-9"},
		{"bad channel", scalewayArgs("bad-1", "nixos-24.12"), nil, "nixos-24.12"},
		{"bad name", scalewayArgs("Bad_Name", "nixos-24.11"), nil, "invalid name"},
		{"missing secret key", scalewayArgs("bad-1", "nixos-24.11"), []string{"SCW_SECRET_KEY="}, "SCW_SECRET_KEY"},
		{"malformed access key", scalewayArgs("bad-1", "nixos-24.11"), []string{"SCW_ACCESS_KEY=nope"}, "SCW_ACCESS_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := e.extra
			e.extra = append(append([]string(nil), e.extra...), tt.env...)
			r := e.run(ctx, tt.args...)
			e.extra = saved
			if r.code != 2 || !strings.Contains(r.stderr, tt.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("got %s, want exit 2 and one line mentioning %q", r, tt.want)
			}
		})
	}
	for _, req := range c.Requests() {
		if req.Method != "GET" {
			t.Errorf("got a %s %s during bad-input runs, want only reads", req.Method, req.Path)
		}
	}
	assertNothingLeft(t, c)
}

// scalewayRecord is the scaleway provider's part of a host's record (nil: none).
func scalewayRecord(t *testing.T, rec *bootstrap.Record) *scaleway.Record {
	t.Helper()
	made, _, err := scaleway.LoadRecord(rec.Machine)
	if err != nil {
		t.Fatal(err)
	}
	return made
}
