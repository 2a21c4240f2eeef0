package scaleway

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"bootstrap/localcloud"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

func TestCreateAndDestroy(t *testing.T) {
	e := newEnv(t, localcloud.Options{
		Machines:    localcloud.NoopMachines{BootDelay: 30 * time.Millisecond},
		DetachDelay: 50 * time.Millisecond,
	})
	spec := testSpec(t, "web-1")
	var s saves
	var res Resources
	if err := e.p.Create(context.Background(), spec, &res, s.save); err != nil {
		t.Fatalf("create: %v", err)
	}

	// Saved at every step, each create announced before it is sent: the
	// IP in flight, the IP, the server in flight, the server with its
	// volume.
	if len(s.list) < 5 {
		t.Fatalf("saves: got %d (%+v), want at least 5", len(s.list), s.list)
	}
	if first := s.list[0]; first.Pending != pendingIP || first.IPID != "" || first.Zone != "fr-par-1" {
		t.Errorf("first save: got %+v, want the IP in flight only", first)
	}
	if second := s.list[1]; second.IPID == "" || second.IPAddress == "" || second.ServerID != "" || second.Pending != "" {
		t.Errorf("second save: got %+v, want the IP only", second)
	}
	if third := s.list[2]; third.Pending != pendingServer || third.ServerID != "" {
		t.Errorf("third save: got %+v, want the server in flight", third)
	}
	if fourth := s.list[3]; fourth.ServerID == "" || len(fourth.VolumeIDs) != 1 || fourth.Pending != "" {
		t.Errorf("fourth save: got %+v, want the server and its root volume", fourth)
	}
	if got := s.last(); got.IPAddress != "127.0.0.100" || got.ServerID != res.ServerID || got.IPID != res.IPID {
		t.Errorf("last save: got %+v, want %+v with address 127.0.0.100", got, res)
	}

	api := instance.NewAPI(e.client)
	srv, err := api.GetServer(&instance.GetServerRequest{Zone: "fr-par-1", ServerID: res.ServerID})
	if err != nil {
		t.Fatalf("get server: %v", err)
	}
	if srv.Server.State != instance.ServerStateRunning || srv.Server.DynamicIPRequired || srv.Server.CommercialType != "DEV1-S" {
		t.Errorf("server: got %s dynamic=%v %s, want running DEV1-S without dynamic IP", srv.Server.State, srv.Server.DynamicIPRequired, srv.Server.CommercialType)
	}
	wantTags := []string{"bootstrap", "bootstrap-name=web-1", "bootstrap-workspace=" + testWorkspace,
		"AUTHORIZED_KEY=" + strings.ReplaceAll(spec.DeployKey, " ", "_")}
	if !slices.Equal(srv.Server.Tags, wantTags) {
		t.Errorf("server tags: got %q, want %q", srv.Server.Tags, wantTags)
	}
	ud, err := api.GetServerUserData(&instance.GetServerUserDataRequest{Zone: "fr-par-1", ServerID: res.ServerID, Key: "cloud-init"})
	if err != nil {
		t.Fatalf("user data: %v", err)
	}
	want, _ := CloudConfig("web-1", spec.DeployKey, spec.HostKey)
	if got, _ := io.ReadAll(ud); !sameCloudConfig(got, want) {
		t.Errorf("user data: got\n%s\nwant\n%s", got, want)
	}
	if n, m := e.count("POST", "/ips"), e.count("POST", "/servers"); n != 1 || m != 1 {
		t.Errorf("creates: got %d IP and %d server POSTs, want 1 each", n, m)
	}
	for _, r := range e.cloud.Requests() {
		if r.Method == "GET" && strings.HasPrefix(r.Path, "/marketplace/v2/local-images") && !strings.Contains(r.Query, "type=instance_sbs") {
			t.Errorf("image lookup %s?%s: want type=instance_sbs", r.Path, r.Query)
		}
	}

	found, err := e.p.Find(context.Background(), "fr-par-1", testWorkspace, "web-1")
	if err != nil || len(found.IPs) != 1 || found.IPs[0].ID != res.IPID || len(found.Servers) != 1 || found.Servers[0].ID != res.ServerID ||
		!slices.Equal(sbsVolumes(found.Servers[0]), res.VolumeIDs) {
		t.Errorf("find: got %+v, %v, want %+v", found, err, res)
	}
	if res.Pending != "" {
		t.Errorf("pending: got %q once created, want none", res.Pending)
	}

	if err := e.p.Destroy(context.Background(), res); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	e.requireEmpty(t)
	if err := e.p.Destroy(context.Background(), res); err != nil {
		t.Errorf("destroy twice: %v", err)
	}
}

