package cmd

import (
	"os"
	"testing"
)

// TestMain sends any HTTP(S) request the tests would make to a host other
// than loopback to a loopback port where nothing listens (Go never proxies
// loopback): a row that reached the pinned nixos-infect URL fails at once
// and nothing leaves the machine.
func TestMain(m *testing.M) {
	os.Setenv("HTTPS_PROXY", "http://127.0.0.1:9")
	os.Setenv("HTTP_PROXY", "http://127.0.0.1:9")
	os.Exit(m.Run())
}
