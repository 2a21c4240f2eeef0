package bootstrap

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"bootstrap/channel"
	"bootstrap/provider"
	"bootstrap/workspace"
)

func mustChannel(t *testing.T, s string) channel.Channel {
	t.Helper()
	c, err := channel.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRecordRoundTripAndTransitions(t *testing.T) {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := LoadRecord(ws, "web-1"); ok || err != nil {
		t.Fatalf("got ok=%v err=%v for a new host, want false, nil", ok, err)
	}
	rec := &Record{Name: "web-1", Provider: "ssh", Channel: "nixos-24.11", Port: 22}
	rec.mark(StepConnect, StatusRunning)
	rec.mark(StepConnect, StatusDone)
	rec.mark(StepPreflight, StatusRunning)
	rec.mark(StepPreflight, StatusDone)
	rec.mark(StepUpload, StatusRunning)
	if err := SaveRecord(ws, rec); err != nil {
		t.Fatal(err)
	}
	got, ok, err := LoadRecord(ws, "web-1")
	if err != nil || !ok {
		t.Fatalf("LoadRecord: ok=%v err=%v", ok, err)
	}
	if !got.Done(StepPreflight) || got.Done(StepUpload) || got.Complete() {
		t.Errorf("got done(preflight)=%v done(upload)=%v complete=%v, want true false false", got.Done(StepPreflight), got.Done(StepUpload), got.Complete())
	}
	if step, sr := got.Last(); step != StepUpload || sr.Status != StatusRunning {
		t.Errorf("got last %s %v, want upload running", step, sr)
	}
	got.mark(StepUpload, StatusFailed)
	if got.Done(StepUpload) {
		t.Error("got failed upload counted as done")
	}
	got.mark(StepCapture, StatusDone)
	if !got.Complete() {
		t.Error("got incomplete after capture, want complete")
	}
}

// A state.json of every layout loads as the current one, and is saved so.
func TestLoadRecordUpgradesOldLayouts(t *testing.T) {
	tests := []struct {
		name        string
		stateJSON   string
		wantMachine provider.Record
		wantAddress string
		wantErr     string
	}{
		{
			name: "version 1 with the provider's block at the top level",
			stateJSON: `{"version": 1, "name": "web-1", "provider": "example-cloud", "user": "root", "address": "192.0.2.10", "port": 22,
				"channel": "nixos-24.11", "steps": {"create": {"status": "done", "started_at": "2025-01-02T03:04:05Z"}},
				"example-cloud": {"zone": "zone-1", "server_id": "srv-1", "volume_ids": ["vol-1"]}}`,
			wantMachine: provider.Record{Kind: "example-cloud", Data: json.RawMessage(`{"zone": "zone-1", "server_id": "srv-1", "volume_ids": ["vol-1"]}`)},
			wantAddress: "192.0.2.10",
		},
		{
			name:        "version 1 of an existing host, which kept nothing",
			stateJSON:   `{"version": 1, "name": "web-1", "provider": "ssh", "user": "root", "address": "192.0.2.10", "port": 22, "channel": "nixos-24.11", "steps": {}}`,
			wantAddress: "192.0.2.10",
		},
		{
			name: "version 2",
			stateJSON: `{"version": 2, "name": "web-1", "provider": "example-cloud", "user": "root", "port": 22, "channel": "nixos-24.11", "steps": {},
				"machine": {"kind": "example-cloud", "data": {"zone": "zone-1"}}}`,
			wantMachine: provider.Record{Kind: "example-cloud", Data: json.RawMessage(`{"zone": "zone-1"}`)},
		},
		{
			name:      "a newer version",
			stateJSON: `{"version": 3, "name": "web-1", "provider": "ssh", "steps": {}}`,
			wantErr:   "written by a newer bootstrap (state version 3)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, err := workspace.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := ws.WriteHostFile("web-1", "state.json", []byte(tt.stateJSON), 0o644); err != nil {
				t.Fatal(err)
			}
			rec, ok, err := LoadRecord(ws, "web-1")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got ok=%v err=%v, want an error saying %q", ok, err, tt.wantErr)
				}
				return
			}
			if err != nil || !ok {
				t.Fatalf("got ok=%v err=%v, want the record", ok, err)
			}
			if rec.Machine.Kind != tt.wantMachine.Kind || !sameJSON(t, rec.Machine.Data, tt.wantMachine.Data) {
				t.Errorf("got machine %s %s, want %s %s", rec.Machine.Kind, rec.Machine.Data, tt.wantMachine.Kind, tt.wantMachine.Data)
			}
			if rec.Address != tt.wantAddress || rec.Channel != "nixos-24.11" {
				t.Errorf("got address %q channel %q, want %q nixos-24.11", rec.Address, rec.Channel, tt.wantAddress)
			}

			if err := SaveRecord(ws, rec); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(ws.HostFile("web-1", "state.json"))
			if err != nil {
				t.Fatal(err)
			}
			var saved map[string]json.RawMessage
			if err := json.Unmarshal(data, &saved); err != nil {
				t.Fatal(err)
			}
			if v := string(saved["version"]); v != "2" {
				t.Errorf("got saved version %s, want 2", v)
			}
			if _, ok := saved["example-cloud"]; ok {
				t.Errorf("got the old top-level block saved again:\n%s", data)
			}
			if m, ok := saved["machine"]; ok != !tt.wantMachine.IsZero() {
				t.Errorf("got saved machine %s (present %v), want present %v", m, ok, !tt.wantMachine.IsZero())
			}
			again, _, err := LoadRecord(ws, "web-1")
			if err != nil || again.Machine.Kind != tt.wantMachine.Kind || !sameJSON(t, again.Machine.Data, tt.wantMachine.Data) {
				t.Errorf("reloaded: got machine %s %s (%v), want %s %s", again.Machine.Kind, again.Machine.Data, err, tt.wantMachine.Kind, tt.wantMachine.Data)
			}
		})
	}
}

