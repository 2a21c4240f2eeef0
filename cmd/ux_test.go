package cmd

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bootstrap/bootstrap"
	"bootstrap/deploy"
	"bootstrap/infect"
	"bootstrap/remote"
	"bootstrap/secrets"
	"bootstrap/workspace"
)

// cli runs bootstrap in-process against the fixture's prepared home and
// workspace and returns the exit code and outputs.
func (f *fixture) cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	root := NewRoot()
	root.SetArgs(append([]string{"--workspace", f.ws}, args...))
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(""))
	code = Execute(root)
	return code, out.String(), errb.String()
}

func newRow(t *testing.T) *fixture {
	f := newFixture(t)
	f.prepare(t)
	f.env(t)
	return f
}

func TestSettingsThroughViper(t *testing.T) {
	f := newRow(t)
	write(t, filepath.Join(f.ws, ConfigFile), "channel: nixos-24.05\ntimeout: 7m\nhost-nix: ~/nix/ok.nix\n", 0o644)
	write(t, filepath.Join(f.home, ".config", "bootstrap", ConfigFile), "channel: nixos-23.11\nreboot-timeout: 3m\nparallel: 3\n", 0o644)
	flag := func(cmdName string, env map[string]string, args ...string) func(string) string {
		t.Helper()
		for k, v := range env {
			t.Setenv(k, v)
		}
		root := NewRoot()
		cmd, rest, err := root.Find(append([]string{cmdName}, args...))
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.ParseFlags(append(rest, "--workspace", f.ws)); err != nil {
			t.Fatal(err)
		}
		if err := applySettings(cmd, &globalOptions{Workspace: f.ws}); err != nil {
			t.Fatalf("applySettings: %v", err)
		}
		for k := range env {
			os.Unsetenv(k)
		}
		return func(name string) string { return cmd.Flags().Lookup(name).Value.String() }
	}
	tests := []struct {
		name, cmd string
		env       map[string]string
		args      []string
		flag      string
		want      string
	}{
		{"the workspace's file over the user's", "ssh", nil, nil, "channel", "nixos-24.05"},
		{"only in the user's file", "ssh", nil, nil, "reboot-timeout", "3m0s"},
		{"the environment over the files", "ssh", map[string]string{"BOOTSTRAP_CHANNEL": "nixos-24.11"}, nil, "channel", "nixos-24.11"},
		{"an empty variable hides nothing", "ssh", map[string]string{"BOOTSTRAP_CHANNEL": ""}, nil, "channel", "nixos-24.05"},
		{"the command line over everything", "ssh", map[string]string{"BOOTSTRAP_CHANNEL": "nixos-24.11"}, []string{"--channel", "nixos-25.05"}, "channel", "nixos-25.05"},
		{"a key applies to ssh's --timeout", "ssh", nil, nil, "timeout", "7m0s"},
		{"and to push's --timeout", "push", nil, nil, "timeout", "7m0s"},
		{"and to rollback's --timeout", "rollback", nil, nil, "timeout", "7m0s"},
		{"a key only push has", "push", nil, nil, "parallel", "3"},
		{"~ in a path from a file", "ssh", nil, nil, "host-nix", filepath.Join(f.home, "nix", "ok.nix")},
		{"~ in a path from a flag's =", "ssh", nil, []string{"--host-nix=~/other.nix"}, "host-nix", filepath.Join(f.home, "other.nix")},
		{"~ in a list from the environment", "ssh", map[string]string{"BOOTSTRAP_IDENTITY": "~/keys/id,~/keys/id2"}, nil, "identity",
			"[" + filepath.Join(f.home, "keys", "id") + "," + filepath.Join(f.home, "keys", "id2") + "]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := flag(tt.cmd, tt.env, tt.args...)(tt.flag); got != tt.want {
				t.Errorf("%s --%s: got %q, want %q", tt.cmd, tt.flag, got, tt.want)
			}
		})
	}
}

