package cmd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

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

// Reading a clone source outside the workspace is bounded by --timeout.
func TestCloneSourceDialBoundedByTimeout(t *testing.T) {
	secretsEnv(t)
	dir := t.TempDir()
	key := filepath.Join(t.TempDir(), "id_ed25519")
	writeKey(t, key)
	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetArgs([]string{"-w", dir, "clone", "root@" + unusedAddr.String(), "copy-1", "--to", "ssh", "--host", "root@" + unusedAddr.String(),
		"--source-identity", key, "--source-host-key", "SHA256:" + strings.Repeat("A", 43), "--timeout", "2s", "--yes"})
	root.SetOut(&out)
	root.SetErr(&errOut)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- root.ExecuteContext(context.Background()) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("clone of an unreachable source: got success")
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("clone gave up after %v, want about --timeout (2s)", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("clone of an unreachable source still dialing after 30s with --timeout 2s")
	}
}

// writeKey writes a fresh OpenSSH ed25519 private key to path (0600).
func writeKey(t *testing.T, path string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}
