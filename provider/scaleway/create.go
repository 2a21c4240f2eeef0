package scaleway

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// createAttempts bounds how often a create is sent when its outcome stays
// unknown (each time after checking by tags that it did not happen).
const createAttempts = 3

// Create creates the instance, or resumes a create whose ids are in res:
//
//  1. resolve the SBS image for the commercial type (after Validate);
//  2. reserve a routed flexible IPv4 tagged for the host, then save;
//  3. create the server on that IP (no dynamic IP) with the same tags and
//     the deploy key as an AUTHORIZED_KEY tag, then save its id and its SBS
//     root volume;
//  4. set the "cloud-init" user data (CloudConfig) while it is stopped;
//  5. power it on and wait for "running", then save its IPv4 address.
//
// A step whose id is already in res is not repeated; the resource is checked
// to still exist, and one deleted behind our back is an error telling to run
// destroy. Before creating, the IP and the server are looked up by their
// tags, so that what an interrupted run created without recording is adopted
// instead of duplicated. save is called with res each time it changes. Once
// something exists, errors are *PartialError.
func (p *Provider) Create(ctx context.Context, spec Spec, res *Resources, save func(*Resources) error) error {
	spec.CommercialType = strings.ToUpper(spec.CommercialType)
	if res.Zone != "" && res.Zone != spec.Zone {
		return fmt.Errorf("the workspace records %s, not in %s: destroy it first or keep the zone", res, spec.Zone)
	}
	fail := func(step string, err error) error {
		if res.Empty() {
			return fmt.Errorf("%s: %w", step, err)
		}
		r := *res
		r.VolumeIDs = slices.Clone(res.VolumeIDs)
		return &PartialError{Step: step, Resources: r, Err: err}
	}
	record := func() error {
		if err := save(res); err != nil {
			return fmt.Errorf("save %s: %w", res, err)
		}
		return nil
	}

	p.logf("checking %s and image %s in %s", spec.CommercialType, spec.ImageLabel, spec.Zone)
	img, err := p.validate(ctx, spec)
	if err != nil {
		if res.Empty() {
			return err
		}
		return fail("validate", err)
	}
	res.Zone = spec.Zone

	if err := p.ensureIP(ctx, spec, res, record); err != nil {
		return fail("flexible IP", err)
	}
	srv, err := p.ensureServer(ctx, spec, img, res, record)
	if err != nil {
		return fail("server", err)
	}
	userData, err := CloudConfig(spec.Name, spec.DeployKey, spec.HostKey)
	if err != nil {
		return fail("cloud-init user data", err)
	}
	switch srv.State {
	case instance.ServerStateStopped:
		// A previous run may have set it already; other user data means
		// another host key than the one the workspace pins.
		if err := p.checkUserData(ctx, srv, userData, true); err != nil {
			return fail("resume", err)
		}
		p.logf("setting cloud-init user data on server %s", srv.ID)
		if err := p.instance.SetServerUserData(&instance.SetServerUserDataRequest{
			Zone: srv.Zone, ServerID: srv.ID, Key: "cloud-init", Content: bytes.NewReader(userData),
		}, scw.WithContext(ctx)); err != nil {
			return fail("set cloud-init user data", err)
		}
		p.logf("powering on server %s", srv.ID)
		if err := p.powerOn(ctx, srv); err != nil {
			return fail("power on", err)
		}
	case instance.ServerStateStarting, instance.ServerStateRunning:
		// Resumed after poweron: it must have booted with this host key.
		if err := p.checkUserData(ctx, srv, userData, false); err != nil {
			return fail("resume", err)
		}
	default:
		return fail("resume", fmt.Errorf("server %s is %q: wait for it to settle, or destroy it", srv.ID, srv.State))
	}

	srv, err = p.waitRunning(ctx, srv)
	if err != nil {
		return fail("wait for server to run", err)
	}
	addr := publicIPv4(srv)
	if addr == "" {
		return fail("read address", fmt.Errorf("server %s runs without a public IPv4", srv.ID))
	}
	res.IPAddress = addr
	if err := record(); err != nil {
		return fail("record address", err)
	}
	p.logf("server %s is running at %s", srv.ID, addr)
	return nil
}

