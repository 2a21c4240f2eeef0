package e2e

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"bootstrap/e2e/vmtest"
)

// The VMs run under TCG on the machine's cores, so the VM tests take turns:
// BOOTSTRAP_E2E_VMS of them run at once (default 3, for 2 cores). A test
// holds one slot however many VMs it boots, since its VMs are busy one at a
// time (a clone's target boots while its source idles, push bootstraps its
// two hosts in turn). make e2e runs with a high -parallel, so tests that
// mostly wait (the API fault matrix, the Scaleway tests without a VM) never
// hold a VM test's place.
var vmSlots = func() chan struct{} {
	n, err := strconv.Atoi(os.Getenv("BOOTSTRAP_E2E_VMS"))
	if err != nil || n < 1 {
		n = 3
	}
	return make(chan struct{}, n)
}()

// longestFirst are the longest VM tests, longest first. The slots are
// granted in the order asked for, and these ask first, so the
// suite does not end waiting on one long test started last.
var longestFirst = []string{
	"TestClonePinsTheSourceRevision",
	"TestScalewayToNixOSThrough429sThenDestroy",
	"TestCloneWithSecrets",
	"TestPushGenerationsRollback",
	"TestSSHEFISeparateBoot",
	"TestFaultMatrixVM",
	"TestSSHBIOSSeparateBoot",
	"TestSSHInfectFailsThenInterruptThenRebootThenRerun",
}

// parallelVMs is t.Parallel for a test that boots VMs: it skips without
// qemu (vmtest.Require), then waits for its slot.
func parallelVMs(t *testing.T) {
	t.Helper()
	vmtest.Require(t)
	t.Parallel()
	rank := slices.Index(longestFirst, t.Name())
	if rank < 0 {
		rank = len(longestFirst)
	}
	time.Sleep(time.Duration(rank) * 200 * time.Millisecond)
	vmSlots <- struct{}{} // blocked senders are served in turn
	t.Cleanup(func() { <-vmSlots })
}
