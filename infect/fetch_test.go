package infect

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var testScript = []byte("#!/usr/bin/env bash\necho infected\n")

// server serves on 127.0.0.1 only, counting requests; handle may be nil
// (serve testScript).
func server(t *testing.T, handle func(n int64, w http.ResponseWriter, r *http.Request)) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := n.Add(1)
		if handle != nil {
			handle(c, w, r)
			return
		}
		w.Write(testScript)
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

func src(url string, data []byte) Source {
	return Source{URL: url + "/nixos-infect", SHA256: sum(data)}
}

func TestFetchCaches(t *testing.T) {
	srv, n := server(t, nil)
	f := &Fetcher{CacheDir: filepath.Join(t.TempDir(), "cache")}
	s := src(srv.URL, testScript)
	for i := 0; i < 2; i++ {
		got, err := f.Fetch(context.Background(), s)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		if string(got) != string(testScript) {
			t.Fatalf("fetch %d: got %q, want %q", i, got, testScript)
		}
	}
	if got := n.Load(); got != 1 {
		t.Errorf("requests: got %d, want 1 (second fetch should hit the cache)", got)
	}
	fi, err := os.Stat(filepath.Join(f.CacheDir, s.SHA256))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("cache file mode: got %v, want 0644", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(f.CacheDir)
	if len(entries) != 1 {
		t.Errorf("cache dir entries: got %d, want 1 (no temp files left)", len(entries))
	}
}

func TestFetchUppercaseSHA(t *testing.T) {
	srv, _ := server(t, nil)
	f := &Fetcher{CacheDir: t.TempDir()}
	s := src(srv.URL, testScript)
	s.SHA256 = strings.ToUpper(s.SHA256)
	if _, err := f.Fetch(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.CacheDir, strings.ToLower(s.SHA256))); err != nil {
		t.Errorf("cache entry is not named by the lowercase hash: %v", err)
	}
}

func TestFetchNoCache(t *testing.T) {
	srv, n := server(t, nil)
	f := &Fetcher{}
	for i := 0; i < 2; i++ {
		if _, err := f.Fetch(context.Background(), src(srv.URL, testScript)); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Load(); got != 2 {
		t.Errorf("requests: got %d, want 2", got)
	}
}

func TestFetchChecksumMismatch(t *testing.T) {
	srv, _ := server(t, nil)
	cache := t.TempDir()
	f := &Fetcher{CacheDir: cache}
	s := src(srv.URL, []byte("something else"))
	_, err := f.Fetch(context.Background(), s)
	var ce *ChecksumError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want *ChecksumError", err)
	}
	if ce.Want != s.SHA256 || ce.Got != sum(testScript) || ce.URL != s.URL {
		t.Errorf("got %+v, want URL %s, Want %s, Got %s", ce, s.URL, s.SHA256, sum(testScript))
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "--infect-sha256") {
		t.Errorf("got message %q, want one line mentioning --infect-sha256", msg)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("cache entries after mismatch: got %d, want 0", len(entries))
	}
}

func TestFetchRetries5xx(t *testing.T) {
	srv, n := server(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Write(testScript)
	})
	got, err := (&Fetcher{}).Fetch(context.Background(), src(srv.URL, testScript))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(testScript) {
		t.Errorf("got %q, want %q", got, testScript)
	}
	if got := n.Load(); got != 3 {
		t.Errorf("requests: got %d, want 3", got)
	}
}

func TestFetchGivesUpOn5xx(t *testing.T) {
	srv, n := server(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	})
	c := NewHTTPClient()
	c.RetryWaitMin, c.RetryWaitMax = time.Millisecond, time.Millisecond
	_, err := (&Fetcher{HTTP: c}).Fetch(context.Background(), src(srv.URL, testScript))
	if err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("got %v, want an error naming status 502", err)
	}
	if got := n.Load(); got != 5 {
		t.Errorf("requests: got %d, want 5 (1 + RetryMax 4)", got)
	}
}

func TestFetch404NoRetry(t *testing.T) {
	srv, n := server(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		http.NotFound(w, nil)
	})
	cache := t.TempDir()
	_, err := (&Fetcher{CacheDir: cache}).Fetch(context.Background(), src(srv.URL, testScript))
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("got %v, want an error naming status 404", err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("requests: got %d, want 1", got)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("cache entries: got %d, want 0", len(entries))
	}
}