// flagOnly keys are refused from a file and from the environment, never
// from the command line.
func TestFlagOnlySettings(t *testing.T) {
	f := newRow(t)
	flagOnly["accept-new-host-key"] = true
	defer delete(flagOnly, "accept-new-host-key")
	base := []string{"ssh", "root@127.0.0.9", "--channel", "nixos-24.11", "--dry-run"}

	write(t, filepath.Join(f.ws, ConfigFile), "accept-new-host-key: true\n", 0o644)
	if code, _, stderr := f.cli(t, base...); code != exitUsage || !strings.Contains(stderr, "only a flag on the command line may set it") || !strings.Contains(stderr, "pass --accept-new-host-key on the command line") {
		t.Errorf("from the workspace's file: got exit %d, %q; want 2 saying only a flag may set it", code, stderr)
	}
	os.Remove(filepath.Join(f.ws, ConfigFile))
	t.Setenv("BOOTSTRAP_ACCEPT_NEW_HOST_KEY", "true")
	if code, _, stderr := f.cli(t, base...); code != exitUsage || !strings.Contains(stderr, "BOOTSTRAP_ACCEPT_NEW_HOST_KEY") {
		t.Errorf("from the environment: got exit %d, %q; want 2 naming the variable", code, stderr)
	}
	os.Unsetenv("BOOTSTRAP_ACCEPT_NEW_HOST_KEY")
	if code, stdout, stderr := f.cli(t, append(base, "--accept-new-host-key")...); code != 0 || !strings.Contains(stdout, "accepted on first contact") {
		t.Errorf("from the command line: got exit %d, %q; want the plan to accept it", code, stderr)
	}
}