func TestValidateBeforeAnythingBillable(t *testing.T) {
	e := newEnv(t, localcloud.Options{})
	tests := []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"unknown commercial type", func(s *Spec) { s.CommercialType = "GP1-XL" }, `unknown commercial type "GP1-XL" in fr-par-1 (available: DEV1-M, DEV1-S, PLAY2-PICO, PRO2-XXS)`},
		{"unknown zone", func(s *Spec) { s.Zone = "fr-lyo-1" }, `unknown scaleway zone "fr-lyo-1"`},
		{"malformed zone", func(s *Spec) { s.Zone = "paris" }, `unknown scaleway zone "paris"`},
		{"unknown image", func(s *Spec) { s.ImageLabel = "windows_2022" }, `unknown image label "windows_2022"`},
		{"bad name", func(s *Spec) { s.Name = "Web_1" }, `host name "Web_1"`},
		{"bad deploy key", func(s *Spec) { s.DeployKey = "ssh-ed25519 nope" }, "deploy key"},
		{"no workspace", func(s *Spec) { s.WorkspaceID = "" }, "workspace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testSpec(t, "web-1")
			tt.edit(&spec)
			err := e.p.Validate(context.Background(), spec)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("validate: got %v, want an error containing %q", err, tt.want)
			}
			var s saves
			var res Resources
			err = e.p.Create(context.Background(), spec, &res, s.save)
			var partial *PartialError
			if err == nil || errors.As(err, &partial) || len(s.list) != 0 || !res.Empty() {
				t.Errorf("create: got %v with %d saves, want a plain error and nothing saved", err, len(s.list))
			}
		})
	}
	e.requireEmpty(t)
	for _, r := range e.cloud.Requests() {
		if r.Method != "GET" {
			t.Errorf("request %s %s: want only reads before validation passes", r.Method, r.Path)
		}
	}
	if err := e.p.Validate(context.Background(), testSpec(t, "web-1")); err != nil {
		t.Errorf("valid spec: got %v, want nil", err)
	}
	lower := testSpec(t, "web-1")
	lower.CommercialType = "dev1-s"
	if err := e.p.Validate(context.Background(), lower); err != nil {
		t.Errorf("lowercase commercial type: got %v, want nil", err)
	}
}

