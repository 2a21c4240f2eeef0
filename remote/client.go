package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Client is an authenticated SSH connection. It is safe for concurrent use.
type Client struct {
	cfg     Config
	addr    string
	conn    *ssh.Client
	hostKey ssh.PublicKey
	sudo    atomic.Bool // Config.Sudo, changeable with SetSudo

	lost      chan struct{} // closed when the connection ended (Close or loss)
	closed    chan struct{} // closed by Close
	closeOnce sync.Once

	mu   sync.Mutex
	sftp *sftp.Client // lazily created, reused
}

func newClient(conn *ssh.Client, cfg Config, hostKey ssh.PublicKey) *Client {
	c := &Client{
		cfg:     cfg,
		addr:    cfg.addr(),
		conn:    conn,
		hostKey: hostKey,
		lost:    make(chan struct{}),
		closed:  make(chan struct{}),
	}
	c.sudo.Store(cfg.Sudo)
	go func() {
		err := conn.Wait()
		select {
		case <-c.closed:
		default:
			cfg.logf("connection ended: %v", err)
		}
		close(c.lost)
	}()
	if cfg.KeepAlive > 0 {
		go c.keepAlive(cfg.KeepAlive)
	}
	return c
}

// keepAlive probes the server every interval and closes the connection when
// a probe fails or gets no reply within 3 intervals (like OpenSSH's
// ServerAliveInterval with ServerAliveCountMax=3).
func (c *Client) keepAlive(interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-c.lost:
			return
		case <-ticker.C:
		}
		replied := make(chan error, 1)
		go func() {
			_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
			replied <- err
		}()
		timeout := time.NewTimer(3 * interval)
		select {
		case <-c.lost:
			timeout.Stop()
			return
		case err := <-replied:
			timeout.Stop()
			if err != nil {
				c.cfg.logf("keepalive failed: %v; closing", err)
				c.conn.Close()
				return
			}
		case <-timeout.C:
			c.cfg.logf("no keepalive reply for %s; closing", 3*interval)
			c.conn.Close()
			return
		}
	}
}

// HostKey returns the host key the server presented (and we accepted).
func (c *Client) HostKey() ssh.PublicKey { return c.hostKey }

// Addr returns "host:port".
func (c *Client) Addr() string { return c.addr }

// Done is closed when the connection has ended, by Close or because it was
// lost (keepalive failure, reset, reboot).
func (c *Client) Done() <-chan struct{} { return c.lost }

// Close closes the SFTP session and the connection. It is idempotent.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		c.mu.Lock()
		if c.sftp != nil {
			c.sftp.Close()
			c.sftp = nil
		}
		c.mu.Unlock()
		err = c.conn.Close()
		<-c.lost
	})
	if errors.Is(err, net.ErrClosed) {
		err = nil // the connection was already lost
	}
	return err
}

// connLost wraps err with ErrConnectionLost when the connection has ended.
func (c *Client) connLost(err error) error {
	select {
	case <-c.lost:
	default:
		var missing *ssh.ExitMissingError
		if !errors.As(err, &missing) && !errors.Is(err, io.EOF) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", ErrConnectionLost, err)
}

// SetSudo switches sudo wrapping (see Config.Sudo) for later commands and
// file transfers, e.g. once the caller found out it logged in as non-root.
// It has no effect for User root.
func (c *Client) SetSudo(on bool) { c.sudo.Store(on) }

// useSudo reports whether commands and uploads go through sudo.
func (c *Client) useSudo() bool { return c.sudo.Load() && c.cfg.User != "root" }

// wrap applies sudo when configured.
func (c *Client) wrap(cmd string) string {
	if c.useSudo() {
		return "sudo -n sh -c " + Quote(cmd)
	}
	return cmd
}

// Run runs cmd (a shell command line) in a new session, streaming its output
// to stdout and stderr (either may be nil). A non-zero exit is *ExitError
// with the stderr tail; a dropped connection matches ErrConnectionLost. When
// ctx ends, the remote process gets SIGTERM, the session is closed and the
// error wraps ctx.Err().
func (c *Client) Run(ctx context.Context, cmd string, stdout, stderr io.Writer) error {
	return c.run(ctx, cmd, c.wrap(cmd), nil, stdout, stderr)
}

// run executes wire (what is sent) with stdin (nil: none) and reports
// errors about cmd.
func (c *Client) run(ctx context.Context, cmd, wire string, stdin io.Reader, stdout, stderr io.Writer) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("run %q on %s: %w", short(cmd), c.addr, err)
	}
	sess, err := c.conn.NewSession()
	if err != nil {
		return fmt.Errorf("run %q on %s: new session: %w", short(cmd), c.addr, c.connLost(err))
	}
	defer sess.Close()
	tail := &tailWriter{max: stderrTailLines}
	if stdout == nil {
		stdout = io.Discard
	}
	sess.Stdout = stdout
	if stdin != nil {
		sess.Stdin = stdin
	}
	if stderr != nil {
		sess.Stderr = io.MultiWriter(tail, stderr)
	} else {
		sess.Stderr = tail
	}
	if err := sess.Start(wire); err != nil {
		return fmt.Errorf("run %q on %s: %w", short(cmd), c.addr, c.connLost(err))
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = sess.Signal(ssh.SIGTERM)
		sess.Close()
		// Let the output copiers finish so nothing writes to stdout/stderr
		// after we return; a dead connection is bounded by the keepalive.
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		case <-c.lost:
		}
		return fmt.Errorf("run %q on %s: %w", short(cmd), c.addr, ctx.Err())
	}
	var exit *ssh.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit):
		e := &ExitError{Cmd: cmd, Host: c.addr, Status: exit.ExitStatus(), Signal: exit.Signal(), Stderr: tail.String()}
		if e.Signal != "" {
			e.Status = -1
		}
		return e
	default:
		return fmt.Errorf("run %q on %s: %w", short(cmd), c.addr, c.connLost(err))
	}
}

