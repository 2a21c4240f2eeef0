package e2e

import (
	"context"
	"encoding/json"
	"fmt"
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
	"bootstrap/localcloud"
)

// The fault matrix of issue 10: `bootstrap scaleway` is killed with SIGKILL
// at each of its steps, or meets the cloud's faults; each time it is run
// again to completion, then destroyed, with state.json kept or deleted
// before the destroy; the table says whether it resumed and what was left
// in the cloud afterwards (what a real account would still be billed for).
//
// It is split by what each point needs, to keep the suite's cost down:
//
//   - TestFaultMatrixAPI: the points before "connect" (after the IP create,
//     after the server create, during the user data, during the power-on)
//     and the faults (429 storm, 5xx, a lost create answer that commits
//     late and lists late, with and without a SIGKILL during the wait, a
//     server stuck in "starting"). Only the API's state matters there, so
//     the local cloud's machines are no-ops ("none"): "resumed ok" means
//     the rerun completed the create step (one server running with the
//     deploy key's user data, one IP, one volume, all recorded) and stopped
//     at "connect", where nothing answers. Both destroy variants run for
//     each row. No VM: the rows mostly wait (the adoption and destroy
//     waits for the lagging lists, 20s each), six at a time: a few minutes,
//     alongside the VM tests.
//   - TestFaultMatrixVM: one VM and one real nixos-infect for the kill
//     points that need a machine (during connect, infect, reboot): one host
//     is killed at every point in turn, the API points too, each rerun
//     resuming from the kill before it, and the last one runs to NixOS.
//     Then state.json is deleted, the harder destroy: the tags alone must
//     find everything. About one infect's time.
//
// Each writes its table to the test log and to bench/ (fault-matrix-api.txt,
// fault-matrix-vm.txt).

// matrixRow is one line of the table.
type matrixRow struct {
	Point   string // the fault or the kill point
	Destroy string // "state.json kept" or "state.json deleted"
	Resumed string // "ok (...)" or what went wrong
	Orphans int    // resources left in the cloud after destroy
	Note    string
}

func writeMatrix(t *testing.T, file, title string, rows []matrixRow) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", title)
	fmt.Fprintf(&b, "| %-58s | %-18s | %-34s | %-7s |\n", "fault or SIGKILL point", "destroy", "resumed", "orphans")
	fmt.Fprintf(&b, "|%s|%s|%s|%s|\n", strings.Repeat("-", 60), strings.Repeat("-", 20), strings.Repeat("-", 36), strings.Repeat("-", 9))
	resumed, clean := 0, 0
	for _, r := range rows {
		fmt.Fprintf(&b, "| %-58s | %-18s | %-34s | %-7d |\n", r.Point, r.Destroy, r.Resumed, r.Orphans)
		if strings.HasPrefix(r.Resumed, "ok") {
			resumed++
		}
		if r.Orphans == 0 {
			clean++
		}
	}
	fmt.Fprintf(&b, "\n%d of %d resumed, %d of %d with 0 orphans after destroy (%s, %s)\n", resumed, len(rows), clean, len(rows), time.Now().UTC().Format(time.DateOnly), goVersionLine())
	t.Logf("\n%s", b.String())
	if err := os.WriteFile(filepath.Join("..", "bench", file), []byte(b.String()), 0o644); err != nil {
		t.Errorf("write the table: %v", err)
	}
}

func goVersionLine() string {
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	return "go"
}

// stepStatus reads a step's status from hosts/NAME/state.json ("" if none).
func (e *env) stepStatus(name, step string) string {
	data, err := os.ReadFile(filepath.Join(e.ws, "hosts", name, "state.json"))
	if err != nil {
		return ""
	}
	var rec bootstrap.Record
	if json.Unmarshal(data, &rec) != nil {
		return ""
	}
	if sr := rec.Steps[step]; sr != nil {
		return sr.Status
	}
	return ""
}

// started is a bootstrap run in the background.
type started struct {
	cmd  *exec.Cmd
	out  *strings.Builder
	done chan error
}

