package qemu

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
)

var hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// UserData renders #cloud-config for a Debian VPS-like guest: rootKeys in root's authorized_keys
// (and in the default "debian" sudo user's, as Debian's cloud images do), hostKey as the ed25519
// host key (ssh_deletekeys replaces the other keys with freshly generated ones, as on a new
// cloud instance; nil hostKey: all generated), password authentication off, hostname set.
func UserData(rootKeys []string, hostKey ed25519.PrivateKey, hostname string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("#cloud-config\n")
	if hostname != "" {
		if !hostnameRE.MatchString(hostname) {
			return nil, fmt.Errorf("render user-data: invalid hostname %q", hostname)
		}
		fmt.Fprintf(&b, "hostname: %s\npreserve_hostname: false\nmanage_etc_hosts: true\n", hostname)
	}
	// Debian's cloud.cfg sets disable_root: true, which turns root's keys into a "please log in
	// as debian" message. Our product logs in as root, as on most VPS providers.
	b.WriteString("disable_root: false\nssh_pwauth: false\nssh_deletekeys: true\n")
	if len(rootKeys) > 0 {
		b.WriteString("ssh_authorized_keys:\n")
		for _, k := range rootKeys {
			k = strings.TrimSpace(k)
			if _, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(k)); err != nil || len(rest) > 0 || strings.Contains(k, "\n") {
				return nil, fmt.Errorf("render user-data: not a single authorized key: %q", k)
			}
			fmt.Fprintf(&b, "  - %s\n", yamlString(k))
		}
	}
	if hostKey != nil {
		block, err := ssh.MarshalPrivateKey(hostKey, "")
		if err != nil {
			return nil, fmt.Errorf("render user-data: marshal host key: %w", err)
		}
		pub, err := ssh.NewPublicKey(hostKey.Public())
		if err != nil {
			return nil, fmt.Errorf("render user-data: host public key: %w", err)
		}
		b.WriteString("ssh_keys:\n  ed25519_private: |\n")
		for _, line := range strings.SplitAfter(string(pem.EncodeToMemory(block)), "\n") {
			if line != "" {
				b.WriteString("    " + line)
			}
		}
		fmt.Fprintf(&b, "  ed25519_public: %s\n", yamlString(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))+" root@"+hostnameOr(hostname)))
	}
	return b.Bytes(), nil
}

// yamlString quotes s as a YAML double-quoted scalar (JSON strings are valid ones).
func yamlString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

func hostnameOr(h string) string {
	if h == "" {
		return "debian"
	}
	return h
}
