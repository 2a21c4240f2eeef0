package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/secrets"
	"bootstrap/workspace"
)

const testSecret = "s3cr3t-Value-9d2f-never-printed"

// secretsEnv isolates a test from the operator's settings and keys.
func secretsEnv(t *testing.T) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	for _, k := range []string{"BOOTSTRAP_WORKSPACE", "BOOTSTRAP_IDENTITY", "BOOTSTRAP_AGE_IDENTITY", "BOOTSTRAP_TIMEOUT", "BOOTSTRAP_PRUNE", "BOOTSTRAP_JSON"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// newSecretsWorkspace has a recipients.txt for a fresh age identity, whose
// file it returns.
func newSecretsWorkspace(t *testing.T) (ws, identity string) {
	t.Helper()
	ws = t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "recipients.txt"), []byte(id.Recipient().String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(ws, "hosts", "web-1"), 0o755); err != nil { // secrets set needs the host
		t.Fatal(err)
	}
	identity = filepath.Join(t.TempDir(), "age.txt")
	if err := os.WriteFile(identity, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return ws, identity
}

func runSecrets(t *testing.T, ws, stdin string, args ...string) (string, string, error) {
	t.Helper()
	g := &globalOptions{}
	root := &cobra.Command{Use: "bootstrap", SilenceUsage: true, SilenceErrors: true}
	root.PersistentFlags().StringVarP(&g.Workspace, "workspace", "w", ".", "")
	root.AddCommand(newSecretsCmd(g))
	root.SetArgs(append([]string{"-w", ws, "secrets"}, args...))
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func TestSecretsSetListRm(t *testing.T) {
	secretsEnv(t)
	ws, _ := newSecretsWorkspace(t)
	file := filepath.Join(t.TempDir(), "tls.key")
	os.WriteFile(file, []byte(testSecret+"-file"), 0o600)

	var printed []string
	run := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := runSecrets(t, ws, stdin, args...)
		if err != nil {
			t.Fatalf("secrets %v: got %v, want success", args, err)
		}
		printed = append(printed, out, errOut)
		return out
	}
	out := run(testSecret, "set", "web-1", "db-password")
	if !strings.Contains(out, "hosts/web-1/secrets/db-password.age") {
		t.Errorf("got %q, want the stored file named", out)
	}
	run("", "set", "web-1", "tls.key", file)
	run(testSecret+"-dash", "set", "web-1", "api", "-")

	out = run("", "list", "web-1")
	for _, want := range []string{"KEY", "SIZE", "db-password", "tls.key", "api", "root:root 0400", "1 X25519", "recipients (recipients.txt):", "age1"} {
		if !strings.Contains(out, want) {
			t.Errorf("got list %q, want it to contain %q", out, want)
		}
	}
	out = run("", "list", "web-1", "--json")
	var l secrets.Listing
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("got %v parsing %q, want JSON", err, out)
	}
	if l.Host != "web-1" || len(l.Secrets) != 3 || len(l.Recipients) != 1 || l.Secrets[0].Key != "api" || l.Secrets[0].Size == 0 {
		t.Errorf("got %+v, want 3 secrets and 1 recipient", l)
	}

	out = run("", "rm", "web-1", "api")
	if !strings.Contains(out, "push web-1 --prune") {
		t.Errorf("got %q, want a hint to prune the host", out)
	}
	if _, _, err := runSecrets(t, ws, "", "rm", "web-1", "api"); !isUsage(err) {
		t.Errorf("got %v, want a usage error removing a missing secret", err)
	}

	for _, p := range printed {
		if strings.Contains(p, testSecret) {
			t.Errorf("got the value printed in %q, want it never shown", p)
		}
	}
	// Nothing in the workspace holds the plaintext.
	filepath.WalkDir(ws, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if data, _ := os.ReadFile(p); bytes.Contains(data, []byte(testSecret)) {
				t.Errorf("got the plaintext in %s", p)
			}
		}
		return nil
	})
}

