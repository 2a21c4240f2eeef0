package scaleway

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"bootstrap/localcloud"
	"bootstrap/provider"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
)

// newMachine is a Scaleway machine for web-1 on a local cloud whose
// servers boot at once.
func newMachine(t *testing.T) (*env, *Machine) {
	t.Helper()
	e := newEnv(t, localcloud.Options{Machines: localcloud.NoopMachines{BootDelay: 10 * time.Millisecond}})
	spec := testSpec(t, "web-1")
	spec.HostKey = nil
	return e, &Machine{Provider: e.p, Spec: spec, KeyFile: filepath.Join(t.TempDir(), "ssh_host_ed25519_key")}
}

// The machine record (zone, project, tags) is in state.json before the
// first create is sent: a run killed at any instant leaves nothing that
// destroy cannot find.
func TestRecordBeforeCreate(t *testing.T) {
	e, m := newMachine(t)
	var rec provider.Record
	var first *Record
	run := &provider.Run{Record: &rec, Save: func() error {
		if first == nil {
			if n := e.count("POST", "/ips") + e.count("POST", "/servers"); n != 0 {
				t.Errorf("first save after %d creates, want before any", n)
			}
			first, _, _ = LoadRecord(rec)
		}
		return nil
	}}
	if _, err := m.Provision(context.Background(), run); err != nil {
		t.Fatalf("provision: %v", err)
	}
	want := identityTags(testWorkspace, "web-1")
	if first == nil || first.Zone != "fr-par-1" || !slices.Equal(first.Tags, want) || first.IPID != "" {
		t.Errorf("first save: got %+v, want zone fr-par-1 and tags %q, no ids yet", first, want)
	}
}

// The cloud-init user data holding the host private key is deleted once
// the first connection is recorded, and a later run deletes it if an
// earlier one stopped before it did.
func TestUserDataDeletedOnceConnected(t *testing.T) {
	e, m := newMachine(t)
	var rec provider.Record
	run := &provider.Run{Record: &rec, Save: func() error { return nil }}
	if _, err := m.Provision(context.Background(), run); err != nil {
		t.Fatalf("provision: %v", err)
	}
	userData := func() []string { return e.cloud.Resources().Servers[0].UserData }
	if got := userData(); !slices.Equal(got, []string{"cloud-init"}) {
		t.Fatalf("before connecting: got user data %q, want cloud-init", got)
	}
	if err := m.Connected(context.Background()); err != nil {
		t.Fatalf("connected: %v", err)
	}
	if got := userData(); len(got) != 0 {
		t.Errorf("after connecting: got user data %q, want none: it holds the host private key", got)
	}
	if err := m.Connected(context.Background()); err != nil {
		t.Errorf("connected again (already gone): %v", err)
	}

	// Resume-safe: a run that stopped after connecting, before deleting.
	made, _, _ := LoadRecord(rec)
	if err := instance.NewAPI(e.client).SetServerUserData(&instance.SetServerUserDataRequest{
		Zone: "fr-par-1", ServerID: made.ServerID, Key: "cloud-init", Content: strings.NewReader("#cloud-config\n"),
	}); err != nil {
		t.Fatal(err)
	}
	again := &Machine{Provider: e.p, Spec: m.Spec, KeyFile: m.KeyFile}
	run.Connected = true
	if _, err := again.Provision(context.Background(), run); err != nil {
		t.Fatalf("provision after connecting: %v", err)
	}
	if got := userData(); len(got) != 0 {
		t.Errorf("resumed: got user data %q, want none", got)
	}
}

