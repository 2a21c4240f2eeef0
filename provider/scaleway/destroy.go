package scaleway

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	block "github.com/scaleway/scaleway-sdk-go/api/block/v1alpha1"
	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// maxRefusals bounds how often destroy accepts an action refused because
// the server's state changed under it.
const maxRefusals = 5

// Destroy deletes what res records; it is idempotent (already gone is
// success) and safe on any partial state:
//
//  1. the server: terminate when running; otherwise power it off, wait for
//     "stopped" and delete it (a server "starting" is waited for first);
//  2. its SBS volumes, which outlive the server: once detached, through the
//     block API;
//  3. the flexible IP.
//
// It records nothing itself: call Find and merge its result first to also
// remove what an interrupted create made but could not record. On error the
// message lists what is still there.
func (p *Provider) Destroy(ctx context.Context, res Resources) error {
	if res.Empty() {
		return nil
	}
	if res.Zone == "" {
		return fmt.Errorf("cannot destroy %s: no zone recorded", res)
	}
	zone := scw.Zone(res.Zone)
	left := res
	left.VolumeIDs = slices.Clone(res.VolumeIDs)

	if res.ServerID != "" {
		volumes, err := p.destroyServer(ctx, zone, res.ServerID)
		for _, id := range volumes {
			if !slices.Contains(left.VolumeIDs, id) {
				left.VolumeIDs = append(left.VolumeIDs, id)
			}
		}
		if err != nil {
			return fmt.Errorf("destroy server %s: %w; still there: %s", res.ServerID, err, left)
		}
		left.ServerID = ""
	}
	for _, id := range slices.Clone(left.VolumeIDs) {
		if err := p.deleteVolume(ctx, zone, id, res.ServerID); err != nil {
			return fmt.Errorf("delete SBS volume %s: %w; still there: %s", id, err, left)
		}
		left.VolumeIDs = slices.DeleteFunc(left.VolumeIDs, func(v string) bool { return v == id })
	}
	if res.IPID != "" {
		p.logf("releasing flexible IP %s", res.IPID)
		err := p.instance.DeleteIP(&instance.DeleteIPRequest{Zone: zone, IP: res.IPID}, scw.WithContext(ctx))
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("release flexible IP %s: %w; still there: %s", res.IPID, err, left)
		}
	}
	return nil
}

// destroyServer drives the server to deletion and returns the SBS volumes it
// had.
func (p *Provider) destroyServer(ctx context.Context, zone scw.Zone, id string) ([]string, error) {
	poll := p.newPoller()
	var volumes []string
	sent := map[instance.ServerAction]time.Time{}
	refusals := 0
	last := "unknown"
	// act sends an action unless it was sent recently (the state may lag).
	act := func(a instance.ServerAction) error {
		if t, ok := sent[a]; ok && time.Since(t) < 30*time.Second {
			return nil
		}
		p.logf("server %s: %s", id, a)
		_, err := p.instance.ServerAction(&instance.ServerActionRequest{Zone: zone, ServerID: id, Action: a}, scw.WithContext(ctx))
		carried, err := p.settle(ctx, "server "+id+": "+string(a), err, &refusals)
		if carried {
			sent[a] = time.Now()
		}
		return err
	}
	for {
		resp, err := p.instance.GetServer(&instance.GetServerRequest{Zone: zone, ServerID: id}, scw.WithContext(ctx))
		switch {
		case isNotFound(err):
			p.logf("server %s is gone", id)
			return volumes, nil
		case err != nil && !transient(ctx, err):
			if ctx.Err() != nil {
				return volumes, fmt.Errorf("still %s after %v: %w", last, poll.elapsed(), ctx.Err())
			}
			return volumes, err
		case err == nil:
			s := resp.Server
			for _, v := range sbsVolumes(s) {
				if !slices.Contains(volumes, v) {
					volumes = append(volumes, v)
				}
			}
			last = fmt.Sprintf("%q", s.State)
			var aerr error
			switch s.State {
			case instance.ServerStateRunning:
				aerr = act(instance.ServerActionTerminate)
			case instance.ServerStateStoppedInPlace:
				aerr = act(instance.ServerActionPoweroff)
			case instance.ServerStateStopped:
				p.logf("server %s: delete", id)
				derr := p.instance.DeleteServer(&instance.DeleteServerRequest{Zone: zone, ServerID: id}, scw.WithContext(ctx))
				if derr == nil || isNotFound(derr) {
					p.logf("server %s is gone", id)
					return volumes, nil
				}
				_, aerr = p.settle(ctx, "delete server "+id, derr, &refusals)
			case instance.ServerStateLocked:
				return volumes, fmt.Errorf("server %s is locked by Scaleway (contact their support)", id)
			default: // starting, stopping: wait for it to settle
				p.logf("server %s is %s, waiting", id, s.State)
			}
			if aerr != nil {
				return volumes, aerr
			}
		default:
			p.logf("get server %s: %v (polling on)", id, err)
		}
		if err := poll.wait(ctx); err != nil {
			return volumes, fmt.Errorf("still %s after %v: %w", last, poll.elapsed(), err)
		}
	}
}