// MaxOutput bounds what Output keeps in memory: a command printing more
// is an error matching ErrOutputTooLong (a host is not trusted to be
// brief).
const MaxOutput = 16 << 20

// Output runs cmd and returns its stdout, at most MaxOutput bytes.
func (c *Client) Output(ctx context.Context, cmd string) (string, error) {
	out := &cappedBuffer{max: MaxOutput}
	err := c.Run(ctx, cmd, out, nil)
	if out.over {
		return out.String(), fmt.Errorf("run %q on %s: %w (%d bytes)", short(cmd), c.addr, ErrOutputTooLong, MaxOutput)
	}
	return out.String(), err
}

// cappedBuffer keeps at most max bytes; writing more fails. (It has no
// ReadFrom, so io.Copy goes through Write.)
type cappedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.max {
		b.over = true
		b.buf.Write(p[:max(0, b.max-b.buf.Len())])
		return 0, ErrOutputTooLong
	}
	return b.buf.Write(p)
}

func (b *cappedBuffer) String() string { return b.buf.String() }

func short(cmd string) string {
	if len(cmd) > 60 {
		return cmd[:57] + "..."
	}
	return cmd
}

// sftpClient returns the shared SFTP client, starting it on first use.
func (c *Client) sftpClient() (*sftp.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	sc, err := sftp.NewClient(c.conn)
	if err != nil {
		return nil, fmt.Errorf("start sftp: %w", c.connLost(err))
	}
	c.sftp = sc
	return sc, nil
}

// dropSFTP closes sc and forgets it so the next call starts a fresh one.
func (c *Client) dropSFTP(sc *sftp.Client) {
	c.mu.Lock()
	if c.sftp == sc {
		c.sftp = nil
	}
	c.mu.Unlock()
	sc.Close()
}

// withSFTP runs fn with the shared SFTP client. SFTP calls take no context,
// so ctx ending closes that client (aborting fn); the next call reconnects.
func (c *Client) withSFTP(ctx context.Context, fn func(*sftp.Client) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sc, err := c.sftpClient()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.dropSFTP(sc) })
	err = fn(sc)
	if !stop() {
		return ctx.Err()
	}
	if errors.Is(err, sftp.ErrSSHFxConnectionLost) {
		c.dropSFTP(sc)
	}
	if err != nil {
		select {
		case <-c.lost:
			if !errors.Is(err, ErrConnectionLost) {
				err = fmt.Errorf("%w: %w", ErrConnectionLost, err)
			}
		default:
		}
	}
	return err
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// unixMode converts mode to the numeric mode chmod/install take.
func unixMode(mode fs.FileMode) uint32 {
	m := uint32(mode.Perm())
	if mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

// WriteFile atomically replaces the file at p (parents created): readers see
// the old or the new content, never a partial file. Without sudo it writes
// p+".tmp-<random>" over SFTP, sets mode, fsyncs when the server supports it
// and renames over p (posix-rename@openssh.com, else remove + rename). With
// sudo it streams the bytes to a root shell that writes p+".tmp-<random>",
// checks them and `mv -f`s it into place, so the file ends up root-owned
// and nothing is staged elsewhere (see writeFileSudo).
func (c *Client) WriteFile(ctx context.Context, p string, data []byte, mode fs.FileMode) error {
	var err error
	if c.useSudo() {
		err = c.writeFileSudo(ctx, p, data, mode)
	} else {
		err = c.withSFTP(ctx, func(sc *sftp.Client) error { return writeAtomic(sc, p, data, mode) })
	}
	if err != nil {
		return fmt.Errorf("write %s on %s: %w", p, c.addr, err)
	}
	return nil
}

func writeAtomic(sc *sftp.Client, p string, data []byte, mode fs.FileMode) error {
	if err := sc.MkdirAll(path.Dir(p)); err != nil {
		return fmt.Errorf("create parent directory: %w", err)
	}
	tmp := p + ".tmp-" + randomSuffix()
	if err := writeNew(sc, tmp, data, mode); err != nil {
		sc.Remove(tmp)
		return err
	}
	if _, ok := sc.HasExtension("posix-rename@openssh.com"); ok {
		if err := sc.PosixRename(tmp, p); err != nil {
			sc.Remove(tmp)
			return fmt.Errorf("rename into place: %w", err)
		}
		return nil
	}
	// Plain SFTP rename fails if the target exists.
	if err := sc.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		sc.Remove(tmp)
		return fmt.Errorf("remove old file: %w", err)
	}
	if err := sc.Rename(tmp, p); err != nil {
		sc.Remove(tmp)
		return fmt.Errorf("rename into place: %w", err)
	}
	return nil
}

