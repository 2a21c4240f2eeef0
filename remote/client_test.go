package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// connect starts a server and returns a logged-in client.
func connect(t *testing.T) (*testServer, *Client) {
	t.Helper()
	key := newKey(t, "k")
	srv := newTestServer(t, key.Signer.PublicKey())
	cfg := testConfig(t, srv.port(), key)
	cfg.HostKeys.AcceptNew = true
	return srv, mustDial(t, cfg)
}

func TestRunExitStatusAndStderrTail(t *testing.T) {
	_, c := connect(t)
	var stdout, stderr bytes.Buffer
	cmd := `i=1; while [ $i -le 30 ]; do echo "err $i" >&2; i=$((i+1)); done; echo out; exit 3`
	err := c.Run(context.Background(), cmd, &stdout, &stderr)
	var exit *ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("Run: got %v, want *ExitError", err)
	}
	if exit.Status != 3 || exit.Cmd != cmd || exit.Signal != "" {
		t.Errorf("ExitError: got status %d cmd %q signal %q, want 3, %q, none", exit.Status, exit.Cmd, exit.Signal, cmd)
	}
	var want []string
	for i := 11; i <= 30; i++ {
		want = append(want, fmt.Sprintf("err %d", i))
	}
	if got := strings.TrimSpace(exit.Stderr); got != strings.Join(want, "\n") {
		t.Errorf("Stderr tail: got %q, want lines 11..30", got)
	}
	if got := strings.Count(stderr.String(), "\n"); got != 30 {
		t.Errorf("streamed stderr: got %d lines, want 30", got)
	}
	if stdout.String() != "out\n" {
		t.Errorf("stdout: got %q, want %q", stdout.String(), "out\n")
	}
	if !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "err 30") {
		t.Errorf("error text: got %q, want exit status and stderr tail", err)
	}

	if err := c.Run(context.Background(), "true", nil, nil); err != nil {
		t.Errorf("Run(true): got %v, want nil", err)
	}
}

func TestOutput(t *testing.T) {
	_, c := connect(t)
	out, err := c.Output(context.Background(), `printf 'a b\n'; echo ignored >&2`)
	if err != nil || out != "a b\n" {
		t.Errorf("Output: got %q, %v, want %q, nil", out, err, "a b\n")
	}
	if _, err := c.Output(context.Background(), "exit 7"); err == nil {
		t.Errorf("Output(exit 7): got nil error, want *ExitError")
	}
}

func TestRunCancelledByContext(t *testing.T) {
	_, c := connect(t)
	mark := filepath.Join(t.TempDir(), "mark")
	cmd := fmt.Sprintf(`trap 'echo term > %s; exit 143' TERM; sleep 30 & wait`, Quote(mark))
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(300*time.Millisecond, cancel)
	defer timer.Stop()
	start := time.Now()
	err := c.Run(ctx, cmd, nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: got %v, want context.Canceled", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Run returned after %s, want soon after cancel", el)
	}
	if !eventually(3*time.Second, func() bool {
		data, _ := os.ReadFile(mark)
		return strings.TrimSpace(string(data)) == "term"
	}) {
		t.Errorf("remote process: got no SIGTERM, want the trap to run")
	}
	// The client is still usable.
	if out, err := c.Output(context.Background(), "echo still"); err != nil || out != "still\n" {
		t.Errorf("Output after cancel: got %q, %v, want %q", out, err, "still\n")
	}
}

func TestRunConnectionLost(t *testing.T) {
	srv, c := connect(t)
	timer := time.AfterFunc(300*time.Millisecond, srv.dropConns)
	defer timer.Stop()
	err := c.Run(context.Background(), "sleep 10", nil, nil)
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Run: got %v, want ErrConnectionLost", err)
	}
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Errorf("Done: not closed after the connection dropped")
	}
	if err := c.Run(context.Background(), "true", nil, nil); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Run after loss: got %v, want ErrConnectionLost", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after loss: got %v, want nil", err)
	}
}

