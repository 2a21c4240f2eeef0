package cmd

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"

	"bootstrap/bootstrap"
	"bootstrap/localcloud"
	"bootstrap/provider"
	"bootstrap/remote"
	"bootstrap/workspace"
)

// The bad-input table: each row is a command an operator might type (or a
// setting they might leave), the exit code the README's table documents,
// and what the one line on stderr must say: what is wrong and what to do.
// Rows marked touches=false must write nothing (the workspace and the home
// directory are unchanged, a workspace that did not exist still does not)
// and contact nothing (no connection to any listener of the test, no
// request to the cloud API beyond the reads the row allows). Only loopback
// addresses are used; a port "closed" has nothing listening.
//
// Grow it with every bug.
type badInput struct {
	args    []string // after "bootstrap"; {placeholders} are filled in; --workspace {ws} is added unless -w is given
	env     []string // KEY=VALUE on top of the row's isolated environment
	setup   func(t *testing.T, f *fixture)
	code    int
	want    string // the error line contains it
	touches bool   // may write and dial (the input was good; the host was not)
	api     string // requests the cloud may get: "" none, "get" reads only, "any"
	needs   string // a tool on PATH the row needs ("nix-instantiate"), else skipped
}

func TestBadInputs(t *testing.T) {
	f := newFixture(t)
	rows := badInputRows()
	if len(rows) < 100 {
		t.Errorf("got %d rows, want at least 100", len(rows))
	}
	documented := map[int]bool{}
	for _, c := range exitCodes {
		documented[c.Code] = true
	}
	for i, row := range rows {
		name := fmt.Sprintf("%03d %s", i, strings.Join(row.args, " "))
		t.Run(name, func(t *testing.T) {
			if !documented[row.code] {
				t.Fatalf("exit code %d is not in the README's table", row.code)
			}
			if row.needs != "" {
				if _, err := exec.LookPath(row.needs); err != nil {
					t.Skipf("needs %s", row.needs)
				}
			}
			f.run(t, row)
		})
	}
}

// fixture is what the rows run against: servers on loopback shared by all
// rows, and per row a fresh home and workspace.
type fixture struct {
	recorder   *listener // web-1's address: nothing should ever dial it
	sshd       *fakeSSHD // refuses every key
	sshd6      *fakeSSHD // the same on [::1]
	closed     int       // 127.0.0.1 port with nothing listening
	closed6    int       // [::1] port with nothing listening
	httpPort   int       // an HTTP server, not SSH
	infectURL  string    // a stand-in script, served locally
	infectSHA  string
	cloud      *localcloud.Cloud
	cloudURL   string
	home, ws   string // this row's
	missing    string // a workspace path that does not exist
	aFile      string // a workspace path that is a file
	cloudToken string
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{recorder: newListener(t), sshd: newFakeSSHD(t, "127.0.0.1:0"), sshd6: newFakeSSHD(t, "[::1]:0")}
	f.closed, f.closed6 = closedPort(t, "127.0.0.1:0"), closedPort(t, "[::1]:0")
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "not ssh", http.StatusNotFound) }))
	t.Cleanup(hs.Close)
	f.httpPort = hs.Listener.Addr().(*net.TCPAddr).Port
	script := []byte("#!/bin/sh\necho stand-in\n")
	sum := sha256.Sum256(script)
	f.infectSHA = hex.EncodeToString(sum[:])
	is := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(script) }))
	t.Cleanup(is.Close)
	f.infectURL = is.URL + "/nixos-infect"
	f.cloudToken = testCloudToken
	f.cloud = localcloud.New(localcloud.Options{Token: testCloudToken})
	cs := httptest.NewServer(f.cloud.Handler())
	t.Cleanup(func() { cs.Close(); f.cloud.Close() })
	f.cloudURL = cs.URL
	return f
}

// env isolates a row: its own home, config and cache; no agent; the cloud
// credentials point at the local API; no BOOTSTRAP_* from the caller.
func (f *fixture) env(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, EnvPrefix+"_") || strings.HasPrefix(k, "SCW_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Setenv("HOME", f.home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(f.home, ".config"))
	t.Setenv("XDG_CACHE_HOME", filepath.Join(f.home, ".cache"))
	t.Setenv("NO_COLOR", "1")
	t.Setenv("SSH_AUTH_SOCK", "")
	os.Unsetenv("SSH_AUTH_SOCK")
	for k, v := range map[string]string{
		"SCW_API_URL": f.cloudURL, "SCW_ACCESS_KEY": "SCWABCDEFGHIJKLMNOPQ", "SCW_SECRET_KEY": f.cloudToken,
		"SCW_DEFAULT_PROJECT_ID": testCloudProject, "SCW_DEFAULT_ZONE": "fr-par-1",
		"SCW_CONFIG_PATH": filepath.Join(f.home, "no-scw-config.yaml"),
	} {
		t.Setenv(k, v)
	}
}