// writeNew creates p exclusively, restricts its mode before any data is
// written, and writes data.
func writeNew(sc *sftp.Client, p string, data []byte, mode fs.FileMode) error {
	f, err := sc.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("create temp file: %w", err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("chmod temp file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write temp file: %w", err)
	}
	if _, ok := sc.HasExtension("fsync@openssh.com"); ok {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("fsync temp file: %w", err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close temp file: %w", err)
	}
	return nil
}

// writeFileSudo streams data to a root shell on the command's stdin: no
// copy is staged anywhere the login user can write (as an SFTP upload to
// /tmp was, and stayed when the connection dropped before it was
// installed). The shell writes it to p+".tmp-<random>" (0600), checks its
// size and sha256, which a dropped connection cuts short, then sets mode
// and renames it into place; on any failure, a hangup included, it removes
// the temp file.
func (c *Client) writeFileSudo(ctx context.Context, p string, data []byte, mode fs.FileMode) error {
	sum := sha256.Sum256(data)
	script := fmt.Sprintf(`set -e; umask 077; t=%s; trap 'rm -f -- "$t"' EXIT; trap 'exit 129' HUP; trap 'exit 143' TERM; `+
		`mkdir -p -- %s; head -c %d > "$t"; [ "$(wc -c < "$t")" -eq %d ]; [ "$(sha256sum < "$t" | cut -d' ' -f1)" = %s ]; `+
		`chmod %04o "$t"; mv -f -- "$t" %s; trap - EXIT`,
		Quote(p+".tmp-"+randomSuffix()), Quote(path.Dir(p)), len(data), len(data), hex.EncodeToString(sum[:]), unixMode(mode), Quote(p))
	return c.run(ctx, "write "+p, c.wrap(script), bytes.NewReader(data), nil, nil)
}

// ReadFileMax is ReadFile for a file of at most max bytes: a longer one is
// an error matching ErrOutputTooLong, and no more than max+1 bytes are read.
func (c *Client) ReadFileMax(ctx context.Context, p string, max int64) ([]byte, error) {
	var data []byte
	var err error
	if c.useSudo() {
		var out bytes.Buffer
		cmd := fmt.Sprintf("head -c %d -- %s", max+1, Quote(p))
		err = c.run(ctx, cmd, c.wrap(cmd), nil, &out, nil)
		data = out.Bytes()
	} else {
		err = c.withSFTP(ctx, func(sc *sftp.Client) error {
			f, err := sc.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			data, err = io.ReadAll(io.LimitReader(f, max+1))
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", p, c.addr, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("read %s on %s: %w (over %d bytes)", p, c.addr, ErrOutputTooLong, max)
	}
	return data, nil
}

// ReadFile returns the content of the file at p: over SFTP, or with sudo via
// `sudo -n cat` so root-only files are readable.
func (c *Client) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if c.useSudo() {
		var out bytes.Buffer
		cmd := "cat -- " + Quote(p)
		if err := c.run(ctx, cmd, c.wrap(cmd), nil, &out, nil); err != nil {
			return nil, fmt.Errorf("read %s on %s: %w", p, c.addr, err)
		}
		return out.Bytes(), nil
	}
	var data []byte
	err := c.withSFTP(ctx, func(sc *sftp.Client) error {
		f, err := sc.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		data, err = io.ReadAll(f)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", p, c.addr, err)
	}
	return data, nil
}

const stderrTailLines = 20

// tailWriter keeps the last max lines written to it (and at most 64 KiB).
type tailWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	const maxBytes = 64 << 10
	if len(w.buf) > maxBytes {
		w.buf = w.buf[len(w.buf)-maxBytes:]
	}
	// Count newlines from the end, ignoring a trailing one.
	end := len(w.buf)
	if end > 0 && w.buf[end-1] == '\n' {
		end--
	}
	lines := 0
	for i := end - 1; i >= 0; i-- {
		if w.buf[i] == '\n' {
			lines++
			if lines == w.max {
				w.buf = w.buf[i+1:]
				break
			}
		}
	}
	return len(p), nil
}

func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