// A host that vanishes without a RST is noticed by the keepalive.
func TestKeepAliveNoticesDeadPeer(t *testing.T) {
	key := newKey(t, "k")
	srv := newTestServer(t, key.Signer.PublicKey())
	proxy := newBlackholeProxy(t, srv.addr.String())
	cfg := testConfig(t, proxy.port(), key)
	cfg.HostKeys.AcceptNew = true
	cfg.KeepAlive = 100 * time.Millisecond
	c := mustDial(t, cfg)

	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background(), "sleep 30", nil, nil) }()
	time.AfterFunc(200*time.Millisecond, proxy.freeze)
	select {
	case err := <-errc:
		if !errors.Is(err, ErrConnectionLost) {
			t.Errorf("Run: got %v, want ErrConnectionLost", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Run: still blocked 5s after the peer vanished, want keepalive to close the connection")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	_, c := connect(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "etc", "nixos")
	p := filepath.Join(dir, "host.nix")

	check := func(want string, mode fs.FileMode) {
		t.Helper()
		data, err := os.ReadFile(p)
		if err != nil || string(data) != want {
			t.Errorf("content: got %q, %v, want %q", data, err, want)
		}
		if st, err := os.Stat(p); err != nil || st.Mode() != mode {
			t.Errorf("mode: got %v, %v, want %v", st.Mode(), err, mode)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("directory: got %v, want only host.nix (no .tmp leftovers)", names)
		}
		got, err := c.ReadFile(ctx, p)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile: got %q, %v, want %q", got, err, want)
		}
	}
	if err := c.WriteFile(ctx, p, []byte("{ }\n"), 0o640); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	check("{ }\n", 0o640)
	if err := c.WriteFile(ctx, p, []byte("secret"), 0o600); err != nil {
		t.Fatalf("WriteFile (replace): %v", err)
	}
	check("secret", 0o600)
	if err := c.WriteFile(ctx, p, nil, 0o644); err != nil {
		t.Fatalf("WriteFile (empty): %v", err)
	}
	check("", 0o644)
}

// Readers polling the file during rewrites only ever see complete versions.
func TestWriteFileReadersNeverSeePartial(t *testing.T) {
	_, c := connect(t)
	p := filepath.Join(t.TempDir(), "big")
	versions := [][]byte{bytes.Repeat([]byte("a"), 1<<20), bytes.Repeat([]byte("b"), 1<<20)}
	if err := c.WriteFile(context.Background(), p, versions[0], 0o644); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var bad []int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			data, err := os.ReadFile(p)
			if err != nil || !(bytes.Equal(data, versions[0]) || bytes.Equal(data, versions[1])) {
				bad = append(bad, len(data))
			}
		}
	}()
	for i := range 10 {
		if err := c.WriteFile(context.Background(), p, versions[i%2], 0o644); err != nil {
			t.Errorf("WriteFile %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("readers saw %d partial/missing files (sizes %v), want none", len(bad), bad[:min(len(bad), 5)])
	}
}

func TestWriteFileErrorNamesPathAndHost(t *testing.T) {
	_, c := connect(t)
	parent := filepath.Join(t.TempDir(), "file")
	os.WriteFile(parent, nil, 0o644)
	p := filepath.Join(parent, "child")
	err := c.WriteFile(context.Background(), p, []byte("x"), 0o644)
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.Addr()) {
		t.Errorf("WriteFile under a regular file: got %v, want error naming %s and %s", err, p, c.Addr())
	}
	if _, err := c.ReadFile(context.Background(), filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile(missing): got %v, want fs.ErrNotExist", err)
	}
}

func TestWriteFileCancelled(t *testing.T) {
	_, c := connect(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := filepath.Join(t.TempDir(), "f")
	if err := c.WriteFile(ctx, p, []byte("x"), 0o644); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteFile(cancelled): got %v, want context.Canceled", err)
	}
	if err := c.WriteFile(context.Background(), p, []byte("x"), 0o644); err != nil {
		t.Errorf("WriteFile after a cancelled one: got %v, want nil", err)
	}
}