// prepare makes the row's home and workspace: identities, host.nix files,
// and a workspace with recipients, a deploy key and hosts:
//
//	web-1    bootstrapped over ssh, at the recorder's address
//	half-1   never reached (127.0.0.1, a closed port)
//	cloud-1  a scaleway machine, created and reached
func (f *fixture) prepare(t *testing.T) {
	f.home, f.ws = t.TempDir(), t.TempDir()
	f.missing = filepath.Join(t.TempDir(), "no", "such", "workspace")
	f.aFile = filepath.Join(f.home, "a-file")
	write(t, f.aFile, "", 0o644)
	keys := filepath.Join(f.home, "keys")
	priv := newPrivateKey(t)
	write(t, filepath.Join(keys, "id"), priv, 0o600)
	write(t, filepath.Join(keys, "id_open"), priv, 0o644)
	write(t, filepath.Join(keys, "id.pub"), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK2JRyI3kvEXvEX3JlTQ6y4H0y3E1p5r2ovNlO05VYdm me\n", 0o644)
	nix := filepath.Join(f.home, "nix")
	write(t, filepath.Join(nix, "empty.nix"), "\n", 0o644)
	write(t, filepath.Join(nix, "syntax.nix"), "{ pkgs, ... }: { services.nginx.enable = ; }\n", 0o644)
	write(t, filepath.Join(nix, "big.nix"), "{ ... }: { }\n"+strings.Repeat("# padding\n", 110_000), 0o644)
	write(t, filepath.Join(nix, "ok.nix"), "{ pkgs, ... }: { }\n", 0o644)
	if err := os.MkdirAll(filepath.Join(nix, "dir.nix"), 0o755); err != nil {
		t.Fatal(err)
	}

	ws, err := workspace.Open(f.ws)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ws.EnsureDeployKey(); err != nil {
		t.Fatal(err)
	}
	if _, err := ws.ID(); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(f.ws, "recipients.txt"), "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n", 0o644)
	done := func(steps ...string) map[string]*bootstrap.StepRecord {
		m := map[string]*bootstrap.StepRecord{}
		for _, s := range steps {
			m[s] = &bootstrap.StepRecord{Status: bootstrap.StatusDone}
		}
		return m
	}
	all := done(bootstrap.StepResolve, bootstrap.StepConnect, bootstrap.StepPreflight, bootstrap.StepUpload, bootstrap.StepSecrets,
		bootstrap.StepInfect, bootstrap.StepReboot, bootstrap.StepCapture)
	half := done(bootstrap.StepResolve)
	half[bootstrap.StepConnect] = &bootstrap.StepRecord{Status: bootstrap.StatusFailed}
	var machine provider.Record
	if err := machine.Encode("scaleway", map[string]any{"zone": "fr-par-1", "commercial_type": "DEV1-S", "image_label": "ubuntu_noble", "server_id": "11111111-1111-4111-8111-111111111111"}); err != nil {
		t.Fatal(err)
	}
	for _, rec := range []*bootstrap.Record{
		{Name: "web-1", Provider: "ssh", User: "root", Address: "127.0.0.1", Port: f.recorder.port, Channel: "nixos-24.11", Steps: all},
		{Name: "half-1", Provider: "ssh", User: "root", Address: "127.0.0.1", Port: f.closed, Channel: "nixos-24.11", Steps: half},
		{Name: "cloud-1", Provider: "scaleway", User: "root", Address: "127.0.0.1", Port: f.recorder.port, Channel: "nixos-24.11", Steps: all, Machine: machine},
	} {
		if err := bootstrap.SaveRecord(ws, rec); err != nil {
			t.Fatal(err)
		}
	}
	write(t, ws.HostFile("web-1", "configuration.nix"), "{ ... }: { }\n", 0o644)
}

