package scaleway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	block "github.com/scaleway/scaleway-sdk-go/api/block/v1alpha1"
	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// maxRefusals bounds how often destroy accepts an action refused because
// the server's state changed under it.
const maxRefusals = 5

// Doomed is what a destroy deletes in one zone: what a record holds, and
// everything that carries the host's tags (duplicates included).
type Doomed struct {
	Zone      string
	ServerIDs []string
	VolumeIDs []string
	IPIDs     []string
	addresses map[string]string // IP id -> address, for messages
}

// Doomed is what res records.
func (r Resources) Doomed() Doomed {
	d := Doomed{Zone: r.Zone}
	d.addServer(r.ServerID, r.VolumeIDs...)
	d.addIP(r.IPID, r.IPAddress)
	return d
}

// Add adds what was found by tags.
func (d *Doomed) Add(t Tagged) {
	if d.Zone == "" {
		d.Zone = t.Zone
	}
	for _, s := range t.Servers {
		d.addServer(s.ID, sbsVolumes(s)...)
	}
	for _, ip := range t.IPs {
		d.addIP(ip.ID, ip.Address.String())
	}
}

func (d *Doomed) addServer(id string, volumes ...string) {
	if id != "" && !slices.Contains(d.ServerIDs, id) {
		d.ServerIDs = append(d.ServerIDs, id)
	}
	for _, v := range volumes {
		if v != "" && !slices.Contains(d.VolumeIDs, v) {
			d.VolumeIDs = append(d.VolumeIDs, v)
		}
	}
}

func (d *Doomed) addIP(id, addr string) {
	if id == "" {
		return
	}
	if !slices.Contains(d.IPIDs, id) {
		d.IPIDs = append(d.IPIDs, id)
	}
	if addr != "" && addr != "<nil>" {
		if d.addresses == nil {
			d.addresses = map[string]string{}
		}
		d.addresses[id] = addr
	}
}

// Empty reports whether there is nothing to delete.
func (d Doomed) Empty() bool {
	return len(d.ServerIDs) == 0 && len(d.VolumeIDs) == 0 && len(d.IPIDs) == 0
}

