package localcloud

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	block "github.com/scaleway/scaleway-sdk-go/api/block/v1alpha1"
	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

const (
	testToken   = "5d1e6b7c-0c7a-4c56-9d1e-2f5b1f3e9a10"
	testAccess  = "SCWABCDEFGHIJKLMNOPQ"
	testProject = "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d"
	zone        = scw.ZoneFrPar1
)

// fixture is a local cloud on httptest and an SDK client without retries,
// so that every fault reaches the test as is.
type fixture struct {
	cloud  *Cloud
	srv    *httptest.Server
	client *scw.Client
	inst   *instance.API
	market *marketplace.API
	block  *block.API
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	c := New(opts)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() {
		srv.Close()
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	client := newClient(t, srv.URL, testToken)
	return &fixture{
		cloud: c, srv: srv, client: client,
		inst:   instance.NewAPI(client),
		market: marketplace.NewAPI(client),
		block:  block.NewAPI(client),
	}
}

func newClient(t *testing.T, url, secret string) *scw.Client {
	t.Helper()
	client, err := scw.NewClient(
		scw.WithAPIURL(url),
		scw.WithAuth(testAccess, secret),
		scw.WithDefaultProjectID(testProject),
		scw.WithDefaultZone(zone),
		scw.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}),
	)
	if err != nil {
		t.Fatalf("sdk client: %v", err)
	}
	return client
}

// sbsImage resolves a label the way the provider does.
func (f *fixture) sbsImage(t *testing.T, label, commercialType string) *marketplace.LocalImage {
	t.Helper()
	img, err := f.market.GetLocalImageByLabel(&marketplace.GetLocalImageByLabelRequest{
		ImageLabel: label, Zone: zone, CommercialType: commercialType, Type: marketplace.LocalImageTypeInstanceSbs,
	})
	if err != nil {
		t.Fatalf("image %s: %v", label, err)
	}
	return img
}

// newServer creates an IP and a server on it, stopped.
func (f *fixture) newServer(t *testing.T, name string) (*instance.IP, *instance.Server) {
	t.Helper()
	ip, err := f.inst.CreateIP(&instance.CreateIPRequest{Type: instance.IPTypeRoutedIPv4, Tags: []string{"t", "host=" + name}})
	if err != nil {
		t.Fatalf("create IP: %v", err)
	}
	img := f.sbsImage(t, "ubuntu_noble", "DEV1-S")
	srv, err := f.inst.CreateServer(&instance.CreateServerRequest{
		Name: name, CommercialType: "DEV1-S", Image: &img.ID,
		PublicIPs: &[]string{ip.IP.ID}, DynamicIPRequired: scw.BoolPtr(false),
		Tags: []string{"t", "host=" + name},
	})
	if err != nil {
		t.Fatalf("create server: %v", err)
	}
	return ip.IP, srv.Server
}

func (f *fixture) server(t *testing.T, id string) *instance.Server {
	t.Helper()
	resp, err := f.inst.GetServer(&instance.GetServerRequest{ServerID: id})
	if err != nil {
		t.Fatalf("get server %s: %v", id, err)
	}
	return resp.Server
}

