package cmd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"bootstrap/localcloud"
)

// infectServer serves a stand-in script on loopback and returns the flags
// that point the pipeline at it (it is fetched before anything else, and
// never run by these tests).
func infectServer(t *testing.T) []string {
	t.Helper()
	script := []byte("#!/bin/sh\nexit 0\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(script) }))
	t.Cleanup(srv.Close)
	sum := sha256.Sum256(script)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	return []string{"--infect-url", srv.URL + "/nixos-infect", "--infect-sha256", hex.EncodeToString(sum[:])}
}

// unusedAddr is a loopback address whose port 22 nothing answers in these
// tests (the local cloud's machines are no-ops).
var unusedAddr = netip.MustParseAddr("127.0.0.233")

// Any failure after a cloud resource exists ends with what is billed and
// the exact destroy command, not only an interrupted create.
func TestFailureAfterCreateSaysWhatIsBilled(t *testing.T) {
	cloud := cloudEnvWith(t, localcloud.Options{Addresses: []netip.Addr{unusedAddr}, Machines: localcloud.NoopMachines{BootDelay: 10 * time.Millisecond}})
	dir := t.TempDir()
	root := NewRoot()
	var out, errOut bytes.Buffer
	args := append([]string{"-w", dir, "scaleway", "web-1", "--channel", "nixos-24.11", "--yes", "--timeout", "3s"}, infectServer(t)...)
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(context.Background())
	if err == nil {
		t.Fatalf("scaleway with nothing answering SSH: got success\n%s", out.String())
	}
	var line bytes.Buffer
	code := render(&line, err)
	inv := cloud.Resources()
	if len(inv.Servers) != 1 {
		t.Fatalf("got %s, want the server created", inv)
	}
	got := strings.TrimSpace(line.String())
	for _, want := range []string{"billed", "server " + inv.Servers[0].ID, "flexible IP", "bootstrap destroy web-1"} {
		if !strings.Contains(got, want) {
			t.Errorf("got %q (exit %d), want it to say %q", got, code, want)
		}
	}
	if strings.Count(got, "\n") != 0 {
		t.Errorf("got %d lines, want one", strings.Count(got, "\n")+1)
	}
}