// String lists the resources, as "server X, SBS volume Y, flexible IP A (Z) in ZONE".
func (d Doomed) String() string {
	var parts []string
	for _, id := range d.ServerIDs {
		parts = append(parts, "server "+id)
	}
	for _, id := range d.VolumeIDs {
		parts = append(parts, "SBS volume "+id)
	}
	for _, id := range d.IPIDs {
		if a := d.addresses[id]; a != "" {
			parts = append(parts, fmt.Sprintf("flexible IP %s (%s)", a, id))
		} else {
			parts = append(parts, "flexible IP "+id)
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ") + " in " + d.Zone
}

// Destroy deletes what res records; see DestroyAll.
func (p *Provider) Destroy(ctx context.Context, res Resources) error {
	return p.DestroyAll(ctx, res.Doomed())
}

// DestroyAll deletes everything in d; it is idempotent (already gone is
// success) and safe on any partial state:
//
//  1. each server: terminate when running; otherwise power it off, wait
//     for "stopped" and delete it (a server "starting" is waited for first);
//  2. the SBS volumes, which outlive their server: once detached, through
//     the block API;
//  3. the flexible IPs.
//
// Every deletion is attempted, whatever failed before it (the IPs are
// released even when a volume cannot be deleted), and the errors are
// combined. Requests the API refuses because a resource is busy
// (transient_state, precondition_failed/resource_still_in_use, a refused
// action) and its rate limits and 5xx answers are polled through until ctx
// ends. On error the message lists what is still there.
func (p *Provider) DestroyAll(ctx context.Context, d Doomed) error {
	if d.Empty() {
		return nil
	}
	if d.Zone == "" {
		return fmt.Errorf("cannot destroy %s: no zone recorded", d)
	}
	zone := scw.Zone(d.Zone)
	left := Doomed{Zone: d.Zone, addresses: d.addresses}
	var errs []error
	stuck := map[string]string{} // volume -> the server it stays attached to
	for _, id := range d.ServerIDs {
		volumes, err := p.destroyServer(ctx, zone, id)
		d.addServer("", volumes...)
		if err != nil {
			errs = append(errs, fmt.Errorf("destroy server %s: %w", id, err))
			left.addServer(id)
			for _, v := range volumes {
				stuck[v] = id
			}
		}
	}
	for _, id := range d.VolumeIDs {
		if server, ok := stuck[id]; ok {
			errs = append(errs, fmt.Errorf("SBS volume %s stays attached to server %s, which could not be deleted", id, server))
			left.addServer("", id)
			continue
		}
		if err := p.deleteVolume(ctx, zone, id, d.ServerIDs); err != nil {
			errs = append(errs, fmt.Errorf("delete SBS volume %s: %w", id, err))
			left.addServer("", id)
		}
	}
	for _, id := range d.IPIDs {
		if err := p.deleteIP(ctx, zone, id); err != nil {
			errs = append(errs, fmt.Errorf("release flexible IP %s: %w", id, err))
			left.addIP(id, "")
		}
	}
	if len(errs) > 0 {
		return &DestroyError{Left: left, Err: errors.Join(errs...)}
	}
	return nil
}

// DestroyError is a destroy that could not delete everything: Left is
// what is still there (and billed).
type DestroyError struct {
	Left Doomed
	Err  error
}

func (e *DestroyError) Error() string {
	return fmt.Sprintf("%s; still there: %s", strings.ReplaceAll(e.Err.Error(), "\n", "; "), e.Left)
}

func (e *DestroyError) Unwrap() error { return e.Err }

// Billed says what is still there and billed.
func (e *DestroyError) Billed() string { return e.Left.String() }

// deleteIP releases a flexible IP, polling through busy answers. The
// instance API may answer 403 for an IP that is already gone
// (terraform-provider-scaleway's internal/services/instance/ip.go treats
// it so): a 403 counts as gone only when a GET then says 404.
func (p *Provider) deleteIP(ctx context.Context, zone scw.Zone, id string) error {
	poll := p.newPoller()
	p.logf("releasing flexible IP %s", id)
	for {
		err := p.instance.DeleteIP(&instance.DeleteIPRequest{Zone: zone, IP: id}, scw.WithContext(ctx))
		switch {
		case err == nil || isNotFound(err):
			return nil
		case httpStatus(err) == http.StatusForbidden:
			if _, gerr := p.instance.GetIP(&instance.GetIPRequest{Zone: zone, IP: id}, scw.WithContext(ctx)); isNotFound(gerr) {
				return nil
			}
			return err
		case busy(err) || transient(ctx, err):
			p.logf("release flexible IP %s: %v (trying again)", id, err)
		default:
			return err
		}
		if werr := poll.wait(ctx); werr != nil {
			return fmt.Errorf("%w after %v; last answer: %w", werr, poll.elapsed(), err)
		}
	}
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
// true and polling goes on. A resource busy with another change
// (transient_state, resource_still_in_use) goes on polling. A refusal
// (400: the state changed meanwhile) goes on polling too, a few times.
// Anything else is returned.
func (p *Provider) settle(ctx context.Context, what string, err error, refusals *int) (carried bool, _ error) {
	switch {
	case err == nil:
		return true, nil
	case transient(ctx, err):
		p.logf("%s: %v (checking the state)", what, err)
		return true, nil
	case busy(err) && ctx.Err() == nil:
		p.logf("%s: %v (waiting for it to settle)", what, err)
		return false, nil
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

// deleteVolume waits until the SBS volume is detached (from one of
// servers, which are being deleted) and deletes it.
func (p *Provider) deleteVolume(ctx context.Context, zone scw.Zone, id string, servers []string) error {
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
			if other := attachedElsewhere(v, servers); other != "" {
				return fmt.Errorf("it is attached to %s, which bootstrap did not create: detach it first", other)
			}
			if v.Status != block.VolumeStatusInUse && len(v.References) == 0 {
				p.logf("deleting SBS volume %s", id)
				derr := p.block.DeleteVolume(&block.DeleteVolumeRequest{Zone: zone, VolumeID: id}, scw.WithContext(ctx))
				switch {
				case derr == nil || isNotFound(derr):
					return nil
				case busy(derr) || transient(ctx, derr): // still in use, or unknown: look again
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

// attachedElsewhere names the resource the volume is attached to if it is
// none of servers (a detaching reference to a deleted server does not
// count).
func attachedElsewhere(v *block.Volume, servers []string) string {
	for _, ref := range v.References {
		if ref == nil || ref.Status == block.ReferenceStatusDetaching || ref.Status == block.ReferenceStatusDetached {
			continue
		}
		if !slices.Contains(servers, ref.ProductResourceID) {
			return ref.ProductResourceType + " " + ref.ProductResourceID
		}
	}
	return ""
}
