package remote

import (
	"errors"
	"fmt"
	"strings"
)

// ErrConnectionLost is matched (errors.Is) by errors from Run/Output when the
// SSH connection dropped before the remote command reported an exit status,
// e.g. because the host rebooted or the keepalive gave up.
var ErrConnectionLost = errors.New("ssh connection lost")

// ErrOutputTooLong is matched by Output and ReadFileMax errors when the
// host sent more than the caller keeps in memory.
var ErrOutputTooLong = errors.New("remote output too long")

// ErrTooManyKeys is matched by the Dial error when Config.Keys holds more than
// MaxOfferedKeys keys. Nothing is sent to the host in that case.
var ErrTooManyKeys = errors.New("too many ssh keys to offer")

// HostKeyMismatchError: the host presented a key different from the one we
// know (workspace known_hosts, --host-key, or an extra known_hosts file).
// Dial never retries it.
type HostKeyMismatchError struct {
	Host string // known_hosts form: "h" or "[h]:port"
	Want string // fingerprint(s) we expected, comma separated
	Got  string // fingerprint the server presented
	// Source says where Want came from: "known_hosts FILE:LINE" or "--host-key".
	Source string
}

func (e *HostKeyMismatchError) Error() string {
	src := ""
	if e.Source != "" {
		src = " (" + e.Source + ")"
	}
	return fmt.Sprintf("host key of %s changed: pinned %s%s, presented %s", e.Host, e.Want, src, e.Got)
}

// UnknownHostKeyError: no pin, no --host-key, not in any known_hosts file, and
// neither AcceptNew nor a confirmation allowed the key.
type UnknownHostKeyError struct {
	Host        string
	Fingerprint string
}

func (e *UnknownHostKeyError) Error() string {
	return fmt.Sprintf("host key of %s is unknown: ssh-ed25519 %s", e.Host, e.Fingerprint)
}

// AuthError: the server refused every offered key (after Config.AuthAttempts
// connections). Offered lists "name (SHA256:...)" for each key, in order.
type AuthError struct {
	User    string
	Host    string
	Offered []string
	Err     error // last handshake error, for debugging
}

func (e *AuthError) Error() string {
	offered := "no keys"
	if len(e.Offered) > 0 {
		offered = strings.Join(e.Offered, ", ")
	}
	return fmt.Sprintf("ssh %s@%s: authentication failed; offered keys: %s", e.User, e.Host, offered)
}

func (e *AuthError) Unwrap() error { return e.Err }

// UnreachableError: Dial kept getting transient errors until its context
// ended. It unwraps to both the last attempt's error (Err, nil if no attempt
// was made) and the context error (Ctx), so errors.Is(err,
// context.DeadlineExceeded) and errors.As(err, *net.OpError) both work.
type UnreachableError struct {
	Addr string
	Err  error
	Ctx  error // ctx.Err() that ended the wait
}

func (e *UnreachableError) Error() string {
	why := "gave up"
	if e.Ctx != nil {
		why = e.Ctx.Error()
	}
	if e.Err == nil {
		return fmt.Sprintf("ssh %s unreachable: %s before the first attempt", e.Addr, why)
	}
	return fmt.Sprintf("ssh %s unreachable (%s): last error: %v", e.Addr, why, e.Err)
}

func (e *UnreachableError) Unwrap() []error {
	var errs []error
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Ctx != nil {
		errs = append(errs, e.Ctx)
	}
	return errs
}

// ExitError: the remote command ran and exited non-zero (or was killed by a
// signal, then Status is -1 and Signal is set, e.g. "KILL").
type ExitError struct {
	Cmd    string
	Host   string
	Status int
	Signal string
	Stderr string // last ~20 lines of stderr
}

func (e *ExitError) Error() string {
	cmd := e.Cmd
	if len(cmd) > 80 {
		cmd = cmd[:77] + "..."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "run %q", cmd)
	if e.Host != "" {
		fmt.Fprintf(&b, " on %s", e.Host)
	}
	if e.Signal != "" {
		fmt.Fprintf(&b, ": killed by signal %s", e.Signal)
	} else {
		fmt.Fprintf(&b, ": exit status %d", e.Status)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		fmt.Fprintf(&b, "; stderr:\n%s", s)
	}
	return b.String()
}

// NotSSHError: something answered on the port, but not an SSH server (an
// HTTP server, a database...). Dial never retries it.
type NotSSHError struct {
	Addr   string
	Banner string // the first line it sent, cut short; "" if it sent none before closing
}

func (e *NotSSHError) Error() string {
	if e.Banner == "" {
		return fmt.Sprintf("%s is not an SSH server: it closed the connection without an SSH banner", e.Addr)
	}
	return fmt.Sprintf("%s is not an SSH server: it answered %q", e.Addr, e.Banner)
}

// Reason is the innermost message of a failed attempt, for a progress line:
// "connection refused" rather than "dial tcp 203.0.113.7:22: connect:
// connection refused".
func Reason(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}
