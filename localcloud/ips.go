package localcloud

import (
	"cmp"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// flexibleIP is a routed IPv4 reserved from the loopback pool.
type flexibleIP struct {
	id, ipamID   string
	zone         scw.Zone
	project, org string
	addr         netip.Addr
	tags         []string
	serverID     string // "" when detached
	created      time.Time
	listed       time.Time // lists show it from then on (Options.ListLag)
}

func (c *Cloud) createIP(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	var req instance.CreateIPRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Type == "" || req.Type == instance.IPTypeUnknownIptype {
		req.Type = instance.IPTypeRoutedIPv4
	}
	if req.Type != instance.IPTypeRoutedIPv4 {
		writeInvalidArgument(w, "type", "constraint", "localcloud only allocates routed_ipv4 addresses")
		return
	}
	project, org, ok := owner(w, req.Project, req.Organization)
	if !ok {
		return
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	addr, ok := c.freeAddressLocked()
	if !ok {
		writeQuotaExceeded(w, "ip", uint32(len(c.opts.Addresses)))
		return
	}
	ip := &flexibleIP{
		id:      newID(),
		ipamID:  newID(),
		zone:    zone,
		project: project,
		org:     org,
		addr:    addr,
		tags:    cloneTags(req.Tags),
		created: now(),
	}
	ip.listed = c.listedFrom(r, ip.created)
	if req.Server != nil && *req.Server != "" {
		s := c.servers[*req.Server]
		if s == nil || s.zone != zone {
			writeNotFound(w, "instance_server", *req.Server)
			return
		}
		ip.serverID = s.id
		s.ipIDs = append(s.ipIDs, ip.id)
	}
	c.ips[ip.id] = ip
	c.logf("created flexible IP %s (%s)", ip.addr, ip.id)
	w.Header().Set("Location", r.URL.Path+"/"+ip.id)
	writeJSON(w, http.StatusCreated, instance.CreateIPResponse{IP: c.renderIPLocked(ip)})
}

// freeAddressLocked returns the first pool address no IP holds.
func (c *Cloud) freeAddressLocked() (netip.Addr, bool) {
	used := map[netip.Addr]bool{}
	for _, ip := range c.ips {
		used[ip.addr] = true
	}
	for _, a := range c.opts.Addresses {
		if !used[a] {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func (c *Cloud) listIPs(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	tags := splitTags(q.Get("tags"))
	c.mu.Lock()
	defer c.mu.Unlock()
	t := now()
	var found []*flexibleIP
	for _, ip := range c.ips {
		switch {
		case t.Before(ip.listed), // not in lists yet
			ip.zone != zone,
			!hasTags(ip.tags, tags),
			q.Get("project") != "" && q.Get("project") != ip.project,
			q.Get("organization") != "" && q.Get("organization") != ip.org,
			q.Get("name") != "" && !strings.Contains(ip.addr.String(), q.Get("name")),
			q.Get("type") != "" && q.Get("type") != string(instance.IPTypeRoutedIPv4):
			continue
		}
		found = append(found, ip)
	}
	slices.SortFunc(found, func(a, b *flexibleIP) int { return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.id, b.id)) })
	resp := instance.ListIPsResponse{TotalCount: uint32(len(found)), IPs: []*instance.IP{}}
	for _, ip := range paginate(found, r, "per_page") {
		resp.IPs = append(resp.IPs, c.renderIPLocked(ip))
	}
	writeList(w, len(found), resp)
}

// lookupIPLocked finds an IP by id or by address (GetIP accepts both).
func (c *Cloud) lookupIPLocked(zone scw.Zone, key string) *flexibleIP {
	if ip := c.ips[key]; ip != nil && ip.zone == zone {
		return ip
	}
	if a, err := netip.ParseAddr(key); err == nil {
		for _, ip := range c.ips {
			if ip.zone == zone && ip.addr == a {
				return ip
			}
		}
	}
	return nil
}

func (c *Cloud) getIP(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ip := c.lookupIPLocked(zone, r.PathValue("ip"))
	if ip == nil {
		writeNotFound(w, "instance_ip", r.PathValue("ip"))
		return
	}
	writeJSON(w, http.StatusOK, instance.GetIPResponse{IP: c.renderIPLocked(ip)})
}

// deleteIP releases the IP; an attached IP is detached from its server
// first, as on the real API.
func (c *Cloud) deleteIP(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ip := c.lookupIPLocked(zone, r.PathValue("ip"))
	if ip == nil {
		writeNotFound(w, "instance_ip", r.PathValue("ip"))
		return
	}
	if s := c.servers[ip.serverID]; s != nil {
		s.ipIDs = slices.DeleteFunc(s.ipIDs, func(id string) bool { return id == ip.id })
	}
	delete(c.ips, ip.id)
	c.logf("deleted flexible IP %s (%s)", ip.addr, ip.id)
	writeNoContent(w)
}

func (c *Cloud) renderIPLocked(ip *flexibleIP) *instance.IP {
	out := &instance.IP{
		ID:           ip.id,
		Address:      net.IP(ip.addr.AsSlice()),
		Organization: ip.org,
		Project:      ip.project,
		Tags:         cloneTags(ip.tags),
		Type:         instance.IPTypeRoutedIPv4,
		State:        instance.IPStateDetached,
		IpamID:       ip.ipamID,
		Zone:         ip.zone,
	}
	if s := c.servers[ip.serverID]; s != nil {
		out.State = instance.IPStateAttached
		out.Server = &instance.ServerSummary{ID: s.id, Name: s.name}
	}
	return out
}

// renderServerIP is the IP as embedded in a server's public_ips.
func renderServerIP(ip *flexibleIP) *instance.ServerIP {
	return &instance.ServerIP{
		ID:               ip.id,
		Address:          net.IP(ip.addr.AsSlice()),
		Gateway:          net.IPv4(127, 0, 0, 1),
		Netmask:          "32",
		Family:           instance.ServerIPIPFamilyInet,
		Dynamic:          false,
		ProvisioningMode: instance.ServerIPProvisioningModeDHCP,
		Tags:             cloneTags(ip.tags),
		IpamID:           ip.ipamID,
		State:            instance.ServerIPStateAttached,
	}
}

// owner picks the project (and organization) a new resource belongs to.
// The SDK fills the project from the client's default; without one the real
// API refuses the request.
func owner(w http.ResponseWriter, project, org *string) (string, string, bool) {
	switch {
	case project != nil && *project != "":
		if !isUUID(*project) {
			writeInvalidArgument(w, "project", "format", "must be a UUID")
			return "", "", false
		}
		o := *project // a default project shares its organization's id
		if org != nil && *org != "" {
			o = *org
		}
		return *project, o, true
	case org != nil && *org != "":
		if !isUUID(*org) {
			writeInvalidArgument(w, "organization", "format", "must be a UUID")
			return "", "", false
		}
		return *org, *org, true
	default:
		writeInvalidArgument(w, "project", "required", "required key not provided")
		return "", "", false
	}
}

// splitTags parses the instance API's comma-separated tags filter.
func splitTags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// hasTags reports whether have contains every tag of want.
func hasTags(have, want []string) bool {
	for _, t := range want {
		if !slices.Contains(have, t) {
			return false
		}
	}
	return true
}

func cloneTags(tags []string) []string {
	if tags == nil {
		return []string{}
	}
	return slices.Clone(tags)
}
