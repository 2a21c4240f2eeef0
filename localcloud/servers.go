package localcloud

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// server is an instance. Its root volume is an SBS volume that outlives it.
type server struct {
	id, name, hostname string
	zone               scw.Zone
	project, org       string
	commercialType     string
	image              *catalogImage
	tags               []string
	dynamicIPRequired  bool
	routedIPEnabled    bool
	mac                string
	created, modified  time.Time
	listed             time.Time // lists show it from then on (Options.ListLag)

	state       instance.ServerState
	stateDetail string
	ipIDs       []string          // attached flexible IPs, in order
	volumeIDs   map[string]string // index ("0" is the root) -> SBS volume id
	userData    map[string][]byte
	machine     Machine // set while running
}

// allowedActions mirrors what the real API lists for each state.
func (s *server) allowedActions() []instance.ServerAction {
	switch s.state {
	case instance.ServerStateStopped:
		return []instance.ServerAction{instance.ServerActionPoweron, instance.ServerActionBackup}
	case instance.ServerStateRunning:
		return []instance.ServerAction{instance.ServerActionPoweroff, instance.ServerActionTerminate,
			instance.ServerActionReboot, instance.ServerActionStopInPlace, instance.ServerActionBackup}
	default: // starting, stopping
		return []instance.ServerAction{instance.ServerActionStopInPlace, instance.ServerActionBackup}
	}
}