func TestForget(t *testing.T) {
	f := newRow(t)
	ws, _ := workspace.Load(f.ws)
	_, hostKey, _ := newSignerKey(t)
	if err := ws.PinHostKey("127.0.0.1", f.closed, hostKey); err != nil {
		t.Fatal(err)
	}
	if err := ws.PinHostKey("127.0.0.1", f.recorder.port, hostKey); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := f.cli(t, "forget", "web-1", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "would remove hosts/web-1 (2 file(s)) and the known_hosts entry of [127.0.0.1]:") {
		t.Fatalf("dry run: got %d %q", code, stdout)
	}
	if _, err := os.Stat(ws.HostDir("web-1")); err != nil {
		t.Fatalf("dry run removed hosts/web-1: %v", err)
	}
	code, stdout, stderr := f.cli(t, "forget", "web-1", "--yes", "--json")
	var got struct {
		Name       string   `json:"name"`
		Files      []string `json:"files"`
		KnownHosts []string `json:"known_hosts"`
		Record     bool     `json:"had_record"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil || got.Name != "web-1" || len(got.Files) != 2 || !got.Record {
		t.Fatalf("forget --json: got %d %q %q", code, stdout, stderr)
	}
	if _, err := os.Stat(ws.HostDir("web-1")); err == nil {
		t.Error("hosts/web-1 still there")
	}
	if fps, _ := remote.PinnedKeys(ws.KnownHosts(), remote.KnownHostsName("127.0.0.1", f.recorder.port)); len(fps) != 0 {
		t.Errorf("web-1's known_hosts entry still there: %v", fps)
	}
	if fps, _ := remote.PinnedKeys(ws.KnownHosts(), remote.KnownHostsName("127.0.0.1", f.closed)); len(fps) != 1 {
		t.Errorf("another host's known_hosts entry went too: %v", fps)
	}
	// A broken record is no obstacle: forgetting is how it goes.
	write(t, ws.HostFile("bad-1", "state.json"), "{", 0o644)
	if code, _, stderr := f.cli(t, "forget", "bad-1", "--yes"); code != 0 {
		t.Errorf("forget a broken record: got %d %q", code, stderr)
	}
	// A cloud machine that was not destroyed goes only with --orphan.
	if code, _, stderr := f.cli(t, "forget", "cloud-1", "--yes", "--orphan"); code != 0 {
		t.Errorf("forget --orphan: got %d %q", code, stderr)
	}
}

func TestConnect(t *testing.T) {
	f := newRow(t)
	ws, _ := workspace.Load(f.ws)
	var got []string
	run := func(args ...string) error {
		o := &ConnectOptions{global: &globalOptions{Workspace: f.ws}, stdout: &bytes.Buffer{}, exec: func(argv []string) error { got = argv; return nil }}
		o.Name = args[0]
		if len(args) > 1 {
			o.Command = args[1:]
		}
		return runConnect(t.Context(), o)
	}
	if err := run("web-1", "nixos-version", "--json"); err != nil {
		t.Fatal(err)
	}
	want := []string{"ssh", "-i", ws.KeyPath(workspace.SharedKey), "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=" + ws.KnownHosts(), "-o", "StrictHostKeyChecking=yes",
		"-p", f.fill("{recorder}"), "root@127.0.0.1", "--", "nixos-version", "--json"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// A host with a deploy key of its own (the default since per-host keys)
	// is reached with that key, not the shared one.
	rec, err := bootstrap.LoadHost(ws, "web-1", bootstrap.StepConnect)
	if err != nil {
		t.Fatal(err)
	}
	rec.DeployKey = workspace.HostKeyName("web-1")
	if err := bootstrap.SaveRecord(ws, rec); err != nil {
		t.Fatal(err)
	}
	if err := run("web-1"); err != nil {
		t.Fatal(err)
	}
	if want := ws.KeyPath("keys/web-1_ed25519"); len(got) < 3 || got[2] != want {
		t.Errorf("got %q, want -i %s", got, want)
	}
	code, stdout, _ := f.cli(t, "connect", "web-1", "--print", "--", "echo", "it's")
	if code != 0 || !strings.Contains(stdout, "root@127.0.0.1 -- echo 'it'\\''s'") {
		t.Errorf("--print: got %d %q", code, stdout)
	}
	if f.recorder.count.Load() != 0 {
		t.Error("connect --print dialed the host")
	}
}

func TestStatusBrokenRecord(t *testing.T) {
	f := newRow(t)
	write(t, filepath.Join(f.ws, "hosts", "bad-1", "state.json"), `{"name": "bad-1", "prov`, 0o644)
	code, stdout, stderr := f.cli(t, "status")
	if code != exitError || !strings.Contains(stdout, "web-1") || !strings.Contains(stdout, "half-1") || !regexpMatch(`bad-1\s+-\s+-\s+-\s+BROKEN`, stdout) {
		t.Errorf("got %d\n%s%s, want the others listed and bad-1 BROKEN", code, stdout, stderr)
	}
	code, stdout, _ = f.cli(t, "status", "--json")
	var list []map[string]any
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || len(list) != 4 {
		t.Fatalf("status --json: got %d %q (%v), want 4 entries", code, stdout, err)
	}
	if last := list[3]; last["name"] != "bad-1" || !strings.Contains(last["error"].(string), "state.json") {
		t.Errorf("got %v, want the broken record with its error", last)
	}
}

func TestVersion(t *testing.T) {
	f := newRow(t)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, _ := f.cli(t, args...)
		if code != 0 || !strings.Contains(stdout, infect.PinnedCommit) || !strings.Contains(stdout, infect.Pinned.SHA256) || !strings.Contains(stdout, "commit ") {
			t.Errorf("%v: got %d %q, want the version, commit and the pinned nixos-infect", args, code, stdout)
		}
	}
}

// A dry run tells the truth: the keys it would offer, the host key status,
// the secrets step and the commands; and it writes nothing.
func TestDryRunTruth(t *testing.T) {
	f := newRow(t)
	store := secrets.Store{WorkspaceDir: f.ws}
	write(t, store.Path("web-2", "db-password"), "age-encryption.org/v1\n", 0o600)
	before := snapshot(t, f.home, f.ws)
	pub, err := publicKeyOf(filepath.Join(f.home, "keys", "id"))
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := f.cli(t, "ssh", "root@127.0.0.1", "--port", f.fill("{closed}"), "--name", "web-2", "--channel", "nixos-24.11",
		"-i", filepath.Join(f.home, "keys", "id"), "--dry-run")
	if code != 0 {
		t.Fatalf("got %d %s", code, stderr)
	}
	for _, want := range []string{
		"offering only, in this order: " + filepath.Join(f.home, "keys", "id") + " (" + remote.Fingerprint(pub) + "), keys/web-2_ed25519 (would be generated: keys/web-2_ed25519, 0600)",
		"host key: unknown: refused, there is no terminal to ask on: pass --host-key",
		"4. secrets    decrypt 1 secret(s) of hosts/web-2/secrets in memory before connecting (db-password)",
		"setsid nohup sh -c",
		"export NIX_CHANNEL=nixos-24.11",
		"gives up after --connect-timeout 2m0s",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("the plan does not say %q:\n%s", want, stdout)
		}
	}
	if after := snapshot(t, f.home, f.ws); after != before {
		t.Errorf("a dry run wrote:\n%s", lineDiff(before, after))
	}
	// Pinned and --host-key.
	ws, _ := workspace.Load(f.ws)
	_, hk, _ := newSignerKey(t)
	if err := ws.PinHostKey("127.0.0.1", 2222, hk); err != nil {
		t.Fatal(err)
	}
	_, stdout, _ = f.cli(t, "ssh", "root@127.0.0.1", "--port", "2222", "--name", "web-3", "--channel", "nixos-24.11", "--dry-run")
	if !strings.Contains(stdout, "host key: pinned in known_hosts ("+remote.Fingerprint(hk)+")") {
		t.Errorf("pinned: the plan says\n%s", stdout)
	}
	_, stdout, _ = f.cli(t, "ssh", "root@127.0.0.1", "--port", "2223", "--name", "web-3", "--channel", "nixos-24.11", "--dry-run", "--host-key", remote.Fingerprint(hk))
	if !strings.Contains(stdout, "host key: unknown to the workspace: must be --host-key "+remote.Fingerprint(hk)) {
		t.Errorf("--host-key: the plan says\n%s", stdout)
	}
	// A workspace that does not exist stays so.
	if code, _, stderr := f.cli(t, "ssh", "root@127.0.0.1", "--channel", "nixos-24.11", "--dry-run", "-w", f.missing); code != 0 {
		t.Errorf("dry run in a new workspace: got %d %s", code, stderr)
	}
	if _, err := os.Stat(f.missing); err == nil {
		t.Error("the dry run created the workspace")
	}
}

