package secrets

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"testing"
)

type fakePuller struct {
	list  string
	files map[string]string
}

func (f fakePuller) Output(context.Context, string) (string, error) { return f.list, nil }

func (f fakePuller) ReadFile(_ context.Context, path string) ([]byte, error) {
	v, ok := f.files[path]
	if !ok {
		return nil, fmt.Errorf("no %s", path)
	}
	return []byte(v), nil
}

func TestPull(t *testing.T) {
	tests := []struct {
		name    string
		list    string
		want    []string
		wantErr bool
	}{
		{"keys only", "db-password\napp.env\n", []string{"app.env", "db-password"}, false},
		{"names that are not keys are skipped", "db-password\n.db-password.tmp\n", []string{"db-password"}, false},
		{"none", "", nil, false},
		{"unreadable", "missing\n", nil, true},
	}
	files := map[string]string{Dir + "/db-password": "s3cret", Dir + "/app.env": "A=1\n"}
	for _, tt := range tests {
		got, err := Pull(context.Background(), fakePuller{tt.list, files})
		if (err != nil) != tt.wantErr || !slices.Equal(slices.Sorted(maps.Keys(got)), tt.want) {
			t.Errorf("%s: got %v, %v, want keys %v (error %v)", tt.name, got, err, tt.want, tt.wantErr)
		}
		if v, ok := got["db-password"]; ok && string(v) != "s3cret" {
			t.Errorf("%s: got db-password %q, want the file's content", tt.name, v)
		}
	}
}

func TestStoreCopy(t *testing.T) {
	id, _ := newAgeIdentity(t)
	s := newStore(t, id.Recipient().String())
	for k, v := range map[string]string{"db-password": "one", "api-token": "two"} {
		if err := s.Set("web-1", k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(s.MetaPath("web-1"), []byte("db-password:\n  owner: postgres\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Copy("web-1", "web-2"); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{
		{s.Path("web-1", "db-password"), s.Path("web-2", "db-password")},
		{s.Path("web-1", "api-token"), s.Path("web-2", "api-token")},
		{s.MetaPath("web-1"), s.MetaPath("web-2")},
	} {
		a, errA := os.ReadFile(p[0])
		b, errB := os.ReadFile(p[1])
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("got %s %v, want it the same as %s (%v)", p[1], errB, p[0], errA)
		}
	}
}
