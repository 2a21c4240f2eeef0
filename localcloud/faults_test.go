package localcloud

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
)

// get does a raw authenticated request.
func (f *fixture) raw(t *testing.T, method, path string, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestStatusFaults(t *testing.T) {
	f := newFixture(t, Options{})
	if err := f.cloud.InjectFault(Fault{Kind: FaultStatus, Status: 429, Method: "GET", Path: "/instance/v1/zones/*/servers", Count: 2}); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 3 {
		resp, body := f.raw(t, "GET", "/instance/v1/zones/fr-par-1/servers", "")
		got = append(got, resp.StatusCode)
		if resp.StatusCode == 429 && (len(body) != 0 || resp.Header.Get("Retry-After") != "") {
			t.Errorf("429: got body %q and Retry-After %q, want neither", body, resp.Header.Get("Retry-After"))
		}
	}
	if want := []int{429, 429, 200}; !equal(got, want) {
		t.Errorf("statuses: got %v, want %v", got, want)
	}

	// Skip lets requests through first; other paths are not hit.
	if err := f.cloud.InjectFault(Fault{Kind: FaultStatus, Status: 503, Path: "/instance/v1/zones/*/ips", Skip: 1}); err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, p := range []string{"/instance/v1/zones/fr-par-1/servers", "/instance/v1/zones/fr-par-1/ips", "/instance/v1/zones/fr-par-1/ips", "/instance/v1/zones/fr-par-1/ips"} {
		resp, _ := f.raw(t, "GET", p, "")
		got = append(got, resp.StatusCode)
	}
	if want := []int{200, 200, 503, 200}; !equal(got, want) {
		t.Errorf("statuses with skip: got %v, want %v", got, want)
	}
	if n := len(f.cloud.Faults()); n != 0 {
		t.Errorf("faults left: got %d, want 0", n)
	}

	// Through the SDK a 503 is an HTTP error, not a crash.
	if err := f.cloud.InjectFault(Fault{Kind: FaultStatus, Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.inst.ListServers(&instance.ListServersRequest{}); !isStatus(err, 503) {
		t.Errorf("sdk under 503: got %v, want a 503 response error", err)
	}
}

func TestDelayFault(t *testing.T) {
	f := newFixture(t, Options{})
	if err := f.cloud.InjectFault(Fault{Kind: FaultDelay, Delay: 200 * time.Millisecond, Count: -1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	f.raw(t, "GET", "/instance/v1/zones/fr-par-1/ips", "")
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("delayed request took %v, want at least 200ms", d)
	}
	if n := len(f.cloud.Faults()); n != 1 {
		t.Errorf("unlimited fault: got %d left, want 1", n)
	}
	f.cloud.ClearFaults()
	if n := len(f.cloud.Faults()); n != 0 {
		t.Errorf("after clear: got %d faults, want 0", n)
	}
}

func TestLostResponse(t *testing.T) {
	for _, respond504 := range []bool{false, true} {
		f := newFixture(t, Options{})
		if err := f.cloud.InjectFault(Fault{Kind: FaultLostResponse, Method: "POST", Path: "/instance/v1/zones/*/ips", Respond504: respond504}); err != nil {
			t.Fatal(err)
		}
		_, err := f.inst.CreateIP(&instance.CreateIPRequest{Tags: []string{"lost"}})
		if err == nil {
			t.Errorf("504=%v: create IP got no error, want the answer lost", respond504)
		}
		if respond504 && !isStatus(err, 504) {
			t.Errorf("504=%v: got %v, want a 504", respond504, err)
		}
		if inv := f.cloud.Resources(); len(inv.IPs) != 1 {
			t.Errorf("504=%v: got %s, want the IP created anyway", respond504, inv)
		}
		// The client sees the connection close before the handler returns
		// and logs the request: wait for the log, bounded.
		var reqs []Request
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if reqs = f.cloud.Requests(); len(reqs) > 0 && reqs[len(reqs)-1].Fault == FaultLostResponse {
				break
			}
		}
		if len(reqs) == 0 {
			t.Fatalf("504=%v: no request logged", respond504)
		}
		last := reqs[len(reqs)-1]
		wantStatus := 0
		if respond504 {
			wantStatus = 504
		}
		if last.Fault != FaultLostResponse || last.Status != wantStatus {
			t.Errorf("504=%v: request log got %+v, want fault lost_response status %d", respond504, last, wantStatus)
		}
	}
}

func TestStuckStarting(t *testing.T) {
	f := newFixture(t, Options{})
	if err := f.cloud.InjectFault(Fault{Kind: FaultStuckStarting}); err != nil {
		t.Fatal(err)
	}
	_, srv := f.newServer(t, "stuck-1")
	if _, err := f.inst.ServerAction(&instance.ServerActionRequest{ServerID: srv.ID, Action: instance.ServerActionPoweron}); err != nil {
		t.Fatalf("poweron: %v", err)
	}
	time.Sleep(100 * time.Millisecond)
	if s := f.server(t, srv.ID); s.State != instance.ServerStateStarting {
		t.Errorf("stuck: got %q, want starting", s.State)
	}
	f.cloud.ReleaseStuck()
	f.waitState(t, srv.ID, instance.ServerStateRunning)
}

func TestAdminEndpoints(t *testing.T) {
	f := newFixture(t, Options{})
	post := func(body string) int {
		resp, err := http.Post(f.srv.URL+"/_localcloud/faults", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(`{"kind":"delay","delay":"50ms","path":"/instance/v1/zones/*/ips"}`); got != 201 {
		t.Errorf("add delay fault: got %d, want 201", got)
	}
	if got := post(`{"kind":"status","status":200}`); got != 400 {
		t.Errorf("add bad fault: got %d, want 400", got)
	}
	faults := f.cloud.Faults()
	if len(faults) != 1 || faults[0].Delay != 50*time.Millisecond || faults[0].Count != 1 {
		t.Errorf("faults: got %+v, want one 50ms delay", faults)
	}

	f.newServer(t, "admin-1")
	resp, err := http.Get(f.srv.URL + "/_localcloud/resources")
	if err != nil {
		t.Fatal(err)
	}
	var inv Inventory
	err = json.NewDecoder(resp.Body).Decode(&inv)
	resp.Body.Close()
	if err != nil || len(inv.Servers) != 1 || len(inv.IPs) != 1 || len(inv.Volumes) != 1 || inv.Servers[0].Name != "admin-1" {
		t.Errorf("resources: got %+v, %v, want one server, IP and volume", inv, err)
	}

	req, _ := http.NewRequest("DELETE", f.srv.URL+"/_localcloud/faults", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || len(f.cloud.Faults()) != 0 {
		t.Errorf("clear faults: got %d and %d faults, want 204 and none", resp.StatusCode, len(f.cloud.Faults()))
	}
}