// Scaleway's dry run checks zone, type and image with reads only.
func TestScalewayDryRunChecks(t *testing.T) {
	f := newRow(t)
	before := snapshot(t, f.home, f.ws)
	n := len(f.cloud.Requests())
	code, stdout, stderr := f.cli(t, "scaleway", "web-9", "--channel", "nixos-24.11", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "checked with read-only API calls (GET): zone fr-par-1 exists, it offers type DEV1-S, and image ubuntu_noble") {
		t.Fatalf("got %d\n%s%s", code, stdout, stderr)
	}
	reqs := f.cloud.Requests()[n:]
	if len(reqs) == 0 {
		t.Error("got no API call, want the read-only checks")
	}
	for _, r := range reqs {
		if r.Method != http.MethodGet {
			t.Errorf("got %s %s, want reads only", r.Method, r.Path)
		}
	}
	if after := snapshot(t, f.home, f.ws); after != before {
		t.Errorf("a dry run wrote:\n%s", lineDiff(before, after))
	}
}

// --json reports a failed run too: one object, the exit code, where it stopped.
func TestSSHJSONOnFailure(t *testing.T) {
	f := newRow(t)
	code, stdout, stderr := f.cli(t, "ssh", "root@127.0.0.1", "--port", f.fill("{closed}"), "--name", "j-1", "--channel", "nixos-24.11", "--yes",
		"--connect-timeout", "1s", "--infect-url", f.infectURL, "--infect-sha256", f.infectSHA, "--json")
	var r hostResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || strings.Count(strings.TrimSpace(stdout), "\n") != 0 {
		t.Fatalf("got %q (%v), want one JSON object", stdout, err)
	}
	if code != exitUnreachable || r.OK || r.ExitCode != exitUnreachable || r.State != "connect failed" || r.Address != "127.0.0.1" || r.Hint == "" {
		t.Errorf("got exit %d and %+v, want exit 3 reported in the object", code, r)
	}
	if !strings.Contains(stderr, "resolve") || !strings.Contains(stderr, "error: ") {
		t.Errorf("got stderr %q, want the progress and the error there", stderr)
	}
}

// Read-only commands never create the workspace they are pointed at.
func TestReadOnlyCreatesNothing(t *testing.T) {
	f := newRow(t)
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"secrets", "list", "web-1"}, {"ssh", "root@127.0.0.1", "--channel", "nixos-24.11", "--dry-run"},
		{"scaleway", "web-9", "--channel", "nixos-24.11", "--dry-run"}} {
		code, _, stderr := f.cli(t, append(args, "-w", f.missing)...)
		if code != 0 {
			t.Errorf("%v: got %d %s", args, code, stderr)
		}
		if _, err := os.Stat(f.missing); err == nil {
			t.Fatalf("%v created the workspace", args)
		}
	}
}

