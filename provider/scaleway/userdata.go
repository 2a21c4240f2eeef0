package scaleway

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// CloudConfig returns the #cloud-config user data set on the server before
// its first boot. It installs deployKey for root (disable_root: false makes
// cloud-init write ssh_authorized_keys to root's account without the
// "please login as" prefix) and replaces the image's host keys with hostKey
// (ssh_deletekeys, then ssh_keys' ed25519_private / ed25519_public, the
// private part in OpenSSH PEM form), so that the first SSH connection is
// checked against a key generated locally: no trust on first use.
func CloudConfig(hostname, deployKey string, hostKey ed25519.PrivateKey) ([]byte, error) {
	if len(hostKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("cloud-config: host key is not an ed25519 private key")
	}
	deployKey = strings.TrimSpace(deployKey)
	if _, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(deployKey)); err != nil || len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("cloud-config: deploy key is not one authorized_keys line")
	}
	block, err := ssh.MarshalPrivateKey(hostKey, "root@"+hostname)
	if err != nil {
		return nil, fmt.Errorf("cloud-config: encode host key: %w", err)
	}
	pub, err := ssh.NewPublicKey(hostKey.Public())
	if err != nil {
		return nil, fmt.Errorf("cloud-config: host public key: %w", err)
	}
	pubLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " root@" + hostname

	var b bytes.Buffer
	b.WriteString("#cloud-config\n")
	b.WriteString("# Written by bootstrap: root's deploy key and the host key pinned by the workstation.\n")
	fmt.Fprintf(&b, "hostname: %s\n", yamlString(hostname))
	b.WriteString("preserve_hostname: false\n")
	b.WriteString("manage_etc_hosts: true\n")
	b.WriteString("disable_root: false\n")
	b.WriteString("ssh_pwauth: false\n")
	b.WriteString("ssh_authorized_keys:\n")
	fmt.Fprintf(&b, "  - %s\n", yamlString(deployKey))
	b.WriteString("ssh_deletekeys: true\n")
	b.WriteString("ssh_keys:\n")
	b.WriteString("  ed25519_private: |\n")
	for _, line := range strings.SplitAfter(strings.TrimSpace(string(pem.EncodeToMemory(block))), "\n") {
		b.WriteString("    " + line)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  ed25519_public: %s\n", yamlString(pubLine))
	return b.Bytes(), nil
}

// yamlString quotes s as a double-quoted scalar: JSON string syntax is valid
// YAML for printable text.
func yamlString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSpace(b.String())
}

const (
	pemBegin = "-----BEGIN OPENSSH PRIVATE KEY-----"
	pemEnd   = "-----END OPENSSH PRIVATE KEY-----"
)

// sameCloudConfig compares two CloudConfig outputs. The OpenSSH private key
// encoding carries a random check value, so the key block is compared by the
// key it holds rather than byte for byte.
func sameCloudConfig(a, b []byte) bool {
	na, oka := normalizeCloudConfig(a)
	nb, okb := normalizeCloudConfig(b)
	return oka && okb && na == nb
}

// normalizeCloudConfig replaces the private key block by the fingerprint of
// its key; false if the block is missing or does not parse.
func normalizeCloudConfig(b []byte) (string, bool) {
	s := string(b)
	start, end := strings.Index(s, pemBegin), strings.Index(s, pemEnd)
	if start < 0 || end < start {
		return "", false
	}
	var pemText strings.Builder
	for _, line := range strings.Split(s[start:end+len(pemEnd)], "\n") {
		pemText.WriteString(strings.TrimSpace(line) + "\n")
	}
	block, _ := pem.Decode([]byte(pemText.String()))
	if block == nil {
		return "", false
	}
	key, err := ssh.ParseRawPrivateKey(pem.EncodeToMemory(block))
	if err != nil {
		return "", false
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return "", false
	}
	return s[:start] + ssh.FingerprintSHA256(signer.PublicKey()) + s[end+len(pemEnd):], true
}
