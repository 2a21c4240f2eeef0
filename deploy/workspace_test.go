package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"bootstrap/bootstrap"
	"bootstrap/workspace"
)

// newHostsWorkspace has web-1 (bootstrapped), web-2 (infect failed), web-3
// (bootstrapped, without configuration.nix).
func newHostsWorkspace(t *testing.T) *workspace.Workspace {
	t.Helper()
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	save := func(name string, steps ...string) {
		rec := &bootstrap.Record{Name: name, Provider: "ssh", User: "root", Address: "127.0.0.1", Port: 22, Channel: "nixos-24.11",
			Steps: map[string]*bootstrap.StepRecord{}}
		for _, s := range steps {
			rec.Steps[s] = &bootstrap.StepRecord{Status: bootstrap.StatusDone}
		}
		if strings.HasSuffix(name, "2") {
			rec.Steps[bootstrap.StepInfect] = &bootstrap.StepRecord{Status: bootstrap.StatusFailed}
		}
		if err := bootstrap.SaveRecord(ws, rec); err != nil {
			t.Fatal(err)
		}
	}
	save("web-1", bootstrap.StepConnect, bootstrap.StepInfect, bootstrap.StepReboot, bootstrap.StepCapture)
	save("web-2", bootstrap.StepConnect)
	save("web-3", bootstrap.StepConnect, bootstrap.StepInfect, bootstrap.StepReboot, bootstrap.StepCapture)
	for name, data := range map[string]string{"configuration.nix": "{ }\n", "host.nix": "{ }\n", "notes.txt": "not nix\n"} {
		if err := ws.WriteHostFile("web-1", name, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", ws.HostFile("web-1", "link.nix")); err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestPushHostsLoadsHosts(t *testing.T) {
	ws := newHostsWorkspace(t)
	var notes bytes.Buffer
	recs, err := pushHosts(ws, Request{All: true, Skipped: func(n string, why error) { fmt.Fprintf(&notes, "skipping %s: %v\n", n, why) }})
	if err != nil || len(recs) != 2 || recs[0].Name != "web-1" || recs[1].Name != "web-3" {
		t.Fatalf("all: got %v, %v; want web-1 and web-3", recs, err)
	}
	if !strings.Contains(notes.String(), "skipping web-2: web-2 has not finished bootstrapping (infect failed)") {
		t.Errorf("all: got notes %q", notes.String())
	}
	tests := []struct {
		names []string
		err   string
	}{
		{[]string{"web-1", "web-1"}, ""},
		{[]string{"web-2"}, "web-2 has not finished bootstrapping"},
		{[]string{"db-1"}, "no host db-1 in workspace"},
		{[]string{"Web_1"}, "invalid name"},
	}
	for _, tt := range tests {
		recs, err := pushHosts(ws, Request{Names: tt.names})
		var notReady *bootstrap.NotReadyError
		switch {
		case tt.err == "" && (err != nil || len(recs) != 1):
			t.Errorf("%v: got %v, %v; want one host", tt.names, recs, err)
		case tt.err != "" && (!errors.As(err, &notReady) || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%v: got %v, want a NotReadyError about %q", tt.names, err, tt.err)
		}
	}
}

func TestLocalFiles(t *testing.T) {
	ws := newHostsWorkspace(t)
	files, err := localFiles(ws, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || string(files["configuration.nix"]) != "{ }\n" || files["host.nix"] == nil {
		t.Errorf("got files %v, want configuration.nix and host.nix (no symlinks, no other files)", files)
	}
	var notReady *bootstrap.NotReadyError
	if _, err := localFiles(ws, "web-3"); !errors.As(err, &notReady) || !strings.Contains(err.Error(), "no configuration.nix") {
		t.Errorf("web-3: got %v, want a NotReadyError", err)
	}
}

// Nothing is contacted when the input is wrong (the records point at 127.0.0.1:22).
func TestPushHostsRefusesBeforeContact(t *testing.T) {
	ws := newHostsWorkspace(t)
	_, err := PushHosts(context.Background(), ws, Request{Names: []string{"web-3"}, Parallel: 4})
	var notReady *bootstrap.NotReadyError
	if !errors.As(err, &notReady) {
		t.Fatalf("got %v, want a NotReadyError", err)
	}
	if _, err := os.Stat(ws.HostFile("web-3", "bootstrap.log")); err == nil {
		t.Error("a refused push opened the host's log")
	}
}

func TestEchoCommands(t *testing.T) {
	var log, verbose bytes.Buffer
	w := echoCommands(&log, &verbose, "web-1")
	fmt.Fprintf(w, "$ nixos-rebuild switch\n")
	fmt.Fprintf(w, "building the system configuration...\n")
	if log.String() != "$ nixos-rebuild switch\nbuilding the system configuration...\n" {
		t.Errorf("log: got %q, want everything", log.String())
	}
	if verbose.String() != "web-1: $ nixos-rebuild switch\n" {
		t.Errorf("verbose: got %q, want the command alone, named after the host", verbose.String())
	}
	if w := echoCommands(&log, nil, "web-1"); w != io.Writer(&log) {
		t.Error("without verbose: got a wrapper, want the log itself")
	}
}