// ensureIP checks the recorded flexible IP, or adopts or creates one.
func (p *Provider) ensureIP(ctx context.Context, spec Spec, res *Resources, record func() error) error {
	zone := scw.Zone(spec.Zone)
	if res.IPID != "" {
		resp, err := p.instance.GetIP(&instance.GetIPRequest{Zone: zone, IP: res.IPID}, scw.WithContext(ctx))
		if isNotFound(err) {
			return fmt.Errorf("flexible IP %s recorded for %s no longer exists: run destroy, then create again", res.IPID, spec.Name)
		}
		if err != nil {
			return fmt.Errorf("get flexible IP %s: %w", res.IPID, err)
		}
		res.IPAddress = resp.IP.Address.String()
		return nil
	}
	tags := identityTags(spec.WorkspaceID, spec.Name)
	req := &instance.CreateIPRequest{Zone: zone, Type: instance.IPTypeRoutedIPv4, Tags: tags}
	if spec.ProjectID != "" {
		req.Project = &spec.ProjectID
	}
	inFlight, err := p.intend(res, pendingIP, record)
	if err != nil {
		return err
	}
	ip, err := createOnce(ctx, p, "flexible IP", inFlight,
		func() ([]*instance.IP, error) { return p.listIPs(ctx, zone, tags) },
		func() (*instance.IP, error) {
			resp, err := p.instance.CreateIP(req, scw.WithContext(ctx))
			if err != nil {
				return nil, err
			}
			return resp.IP, nil
		},
		func(ip *instance.IP) string { return ip.ID })
	if err != nil {
		return err
	}
	res.IPID, res.IPAddress, res.Pending = ip.ID, ip.Address.String(), ""
	p.logf("flexible IP %s (%s)", res.IPAddress, res.IPID)
	return record()
}

