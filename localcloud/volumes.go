package localcloud

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"time"

	block "github.com/scaleway/scaleway-sdk-go/api/block/v1alpha1"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// sbsVolume is a block (SBS) volume. Servers' root volumes are SBS volumes:
// deleting or terminating the server only detaches them.
type sbsVolume struct {
	id, name, project string
	zone              scw.Zone
	size              scw.Size
	parentSnapshot    string
	tags              []string
	created, updated  time.Time

	serverID   string    // attached to; "" once detached
	lastServer string    // the server of the last attachment
	refID      string    // the attachment reference
	refCreated time.Time //
	detachedAt time.Time // when the detach completes; zero if never detached
}

// detach starts detaching from the server; the volume stays in_use with a
// "detaching" reference for delay, like on the real API.
func (v *sbsVolume) detach(t time.Time, delay time.Duration) {
	v.lastServer, v.serverID = v.serverID, ""
	v.detachedAt = t.Add(delay)
	v.updated = t
}

// inUse reports whether the volume is attached or still detaching at t.
func (v *sbsVolume) inUse(t time.Time) bool {
	return v.serverID != "" || t.Before(v.detachedAt)
}

func (v *sbsVolume) render(t time.Time) *block.Volume {
	created, updated := v.created, v.updated
	iops := uint32(5000)
	parent := v.parentSnapshot
	out := &block.Volume{
		ID:               v.id,
		Name:             v.name,
		Type:             "sbs_5k",
		Size:             v.size,
		ProjectID:        v.project,
		CreatedAt:        &created,
		UpdatedAt:        &updated,
		References:       []*block.Reference{},
		ParentSnapshotID: &parent,
		Status:           block.VolumeStatusAvailable,
		Tags:             cloneTags(v.tags),
		Zone:             v.zone,
		Specs:            &block.VolumeSpecifications{PerfIops: &iops, Class: block.StorageClassSbs},
	}
	if !v.inUse(t) {
		if !v.detachedAt.IsZero() {
			detached := v.detachedAt
			out.LastDetachedAt = &detached
			out.UpdatedAt = &detached
		}
		return out
	}
	status := block.ReferenceStatusAttached
	if v.serverID == "" {
		status = block.ReferenceStatusDetaching
	}
	refCreated := v.refCreated
	out.Status = block.VolumeStatusInUse
	out.References = []*block.Reference{{
		ID:                  v.refID,
		ProductResourceType: "instance_server",
		ProductResourceID:   v.attachedTo(),
		CreatedAt:           &refCreated,
		Type:                block.ReferenceTypeExclusive,
		Status:              status,
	}}
	return out
}

// attachedTo is the server of the current or last attachment.
func (v *sbsVolume) attachedTo() string {
	if v.serverID != "" {
		return v.serverID
	}
	return v.lastServer
}

func (c *Cloud) listVolumes(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var tags []string
	for _, t := range q["tags"] { // the block API repeats the parameter
		tags = append(tags, splitTags(t)...)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := now()
	var found []*sbsVolume
	for _, v := range c.volumes {
		switch {
		case v.zone != zone,
			!hasTags(v.tags, tags),
			q.Get("project_id") != "" && q.Get("project_id") != v.project,
			q.Get("name") != "" && !strings.Contains(v.name, q.Get("name")),
			q.Get("product_resource_id") != "" && (!v.inUse(t) || q.Get("product_resource_id") != v.attachedTo()):
			continue
		}
		found = append(found, v)
	}
	slices.SortFunc(found, func(a, b *sbsVolume) int { return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.id, b.id)) })
	resp := block.ListVolumesResponse{TotalCount: uint64(len(found)), Volumes: []*block.Volume{}}
	for _, v := range paginate(found, r, "page_size") {
		resp.Volumes = append(resp.Volumes, v.render(t))
	}
	writeJSON(w, http.StatusOK, resp)
}

func (c *Cloud) getVolume(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.volumes[r.PathValue("id")]
	if v == nil || v.zone != zone {
		writeNotFound(w, "volume", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, v.render(now()))
}

// deleteVolume refuses a volume that is attached or still detaching.
func (c *Cloud) deleteVolume(w http.ResponseWriter, r *http.Request) {
	zone, ok := c.zone(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.volumes[r.PathValue("id")]
	if v == nil || v.zone != zone {
		writeNotFound(w, "volume", r.PathValue("id"))
		return
	}
	if v.inUse(now()) {
		writeStillInUse(w, "volume "+v.id+" is attached to instance_server "+v.attachedTo())
		return
	}
	delete(c.volumes, v.id)
	c.logf("deleted SBS volume %s", v.id)
	writeNoContent(w)
}
