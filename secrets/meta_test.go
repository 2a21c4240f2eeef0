package secrets

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseMeta(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want map[string]Meta
		err  string
	}{
		{name: "empty", yaml: "", want: map[string]Meta{}},
		{name: "comment only", yaml: "# nothing yet\n", want: map[string]Meta{}},
		{name: "good", yaml: `
db-password:
  owner: postgres
  group: postgres
  mode: "0440"
tls.key:
  group: nginx
  mode: 0440
plain:
  mode: "600"
defaults: {}
`, want: map[string]Meta{
			"db-password": {Owner: "postgres", Group: "postgres", Mode: 0o440},
			"tls.key":     {Owner: "root", Group: "nginx", Mode: 0o440},
			"plain":       {Owner: "root", Group: "root", Mode: 0o600},
			"defaults":    {Owner: "root", Group: "root", Mode: 0o400},
		}},
		{name: "mode not octal", yaml: "k:\n  mode: \"0489\"\n", err: "invalid mode"},
		{name: "mode too long", yaml: "k:\n  mode: \"04400\"\n", err: "invalid mode"},
		{name: "mode symbolic", yaml: "k:\n  mode: u+r\n", err: "invalid mode"},
		{name: "world readable", yaml: "k:\n  mode: \"0444\"\n", err: "gives others access"},
		{name: "mode list", yaml: "k:\n  mode: [4, 4, 0]\n", err: "octal string"},
		{name: "unknown field", yaml: "k:\n  owner: root\n  perms: \"0400\"\n", err: "perms"},
		{name: "bad owner", yaml: "k:\n  owner: Root\n", err: "invalid owner"},
		{name: "owner injection", yaml: "k:\n  owner: \"root; rm -rf /\"\n", err: "invalid owner"},
		{name: "bad group", yaml: "k:\n  group: \"1000\"\n", err: "invalid group"},
		{name: "bad key", yaml: ".k:\n  owner: root\n", err: "invalid secret key"},
		{name: "duplicate key", yaml: "k: {}\nk: {}\n", err: "already defined"},
		{name: "not a map", yaml: "- k\n", err: "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMeta([]byte(tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, %v; want an error mentioning %q", got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStoreMeta(t *testing.T) {
	s := Store{WorkspaceDir: t.TempDir()}
	got, err := s.Meta("web-1")
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v; want an empty map without secrets.yaml", got, err)
	}
	os.MkdirAll(filepath.Join(s.WorkspaceDir, "hosts", "web-1"), 0o755)
	os.WriteFile(s.MetaPath("web-1"), []byte("k:\n  mode: \"0777\"\n"), 0o644)
	_, err = s.Meta("web-1")
	if err == nil || !strings.Contains(err.Error(), "hosts/web-1/secrets.yaml") {
		t.Errorf("got %v, want the error to name the file", err)
	}
	if _, err := s.Meta("Web_1"); err == nil {
		t.Errorf("got nil, want an invalid host name refused")
	}
}

func TestOrphans(t *testing.T) {
	meta := map[string]Meta{"a": DefaultMeta, "typo": DefaultMeta, "b": DefaultMeta}
	if got := Orphans(meta, []string{"a", "b", "c"}); !reflect.DeepEqual(got, []string{"typo"}) {
		t.Errorf("got %v, want [typo]", got)
	}
}
