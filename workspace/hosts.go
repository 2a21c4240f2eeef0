package workspace

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"bootstrap/remote"

	"golang.org/x/crypto/ssh"
)

// ID is the workspace's identity, generated once into workspace.id. Cloud
// resources are tagged with it so they can be found (and never confused with
// another workspace's) even when a run died before recording them.
func (w *Workspace) ID() (string, error) {
	path := filepath.Join(w.Dir, "workspace.id")
	data, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(data))
		if id == "" {
			return "", fmt.Errorf("%s is empty: restore it from version control or delete it", path)
		}
		return id, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read workspace id: %w", err)
	}
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b)
	if err := os.MkdirAll(w.Dir, 0o755); err != nil {
		return "", fmt.Errorf("create workspace %s: %w", w.Dir, err)
	}
	if err := WriteFileAtomic(path, []byte(id+"\n"), 0o644); err != nil {
		return "", err
	}
	return id, nil
}

// PinHostKey records key for host:port in known_hosts, replacing any entry
// for that address (used for keys this workspace generated itself, such as a
// new cloud server's, so there is no trust on first use).
func (w *Workspace) PinHostKey(host string, port int, key ssh.PublicKey) error {
	if err := w.ForgetHost(host, port); err != nil {
		return err
	}
	return remote.PinHostKey(w.KnownHosts(), remote.KnownHostsName(host, port), key)
}

// ForgetHost removes the known_hosts entries of host:port, e.g. after the
// server behind the address was destroyed (the address may be reused).
func (w *Workspace) ForgetHost(host string, port int) error {
	data, err := os.ReadFile(w.KnownHosts())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read known_hosts: %w", err)
	}
	name := remote.KnownHostsName(host, port)
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	changed := false
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 2 && !strings.HasPrefix(f[0], "#") && !strings.HasPrefix(f[0], "@") {
			if hostsMatch(f[0], name) {
				changed = true
				continue
			}
		}
		out.WriteString(line + "\n")
	}
	if !changed {
		return nil
	}
	return WriteFileAtomic(w.KnownHosts(), out.Bytes(), 0o600)
}

func hostsMatch(field, name string) bool {
	for _, h := range strings.Split(field, ",") {
		if h == name {
			return true
		}
	}
	return false
}
