package cmd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bootstrap/localcloud"
	"bootstrap/provider"
	"bootstrap/provider/scaleway"
	"bootstrap/workspace"
)

const (
	testCloudToken   = "5d1e6b7c-0c7a-4c56-9d1e-2f5b1f3e9a10"
	testCloudProject = "8a9b0c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d"
)

// cloudEnv points the scw credentials at a local cloud, as the scw CLI is
// pointed: SCW_* variables and no config file.
func cloudEnv(t *testing.T) *localcloud.Cloud {
	t.Helper()
	return cloudEnvWith(t, localcloud.Options{})
}

// cloudEnvWith is cloudEnv with options of the local cloud.
func cloudEnvWith(t *testing.T, opts localcloud.Options) *localcloud.Cloud {
	t.Helper()
	secretsEnv(t)
	opts.Token = testCloudToken
	cloud := localcloud.New(opts)
	srv := httptest.NewServer(cloud.Handler())
	t.Cleanup(func() { srv.Close(); cloud.Close() })
	for k, v := range map[string]string{
		"SCW_API_URL": srv.URL, "SCW_ACCESS_KEY": "SCWABCDEFGHIJKLMNOPQ", "SCW_SECRET_KEY": testCloudToken,
		"SCW_DEFAULT_PROJECT_ID": testCloudProject, "SCW_DEFAULT_ZONE": "fr-par-1",
		"SCW_CONFIG_PATH": filepath.Join(t.TempDir(), "none.yaml"), "SCW_PROFILE": "", "BOOTSTRAP_PROFILE": "", "BOOTSTRAP_YES": "",
	} {
		t.Setenv(k, v)
	}
	return cloud
}

// A host recorded by a bootstrap of state version 1 (the provider's ids in
// a top-level "scaleway" block) is still destroyed, and forgotten.
func TestDestroyVersion1Record(t *testing.T) {
	cloud := cloudEnv(t)
	dir := t.TempDir()
	ws, err := workspace.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	res := createTagged(t, ws, "web-1")
	v1 := fmt.Sprintf(`{
  "version": 1,
  "name": "web-1",
  "provider": "scaleway",
  "user": "root",
  "address": %q,
  "port": 22,
  "channel": "nixos-24.11",
  "steps": {"create": {"status": "done", "started_at": "2025-01-02T03:04:05Z"}},
  "scaleway": {"zone": "fr-par-1", "commercial_type": "DEV1-S", "image_label": "ubuntu_noble",
    "ip_id": %q, "ip_address": %q, "server_id": %q, "volume_ids": [%q]},
  "created_at": "2025-01-02T03:04:05Z",
  "updated_at": "2025-01-02T03:04:05Z"
}
`, res.IPAddress, res.IPID, res.IPAddress, res.ServerID, res.VolumeIDs[0])
	if err := ws.WriteHostFile("web-1", "state.json", []byte(v1), 0o644); err != nil {
		t.Fatal(err)
	}

	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetArgs([]string{"-w", dir, "destroy", "web-1", "--yes"})
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("destroy: got %v\n%s%s", err, out.String(), errOut.String())
	}
	if want := "destroyed web-1: server " + res.ServerID; !strings.Contains(out.String(), want) {
		t.Errorf("got output %q, want it to say %q", out.String(), want)
	}
	if inv := cloud.Resources(); !inv.Empty() {
		t.Errorf("got %s left in the cloud, want nothing", inv)
	}
	if _, err := os.Stat(ws.HostFile("web-1", "state.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got state.json still there (%v), want it forgotten", err)
	}
}

