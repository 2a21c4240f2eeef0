package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// recorder is a fake Remote that records what it is asked, in order.
type recorder struct {
	events  []string // "run: CMD" or "write: PATH"
	cmds    []string
	writes  []written
	listOut string // stdout of the find command
	failRun string // a command containing this fails
	failAt  int    // WriteFile number (1-based) that fails; 0 = none
}

type written struct {
	path string
	data []byte
	mode fs.FileMode
}

func (r *recorder) Run(_ context.Context, cmd string, stdout, _ io.Writer) error {
	r.events = append(r.events, "run: "+cmd)
	r.cmds = append(r.cmds, cmd)
	if r.failRun != "" && strings.Contains(cmd, r.failRun) {
		return fmt.Errorf("run %q: exit status 1", cmd)
	}
	if strings.HasPrefix(cmd, "find ") && stdout != nil {
		io.WriteString(stdout, r.listOut)
	}
	return nil
}

func (r *recorder) WriteFile(_ context.Context, p string, data []byte, mode fs.FileMode) error {
	r.events = append(r.events, "write: "+p)
	r.writes = append(r.writes, written{p, bytes.Clone(data), mode})
	if r.failAt == len(r.writes) {
		return fmt.Errorf("write %s: permission denied", p)
	}
	return nil
}

var pushSecrets = map[string][]byte{
	"db-password": []byte("pg-Secret-value-1"),
	"tls.key":     []byte("-----BEGIN PRIVATE KEY-----\nsecret-value-2\n"),
	"api_token":   []byte("it's $(rm -rf /) `x` \"y\""),
}

func assertNoValues(t *testing.T, what string, texts ...string) {
	t.Helper()
	for _, text := range texts {
		for k, v := range pushSecrets {
			for _, part := range strings.Split(string(v), "\n") {
				if len(part) > 4 && strings.Contains(text, part) {
					t.Errorf("got the value of %s in %s %q, want no value", k, what, text)
				}
			}
		}
	}
}

func TestPushCommandsAndFiles(t *testing.T) {
	r := &recorder{}
	meta := map[string]Meta{
		"db-password": {Owner: "postgres", Group: "postgres", Mode: 0o440},
		"orphan":      {Owner: "nobody", Group: "nogroup", Mode: 0o400},
	}
	res, err := Push(context.Background(), r, pushSecrets, meta, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"api_token", "db-password", "tls.key"}; !reflect.DeepEqual(res.Written, want) || res.Removed != nil {
		t.Errorf("got %+v, want written %v and nothing removed", res, want)
	}
	assertNoValues(t, "command", r.cmds...)

	if len(r.cmds) == 0 || r.cmds[0] != "install -d -m 0700 -o root -g root /var/lib/bootstrap/secrets" {
		t.Fatalf("got first command %q, want the 0700 root directory created first", r.cmds)
	}
	if len(r.writes) != 3 {
		t.Fatalf("got %d uploads, want 3", len(r.writes))
	}
	for _, w := range r.writes {
		if w.mode != 0o400 {
			t.Errorf("got mode %04o for %s, want 0400", w.mode, w.path)
		}
		if path.Dir(w.path) != Dir || !strings.HasPrefix(path.Base(w.path), ".") || !strings.HasSuffix(w.path, ".tmp") {
			t.Errorf("got upload to %s, want a dot temp file directly in %s", w.path, Dir)
		}
		key := strings.TrimSuffix(strings.TrimPrefix(path.Base(w.path), "."), ".tmp")
		if !bytes.Equal(w.data, pushSecrets[key]) {
			t.Errorf("got wrong content uploaded for %s", key)
		}
	}
	// Every upload happens before any rename: a failed upload replaces nothing.
	lastWrite, firstMv := -1, -1
	for i, e := range r.events {
		if strings.HasPrefix(e, "write: ") {
			lastWrite = i
		}
		if strings.Contains(e, "mv -f") && firstMv < 0 {
			firstMv = i
		}
	}
	if firstMv < lastWrite {
		t.Errorf("got a rename at event %d before the last upload at %d, want all uploads first", firstMv, lastWrite)
	}
	if len(r.cmds) != 2 {
		t.Fatalf("got commands %q, want mkdir and one finalize", r.cmds)
	}
	fin := r.cmds[1]
	for _, want := range []string{
		"cd -- /var/lib/bootstrap/secrets || exit;",
		"chown -- postgres:postgres .db-password.tmp && chmod -- 0440 .db-password.tmp && mv -f -T -- .db-password.tmp db-password",
		"chown -- root:root .tls.key.tmp && chmod -- 0400 .tls.key.tmp && mv -f -T -- .tls.key.tmp tls.key",
		"chown -- root:root .api_token.tmp && chmod -- 0400 .api_token.tmp && mv -f -T -- .api_token.tmp api_token",
		"|| { rc=$?; rm -f -- .api_token.tmp .db-password.tmp .tls.key.tmp; exit $rc; }",
	} {
		if !strings.Contains(fin, want) {
			t.Errorf("got finalize command %q, want it to contain %q", fin, want)
		}
	}
	if strings.Contains(fin, "orphan") || strings.Contains(fin, "nobody") {
		t.Errorf("got %q, want meta for keys without a secret ignored", fin)
	}
}

