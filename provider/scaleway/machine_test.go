package scaleway

import (
	"context"
	"errors"
	"strings"
	"testing"

	"bootstrap/provider"
)

// The machine keeps its ids in the host's machine record, saved as each
// exists, and a run after the first connection only checks the server.
func TestMachineRecordsWhatItCreates(t *testing.T) {
	_, m := newMachine(t)
	var rec provider.Record
	saved := 0
	run := &provider.Run{Record: &rec, Save: func() error { saved++; return nil }}
	if got := m.Starting(rec); !strings.HasPrefix(got, "creating a DEV1-S server") {
		t.Errorf("starting: got %q, want it to say it creates the server", got)
	}
	got, err := m.Provision(context.Background(), run)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	made, ok, err := LoadRecord(rec)
	if err != nil || !ok {
		t.Fatalf("got record %+v ok=%v err=%v, want the scaleway record", rec, ok, err)
	}
	if rec.Kind != Kind || made.ServerID == "" || made.IPID == "" || len(made.VolumeIDs) != 1 || made.Zone != "fr-par-1" || made.CommercialType != "DEV1-S" {
		t.Errorf("got record %s %+v, want the settings, server, IP and volume", rec.Kind, made)
	}
	if saved < 3 || got.Address != made.IPAddress || got.HostKey == nil {
		t.Errorf("got %d saves, provisioned %+v, want 3 saves or more and the recorded address with a host key", saved, got)
	}

	run.Connected = true
	if got := m.Starting(rec); got != "checking server "+made.ServerID+" in fr-par-1" {
		t.Errorf("starting: got %q, want it to check server %s", got, made.ServerID)
	}
	again, err := m.Provision(context.Background(), run)
	if err != nil || again.Address != made.IPAddress || again.HostKey != nil {
		t.Errorf("provision after connecting: got %+v, %v, want the address and no new host key", again, err)
	}

	other := *m
	other.Spec.Zone = "nl-ams-1"
	var ce *provider.ConflictError
	if _, err := other.Provision(context.Background(), run); !errors.As(err, &ce) || ce.Field != "zone" {
		t.Errorf("provision in another zone: got %v, want a conflict on the zone", err)
	}
}
