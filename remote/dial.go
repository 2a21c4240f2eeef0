package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// Config describes one SSH destination. Zero values get the defaults noted.
type Config struct {
	Host string
	Port int    // default 22
	User string // default "root"
	// Keys are offered in order, each once per connection, in a single
	// "publickey" method; at most MaxOfferedKeys, more is an error
	// (ErrTooManyKeys) before any traffic is sent.
	Keys     []Key
	HostKeys *HostKeys // nil → only refusals: every host key is unknown
	// Sudo wraps commands in `sudo -n sh -c '...'` and uploads via a temp
	// file + `sudo -n install`, unless User is root. See Client.SetSudo.
	Sudo           bool
	ConnectTimeout time.Duration // per attempt (TCP + handshake), default 15s
	MaxBackoff     time.Duration // between attempts, default 1s (backoff starts at 100ms)
	// AuthAttempts is how many connections may fail authentication before
	// *AuthError: default 1, a refusal is final. A machine still installing
	// its keys (a cloud server's first boot) may want more.
	AuthAttempts int
	// Progress, when set, hears about the wait at most every ProgressEvery
	// (default 10s): the attempt number and its error.
	Progress      func(addr string, attempt int, err error)
	ProgressEvery time.Duration
	// KeepAlive is the interval of keepalive@openssh.com probes, default 5s,
	// negative disables. After 3 intervals without a reply the connection is
	// closed, so a host that vanished (reboot, power off) is noticed.
	KeepAlive time.Duration
	Log       io.Writer // optional debug lines (never secrets)
}

const (
	defaultConnectTimeout = 15 * time.Second
	defaultMaxBackoff     = time.Second
	defaultAuthAttempts   = 1
	defaultProgressEvery  = 10 * time.Second
	defaultKeepAlive      = 5 * time.Second
	initialBackoff        = 100 * time.Millisecond
)

func (cfg Config) withDefaults() Config {
	if cfg.Port == 0 {
		cfg.Port = 22
	}
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = defaultMaxBackoff
	}
	if cfg.AuthAttempts <= 0 {
		cfg.AuthAttempts = defaultAuthAttempts
	}
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = defaultKeepAlive
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = defaultProgressEvery
	}
	return cfg
}

func (cfg Config) addr() string {
	return net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
}

func (cfg Config) logf(format string, args ...any) {
	if cfg.Log != nil {
		fmt.Fprintf(cfg.Log, "ssh %s: "+format+"\n", append([]any{cfg.addr()}, args...)...)
	}
}

func (cfg Config) validate() error {
	if cfg.Host == "" {
		return errors.New("no host")
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return fmt.Errorf("port %d out of range", cfg.Port)
	}
	if len(cfg.Keys) == 0 {
		return errors.New("no ssh keys to offer (use -i KEY or --agent)")
	}
	if len(cfg.Keys) > MaxOfferedKeys {
		return fmt.Errorf("%w: %d keys, at most %d (sshd disconnects after MaxAuthTries=6 failures); "+
			"pick one with -i KEY or select the agent key", ErrTooManyKeys, len(cfg.Keys), MaxOfferedKeys)
	}
	for i, k := range cfg.Keys {
		if k.Signer == nil {
			return fmt.Errorf("key %d (%s) has no signer", i, k.Name)
		}
	}
	return nil
}