func TestSecretsArgumentValidation(t *testing.T) {
	secretsEnv(t)
	ws, _ := newSecretsWorkspace(t)
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	big := filepath.Join(t.TempDir(), "big")
	os.WriteFile(big, make([]byte, secrets.MaxSize+1), 0o600)
	noRecipients := t.TempDir()

	tests := []struct {
		name  string
		ws    string
		stdin string
		args  []string
		want  string
	}{
		{"bad key", ws, "v", []string{"set", "web-1", ".hidden"}, "invalid secret key"},
		{"key with slash", ws, "v", []string{"set", "web-1", "../x"}, "invalid secret key"},
		{"bad name", ws, "v", []string{"set", "Web_1", "k"}, "invalid name"},
		{"empty stdin", ws, "", []string{"set", "web-1", "k"}, "empty"},
		{"empty file", ws, "v", []string{"set", "web-1", "k", empty}, "empty"},
		{"missing file", ws, "v", []string{"set", "web-1", "k", filepath.Join(ws, "nope")}, "nope"},
		{"too big", ws, "", []string{"set", "web-1", "k", big}, "1 MiB"},
		{"no recipients", noRecipients, "v", []string{"set", "web-1", "k"}, "recipients.txt"},
		{"set missing key", ws, "v", []string{"set", "web-1"}, "usage: bootstrap secrets set"},
		{"set extra arg", ws, "v", []string{"set", "web-1", "k", "f", "g"}, "usage"},
		{"list no name", ws, "", []string{"list"}, "usage: bootstrap secrets list NAME"},
		{"list bad name", ws, "", []string{"list", "Web-1"}, "invalid name"},
		{"rm missing key", ws, "", []string{"rm", "web-1"}, "usage: bootstrap secrets rm"},
		{"push no name", ws, "", []string{"push"}, "usage: bootstrap secrets push"},
		{"push bad name", ws, "", []string{"push", "web_1"}, "invalid name"},
		{"push unknown host", ws, "", []string{"push", "web-9"}, "no host web-9"},
		{"unknown verb", ws, "", []string{"show", "web-1"}, "unknown secrets command"},
		{"set unknown host", ws, "v", []string{"set", "web-2", "k"}, "--new-host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runSecrets(t, tt.ws, tt.stdin, tt.args...)
			if !isUsage(err) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a usage error mentioning %q", err, tt.want)
			}
			var b bytes.Buffer
			if code := render(&b, err); code != exitUsage {
				t.Errorf("got exit code %d, want %d", code, exitUsage)
			}
			if _, err := os.Stat(filepath.Join(tt.ws, "hosts", "web-1", "secrets", "k.age")); err == nil {
				t.Errorf("got a stored secret, want nothing written")
			}
		})
	}
}

// saveHost records a workspace host; rebooted marks it bootstrapped.
func saveHost(t *testing.T, ws, name string, port int, rebooted bool) {
	t.Helper()
	w, err := workspace.Open(ws)
	if err != nil {
		t.Fatal(err)
	}
	rec := &bootstrap.Record{Name: name, Provider: "ssh", User: "root", Address: "127.0.0.1", Port: port, Channel: "nixos-24.11", Steps: map[string]*bootstrap.StepRecord{}}
	if rebooted {
		rec.Steps[bootstrap.StepReboot] = &bootstrap.StepRecord{Status: bootstrap.StatusDone}
	}
	if err := bootstrap.SaveRecord(w, rec); err != nil {
		t.Fatal(err)
	}
	if _, err := w.EnsureDeployKey(); err != nil {
		t.Fatal(err)
	}
}

// countingListener counts connections to a loopback port: push must not
// contact the host before everything is decrypted.
func countingListener(t *testing.T) (int, *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, &n
}