func TestRateLimitStormDuringCreateAndWait(t *testing.T) {
	e := newEnv(t, localcloud.Options{Machines: localcloud.NoopMachines{BootDelay: 50 * time.Millisecond}})
	for _, f := range []localcloud.Fault{
		{Kind: localcloud.FaultStatus, Status: 429, Method: "POST", Path: "/instance/v1/zones/*/ips", Count: 3},
		{Kind: localcloud.FaultStatus, Status: 429, Method: "POST", Path: "/instance/v1/zones/*/servers", Count: 4},
		{Kind: localcloud.FaultStatus, Status: 429, Method: "PATCH", Count: 2},
		{Kind: localcloud.FaultStatus, Status: 429, Method: "POST", Path: "/instance/v1/zones/*/servers/*/action", Count: 3},
		// more 429s in a row than one request's attempts: the wait polls through
		{Kind: localcloud.FaultStatus, Status: 429, Method: "GET", Path: "/instance/v1/zones/*/servers/*", Skip: 1, Count: 9},
	} {
		if err := e.cloud.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
	var s saves
	var res Resources
	if err := e.p.Create(context.Background(), testSpec(t, "web-1"), &res, s.save); err != nil {
		t.Fatalf("create under a 429 storm: %v", err)
	}
	inv := e.cloud.Resources()
	if len(inv.Servers) != 1 || len(inv.IPs) != 1 || len(inv.Volumes) != 1 || inv.Servers[0].State != "running" {
		t.Errorf("resources: got %s, want one running server, one IP, one volume", inv)
	}
	if n := e.count("POST", "/ips"); n != 4 {
		t.Errorf("IP POSTs: got %d, want 4 (3 refused with 429, then created)", n)
	}
	if left := e.cloud.Faults(); len(left) != 0 {
		t.Errorf("faults not hit: %+v", left)
	}
	if err := e.p.Destroy(context.Background(), res); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	e.requireEmpty(t)
}

func TestServerErrorsRetriedExceptOnCreates(t *testing.T) {
	e := newEnv(t, localcloud.Options{})
	api := instance.NewAPI(e.client)

	// A GET is retried through 5xx.
	if err := e.cloud.InjectFault(localcloud.Fault{Kind: localcloud.FaultStatus, Status: 503, Method: "GET", Path: "/instance/v1/zones/*/ips", Count: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := api.ListIPs(&instance.ListIPsRequest{Zone: "fr-par-1"}); err != nil {
		t.Errorf("list IPs through three 503s: %v", err)
	}
	if n := e.count("GET", "/ips"); n != 4 {
		t.Errorf("GETs: got %d, want 4", n)
	}

	// A create is not: the 502 reaches the caller, typed, after one POST.
	if err := e.cloud.InjectFault(localcloud.Fault{Kind: localcloud.FaultStatus, Status: 502, Method: "POST", Path: "/instance/v1/zones/*/ips"}); err != nil {
		t.Fatal(err)
	}
	_, err := api.CreateIP(&instance.CreateIPRequest{Zone: "fr-par-1", Type: instance.IPTypeRoutedIPv4})
	var re *scw.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 502 {
		t.Errorf("create IP under 502: got %v, want a 502 response error", err)
	}
	if n := e.count("POST", "/ips"); n != 1 {
		t.Errorf("IP POSTs: got %d, want 1", n)
	}

	// Retries run out: the last answer is still a typed SDK error.
	if err := e.cloud.InjectFault(localcloud.Fault{Kind: localcloud.FaultStatus, Status: 429, Method: "GET", Count: 10}); err != nil {
		t.Fatal(err)
	}
	_, err = api.ListServers(&instance.ListServersRequest{Zone: "fr-par-1"})
	if !errors.As(err, &re) || re.StatusCode != 429 {
		t.Errorf("after 6 x 429: got %v, want a 429 response error", err)
	}
	e.cloud.ClearFaults()
	_, err = api.GetServer(&instance.GetServerRequest{Zone: "fr-par-1", ServerID: "0d6ad7c0-2b7e-4f21-9a4e-8b0c5f6a7e11"})
	var nf *scw.ResourceNotFoundError
	if !errors.As(err, &nf) || nf.Resource != "instance_server" {
		t.Errorf("unknown server: got %v, want a typed not found", err)
	}

	// In Create, a 5xx on a create is looked up by tags, then sent again.
	e.cloud.ClearFaults()
	if err := e.cloud.InjectFault(localcloud.Fault{Kind: localcloud.FaultStatus, Status: 500, Method: "POST", Path: "/instance/v1/zones/*/servers"}); err != nil {
		t.Fatal(err)
	}
	var s saves
	var res Resources
	if err := e.p.Create(context.Background(), testSpec(t, "web-2"), &res, s.save); err != nil {
		t.Fatalf("create with a 500 on the server POST: %v", err)
	}
	if n := e.count("POST", "/servers"); n != 2 {
		t.Errorf("server POSTs: got %d, want 2 (500, then created)", n)
	}
	if inv := e.cloud.Resources(); len(inv.Servers) != 1 {
		t.Errorf("servers: got %s, want exactly one", inv)
	}
}

func TestLostCreateResponsesAreAdopted(t *testing.T) {
	for _, tt := range []struct {
		name  string
		fault localcloud.Fault
		path  string
	}{
		{"server, connection closed", localcloud.Fault{Kind: localcloud.FaultLostResponse, Method: "POST", Path: "/instance/v1/zones/*/servers"}, "/servers"},
		{"server, 504", localcloud.Fault{Kind: localcloud.FaultLostResponse, Method: "POST", Path: "/instance/v1/zones/*/servers", Respond504: true}, "/servers"},
		{"IP, connection closed", localcloud.Fault{Kind: localcloud.FaultLostResponse, Method: "POST", Path: "/instance/v1/zones/*/ips"}, "/ips"},
		{"poweron, 504", localcloud.Fault{Kind: localcloud.FaultLostResponse, Method: "POST", Path: "/instance/v1/zones/*/servers/*/action", Respond504: true}, "/action"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, localcloud.Options{})
			if err := e.cloud.InjectFault(tt.fault); err != nil {
				t.Fatal(err)
			}
			var s saves
			var res Resources
			if err := e.p.Create(context.Background(), testSpec(t, "web-1"), &res, s.save); err != nil {
				t.Fatalf("create: %v", err)
			}
			inv := e.cloud.Resources()
			if len(inv.Servers) != 1 || len(inv.IPs) != 1 || inv.Servers[0].ID != res.ServerID || inv.IPs[0].ID != res.IPID {
				t.Errorf("resources: got %s, want exactly the recorded server and IP", inv)
			}
			if n := e.count("POST", tt.path); n != 1 {
				t.Errorf("POST %s: got %d, want 1 (never repeated)", tt.path, n)
			}
			if tt.path != "/action" && !strings.Contains(e.log.String(), "adopting") {
				t.Errorf("log: want an adoption line, got\n%s", e.log)
			}
			if err := e.p.Destroy(context.Background(), res); err != nil {
				t.Fatalf("destroy: %v", err)
			}
			e.requireEmpty(t)
		})
	}
}

func TestStuckServerTimesOutNamingWhatExists(t *testing.T) {
	e := newEnv(t, localcloud.Options{})
	if err := e.cloud.InjectFault(localcloud.Fault{Kind: localcloud.FaultStuckStarting}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var s saves
	var res Resources
	err := e.p.Create(ctx, testSpec(t, "web-1"), &res, s.save)
	var partial *PartialError
	if !errors.As(err, &partial) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("create: got %v, want a PartialError wrapping the deadline", err)
	}
	msg := err.Error()
	for _, want := range []string{`"starting"`, "server " + res.ServerID, "SBS volume " + res.VolumeIDs[0], "flexible IP 127.0.0.100 (" + res.IPID + ")"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q: want it to name %q", msg, want)
		}
	}
	if got := s.last(); got.ServerID != res.ServerID || partial.Resources.ServerID != res.ServerID {
		t.Errorf("saved %+v and reported %+v, want the server recorded", got, partial.Resources)
	}

	// Destroy waits for the server to leave "starting".
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if err := e.p.Destroy(short, res); err == nil || !strings.Contains(err.Error(), "still there") {
		t.Errorf("destroy of a stuck server: got %v, want an error listing what is still there", err)
	}
	e.cloud.ReleaseStuck()
	if err := e.p.Destroy(context.Background(), res); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	e.requireEmpty(t)
}

