package secrets

import (
	"errors"
	"os"
	"slices"
	"testing"

	"filippo.io/age"
)

func TestDecrypt(t *testing.T) {
	id, _ := newAgeIdentity(t)
	other, _ := newAgeIdentity(t)
	s := newStore(t, id.Recipient().String())
	if err := s.Set("web-1", "db-password", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.MetaPath("web-1"), []byte("db-password:\n  owner: postgres\ngone:\n  owner: nobody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("web-3", "x", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.MetaPath("web-3"), []byte("x: [not a map\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errNoID := errors.New("no identity")
	with := func(ids ...age.Identity) func() ([]age.Identity, error) {
		return func() ([]age.Identity, error) { return ids, nil }
	}
	tests := []struct {
		name        string
		host        string
		identities  func() ([]age.Identity, error)
		wantKeys    []string
		wantOrphans []string
		wantErr     any
	}{
		{"decrypted with owners", "web-1", with(id), []string{"db-password"}, []string{"gone"}, nil},
		{"no secrets: no identity asked for", "web-2", func() ([]age.Identity, error) { return nil, errNoID }, nil, nil, nil},
		{"the identities' error as it is", "web-1", func() ([]age.Identity, error) { return nil, errNoID }, nil, nil, errNoID},
		{"a wrong identity", "web-1", with(other), nil, nil, new(*DecryptError)},
		{"a bad secrets.yaml", "web-3", with(id), nil, nil, new(*MetaError)},
	}
	for _, tt := range tests {
		d, err := s.Decrypt(tt.host, tt.identities)
		switch want := tt.wantErr.(type) {
		case nil:
			if err != nil {
				t.Errorf("%s: got %v, want no error", tt.name, err)
				continue
			}
		case error:
			if !errors.Is(err, want) || d != nil {
				t.Errorf("%s: got %v, %v, want %v and nothing", tt.name, d, err, want)
			}
			continue
		default:
			if !errors.As(err, want) || d != nil {
				t.Errorf("%s: got %v, %v, want a %T and nothing", tt.name, d, err, want)
			}
			continue
		}
		var keys []string
		for k := range d.Values {
			keys = append(keys, k)
		}
		if !slices.Equal(keys, tt.wantKeys) || !slices.Equal(d.Orphans, tt.wantOrphans) || d.Empty() != (len(tt.wantKeys) == 0) {
			t.Errorf("%s: got keys %v orphans %v, want %v and %v", tt.name, keys, d.Orphans, tt.wantKeys, tt.wantOrphans)
		}
		if m := d.Meta["db-password"]; len(tt.wantKeys) > 0 && m.Owner != "postgres" {
			t.Errorf("%s: got meta %+v, want owner postgres", tt.name, m)
		}
		d.Wipe()
	}
}