// ensureServer checks the recorded server, or adopts or creates one, and
// records its SBS volumes.
func (p *Provider) ensureServer(ctx context.Context, spec Spec, img *marketplace.LocalImage, res *Resources, record func() error) (*instance.Server, error) {
	zone := scw.Zone(spec.Zone)
	var srv *instance.Server
	changed := false
	if res.ServerID != "" {
		resp, err := p.instance.GetServer(&instance.GetServerRequest{Zone: zone, ServerID: res.ServerID}, scw.WithContext(ctx))
		if isNotFound(err) {
			return nil, fmt.Errorf("server %s recorded for %s no longer exists: run destroy, then create again", res.ServerID, spec.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("get server %s: %w", res.ServerID, err)
		}
		srv = resp.Server
	} else {
		tags := identityTags(spec.WorkspaceID, spec.Name)
		req := &instance.CreateServerRequest{
			Zone:              zone,
			Name:              spec.Name,
			CommercialType:    spec.CommercialType,
			Image:             &img.ID, // an id: the SDK does not resolve it again
			PublicIPs:         &[]string{res.IPID},
			DynamicIPRequired: scw.BoolPtr(false),
			Tags:              append(tags, authorizedKeyTag(spec.DeployKey)),
		}
		if spec.ProjectID != "" {
			req.Project = &spec.ProjectID
		}
		inFlight, err := p.intend(res, pendingServer, record)
		if err != nil {
			return nil, err
		}
		srv, err = createOnce(ctx, p, "server "+spec.Name, inFlight,
			func() ([]*instance.Server, error) { return p.listServers(ctx, zone, tags) },
			func() (*instance.Server, error) {
				resp, err := p.instance.CreateServer(req, scw.WithContext(ctx))
				if err != nil {
					return nil, err
				}
				return resp.Server, nil
			},
			func(s *instance.Server) string { return s.ID })
		if err != nil {
			return nil, err
		}
		res.ServerID, res.Pending = srv.ID, ""
		changed = true
		p.logf("server %s (%s)", srv.Name, srv.ID)
	}
	for _, id := range sbsVolumes(srv) {
		if !slices.Contains(res.VolumeIDs, id) {
			res.VolumeIDs = append(res.VolumeIDs, id)
			changed = true
			p.logf("SBS root volume %s", id)
		}
	}
	if changed { // the server id and its root volume, together
		if err := record(); err != nil {
			return nil, err
		}
	}
	if !usesIP(srv, res.IPID) {
		return nil, fmt.Errorf("server %s does not use flexible IP %s: destroy both and create again", srv.ID, res.IPID)
	}
	return srv, nil
}

// What Resources.Pending names.
const (
	pendingIP     = "ip"
	pendingServer = "server"
)

// intend records, before a create is sent, that it is in flight; it
// reports whether an earlier run had recorded the same create (killed
// with it in flight: the resource may exist, and the API's lists may not
// show it yet).
func (p *Provider) intend(res *Resources, what string, record func() error) (inFlight bool, err error) {
	inFlight = res.Pending == what
	res.Pending = what
	return inFlight, record()
}

// createOnce makes sure at most one resource tagged for the host exists. It
// first adopts a resource found by its tags (created by a run that could not
// record it; when that run was killed with the create in flight, inFlight,
// the lookup goes on for AdoptWait, as the API's lists lag behind its
// creates). A create refused by the API (4xx) fails at once; a create whose
// outcome is unknown (5xx, lost answer, timeout: the retrying client never
// repeats those POSTs) is looked up by its tags for AdoptWait, with
// backoff, since the API may carry it out after answering and list it
// later still; only if it never shows up is it sent again, at most
// createAttempts times.
func createOnce[T any](ctx context.Context, p *Provider, what string, inFlight bool, find func() ([]T, error), create func() (T, error), id func(T) string) (T, error) {
	var zero T
	adopt := func() (T, bool, error) {
		found, err := find()
		if err != nil {
			return zero, false, err
		}
		switch len(found) {
		case 0:
			return zero, false, nil
		case 1:
			p.logf("adopting %s %s found by its tags", what, id(found[0]))
			return found[0], true, nil
		}
		ids := make([]string, 0, len(found))
		for _, f := range found {
			ids = append(ids, id(f))
		}
		return zero, false, fmt.Errorf("several %ss are tagged for this host (%s): bootstrap destroy deletes them all", what, strings.Join(ids, ", "))
	}
	// adoptWaiting looks the resource up until AdoptWait has passed.
	adoptWaiting := func() (T, bool, error) {
		poll := p.newPoller()
		for {
			v, ok, err := adopt()
			if err != nil || ok {
				return v, ok, err
			}
			if time.Since(poll.start) >= p.adoptWait() {
				return zero, false, nil
			}
			if err := poll.wait(ctx); err != nil {
				return zero, false, err
			}
		}
	}
	lookup := adopt
	if inFlight {
		p.logf("a create of %s was in flight when an earlier run stopped: looking it up by its tags for up to %v", what, p.adoptWait())
		lookup = adoptWaiting
	}
	if v, ok, err := lookup(); err != nil || ok {
		return v, err
	}
	for attempt := 1; ; attempt++ {
		p.logf("creating %s", what)
		v, err := create()
		if err == nil {
			return v, nil
		}
		if rejected(err) {
			return zero, fmt.Errorf("create %s: %w", what, err)
		}
		if ctx.Err() != nil || attempt == createAttempts {
			return zero, fmt.Errorf("create %s: %w (it may exist anyway: rerun to adopt it, or destroy)", what, err)
		}
		p.logf("create %s: %v; looking it up by its tags for up to %v", what, err, p.adoptWait())
		v, ok, ferr := adoptWaiting()
		if ferr != nil {
			return zero, fmt.Errorf("create %s: %w; then %w (it may exist anyway: rerun to adopt it, or destroy)", what, err, ferr)
		}
		if ok {
			return v, nil
		}
	}
}

func (p *Provider) adoptWait() time.Duration {
	if p.AdoptWait <= 0 {
		return 20 * time.Second
	}
	return p.AdoptWait
}

// DeleteUserData deletes the server's "cloud-init" user data; already gone
// (a 404: a bare one from the real API, see localcloud's userdata.go) is
// fine. DELETE is idempotent, so the retrying client repeats it through
// 429 and 5xx.
func (p *Provider) DeleteUserData(ctx context.Context, zone, serverID string) error {
	err := p.instance.DeleteServerUserData(&instance.DeleteServerUserDataRequest{
		Zone: scw.Zone(zone), ServerID: serverID, Key: "cloud-init",
	}, scw.WithContext(ctx))
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete cloud-init user data of server %s: %w", serverID, err)
	}
	p.logf("deleted the cloud-init user data of server %s", serverID)
	return nil
}

