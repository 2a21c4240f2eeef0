package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"bootstrap/bootstrap"
	"bootstrap/deploy"
)

func TestPushFlags(t *testing.T) {
	tests := []struct {
		name   string
		o      PushOptions
		action deploy.Action
		err    string // substring of the usage error; "" for none
	}{
		{"switch", PushOptions{Names: []string{"web-1"}}, deploy.Switch, ""},
		{"boot", PushOptions{Names: []string{"web-1"}, Boot: true, Upgrade: true}, deploy.Boot, ""},
		{"dry run", PushOptions{All: true, DryRun: true}, deploy.DryActivate, ""},
		{"confirm", PushOptions{Names: []string{"web-1"}, ConfirmTimeout: time.Minute}, deploy.Switch, ""},
		{"no hosts", PushOptions{}, "", "pass --all"},
		{"names and all", PushOptions{Names: []string{"web-1"}, All: true}, "", "name no hosts"},
		{"dry run and boot", PushOptions{Names: []string{"a"}, DryRun: true, Boot: true}, "", "leave out --boot"},
		{"dry run and upgrade", PushOptions{Names: []string{"a"}, DryRun: true, Upgrade: true}, "", "--upgrade"},
		{"confirm with boot", PushOptions{Names: []string{"a"}, Boot: true, ConfirmTimeout: time.Minute}, "", "--confirm-timeout guards a switch"},
		{"confirm too short", PushOptions{Names: []string{"a"}, ConfirmTimeout: time.Second}, "", "too short"},
		{"parallel 0", PushOptions{Names: []string{"a"}, Parallel: 0}, "", "--parallel"},
	}
	for _, tt := range tests {
		o := tt.o
		if o.Parallel == 0 && tt.name != "parallel 0" {
			o.Parallel = 4
		}
		if o.Timeout == 0 {
			o.Timeout = time.Hour
		}
		opts, err := o.action()
		var usage *UsageError
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: got %v", tt.name, err)
		case tt.err != "" && (!errors.As(err, &usage) || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%s: got %v, want a usage error about %q", tt.name, err, tt.err)
		case tt.err == "" && opts.Action != tt.action:
			t.Errorf("%s: got action %s, want %s", tt.name, opts.Action, tt.action)
		}
	}
}

func TestOutcomeLine(t *testing.T) {
	changes := []deploy.Change{{File: "host.nix", Kind: deploy.Modified}, {File: "new.nix", Kind: deploy.Added}}
	tests := []struct {
		r      deploy.Result
		action deploy.Action
		want   string
	}{
		{deploy.Result{Before: 1, After: 2, Changes: changes, Took: 1500 * time.Millisecond}, deploy.Switch, "switched to generation 2 (was 1) (host.nix, +new.nix) in 1.5s"},
		{deploy.Result{Before: 1, After: 2, Changes: changes}, deploy.Boot, "generation 2 (was 1) from the next boot (host.nix, +new.nix)"},
		{deploy.Result{Before: 3, After: 3, UpToDate: true}, deploy.Switch, "up to date on generation 3"},
		{deploy.Result{Before: 3, After: 3, Changes: changes[:1]}, deploy.Switch, "still generation 3, the same system (host.nix)"},
		{deploy.Result{Before: 3, After: 3, Changes: changes}, deploy.DryActivate, "dry run: 2 file(s) differ (host.nix, +new.nix); nothing changed"},
	}
	for _, tt := range tests {
		if got := outcomeLine(&tt.r, tt.action); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	var out bytes.Buffer
	o := &PushOptions{stdout: &out}
	boom := &deploy.BuildError{Host: "db-1", Command: "nixos-rebuild switch", Status: 1, Before: 7}
	err := o.summarize([]deploy.Outcome{
		{Result: &deploy.Result{Host: "web-1", Before: 1, After: 1, UpToDate: true}},
		{Result: &deploy.Result{Host: "db-1", Before: 7, After: 7}, Err: boom},
	}, deploy.Switch)
	var he *deploy.HostsError
	if !errors.As(err, &he) || len(he.Failed) != 1 || he.Failed[0] != "db-1" {
		t.Fatalf("got %v, want db-1 failed", err)
	}
	var be *deploy.BuildError
	if !errors.As(err, &be) {
		t.Error("the hosts' errors are not reachable with errors.As")
	}
	want := "summary: 1 of 2 host(s) pushed\n  web-1  up to date on generation 1\n  db-1   FAILED: " + boom.Error() + "\n"
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	// One host: its own error, an interruption naming it.
	err = o.summarize([]deploy.Outcome{{Result: &deploy.Result{Host: "web-1"}, Err: context.Canceled}}, deploy.Switch)
	var se *bootstrap.StepError
	if !errors.As(err, &se) || se.Host != "web-1" || !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want an interruption of web-1", err)
	}
}

func TestPrintGenerations(t *testing.T) {
	d := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	gens := []deploy.Generation{{Number: 1, Date: d, Config: true}, {Number: 2, Date: d.Add(time.Hour), Current: true}}
	var out bytes.Buffer
	if err := printGenerations(&out, "web-1", gens, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "GENERATION") || !strings.Contains(lines[1], "kept") || !strings.Contains(lines[2], "current") {
		t.Errorf("got table\n%s", out.String())
	}
	out.Reset()
	if err := printGenerations(&out, "web-1", nil, true); err != nil || strings.TrimSpace(out.String()) != "[]" {
		t.Errorf("got JSON %q, %v; want []", out.String(), err)
	}
	out.Reset()
	printGenerations(&out, "web-1", gens, true)
	var back []deploy.Generation
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || len(back) != 2 || !back[1].Current || !back[0].Config || !back[0].Date.Equal(d) {
		t.Errorf("got JSON %s (%v)", out.String(), err)
	}
	if !strings.Contains(out.String(), `"generation": 2`) || !strings.Contains(out.String(), `"etc_nixos_copy": true`) {
		t.Errorf("got JSON keys %s", out.String())
	}
}

func TestRollbackArgs(t *testing.T) {
	ws := t.TempDir()
	for _, args := range [][]string{{"web-1", "x"}, {"web-1", "0"}, {"web-1", "1.5"}, {}, {"a", "1", "2"}} {
		cmd := newRollbackCmd(&globalOptions{Workspace: ws})
		cmd.SetArgs(append(args, "--workspace", ws))
		cmd.PersistentFlags().String("workspace", "", "")
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		err := cmd.Execute()
		var usage *UsageError
		if !errors.As(err, &usage) {
			t.Errorf("rollback %v: got %v, want a usage error", args, err)
		}
	}
	if _, err := os.Stat(filepath.Join(ws, "hosts", "web-1", "bootstrap.log")); err == nil {
		t.Error("a refused rollback opened the host's log")
	}
}
