package remote

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeys is the host key policy. Only ssh-ed25519 host keys are negotiated
// (NixOS offers ed25519 and rsa; we pin ed25519), and the first rule that has
// an opinion decides:
//
//  1. KnownHosts has an ed25519 entry for the host: match → ok, else mismatch.
//  2. Fingerprint is set: equal → ok, else mismatch.
//  3. An Extra file has an ed25519 entry for the host: match → ok, else mismatch.
//  4. AcceptNew → ok.
//  5. Confirm(host, fingerprint) returns true → ok.
//  6. Otherwise *UnknownHostKeyError.
//
// Mismatches are *HostKeyMismatchError and are never retried. Entries of other
// key types (e.g. only ssh-rsa in ~/.ssh/known_hosts) count as "no entry",
// since we never negotiate them. A key accepted by rules 2-5 is appended to
// KnownHosts only after Dial fully succeeded (host key and authentication),
// so a host we could not log in to is never pinned.
type HostKeys struct {
	KnownHosts  string   // workspace known_hosts: read, and appended to when a key gets pinned ("" → no pinning)
	Extra       []string // read-only known_hosts files (~/.ssh/known_hosts); missing files are ignored
	Fingerprint string   // --host-key "SHA256:..." (optional)
	AcceptNew   bool
	Confirm     func(host, fingerprint string) (bool, error) // nil → unknown key is refused
}

// hostKeySource records which rule accepted the host key.
type hostKeySource int

const (
	sourceNone hostKeySource = iota
	sourceKnownHosts
	sourceFingerprint
	sourceExtra
	sourceAcceptNew
	sourceConfirm
)

func (s hostKeySource) String() string {
	switch s {
	case sourceKnownHosts:
		return "workspace known_hosts"
	case sourceFingerprint:
		return "--host-key"
	case sourceExtra:
		return "known_hosts"
	case sourceAcceptNew:
		return "accept-new"
	case sourceConfirm:
		return "confirmed"
	}
	return "none"
}

// normalizeFingerprint accepts "SHA256:abc", "abc" or padded base64 and
// returns the form ssh.FingerprintSHA256 produces.
func normalizeFingerprint(s string) (string, error) {
	s = strings.TrimSpace(s)
	b64 := strings.TrimRight(strings.TrimPrefix(s, "SHA256:"), "=")
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil || len(raw) != 32 {
		return "", fmt.Errorf("host key fingerprint %q: want SHA256:<43 base64 characters> as printed by ssh-keygen -lf", s)
	}
	return "SHA256:" + b64, nil
}

// hostKeyChecker holds the state of one Dial: the policy and the key accepted
// by an earlier attempt, so retries neither re-prompt nor accept another key.
type hostKeyChecker struct {
	policy      HostKeys
	fingerprint string // normalized policy.Fingerprint
	logf        func(format string, args ...any)

	accepted ssh.PublicKey
	source   hostKeySource
}

// callback returns the HostKeyCallback for one connection attempt on conn.
// The handshake deadline is lifted while a human confirms the key and then
// restarted with timeout. The returned error is recorded in *failed so Dial
// can tell host key failures apart from transient ones.
func (h *hostKeyChecker) callback(conn net.Conn, timeout time.Duration, failed *error) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := h.check(hostname, remote, key, conn, timeout)
		if err != nil {
			*failed = err
		}
		return err
	}
}

func (h *hostKeyChecker) accept(key ssh.PublicKey, src hostKeySource) error {
	h.accepted, h.source = key, src
	return nil
}

func (h *hostKeyChecker) check(hostname string, remote net.Addr, key ssh.PublicKey, conn net.Conn, timeout time.Duration) error {
	host := knownhosts.Normalize(hostname)
	got := Fingerprint(key)

	if f := h.policy.KnownHosts; f != "" {
		r, err := lookupKnownHosts(f, hostname, remote, key)
		if err != nil {
			return err
		}
		switch {
		case r.match:
			return h.accept(key, sourceKnownHosts)
		case len(r.want) > 0:
			return r.mismatch(host, got)
		}
	}
	if h.accepted != nil {
		if bytes.Equal(h.accepted.Marshal(), key.Marshal()) {
			return nil
		}
		return &HostKeyMismatchError{Host: host, Want: Fingerprint(h.accepted), Got: got, Source: "accepted by an earlier attempt of this Dial"}
	}
	if h.fingerprint != "" {
		if h.fingerprint != got {
			return &HostKeyMismatchError{Host: host, Want: h.fingerprint, Got: got, Source: "--host-key"}
		}
		return h.accept(key, sourceFingerprint)
	}
	for _, f := range h.policy.Extra {
		r, err := lookupKnownHosts(f, hostname, remote, key)
		if err != nil {
			return err
		}
		switch {
		case r.match:
			return h.accept(key, sourceExtra)
		case len(r.want) > 0:
			return r.mismatch(host, got)
		}
	}
	if h.policy.AcceptNew {
		h.logf("accepting new host key %s %s for %s", key.Type(), got, host)
		return h.accept(key, sourceAcceptNew)
	}
	if h.policy.Confirm != nil {
		// A human may take longer than the handshake deadline. (Only the
		// first handshake gets here: re-keys match h.accepted above.)
		_ = conn.SetDeadline(time.Time{})
		ok, err := h.policy.Confirm(host, got)
		_ = conn.SetDeadline(time.Now().Add(timeout))
		if err != nil {
			return fmt.Errorf("confirm host key of %s: %w", host, err)
		}
		if ok {
			return h.accept(key, sourceConfirm)
		}
	}
	return &UnknownHostKeyError{Host: host, Fingerprint: got}
}

