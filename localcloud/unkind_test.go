package localcloud

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// A lost answer whose request is carried out later: the client sees the
// error, then the resource appears.
func TestLostResponseCommitsLate(t *testing.T) {
	f := newFixture(t, Options{})
	if err := f.cloud.InjectFault(Fault{Kind: FaultLostResponse, Method: "POST", Path: "/instance/v1/zones/*/ips", Respond504: true, CommitDelay: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.inst.CreateIP(&instance.CreateIPRequest{Tags: []string{"late"}}); !isStatus(err, 504) {
		t.Fatalf("create: got %v, want a 504", err)
	}
	if inv := f.cloud.Resources(); len(inv.IPs) != 0 {
		t.Errorf("right after the error: got %s, want nothing yet", inv)
	}
	deadline := time.Now().Add(3 * time.Second)
	for len(f.cloud.Resources().IPs) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if inv := f.cloud.Resources(); len(inv.IPs) != 1 || inv.IPs[0].Tags[0] != "late" {
		t.Errorf("after the commit delay: got %s, want the IP", inv)
	}
}

// Lists lag behind creates; a GET by id does not.
func TestListsLagBehindCreates(t *testing.T) {
	f := newFixture(t, Options{ListLag: 300 * time.Millisecond})
	created, err := f.inst.CreateIP(&instance.CreateIPRequest{Tags: []string{"lagging"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.inst.GetIP(&instance.GetIPRequest{IP: created.IP.ID}); err != nil {
		t.Errorf("get by id at once: %v", err)
	}
	list := func() int {
		resp, err := f.inst.ListIPs(&instance.ListIPsRequest{Tags: []string{"lagging"}})
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.IPs)
	}
	if n := list(); n != 0 {
		t.Errorf("list at once: got %d IPs, want 0 (the list lags)", n)
	}
	time.Sleep(400 * time.Millisecond)
	if n := list(); n != 1 {
		t.Errorf("list after the lag: got %d IPs, want 1", n)
	}

	// A fault's lag applies to the request it matches only.
	g := newFixture(t, Options{})
	if err := g.cloud.InjectFault(Fault{Kind: FaultDelay, Delay: time.Millisecond, Method: "POST", Path: "/instance/v1/zones/*/servers", ListLag: time.Hour}); err != nil {
		t.Fatal(err)
	}
	_, srv := g.newServer(t, "hidden-1")
	_, other := g.newServer(t, "shown-1")
	resp, err := g.inst.ListServers(&instance.ListServersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Servers) != 1 || resp.Servers[0].ID != other.ID {
		t.Errorf("got %d servers listed, want only %s (not %s, created with the lag)", len(resp.Servers), other.ID, srv.ID)
	}
}

// Transient-state faults carry the real bodies, so the SDK types them.
func TestTransientStateBodies(t *testing.T) {
	f := newFixture(t, Options{})
	_, srv := f.newServer(t, "busy-1")
	if err := f.cloud.InjectFault(Fault{Kind: FaultStatus, Status: 409, Method: "DELETE", Path: "/instance/v1/zones/*/servers/*"}); err != nil {
		t.Fatal(err)
	}
	err := f.inst.DeleteServer(&instance.DeleteServerRequest{ServerID: srv.ID})
	var ts *scw.TransientStateError
	if !errors.As(err, &ts) || ts.Resource != "instance_server" || ts.ResourceID != srv.ID {
		t.Errorf("409: got %v, want a TransientStateError for instance_server %s", err, srv.ID)
	}
	if err := f.cloud.InjectFault(Fault{Kind: FaultStatus, Status: 412, Method: "DELETE", Path: "/instance/v1/zones/*/ips/*"}); err != nil {
		t.Fatal(err)
	}
	if err := f.inst.DeleteIP(&instance.DeleteIPRequest{IP: srv.PublicIPs[0].ID}); !isPrecondition(err) {
		t.Errorf("412: got %v, want a precondition_failed resource_still_in_use", err)
	}
}

// User data can be deleted, and the inventory shows what a server holds.
func TestUserDataDeleted(t *testing.T) {
	f := newFixture(t, Options{})
	_, srv := f.newServer(t, "ud-1")
	if err := f.inst.SetServerUserData(&instance.SetServerUserDataRequest{ServerID: srv.ID, Key: "cloud-init", Content: strings.NewReader("#cloud-config\n")}); err != nil {
		t.Fatal(err)
	}
	if got := f.cloud.Resources().Servers[0].UserData; !equal(got, []string{"cloud-init"}) {
		t.Errorf("inventory: got user data %q, want [cloud-init]", got)
	}
	if err := f.inst.DeleteServerUserData(&instance.DeleteServerUserDataRequest{ServerID: srv.ID, Key: "cloud-init"}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := f.cloud.Resources().Servers[0].UserData; len(got) != 0 {
		t.Errorf("inventory after delete: got user data %q, want none", got)
	}
	// As on the real API: a bare 404 with an empty text/plain body.
	_, err := f.inst.GetServerUserData(&instance.GetServerUserDataRequest{ServerID: srv.ID, Key: "cloud-init"})
	var nf *scw.ResourceNotFoundError
	if !isStatus(err, 404) || errors.As(err, &nf) {
		t.Errorf("get after delete: got %v, want a bare 404 response error", err)
	}
	if err := f.inst.DeleteServerUserData(&instance.DeleteServerUserDataRequest{ServerID: srv.ID, Key: "cloud-init"}); !isStatus(err, 404) {
		t.Errorf("delete again: got %v, want 404", err)
	}
}
