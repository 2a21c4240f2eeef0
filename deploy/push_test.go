package deploy

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bootstrap/remote"
	"bootstrap/secrets"
)

var hostEtc = map[string]string{
	"configuration.nix": "{ imports = [ ./host.nix ./old.nix ]; }\n",
	"host.nix":          "{ }\n",
	"old.nix":           "{ }\n",
}

// workspace is hosts/NAME: host.nix changed, new.nix added, old.nix gone.
func workspaceFiles() map[string][]byte {
	return map[string][]byte{
		"configuration.nix": []byte("{ imports = [ ./host.nix ./new.nix ]; }\n"),
		"host.nix":          []byte("{ services.nginx.enable = true; }\n"),
		"new.nix":           []byte("{ }\n"),
	}
}

func target(h *fakeHost) Target {
	return Target{Name: "web-1", Files: workspaceFiles(), Dial: h.dial}
}

func asStrings(m map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

func TestPushSwitch(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	rep := &recorder{}
	res, err := Push(context.Background(), target(h), Options{Action: Switch, Report: rep})
	if err != nil {
		t.Fatalf("push: %v\n%s", err, rep)
	}
	if got, want := h.etcString(), asStrings(workspaceFiles()); !maps.Equal(got, want) {
		t.Errorf("got /etc/nixos %v, want the workspace's %v", got, want)
	}
	if res.Before != 1 || res.After != 2 || h.current != 2 {
		t.Errorf("got generations %d -> %d (host %d), want 1 -> 2", res.Before, res.After, h.current)
	}
	// Copies: generation 1 as it was, generation 2 as pushed.
	if got := asStrings(h.copies[1]); !maps.Equal(got, hostEtc) {
		t.Errorf("got copy of generation 1 %v, want %v", got, hostEtc)
	}
	if got := asStrings(h.copies[2]); !maps.Equal(got, asStrings(workspaceFiles())) {
		t.Errorf("got copy of generation 2 %v, want the workspace's", got)
	}
	if got := Summary(res.Changes); got != "configuration.nix, host.nix, +new.nix, -old.nix" {
		t.Errorf("got changes %q", got)
	}
	diff := rep.diffs["web-1"]
	for _, want := range []string{"--- web-1:/etc/nixos/host.nix\n+++ hosts/web-1/host.nix\n", "+{ services.nginx.enable = true; }", "--- /dev/null\n+++ hosts/web-1/new.nix", "+++ /dev/null"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if !h.ran("nixos-rebuild switch;") || h.ran("nixos-rebuild build") || h.ran("systemd-run") {
		t.Errorf("got commands %q, want one nixos-rebuild switch and no timer", h.cmds)
	}
	if h.dials != 2 {
		t.Errorf("got %d connections, want 2 (the push, and the fresh one after the switch)", h.dials)
	}
}

func TestPushWritesSecrets(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	tg := target(h)
	tg.Secrets = &secrets.Decrypted{Host: tg.Name, Values: map[string][]byte{"api-token": []byte("s3cret")}}
	res, err := Push(context.Background(), tg, Options{Action: Switch})
	if err != nil {
		t.Fatal(err)
	}
	if string(h.secrets[".api-token.tmp"]) != "s3cret" || len(res.Secrets) != 1 || res.Secrets[0] != "api-token" {
		t.Errorf("got uploads %v, result %v; want the secret written", h.writes, res.Secrets)
	}
	// Before the build: the new configuration may need them.
	si := slices.IndexFunc(h.cmds, func(c string) bool { return strings.Contains(c, "/var/lib/bootstrap/secrets") })
	ri := slices.IndexFunc(h.cmds, func(c string) bool { return strings.Contains(c, "nixos-rebuild") })
	if si < 0 || si > ri {
		t.Errorf("got commands %q, want the secrets before nixos-rebuild", h.cmds)
	}
	for _, c := range h.cmds {
		if strings.Contains(c, "s3cret") {
			t.Errorf("a command carries the secret: %q", c)
		}
	}
}

func TestPushUpToDate(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	tg := target(h)
	tg.Files = map[string][]byte{}
	for k, v := range hostEtc {
		tg.Files[k] = []byte(v)
	}
	rep := &recorder{}
	res, err := Push(context.Background(), tg, Options{Action: Switch, Report: rep})
	if err != nil {
		t.Fatal(err)
	}
	if !res.UpToDate || h.ran("nixos-rebuild") || len(h.writes) != 0 || rep.diffs["web-1"] != "" {
		t.Errorf("got up to date %v, commands %q, writes %q, diff %q; want nothing done", res.UpToDate, h.cmds, h.writes, rep.diffs["web-1"])
	}
}

// A failing build leaves /etc/nixos and the generations as they were.
func TestPushBuildFailureRestores(t *testing.T) {
	for _, confirm := range []time.Duration{0, time.Minute} {
		h := newFakeHost(t, hostEtc)
		h.rebuild = func(h *fakeHost, action string) (string, int, error) {
			if action == "switch" || action == "boot" {
				// A real failing build never reaches nix-env --set.
				h.gens, h.current = h.gens[:len(h.gens)-1], h.gens[len(h.gens)-2]
			}
			return "error: undefined variable 'nginxx'\n", 1, nil
		}
		res, err := Push(context.Background(), target(h), Options{Action: Switch, ConfirmTimeout: confirm})
		var be *BuildError
		if !errors.As(err, &be) || be.Activated || be.PutBackErr != nil || be.Status != 1 || !strings.Contains(be.Tail, "nginxx") {
			t.Fatalf("confirm %s: got %v (%#v), want a build failure put back", confirm, err, be)
		}
		if got := h.etcString(); !maps.Equal(got, hostEtc) {
			t.Errorf("confirm %s: got /etc/nixos %v, want it restored to %v", confirm, got, hostEtc)
		}
		if h.current != 1 || len(h.gens) != 1 || res.After != 1 {
			t.Errorf("confirm %s: got generations %v current %d, want [1] current 1", confirm, h.gens, h.current)
		}
		if h.armed || h.ran("systemd-run") {
			t.Errorf("confirm %s: a failing build armed the rollback timer", confirm)
		}
		if !strings.Contains(err.Error(), "/etc/nixos restored, on generation 1") {
			t.Errorf("got message %q", err)
		}
	}
}

// An activation that fails after the profile switched goes back to the
// generation that ran before, and /etc/nixos too.
func TestPushActivationFailureSwitchesBack(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	h.rebuild = func(*fakeHost, string) (string, int, error) {
		return "warning: error(s) occurred while switching to the new configuration\n", 4, nil
	}
	_, err := Push(context.Background(), target(h), Options{Action: Switch})
	var be *BuildError
	if !errors.As(err, &be) || !be.Activated || be.PutBackErr != nil {
		t.Fatalf("got %v, want an activation failure put back", err)
	}
	if h.current != 1 || !h.ran("--switch-generation 1") {
		t.Errorf("got current %d, commands %q; want switched back to 1", h.current, h.cmds)
	}
	if got := h.etcString(); !maps.Equal(got, hostEtc) {
		t.Errorf("got /etc/nixos %v, want %v", got, hostEtc)
	}
	if !strings.Contains(err.Error(), "switched back to generation 1") {
		t.Errorf("got message %q", err)
	}
}

func TestPushBootSwitchesBackWithBoot(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	h.rebuild = func(*fakeHost, string) (string, int, error) { return "grub-install: error\n", 1, nil }
	_, err := Push(context.Background(), target(h), Options{Action: Boot})
	var be *BuildError
	if !errors.As(err, &be) || !be.Activated {
		t.Fatalf("got %v, want a failure after the profile switched", err)
	}
	if !h.ran("switch-to-configuration boot") || h.ran("switch-to-configuration switch") {
		t.Errorf("got commands %q, want the old generation made the boot default, not activated", h.cmds)
	}
	if h.dials != 1 {
		t.Errorf("got %d connections, want 1 (boot activates nothing: no confirmation)", h.dials)
	}
}

func TestPushConfirmDisarms(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	res, err := Push(context.Background(), target(h), Options{Action: Switch, ConfirmTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// Build, arm, switch, confirm over the fresh connection.
	order := []string{"nixos-rebuild build", "systemd-run", "nixos-rebuild switch", ".decided"}
	last := -1
	for _, want := range order {
		i := slices.IndexFunc(h.cmds, func(c string) bool { return strings.Contains(c, want) })
		if i <= last {
			t.Fatalf("got commands %q, want %q in this order", h.cmds, order)
		}
		last = i
	}
	if h.armed || !h.confirmed || res.After != 2 {
		t.Errorf("got armed %v confirmed %v after %d, want disarmed on generation 2", h.armed, h.confirmed, res.After)
	}
}

// timerRollsBackOnDial makes the which-th dial fail as if the new
// configuration broke SSH, after the armed timer rolled the host back to
// generation 1 (what the timer's script does).
func (h *fakeHost) timerRollsBackOnDial(which int) func(n int) error {
	return func(n int) error {
		if n != which {
			return nil
		}
		h.mu.Lock()
		h.timerFired = true
		h.current = 1
		h.etc = maps.Clone(h.copies[1])
		h.mu.Unlock()
		return errors.New("connection refused")
	}
}

// A switch that breaks SSH: no fresh connection within the confirm timeout;
// the host's timer rolls back and push reports it.
func TestPushConfirmTimeoutRollsBack(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	h.dialErr = h.timerRollsBackOnDial(2) // the fresh connection after the switch
	start := time.Now()
	_, err := Push(context.Background(), target(h), Options{Action: Switch, ConfirmTimeout: 200 * time.Millisecond, ReconnectTimeout: time.Second})
	var ce *ConfirmError
	if !errors.As(err, &ce) || !ce.Armed || !ce.RolledBack || ce.Previous != 1 || ce.Generation != 2 {
		t.Fatalf("got %v (%#v), want a confirm error rolled back to 1", err, ce)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("gave up after %s, before the confirm timeout", d)
	}
	if got := h.etcString(); !maps.Equal(got, hostEtc) {
		t.Errorf("got /etc/nixos %v, want generation 1's", got)
	}
	if !strings.Contains(err.Error(), "rolled back to generation 1 by itself") {
		t.Errorf("got message %q", err)
	}
}

// The broken configuration cuts the connection during the armed switch
// itself: the error still names the generation the switch made, read
// after the timer's rollback (it is no longer current then).
func TestPushConfirmTimeoutConnectionLostDuringSwitch(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	h.rebuild = func(h *fakeHost, action string) (string, int, error) {
		if action == "switch" {
			return "", 0, remote.ErrConnectionLost
		}
		return "", 0, nil
	}
	h.dialErr = h.timerRollsBackOnDial(2) // the reconnect after the lost switch
	_, err := Push(context.Background(), target(h), Options{Action: Switch, ConfirmTimeout: 200 * time.Millisecond, ReconnectTimeout: time.Second})
	var ce *ConfirmError
	if !errors.As(err, &ce) || !ce.Armed || !ce.RolledBack || ce.Previous != 1 || ce.Generation != 2 {
		t.Fatalf("got %v (%#v), want a confirm error naming generation 2, rolled back to 1", err, ce)
	}
	if want := "within 200ms of switching to generation 2: it rolled back to generation 1 by itself"; !strings.Contains(err.Error(), want) {
		t.Errorf("got message %q, want it to contain %q", err, want)
	}
}

func TestPushUnreachableAfterSwitch(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	h.dialErr = func(n int) error {
		if n > 1 {
			return errors.New("no route to host")
		}
		return nil
	}
	_, err := Push(context.Background(), target(h), Options{Action: Switch, ReconnectTimeout: 100 * time.Millisecond})
	var ce *ConfirmError
	if !errors.As(err, &ce) || ce.Armed || ce.Generation != 2 || ce.Previous != 1 {
		t.Fatalf("got %v, want an unarmed confirm error", err)
	}
	if want := "nix-env -p /nix/var/nix/profiles/system --switch-generation 1 && /nix/var/nix/profiles/system/bin/switch-to-configuration switch"; !strings.Contains(ce.Hint(), want) {
		t.Errorf("got hint %q, want the rollback command %q", ce.Hint(), want)
	}
}

// The connection drops during the switch (the activation restarted the
// network); a new one finds the switch done.
func TestPushConnectionLostDuringSwitch(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	h.rebuild = func(_ *fakeHost, action string) (string, int, error) {
		return "", 0, remote.ErrConnectionLost
	}
	res, err := Push(context.Background(), target(h), Options{Action: Switch})
	if err != nil || res.After != 2 {
		t.Fatalf("got %v, generation %d; want success on generation 2", err, res.After)
	}
	if !h.ran("echo gone") {
		t.Errorf("got commands %q, want a wait for the switch job", h.cmds)
	}
	h = newFakeHost(t, hostEtc)
	h.rebuild = func(_ *fakeHost, action string) (string, int, error) { return "", 0, remote.ErrConnectionLost }
	h.jobRC = "4"
	_, err = Push(context.Background(), target(h), Options{Action: Switch})
	var be *BuildError
	if !errors.As(err, &be) || be.Status != 4 || h.current != 1 {
		t.Fatalf("got %v, current %d; want the failed switch put back", err, h.current)
	}
}

func TestPushInterruptedPutsBack(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	ctx, cancel := context.WithCancel(context.Background())
	h.rebuild = func(*fakeHost, string) (string, int, error) {
		cancel()
		return "", 0, context.Canceled
	}
	_, err := Push(ctx, target(h), Options{Action: Switch})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want interrupted", err)
	}
	if !h.ran("kill -TERM") || h.current != 1 {
		t.Errorf("got commands %q current %d, want the job stopped and generation 1", h.cmds, h.current)
	}
	if got := h.etcString(); !maps.Equal(got, hostEtc) {
		t.Errorf("got /etc/nixos %v, want it restored", got)
	}
}

func TestPushDryRun(t *testing.T) {
	h := newFakeHost(t, hostEtc)
	res, err := Push(context.Background(), target(h), Options{Action: DryActivate})
	if err != nil {
		t.Fatal(err)
	}
	if got := h.etcString(); !maps.Equal(got, hostEtc) || h.current != 1 || len(h.copies) != 0 {
		t.Errorf("a dry run changed the host: /etc/nixos %v, current %d, copies %v", got, h.current, h.copies)
	}
	if !h.ran("nixos-rebuild dry-activate -I 'nixos-config=" + stagingPrefix) {
		t.Errorf("got commands %q, want dry-activate of the staged copy", h.cmds)
	}
	if !h.ran("rm -rf -- " + stagingPrefix) {
		t.Errorf("the staging directory was not removed: %q", h.cmds)
	}
	if res.DryActivate != "would restart the following units: sshd.service" {
		t.Errorf("got dry-activate summary %q", res.DryActivate)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		o  Options
		ok bool
	}{
		{Options{Action: Switch}, true},
		{Options{Action: Switch, ConfirmTimeout: time.Minute, Upgrade: true}, true},
		{Options{Action: Boot, ConfirmTimeout: time.Minute}, false},
		{Options{Action: DryActivate, ConfirmTimeout: time.Minute}, false},
		{Options{Action: DryActivate, Upgrade: true}, false},
		{Options{Action: "test"}, false},
	}
	for _, tt := range tests {
		if err := tt.o.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: got %v, want ok=%v", tt.o, err, tt.ok)
		}
	}
}

// PushAll runs at most parallel pushes at once and keeps the order.
func TestPushAllBound(t *testing.T) {
	for _, parallel := range []int{1, 2, 4} {
		var running, peak atomic.Int32
		var mu sync.Mutex
		var targets []Target
		for i := range 7 {
			h := newFakeHost(t, hostEtc)
			name := string(rune('a' + i))
			targets = append(targets, Target{Name: name, Files: workspaceFiles(), Dial: func(ctx context.Context) (Remote, error) {
				n := running.Add(1)
				mu.Lock()
				if n > peak.Load() {
					peak.Store(n)
				}
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
				running.Add(-1)
				if name == "c" {
					return nil, errors.New("refused")
				}
				return h.dial(ctx)
			}})
		}
		out := PushAll(context.Background(), targets, Options{Action: Boot}, parallel)
		if got := int(peak.Load()); got != parallel {
			t.Errorf("parallel %d: got %d pushes at once", parallel, got)
		}
		for i, o := range out {
			if o.Result == nil || o.Result.Host != targets[i].Name {
				t.Fatalf("outcome %d: got %+v, want host %s", i, o.Result, targets[i].Name)
			}
			if (o.Err != nil) != (targets[i].Name == "c") {
				t.Errorf("host %s: got %v", targets[i].Name, o.Err)
			}
		}
	}
}

func TestRollback(t *testing.T) {
	newHost := func() *fakeHost {
		h := newFakeHost(t, hostEtc)
		h.gens, h.current = []int{1, 2, 3}, 3
		h.copies[1] = map[string][]byte{"configuration.nix": []byte("one\n")}
		return h
	}
	h := newHost()
	res, err := Rollback(context.Background(), Target{Name: "web-1", Dial: h.dial}, 1, RollbackOptions{})
	if err != nil || res.From != 3 || res.To != 1 || !res.Config || h.current != 1 {
		t.Fatalf("rollback to 1: got %+v, %v, current %d", res, err, h.current)
	}
	if got := h.etcString(); !maps.Equal(got, map[string]string{"configuration.nix": "one\n"}) {
		t.Errorf("got /etc/nixos %v, want generation 1's copy", got)
	}
	if _, ok := h.copies[3]; !ok {
		t.Error("no copy kept of generation 3, which ran before")
	}

	h = newHost()
	res, err = Rollback(context.Background(), Target{Name: "web-1", Dial: h.dial}, 0, RollbackOptions{})
	if err != nil || res.To != 2 || res.Config || h.current != 2 {
		t.Fatalf("rollback to the previous: got %+v, %v", res, err)
	}

	h = newHost()
	_, err = Rollback(context.Background(), Target{Name: "web-1", Dial: h.dial}, 42, RollbackOptions{})
	var ge *GenerationError
	if !errors.As(err, &ge) || ge.Generation != 42 || !strings.Contains(err.Error(), "no generation 42 (it has 1, 2, 3)") {
		t.Fatalf("rollback to 42: got %v", err)
	}
	if h.current != 3 || h.ran("--switch-generation") {
		t.Errorf("a refused rollback changed the host: current %d, commands %q", h.current, h.cmds)
	}

	h = newHost()
	h.gens, h.current = []int{1}, 1
	if _, err = Rollback(context.Background(), Target{Name: "web-1", Dial: h.dial}, 0, RollbackOptions{}); !errors.As(err, &ge) || !strings.Contains(err.Error(), "no generation older than the current 1") {
		t.Fatalf("rollback from the first: got %v", err)
	}
}
