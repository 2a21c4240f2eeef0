package e2e

import (
	"context"
	"testing"
	"time"

	"bootstrap/e2e/vmtest"
)

// BenchmarkSSHOverhead bootstraps a fresh VM per iteration and reports how
// the wall time splits: the host's share (remote commands, the reboot) and
// the tool's own overhead (everything else: dials, handshakes, rendering,
// state writes). Run it with bench/overhead.
func BenchmarkSSHOverhead(b *testing.B) {
	vmtest.Require(b)
	var wall, remote, reboot, overhead, handshakes float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := bootHosts(b, layout{memoryMB: bigVM}, addrBench)[0]
		e := newEnv(b)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		b.StartTimer()
		r := e.run(ctx, append(h.sshArgs("nixos-24.11", "--name", "bench-1"), noSwap...)...)
		b.StopTimer()
		cancel()
		if r.code != 0 {
			b.Fatalf("bootstrap ssh: %s", r)
		}
		lr := e.record("bench-1").LastRun
		if lr == nil {
			b.Fatal("state.json has no last_run timing")
		}
		wall += lr.WallSeconds
		remote += lr.RemoteSeconds
		reboot += lr.RebootSeconds
		overhead += lr.OverheadSeconds
		handshakes += float64(lr.Handshakes)
		h.vm.Stop()
	}
	n := float64(b.N)
	b.ReportMetric(wall/n, "wall-s/op")
	b.ReportMetric(remote/n, "remote-s/op")
	b.ReportMetric(reboot/n, "reboot-s/op")
	b.ReportMetric(overhead/n, "overhead-s/op")
	b.ReportMetric(handshakes/n, "handshakes/op")
}