func TestSecretsPushDecryptsBeforeConnecting(t *testing.T) {
	secretsEnv(t)
	ws, _ := newSecretsWorkspace(t)
	port, conns := countingListener(t)
	saveHost(t, ws, "web-1", port, true)
	if _, _, err := runSecrets(t, ws, testSecret, "set", "web-1", "db-password"); err != nil {
		t.Fatal(err)
	}
	// Corrupt a second secret: nothing at all may be uploaded.
	if _, _, err := runSecrets(t, ws, "x", "set", "web-1", "zz"); err != nil {
		t.Fatal(err)
	}

	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "wrong.txt")
	os.WriteFile(wrong, []byte(other.String()+"\n"), 0o600)
	_, _, err = runSecrets(t, ws, "", "push", "web-1", "--identity", wrong)
	var de *secrets.DecryptError
	if !errors.As(err, &de) || de.Key != "db-password" || !strings.Contains(err.Error(), "nothing uploaded") || !strings.Contains(err.Error(), wrong) {
		t.Fatalf("got %v, want a DecryptError for db-password naming the identity tried", err)
	}
	if strings.Contains(err.Error(), testSecret) {
		t.Errorf("got %q, want no value in the error", err)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("got %d connections to the host, want none before decryption succeeds", n)
	}
}

func TestSecretsPushCorruptStopsBeforeConnecting(t *testing.T) {
	secretsEnv(t)
	ws, identity := newSecretsWorkspace(t)
	port, conns := countingListener(t)
	saveHost(t, ws, "web-1", port, true)
	runSecrets(t, ws, "a", "set", "web-1", "a")
	runSecrets(t, ws, "b", "set", "web-1", "b")
	p := filepath.Join(ws, "hosts", "web-1", "secrets", "b.age")
	data, _ := os.ReadFile(p)
	data[len(data)-3] ^= 1
	os.WriteFile(p, data, 0o644)

	_, _, err := runSecrets(t, ws, "", "push", "web-1", "-i", identity)
	var de *secrets.DecryptError
	if !errors.As(err, &de) || de.Key != "b" {
		t.Fatalf("got %v, want a DecryptError for b", err)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("got %d connections, want none", n)
	}
}

func TestSecretsPushRefusesUnfinishedHost(t *testing.T) {
	secretsEnv(t)
	ws, identity := newSecretsWorkspace(t)
	port, conns := countingListener(t)
	saveHost(t, ws, "web-1", port, false)
	_, _, err := runSecrets(t, ws, "", "push", "web-1", "-i", identity)
	if !isUsage(err) || !strings.Contains(err.Error(), "not finished bootstrapping") {
		t.Errorf("got %v, want a usage error for a host that is not bootstrapped", err)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("got %d connections, want none", n)
	}
}

func TestSecretsPushNothingToPush(t *testing.T) {
	secretsEnv(t)
	ws, identity := newSecretsWorkspace(t)
	port, conns := countingListener(t)
	saveHost(t, ws, "web-1", port, true)
	out, _, err := runSecrets(t, ws, "", "push", "web-1", "-i", identity)
	if err != nil || !strings.Contains(out, "nothing to push") {
		t.Errorf("got %q, %v; want nothing to push", out, err)
	}
	if n := conns.Load(); n != 0 {
		t.Errorf("got %d connections, want none", n)
	}
}

func TestSecretsPushIdentityFromSettingsAddsUsualPlaces(t *testing.T) {
	secretsEnv(t)
	home := os.Getenv("HOME")
	usual := filepath.Join(home, ".config", "bootstrap", "age.txt")
	os.MkdirAll(filepath.Dir(usual), 0o700)
	os.WriteFile(usual, []byte("x"), 0o600)

	o := &SecretsOptions{Identities: []string{"/from/settings"}}
	if got := o.identityPaths(); len(got) != 2 || got[0] != "/from/settings" || got[1] != usual {
		t.Errorf("got %v, want the setting then %s", got, usual)
	}
	o = &SecretsOptions{Identities: []string{"/given"}, identitiesGiven: true}
	if got := o.identityPaths(); len(got) != 1 || got[0] != "/given" {
		t.Errorf("got %v, want only the command-line identity", got)
	}
	o = &SecretsOptions{}
	if got := o.identityPaths(); got != nil {
		t.Errorf("got %v, want none (the secrets package's defaults apply)", got)
	}
}