func TestFetchTooLarge(t *testing.T) {
	big := make([]byte, MaxScriptSize+1)
	srv, _ := server(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { w.Write(big) })
	_, err := (&Fetcher{}).Fetch(context.Background(), src(srv.URL, big))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("got %v, want a size error", err)
	}
}

func TestFetchCancel(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv, _ := server(t, func(_ int64, w http.ResponseWriter, r *http.Request) {
		select { // hang until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := (&Fetcher{}).Fetch(ctx, src(srv.URL, testScript))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v, want prompt return", d)
	}
}

func TestFetchCancelDuringBackoff(t *testing.T) {
	srv, n := server(t, func(_ int64, w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "busy", http.StatusServiceUnavailable)
	})
	c := NewHTTPClient()
	c.RetryWaitMin, c.RetryWaitMax = time.Hour, time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := (&Fetcher{HTTP: c}).Fetch(ctx, src(srv.URL, testScript))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("requests: got %d, want 1", got)
	}
}

func TestFetchCorruptCacheRefetched(t *testing.T) {
	srv, n := server(t, nil)
	cache := t.TempDir()
	s := src(srv.URL, testScript)
	entry := filepath.Join(cache, s.SHA256)
	if err := os.WriteFile(entry, []byte("corrupt"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := (&Fetcher{CacheDir: cache}).Fetch(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(testScript) {
		t.Errorf("got %q, want %q", got, testScript)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("requests: got %d, want 1", got)
	}
	if data, _ := os.ReadFile(entry); string(data) != string(testScript) {
		t.Errorf("cache entry: got %q, want it overwritten with %q", data, testScript)
	}
}

func TestPinned(t *testing.T) {
	if err := Pinned.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(Pinned.URL, "7563801d3ae68c975e4027f4e31a3906dca95f30") {
		t.Errorf("got URL %s, want it pinned to commit 7563801d", Pinned.URL)
	}
	if Pinned.SHA256 != "4cc3b5f8e4333ab4f02906d80a836c1b36e2887a51abf4eba4d9113b33934393" {
		t.Errorf("got SHA256 %s, want the hash of nixos-infect at 7563801d", Pinned.SHA256)
	}
}

func TestSourceValidate(t *testing.T) {
	good := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		src  Source
		want string // substring of the error; "" = valid
	}{
		{"https", Source{"https://example.org/nixos-infect", good}, ""},
		{"http with port", Source{"http://127.0.0.1:8080/x", good}, ""},
		{"uppercase sha", Source{"https://example.org/x", strings.ToUpper(good)}, ""},
		{"empty url", Source{"", good}, "--infect-url"},
		{"no scheme", Source{"example.org/x", good}, "--infect-url"},
		{"ftp", Source{"ftp://example.org/x", good}, "--infect-url"},
		{"file", Source{"file:///etc/passwd", good}, "--infect-url"},
		{"no host", Source{"https:///x", good}, "--infect-url"},
		{"port only", Source{"https://:443/x", good}, "--infect-url"},
		{"bad url", Source{"https://exa mple.org/%zz", good}, "--infect-url"},
		{"empty sha", Source{"https://example.org/x", ""}, "--infect-sha256 must be 64 hex characters"},
		{"short sha", Source{"https://example.org/x", good[:63]}, "--infect-sha256 must be 64 hex characters"},
		{"long sha", Source{"https://example.org/x", good + "a"}, "--infect-sha256 must be 64 hex characters"},
		{"non-hex sha", Source{"https://example.org/x", "g" + good[1:]}, "--infect-sha256 must be 64 hex characters"},
		{"sha with prefix", Source{"https://example.org/x", "sha256:" + good[7:]}, "--infect-sha256 must be 64 hex characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.src.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want error containing %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("got multi-line error %q", err)
			}
		})
	}
}

func TestFetchInvalidSourceNoRequest(t *testing.T) {
	srv, n := server(t, nil)
	_, err := (&Fetcher{}).Fetch(context.Background(), Source{URL: srv.URL, SHA256: "abc"})
	if err == nil {
		t.Fatal("got nil, want a validation error")
	}
	if got := n.Load(); got != 0 {
		t.Errorf("requests: got %d, want 0", got)
	}
}
