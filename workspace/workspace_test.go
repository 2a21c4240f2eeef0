package workspace

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestDeployKeyGeneratedOnceWithModes(t *testing.T) {
	w, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k1, err := w.EnsureDeployKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := w.EnsureDeployKey()
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Created || k2.Created || k1.AuthorizedKey != k2.AuthorizedKey {
		t.Errorf("got created %v then %v, keys equal %v; want true, false, true", k1.Created, k2.Created, k1.AuthorizedKey == k2.AuthorizedKey)
	}
	for path, want := range map[string]os.FileMode{filepath.Dir(w.KeyPath(SharedKey)): 0o700 | os.ModeDir, w.KeyPath(SharedKey): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: got mode %v, want %v", path, fi.Mode(), want)
		}
	}
	// OpenSSH reads the key as it is.
	if out, err := exec.Command("ssh-keygen", "-y", "-f", w.KeyPath(SharedKey)).CombinedOutput(); err != nil {
		t.Errorf("ssh-keygen -y: %v: %s", err, out)
	} else if got := strings.Fields(string(out))[1]; got != strings.Fields(k1.AuthorizedKey)[1] {
		t.Errorf("got public key %s from ssh-keygen, want %s", got, strings.Fields(k1.AuthorizedKey)[1])
	}
	if err := os.Chmod(w.KeyPath(SharedKey), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.LoadDeployKey(); err == nil {
		t.Error("got a world-readable deploy key accepted, want an error")
	}
}

func TestValidName(t *testing.T) {
	for name, ok := range map[string]bool{"web-1": true, "a": true, "203-0-113-7": true, "Web": false, "-a": false, "a-": false, "a.b": false, "": false, strings.Repeat("a", 64): false} {
		if got := ValidName(name) == nil; got != ok {
			t.Errorf("ValidName(%q): got ok=%v, want %v", name, got, ok)
		}
	}
}

func TestPinAndForgetHost(t *testing.T) {
	w, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := func() ssh.PublicKey {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		k, _ := ssh.NewPublicKey(pub)
		return k
	}
	a, b, c := key(), key(), key()
	if err := w.PinHostKey("127.0.0.100", 22, a); err != nil {
		t.Fatal(err)
	}
	if err := w.PinHostKey("127.0.0.101", 2222, c); err != nil {
		t.Fatal(err)
	}
	if err := w.PinHostKey("127.0.0.100", 22, b); err != nil { // replaces a
		t.Fatal(err)
	}
	data, _ := os.ReadFile(w.KnownHosts())
	got := string(data)
	if strings.Count(got, "127.0.0.100 ") != 1 || !strings.Contains(got, "[127.0.0.101]:2222 ") || strings.Contains(got, string(ssh.MarshalAuthorizedKey(a))[12:40]) {
		t.Errorf("got known_hosts\n%s\nwant one entry for 127.0.0.100 (the new key) and one for [127.0.0.101]:2222", got)
	}
	// OpenSSH finds the entry.
	if out, err := exec.Command("ssh-keygen", "-F", "[127.0.0.101]:2222", "-f", w.KnownHosts()).CombinedOutput(); err != nil {
		t.Errorf("ssh-keygen -F: %v: %s", err, out)
	}
	if err := w.ForgetHost("127.0.0.100", 22); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(w.KnownHosts())
	if strings.Contains(string(data), "127.0.0.100 ") || !strings.Contains(string(data), "127.0.0.101") {
		t.Errorf("got known_hosts after forget\n%s", data)
	}
}

func TestIDStable(t *testing.T) {
	w, _ := Open(t.TempDir())
	id1, err := w.ID()
	if err != nil {
		t.Fatal(err)
	}
	id2, _ := w.ID()
	if id1 == "" || id1 != id2 {
		t.Errorf("got ids %q and %q, want one stable non-empty id", id1, id2)
	}
}

// A line longer than bufio.Scanner's 64 KiB limit (a certificate, a big
// key, a long comment) must neither stop ForgetHost half way nor cost the
// pins after it.
func TestForgetHostKeepsLongLines(t *testing.T) {
	w, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := ssh.NewPublicKey(pub)
	entry := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
	forget := "127.0.0.100 " + entry + "\n"
	long := "# " + strings.Repeat("x", 100<<10) + "\n"
	keep := "127.0.0.101 " + entry + "\n" + "[127.0.0.102]:2222 " + entry // no final newline
	if err := os.WriteFile(w.KnownHosts(), []byte(forget+long+keep), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.ForgetHost("127.0.0.100", 22); err != nil {
		t.Fatalf("forget: %v", err)
	}
	data, _ := os.ReadFile(w.KnownHosts())
	if got, want := string(data), long+keep; got != want {
		t.Errorf("got known_hosts of %d bytes, want the %d bytes after the forgotten line, unchanged", len(got), len(want))
	}
	// Nothing to forget: the file is not touched.
	before, _ := os.Stat(w.KnownHosts())
	if err := w.ForgetHost("127.0.0.9", 22); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(w.KnownHosts())
	if !os.SameFile(before, after) {
		t.Errorf("got known_hosts rewritten for a host it does not hold, want it untouched")
	}
}

func TestWriteFileAtomicSyncsTheDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	var synced []string
	saved := syncDir
	t.Cleanup(func() { syncDir = saved })
	syncDir = func(d string) error {
		if _, err := os.Stat(path); err != nil {
			t.Errorf("directory synced before the rename: %v", err)
		}
		synced = append(synced, d)
		return saved(d)
	}
	if err := WriteFileAtomic(path, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || synced[0] != dir {
		t.Errorf("got directories synced %q, want [%q] once after the rename", synced, dir)
	}
}

// The workspace is meant to be committed: git must never pick up a private
// key, whatever the operator's own .gitignore says.
func TestGitignoreKeepsPrivateKeysOut(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git")
	}
	for _, existing := range []string{"", "result\n*.swp"} {
		w, err := Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if existing != "" {
			if err := os.WriteFile(filepath.Join(w.Dir, ".gitignore"), []byte(existing), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if out, err := exec.Command("git", "-C", w.Dir, "init", "-q").CombinedOutput(); err != nil {
			t.Fatalf("git init: %v: %s", err, out)
		}
		if _, err := w.EnsureKey(HostKeyName("web-1")); err != nil {
			t.Fatal(err)
		}
		if _, err := w.EnsureDeployKey(); err != nil {
			t.Fatal(err)
		}
		for path, ignored := range map[string]bool{
			"keys/web-1_ed25519": true, "keys/web-1_ed25519.pub": false, "keys/deploy_ed25519": true, "keys/deploy_ed25519.pub": false,
			"keys/web-1_ed25519.next": true, "hosts/web-1/ssh_host_ed25519_key": true, "hosts/web-1/.lock": true,
			"hosts/web-1/state.json": false, "hosts/web-1/host.nix": false, "known_hosts": false, "result": existing != "",
		} {
			err := exec.Command("git", "-C", w.Dir, "check-ignore", "-q", path).Run()
			if got := err == nil; got != ignored {
				t.Errorf("existing .gitignore %q: %s ignored: got %v, want %v", existing, path, got, ignored)
			}
		}
		if _, err := w.EnsureKey(HostKeyName("web-2")); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(filepath.Join(w.Dir, ".gitignore"))
		if n := strings.Count(string(data), "!/keys/*.pub"); n != 1 {
			t.Errorf("got the block %d times in .gitignore, want once", n)
		}
	}
}