// waitState polls until the server reaches want (or is gone when want is "").
func (f *fixture) waitState(t *testing.T, id string, want instance.ServerState) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := f.inst.GetServer(&instance.GetServerRequest{ServerID: id})
		var nf *scw.ResourceNotFoundError
		switch {
		case want == "" && errors.As(err, &nf):
			return
		case err != nil:
			t.Fatalf("get server %s: %v", id, err)
		case resp.Server.State == want:
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s: got state %q, want %q", id, resp.Server.State, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestImagesAndTypes(t *testing.T) {
	f := newFixture(t, Options{})
	img := f.sbsImage(t, "debian_bookworm", "PLAY2-PICO")
	if img.Type != marketplace.LocalImageTypeInstanceSbs || img.Zone != zone || img.Label != "debian_bookworm" {
		t.Errorf("got image %+v, want an instance_sbs debian_bookworm image in %s", img, zone)
	}
	if again := f.sbsImage(t, "debian_bookworm", "PLAY2-PICO"); again.ID != img.ID {
		t.Errorf("got image id %s then %s, want stable ids", img.ID, again.ID)
	}
	if _, err := f.market.GetLocalImageByLabel(&marketplace.GetLocalImageByLabelRequest{
		ImageLabel: "windows_2022", Zone: zone, CommercialType: "DEV1-S", Type: marketplace.LocalImageTypeInstanceSbs,
	}); !isNotFound(err, "MarketplaceImage") {
		t.Errorf("unknown label: got %v, want a MarketplaceImage not found error", err)
	}
	if _, err := f.market.GetLocalImageByLabel(&marketplace.GetLocalImageByLabelRequest{
		ImageLabel: "ubuntu_noble", Zone: zone, CommercialType: "GP1-XL", Type: marketplace.LocalImageTypeInstanceSbs,
	}); err == nil {
		t.Errorf("incompatible type: got no error, want one")
	}
	localZone := zone
	local, err := f.market.ListLocalImages(&marketplace.ListLocalImagesRequest{
		ImageLabel: scw.StringPtr("ubuntu_noble"), Zone: &localZone, Type: marketplace.LocalImageTypeInstanceLocal,
	})
	if err != nil || len(local.LocalImages) != 0 {
		t.Errorf("instance_local images: got %v, %v, want none", local, err)
	}

	types, err := f.inst.ListServersTypes(&instance.ListServersTypesRequest{}, scw.WithAllPages())
	if err != nil {
		t.Fatalf("list server types: %v", err)
	}
	for _, name := range []string{"DEV1-S", "DEV1-M", "PLAY2-PICO", "PRO2-XXS"} {
		if types.Servers[name] == nil {
			t.Errorf("server types: %s missing", name)
		}
	}
	if got := types.Servers["DEV1-S"]; got == nil || got.Ncpus != 2 || got.RAM != 2*1024*1024*1024 {
		t.Errorf("DEV1-S: got %+v, want 2 CPUs and 2 GiB", got)
	}
}

