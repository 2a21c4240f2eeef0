package localcloud

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
	"github.com/scaleway/scaleway-sdk-go/scw"
)

// marketplaceOrganization owns the public images on the real API.
const marketplaceOrganization = "51b656e3-4865-41e8-adbc-0c45bdd780db"

// defaultRootSize is the size of an SBS root volume created from an image
// without an explicit size (the real images' snapshots are 10 GB).
const defaultRootSize = 10 * scw.GB

// serverTypesJSON holds the four commercial types the local cloud sells, with
// the values the real fr-par-1 answered with (recorded by scaleway-sdk-go's
// test-api-get-server-type cassette).
const serverTypesJSON = `{
"DEV1-S": {"alt_names": [], "arch": "x86_64", "ncpus": 2, "ram": 2147483648, "gpu": 0, "gpu_info": null, "volumes_constraint": {"min_size": 0, "max_size": 20000000000}, "per_volume_constraint": {"l_ssd": {"min_size": 1000000000, "max_size": 800000000000}}, "scratch_storage_max_size": null, "monthly_price": 9.9864, "hourly_price": 0.01368, "capabilities": {"boot_types": ["local", "rescue"], "block_storage": true, "max_file_systems": 0}, "network": {"ipv6_support": true, "sum_internal_bandwidth": 200000000, "sum_internet_bandwidth": 200000000, "interfaces": [{"internal_bandwidth": 200000000, "internet_bandwidth": 200000000}]}, "block_bandwidth": 104857600, "end_of_service": false},
"DEV1-M": {"alt_names": [], "arch": "x86_64", "ncpus": 3, "ram": 4294967296, "gpu": 0, "gpu_info": null, "volumes_constraint": {"min_size": 0, "max_size": 40000000000}, "per_volume_constraint": {"l_ssd": {"min_size": 1000000000, "max_size": 800000000000}}, "scratch_storage_max_size": null, "monthly_price": 18.6588, "hourly_price": 0.02556, "capabilities": {"boot_types": ["local", "rescue"], "block_storage": true, "max_file_systems": 0}, "network": {"ipv6_support": true, "sum_internal_bandwidth": 300000000, "sum_internet_bandwidth": 300000000, "interfaces": [{"internal_bandwidth": 300000000, "internet_bandwidth": 300000000}]}, "block_bandwidth": 157286400, "end_of_service": false},
"PLAY2-PICO": {"alt_names": [], "arch": "x86_64", "ncpus": 1, "ram": 2147483648, "gpu": 0, "gpu_info": null, "volumes_constraint": {"min_size": 0, "max_size": 0}, "per_volume_constraint": {"l_ssd": {"min_size": 0, "max_size": 0}}, "scratch_storage_max_size": null, "monthly_price": 10.22, "hourly_price": 0.014, "capabilities": {"boot_types": ["local", "rescue"], "block_storage": true, "max_file_systems": 0}, "network": {"ipv6_support": true, "sum_internal_bandwidth": 100000000, "sum_internet_bandwidth": 100000000, "interfaces": [{"internal_bandwidth": 100000000, "internet_bandwidth": 100000000}]}, "block_bandwidth": 41943040, "end_of_service": false},
"PRO2-XXS": {"alt_names": [], "arch": "x86_64", "ncpus": 2, "ram": 8589934592, "gpu": 0, "gpu_info": null, "volumes_constraint": {"min_size": 0, "max_size": 0}, "per_volume_constraint": {"l_ssd": {"min_size": 0, "max_size": 0}}, "scratch_storage_max_size": null, "monthly_price": 40.15, "hourly_price": 0.055, "capabilities": {"boot_types": ["local", "rescue"], "block_storage": true, "max_file_systems": 0}, "network": {"ipv6_support": true, "sum_internal_bandwidth": 350000000, "sum_internet_bandwidth": 350000000, "interfaces": [{"internal_bandwidth": 350000000, "internet_bandwidth": 350000000}]}, "block_bandwidth": 131072000, "end_of_service": false}
}`

// catalogImage is one marketplace local image: a label built for one zone.
type catalogImage struct {
	ID         string
	Label      string
	Name       string
	Zone       scw.Zone
	SnapshotID string // the image's SBS root snapshot
	Types      []string
}

var imageNames = []struct{ label, name string }{
	{"ubuntu_noble", "Ubuntu 24.04 Noble Numbat"},
	{"ubuntu_jammy", "Ubuntu 22.04 Jammy Jellyfish"},
	{"debian_bookworm", "Debian Bookworm"},
}

// catalog is the fixed, read-only offer of the local cloud.
type catalog struct {
	serverTypes map[string]*instance.ServerType
	images      []*catalogImage // sorted by zone then label
}

func newCatalog(zones []scw.Zone) *catalog {
	var types map[string]*instance.ServerType
	if err := json.Unmarshal([]byte(serverTypesJSON), &types); err != nil {
		panic(fmt.Sprintf("localcloud: server type table: %v", err))
	}
	names := make([]string, 0, len(types))
	for name := range types {
		names = append(names, name)
	}
	slices.Sort(names)

	c := &catalog{serverTypes: types}
	for _, zone := range zones {
		for _, in := range imageNames {
			c.images = append(c.images, &catalogImage{
				ID:         stableUUID("image", string(zone), in.label),
				Label:      in.label,
				Name:       in.name,
				Zone:       zone,
				SnapshotID: stableUUID("snapshot", string(zone), in.label),
				Types:      names,
			})
		}
	}
	return c
}

func (c *catalog) image(zone scw.Zone, id string) *catalogImage {
	for _, img := range c.images {
		if img.Zone == zone && img.ID == id {
			return img
		}
	}
	return nil
}

func (img *catalogImage) compatible(commercialType string) bool {
	return slices.Contains(img.Types, commercialType)
}

func (img *catalogImage) localImage() *marketplace.LocalImage {
	return &marketplace.LocalImage{
		ID:                        img.ID,
		CompatibleCommercialTypes: slices.Clone(img.Types),
		Arch:                      "x86_64",
		Zone:                      img.Zone,
		Label:                     img.Label,
		Type:                      marketplace.LocalImageTypeInstanceSbs,
	}
}

// instanceImage renders the image the way it is embedded in a server.
func (img *catalogImage) instanceImage() *instance.Image {
	created := epoch
	return &instance.Image{
		ID:               img.ID,
		Name:             img.Name,
		Arch:             instance.ArchX86_64,
		CreationDate:     &created,
		ModificationDate: &created,
		ExtraVolumes:     map[string]*instance.Volume{},
		Organization:     marketplaceOrganization,
		Project:          marketplaceOrganization,
		Public:           true,
		RootVolume: &instance.VolumeSummary{
			ID:         img.SnapshotID,
			VolumeType: instance.VolumeVolumeTypeSbsSnapshot,
		},
		State: instance.ImageStateAvailable,
		Tags:  []string{},
		Zone:  img.Zone,
	}
}

// stableUUID derives a UUID-shaped id from its parts, so that catalog ids do
// not change between runs of the local cloud.
func stableUUID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	b := h.Sum(nil)[:16]
	b[6] = b[6]&0x0f | 0x50 // version 5 layout (name based)
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