// A hostile workspace cannot make destroy delete outside it: a record whose
// name is not its directory, and a host directory that is a symlink, are
// refused before anything is deleted.
func TestDestroyStaysInTheWorkspace(t *testing.T) {
	cloudEnv(t)
	zoneOnly := `{"zone": "fr-par-1", "commercial_type": "DEV1-S", "image_label": "ubuntu_noble"}`
	record := func(name string) string {
		return `{"version": 2, "name": "` + name + `", "provider": "scaleway", "user": "root", "port": 22, "channel": "nixos-24.11",
  "steps": {}, "machine": {"kind": "scaleway", "data": ` + zoneOnly + `}}` + "\n"
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, ws, outside string)
	}{
		{"record named ../../escape", func(t *testing.T, ws, outside string) {
			writeFile(t, filepath.Join(ws, "hosts", "web-1", "state.json"), record("../../escape"))
		}},
		{"host directory is a symlink", func(t *testing.T, ws, outside string) {
			writeFile(t, filepath.Join(outside, "state.json"), record("web-1"))
			if err := os.MkdirAll(filepath.Join(ws, "hosts"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, filepath.Join(ws, "hosts", "web-1")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top := t.TempDir()
			ws, outside := filepath.Join(top, "ws"), filepath.Join(top, "escape")
			// What a name of ../../escape points at from hosts/web-1.
			writeFile(t, filepath.Join(outside, "state.json"), record("web-1"))
			writeFile(t, filepath.Join(outside, "ssh_host_ed25519_key"), "not yours\n")
			tt.setup(t, ws, outside)
			root := NewRoot()
			var out, errOut bytes.Buffer
			root.SetArgs([]string{"-w", ws, "destroy", "web-1", "--yes"})
			root.SetOut(&out)
			root.SetErr(&errOut)
			err := root.ExecuteContext(context.Background())
			if err == nil {
				t.Errorf("destroy: got success (%s), want a refusal", out.String())
			}
			for _, f := range []string{"state.json", "ssh_host_ed25519_key"} {
				if _, serr := os.Stat(filepath.Join(outside, f)); serr != nil {
					t.Errorf("got %s outside the workspace deleted (%v); destroy said %v", f, serr, err)
				}
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// createTagged creates a host's resources in the local cloud the way an
// interrupted run would leave them, tagged with the workspace's id, and
// returns them.
func createTagged(t *testing.T, ws *workspace.Workspace, name string) scaleway.Resources {
	t.Helper()
	id, err := ws.ID()
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := ws.EnsureDeployKey()
	if err != nil {
		t.Fatal(err)
	}
	profile, err := scaleway.LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	client, err := scaleway.NewClient(profile)
	if err != nil {
		t.Fatal(err)
	}
	prov := scaleway.New(client)
	prov.PollMin, prov.PollMax = 5*time.Millisecond, 20*time.Millisecond
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var res scaleway.Resources
	spec := scaleway.Spec{Name: name, Zone: "fr-par-1", CommercialType: "DEV1-S", ImageLabel: "ubuntu_noble",
		WorkspaceID: id, DeployKey: deploy.AuthorizedKey, HostKey: hostKey}
	if err := prov.Create(context.Background(), spec, &res, func(*scaleway.Resources) error { return nil }); err != nil {
		t.Fatalf("create: %v", err)
	}
	return res
}

// With state.json lost, destroy NAME --zone Z finds the workspace's tagged
// server, IP and volume; a second destroy finds nothing left and exits 0.
func TestDestroyWithoutRecordFindsByTags(t *testing.T) {
	cloud := cloudEnvWith(t, localcloud.Options{ListLag: 200 * time.Millisecond})
	// Without a record, destroy waits out the API's list lag (AdoptWait).
	saved := clouds
	clouds = []provider.Cloud{scaleway.Cloud{AdoptWait: time.Second}}
	t.Cleanup(func() { clouds = saved })
	dir := t.TempDir()
	ws, err := workspace.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	res := createTagged(t, ws, "web-1") // just now: the lists do not show it yet
	run := func() (string, error) {
		root := NewRoot()
		var out, errOut bytes.Buffer
		root.SetArgs([]string{"-w", dir, "destroy", "web-1", "--zone", "fr-par-1", "--yes", "--timeout", "1m"})
		root.SetOut(&out)
		root.SetErr(&errOut)
		err := root.ExecuteContext(context.Background())
		return out.String() + errOut.String(), err
	}
	out, err := run()
	if err != nil {
		t.Fatalf("destroy without state.json: got %v\n%s", err, out)
	}
	for _, want := range []string{"server " + res.ServerID, "SBS volume " + res.VolumeIDs[0], res.IPID} {
		if !strings.Contains(out, want) {
			t.Errorf("got %q, want it to name %s", out, want)
		}
	}
	if inv := cloud.Resources(); !inv.Empty() {
		t.Errorf("got %s left in the cloud, want nothing", inv)
	}
	out, err = run()
	if err != nil || !strings.Contains(out, "web-1: nothing left in fr-par-1") {
		t.Errorf("second destroy: got %v, %q, want success saying nothing is left", err, out)
	}
}

// One run per host: destroy while another run holds the host fails at
// once, in one line naming the holder, and deletes nothing.
func TestDestroyRefusedWhileAnotherRunHoldsTheHost(t *testing.T) {
	cloud := cloudEnv(t)
	dir := t.TempDir()
	ws, err := workspace.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	createTagged(t, ws, "web-1")
	unlock, err := ws.LockHost("web-1", "bootstrap scaleway web-1 --channel nixos-24.11")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetArgs([]string{"-w", dir, "destroy", "web-1", "--zone", "fr-par-1", "--yes"})
	root.SetOut(&out)
	root.SetErr(&errOut)
	err = root.ExecuteContext(context.Background())
	var line bytes.Buffer
	render(&line, err)
	if got := strings.TrimSpace(line.String()); err == nil || !strings.Contains(got, "bootstrap scaleway web-1 --channel nixos-24.11") || strings.Contains(got, "\n") {
		t.Errorf("got %q, want one line naming the run that holds web-1", got)
	}
	if inv := cloud.Resources(); len(inv.Servers) != 1 {
		t.Errorf("got %s, want the server untouched", inv)
	}
}