func (e *env) start(ctx context.Context, args ...string) *started {
	e.t.Helper()
	cmd := e.command(ctx, args...)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	s := &started{cmd: cmd, out: out, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	return s
}

// killWhen SIGKILLs the run once cond holds (polled every 20ms), or reports
// that the run ended or the wait ran out first.
func (s *started) killWhen(within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.done:
			return fmt.Errorf("the run ended before the kill point (%v):\n%s", err, s.out.String())
		default:
		}
		if cond() {
			s.cmd.Process.Signal(syscall.SIGKILL)
			<-s.done
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	return fmt.Errorf("the kill point did not come within %v:\n%s", within, s.out.String())
}

// taken reports whether the cloud's only fault was used up: the request it
// delays has arrived (and waits).
func taken(c *localcloud.Cloud) func() bool {
	return func() bool { return len(c.Faults()) == 0 }
}

func inject(t *testing.T, c *localcloud.Cloud, faults ...localcloud.Fault) {
	t.Helper()
	for _, f := range faults {
		if err := c.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
}

// hold delays the first request matching method and path by a minute: the
// run waits there to be killed.
func hold(method, path string) localcloud.Fault {
	return localcloud.Fault{Kind: localcloud.FaultDelay, Method: method, Path: path, Delay: time.Minute}
}

const (
	ipsPath      = "/instance/v1/zones/*/ips"
	serversPath  = "/instance/v1/zones/*/servers"
	serverPath   = "/instance/v1/zones/*/servers/*"
	actionPath   = "/instance/v1/zones/*/servers/*/action"
	userDataPath = "/instance/v1/zones/*/servers/*/user_data/cloud-init"
)

// orphans counts what is left in the cloud.
func orphans(c *localcloud.Cloud) int {
	inv := c.Resources()
	return len(inv.Servers) + len(inv.IPs) + len(inv.Volumes)
}

// apiCloud is a local cloud without machines, as unkind as Scaleway: every
// list lags two seconds behind the creates.
func apiCloud(t *testing.T, e *env) *localcloud.Cloud {
	t.Helper()
	c := localcloud.New(localcloud.Options{
		Token:     cloudToken,
		Addresses: localcloud.AddressRange(netip.MustParseAddr("127.0.0.230"), netip.MustParseAddr("127.0.0.234")),
		Machines:  localcloud.NoopMachines{BootDelay: 300 * time.Millisecond, StopDelay: 100 * time.Millisecond},
		ListLag:   2 * time.Second,
	})
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() { srv.Close(); c.Close() })
	e.extra = append(e.extra,
		"SCW_API_URL="+srv.URL,
		"SCW_ACCESS_KEY=SCWLOCALCLOUD0000000",
		"SCW_SECRET_KEY="+cloudToken,
		"SCW_DEFAULT_PROJECT_ID="+cloudProject,
		"SCW_DEFAULT_ZONE=fr-par-1",
		"SCW_CONFIG_PATH="+filepath.Join(e.home, "no-scw-config.yaml"),
	)
	return c
}

// apiScenario is a row of the API matrix: what to inject, and when (if at
// all) to kill the first run.
type apiScenario struct {
	point  string
	faults []localcloud.Fault
	// kill is when to SIGKILL the first run; nil lets it run (until the
	// create step is done, or it fails).
	kill func(c *localcloud.Cloud, e *env, name string) func() bool
	// timeout is the first run's --timeout ("" for the default).
	timeout string
}

func TestFaultMatrixAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the bootstrap binary many times against the local cloud (no VM)")
	}
	t.Parallel() // mostly waits: alongside the VM tests
	whenTaken := func(c *localcloud.Cloud, _ *env, _ string) func() bool { return taken(c) }
	scenarios := []apiScenario{
		{point: "SIGKILL after IP create", faults: []localcloud.Fault{hold("POST", serversPath)}, kill: whenTaken},
		{point: "SIGKILL after server create", faults: []localcloud.Fault{hold("GET", userDataPath)}, kill: whenTaken},
		{point: "SIGKILL during user data", faults: []localcloud.Fault{hold("PATCH", userDataPath)}, kill: whenTaken},
		{point: "SIGKILL during power-on", faults: []localcloud.Fault{hold("POST", actionPath)}, kill: whenTaken},
		{point: "SIGKILL while the server is starting", faults: []localcloud.Fault{{Kind: localcloud.FaultStuckStarting, Method: "POST", Path: actionPath}},
			kill: func(c *localcloud.Cloud, _ *env, _ string) func() bool {
				return func() bool { s := c.Resources().Servers; return len(s) == 1 && s[0].State == "starting" }
			}},
		{point: "429 storm", faults: []localcloud.Fault{
			{Kind: localcloud.FaultStatus, Status: 429, Method: "POST", Path: ipsPath, Count: 3},
			{Kind: localcloud.FaultStatus, Status: 429, Method: "POST", Path: serversPath, Count: 4},
			{Kind: localcloud.FaultStatus, Status: 429, Method: "PATCH", Count: 2},
			{Kind: localcloud.FaultStatus, Status: 429, Method: "POST", Path: actionPath, Count: 3},
			{Kind: localcloud.FaultStatus, Status: 429, Method: "GET", Path: serverPath, Count: 9},
		}},
		{point: "5xx on creates, reads and actions", faults: []localcloud.Fault{
			{Kind: localcloud.FaultStatus, Status: 503, Method: "POST", Path: ipsPath},
			{Kind: localcloud.FaultStatus, Status: 502, Method: "POST", Path: serversPath},
			{Kind: localcloud.FaultStatus, Status: 500, Method: "GET", Path: serverPath, Count: 3},
			{Kind: localcloud.FaultStatus, Status: 503, Method: "POST", Path: actionPath},
		}},
		{point: "lost server create, commits 3s late, lists 5s late", faults: []localcloud.Fault{
			{Kind: localcloud.FaultLostResponse, Method: "POST", Path: serversPath, Respond504: true, CommitDelay: 3 * time.Second, ListLag: 5 * time.Second},
		}},
		{point: "lost IP create, commits late; SIGKILL while adopting", faults: []localcloud.Fault{
			{Kind: localcloud.FaultLostResponse, Method: "POST", Path: ipsPath, CommitDelay: 2 * time.Second, ListLag: 4 * time.Second},
		}, kill: func(c *localcloud.Cloud, _ *env, _ string) func() bool {
			var since time.Time
			return func() bool {
				if len(c.Faults()) != 0 {
					return false
				}
				if since.IsZero() {
					since = time.Now()
				}
				return time.Since(since) > time.Second // in the adoption wait
			}
		}},
		{point: "transient_state and resource_still_in_use on deletes", faults: nil},
		{point: "server stuck in starting (--timeout 15s)", faults: []localcloud.Fault{{Kind: localcloud.FaultStuckStarting, Method: "POST", Path: actionPath, Count: -1}}, timeout: "15s"},
	}
	// The rows mostly wait (the adoption and destroy waits): several at a
	// time, each on a cloud and a workspace of its own.
	rows := make([]matrixRow, 2*len(scenarios))
	slots := make(chan struct{}, 6)
	t.Run("rows", func(t *testing.T) {
		for i, sc := range scenarios {
			for j, deleted := range []bool{false, true} {
				name := fmt.Sprintf("fm-%d-%v", i, deleted)
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					slots <- struct{}{}
					defer func() { <-slots }()
					rows[2*i+j] = runAPIScenario(t, sc, name, deleted)
				})
			}
		}
	})
	writeMatrix(t, "fault-matrix-api.txt", "Fault matrix, API points and faults (local cloud, machines: none; every list lags 2s)", rows)
	for _, r := range rows {
		if !strings.HasPrefix(r.Resumed, "ok") || r.Orphans != 0 {
			t.Errorf("%s, %s: resumed %q, %d orphans; %s", r.Point, r.Destroy, r.Resumed, r.Orphans, r.Note)
		}
	}
}