func TestServerLifecycle(t *testing.T) {
	f := newFixture(t, Options{Machines: NoopMachines{BootDelay: 50 * time.Millisecond}, DetachDelay: 100 * time.Millisecond})
	ip, srv := f.newServer(t, "web-1")

	if ip.Type != instance.IPTypeRoutedIPv4 || ip.Address.String() != "127.0.0.100" || ip.Project != testProject {
		t.Errorf("got IP %s %s in %s, want routed_ipv4 127.0.0.100 in the default project", ip.Type, ip.Address, ip.Project)
	}
	if srv.State != instance.ServerStateStopped || srv.DynamicIPRequired {
		t.Errorf("got state %q dynamic %v, want a stopped server without dynamic IP", srv.State, srv.DynamicIPRequired)
	}
	if got, want := srv.AllowedActions, []instance.ServerAction{"poweron", "backup"}; !equal(got, want) {
		t.Errorf("stopped allowed actions: got %v, want %v", got, want)
	}
	if len(srv.PublicIPs) != 1 || srv.PublicIPs[0].ID != ip.ID || srv.PublicIPs[0].Family != instance.ServerIPIPFamilyInet {
		t.Fatalf("public IPs: got %+v, want the flexible IP, family inet", srv.PublicIPs)
	}
	root := srv.Volumes["0"]
	if root == nil || root.VolumeType != instance.VolumeServerVolumeTypeSbsVolume {
		t.Fatalf("root volume: got %+v, want an sbs_volume", root)
	}
	vol, err := f.block.GetVolume(&block.GetVolumeRequest{Zone: zone, VolumeID: root.ID})
	if err != nil {
		t.Fatalf("block volume: %v", err)
	}
	if vol.Status != block.VolumeStatusInUse || len(vol.References) != 1 || vol.References[0].ProductResourceID != srv.ID {
		t.Errorf("root volume: got %s %+v, want in_use with a reference to the server", vol.Status, vol.References)
	}
	ipNow, err := f.inst.GetIP(&instance.GetIPRequest{IP: ip.ID})
	if err != nil || ipNow.IP.State != instance.IPStateAttached || ipNow.IP.Server.ID != srv.ID {
		t.Errorf("IP after create: got %+v, %v, want attached to the server", ipNow, err)
	}

	// user data: text/plain in and out
	cloudInit := "#cloud-config\nhostname: web-1\n"
	if err := f.inst.SetServerUserData(&instance.SetServerUserDataRequest{ServerID: srv.ID, Key: "cloud-init", Content: strings.NewReader(cloudInit)}); err != nil {
		t.Fatalf("set user data: %v", err)
	}
	got, err := f.inst.GetServerUserData(&instance.GetServerUserDataRequest{ServerID: srv.ID, Key: "cloud-init"})
	if err != nil {
		t.Fatalf("get user data: %v", err)
	}
	if b, _ := io.ReadAll(got); string(b) != cloudInit {
		t.Errorf("user data: got %q, want %q", b, cloudInit)
	}

	// refused actions and deletes
	if _, err := f.inst.ServerAction(&instance.ServerActionRequest{ServerID: srv.ID, Action: instance.ServerActionTerminate}); !isStatus(err, 400) {
		t.Errorf("terminate stopped server: got %v, want 400", err)
	}
	if err := f.block.DeleteVolume(&block.DeleteVolumeRequest{Zone: zone, VolumeID: root.ID}); !isPrecondition(err) {
		t.Errorf("delete attached volume: got %v, want precondition failed (resource_still_in_use)", err)
	}

	// stopped -> starting -> running
	if _, err := f.inst.ServerAction(&instance.ServerActionRequest{ServerID: srv.ID, Action: instance.ServerActionPoweron}); err != nil {
		t.Fatalf("poweron: %v", err)
	}
	if s := f.server(t, srv.ID); s.State != instance.ServerStateStarting {
		t.Errorf("after poweron: got %q, want starting", s.State)
	}
	if _, err := f.inst.ServerAction(&instance.ServerActionRequest{ServerID: srv.ID, Action: instance.ServerActionPoweron}); !isStatus(err, 400) {
		t.Errorf("poweron while starting: got %v, want 400", err)
	}
	f.waitState(t, srv.ID, instance.ServerStateRunning)
	if got, want := f.server(t, srv.ID).AllowedActions, []instance.ServerAction{"poweroff", "terminate", "reboot", "stop_in_place", "backup"}; !equal(got, want) {
		t.Errorf("running allowed actions: got %v, want %v", got, want)
	}
	if err := f.inst.DeleteServer(&instance.DeleteServerRequest{ServerID: srv.ID}); !isStatus(err, 400) {
		t.Errorf("delete running server: got %v, want 400", err)
	}

	// terminate: the server goes, the SBS volume stays (detaching, then available), the IP is detached
	if _, err := f.inst.ServerAction(&instance.ServerActionRequest{ServerID: srv.ID, Action: instance.ServerActionTerminate}); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	f.waitState(t, srv.ID, "")
	vol, err = f.block.GetVolume(&block.GetVolumeRequest{Zone: zone, VolumeID: root.ID})
	if err != nil {
		t.Fatalf("volume after terminate: %v", err)
	}
	if vol.Status != block.VolumeStatusInUse || len(vol.References) != 1 || vol.References[0].Status != block.ReferenceStatusDetaching {
		t.Errorf("volume right after terminate: got %s %+v, want in_use with a detaching reference", vol.Status, vol.References)
	}
	if err := f.block.DeleteVolume(&block.DeleteVolumeRequest{Zone: zone, VolumeID: root.ID}); !isPrecondition(err) {
		t.Errorf("delete detaching volume: got %v, want precondition failed", err)
	}
	time.Sleep(150 * time.Millisecond)
	vol, err = f.block.GetVolume(&block.GetVolumeRequest{Zone: zone, VolumeID: root.ID})
	if err != nil || vol.Status != block.VolumeStatusAvailable || len(vol.References) != 0 || vol.LastDetachedAt == nil {
		t.Fatalf("volume after detach: got %+v, %v, want available", vol, err)
	}
	ipNow, err = f.inst.GetIP(&instance.GetIPRequest{IP: ip.ID})
	if err != nil || ipNow.IP.State != instance.IPStateDetached || ipNow.IP.Server != nil {
		t.Errorf("IP after terminate: got %+v, %v, want detached", ipNow, err)
	}
	if inv := f.cloud.Resources(); len(inv.Servers) != 0 || len(inv.IPs) != 1 || len(inv.Volumes) != 1 {
		t.Errorf("resources after terminate: got %s, want the IP and the volume", inv)
	}

	if err := f.block.DeleteVolume(&block.DeleteVolumeRequest{Zone: zone, VolumeID: root.ID}); err != nil {
		t.Errorf("delete volume: %v", err)
	}
	if err := f.inst.DeleteIP(&instance.DeleteIPRequest{IP: ip.ID}); err != nil {
		t.Errorf("delete IP: %v", err)
	}
	if err := f.inst.DeleteIP(&instance.DeleteIPRequest{IP: ip.ID}); !isNotFound(err, "instance_ip") {
		t.Errorf("delete IP twice: got %v, want instance_ip not found", err)
	}
	if inv := f.cloud.Resources(); !inv.Empty() {
		t.Errorf("resources at the end: got %s, want nothing", inv)
	}
}