// Dial connects and authenticates, retrying transient failures (refused,
// timeouts, resets, EOF during the handshake, no route) with exponential
// backoff (100ms doubling up to MaxBackoff) until ctx is done; then it returns
// *UnreachableError. Config.Progress hears of the wait every ProgressEvery.
// Host key problems (and a host without an ed25519 host key) are returned at
// once, so is something that answers but is not SSH (*NotSSHError); auth
// failures after Config.AuthAttempts connections (MaxBackoff apart) as
// *AuthError. A host key accepted by --host-key, an extra
// known_hosts file, AcceptNew or Confirm is pinned into HostKeys.KnownHosts
// once the connection is fully established.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	addr := cfg.addr()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("ssh %s: %w", addr, err)
	}
	hk := &hostKeyChecker{logf: cfg.logf}
	if cfg.HostKeys != nil {
		hk.policy = *cfg.HostKeys
	}
	if hk.policy.Fingerprint != "" {
		fp, err := normalizeFingerprint(hk.policy.Fingerprint)
		if err != nil {
			return nil, fmt.Errorf("ssh %s: %w", addr, err)
		}
		hk.fingerprint = fp
	}

	backoff := min(initialBackoff, cfg.MaxBackoff)
	authFailures := 0
	var lastErr error
	lastProgress := time.Now()
	for attempt := 1; ctx.Err() == nil; attempt++ {
		var hostKeyErr error
		var banner []byte
		conn, err := dialOnce(ctx, cfg, hk, &hostKeyErr, &banner)
		if err == nil {
			if hk.source != sourceKnownHosts && hk.policy.KnownHosts != "" {
				if err := PinHostKey(hk.policy.KnownHosts, addr, hk.accepted); err != nil {
					conn.Close()
					return nil, fmt.Errorf("ssh %s: %w", addr, err)
				}
				cfg.logf("pinned host key %s (%s) in %s", Fingerprint(hk.accepted), hk.source, hk.policy.KnownHosts)
			}
			cfg.logf("connected as %s (host key %s, %s)", cfg.User, Fingerprint(hk.accepted), hk.source)
			return newClient(conn, cfg, hk.accepted), nil
		}
		if hostKeyErr != nil {
			return nil, hostKeyErr
		}
		if ctx.Err() != nil {
			// The attempt was cut short by ctx; its error is noise unless
			// it is all we have.
			if lastErr == nil {
				lastErr = err
			}
			break
		}
		if ns := notSSH(addr, banner); ns != nil && classify(err) != failAuth {
			return nil, ns
		}
		switch classify(err) {
		case failAuth:
			authFailures++
			if authFailures >= cfg.AuthAttempts {
				offered := make([]string, len(cfg.Keys))
				for i, k := range cfg.Keys {
					offered[i] = k.String()
				}
				return nil, &AuthError{User: cfg.User, Host: addr, Offered: offered, Err: err}
			}
		case failPermanent:
			return nil, fmt.Errorf("ssh %s: %w", addr, err)
		}
		lastErr = err
		wait := backoff
		if classify(err) == failAuth {
			// Keys may still be on their way (cloud-init); give it a moment.
			wait = cfg.MaxBackoff
		}
		cfg.logf("attempt %d: %v; retrying in %s", attempt, err, wait)
		if cfg.Progress != nil && time.Since(lastProgress) >= cfg.ProgressEvery {
			cfg.Progress(addr, attempt, err)
			lastProgress = time.Now()
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
		case <-timer.C:
		}
		backoff = min(backoff*2, cfg.MaxBackoff)
	}
	return nil, &UnreachableError{Addr: addr, Err: lastErr, Ctx: ctx.Err()}
}

// dialOnce makes one TCP connection and SSH handshake, bounded by
// ConnectTimeout and ctx. *banner gets the first bytes the server sent.
func dialOnce(ctx context.Context, cfg Config, hk *hostKeyChecker, hostKeyErr *error, banner *[]byte) (*ssh.Client, error) {
	addr := cfg.addr()
	deadline := time.Now().Add(cfg.ConnectTimeout)
	d := net.Dialer{Deadline: deadline}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	conn := &firstBytes{Conn: raw, got: banner}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return nil, err
	}
	signers := make([]ssh.Signer, len(cfg.Keys))
	for i, k := range cfg.Keys {
		signers[i] = k.Signer
	}
	sc := &ssh.ClientConfig{
		User: cfg.User,
		// One method: x/crypto/ssh tries each method name at most once per
		// connection, and this one offers every key once, in order.
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signers...)},
		HostKeyCallback:   hk.callback(conn, cfg.ConnectTimeout, hostKeyErr),
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, sc)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if !stop() {
		c.Close()
		return nil, ctx.Err()
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, err
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// firstBytes keeps the first bytes read from a connection: the server's
// version line, or what a server that is not SSH said instead.
type firstBytes struct {
	net.Conn
	got *[]byte
}

const bannerBytes = 256

func (c *firstBytes) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if room := bannerBytes - len(*c.got); room > 0 && n > 0 {
		*c.got = append(*c.got, p[:min(n, room)]...)
	}
	return n, err
}

// notSSH is a *NotSSHError when the server sent bytes and none of its lines
// is an SSH version line ("SSH-2.0-..."; RFC 4253 allows other lines before
// it), else nil.
func notSSH(addr string, banner []byte) error {
	if len(banner) == 0 {
		return nil
	}
	for _, line := range strings.Split(string(banner), "\n") {
		if strings.HasPrefix(line, "SSH-") {
			return nil
		}
	}
	first, _, _ := strings.Cut(string(banner), "\n")
	first = strings.TrimSpace(first)
	if len(first) > 60 {
		first = first[:60] + "..."
	}
	return &NotSSHError{Addr: addr, Banner: first}
}

type failure int

const (
	failTransient failure = iota
	failAuth
	failPermanent
)

// classify sorts a failed attempt. x/crypto/ssh reports auth failures only as
// text, so they are recognised by message; everything not known to be
// permanent is retried until ctx ends.
func classify(err error) failure {
	msg := strings.ToLower(err.Error())
	var dnsErr *net.DNSError
	switch {
	case strings.Contains(msg, "unable to authenticate"),
		strings.Contains(msg, "too many authentication failures"),
		strings.Contains(msg, "no more authentication methods"):
		return failAuth
	case strings.Contains(msg, "no common algorithm"):
		// e.g. the host has no ssh-ed25519 host key: retrying won't help.
		return failPermanent
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return failPermanent
	}
	return failTransient
}