func runAPIScenario(t *testing.T, sc apiScenario, name string, deleted bool) matrixRow {
	t.Helper()
	e := newEnv(t)
	c := apiCloud(t, e)
	row := matrixRow{Point: sc.point, Destroy: "state.json kept"}
	if deleted {
		row.Destroy = "state.json deleted"
	}
	ctx := ctxFor(t, 5*time.Minute)
	inject(t, c, sc.faults...)
	timeout := sc.timeout
	if timeout == "" {
		timeout = "3m"
	}
	created := func() bool { return e.stepStatus(name, bootstrap.StepCreate) == bootstrap.StatusDone }

	// The first run: killed at its point, or let run until it created the
	// machine (then stopped at connect, where nothing answers) or failed.
	first := e.start(ctx, scalewayArgs(name, "nixos-24.11", "--timeout", timeout)...)
	if sc.kill != nil {
		if err := first.killWhen(2*time.Minute, sc.kill(c, e, name)); err != nil {
			row.Resumed, row.Note = "kill point not reached", err.Error()
		}
	} else if err := first.killWhen(2*time.Minute, created); err != nil && !strings.Contains(err.Error(), "ended before") {
		row.Note = err.Error()
	}
	c.ClearFaults() // and releases a stuck boot

	// The rerun must resume: create done, exactly one of each, recorded.
	if row.Resumed == "" {
		rerun := e.start(ctx, scalewayArgs(name, "nixos-24.11")...)
		if err := rerun.killWhen(2*time.Minute, created); err != nil {
			row.Resumed, row.Note = "rerun did not create", err.Error()
		} else {
			row.Resumed, row.Note = checkResumed(t, e, c, name)
		}
	}

	if sc.point == "transient_state and resource_still_in_use on deletes" {
		inject(t, c,
			localcloud.Fault{Kind: localcloud.FaultStatus, Status: 409, Method: "DELETE", Path: serverPath, Count: 3},
			localcloud.Fault{Kind: localcloud.FaultStatus, Status: 409, Method: "POST", Path: actionPath, Count: 2},
			localcloud.Fault{Kind: localcloud.FaultStatus, Status: 412, Method: "DELETE", Path: "/block/v1alpha1/zones/*/volumes/*", Count: 3},
			localcloud.Fault{Kind: localcloud.FaultStatus, Status: 412, Method: "DELETE", Path: ipsPath + "/*", Count: 3},
		)
	}
	args := []string{"destroy", name, "--yes", "--timeout", "3m"}
	if deleted {
		os.Remove(filepath.Join(e.ws, "hosts", name, "state.json"))
		args = append(args, "--zone", "fr-par-1")
	}
	if r := e.run(ctx, args...); r.code != 0 {
		row.Note += fmt.Sprintf("; destroy: %s", r)
	}
	row.Orphans = orphans(c)
	if row.Orphans != 0 {
		row.Note += "; left: " + c.Resources().String()
	}
	if r := e.run(ctx, "destroy", name, "--yes", "--zone", "fr-par-1"); r.code != 0 || !strings.Contains(r.stdout, "nothing left") {
		row.Note += fmt.Sprintf("; second destroy: %s", r)
		row.Resumed += " (second destroy failed)"
	}
	return row
}