// A create whose answer is lost and which the API carries out late, then
// lists late, is adopted: no duplicate, no orphan.
func TestLateCommitAndListLagAdopted(t *testing.T) {
	for _, path := range []string{"/instance/v1/zones/*/ips", "/instance/v1/zones/*/servers"} {
		t.Run(path, func(t *testing.T) {
			e := newEnv(t, localcloud.Options{ListLag: 150 * time.Millisecond})
			e.p.AdoptWait = 3 * time.Second
			if err := e.cloud.InjectFault(localcloud.Fault{Kind: localcloud.FaultLostResponse, Method: "POST", Path: path, Respond504: true,
				CommitDelay: 200 * time.Millisecond, ListLag: 400 * time.Millisecond}); err != nil {
				t.Fatal(err)
			}
			var s saves
			var res Resources
			if err := e.p.Create(context.Background(), testSpec(t, "web-1"), &res, s.save); err != nil {
				t.Fatalf("create: %v", err)
			}
			inv := e.cloud.Resources()
			if len(inv.Servers) != 1 || len(inv.IPs) != 1 || inv.Servers[0].ID != res.ServerID || inv.IPs[0].ID != res.IPID {
				t.Errorf("got %s, want exactly the recorded server and IP", inv)
			}
			if n := e.count("POST", path[strings.LastIndex(path, "/"):]); n != 1 {
				t.Errorf("POSTs: got %d, want 1 (adopted, never sent again)", n)
			}
			if err := e.p.Destroy(context.Background(), res); err != nil {
				t.Fatal(err)
			}
			e.requireEmpty(t)
		})
	}
}

// A run killed with a create in flight (recorded as pending): the next one
// waits for the API's lists before creating again.
func TestKilledInFlightAdoptedDespiteListLag(t *testing.T) {
	e := newEnv(t, localcloud.Options{ListLag: 300 * time.Millisecond})
	e.p.AdoptWait = 3 * time.Second
	ip := e.makeIP(t) // the create the killed run sent; lists show it later
	res := Resources{Zone: "fr-par-1", Pending: pendingIP}
	var s saves
	if err := e.p.Create(context.Background(), testSpec(t, "web-1"), &res, s.save); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if res.IPID != ip.ID {
		t.Errorf("got IP %s, want the one in flight, %s", res.IPID, ip.ID)
	}
	if inv := e.cloud.Resources(); len(inv.IPs) != 1 {
		t.Errorf("got %s, want one IP", inv)
	}
	if err := e.p.Destroy(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	e.requireEmpty(t)
}

// Destroy polls through the API's busy answers (transient_state,
// resource_still_in_use), not only 400s.
func TestDestroyPollsThroughTransientStates(t *testing.T) {
	e := newEnv(t, localcloud.Options{})
	ip := e.makeIP(t)
	srv := e.makeServer(t, ip.ID)
	for _, f := range []localcloud.Fault{
		{Kind: localcloud.FaultStatus, Status: 409, Method: "DELETE", Path: "/instance/v1/zones/*/servers/*", Count: 3},
		{Kind: localcloud.FaultStatus, Status: 412, Method: "DELETE", Path: "/instance/v1/zones/*/ips/*", Count: 3},
		{Kind: localcloud.FaultStatus, Status: 409, Method: "DELETE", Path: "/block/v1alpha1/zones/*/volumes/*", Count: 2},
	} {
		if err := e.cloud.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
	res := Resources{Zone: "fr-par-1", IPID: ip.ID, ServerID: srv.ID, VolumeIDs: sbsVolumes(srv)}
	if err := e.p.Destroy(context.Background(), res); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	e.requireEmpty(t)
}

// Every deletion is attempted: the IP is released although the volume
// cannot be deleted, and the error says what is still there.
func TestDestroyAttemptsEverything(t *testing.T) {
	e := newEnv(t, localcloud.Options{})
	ip := e.makeIP(t)
	srv := e.makeServer(t, ip.ID)
	if err := e.cloud.InjectFault(localcloud.Fault{Kind: localcloud.FaultStatus, Status: 403, Method: "DELETE", Path: "/block/v1alpha1/zones/*/volumes/*", Count: -1}); err != nil {
		t.Fatal(err)
	}
	res := Resources{Zone: "fr-par-1", IPID: ip.ID, IPAddress: ip.Address.String(), ServerID: srv.ID, VolumeIDs: sbsVolumes(srv)}
	err := e.p.Destroy(context.Background(), res)
	var de *DestroyError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "SBS volume "+res.VolumeIDs[0]) || len(de.Left.IPIDs) != 0 {
		t.Fatalf("destroy: got %v, want an error leaving only the volume", err)
	}
	inv := e.cloud.Resources()
	if len(inv.IPs) != 0 || len(inv.Servers) != 0 || len(inv.Volumes) != 1 {
		t.Errorf("got %s, want the IP released and the server deleted, only the volume left", inv)
	}
	e.cloud.ClearFaults()
	if err := e.p.Destroy(context.Background(), res); err != nil {
		t.Fatalf("destroy again: %v", err)
	}
	e.requireEmpty(t)
}
