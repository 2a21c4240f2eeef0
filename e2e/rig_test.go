package e2e

import (
	"net"
	"net/http"
	"testing"
	"time"

	"bootstrap/localcloud/nixorg"
	"bootstrap/localcloud/qemu"
)

// rig is one test's nixos.org stand-in, served on 127.0.0.1 and forwarded into its VMs.
type rig struct {
	*nixorg.Server
	fwd qemu.Forward
}

// installURL is the stand-in installer as a guest reaches it (--infect-env NIX_INSTALL_URL).
const installURL = nixorg.GuestURL + "/nix/install"

func newRig(t testing.TB) *rig {
	t.Helper()
	s := nixorg.New(&nixorg.Evaluator{}, time.Now())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	return &rig{Server: s, fwd: qemu.Forward{Guest: nixorg.GuestAddr, Host: l.Addr().String()}}
}

// builtWith lists the Nix versions the guests built systems with.
func (r *rig) builtWith() []string {
	var out []string
	for _, q := range r.Requests() {
		if q.Path == "/build" && q.Status == http.StatusOK {
			out = append(out, q.NixVersion)
		}
	}
	return out
}
