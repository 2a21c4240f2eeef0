package remote

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func writeKey(t *testing.T, passphrase string) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(priv, "test")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(priv, "test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, _ := ssh.NewPublicKey(pub)
	return p, sp
}

func TestLoadKey(t *testing.T) {
	plain, plainPub := writeKey(t, "")
	enc, encPub := writeKey(t, "hunter2")
	pass := func(s string) func() ([]byte, error) {
		return func() ([]byte, error) { return []byte(s), nil }
	}
	pubFile := filepath.Join(t.TempDir(), "id.pub")
	os.WriteFile(pubFile, ssh.MarshalAuthorizedKey(plainPub), 0o644)

	tests := []struct {
		name       string
		path       string
		passphrase func() ([]byte, error)
		wantPub    ssh.PublicKey
		wantErr    string // substring; "" → success
	}{
		{"plain", plain, nil, plainPub, ""},
		{"plain ignores passphrase", plain, pass("x"), plainPub, ""},
		{"encrypted with passphrase", enc, pass("hunter2"), encPub, ""},
		{"encrypted without passphrase func", enc, nil, nil, "--agent"},
		{"encrypted wrong passphrase", enc, pass("nope"), nil, "decrypt ssh key " + enc},
		{"passphrase prompt fails", enc, func() ([]byte, error) { return nil, errors.New("no tty") }, nil, "no tty"},
		{"missing file", filepath.Join(t.TempDir(), "nope"), nil, nil, "read ssh key"},
		{"public key file", pubFile, nil, nil, "not a .pub file"},
	}
	for _, tt := range tests {
		k, err := LoadKey(tt.path, tt.passphrase)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got error %v, want one containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: got error %v, want nil", tt.name, err)
			continue
		}
		if k.Name != tt.path || !bytes.Equal(k.Signer.PublicKey().Marshal(), tt.wantPub.Marshal()) {
			t.Errorf("%s: got %s, want %s with the written public key", tt.name, k, tt.path)
		}
	}
}

// Keys written by the real ssh-keygen load too.
func TestLoadKeyFromSSHKeygen(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	dir := t.TempDir()
	for _, typ := range []string{"ed25519", "rsa"} {
		p := filepath.Join(dir, "id_"+typ)
		if out, err := exec.Command("ssh-keygen", "-q", "-t", typ, "-N", "", "-C", "test", "-f", p).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
		k, err := LoadKey(p, nil)
		if err != nil {
			t.Errorf("LoadKey(%s): got %v, want nil", typ, err)
			continue
		}
		pubText, _ := os.ReadFile(p + ".pub")
		want, _, _, _, _ := ssh.ParseAuthorizedKey(pubText)
		if got := Fingerprint(k.Signer.PublicKey()); got != Fingerprint(want) {
			t.Errorf("LoadKey(%s): got %s, want %s", typ, got, Fingerprint(want))
		}
	}
}

func TestKeyStringHasNoSecrets(t *testing.T) {
	p, pub := writeKey(t, "")
	k, err := LoadKey(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.String(), p+" ("+Fingerprint(pub)+")"; got != want {
		t.Errorf("Key.String: got %q, want %q", got, want)
	}
}

func TestNormalizeFingerprint(t *testing.T) {
	fp := Fingerprint(newSigner(t).PublicKey())
	tests := []struct {
		in, want string
		ok       bool
	}{
		{fp, fp, true},
		{strings.TrimPrefix(fp, "SHA256:"), fp, true},
		{" " + fp + "= ", fp, true},
		{"MD5:12:34", "", false},
		{"SHA256:short", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, err := normalizeFingerprint(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("normalizeFingerprint(%q): got %q, %v, want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
