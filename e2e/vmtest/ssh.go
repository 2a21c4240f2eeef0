package vmtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Minimal SSH helpers for tests that drive a guest directly. The product itself uses
// bootstrap/remote; these exist so e2e tests can check the guest independently of it.

// ErrHostKeyMismatch is wrapped by DialRoot's error when the guest offers another host key.
var ErrHostKeyMismatch = errors.New("host key mismatch")

// DialRoot makes one attempt to log in as root at addr ("127.0.0.12" or "127.0.0.12:22"),
// accepting only hostKey and asking the server for exactly that key's algorithm.
func DialRoot(ctx context.Context, addr string, key ssh.Signer, hostKey ssh.PublicKey) (*ssh.Client, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "22")
	}
	algos := []string{hostKey.Type()}
	if hostKey.Type() == ssh.KeyAlgoRSA {
		algos = []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	cfg := &ssh.ClientConfig{
		User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: func(host string, remote net.Addr, got ssh.PublicKey) error {
			if !bytes.Equal(got.Marshal(), hostKey.Marshal()) {
				return fmt.Errorf("%w: got %s, want %s", ErrHostKeyMismatch, ssh.FingerprintSHA256(got), ssh.FingerprintSHA256(hostKey))
			}
			return nil
		},
		HostKeyAlgorithms: algos,
		Timeout:           15 * time.Second,
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// The handshake has no context parameter: bound it with a deadline.
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline) //nolint:errcheck
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{}) //nolint:errcheck
	return ssh.NewClient(c, chans, reqs), nil
}

// Run runs cmd with stdin (may be nil) and returns stdout and stderr. A non-zero exit is an
// *ssh.ExitError; a session cut without exit status (e.g. by reboot) is *ssh.ExitMissingError.
func Run(c *ssh.Client, cmd string, stdin []byte) (stdout, stderr string, err error) {
	s, err := c.NewSession()
	if err != nil {
		return "", "", err
	}
	defer s.Close()
	var o, e bytes.Buffer
	s.Stdout, s.Stderr = &o, &e
	if stdin != nil {
		s.Stdin = bytes.NewReader(stdin)
	}
	err = s.Run(cmd)
	return o.String(), e.String(), err
}

// BootID reads the guest's /proc/sys/kernel/random/boot_id.
func BootID(c *ssh.Client) (string, error) {
	out, errOut, err := Run(c, "cat /proc/sys/kernel/random/boot_id", nil)
	if err != nil {
		return "", fmt.Errorf("read boot id: %w: %s", err, errOut)
	}
	return strings.TrimSpace(out), nil
}

// Reboot asks the guest to reboot. The session usually ends without an exit status, or with
// "Failed to connect to bus" (minbase has no dbus); neither means the reboot failed.
func Reboot(c *ssh.Client) error {
	_, errOut, err := Run(c, "nohup sh -c 'sleep 1; reboot' >/dev/null 2>&1 &", nil)
	if err != nil {
		return fmt.Errorf("reboot: %w: %s", err, errOut)
	}
	return nil
}

// WaitNewBoot logs in again and again until the guest reports a boot id other than oldID;
// it returns the new session and boot id. A host key mismatch fails at once.
func WaitNewBoot(ctx context.Context, addr string, key ssh.Signer, hostKey ssh.PublicKey, oldID string) (*ssh.Client, string, error) {
	var last error
	for {
		c, err := DialRoot(ctx, addr, key, hostKey)
		if err == nil {
			id, idErr := BootID(c)
			if idErr == nil && id != oldID && id != "" {
				return c, id, nil
			}
			c.Close()
			if idErr == nil {
				idErr = errors.New("boot id unchanged")
			}
			err = idErr
		} else if errors.Is(err, ErrHostKeyMismatch) {
			return nil, "", fmt.Errorf("wait for reboot of %s: %w", addr, err)
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, "", fmt.Errorf("wait for reboot of %s: %w (last attempt: %v)", addr, ctx.Err(), last)
		case <-time.After(time.Second):
		}
	}
}