// powerOn sends poweron. The action is a POST the client does not repeat,
// so after a failure the state tells whether it was carried out.
func (p *Provider) powerOn(ctx context.Context, srv *instance.Server) error {
	poll := p.newPoller()
	for attempt := 1; ; attempt++ {
		_, err := p.instance.ServerAction(&instance.ServerActionRequest{
			Zone: srv.Zone, ServerID: srv.ID, Action: instance.ServerActionPoweron,
		}, scw.WithContext(ctx))
		if err == nil {
			return nil
		}
		resp, gerr := p.instance.GetServer(&instance.GetServerRequest{Zone: srv.Zone, ServerID: srv.ID}, scw.WithContext(ctx))
		if gerr == nil && (resp.Server.State == instance.ServerStateStarting || resp.Server.State == instance.ServerStateRunning) {
			return nil
		}
		if rejected(err) || ctx.Err() != nil || attempt == createAttempts {
			return fmt.Errorf("power on server %s: %w", srv.ID, err)
		}
		p.logf("power on server %s: %v; trying again", srv.ID, err)
		if werr := poll.wait(ctx); werr != nil {
			return fmt.Errorf("power on server %s: %w", srv.ID, err)
		}
	}
}

// checkUserData verifies that the server's cloud-init user data is what
// this spec would set (same deploy key, same host key); none at all is fine
// if allowMissing.
func (p *Provider) checkUserData(ctx context.Context, srv *instance.Server, want []byte, allowMissing bool) error {
	got, err := p.instance.GetServerUserData(&instance.GetServerUserDataRequest{
		Zone: srv.Zone, ServerID: srv.ID, Key: "cloud-init",
	}, scw.WithContext(ctx))
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("read cloud-init user data of server %s: %w", srv.ID, err)
	}
	if got == nil && allowMissing {
		return nil
	}
	var have []byte
	if got != nil {
		buf := new(bytes.Buffer)
		if _, err := buf.ReadFrom(got); err != nil {
			return fmt.Errorf("read cloud-init user data of server %s: %w", srv.ID, err)
		}
		have = buf.Bytes()
	}
	if !sameCloudConfig(have, want) {
		return fmt.Errorf("server %s has other cloud-init user data (not this host key): destroy it and create again", srv.ID)
	}
	return nil
}

// waitRunning polls the server until it is "running". It does not use the
// SDK's WaitForServer, which returns on any settled state and gives up on
// the first HTTP error: here rate limits, 5xx and transport errors are
// polled through, and "stopped" (after it was seen starting, or after
// StoppedGrace), "locked" or "stopping" are failures.
func (p *Provider) waitRunning(ctx context.Context, srv *instance.Server) (*instance.Server, error) {
	poll := p.newPoller()
	grace := p.StoppedGrace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	last := fmt.Sprintf("%q", srv.State)
	seenStarting := false
	p.logf("waiting for server %s to run", srv.ID)
	for {
		resp, err := p.instance.GetServer(&instance.GetServerRequest{Zone: srv.Zone, ServerID: srv.ID}, scw.WithContext(ctx))
		switch {
		case err == nil:
			s := resp.Server
			last = fmt.Sprintf("%q", s.State)
			if s.StateDetail != "" {
				last += " (" + s.StateDetail + ")"
			}
			switch s.State {
			case instance.ServerStateRunning:
				return s, nil
			case instance.ServerStateStarting:
				seenStarting = true
			case instance.ServerStateStopped:
				if seenStarting || poll.elapsed() > grace {
					return nil, fmt.Errorf("server %s stopped instead of booting: %s", s.ID, last)
				}
			case instance.ServerStateLocked:
				return nil, fmt.Errorf("server %s is locked by Scaleway (contact their support): %s", s.ID, last)
			default:
				return nil, fmt.Errorf("server %s went %s while booting", s.ID, last)
			}
		case isNotFound(err):
			return nil, fmt.Errorf("server %s was deleted while booting", srv.ID)
		case !transient(ctx, err):
			if ctx.Err() != nil {
				return nil, fmt.Errorf("server %s still %s after %v: %w", srv.ID, last, poll.elapsed(), ctx.Err())
			}
			return nil, fmt.Errorf("get server %s: %w", srv.ID, err)
		default:
			p.logf("get server %s: %v (polling on)", srv.ID, err)
		}
		if err := poll.wait(ctx); err != nil {
			return nil, fmt.Errorf("server %s still %s after %v: %w", srv.ID, last, poll.elapsed(), err)
		}
	}
}

func usesIP(s *instance.Server, ipID string) bool {
	for _, ip := range s.PublicIPs {
		if ip != nil && ip.ID == ipID {
			return true
		}
	}
	return false
}

// publicIPv4 returns the server's first public IPv4 (family "inet").
func publicIPv4(s *instance.Server) string {
	for _, ip := range s.PublicIPs {
		if ip != nil && ip.Family == instance.ServerIPIPFamilyInet && ip.Address != nil {
			return ip.Address.String()
		}
	}
	return ""
}
