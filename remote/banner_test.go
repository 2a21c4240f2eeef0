package remote

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Something that is not SSH on the port (an HTTP server) is a permanent
// *NotSSHError, not a silent retry until the deadline.
func TestDialNotSSH(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	cfg := testConfig(t, port, newKey(t, "id"))
	cfg.HostKeys.AcceptNew = true
	start := time.Now()
	_, err := dialTimeout(cfg, 20*time.Second)
	var ns *NotSSHError
	if !errors.As(err, &ns) {
		t.Fatalf("Dial: got %v, want *NotSSHError", err)
	}
	if !strings.Contains(ns.Banner, "HTTP/1.1 400") {
		t.Errorf("banner: got %q, want the HTTP status line", ns.Banner)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Dial took %s, want at once", took)
	}
}

func TestNotSSHBanner(t *testing.T) {
	tests := []struct {
		banner string
		isSSH  bool
	}{
		{"", true}, // nothing said: closed early, retried
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", true},
		{"hello, pre-banner text\r\nSSH-2.0-OpenSSH_9.2\r\n", true},
		{"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n", false},
		{"220 smtp.example.com ESMTP\r\n", false},
	}
	for _, tt := range tests {
		err := notSSH("h:22", []byte(tt.banner))
		if (err == nil) != tt.isSSH {
			t.Errorf("notSSH(%q): got %v, want ssh=%v", tt.banner, err, tt.isSSH)
		}
	}
}

// A refused port is retried, and Progress hears of it at most every
// ProgressEvery, with the attempt and the error.
func TestDialProgress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens: connection refused
	cfg := testConfig(t, port, newKey(t, "id"))
	cfg.MaxBackoff = 20 * time.Millisecond
	cfg.ProgressEvery = 200 * time.Millisecond
	var mu sync.Mutex
	var attempts []int
	var last error
	cfg.Progress = func(addr string, attempt int, err error) {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, attempt)
		last = err
	}
	_, err = dialTimeout(cfg, time.Second)
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("Dial: got %v, want *UnreachableError", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) < 2 || len(attempts) > 6 {
		t.Errorf("progress calls: got %d (%v), want a few, at most one per 200ms", len(attempts), attempts)
	}
	if last == nil || !strings.Contains(last.Error(), "refused") {
		t.Errorf("progress error: got %v, want connection refused", last)
	}
}