// sameJSON compares two JSON values whatever their spacing ("" is none).
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var ca, cb bytes.Buffer
	if err := json.Compact(&ca, a); err != nil {
		t.Fatal(err)
	}
	if err := json.Compact(&cb, b); err != nil {
		t.Fatal(err)
	}
	return ca.String() == cb.String()
}

// Each new host gets its own deploy key; the shared one only when asked;
// a host recorded before per-host keys keeps the shared one.
func TestDeployKeyPerHost(t *testing.T) {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, err := DeployKey(ws, "web-1", false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DeployKey(ws, "web-2", false)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := DeployKey(ws, "web-3", true)
	if err != nil {
		t.Fatal(err)
	}
	if ws.Rel(a.Path) != "keys/web-1_ed25519" || ws.Rel(b.Path) != "keys/web-2_ed25519" || ws.Rel(shared.Path) != workspace.SharedKey {
		t.Errorf("got %s, %s, %s, want keys/web-1_ed25519, keys/web-2_ed25519 and the shared key", ws.Rel(a.Path), ws.Rel(b.Path), ws.Rel(shared.Path))
	}
	if a.AuthorizedKey == b.AuthorizedKey {
		t.Errorf("got the same key for two hosts, want one each")
	}
	// A host bootstrapped before per-host keys.
	legacy := &Record{Name: "old-1", Provider: "ssh", Steps: map[string]*StepRecord{StepConnect: {Status: StatusDone}}}
	if err := SaveRecord(ws, legacy); err != nil {
		t.Fatal(err)
	}
	k, err := DeployKey(ws, "old-1", false)
	if err != nil || k.AuthorizedKey != shared.AuthorizedKey {
		t.Errorf("legacy host: got %v, %v, want the shared key", k, err)
	}
	// A record may only name its own key or the shared one.
	hostile := &Record{Name: "web-9", Provider: "ssh", DeployKey: "../../.ssh/id_ed25519"}
	if err := SaveRecord(ws, hostile); err != nil {
		t.Fatal(err)
	}
	var re *RecordError
	if _, _, err := LoadRecord(ws, "web-9"); !errors.As(err, &re) {
		t.Errorf("record naming another key: got %v, want a RecordError", err)
	}
}