func (f *fixture) fill(s string) string {
	return strings.NewReplacer(
		"{ws}", f.ws, "{home}", f.home, "{missing}", f.missing, "{file}", f.aFile,
		"{recorder}", fmt.Sprint(f.recorder.port), "{closed}", fmt.Sprint(f.closed), "{closed6}", fmt.Sprint(f.closed6),
		"{http}", fmt.Sprint(f.httpPort), "{sshd}", fmt.Sprint(f.sshd.port), "{sshd6}", fmt.Sprint(f.sshd6.port),
		"{sshdfp}", f.sshd.fingerprint, "{infecturl}", f.infectURL, "{infectsha}", f.infectSHA,
	).Replace(s)
}

func (f *fixture) run(t *testing.T, row badInput) {
	f.prepare(t)
	f.env(t)
	if row.setup != nil {
		row.setup(t, f)
	}
	var args []string
	hasWS := false
	for _, a := range row.args {
		if a == "-w" || a == "--workspace" {
			hasWS = true
		}
		args = append(args, f.fill(a))
	}
	if !hasWS {
		args = append([]string{"--workspace", f.ws}, args...)
	}
	for _, kv := range row.env {
		k, v, _ := strings.Cut(f.fill(kv), "=")
		t.Setenv(k, v)
	}
	before := snapshot(t, f.home, f.ws)
	dials := f.recorder.count.Load() + f.sshd.conns.Load() + f.sshd6.conns.Load()
	requests := f.cloud.Requests()

	root := NewRoot()
	root.SetArgs(args)
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetIn(strings.NewReader(""))
	code := Execute(root)

	var lines []string
	for _, l := range strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n") {
		if !strings.HasPrefix(l, "warning: ") {
			lines = append(lines, l)
		}
	}
	if code != row.code {
		t.Errorf("got exit %d, want %d\nstderr: %s", code, row.code, stderr.String())
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "error: ") {
		t.Errorf("got stderr %q, want one line starting with error:", stderr.String())
	} else if !strings.Contains(lines[0], f.fill(row.want)) {
		t.Errorf("got %q, want it to say %q", lines[0], f.fill(row.want))
	}
	if row.touches {
		return
	}
	if after := snapshot(t, f.home, f.ws); after != before {
		t.Errorf("files changed, want none written:\n%s", lineDiff(before, after))
	}
	if _, err := os.Stat(f.missing); err == nil {
		t.Errorf("%s exists, want a workspace that did not exist left uncreated", f.missing)
	}
	if n := f.recorder.count.Load() + f.sshd.conns.Load() + f.sshd6.conns.Load(); n != dials {
		t.Errorf("got %d connection(s) to the test's hosts, want none", n-dials)
	}
	for _, r := range f.cloud.Requests()[len(requests):] {
		if row.api == "" || (row.api == "get" && r.Method != http.MethodGet) {
			t.Errorf("got a %s %s to the cloud API, want %s", r.Method, r.Path, map[string]string{"": "none", "get": "reads only"}[row.api])
		}
	}
}

// snapshot lists every file and directory under dirs with its mode, size
// and content hash.
func snapshot(t *testing.T, dirs ...string) string {
	var lines []string
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			line := fmt.Sprintf("%s %s", p, info.Mode())
			if !e.IsDir() {
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(data)
				line += fmt.Sprintf(" %d %x", len(data), sum[:6])
			}
			lines = append(lines, line)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// lineDiff lists the lines only one of a and b has.
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if !inb[l] {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ina[l] {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// newSigner is a fresh ed25519 key.
func newSigner(t *testing.T) ssh.Signer {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

func newPrivateKey(t *testing.T) string {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "operator")
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(block))
}

// listener counts the connections to a loopback port (countingListener).
type listener struct {
	port  int
	count *atomic.Int32
}

func newListener(t *testing.T) *listener {
	port, n := countingListener(t)
	return &listener{port: port, count: n}
}

func closedPort(t *testing.T, addr string) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// fakeSSHD is an SSH server on loopback with an ed25519 host key that
// refuses every login, counting connections.
type fakeSSHD struct {
	port        int
	fingerprint string
	conns       atomic.Int32
}

func newFakeSSHD(t *testing.T, addr string) *fakeSSHD {
	signer := newSigner(t)
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) {
		return nil, fmt.Errorf("no")
	}}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &fakeSSHD{port: ln.Addr().(*net.TCPAddr).Port, fingerprint: remote.Fingerprint(signer.PublicKey())}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go func() {
				defer c.Close()
				if sc, _, _, err := ssh.NewServerConn(c, cfg); err == nil {
					sc.Close()
				}
			}()
		}
	}()
	return s
}
