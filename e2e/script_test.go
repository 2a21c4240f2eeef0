package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"bootstrap/infect"
)

// The real nixos-infect, exactly as the tool pins it, is looked for in this order: the tool's
// own script cache (keyed by sha256), the shared fixture next to the project, then the pinned
// URL when online. Its sha256 must be the pin's.
var (
	scriptOnce  sync.Once
	script      []byte
	scriptFrom  string
	scriptError error
)

// fixtureDir is the shared fixture folder, from this package's directory (e2e/ of the project).
const fixtureDir = "../../shared/fixtures/nixos-infect"

func realScript(t testing.TB) []byte {
	t.Helper()
	scriptOnce.Do(func() { script, scriptFrom, scriptError = findScript() })
	if scriptError != nil {
		if os.Getenv("BOOTSTRAP_E2E_REQUIRE") == "1" {
			t.Fatalf("BOOTSTRAP_E2E_REQUIRE=1 but the real nixos-infect is not available: %v", scriptError)
		}
		t.Skipf("the real nixos-infect is not available (set BOOTSTRAP_E2E_REQUIRE=1 to fail instead): %v", scriptError)
	}
	return script
}

func findScript() ([]byte, string, error) {
	want := infect.Pinned.SHA256
	check := func(b []byte) bool {
		sum := sha256.Sum256(b)
		return hex.EncodeToString(sum[:]) == want
	}
	var tried []string
	if dir, err := os.UserCacheDir(); err == nil {
		p := filepath.Join(dir, "bootstrap", "nixos-infect", want)
		if b, err := os.ReadFile(p); err == nil && check(b) {
			return b, p, nil
		}
		tried = append(tried, p)
	}
	// The pinned URL ends in COMMIT/nixos-infect; the fixture is named nixos-infect-COMMIT.
	commit := path.Base(path.Dir(infect.Pinned.URL))
	p := filepath.Join(fixtureDir, "nixos-infect-"+commit)
	if b, err := os.ReadFile(p); err == nil {
		if !check(b) {
			return nil, "", fmt.Errorf("%s does not have the pinned sha256 %s", p, want)
		}
		return b, p, nil
	}
	tried = append(tried, p)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := infect.Fetcher{}
	b, err := f.Fetch(ctx, infect.Pinned)
	if err == nil {
		return b, infect.Pinned.URL, nil
	}
	tried = append(tried, infect.Pinned.URL+" ("+err.Error()+")")
	return nil, "", errors.New("not found in " + fmt.Sprint(tried))
}

// seedScriptCache puts the real script where the tool's cache has it in the operator home
// home, so the tool runs its own pinned source and contacts nothing to fetch it.
func seedScriptCache(t testing.TB, home string) {
	t.Helper()
	b := realScript(t)
	dir := filepath.Join(home, ".cache", "bootstrap", "nixos-infect")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, infect.Pinned.SHA256), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRealScriptIsThePin checks the script the suite runs: the pinned bytes, from where.
func TestRealScriptIsThePin(t *testing.T) {
	b := realScript(t)
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != infect.Pinned.SHA256 {
		t.Fatalf("got sha256 %s, want the pin %s", got, infect.Pinned.SHA256)
	}
	t.Logf("the real nixos-infect (%d bytes) from %s", len(b), scriptFrom)
}
