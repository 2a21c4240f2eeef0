package scaleway

import (
	"context"
	"strings"
	"testing"
	"time"

	"bootstrap/localcloud"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// partial builds a state directly through the API, as a create interrupted
// at some step would leave it, and returns what the workspace recorded.
type partial func(t *testing.T, e *env) Resources

func TestDestroyEveryPartialState(t *testing.T) {
	ipOnly := func(t *testing.T, e *env) Resources {
		ip := e.makeIP(t)
		return Resources{Zone: "fr-par-1", IPID: ip.ID, IPAddress: ip.Address.String()}
	}
	stopped := func(t *testing.T, e *env) Resources {
		res := ipOnly(t, e)
		srv := e.makeServer(t, res.IPID)
		res.ServerID, res.VolumeIDs = srv.ID, sbsVolumes(srv)
		return res
	}
	tests := []struct {
		name  string
		build partial
	}{
		{"nothing", func(*testing.T, *env) Resources { return Resources{} }},
		{"IP only", ipOnly},
		{"IP and server stopped", stopped},
		{"IP and server stopped, volume not recorded", func(t *testing.T, e *env) Resources {
			res := stopped(t, e)
			res.VolumeIDs = nil
			return res
		}},
		{"server running", func(t *testing.T, e *env) Resources {
			res := stopped(t, e)
			e.powerOn(t, res.ServerID)
			e.waitState(t, res.ServerID, instance.ServerStateRunning)
			return res
		}},
		{"server starting", func(t *testing.T, e *env) Resources {
			res := stopped(t, e)
			e.powerOn(t, res.ServerID) // boots in 100ms
			return res
		}},
		{"server already deleted, volume left", func(t *testing.T, e *env) Resources {
			res := stopped(t, e)
			if err := instance.NewAPI(e.client).DeleteServer(&instance.DeleteServerRequest{Zone: "fr-par-1", ServerID: res.ServerID}); err != nil {
				t.Fatalf("delete server: %v", err)
			}
			return res
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, localcloud.Options{
				Machines:    localcloud.NoopMachines{BootDelay: 100 * time.Millisecond, StopDelay: 20 * time.Millisecond},
				DetachDelay: 30 * time.Millisecond,
			})
			res := tt.build(t, e)
			if err := e.p.Destroy(context.Background(), res); err != nil {
				t.Fatalf("destroy: %v", err)
			}
			e.requireEmpty(t)
			if err := e.p.Destroy(context.Background(), res); err != nil {
				t.Errorf("destroy again: %v", err)
			}
		})
	}
}

func TestDestroyRefusesForeignAttachment(t *testing.T) {
	e := newEnv(t, localcloud.Options{})
	ip := e.makeIP(t)
	srv := e.makeServer(t, ip.ID)
	// The workspace recorded the volume but not the server it is attached to.
	res := Resources{Zone: "fr-par-1", VolumeIDs: sbsVolumes(srv)}
	err := e.p.Destroy(context.Background(), res)
	if err == nil || !strings.Contains(err.Error(), "attached to instance_server "+srv.ID) {
		t.Errorf("destroy: got %v, want a refusal naming the server", err)
	}
	if inv := e.cloud.Resources(); len(inv.Volumes) != 1 {
		t.Errorf("resources: got %s, want the volume kept", inv)
	}
}

// Duplicates tagged for the host (a late-committed create, an earlier run
// that lost its record) are all deleted by destroy, not refused; create
// refuses to pick one.
func TestDestroyDeletesDuplicates(t *testing.T) {
	e := newEnv(t, localcloud.Options{})
	api := instance.NewAPI(e.client)
	for range 2 {
		if _, err := api.CreateIP(&instance.CreateIPRequest{Zone: "fr-par-1", Tags: identityTags(testWorkspace, "web-1")}); err != nil {
			t.Fatal(err)
		}
	}
	ip := e.makeIP(t)
	e.makeServer(t, ip.ID)
	e.makeServer(t, e.makeIP(t).ID)
	var s saves
	var res Resources
	err := e.p.Create(context.Background(), testSpec(t, "web-1"), &res, s.save)
	if err == nil || !strings.Contains(err.Error(), "several flexible IPs") || res.IPID != "" {
		t.Errorf("create: got %v with %+v, want a refusal and nothing recorded", err, res)
	}
	found, err := e.p.Find(context.Background(), "fr-par-1", testWorkspace, "web-1")
	if err != nil || len(found.IPs) != 4 || len(found.Servers) != 2 {
		t.Fatalf("find: got %d IPs and %d servers (%v), want 4 and 2", len(found.IPs), len(found.Servers), err)
	}
	d := Resources{}.Doomed()
	d.Add(found)
	if err := e.p.DestroyAll(context.Background(), d); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	e.requireEmpty(t)
	other, err := e.p.Find(context.Background(), "fr-par-1", testWorkspace, "web-2")
	if err != nil || !other.Empty() {
		t.Errorf("find another host: got %+v, %v, want nothing", other, err)
	}
}

func (e *env) makeIP(t *testing.T) *instance.IP {
	t.Helper()
	resp, err := instance.NewAPI(e.client).CreateIP(&instance.CreateIPRequest{Zone: "fr-par-1", Type: instance.IPTypeRoutedIPv4, Tags: identityTags(testWorkspace, "web-1")})
	if err != nil {
		t.Fatalf("create IP: %v", err)
	}
	return resp.IP
}

func (e *env) makeServer(t *testing.T, ipID string) *instance.Server {
	t.Helper()
	img, err := marketplace.NewAPI(e.client).GetLocalImageByLabel(&marketplace.GetLocalImageByLabelRequest{
		ImageLabel: "debian_bookworm", Zone: "fr-par-1", CommercialType: "DEV1-S", Type: marketplace.LocalImageTypeInstanceSbs,
	})
	if err != nil {
		t.Fatalf("image: %v", err)
	}
	resp, err := instance.NewAPI(e.client).CreateServer(&instance.CreateServerRequest{
		Zone: "fr-par-1", Name: "web-1", CommercialType: "DEV1-S", Image: &img.ID,
		PublicIPs: &[]string{ipID}, DynamicIPRequired: scw.BoolPtr(false), Tags: identityTags(testWorkspace, "web-1"),
	})
	if err != nil {
		t.Fatalf("create server: %v", err)
	}
	return resp.Server
}

func (e *env) powerOn(t *testing.T, id string) {
	t.Helper()
	if _, err := instance.NewAPI(e.client).ServerAction(&instance.ServerActionRequest{Zone: "fr-par-1", ServerID: id, Action: instance.ServerActionPoweron}); err != nil {
		t.Fatalf("poweron: %v", err)
	}
}

func (e *env) waitState(t *testing.T, id string, want instance.ServerState) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := instance.NewAPI(e.client).GetServer(&instance.GetServerRequest{Zone: "fr-par-1", ServerID: id})
		if err != nil {
			t.Fatalf("get server: %v", err)
		}
		if resp.Server.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server state: got %q, want %q", resp.Server.State, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
