package e2e

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"bootstrap/e2e/vmtest"
)

// The VMs run under TCG on the machine's cores, so they take turns: a VM
// test holds one slot per VM it boots for as long as it runs. make e2e runs
// with a high -parallel, so tests that mostly wait (the API fault matrix,
// the Scaleway tests without a VM) never hold a VM test's place.
// BOOTSTRAP_E2E_VMS sets how many VMs run at once (default 3, sized for
// 2 cores: most of a VM test's time is spent waiting on one VM or another).
var vmCapacity, vmSlots = func() (int64, *semaphore.Weighted) {
	n, err := strconv.ParseInt(os.Getenv("BOOTSTRAP_E2E_VMS"), 10, 64)
	if err != nil || n < 1 {
		n = 3
	}
	return n, semaphore.NewWeighted(n)
}()

// longestFirst are the longest VM tests, longest first. The slots are
// granted in the order asked for (FIFO), and these ask first, so the
// suite does not end waiting on one long test started last.
var longestFirst = []string{
	"TestClonePinsTheSourceRevision",
	"TestScalewayToNixOSThrough429sThenDestroy",
	"TestCloneWithSecrets",
	"TestPushGenerationsRollback",
	"TestSSHEFISeparateBoot",
	"TestFaultMatrixVM",
	"TestSSHBIOSSeparateBoot",
	"TestStatusCheckFindsDrift",
	"TestSSHInfectFailsThenInterruptThenRebootThenRerun",
}

// parallelVMs is t.Parallel for a test that boots vms VMs: it skips
// without qemu (vmtest.Require), then waits for its slots.
func parallelVMs(t *testing.T, vms int64) {
	t.Helper()
	vmtest.Require(t)
	t.Parallel()
	vms = min(vms, vmCapacity)
	rank := slices.Index(longestFirst, t.Name())
	if rank < 0 {
		rank = len(longestFirst)
	}
	time.Sleep(time.Duration(rank) * 200 * time.Millisecond)
	if err := vmSlots.Acquire(context.Background(), vms); err != nil {
		t.Fatalf("wait for %d VM slots: %v", vms, err)
	}
	t.Cleanup(func() { vmSlots.Release(vms) })
}
