package workspace

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"bootstrap/remote"

	"golang.org/x/crypto/ssh"
)

// ID is the workspace's identity, generated once into workspace.id. Cloud
// resources are tagged with it so they can be found (and never confused with
// another workspace's) even when a run died before recording them.
func (w *Workspace) ID() (string, error) {
	path, err := w.Confine("workspace.id")
	if err != nil {
		return "", err
	}
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
	if err := w.EnsureGitignore(); err != nil {
		return "", err
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
	path, err := w.Confine(w.KnownHosts())
	if err != nil {
		return err
	}
	return remote.PinHostKey(path, remote.KnownHostsName(host, port), key)
}

// ForgetHost removes the known_hosts entries of host:port, e.g. after the
// server behind the address was destroyed (the address may be reused).
// Lines of any length are kept as they are (OpenSSH writes long ones for
// certificates and big keys): the file is split on newlines, not scanned
// with a line limit, so an error can never cut it short. Only the matching
// lines go; the file is rewritten only when one did.
func (w *Workspace) ForgetHost(host string, port int) error {
	path, err := w.Confine(w.KnownHosts())
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read known_hosts: %w", err)
	}
	out, removed := withoutHost(data, remote.KnownHostsName(host, port))
	if removed == 0 {
		return nil
	}
	if len(out) < len(data)-removed {
		// Defensive: never write less than the lines we meant to keep.
		return fmt.Errorf("forget %s in known_hosts: kept %d of %d bytes; the file is unchanged", host, len(out), len(data)-removed)
	}
	return WriteFileAtomic(path, out, 0o600)
}

// withoutHost returns known_hosts data without the lines for name, and how
// many bytes those lines held (their newlines included).
func withoutHost(data []byte, name string) (out []byte, removed int) {
	out = make([]byte, 0, len(data))
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		if f := strings.Fields(string(line)); len(f) >= 2 && !strings.HasPrefix(f[0], "#") && !strings.HasPrefix(f[0], "@") && hostsMatch(f[0], name) {
			removed += len(line)
			continue
		}
		out = append(out, line...)
	}
	return out, removed
}

func hostsMatch(field, name string) bool {
	for _, h := range strings.Split(field, ",") {
		if h == name {
			return true
		}
	}
	return false
}