// With Sudo and a non-root user, commands go through `sudo -n sh -c` and
// uploads through /tmp + install. A shim stands in for sudo.
// sudoServer is a test server whose sudo is the shell script shim, and the
// config of a sudo user logging in to it.
func sudoServer(t *testing.T, shim string) (*testServer, Config) {
	t.Helper()
	key := newKey(t, "k")
	srv := newTestServer(t, key.Signer.PublicKey())
	shimDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(shimDir, "sudo"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	srv.setEnv("PATH=" + shimDir + ":" + os.Getenv("PATH"))
	cfg := testConfig(t, srv.port(), key)
	cfg.HostKeys.AcceptNew = true
	cfg.User, cfg.Sudo = "deploy", true
	return srv, cfg
}

func TestSudo(t *testing.T) {
	srv, cfg := sudoServer(t, "#!/bin/sh\n[ \"$1\" = -n ] || { echo 'sudo shim: want -n first' >&2; exit 99; }\nshift\nexport SUDO_SHIM=1\nexec \"$@\"\n")
	c := mustDial(t, cfg)
	ctx := context.Background()

	out, err := c.Output(ctx, `echo "it's $SUDO_SHIM"`)
	if err != nil || out != "it's 1\n" {
		t.Errorf("Output via sudo: got %q, %v, want %q", out, err, "it's 1\n")
	}

	uploadsBefore, _ := filepath.Glob("/tmp/bootstrap-upload-*")
	dir := filepath.Join(t.TempDir(), "a dir", "nixos")
	p := filepath.Join(dir, "it's.nix")
	if err := c.WriteFile(ctx, p, []byte("{ }\n"), 0o600); err != nil {
		t.Fatalf("WriteFile via sudo: %v", err)
	}
	if data, err := os.ReadFile(p); err != nil || string(data) != "{ }\n" {
		t.Errorf("content: got %q, %v, want %q", data, err, "{ }\n")
	}
	if st, err := os.Stat(p); err != nil || st.Mode() != 0o600 {
		t.Errorf("mode: got %v, %v, want 0600", st.Mode(), err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory: got %d entries, want 1 (no temp leftovers)", len(entries))
	}
	if uploadsAfter, _ := filepath.Glob("/tmp/bootstrap-upload-*"); len(uploadsAfter) != len(uploadsBefore) {
		t.Errorf("/tmp uploads: got %v, want %v (temp removed)", uploadsAfter, uploadsBefore)
	}
	if data, err := c.ReadFile(ctx, p); err != nil || string(data) != "{ }\n" {
		t.Errorf("ReadFile via sudo: got %q, %v, want %q", data, err, "{ }\n")
	}

	// SetSudo switches it off and on again.
	c.SetSudo(false)
	if out, err := c.Output(ctx, `echo "${SUDO_SHIM:-none}"`); err != nil || out != "none\n" {
		t.Errorf("Output after SetSudo(false): got %q, %v, want %q", out, err, "none\n")
	}
	c.SetSudo(true)
	if out, err := c.Output(ctx, `echo "${SUDO_SHIM:-none}"`); err != nil || out != "1\n" {
		t.Errorf("Output after SetSudo(true): got %q, %v, want %q", out, err, "1\n")
	}

	// Root needs no sudo even if asked.
	cfg.User = "root"
	srv.setEnv("PATH=/nonexistent:" + os.Getenv("PATH"))
	root := mustDial(t, cfg)
	if out, err := root.Output(ctx, `echo "${SUDO_SHIM:-none}"`); err != nil || out != "none\n" {
		t.Errorf("Output as root with Sudo: got %q, %v, want %q (no sudo)", out, err, "none\n")
	}
}

func TestTailWriter(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		max    int
		want   string
	}{
		{"empty", nil, 3, ""},
		{"fewer lines", []string{"a\nb\n"}, 3, "a\nb\n"},
		{"exactly max", []string{"a\nb\nc\n"}, 3, "a\nb\nc\n"},
		{"more lines", []string{"a\nb\nc\nd\ne\n"}, 3, "c\nd\ne\n"},
		{"split writes", []string{"a\nb", "\nc\nd", "\ne"}, 2, "d\ne"},
		{"no newline", []string{"abc"}, 1, "abc"},
	}
	for _, tt := range tests {
		w := &tailWriter{max: tt.max}
		for _, s := range tt.writes {
			w.Write([]byte(s))
		}
		if got := w.String(); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// A host is not trusted to be brief: what is read into memory is capped.
func TestOutputAndReadFileAreCapped(t *testing.T) {
	_, c := connect(t)
	ctx := context.Background()
	out, err := c.Output(ctx, fmt.Sprintf("head -c %d /dev/zero", MaxOutput+1))
	if !errors.Is(err, ErrOutputTooLong) || len(out) > MaxOutput {
		t.Errorf("Output over the cap: got %d bytes and %v, want at most %d and ErrOutputTooLong", len(out), err, MaxOutput)
	}
	if out, err := c.Output(ctx, "echo fine"); err != nil || out != "fine\n" {
		t.Errorf("Output after: got %q, %v", out, err)
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 4097), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadFileMax(ctx, big, 4096); !errors.Is(err, ErrOutputTooLong) {
		t.Errorf("ReadFileMax over max: got %v, want ErrOutputTooLong", err)
	}
	if data, err := c.ReadFileMax(ctx, big, 4097); err != nil || len(data) != 4097 {
		t.Errorf("ReadFileMax at max: got %d bytes, %v", len(data), err)
	}
}

// A sudo upload whose connection drops half way leaves nothing behind: no
// copy staged in /tmp, no temp file beside the target, and the target
// untouched.
func TestSudoWriteDroppedLeavesNothing(t *testing.T) {
	// A sudo that takes its time, as one asking PAM does: the connection
	// drops while it waits.
	srv, cfg := sudoServer(t, "#!/bin/sh\nshift\nsleep 1\nexec \"$@\"\n")
	c := mustDial(t, cfg)
	uploadsBefore, _ := filepath.Glob("/tmp/bootstrap-upload-*")
	dir := t.TempDir()
	p := filepath.Join(dir, "secret")
	go func() {
		time.Sleep(300 * time.Millisecond)
		srv.dropConns()
	}()
	if err := c.WriteFile(context.Background(), p, bytes.Repeat([]byte("s"), 8<<20), 0o400); err == nil {
		t.Fatal("WriteFile over a dropped connection: got nil, want an error")
	}
	time.Sleep(2500 * time.Millisecond) // the shim's sleep, and the server's reaping
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("got %d files beside the target, want none", len(entries))
	}
	if uploadsAfter, _ := filepath.Glob("/tmp/bootstrap-upload-*"); len(uploadsAfter) != len(uploadsBefore) {
		t.Errorf("got uploads left in /tmp: %v, want %v", uploadsAfter, uploadsBefore)
	}
}
