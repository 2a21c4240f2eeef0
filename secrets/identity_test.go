package secrets

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age/armor"
)

func armorWriter(t *testing.T, w io.Writer) io.WriteCloser {
	t.Helper()
	return armor.NewWriter(w)
}

func TestLoadIdentitiesErrors(t *testing.T) {
	t.Parallel() // bcrypt-protected keys are slow under -race
	_, agePath := newAgeIdentity(t)
	_, encPath := newSSHKey(t, "enc@laptop", "correct horse")
	dir := t.TempDir()
	open := filepath.Join(dir, "open.txt")
	data, _ := os.ReadFile(agePath)
	os.WriteFile(open, data, 0o644)
	pub := filepath.Join(dir, "key.pub")
	line, _ := newSSHKey(t, "x", "")
	os.WriteFile(pub, []byte(line+"\n"), 0o600)
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, []byte("hello\n"), 0o600)

	tests := []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"readable by others", open, "chmod 600"},
		{"public key", pub, "is a public key"},
		{"junk", junk, "neither an age identity"},
		{"passphrase-protected", encPath, "passphrase-protected"},
	}
	for _, tt := range tests {
		_, err := LoadIdentities([]string{tt.path})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestEncryptedSSHKeyAsksOnlyWhenNeeded(t *testing.T) {
	t.Parallel()
	id, agePath := newAgeIdentity(t)
	line, encPath := newSSHKey(t, "enc@laptop", "correct horse")

	asked := 0
	ask := func(path string) ([]byte, error) {
		asked++
		if path != encPath {
			t.Errorf("got passphrase request for %s, want %s", path, encPath)
		}
		return []byte("correct horse"), nil
	}

	// Encrypted to the age key only: the ssh key's passphrase is never asked.
	s := newStore(t, id.Recipient().String())
	if err := s.Set("web-1", "k", secretValue); err != nil {
		t.Fatal(err)
	}
	ids, err := LoadIdentitiesWithPassphrase([]string{encPath, agePath}, ask)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.DecryptAll("web-1", ids); err != nil || !bytes.Equal(got["k"], secretValue) {
		t.Fatalf("got %v, want the value", err)
	}
	if asked != 0 {
		t.Errorf("got %d passphrase prompts, want 0", asked)
	}

	// Encrypted to the ssh key only: asked once for two files.
	s2 := newStore(t, line)
	s2.Set("web-1", "a", []byte("1"))
	s2.Set("web-1", "b", []byte("2"))
	ids, err = LoadIdentitiesWithPassphrase([]string{encPath}, ask)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.DecryptAll("web-1", ids)
	if err != nil || string(got["a"]) != "1" || string(got["b"]) != "2" {
		t.Fatalf("got %v, want both values", err)
	}
	if asked != 1 {
		t.Errorf("got %d passphrase prompts, want 1", asked)
	}

	// A refused prompt is a DecryptError naming the key, nothing returned.
	refuse := func(string) ([]byte, error) { return nil, errors.New("no terminal") }
	ids, _ = LoadIdentitiesWithPassphrase([]string{encPath}, refuse)
	got, err = s2.DecryptAll("web-1", ids)
	var de *DecryptError
	if got != nil || !errors.As(err, &de) || de.Key != "a" || !strings.Contains(err.Error(), "no terminal") {
		t.Errorf("got %v, %v; want *DecryptError for a mentioning the prompt failure", got, err)
	}
}

func TestLoadIdentitiesDefaults(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv(IdentityEnv, "")

	_, err := LoadIdentities(nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(home, ".config", "bootstrap", "age.txt")) || !strings.Contains(err.Error(), "id_ed25519") {
		t.Fatalf("got %v, want an error listing the usual places", err)
	}

	// A passphrase-protected ~/.ssh/id_ed25519 is kept, and fails only when needed.
	line, encPath := newSSHKey(t, "me", "pw")
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	data, _ := os.ReadFile(encPath)
	os.WriteFile(filepath.Join(home, ".ssh", "id_ed25519"), data, 0o600)
	id, agePath := newAgeIdentity(t)
	data, _ = os.ReadFile(agePath)
	os.MkdirAll(filepath.Join(home, ".config", "bootstrap"), 0o700)
	os.WriteFile(filepath.Join(home, ".config", "bootstrap", "age.txt"), data, 0o600)

	ids, err := LoadIdentities(nil)
	if err != nil || len(ids) != 2 {
		t.Fatalf("got %d identities, %v; want age.txt and id_ed25519", len(ids), err)
	}
	s := newStore(t, id.Recipient().String())
	s.Set("web-1", "k", []byte("v"))
	if got, err := s.DecryptAll("web-1", ids); err != nil || string(got["k"]) != "v" {
		t.Errorf("got %v, want the age key to decrypt", err)
	}
	s2 := newStore(t, line)
	s2.Set("web-1", "k", []byte("v"))
	_, err = s2.DecryptAll("web-1", ids)
	if err == nil || !strings.Contains(err.Error(), "passphrase-protected") {
		t.Errorf("got %v, want a passphrase-protected error", err)
	}

	// $BOOTSTRAP_AGE_IDENTITY replaces the usual places, and must exist.
	t.Setenv(IdentityEnv, filepath.Join(home, "missing.txt"))
	if _, err := LoadIdentities(nil); err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("got %v, want the env path to be required", err)
	}
	t.Setenv(IdentityEnv, agePath)
	if ids, err := LoadIdentities(nil); err != nil || len(ids) != 1 {
		t.Errorf("got %d identities, %v; want just the env one", len(ids), err)
	}
}