type knownHostsResult struct {
	match bool
	want  []knownhosts.KnownKey // entries of the same key type that did not match
}

func (r knownHostsResult) mismatch(host, got string) error {
	var fps, where []string
	for _, k := range r.want {
		fps = append(fps, Fingerprint(k.Key))
		where = append(where, fmt.Sprintf("%s:%d", k.Filename, k.Line))
	}
	return &HostKeyMismatchError{
		Host:   host,
		Want:   strings.Join(fps, ", "),
		Got:    got,
		Source: "known_hosts " + strings.Join(where, ", "),
	}
}

// lookupKnownHosts checks key against one known_hosts file (hashed names,
// patterns and @revoked markers handled by x/crypto/ssh/knownhosts). A
// missing file has no entries.
func lookupKnownHosts(file, hostname string, remote net.Addr, key ssh.PublicKey) (knownHostsResult, error) {
	cb, err := knownhosts.New(file)
	if errors.Is(err, fs.ErrNotExist) {
		return knownHostsResult{}, nil
	}
	if err != nil {
		return knownHostsResult{}, fmt.Errorf("read known_hosts %s: %w", file, err)
	}
	err = cb(hostname, remote, key)
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case err == nil:
		return knownHostsResult{match: true}, nil
	case errors.As(err, &revoked):
		return knownHostsResult{}, fmt.Errorf("host key %s of %s is marked @revoked in %s", Fingerprint(key), knownhosts.Normalize(hostname), revoked.Revoked.String())
	case errors.As(err, &keyErr):
		var r knownHostsResult
		for _, k := range keyErr.Want {
			if k.Key.Type() == key.Type() {
				r.want = append(r.want, k)
			}
		}
		return r, nil
	default:
		return knownHostsResult{}, fmt.Errorf("check known_hosts %s: %w", file, err)
	}
}

// KnownHostsName is how OpenSSH names host:port in known_hosts: "host"
// for port 22, else "[host]:port".
func KnownHostsName(host string, port int) string {
	return knownhosts.Normalize(net.JoinHostPort(host, strconv.Itoa(port)))
}

// PinHostKey appends an OpenSSH known_hosts line for addr ("host:port") to
// file, creating it with mode 0600, on a line of its own even when the
// file lacks a final newline. The directory must already exist.
func PinHostKey(file, addr string, key ssh.PublicKey) error {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("pin host key: %w", err)
	}
	line := knownhosts.Line([]string{addr}, key) + "\n"
	// Keep entries on separate lines even if someone left no final newline.
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, st.Size()-1); err == nil && last[0] != '\n' {
			line = "\n" + line
		} else if err != nil && err != io.EOF {
			f.Close()
			return fmt.Errorf("pin host key in %s: %w", file, err)
		}
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("pin host key in %s: %w", file, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("pin host key in %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pin host key in %s: %w", file, err)
	}
	return nil
}

// PinnedKeys lists the fingerprints of the ed25519 keys file holds for name
// (as KnownHostsName gives it), plain or hashed (|1|salt|hash) entries
// alike; a missing file holds none. It only reads, for a dry run.
func PinnedKeys(file, name string) ([]string, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read known_hosts %s: %w", file, err)
	}
	var fps []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], "@") || f[1] != ssh.KeyAlgoED25519 {
			continue
		}
		if !knownHostsMatch(f[0], name) {
			continue
		}
		if key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(f[1] + " " + f[2])); err == nil {
			fps = append(fps, Fingerprint(key))
		}
	}
	return fps, nil
}

// knownHostsMatch reports whether a known_hosts host field names name:
// one of its comma-separated names, or a hashed entry of it.
func knownHostsMatch(field, name string) bool {
	for _, h := range strings.Split(field, ",") {
		if h == name || (strings.HasPrefix(h, "|1|") && hashedMatch(h, name)) {
			return true
		}
	}
	return false
}

// hashedMatch checks "|1|base64(salt)|base64(hmac-sha1(salt, name))".
func hashedMatch(entry, name string) bool {
	parts := strings.Split(entry, "|")
	if len(parts) != 4 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	want, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(name))
	return hmac.Equal(mac.Sum(nil), want)
}