func TestResumeAfterInterruption(t *testing.T) {
	e := newEnv(t, localcloud.Options{})
	spec := testSpec(t, "web-1")
	// The process dies right after the server was created: its id is never saved.
	s := saves{fail: func(n int, r *Resources) error {
		if r.ServerID != "" {
			return errors.New("disk full")
		}
		return nil
	}}
	var res Resources
	err := e.p.Create(context.Background(), spec, &res, s.save)
	var partial *PartialError
	if !errors.As(err, &partial) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("create: got %v, want the save error as a PartialError", err)
	}
	saved := s.list[2] // what made it to disk: the IP, and the server in flight
	if saved.ServerID != "" || saved.IPID == "" || saved.Pending != pendingServer {
		t.Fatalf("saved: got %+v, want the IP and the server in flight", saved)
	}

	var again saves
	if err := e.p.Create(context.Background(), spec, &saved, again.save); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if n := e.count("POST", "/servers"); n != 1 {
		t.Errorf("server POSTs: got %d, want 1 (the server was adopted)", n)
	}
	if inv := e.cloud.Resources(); len(inv.Servers) != 1 || inv.Servers[0].State != "running" {
		t.Errorf("resources: got %s, want one running server", inv)
	}
	// Resuming a finished create changes nothing.
	done := again.last()
	if err := e.p.Create(context.Background(), spec, &done, again.save); err != nil {
		t.Errorf("resume a running server: %v", err)
	}
	// ... unless the host key changed: the server booted with another one.
	other := testSpec(t, "web-1")
	other.DeployKey = spec.DeployKey
	if err := e.p.Create(context.Background(), other, &done, again.save); err == nil || !strings.Contains(err.Error(), "has other cloud-init user data") {
		t.Errorf("resume with another host key: got %v, want a refusal", err)
	}
	if err := e.p.Destroy(context.Background(), done); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	e.requireEmpty(t)
}

