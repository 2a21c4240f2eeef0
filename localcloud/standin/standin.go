// Package standin serves a stand-in for nixos-infect to the local cloud's demo and to the end-to-end tests.
//
// The real nixos-infect needs the internet (Nix installer, channel, binary cache). The stand-in
// (the embedded file nixos-infect; its header documents the details) keeps the real script's
// interface and visible effects: it stages /etc/NIXOS and /etc/NIXOS_LUSTRATE, records the
// channel, installs text-only nix-channel, nixos-version and nixos-generate-config, and on the
// next boot makes the host report NixOS, with root's SSH keys taken from /etc/nixos/*.nix and only
// the rsa and ed25519 host keys offered. Markers in the NIXOS_IMPORT file steer it in tests:
//
//	bootstrap-standin: fail                 exit 1 early, system unchanged
//	bootstrap-standin: sleep=N              sleep N seconds midway
//	bootstrap-standin: no-ssh-after-reboot  sshd stays off after the next boot
//
// It imports nothing of this module.
package standin

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strconv"
)

//go:embed nixos-infect
var script []byte

// Markers understood by the stand-in; put them (e.g. as Nix comments) into the NIXOS_IMPORT file.
const (
	MarkerFail             = "# bootstrap-standin: fail"
	MarkerNoSSHAfterReboot = "# bootstrap-standin: no-ssh-after-reboot"
)

// MarkerSleep returns the marker that makes the stand-in sleep secs seconds midway.
func MarkerSleep(secs int) string {
	return "# bootstrap-standin: sleep=" + strconv.Itoa(secs)
}

// Path is where the servers below serve the script.
const Path = "/nixos-infect"

// Script returns a copy of the stand-in script.
func Script() []byte { return append([]byte(nil), script...) }

// SHA256 is the lowercase hex SHA-256 of Script().
func SHA256() string {
	sum := sha256.Sum256(script)
	return hex.EncodeToString(sum[:])
}

// NewServer serves the script at Path on 127.0.0.1 (for callers without a testing.TB, such as
// a demo). It returns the server (the caller closes it), the script's URL and its SHA-256.
func NewServer() (*httptest.Server, string, string) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+Path, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/x-shellscript")
		w.Write(script) //nolint:errcheck // the client sees a short body
	})
	srv := httptest.NewServer(mux)
	return srv, srv.URL + Path, SHA256()
}