func TestPushPrune(t *testing.T) {
	r := &recorder{listOut: strings.Join([]string{
		"db-password", "stale-key", "old.cert", ".x.tmp", ".y.tmp.tmp-0a1b2c", ".hidden", "has space", "README", "-odd", "",
	}, "\x00")}
	secrets := map[string][]byte{"db-password": []byte("pg-Secret-value-1"), "README": []byte("kept")}
	res, err := Push(context.Background(), r, secrets, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"-odd", "old.cert", "stale-key"}; !reflect.DeepEqual(res.Removed, want) {
		t.Errorf("got removed %v, want %v", res.Removed, want)
	}
	find := r.cmds[len(r.cmds)-2]
	if find != `find /var/lib/bootstrap/secrets -mindepth 1 -maxdepth 1 -type f -printf '%f\0'` {
		t.Errorf("got list command %q, want regular files only, NUL-separated", find)
	}
	rm := r.cmds[len(r.cmds)-1]
	if rm != "cd -- /var/lib/bootstrap/secrets || exit; rm -f -- stale-key old.cert .x.tmp .y.tmp.tmp-0a1b2c -odd" {
		t.Errorf("got %q, want only stale keys and leftover temp files removed", rm)
	}
	for _, keep := range []string{"db-password", "README", ".hidden", "'has space'"} {
		if slices.Contains(strings.Fields(rm), keep) {
			t.Errorf("got %q, want %s kept", rm, keep)
		}
	}
}

func TestPushPruneNothingStale(t *testing.T) {
	r := &recorder{listOut: "a\x00"}
	res, err := Push(context.Background(), r, map[string][]byte{"a": []byte("v")}, nil, true)
	if err != nil || res.Removed != nil {
		t.Fatalf("got %+v, %v; want nothing removed", res, err)
	}
	if last := r.cmds[len(r.cmds)-1]; !strings.HasPrefix(last, "find ") {
		t.Errorf("got last command %q, want no rm", last)
	}
}

func TestPushFailedUploadReplacesNothing(t *testing.T) {
	r := &recorder{failAt: 2}
	res, err := Push(context.Background(), r, pushSecrets, nil, true)
	if err == nil || !strings.Contains(err.Error(), "upload secret db-password") {
		t.Fatalf("got %v, want the failing key named", err)
	}
	assertNoValues(t, "error", err.Error())
	if len(res.Written) != 0 {
		t.Errorf("got written %v, want none", res.Written)
	}
	for _, c := range r.cmds {
		if strings.Contains(c, "mv ") || strings.HasPrefix(c, "find ") {
			t.Errorf("got %q after a failed upload, want no rename and no prune", c)
		}
	}
	last := r.cmds[len(r.cmds)-1]
	if last != "cd -- /var/lib/bootstrap/secrets || exit; rm -f -- .api_token.tmp .db-password.tmp" {
		t.Errorf("got %q, want the uploaded temp files removed", last)
	}
}

func TestPushFailedFinalize(t *testing.T) {
	r := &recorder{failRun: "mv -f"}
	_, err := Push(context.Background(), r, pushSecrets, nil, true)
	if err == nil || !strings.Contains(err.Error(), "install secrets") {
		t.Fatalf("got %v, want an install error", err)
	}
	assertNoValues(t, "error", err.Error())
	for _, c := range r.cmds {
		if strings.HasPrefix(c, "find ") {
			t.Errorf("got %q, want no prune after a failure", c)
		}
	}
}

func TestPushRefusesBadInputBeforeContact(t *testing.T) {
	tests := []struct {
		name    string
		secrets map[string][]byte
		meta    map[string]Meta
		want    string
	}{
		{"bad key", map[string][]byte{"../etc/shadow": []byte("v")}, nil, "invalid secret key"},
		{"world readable", map[string][]byte{"k": []byte("v")}, map[string]Meta{"k": {Owner: "root", Group: "root", Mode: 0o644}}, "others"},
		{"bad owner", map[string][]byte{"k": []byte("v")}, map[string]Meta{"k": {Owner: "a b", Group: "root", Mode: 0o400}}, "owner"},
	}
	for _, tt := range tests {
		r := &recorder{}
		_, err := Push(context.Background(), r, tt.secrets, tt.meta, false)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", tt.name, err, tt.want)
		}
		if len(r.events) != 0 {
			t.Errorf("%s: got %v, want nothing sent", tt.name, r.events)
		}
	}
}

