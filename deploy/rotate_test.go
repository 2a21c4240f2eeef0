package deploy

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"bootstrap/remote"
	"bootstrap/templates"
)

func keyLine(t *testing.T, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := ssh.NewPublicKey(pub)
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " " + comment
}

// The host lets in a key while its bootstrap.nix declares it; rotation
// must keep one key of the workspace working at every step and end with
// the new key alone.
func TestRotateKey(t *testing.T) {
	old, next, operator := keyLine(t, "bootstrap-web-1@ws"), keyLine(t, "bootstrap-web-1@ws"), keyLine(t, "alice@laptop")
	boot := "# Managed by bootstrap\n{ ... }: {\n  users.users.root.openssh.authorizedKeys.keys = [\n    " +
		templates.NixString(old) + "\n    " + templates.NixString(operator) + "\n  ];\n}\n"
	etc := map[string]string{"configuration.nix": "{ imports = [ ./bootstrap.nix ]; }\n", "bootstrap.nix": boot}
	h := newFakeHost(t, etc)
	declared := func(line string) bool {
		b, _ := keyBlob(line)
		return strings.Contains(h.etcString()["bootstrap.nix"], b)
	}
	var dials []string
	var saved [][]byte
	r := Rotation{
		Name: "web-1", Files: map[string][]byte{"configuration.nix": []byte(etc["configuration.nix"]), "bootstrap.nix": []byte(boot)},
		Old: old, New: next,
		DialWith: func(lines ...string) Dialer {
			return func(ctx context.Context) (Remote, error) {
				var names []string
				in := false
				for _, l := range lines {
					names = append(names, map[string]string{old: "old", next: "new"}[l])
					in = in || declared(l)
				}
				dials = append(dials, strings.Join(names, "+"))
				if !in {
					return nil, &remote.AuthError{User: "root", Host: "fake:22"}
				}
				return h.dial(ctx)
			}
		},
		Save: func(nix []byte) error { saved = append(saved, nix); return nil },
	}
	rec := &recorder{}
	if err := Rotate(context.Background(), r, Options{Report: rec, ReconnectTimeout: time.Second}); err != nil {
		t.Fatalf("rotate: %v\n%s", err, rec)
	}
	final := h.etcString()["bootstrap.nix"]
	if !declared(next) || declared(old) || !strings.Contains(final, templates.NixString(operator)) {
		t.Errorf("got bootstrap.nix on the host\n%s\nwant the new key and the operator's, not the old one", final)
	}
	if len(saved) != 2 || !bytes.Contains(saved[0], []byte(templates.NixString(old))) || !bytes.Contains(saved[0], []byte(templates.NixString(next))) || string(saved[1]) != final {
		t.Errorf("got the workspace's bootstrap.nix saved %d times, want both keys, then the host's final file", len(saved))
	}
	// Push with both, the new one alone, push with the new one, the old one refused.
	if got, want := strings.Join(dials, ","), "old+new,new,new,old"; !strings.HasPrefix(got, "old+new") || !strings.HasSuffix(got, "new,new,old") {
		t.Errorf("got dials %s, want %s (each push dials once)", got, want)
	}

	// Run again after it finished: nothing breaks, the old key stays out.
	r.Files["bootstrap.nix"] = []byte(final)
	if err := Rotate(context.Background(), r, Options{Report: rec, ReconnectTimeout: time.Second}); err != nil {
		t.Errorf("rotate again: %v", err)
	}
}

// A host that still lets the old key in (another authorized_keys) is an
// error, not a silent success.
func TestRotateKeyOldStillAccepted(t *testing.T) {
	old, next := keyLine(t, "old"), keyLine(t, "new")
	boot := "{ ... }: {\n  users.users.root.openssh.authorizedKeys.keys = [\n    " + templates.NixString(old) + "\n  ];\n}\n"
	h := newFakeHost(t, map[string]string{"configuration.nix": "{ }\n", "bootstrap.nix": boot})
	r := Rotation{
		Name: "web-1", Files: map[string][]byte{"configuration.nix": []byte("{ }\n"), "bootstrap.nix": []byte(boot)},
		Old: old, New: next,
		DialWith: func(...string) Dialer { return h.dial },
		Save:     func([]byte) error { return nil },
	}
	if err := Rotate(context.Background(), r, Options{ReconnectTimeout: time.Second}); err == nil || !strings.Contains(err.Error(), "still lets the old deploy key in") {
		t.Errorf("got %v, want an error saying the old key still logs in", err)
	}
}