// settle classifies the outcome of a request sent while destroying. An
// unknown outcome (5xx, lost answer) may have been carried out: carried is
// true and polling goes on. A refusal (400: the state changed meanwhile)
// goes on polling too, a few times. Anything else is returned.
func (p *Provider) settle(ctx context.Context, what string, err error, refusals *int) (carried bool, _ error) {
	switch {
	case err == nil:
		return true, nil
	case transient(ctx, err):
		p.logf("%s: %v (checking the state)", what, err)
		return true, nil
	case ctx.Err() != nil:
		return false, fmt.Errorf("%s: %w", what, ctx.Err())
	case httpStatus(err) == http.StatusBadRequest && *refusals < maxRefusals:
		*refusals++
		p.logf("%s refused: %v (checking the state)", what, err)
		return false, nil
	default:
		return false, fmt.Errorf("%s: %w", what, err)
	}
}

// deleteVolume waits until the SBS volume is detached (from serverID,
// which is being deleted) and deletes it.
func (p *Provider) deleteVolume(ctx context.Context, zone scw.Zone, id, serverID string) error {
	poll := p.newPoller()
	last := "unknown"
	for {
		v, err := p.block.GetVolume(&block.GetVolumeRequest{Zone: zone, VolumeID: id}, scw.WithContext(ctx))
		switch {
		case isNotFound(err):
			return nil
		case err != nil && !transient(ctx, err):
			if ctx.Err() != nil {
				return fmt.Errorf("still %s after %v: %w", last, poll.elapsed(), ctx.Err())
			}
			return err
		case err == nil:
			last = fmt.Sprintf("%q", v.Status)
			if other := attachedElsewhere(v, serverID); other != "" {
				return fmt.Errorf("it is attached to %s, which bootstrap did not create: detach it first", other)
			}
			if v.Status != block.VolumeStatusInUse && len(v.References) == 0 {
				p.logf("deleting SBS volume %s", id)
				derr := p.block.DeleteVolume(&block.DeleteVolumeRequest{Zone: zone, VolumeID: id}, scw.WithContext(ctx))
				switch {
				case derr == nil || isNotFound(derr):
					return nil
				case httpStatus(derr) == http.StatusPreconditionFailed || transient(ctx, derr): // still in use, or unknown: look again
					p.logf("delete SBS volume %s: %v (waiting)", id, derr)
				default:
					return derr
				}
			} else {
				p.logf("SBS volume %s is %s, waiting for it to detach", id, v.Status)
			}
		default:
			p.logf("get SBS volume %s: %v (polling on)", id, err)
		}
		if err := poll.wait(ctx); err != nil {
			return fmt.Errorf("still %s after %v: %w", last, poll.elapsed(), err)
		}
	}
}

// attachedElsewhere names the resource the volume is attached to if it is not
// serverID (a detaching reference to a deleted server does not count).
func attachedElsewhere(v *block.Volume, serverID string) string {
	for _, ref := range v.References {
		if ref == nil || ref.Status == block.ReferenceStatusDetaching || ref.Status == block.ReferenceStatusDetached {
			continue
		}
		if ref.ProductResourceID != serverID {
			return ref.ProductResourceType + " " + ref.ProductResourceID
		}
	}
	return ""
}