func TestPoweroffThenDelete(t *testing.T) {
	f := newFixture(t, Options{})
	_, srv := f.newServer(t, "db-1")
	if _, err := f.inst.ServerAction(&instance.ServerActionRequest{ServerID: srv.ID, Action: instance.ServerActionPoweron}); err != nil {
		t.Fatalf("poweron: %v", err)
	}
	f.waitState(t, srv.ID, instance.ServerStateRunning)
	if _, err := f.inst.ServerAction(&instance.ServerActionRequest{ServerID: srv.ID, Action: instance.ServerActionPoweroff}); err != nil {
		t.Fatalf("poweroff: %v", err)
	}
	f.waitState(t, srv.ID, instance.ServerStateStopped)
	if err := f.inst.DeleteServer(&instance.DeleteServerRequest{ServerID: srv.ID}); err != nil {
		t.Fatalf("delete stopped server: %v", err)
	}
	inv := f.cloud.Resources()
	if len(inv.Servers) != 0 || len(inv.Volumes) != 1 || inv.Volumes[0].State != "available" {
		t.Errorf("after delete: got %s, want no server and the SBS volume available", inv)
	}
}

func TestBootFailureStopsServer(t *testing.T) {
	f := newFixture(t, Options{Machines: failingMachines{}})
	_, srv := f.newServer(t, "bad-1")
	if _, err := f.inst.ServerAction(&instance.ServerActionRequest{ServerID: srv.ID, Action: instance.ServerActionPoweron}); err != nil {
		t.Fatalf("poweron: %v", err)
	}
	f.waitState(t, srv.ID, instance.ServerStateStopped)
	if got := f.server(t, srv.ID).StateDetail; !strings.Contains(got, "no qemu") {
		t.Errorf("state detail: got %q, want the boot error", got)
	}
}

type failingMachines struct{}

func (failingMachines) Boot(context.Context, ServerInfo) (Machine, error) {
	return nil, errors.New("no qemu")
}