func (c *Cloud) createServer(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	var req instance.CreateServerRequest
	if !decodeBody(w, r, &req) {
		return
	}
	project, org, ok := owner(w, req.Project, req.Organization)
	if !ok {
		return
	}
	if req.Name == "" {
		writeInvalidArgument(w, "name", "required", "required key not provided")
		return
	}
	if req.CommercialType == "" {
		writeInvalidArgument(w, "commercial_type", "required", "required key not provided")
		return
	}
	if c.catalog.serverTypes[req.CommercialType] == nil {
		writeInvalidArgument(w, "commercial_type", "constraint",
			fmt.Sprintf("commercial type %q is not available in %s", req.CommercialType, zone))
		return
	}
	if req.Image == nil || *req.Image == "" {
		writeInvalidArgument(w, "image", "required", "required key not provided")
		return
	}
	// The real API resolves a bare label itself, possibly to a local-SSD
	// image; the local cloud insists on an id resolved through the
	// marketplace so that such a request is caught in tests.
	if !isUUID(*req.Image) {
		writeInvalidArgument(w, "image", "format", "localcloud wants an image id resolved with marketplace local-images")
		return
	}
	img := c.catalog.image(zone, *req.Image)
	if img == nil {
		writeNotFound(w, "instance_image", *req.Image)
		return
	}
	if !img.compatible(req.CommercialType) {
		writeInvalidArgument(w, "image", "constraint",
			fmt.Sprintf("image %s is not compatible with commercial type %s", img.ID, req.CommercialType))
		return
	}
	rootSize := defaultRootSize
	for index, v := range req.Volumes {
		if index != "0" || v == nil {
			writeInvalidArgument(w, "volumes", "constraint", "localcloud supports the root volume (index 0) only")
			return
		}
		if v.ID != nil || v.BaseSnapshot != nil ||
			(v.VolumeType != "" && v.VolumeType != instance.VolumeVolumeTypeSbsVolume) {
			writeInvalidArgument(w, "volumes.0", "constraint", "localcloud creates sbs_volume root volumes from the image only")
			return
		}
		if v.Size != nil {
			rootSize = *v.Size
		}
	}
	ipRefs := []string{}
	if req.PublicIPs != nil {
		ipRefs = append(ipRefs, *req.PublicIPs...)
	}
	if req.PublicIP != nil && *req.PublicIP != "" {
		ipRefs = append(ipRefs, *req.PublicIP)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	var ips []*flexibleIP
	for _, ref := range ipRefs {
		ip := c.lookupIPLocked(zone, ref)
		if ip == nil {
			writeNotFound(w, "instance_ip", ref)
			return
		}
		if ip.serverID != "" {
			writeInvalidArgument(w, "public_ips", "constraint", fmt.Sprintf("IP %s is already attached to a server", ip.id))
			return
		}
		ips = append(ips, ip)
	}

	t := now()
	s := &server{
		id:                newID(),
		name:              req.Name,
		hostname:          hostname(req.Name),
		zone:              zone,
		project:           project,
		org:               org,
		commercialType:    req.CommercialType,
		image:             img,
		tags:              cloneTags(req.Tags),
		dynamicIPRequired: req.DynamicIPRequired == nil || *req.DynamicIPRequired,
		routedIPEnabled:   req.RoutedIPEnabled == nil || *req.RoutedIPEnabled,
		mac:               macAddress(),
		created:           t,
		modified:          t,
		listed:            c.listedFrom(r, t),
		state:             instance.ServerStateStopped,
		volumeIDs:         map[string]string{},
		userData:          map[string][]byte{},
	}
	for _, ip := range ips {
		ip.serverID = s.id
		s.ipIDs = append(s.ipIDs, ip.id)
	}
	root := &sbsVolume{
		id:             newID(),
		zone:           zone,
		name:           img.Name + "_sbs_volume_0",
		project:        project,
		size:           rootSize,
		parentSnapshot: img.SnapshotID,
		tags:           []string{},
		serverID:       s.id,
		refID:          newID(),
		refCreated:     t,
		created:        t,
		updated:        t,
	}
	c.volumes[root.id] = root
	s.volumeIDs["0"] = root.id
	c.servers[s.id] = s
	c.logf("created server %s (%s) %s, root volume %s", s.name, s.id, s.commercialType, root.id)
	w.Header().Set("Location", r.URL.Path+"/"+s.id)
	writeJSON(w, http.StatusCreated, instance.CreateServerResponse{Server: c.renderServerLocked(s)})
}

func (c *Cloud) getServer(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.pathServerLocked(w, r, zone)
	if s == nil {
		return
	}
	writeJSON(w, http.StatusOK, instance.GetServerResponse{Server: c.renderServerLocked(s)})
}

// pathServerLocked finds the server named by the request path's {id}, or
// answers 404 instance_server and returns nil. c.mu must be held.
func (c *Cloud) pathServerLocked(w http.ResponseWriter, r *http.Request, zone scw.Zone) *server {
	s := c.serverLocked(zone, r.PathValue("id"))
	if s == nil {
		writeNotFound(w, "instance_server", r.PathValue("id"))
	}
	return s
}

func (c *Cloud) serverLocked(zone scw.Zone, id string) *server {
	if s := c.servers[id]; s != nil && s.zone == zone {
		return s
	}
	return nil
}

func (c *Cloud) listServers(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	tags := splitTags(q.Get("tags"))
	ids := splitTags(q.Get("servers"))
	c.mu.Lock()
	defer c.mu.Unlock()
	t := now()
	var found []*server
	for _, s := range c.servers {
		switch {
		case t.Before(s.listed), // not in lists yet
			s.zone != zone,
			!hasTags(s.tags, tags),
			len(ids) > 0 && !slices.Contains(ids, s.id),
			q.Get("name") != "" && !strings.Contains(s.name, q.Get("name")),
			q.Get("project") != "" && q.Get("project") != s.project,
			q.Get("organization") != "" && q.Get("organization") != s.org,
			q.Get("state") != "" && q.Get("state") != string(s.state),
			q.Get("commercial_type") != "" && q.Get("commercial_type") != s.commercialType:
			continue
		}
		found = append(found, s)
	}
	// The API's default order is creation_date_desc.
	slices.SortFunc(found, func(a, b *server) int {
		order := cmp.Or(b.created.Compare(a.created), cmp.Compare(a.id, b.id))
		if q.Get("order") == "creation_date_asc" {
			return -order
		}
		return order
	})
	resp := instance.ListServersResponse{TotalCount: uint32(len(found)), Servers: []*instance.Server{}}
	for _, s := range paginate(found, r, "per_page") {
		resp.Servers = append(resp.Servers, c.renderServerLocked(s))
	}
	writeList(w, len(found), resp)
}

// deleteServer deletes a stopped server. Its flexible IPs are detached and
// its SBS volumes detached (not deleted), as on the real API.
func (c *Cloud) deleteServer(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.pathServerLocked(w, r, zone)
	if s == nil {
		return
	}
	if s.state != instance.ServerStateStopped {
		writeInvalidRequest(w, "server should be stopped")
		return
	}
	c.removeServerLocked(s)
	writeNoContent(w)
}

// removeServerLocked forgets s: IPs go back to "detached", SBS volumes start
// detaching and survive.
func (c *Cloud) removeServerLocked(s *server) {
	for _, id := range s.ipIDs {
		if ip := c.ips[id]; ip != nil {
			ip.serverID = ""
		}
	}
	t := now()
	for _, id := range s.volumeIDs {
		if v := c.volumes[id]; v != nil {
			v.detach(t, c.opts.DetachDelay)
		}
	}
	delete(c.servers, s.id)
	c.logf("deleted server %s (%s)", s.name, s.id)
}

func (c *Cloud) renderServerLocked(s *server) *instance.Server {
	created, modified := s.created, s.modified
	routed, ipv6 := s.routedIPEnabled, false
	dns := s.id + ".instances.scw.cloud"
	out := &instance.Server{
		ID:                s.id,
		Name:              s.name,
		Organization:      s.org,
		Project:           s.project,
		AllowedActions:    s.allowedActions(),
		Tags:              cloneTags(s.tags),
		CommercialType:    s.commercialType,
		CreationDate:      &created,
		ModificationDate:  &modified,
		DynamicIPRequired: s.dynamicIPRequired,
		RoutedIPEnabled:   &routed,
		EnableIPv6:        &ipv6,
		Hostname:          s.hostname,
		Image:             s.image.instanceImage(),
		PublicIPs:         []*instance.ServerIP{},
		MacAddress:        s.mac,
		State:             s.state,
		BootType:          instance.BootTypeLocal,
		Volumes:           map[string]*instance.VolumeServer{},
		SecurityGroup:     &instance.SecurityGroupSummary{ID: stableUUID("security-group", string(s.zone)), Name: "Default security group"},
		Maintenances:      []*instance.ServerMaintenance{},
		StateDetail:       s.stateDetail,
		Arch:              instance.ArchX86_64,
		PrivateNics:       []*instance.PrivateNIC{},
		Zone:              s.zone,
		Filesystems:       []*instance.ServerFilesystem{},
		DNS:               &dns,
	}
	for _, id := range s.ipIDs {
		if ip := c.ips[id]; ip != nil {
			out.PublicIPs = append(out.PublicIPs, renderServerIP(ip))
		}
	}
	if len(out.PublicIPs) > 0 {
		out.PublicIP = out.PublicIPs[0]
	}
	available := instance.VolumeServerStateAvailable
	for index, id := range s.volumeIDs {
		out.Volumes[index] = &instance.VolumeServer{
			ID:         id,
			VolumeType: instance.VolumeServerVolumeTypeSbsVolume,
			State:      &available,
			Zone:       s.zone,
		}
	}
	return out
}

// address is the server's public IPv4 (its first flexible IP), or "".
func (c *Cloud) addressLocked(s *server) string {
	for _, id := range s.ipIDs {
		if ip := c.ips[id]; ip != nil {
			return ip.addr.String()
		}
	}
	return ""
}

// hostname derives the hostname the real API shows from the server name.
func hostname(name string) string {
	h := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9', r == '-':
			return r
		case 'A' <= r && r <= 'Z':
			return r + ('a' - 'A')
		default:
			return '-'
		}
	}, name)
	return h
}

func macAddress() string {
	id := newID()
	return "de:00:00:" + id[0:2] + ":" + id[2:4] + ":" + id[4:6]
}
