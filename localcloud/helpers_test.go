package localcloud

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"

	"github.com/scaleway/scaleway-sdk-go/scw"
)

type netipAddrT = netip.Addr

func netipAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func equal[T comparable](a, b []T) bool { return slices.Equal(a, b) }

func isNotFound(err error, resource string) bool {
	var nf *scw.ResourceNotFoundError
	return errors.As(err, &nf) && nf.Resource == resource
}

func isStatus(err error, code int) bool {
	var re *scw.ResponseError
	return errors.As(err, &re) && re.StatusCode == code
}

func isPrecondition(err error) bool {
	var pf *scw.PreconditionFailedError
	return errors.As(err, &pf) && pf.Precondition == "resource_still_in_use"
}

func isInvalidArgument(err error, argument string) bool {
	var ia *scw.InvalidArgumentsError
	if !errors.As(err, &ia) {
		return false
	}
	for _, d := range ia.Details {
		if d.ArgumentName == argument {
			return true
		}
	}
	return false
}

// recordingMachines reports each boot and counts stops.
type recordingMachines struct {
	booted  chan ServerInfo
	stopped atomic.Int32
}

func (r *recordingMachines) Boot(_ context.Context, info ServerInfo) (Machine, error) {
	r.booted <- info
	return stopCounter{&r.stopped}, nil
}

type stopCounter struct{ n *atomic.Int32 }

func (s stopCounter) Stop() error {
	s.n.Add(1)
	return nil
}