func TestMachinesGetAddressAndUserData(t *testing.T) {
	rec := &recordingMachines{booted: make(chan ServerInfo, 1)}
	f := newFixture(t, Options{Machines: rec})
	ip, srv := f.newServer(t, "vm-1")
	if err := f.inst.SetServerUserData(&instance.SetServerUserDataRequest{ServerID: srv.ID, Key: "cloud-init", Content: strings.NewReader("#cloud-config\n")}); err != nil {
		t.Fatalf("set user data: %v", err)
	}
	if _, err := f.inst.ServerAction(&instance.ServerActionRequest{ServerID: srv.ID, Action: instance.ServerActionPoweron}); err != nil {
		t.Fatalf("poweron: %v", err)
	}
	got := <-rec.booted
	if got.ID != srv.ID || got.Name != "vm-1" || got.Address != ip.Address.String() || string(got.UserData) != "#cloud-config\n" {
		t.Errorf("boot: got %+v, want the server's id, name, address %s and cloud-init", got, ip.Address)
	}
	f.waitState(t, srv.ID, instance.ServerStateRunning)
	if _, err := f.inst.ServerAction(&instance.ServerActionRequest{ServerID: srv.ID, Action: instance.ServerActionTerminate}); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	f.waitState(t, srv.ID, "")
	if rec.stopped.Load() != 1 {
		t.Errorf("machine stops: got %d, want 1", rec.stopped.Load())
	}
}

func TestErrorsAreTyped(t *testing.T) {
	f := newFixture(t, Options{})
	img := f.sbsImage(t, "ubuntu_jammy", "DEV1-S")
	tests := []struct {
		name string
		call func() error
		want func(error) bool
	}{
		{"unknown server", func() error {
			_, err := f.inst.GetServer(&instance.GetServerRequest{ServerID: "0d6ad7c0-2b7e-4f21-9a4e-8b0c5f6a7e11"})
			return err
		}, func(err error) bool { return isNotFound(err, "instance_server") }},
		{"unknown volume", func() error {
			_, err := f.block.GetVolume(&block.GetVolumeRequest{Zone: zone, VolumeID: "0d6ad7c0-2b7e-4f21-9a4e-8b0c5f6a7e11"})
			return err
		}, func(err error) bool { return isNotFound(err, "volume") }},
		{"unknown commercial type", func() error {
			_, err := f.inst.CreateServer(&instance.CreateServerRequest{Name: "x", CommercialType: "GP1-XL", Image: &img.ID})
			return err
		}, func(err error) bool { return isInvalidArgument(err, "commercial_type") }},
		{"unknown image", func() error {
			id := "0d6ad7c0-2b7e-4f21-9a4e-8b0c5f6a7e11"
			_, err := f.inst.CreateServer(&instance.CreateServerRequest{Name: "x", CommercialType: "DEV1-S", Image: &id})
			return err
		}, func(err error) bool { return isNotFound(err, "instance_image") }},
		{"unknown IP", func() error {
			_, err := f.inst.CreateServer(&instance.CreateServerRequest{Name: "x", CommercialType: "DEV1-S", Image: &img.ID, PublicIPs: &[]string{"0d6ad7c0-2b7e-4f21-9a4e-8b0c5f6a7e11"}})
			return err
		}, func(err error) bool { return isNotFound(err, "instance_ip") }},
		{"unknown zone", func() error {
			_, err := f.inst.ListServers(&instance.ListServersRequest{Zone: "xx-yyy-1"})
			return err
		}, func(err error) bool { return isInvalidArgument(err, "zone") }},
		{"wrong token", func() error {
			_, err := instance.NewAPI(newClient(t, f.srv.URL, "6f0c1b2a-3d4e-4f5a-8b6c-7d8e9f0a1b2c")).ListServers(&instance.ListServersRequest{})
			return err
		}, func(err error) bool {
			var d *scw.DeniedAuthenticationError
			return errors.As(err, &d) && d.Reason == "not_found"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !tt.want(err) {
				t.Errorf("got %v (%T), want the typed error", err, err)
			}
		})
	}
	if inv := f.cloud.Resources(); !inv.Empty() {
		t.Errorf("after refused creates: got %s, want nothing", inv)
	}

	// A missing token is refused too.
	resp, err := http.Get(f.srv.URL + "/instance/v1/zones/fr-par-1/servers")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !bytes.Contains(body, []byte(`"type":"denied_authentication"`)) {
		t.Errorf("no token: got %d %s, want 401 denied_authentication", resp.StatusCode, body)
	}
}

