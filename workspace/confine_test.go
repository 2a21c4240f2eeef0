package workspace

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfine(t *testing.T) {
	top := t.TempDir()
	root := filepath.Join(top, "ws")
	outside := filepath.Join(top, "outside")
	for _, d := range []string{filepath.Join(root, "hosts", "web-1"), filepath.Join(root, "keys"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	link(outside, "hosts/evil")                                         // a host directory elsewhere
	link(filepath.Join(outside, "bashrc"), "hosts/web-1/bootstrap.log") // dangling, outside
	link(filepath.Join(outside, "id"), "hosts/web-1/ssh_host_ed25519_key")
	link("../web-1", "hosts/alias") // inside: fine
	link(root, "self")              // the root itself: fine

	tests := []struct {
		path    string
		outside bool
	}{
		{"hosts/web-1/state.json", false},
		{filepath.Join(root, "hosts", "web-1", "host.nix"), false},
		{"hosts/new-1/state.json", false}, // does not exist yet
		{"hosts/alias/state.json", false},
		{"self/known_hosts", false},
		{"hosts/../../escape/state.json", true},
		{"../outside/x", true},
		{filepath.Join(outside, "x"), true},
		{"hosts/evil/state.json", true},
		{"hosts/evil/new/dir/file", true},
		{"hosts/web-1/bootstrap.log", true},
		{"hosts/web-1/ssh_host_ed25519_key", true},
	}
	for _, tt := range tests {
		_, err := Confine(root, tt.path)
		var oe *OutsideError
		if got := errors.As(err, &oe); got != tt.outside || (err != nil && !tt.outside) {
			t.Errorf("Confine(%q): got %v, want outside=%v", tt.path, err, tt.outside)
		}
	}
}

// The workspace's writers refuse what leads outside before creating
// anything there.
func TestHostFilesStayInTheWorkspace(t *testing.T) {
	top := t.TempDir()
	w, err := Open(filepath.Join(top, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(top, "outside")
	if err := os.MkdirAll(filepath.Join(w.Dir, "hosts"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(w.Dir, "hosts", "web-1")); err != nil {
		t.Fatal(err)
	}
	var oe *OutsideError
	if err := w.WriteHostFile("web-1", "state.json", []byte("{}"), 0o644); !errors.As(err, &oe) {
		t.Errorf("write through a symlinked host directory: got %v, want an OutsideError", err)
	}
	if _, err := w.OpenLog("web-1"); !errors.As(err, &oe) {
		t.Errorf("open the log through a symlinked host directory: got %v, want an OutsideError", err)
	}
	if err := os.WriteFile(filepath.Join(outside, "state.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.RemoveHostFile("web-1", "state.json"); !errors.As(err, &oe) {
		t.Errorf("remove through a symlinked host directory: got %v, want an OutsideError", err)
	}
	if _, err := w.ReadHostFile("web-1", "state.json"); !errors.As(err, &oe) {
		t.Errorf("read through a symlinked host directory: got %v, want an OutsideError", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("got %d files outside, want only the one the test put there", len(entries))
	}
	if err := w.WriteHostFile("../../escape", "state.json", []byte("{}"), 0o644); !errors.As(err, &oe) {
		t.Errorf("write for the name ../../escape: got %v, want an OutsideError", err)
	}
}

// One run per host: a second lock fails at once, naming the holder; the
// lock is free again once released.
func TestLockHost(t *testing.T) {
	w, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := w.LockHost("web-1", "bootstrap scaleway web-1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.LockHost("web-1", "bootstrap destroy web-1")
	var le *LockedError
	if !errors.As(err, &le) || !strings.Contains(le.Holder, "bootstrap scaleway web-1") || !strings.Contains(le.Holder, "pid ") {
		t.Fatalf("second lock: got %v, want a LockedError naming the first run", err)
	}
	if other, err := w.LockHost("web-2", "bootstrap ssh web-2"); err != nil {
		t.Errorf("another host: got %v, want its own lock", err)
	} else {
		other()
	}
	unlock()
	again, err := w.LockHost("web-1", "bootstrap destroy web-1")
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()
}