// host.nix strings that look like secrets are warned about, with the way out.
func TestHostNixSecretWarning(t *testing.T) {
	f := newRow(t)
	hostNix := filepath.Join(f.home, "nix", "pw.nix")
	write(t, hostNix, "{ ... }: { users.users.root.password = \"hunter2\"; }\n", 0o644)
	code, _, stderr := f.cli(t, "ssh", "root@127.0.0.1", "--name", "pw-1", "--channel", "nixos-24.11", "--host-nix", hostNix, "--dry-run")
	if code != 0 || !strings.Contains(stderr, "warning: "+hostNix+": line 1 looks like a password or token in a string") || !strings.Contains(stderr, "bootstrap secrets set pw-1 KEY") {
		t.Errorf("got %d %q, want a warning pointing to secrets set", code, stderr)
	}
}

// destroy --json: one object with what was deleted and whether the host was forgotten.
func TestDestroyJSON(t *testing.T) {
	f := newRow(t)
	code, stdout, stderr := f.cli(t, "destroy", "cloud-1", "--yes", "--json")
	var r destroyResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != 0 || !r.OK || r.Name != "cloud-1" || r.Provider != "scaleway" || r.Where != "fr-par-1" || !r.Forgot {
		t.Errorf("got %d %q %q (%+v), want one object: cloud-1 destroyed in fr-par-1 and forgotten", code, stdout, stderr, r)
	}
}

func TestPushResultJSON(t *testing.T) {
	oc := deploy.Outcome{Result: &deploy.Result{Host: "web-1", Changes: []deploy.Change{{File: "a.nix", Kind: deploy.Added}, {File: "host.nix", Kind: deploy.Modified}},
		Before: 3, After: 4, Took: 1500 * time.Millisecond}}
	got := pushResultOf(oc, deploy.Switch)
	if !got.OK || got.Name != "web-1" || strings.Join(got.Changes, " ") != "+a.nix host.nix" || got.Before != 3 || got.After != 4 || got.Seconds != 1.5 || got.Action != "switch" {
		t.Errorf("got %+v", got)
	}
	oc.Err = &deploy.BuildError{Host: "web-1"}
	if got := pushResultOf(oc, deploy.Switch); got.OK || got.ExitCode == 0 || got.Error == "" {
		t.Errorf("failed push: got %+v, want ok false with the exit code and error", got)
	}
}

// --quiet leaves only the error (and results) to print.
func TestQuiet(t *testing.T) {
	f := newRow(t)
	code, stdout, stderr := f.cli(t, "--quiet", "ssh", "root@127.0.0.1", "--port", f.fill("{closed}"), "--name", "q-1", "--channel", "nixos-24.11", "--yes",
		"--connect-timeout", "1s", "--infect-url", f.infectURL, "--infect-sha256", f.infectSHA)
	if code != exitUnreachable || stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("got exit %d, stdout %q, stderr %q; want exit 3, no progress and one error line", code, stdout, stderr)
	}
}

func TestCompletion(t *testing.T) {
	f := newRow(t)
	complete := func(args ...string) []string {
		_, stdout, _ := f.cli(t, append([]string{"__complete"}, args...)...)
		var out []string
		for _, l := range strings.Split(stdout, "\n") {
			if l != "" && !strings.HasPrefix(l, ":") && !strings.HasPrefix(l, "Completion ended") {
				out = append(out, strings.Split(l, "\t")[0])
			}
		}
		return out
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"connect", ""}, "web-1"},
		{[]string{"forget", ""}, "half-1"},
		{[]string{"destroy", ""}, "cloud-1"},
		{[]string{"secrets", "list", ""}, "web-1"},
		{[]string{"clone", ""}, "web-1"},
		{[]string{"ssh", "x", "--channel", ""}, "nixos-unstable"},
		{[]string{"scaleway", "x", "--zone", ""}, "nl-ams-1"},
		{[]string{"scaleway", "x", "--type", ""}, "DEV1-M"},
		{[]string{"scaleway", "x", "--image", ""}, "debian_bookworm"},
		{[]string{"clone", "web-1", "x", "--zone", ""}, "fr-par-2"},
	}
	for _, tt := range tests {
		if got := complete(tt.args...); !slices.Contains(got, tt.want) {
			t.Errorf("complete %v: got %v, want %s among them", tt.args, got, tt.want)
		}
	}
}

// newSignerKey is a fresh ed25519 public key, for known_hosts.
func newSignerKey(t *testing.T) (string, ssh.PublicKey, error) {
	pk := newSigner(t).PublicKey()
	return remote.Fingerprint(pk), pk, nil
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