func TestListFilters(t *testing.T) {
	f := newFixture(t, Options{})
	f.newServer(t, "a-1")
	_, b := f.newServer(t, "b-1")
	byTag, err := f.inst.ListServers(&instance.ListServersRequest{Tags: []string{"t", "host=b-1"}}, scw.WithAllPages())
	if err != nil || len(byTag.Servers) != 1 || byTag.Servers[0].ID != b.ID {
		t.Errorf("servers tagged host=b-1: got %v, %v, want b-1 only", byTag, err)
	}
	byName, err := f.inst.ListServers(&instance.ListServersRequest{Name: scw.StringPtr("-1")}, scw.WithAllPages())
	if err != nil || len(byName.Servers) != 2 {
		t.Errorf("servers named *-1*: got %v, %v, want 2", byName, err)
	}
	ips, err := f.inst.ListIPs(&instance.ListIPsRequest{Tags: []string{"host=a-1"}}, scw.WithAllPages())
	if err != nil || len(ips.IPs) != 1 || ips.IPs[0].Address.String() != "127.0.0.100" {
		t.Errorf("IPs tagged host=a-1: got %v, %v, want 127.0.0.100 only", ips, err)
	}
	none, err := f.inst.ListIPs(&instance.ListIPsRequest{Tags: []string{"host=a-1", "host=b-1"}})
	if err != nil || len(none.IPs) != 0 {
		t.Errorf("IPs with both tags: got %v, %v, want none", none, err)
	}
	// pagination, as the SDK walks it
	paged, err := f.inst.ListServers(&instance.ListServersRequest{PerPage: scw.Uint32Ptr(1)}, scw.WithAllPages())
	if err != nil || len(paged.Servers) != 2 {
		t.Errorf("servers one per page: got %v, %v, want 2", paged, err)
	}
	vols, err := f.block.ListVolumes(&block.ListVolumesRequest{Zone: zone, ProductResourceID: &b.ID}, scw.WithAllPages())
	if err != nil || len(vols.Volumes) != 1 || vols.Volumes[0].ID != b.Volumes["0"].ID {
		t.Errorf("volumes of b-1: got %v, %v, want its root volume", vols, err)
	}
}

func TestAddressPool(t *testing.T) {
	f := newFixture(t, Options{Addresses: AddressRange(netipAddr("127.0.0.10"), netipAddr("127.0.0.11"))})
	var got []string
	for range 2 {
		ip, err := f.inst.CreateIP(&instance.CreateIPRequest{})
		if err != nil {
			t.Fatalf("create IP: %v", err)
		}
		got = append(got, ip.IP.Address.String())
	}
	if want := []string{"127.0.0.10", "127.0.0.11"}; !equal(got, want) {
		t.Errorf("addresses: got %v, want %v", got, want)
	}
	var quota *scw.QuotasExceededError
	if _, err := f.inst.CreateIP(&instance.CreateIPRequest{}); !errors.As(err, &quota) {
		t.Errorf("exhausted pool: got %v, want a quota error", err)
	}

	defer func() {
		if recover() == nil {
			t.Errorf("non-loopback pool: got no panic, want one")
		}
	}()
	New(Options{Addresses: []netipAddrT{netipAddr("192.0.2.1")}})
}
