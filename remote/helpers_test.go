package remote

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// testLog forwards Config.Log lines to t.Logf until the test ends.
type testLog struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func newTestLog(t *testing.T) *testLog {
	l := &testLog{t: t}
	t.Cleanup(func() {
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
	})
	return l
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Logf("%s", bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

// testConfig returns a Config for srv with a fresh workspace known_hosts
// (not yet existing) and no way to accept an unknown host key.
func testConfig(t *testing.T, port int, keys ...Key) Config {
	return Config{
		Host:           "127.0.0.1",
		Port:           port,
		User:           "root",
		Keys:           keys,
		HostKeys:       &HostKeys{KnownHosts: filepath.Join(t.TempDir(), "known_hosts")},
		ConnectTimeout: 5 * time.Second,
		MaxBackoff:     200 * time.Millisecond,
		Log:            newTestLog(t),
	}
}

// mustDial dials with a 20s limit and closes the client at test end.
func mustDial(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := dialTimeout(cfg, 20*time.Second)
	if err != nil {
		t.Fatalf("Dial: got error %v, want nil", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialTimeout(cfg Config, d time.Duration) (*Client, error) {
	ctx, cancel := contextWithTimeout(d)
	defer cancel()
	return Dial(ctx, cfg)
}

// startAgent serves an in-memory agent with n ed25519 keys ("key0".."keyN-1")
// on a unix socket and returns the socket and the public keys.
func startAgent(t *testing.T, n int) (string, []ssh.PublicKey) {
	t.Helper()
	keyring := agent.NewKeyring()
	var pubs []ssh.PublicKey
	for i := range n {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if err := keyring.Add(agent.AddedKey{PrivateKey: priv, Comment: fmt.Sprintf("key%d", i)}); err != nil {
			t.Fatal(err)
		}
		sp, err := ssh.NewPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, sp)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(keyring, c)
			}()
		}
	}()
	return sock, pubs
}

// eventually polls cond every 20ms for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
	return true
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