// checkResumed says whether the cloud holds exactly what the record says:
// one server running with its user data, one IP, one volume.
func checkResumed(t *testing.T, e *env, c *localcloud.Cloud, name string) (string, string) {
	inv := c.Resources()
	made := scalewayRecord(t, e.record(name))
	switch {
	case made == nil:
		return "no machine record", ""
	case len(inv.Servers) != 1 || len(inv.IPs) != 1 || len(inv.Volumes) != 1:
		return fmt.Sprintf("duplicates: %d servers, %d IPs", len(inv.Servers), len(inv.IPs)), inv.String()
	case inv.Servers[0].ID != made.ServerID || inv.IPs[0].ID != made.IPID || len(made.VolumeIDs) != 1 || inv.Volumes[0].ID != made.VolumeIDs[0]:
		return "record differs from the cloud", inv.String()
	case inv.Servers[0].State != "running":
		return "server " + inv.Servers[0].State, ""
	case len(inv.Servers[0].UserData) != 1:
		return "no user data", ""
	}
	return "ok (provisioned)", ""
}

// TestFaultMatrixVM kills one host's `bootstrap scaleway` (to nixos-20.09) at every step in
// turn, each rerun resuming from the kill before it, the last one running
// the real nixos-infect to NixOS; then deletes state.json and destroys by
// tags alone.
func TestFaultMatrixVM(t *testing.T) {
	parallelVMs(t)
	e := newEnv(t)
	c, rg := newCloud(t, e, "127.0.0.120", "127.0.0.124", true)
	ctx := ctxFor(t, 30*time.Minute)
	const name = "fm-vm"
	args := scalewayArgs(name, "nixos-20.09")
	var rows []matrixRow
	// A 429 storm through all of it.
	inject(t, c,
		localcloud.Fault{Kind: localcloud.FaultStatus, Status: 429, Method: "POST", Path: ipsPath, Count: 2},
		localcloud.Fault{Kind: localcloud.FaultStatus, Status: 429, Method: "GET", Path: serverPath, Count: 4},
	)
	status := func(step, want string) func() bool {
		return func() bool { return e.stepStatus(name, step) == want }
	}
	after := func(d time.Duration, cond func() bool) func() bool {
		var since time.Time
		return func() bool {
			if !cond() {
				return false
			}
			if since.IsZero() {
				since = time.Now()
			}
			return time.Since(since) >= d
		}
	}
	points := []struct {
		point string
		hold  *localcloud.Fault
		when  func() bool
	}{
		{point: "SIGKILL after IP create", hold: ptr(hold("POST", serversPath))},
		{point: "SIGKILL after server create", hold: ptr(hold("GET", userDataPath))},
		{point: "SIGKILL during user data", hold: ptr(hold("PATCH", userDataPath))},
		{point: "SIGKILL during power-on", hold: ptr(hold("POST", actionPath))},
		// The connect is quick once the server runs (under 2 s in CI): kill
		// as soon as it is recorded running. The infect takes about 50 s.
		{point: "SIGKILL during connect", when: status(bootstrap.StepConnect, bootstrap.StatusRunning)},
		{point: "SIGKILL during infect", when: after(10*time.Second, status(bootstrap.StepInfect, bootstrap.StatusRunning))},
		{point: "SIGKILL during reboot", when: after(3*time.Second, status(bootstrap.StepReboot, bootstrap.StatusRunning))},
	}
	for _, p := range points {
		when := p.when
		if p.hold != nil {
			// The hold is gone from the faults once its request arrived
			// (the 429 storm's may still be there).
			inject(t, c, *p.hold)
			when = func() bool { return !holdLeft(c) }
		}
		run := e.start(ctx, args...)
		row := matrixRow{Point: p.point, Destroy: "state.json deleted"}
		if err := run.killWhen(15*time.Minute, when); err != nil {
			row.Resumed, row.Note = "kill point not reached", err.Error()
			t.Errorf("%s: %v", p.point, err)
		}
		removeHolds(c)
		if inv := c.Resources(); len(inv.Servers) > 1 || len(inv.IPs) > 1 {
			row.Resumed = "duplicates: " + inv.String()
		}
		rows = append(rows, row)
	}
	// The last rerun goes all the way.
	final := e.run(ctx, args...)
	resumed := "ok (NixOS)"
	if final.code != 0 {
		resumed = fmt.Sprintf("final rerun exit %d", final.code)
		t.Errorf("final rerun: got %s", final)
	} else {
		assertNixOS(t, e, &host{addr: e.record(name).Address, rig: rg}, name, "nixos-20.09")
	}
	inv := c.Resources()
	if len(inv.Servers) != 1 || len(inv.IPs) != 1 || len(inv.Volumes) != 1 {
		resumed = "duplicates: " + inv.String()
		t.Errorf("got %s, want one server, one IP, one volume", inv)
	} else if len(inv.Servers[0].UserData) != 0 {
		t.Errorf("got user data %q after the first connection, want none", inv.Servers[0].UserData)
	}
	// Each kill point's rerun got past it: the next point was reached, and
	// the last rerun finished.
	for i := range rows {
		if rows[i].Resumed == "" {
			rows[i].Resumed = resumed
		}
	}

	// The harder destroy: state.json is gone, the tags alone find it all.
	if err := os.Remove(filepath.Join(e.ws, "hosts", name, "state.json")); err != nil {
		t.Fatal(err)
	}
	if r := e.run(ctx, "destroy", name, "--yes", "--zone", "fr-par-1"); r.code != 0 {
		t.Errorf("destroy without state.json: got %s", r)
	}
	left := orphans(c)
	for i := range rows {
		rows[i].Orphans = left
	}
	rows = append(rows, matrixRow{Point: "429 storm (through all of the above)", Destroy: "state.json deleted", Resumed: resumed, Orphans: left})
	writeMatrix(t, "fault-matrix-vm.txt", "Fault matrix, one VM killed at every step in turn (real nixos-infect; the last rerun to NixOS)", rows)
	assertNothingLeft(t, c)
	if r := e.run(ctx, "destroy", name, "--yes", "--zone", "fr-par-1"); r.code != 0 || !strings.Contains(r.stdout, "nothing left") {
		t.Errorf("second destroy: got %s, want exit 0, nothing left", r)
	}
}

func ptr[T any](v T) *T { return &v }

// holdLeft reports whether a one-minute hold fault is still waiting for its
// request.
func holdLeft(c *localcloud.Cloud) bool {
	for _, f := range c.Faults() {
		if f.Kind == localcloud.FaultDelay && f.Delay == time.Minute {
			return true
		}
	}
	return false
}

// removeHolds clears the hold faults, keeping the others (the 429 storm).
func removeHolds(c *localcloud.Cloud) {
	keep := c.Faults()
	c.ClearFaults()
	for _, f := range keep {
		if !(f.Kind == localcloud.FaultDelay && f.Delay == time.Minute) {
			c.InjectFault(f)
		}
	}
}
