// Package infect fetches a pinned copy of the nixos-infect script and runs it
// on a remote host detached from the SSH session, so that a dropped connection
// or an interrupted local tool neither kills it nor causes it to run twice.
// A leaf: it imports remote (quoting) and workspace (atomic writes) only.
package infect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"bootstrap/workspace"

	"github.com/hashicorp/go-retryablehttp"
)

// Source is where to download nixos-infect from and the SHA-256 its content
// must have. SHA256 is hex; Validate accepts either case, Fetch compares and
// caches in lowercase.
type Source struct{ URL, SHA256 string }

// PinnedCommit is the upstream nixos-infect commit (elitak/nixos-infect)
// that Pinned fetches.
const PinnedCommit = "7563801d3ae68c975e4027f4e31a3906dca95f30"

// Pinned is upstream nixos-infect at PinnedCommit.
var Pinned = Source{
	URL:    "https://raw.githubusercontent.com/elitak/nixos-infect/" + PinnedCommit + "/nixos-infect",
	SHA256: "4cc3b5f8e4333ab4f02906d80a836c1b36e2887a51abf4eba4d9113b33934393",
}

// MaxScriptSize bounds the download; the real script is about 14 KB.
const MaxScriptSize = 1 << 20

// Validate reports a one-line error naming the CLI flag that is wrong.
func (s Source) Validate() error {
	u, err := url.Parse(s.URL)
	if s.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("--infect-url must be an http(s) URL with a host, got %q", s.URL)
	}
	if len(s.SHA256) != sha256.Size*2 {
		return fmt.Errorf("--infect-sha256 must be 64 hex characters, got %d characters", len(s.SHA256))
	}
	if _, err := hex.DecodeString(s.SHA256); err != nil {
		return fmt.Errorf("--infect-sha256 must be 64 hex characters, got %q", s.SHA256)
	}
	return nil
}

// ChecksumError means the downloaded content does not have the pinned hash.
type ChecksumError struct{ URL, Want, Got string }

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("checksum mismatch for %s: got %s, want %s (check --infect-sha256 or --infect-url)", e.URL, e.Got, e.Want)
}

// DownloadError is a nixos-infect that could not be downloaded (offline, a
// wrong URL, a server error); nothing was contacted besides the URL.
type DownloadError struct {
	URL      string
	CacheDir string // where a copy would have been found: CacheDir/<sha256>
	SHA256   string
	Err      error
}

func (e *DownloadError) Error() string {
	return fmt.Sprintf("download nixos-infect from %s: %v", e.URL, e.Err)
}
func (e *DownloadError) Unwrap() error { return e.Err }

// Hint says how to get the script without that URL.
func (e *DownloadError) Hint() string {
	h := "offline? pass --infect-url URL --infect-sha256 HEX for a copy on a file server you can reach"
	if e.CacheDir != "" {
		h += ", or pre-fill the cache: put the script at " + filepath.Join(e.CacheDir, strings.ToLower(e.SHA256))
	}
	return h
}

// Fetcher downloads a Source, verifying its checksum, through an optional
// content-addressed cache (CacheDir/<sha256>). The zero value is usable.
type Fetcher struct {
	CacheDir string                // "" disables the cache
	HTTP     *retryablehttp.Client // nil → NewHTTPClient()
}

// NewHTTPClient returns a client with bounded retries (5xx, 429 and
// connection errors, per retryablehttp's default policy), a per-attempt
// timeout and no logging. When retries run out on an HTTP status, the error
// names the status and the number of attempts.
func NewHTTPClient() *retryablehttp.Client {
	c := retryablehttp.NewClient()
	c.Logger = nil
	c.RetryMax = 4
	c.RetryWaitMin = 200 * time.Millisecond
	c.RetryWaitMax = 2 * time.Second
	c.HTTPClient.Timeout = 30 * time.Second
	c.ErrorHandler = func(resp *http.Response, err error, tries int) (*http.Response, error) {
		if resp != nil {
			resp.Body.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("giving up after %d attempt(s): %w", tries, err)
		}
		if resp != nil {
			return nil, fmt.Errorf("HTTP %s, giving up after %d attempt(s)", resp.Status, tries)
		}
		return nil, fmt.Errorf("giving up after %d attempt(s)", tries)
	}
	return c
}

// Fetch returns the content of src, from the cache when a verified copy is
// there, else downloaded (with retries), verified and cached. A corrupt cache
// entry is replaced. A checksum mismatch returns *ChecksumError and caches
// nothing.
func (f *Fetcher) Fetch(ctx context.Context, src Source) ([]byte, error) {
	if err := src.Validate(); err != nil {
		return nil, err
	}
	want := strings.ToLower(src.SHA256)
	var cachePath string
	if f.CacheDir != "" {
		cachePath = filepath.Join(f.CacheDir, want)
		if data, err := os.ReadFile(cachePath); err == nil && sum(data) == want {
			return data, nil
		}
		// Missing, unreadable or corrupt: download and overwrite.
	}

	data, err := f.download(ctx, src.URL)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("download nixos-infect from %s: %w", src.URL, err)
		}
		return nil, &DownloadError{URL: src.URL, CacheDir: f.CacheDir, SHA256: want, Err: err}
	}
	if got := sum(data); got != want {
		return nil, &ChecksumError{URL: src.URL, Want: want, Got: got}
	}
	if cachePath != "" {
		if err := os.MkdirAll(f.CacheDir, 0o755); err != nil {
			return nil, fmt.Errorf("cache nixos-infect in %s: %w", f.CacheDir, err)
		}
		if err := workspace.WriteFileAtomic(cachePath, data, 0o644); err != nil {
			return nil, fmt.Errorf("cache nixos-infect in %s: %w", f.CacheDir, err)
		}
	}
	return data, nil
}

func (f *Fetcher) download(ctx context.Context, rawURL string) ([]byte, error) {
	client := f.HTTP
	if client == nil {
		client = NewHTTPClient()
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // "context canceled", not "giving up after 1 attempt"
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("unexpected HTTP status %s", resp.Status)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, MaxScriptSize+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if n > MaxScriptSize {
		return nil, fmt.Errorf("response is larger than %d bytes", MaxScriptSize)
	}
	return buf.Bytes(), nil
}

func sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}
