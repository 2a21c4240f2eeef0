package localcloud

import (
	"net/http"
	"slices"
	"strings"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// listLocalImages serves marketplace.GetLocalImageByLabel, which lists local
// images filtered by label, zone and type, then picks the first one
// compatible with the commercial type. An unknown label is a 404, as on the
// real API.
func (c *Cloud) listLocalImages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	label, imageID := q.Get("image_label"), q.Get("image_id")
	typ := q.Get("type")
	if typ == string(marketplace.LocalImageTypeUnknownType) {
		typ = ""
	}
	var found []*marketplace.LocalImage
	known := false
	for _, img := range c.catalog.images {
		if (label != "" && img.Label != label) || (imageID != "" && img.ID != imageID) {
			continue
		}
		known = true
		if (q.Get("zone") != "" && scw.Zone(q.Get("zone")) != img.Zone) ||
			(typ != "" && typ != string(marketplace.LocalImageTypeInstanceSbs)) ||
			(q.Get("arch") != "" && q.Get("arch") != "x86_64") {
			continue
		}
		found = append(found, img.localImage())
	}
	if !known && (label != "" || imageID != "") {
		writeNotFound(w, "MarketplaceImage", label+imageID)
		return
	}
	page := paginate(found, r, "page_size")
	writeJSON(w, http.StatusOK, marketplace.ListLocalImagesResponse{LocalImages: page, TotalCount: uint32(len(found))})
}

func (c *Cloud) getLocalImage(w http.ResponseWriter, r *http.Request) {
	for _, img := range c.catalog.images {
		if img.ID == r.PathValue("id") {
			writeJSON(w, http.StatusOK, img.localImage())
			return
		}
	}
	writeNotFound(w, "MarketplaceImage", r.PathValue("id"))
}

// listServerTypes serves ListServersTypes (products/servers): the
// commercial types on sale, used to validate --type.
func (c *Cloud) listServerTypes(w http.ResponseWriter, r *http.Request) {
	if _, ok := c.zone(w, r); !ok {
		return
	}
	names := make([]string, 0, len(c.catalog.serverTypes))
	for name := range c.catalog.serverTypes {
		names = append(names, name)
	}
	slices.SortFunc(names, strings.Compare)
	resp := instance.ListServersTypesResponse{Servers: map[string]*instance.ServerType{}}
	for _, name := range paginate(names, r, "per_page") {
		resp.Servers[name] = c.catalog.serverTypes[name]
	}
	resp.TotalCount = uint32(len(names))
	writeList(w, len(names), resp)
}
