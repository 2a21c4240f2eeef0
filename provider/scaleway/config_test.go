package scaleway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scwEnv lists the variables LoadEnvProfile reads, deprecated ones included.
var scwEnv = []string{
	"SCW_ACCESS_KEY", "SCW_SECRET_KEY", "SCW_API_URL", "SCW_S3_ENDPOINT", "SCW_S3_USE_PATH_STYLE", "SCW_INSECURE",
	"SCW_DEFAULT_ORGANIZATION_ID", "SCW_DEFAULT_PROJECT_ID", "SCW_DEFAULT_REGION", "SCW_DEFAULT_ZONE",
	"SCW_USER_AGENT", "SCW_PROFILE", "SCW_TLSVERIFY", "SCW_ORGANIZATION", "SCW_REGION", "SCW_TOKEN",
	"SCALEWAY_ACCESS_KEY", "SCALEWAY_TOKEN", "SCALEWAY_ORGANIZATION", "SCALEWAY_REGION",
}

const configFile = `access_key: SCWAAAAAAAAAAAAAAAAA
secret_key: 11111111-1111-4111-8111-111111111111
default_project_id: 22222222-2222-4222-8222-222222222222
default_zone: nl-ams-1
profiles:
  other:
    access_key: SCWBBBBBBBBBBBBBBBBB
    secret_key: 33333333-3333-4333-8333-333333333333
    default_zone: pl-waw-2
  broken:
    access_key: nope
`

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	withFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(withFile, []byte(configFile), 0o600); err != nil {
		t.Fatal(err)
	}
	activeFile := filepath.Join(dir, "active.yaml")
	if err := os.WriteFile(activeFile, []byte(configFile+"active_profile: other\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.yaml")

	tests := []struct {
		name    string
		path    string
		profile string
		env     map[string]string
		// want is "access secret project zone", or an error substring
		want    string
		wantErr string
	}{
		{name: "file, top-level profile", path: withFile,
			want: "SCWAAAAAAAAAAAAAAAAA 11111111-1111-4111-8111-111111111111 22222222-2222-4222-8222-222222222222 nl-ams-1"},
		{name: "env wins over the file", path: withFile,
			env:  map[string]string{"SCW_SECRET_KEY": "44444444-4444-4444-8444-444444444444", "SCW_DEFAULT_ZONE": "fr-par-2"},
			want: "SCWAAAAAAAAAAAAAAAAA 44444444-4444-4444-8444-444444444444 22222222-2222-4222-8222-222222222222 fr-par-2"},
		{name: "named profile inherits the top level", path: withFile, profile: "other",
			want: "SCWBBBBBBBBBBBBBBBBB 33333333-3333-4333-8333-333333333333 22222222-2222-4222-8222-222222222222 pl-waw-2"},
		{name: "SCW_PROFILE picks the profile", path: withFile, env: map[string]string{"SCW_PROFILE": "other"},
			want: "SCWBBBBBBBBBBBBBBBBB 33333333-3333-4333-8333-333333333333 22222222-2222-4222-8222-222222222222 pl-waw-2"},
		{name: "active_profile in the file", path: activeFile,
			want: "SCWBBBBBBBBBBBBBBBBB 33333333-3333-4333-8333-333333333333 22222222-2222-4222-8222-222222222222 pl-waw-2"},
		{name: "env over a named profile", path: withFile, profile: "other", env: map[string]string{"SCW_ACCESS_KEY": "SCWCCCCCCCCCCCCCCCCC"},
			want: "SCWCCCCCCCCCCCCCCCCC 33333333-3333-4333-8333-333333333333 22222222-2222-4222-8222-222222222222 pl-waw-2"},
		{name: "no file, env only, default zone", path: missing, env: map[string]string{
			"SCW_ACCESS_KEY": "SCWAAAAAAAAAAAAAAAAA", "SCW_SECRET_KEY": "11111111-1111-4111-8111-111111111111",
			"SCW_DEFAULT_PROJECT_ID": "22222222-2222-4222-8222-222222222222"},
			want: "SCWAAAAAAAAAAAAAAAAA 11111111-1111-4111-8111-111111111111 22222222-2222-4222-8222-222222222222 fr-par-1"},
		{name: "nothing at all", path: missing, wantErr: "scaleway access key missing: set SCW_ACCESS_KEY or access_key in " + missing},
		{name: "unknown profile", path: withFile, profile: "nope", wantErr: `scaleway profile "nope" is not in ` + withFile},
		{name: "malformed access key", path: withFile, profile: "broken", wantErr: `scaleway access key "nope" is malformed`},
		{name: "malformed secret key", path: withFile, env: map[string]string{"SCW_SECRET_KEY": "hunter2"},
			wantErr: "scaleway secret key is malformed, want a UUID"},
		{name: "missing project", path: missing, env: map[string]string{
			"SCW_ACCESS_KEY": "SCWAAAAAAAAAAAAAAAAA", "SCW_SECRET_KEY": "11111111-1111-4111-8111-111111111111"},
			wantErr: "scaleway project missing: set SCW_DEFAULT_PROJECT_ID"},
		{name: "malformed project", path: withFile, env: map[string]string{"SCW_DEFAULT_PROJECT_ID": "my-project"},
			wantErr: `scaleway project id "my-project" is malformed`},
		{name: "unknown zone", path: withFile, env: map[string]string{"SCW_DEFAULT_ZONE": "fr-lyo-1"},
			wantErr: `unknown scaleway zone "fr-lyo-1"`},
		{name: "malformed API URL", path: withFile, env: map[string]string{"SCW_API_URL": "http://127.0.0.1:8080/"},
			wantErr: `scaleway API URL "http://127.0.0.1:8080/" is malformed`},
		{name: "plain http to another machine", path: withFile, env: map[string]string{"SCW_API_URL": "http://api.example.org"},
			wantErr: `scaleway API URL "http://api.example.org" is plain http to another machine`},
		{name: "plain http to a LAN address", path: withFile, env: map[string]string{"SCW_API_URL": "http://192.168.1.10:8080"},
			wantErr: `is plain http to another machine`},
		{name: "plain http to loopback", path: withFile, env: map[string]string{"SCW_API_URL": "http://127.0.0.1:8080"},
			want: "SCWAAAAAAAAAAAAAAAAA 11111111-1111-4111-8111-111111111111 22222222-2222-4222-8222-222222222222 nl-ams-1"},
		{name: "plain http to IPv6 loopback", path: withFile, env: map[string]string{"SCW_API_URL": "http://[::1]:8080"},
			want: "SCWAAAAAAAAAAAAAAAAA 11111111-1111-4111-8111-111111111111 22222222-2222-4222-8222-222222222222 nl-ams-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range scwEnv {
				t.Setenv(k, "") // restored after the test
				os.Unsetenv(k)
			}
			t.Setenv("SCW_CONFIG_PATH", tt.path)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			p, err := LoadConfig(tt.profile)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q: want one line", err)
				}
				for _, secret := range []string{"hunter2", "11111111-1111-4111-8111-111111111111"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q: leaks the secret key", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want a profile", err)
			}
			got := strings.Join([]string{*p.AccessKey, *p.SecretKey, *p.DefaultProjectID, *p.DefaultZone}, " ")
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNewClientUsesProfile(t *testing.T) {
	for _, k := range scwEnv {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("SCW_CONFIG_PATH", filepath.Join(t.TempDir(), "none.yaml"))
	t.Setenv("SCW_ACCESS_KEY", "SCWAAAAAAAAAAAAAAAAA")
	t.Setenv("SCW_SECRET_KEY", "11111111-1111-4111-8111-111111111111")
	t.Setenv("SCW_DEFAULT_PROJECT_ID", "22222222-2222-4222-8222-222222222222")
	t.Setenv("SCW_API_URL", "http://127.0.0.1:1")
	p, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(p)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	if zone, _ := c.GetDefaultZone(); zone != "fr-par-1" {
		t.Errorf("default zone: got %s, want fr-par-1", zone)
	}
	if project, _ := c.GetDefaultProjectID(); project != "22222222-2222-4222-8222-222222222222" {
		t.Errorf("default project: got %s", project)
	}
}