func TestBatchesStayUnderLimit(t *testing.T) {
	secrets := map[string][]byte{}
	for i := range 600 {
		secrets[fmt.Sprintf("%s-%03d", strings.Repeat("k", 100), i)] = []byte("v")
	}
	r := &recorder{}
	res, err := Push(context.Background(), r, secrets, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Written) != 600 {
		t.Errorf("got %d written, want 600", len(res.Written))
	}
	if len(r.cmds) < 3 {
		t.Errorf("got %d commands, want the finalize split in batches", len(r.cmds))
	}
	for _, c := range r.cmds {
		if len(c) > maxScript+1024 {
			t.Errorf("got a %d-byte command, want at most about %d", len(c), maxScript)
		}
	}
}

// localShell is a Remote on this machine: commands run with sh -c, files are
// written atomically like remote.Client does.
type localShell struct{ cmds []string }

func (l *localShell) Run(ctx context.Context, cmd string, stdout, stderr io.Writer) error {
	l.cmds = append(l.cmds, cmd)
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Stdout, c.Stderr = stdout, stderr
	var buf bytes.Buffer
	if stderr == nil {
		c.Stderr = &buf
	}
	if err := c.Run(); err != nil {
		return fmt.Errorf("%q: %w: %s", cmd, err, buf.String())
	}
	return nil
}

func (l *localShell) WriteFile(_ context.Context, p string, data []byte, mode fs.FileMode) error {
	tmp := p + ".tmp-0123456789ab"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	f.Chmod(mode)
	f.Write(data)
	f.Close()
	return os.Rename(tmp, p)
}

// TestPushLocalShell runs Push's real shell commands against a temp
// directory. chown to root needs root, so it is skipped otherwise.
func TestPushLocalShell(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for chown root:root")
	}
	dir := filepath.Join(t.TempDir(), "var lib", "secrets")
	l := &localShell{}
	first := map[string][]byte{"a": []byte("one"), "b": []byte("two"), "gone": []byte("x")}
	meta := map[string]Meta{"b": {Owner: "root", Group: "daemon", Mode: 0o440}}
	if _, err := push(context.Background(), l, dir, first, meta, false); err != nil {
		t.Fatal(err)
	}
	// A directory named like a key, a symlink and a stray file survive a prune.
	os.Mkdir(filepath.Join(dir, "subdir"), 0o700)
	os.Symlink("/etc/hostname", filepath.Join(dir, "link"))
	os.WriteFile(filepath.Join(dir, "has space"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, ".a.tmp"), []byte("leftover"), 0o400)

	second := map[string][]byte{"a": []byte("ONE"), "b": []byte("two")}
	res, err := push(context.Background(), l, dir, second, meta, true)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Removed, []string{"gone"}) {
		t.Errorf("got removed %v, want [gone]", res.Removed)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("got %v, %v; want the directory 0700", fi.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"a", "b", "has space", "link", "subdir"}; !reflect.DeepEqual(names, want) {
		t.Errorf("got %v, want %v", names, want)
	}
	for _, tt := range []struct {
		key  string
		val  string
		mode fs.FileMode
		gid  uint32
	}{{"a", "ONE", 0o400, 0}, {"b", "two", 0o440, daemonGID(t)}} {
		p := filepath.Join(dir, tt.key)
		data, _ := os.ReadFile(p)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if string(data) != tt.val || fi.Mode().Perm() != tt.mode || st.Uid != 0 || st.Gid != tt.gid {
			t.Errorf("%s: got %q mode %04o uid %d gid %d, want %q mode %04o uid 0 gid %d", tt.key, data, fi.Mode().Perm(), st.Uid, st.Gid, tt.val, tt.mode, tt.gid)
		}
	}

	// A failing chown (unknown group) leaves the old value and no temp file.
	bad := map[string]Meta{"a": {Owner: "root", Group: "no-such-group-x", Mode: 0o400}}
	if _, err := push(context.Background(), l, dir, map[string][]byte{"a": []byte("NEW")}, bad, false); err == nil {
		t.Fatal("got nil, want chown to an unknown group to fail")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "a")); string(data) != "ONE" {
		t.Errorf("got %q, want the old value kept", data)
	}
	if _, err := os.Stat(filepath.Join(dir, ".a.tmp")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want the temp file removed", err)
	}
}

func daemonGID(t *testing.T) uint32 {
	out, err := exec.Command("getent", "group", "daemon").Output()
	if err != nil {
		t.Skip("no daemon group")
	}
	var gid uint32
	parts := strings.Split(strings.TrimSpace(string(out)), ":")
	fmt.Sscan(parts[2], &gid)
	return gid
}
