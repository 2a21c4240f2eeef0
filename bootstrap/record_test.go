package bootstrap

import (
	"testing"

	"bootstrap/channel"
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
