package secrets

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

// secretValue is distinctive so a scan of the workspace cannot miss it.
var secretValue = []byte("hunter2-Plaintext-5f1c9e-never-on-disk\n")

func newStore(t *testing.T, recipients ...string) Store {
	t.Helper()
	s := Store{WorkspaceDir: t.TempDir()}
	if len(recipients) > 0 {
		writeRecipients(t, s, recipients...)
	}
	return s
}

func writeRecipients(t *testing.T, s Store, lines ...string) {
	t.Helper()
	data := "# operators\n\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(s.RecipientsPath(), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newAgeIdentity(t *testing.T) (*age.X25519Identity, string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "age.txt")
	if err := os.WriteFile(path, []byte("# created: test\n# public key: "+id.Recipient().String()+"\n"+id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return id, path
}

// newSSHKey writes an OpenSSH ed25519 private key (passphrase-protected when
// pass != "") and returns its authorized_keys line and path.
func newSSHKey(t *testing.T, comment, pass string) (string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if pass == "" {
		block, err = ssh.MarshalPrivateKey(priv, comment)
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, comment, []byte(pass))
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " " + comment
	if err := os.WriteFile(path+".pub", []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return line, path
}

// assertNoPlaintext fails if secret appears in any file under dir.
func assertNoPlaintext(t *testing.T, dir string, secret []byte) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if bytes.Contains(data, secret) || bytes.Contains(data, bytes.TrimSpace(secret)) {
			t.Errorf("got the plaintext in %s, want it nowhere in the workspace", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("got no files under %s, want at least the encrypted secret", dir)
	}
}

func TestRoundTripX25519(t *testing.T) {
	id, idPath := newAgeIdentity(t)
	s := newStore(t, id.Recipient().String())
	if err := s.Set("web-1", "db-password", secretValue); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("web-1", "api.token", []byte("t0k3n")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path("web-1", "db-password"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o644 {
		t.Errorf("got mode %04o, want 0644 (ciphertext)", got)
	}

	entries, err := s.List("web-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Key != "api.token" || entries[1].Key != "db-password" {
		t.Fatalf("got %+v, want api.token and db-password", entries)
	}
	e := entries[1]
	if e.Size != fi.Size() || len(e.Stanzas) != 1 || e.Stanzas[0].Type != "X25519" || e.Stale || e.Problem != "" {
		t.Errorf("got %+v, want size %d, one X25519 stanza, not stale", e, fi.Size())
	}

	ids, err := LoadIdentities([]string{idPath})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.DecryptAll("web-1", ids)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got["db-password"], secretValue) || string(got["api.token"]) != "t0k3n" || len(got) != 2 {
		t.Errorf("got %d secrets, want both back unchanged", len(got))
	}
	assertNoPlaintext(t, s.WorkspaceDir, secretValue)
}

func TestRoundTripSSHEd25519(t *testing.T) {
	line, keyPath := newSSHKey(t, "alice@laptop", "")
	s := newStore(t, line)
	if err := s.Set("web-1", "db-password", secretValue); err != nil {
		t.Fatal(err)
	}
	entries, err := s.List("web-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || len(entries[0].Stanzas) != 1 {
		t.Fatalf("got %+v, want one entry with one stanza", entries)
	}
	st := entries[0].Stanzas[0]
	if st.Type != "ssh-ed25519" || !strings.Contains(st.Recipient, "alice@laptop") || !strings.Contains(st.Recipient, "SHA256:") {
		t.Errorf("got stanza %+v, want ssh-ed25519 matched to alice@laptop's key", st)
	}
	ids, err := LoadIdentities([]string{keyPath})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.DecryptAll("web-1", ids)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got["db-password"], secretValue) {
		t.Errorf("got %d bytes back, want the value unchanged", len(got["db-password"]))
	}
	assertNoPlaintext(t, s.WorkspaceDir, secretValue)
}

func TestMixedRecipientsEitherDecrypts(t *testing.T) {
	id, idPath := newAgeIdentity(t)
	line, keyPath := newSSHKey(t, "bob@desk", "")
	s := newStore(t, id.Recipient().String(), line)
	if err := s.Set("db", "pw", secretValue); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{idPath, keyPath} {
		ids, err := LoadIdentities([]string{p})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.DecryptAll("db", ids)
		if err != nil || !bytes.Equal(got["pw"], secretValue) {
			t.Errorf("decrypt with %s: got err %v, want the value", filepath.Base(p), err)
		}
	}
}

func TestWrongIdentityReturnsNothing(t *testing.T) {
	a, _ := newAgeIdentity(t)
	b, bPath := newAgeIdentity(t)
	s := newStore(t, a.Recipient().String(), b.Recipient().String())
	// "alpha" can be decrypted by b, "beta" (encrypted later) cannot: the
	// failure on the second must not leak the first.
	if err := s.Set("web-1", "alpha", []byte("first-value")); err != nil {
		t.Fatal(err)
	}
	writeRecipients(t, s, a.Recipient().String())
	if err := s.Set("web-1", "beta", secretValue); err != nil {
		t.Fatal(err)
	}
	ids, err := LoadIdentities([]string{bPath})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.DecryptAll("web-1", ids)
	if got != nil {
		t.Errorf("got %d secrets, want none on failure", len(got))
	}
	var de *DecryptError
	if !errors.As(err, &de) || de.Key != "beta" {
		t.Fatalf("got %v, want *DecryptError for beta", err)
	}
	var nomatch *age.NoIdentityMatchError
	if !errors.As(err, &nomatch) {
		t.Errorf("got %T inside, want *age.NoIdentityMatchError", de.Err)
	}
	if !strings.Contains(err.Error(), "beta") || !strings.Contains(err.Error(), "hosts/web-1/secrets/beta.age") {
		t.Errorf("got %q, want the key and its file named", err)
	}
	if strings.Contains(err.Error(), "first-value") || strings.Contains(err.Error(), string(secretValue)) {
		t.Errorf("got %q, want no value in the error", err)
	}
}

func TestCorruptFiles(t *testing.T) {
	id, idPath := newAgeIdentity(t)
	ids, err := LoadIdentities([]string{idPath})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		corrupt  func(data []byte) []byte
		listable bool // header still readable
	}{
		{"flipped payload byte", func(d []byte) []byte { d[len(d)-5] ^= 0x40; return d }, true},
		{"truncated payload", func(d []byte) []byte { return d[:len(d)-20] }, true},
		{"garbage", func(d []byte) []byte { return []byte("not an age file at all\n") }, false},
		{"empty", func(d []byte) []byte { return nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t, id.Recipient().String())
			if err := s.Set("web-1", "good", []byte("fine")); err != nil {
				t.Fatal(err)
			}
			if err := s.Set("web-1", "tls.key", secretValue); err != nil {
				t.Fatal(err)
			}
			p := s.Path("web-1", "tls.key")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tt.corrupt(data), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := s.DecryptAll("web-1", ids)
			var de *DecryptError
			if got != nil || !errors.As(err, &de) || de.Key != "tls.key" {
				t.Fatalf("got %d secrets, %v; want nothing and *DecryptError for tls.key", len(got), err)
			}
			entries, err := s.List("web-1")
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 2 || (entries[1].Problem == "") != tt.listable {
				t.Errorf("got %+v, want tls.key listed with problem=%v", entries, !tt.listable)
			}
		})
	}
}

func TestArmoredFileDecrypts(t *testing.T) {
	id, idPath := newAgeIdentity(t)
	s := newStore(t, id.Recipient().String())
	if err := os.MkdirAll(s.Dir("web-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	aw := armorWriter(t, &buf)
	w, err := age.Encrypt(aw, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("armored"))
	w.Close()
	aw.Close()
	if err := os.WriteFile(s.Path("web-1", "x"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ids, _ := LoadIdentities([]string{idPath})
	got, err := s.DecryptAll("web-1", ids)
	if err != nil || string(got["x"]) != "armored" {
		t.Errorf("got %q, %v; want armored", got["x"], err)
	}
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"db-password", true},
		{"tls.key", true},
		{"A_B.c-9", true},
		{"-dash", true},
		{strings.Repeat("k", 128), true},
		{"", false},
		{".hidden", false},
		{"..", false},
		{"a/b", false},
		{"a b", false},
		{"naïve", false},
		{"x\n", false},
		{strings.Repeat("k", 129), false},
	}
	for _, tt := range tests {
		if err := ValidKey(tt.key); (err == nil) != tt.ok {
			t.Errorf("ValidKey(%q): got %v, want ok=%v", tt.key, err, tt.ok)
		}
	}
}

func TestSetRefuses(t *testing.T) {
	id, _ := newAgeIdentity(t)
	s := newStore(t, id.Recipient().String())
	tests := []struct {
		name, host, key string
		value           []byte
		want            string
	}{
		{"bad key", "web-1", "../x", []byte("v"), "invalid secret key"},
		{"dot key", "web-1", ".x", []byte("v"), "invalid secret key"},
		{"bad host", "../web", "k", []byte("v"), "invalid name"},
		{"empty", "web-1", "k", nil, "empty"},
		{"too big", "web-1", "k", make([]byte, MaxSize+1), "1 MiB"},
	}
	for _, tt := range tests {
		err := s.Set(tt.host, tt.key, tt.value)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
	if err := s.Set("web-1", "k", make([]byte, MaxSize)); err != nil {
		t.Errorf("got %v, want exactly 1 MiB accepted", err)
	}
	if _, err := os.Stat(s.Path("web-1", "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want no file for a refused key", err)
	}
}

func TestRecipientsErrors(t *testing.T) {
	id, _ := newAgeIdentity(t)
	deployLine, _ := newSSHKey(t, "bootstrap-deploy@ws", "")
	tests := []struct {
		name      string
		content   *string
		deploy    bool
		want      string
		noRecips  bool
		forbidden string
	}{
		{name: "missing", content: nil, want: "recipients.txt does not exist", noRecips: true},
		{name: "comments only", content: ptr("# nobody\n\n"), want: "lists no key", noRecips: true},
		{name: "private age key", content: ptr(id.String() + "\n"), want: "line 1", forbidden: id.String()},
		{name: "unknown", content: ptr("# x\nbob\n"), want: "line 2"},
		{name: "ecdsa", content: ptr("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg= x\n"), want: "line 1"},
		{name: "deploy key", content: ptr(deployLine + "\n"), deploy: true, want: "deploy key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Store{WorkspaceDir: t.TempDir()}
			if tt.content != nil {
				if err := os.WriteFile(s.RecipientsPath(), []byte(*tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.deploy {
				os.MkdirAll(filepath.Join(s.WorkspaceDir, "keys"), 0o700)
				os.WriteFile(filepath.Join(s.WorkspaceDir, "keys", "deploy_ed25519.pub"), []byte(deployLine+"\n"), 0o644)
			}
			_, _, err := s.Recipients()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
			if errors.Is(err, ErrNoRecipients) != tt.noRecips {
				t.Errorf("got errors.Is(ErrNoRecipients)=%v, want %v", !tt.noRecips, tt.noRecips)
			}
			if tt.noRecips && !strings.Contains(err.Error(), "deploy_ed25519.pub") {
				t.Errorf("got %q, want advice naming what not to use", err)
			}
			if tt.forbidden != "" && strings.Contains(err.Error(), tt.forbidden) {
				t.Errorf("got %q, want the private key not quoted", err)
			}
			if err := s.Set("web-1", "k", []byte("v")); err == nil {
				t.Errorf("Set: got nil, want an error")
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestListMarksStale(t *testing.T) {
	a, _ := newAgeIdentity(t)
	line, _ := newSSHKey(t, "carol@laptop", "")
	s := newStore(t, a.Recipient().String())
	if err := s.Set("web-1", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	writeRecipients(t, s, a.Recipient().String(), line)
	entries, _ := s.List("web-1")
	if len(entries) != 1 || !entries[0].Stale {
		t.Fatalf("got %+v, want stale after adding a recipient", entries)
	}
	if err := s.Set("web-1", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	entries, _ = s.List("web-1")
	if entries[0].Stale || len(entries[0].Stanzas) != 2 {
		t.Errorf("got %+v, want two stanzas, not stale after re-setting", entries[0])
	}
	// Swapping one ssh key for another keeps the counts but is stale.
	other, _ := newSSHKey(t, "dave@laptop", "")
	writeRecipients(t, s, a.Recipient().String(), other)
	entries, _ = s.List("web-1")
	if !entries[0].Stale {
		t.Errorf("got %+v, want stale after replacing an ssh recipient", entries[0])
	}
}

func TestListAndDecryptEmptyHost(t *testing.T) {
	s := newStore(t)
	entries, err := s.List("web-1")
	if err != nil || len(entries) != 0 {
		t.Errorf("got %v, %v; want no entries", entries, err)
	}
	got, err := s.DecryptAll("web-1", nil)
	if err != nil || len(got) != 0 {
		t.Errorf("got %v, %v; want an empty map", got, err)
	}
}

func TestListIgnoresStrayFiles(t *testing.T) {
	id, _ := newAgeIdentity(t)
	s := newStore(t, id.Recipient().String())
	if err := s.Set("web-1", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{".k.age.tmp-123", "notes.txt", ".hidden.age"} {
		os.WriteFile(filepath.Join(s.Dir("web-1"), n), []byte("x"), 0o644)
	}
	os.Mkdir(filepath.Join(s.Dir("web-1"), "dir.age"), 0o755)
	entries, err := s.List("web-1")
	if err != nil || len(entries) != 1 || entries[0].Key != "k" {
		t.Errorf("got %+v, %v; want only k", entries, err)
	}
}

func TestDelete(t *testing.T) {
	id, _ := newAgeIdentity(t)
	s := newStore(t, id.Recipient().String())
	if err := s.Set("web-1", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("web-1", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Path("web-1", "k")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want the file gone", err)
	}
	if err := s.Delete("web-1", "k"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want fs.ErrNotExist for a missing secret", err)
	}
	if err := s.Delete("web-1", "../../recipients.txt"); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want a validation error", err)
	}
	if _, err := os.Stat(s.RecipientsPath()); err != nil {
		t.Errorf("got %v, want recipients.txt untouched", err)
	}
}

// A host's secrets directory that is a symlink out of the workspace is
// neither written, listed nor emptied.
func TestStoreStaysInTheWorkspace(t *testing.T) {
	id, _ := newAgeIdentity(t)
	s := newStore(t, id.Recipient().String())
	outside := t.TempDir()
	if err := os.MkdirAll(filepath.Join(s.WorkspaceDir, "hosts", "web-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, s.Dir("web-1")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "db.age"), []byte("theirs"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("web-1", "api", secretValue); err == nil {
		t.Error("set through a symlinked secrets directory: got nil, want a refusal")
	}
	if _, err := s.List("web-1"); err == nil {
		t.Error("list through a symlinked secrets directory: got nil, want a refusal")
	}
	if err := s.Delete("web-1", "db"); err == nil {
		t.Error("delete through a symlinked secrets directory: got nil, want a refusal")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 1 {
		t.Errorf("got %d files outside, want only the one the test put there", len(entries))
	}
}