func TestResumeWithDeletedResource(t *testing.T) {
	e := newEnv(t, localcloud.Options{})
	spec := testSpec(t, "web-1")
	var s saves
	var res Resources
	if err := e.p.Create(context.Background(), spec, &res, s.save); err != nil {
		t.Fatalf("create: %v", err)
	}
	gone := res
	gone.ServerID = "0d6ad7c0-2b7e-4f21-9a4e-8b0c5f6a7e11"
	err := e.p.Create(context.Background(), spec, &gone, s.save)
	if err == nil || !strings.Contains(err.Error(), "no longer exists: run destroy") {
		t.Errorf("resume with a deleted server: got %v, want a hint to run destroy", err)
	}
	if err := e.p.Destroy(context.Background(), res); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	e.requireEmpty(t)
}

func TestAdoptedServerWithOtherUserDataIsRefused(t *testing.T) {
	e := newEnv(t, localcloud.Options{})
	ip := e.makeIP(t)
	srv := e.makeServer(t, ip.ID)
	if err := instance.NewAPI(e.client).SetServerUserData(&instance.SetServerUserDataRequest{
		Zone: "fr-par-1", ServerID: srv.ID, Key: "cloud-init", Content: strings.NewReader("#cloud-config\n"),
	}); err != nil {
		t.Fatal(err)
	}
	var s saves
	var res Resources
	err := e.p.Create(context.Background(), testSpec(t, "web-1"), &res, s.save)
	var partial *PartialError
	if !errors.As(err, &partial) || !strings.Contains(err.Error(), "has other cloud-init user data") {
		t.Fatalf("create: got %v, want a refusal", err)
	}
	if res.IPID != ip.ID || res.ServerID != srv.ID || len(res.VolumeIDs) != 1 {
		t.Errorf("recorded: got %+v, want the adopted IP, server and volume", res)
	}
	if n := e.count("POST", "/action"); n != 0 {
		t.Errorf("actions: got %d, want the server left off", n)
	}
	if err := e.p.Destroy(context.Background(), res); err != nil {
		t.Fatal(err)
	}
	e.requireEmpty(t)
}
