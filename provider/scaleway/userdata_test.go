package scaleway

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v2"
)

func TestCloudConfig(t *testing.T) {
	spec := testSpec(t, "web-1")
	spec.DeployKey += "\n" // as read from a file
	ud, err := CloudConfig("web-1", spec.DeployKey, spec.HostKey)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(ud), "#cloud-config\n") {
		t.Errorf("first line: got %q, want #cloud-config", strings.SplitN(string(ud), "\n", 2)[0])
	}
	// cloud-init parses it with a YAML 1.1 parser, as yaml.v2 does.
	var cfg struct {
		Hostname          string            `yaml:"hostname"`
		PreserveHostname  bool              `yaml:"preserve_hostname"`
		ManageEtcHosts    bool              `yaml:"manage_etc_hosts"`
		DisableRoot       bool              `yaml:"disable_root"`
		SSHPwauth         bool              `yaml:"ssh_pwauth"`
		SSHAuthorizedKeys []string          `yaml:"ssh_authorized_keys"`
		SSHDeleteKeys     bool              `yaml:"ssh_deletekeys"`
		SSHKeys           map[string]string `yaml:"ssh_keys"`
	}
	if err := yaml.UnmarshalStrict(ud, &cfg); err != nil {
		t.Fatalf("yaml: %v\n%s", err, ud)
	}
	if cfg.Hostname != "web-1" || cfg.PreserveHostname || !cfg.ManageEtcHosts || cfg.DisableRoot || cfg.SSHPwauth || !cfg.SSHDeleteKeys {
		t.Errorf("got %+v, want hostname web-1, disable_root false, no passwords, ssh_deletekeys", cfg)
	}
	if want := strings.TrimSpace(spec.DeployKey); len(cfg.SSHAuthorizedKeys) != 1 || cfg.SSHAuthorizedKeys[0] != want {
		t.Errorf("authorized keys: got %q, want [%q]", cfg.SSHAuthorizedKeys, want)
	}
	if len(cfg.SSHKeys) != 2 {
		t.Errorf("ssh_keys: got keys %v, want ed25519_private and ed25519_public only", cfg.SSHKeys)
	}
	priv, err := ssh.ParseRawPrivateKey([]byte(cfg.SSHKeys["ed25519_private"]))
	if err != nil {
		t.Fatalf("ed25519_private: %v", err)
	}
	if got, ok := priv.(*ed25519.PrivateKey); !ok || !got.Equal(spec.HostKey) {
		t.Errorf("ed25519_private: got %T, want the host key", priv)
	}
	pub, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(cfg.SSHKeys["ed25519_public"]))
	if err != nil {
		t.Fatalf("ed25519_public: %v", err)
	}
	want, _ := ssh.NewPublicKey(spec.HostKey.Public())
	if string(pub.Marshal()) != string(want.Marshal()) || comment != "root@web-1" {
		t.Errorf("ed25519_public: got %s %q, want the host public key, root@web-1", ssh.FingerprintSHA256(pub), comment)
	}

	again, _ := CloudConfig("web-1", spec.DeployKey, spec.HostKey)
	if !sameCloudConfig(ud, again) {
		t.Errorf("same inputs: got different user data")
	}
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := CloudConfig("web-1", spec.DeployKey, otherKey)
	if sameCloudConfig(ud, other) {
		t.Errorf("another host key: got the same user data, want different")
	}

	for _, bad := range []string{"", "ssh-ed25519", spec.DeployKey + spec.DeployKey} {
		if _, err := CloudConfig("web-1", bad, spec.HostKey); err == nil {
			t.Errorf("deploy key %q: got no error, want one", bad)
		}
	}
	if _, err := CloudConfig("web-1", spec.DeployKey, nil); err == nil {
		t.Errorf("no host key: got no error, want one")
	}
}
