package scaleway

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	block "github.com/scaleway/scaleway-sdk-go/api/block/v1alpha1"
	"github.com/scaleway/scaleway-sdk-go/api/instance/v1"
	"github.com/scaleway/scaleway-sdk-go/api/marketplace/v2"
	"github.com/scaleway/scaleway-sdk-go/scw"
	"github.com/scaleway/scaleway-sdk-go/validation"
	"golang.org/x/crypto/ssh"
)

// Spec describes the instance to create.
type Spec struct {
	Name           string // server name and hostname: lowercase letters, digits, dashes
	Zone           string // e.g. "fr-par-1"
	CommercialType string // e.g. "DEV1-S"
	ImageLabel     string // marketplace label, e.g. "ubuntu_noble"
	ProjectID      string // optional: the client's default project otherwise
	WorkspaceID    string // tags the resources as this workspace's
	DeployKey      string // authorized_keys line installed for root
	HostKey        ed25519.PrivateKey
}

// Resources are the ids of what exists for one host. The caller persists
// them (save in Create) and hands them back to resume or destroy.
type Resources struct {
	Zone      string   `json:"zone,omitempty"`
	IPID      string   `json:"ip_id,omitempty"`
	IPAddress string   `json:"ip_address,omitempty"`
	ServerID  string   `json:"server_id,omitempty"`
	VolumeIDs []string `json:"volume_ids,omitempty"`
	// Pending names a create that was sent (or about to be) whose resource
	// has no id here yet: saved before the request, so that a run killed
	// while it was in flight makes the next one (and destroy) look for it
	// by its tags long enough for the API's lists to catch up.
	Pending string `json:"pending,omitempty"`
}

// Empty reports whether nothing is recorded.
func (r Resources) Empty() bool {
	return r.IPID == "" && r.ServerID == "" && len(r.VolumeIDs) == 0
}

// String lists what is recorded, for messages such as "billed: ...".
func (r Resources) String() string {
	var parts []string
	if r.ServerID != "" {
		parts = append(parts, "server "+r.ServerID)
	}
	for _, id := range r.VolumeIDs {
		parts = append(parts, "SBS volume "+id)
	}
	if r.IPID != "" {
		ip := "flexible IP " + r.IPID
		if r.IPAddress != "" {
			ip = fmt.Sprintf("flexible IP %s (%s)", r.IPAddress, r.IPID)
		}
		parts = append(parts, ip)
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ") + " in " + r.Zone
}

// Provider creates and destroys instances with the Scaleway SDK.
type Provider struct {
	instance *instance.API
	market   *marketplace.API
	block    *block.API

	// Log gets one line per step. Default: none.
	Log io.Writer
	// PollMin and PollMax bound the interval between state polls
	// (default 1s and 5s).
	PollMin, PollMax time.Duration
	// StoppedGrace is how long a server may still read "stopped" after
	// poweron before that counts as a failed boot (default 30s).
	StoppedGrace time.Duration
	// AdoptWait is how long a create whose outcome is unknown (its answer
	// lost, or a run killed while it was in flight) is looked up by its
	// tags, with backoff, before it is sent again: the API may carry it out
	// after answering an error, and its lists lag behind its creates
	// (default 20s).
	AdoptWait time.Duration
}

// New returns a Provider using client (see NewClient).
func New(client *scw.Client) *Provider {
	return &Provider{
		instance:     instance.NewAPI(client),
		market:       marketplace.NewAPI(client),
		block:        block.NewAPI(client),
		PollMin:      time.Second,
		PollMax:      5 * time.Second,
		StoppedGrace: 30 * time.Second,
		AdoptWait:    20 * time.Second,
	}
}

func (p *Provider) logf(format string, args ...any) {
	if p.Log != nil {
		fmt.Fprintf(p.Log, format+"\n", args...)
	}
}

// Tags that mark resources as created by bootstrap for one host of one
// workspace; Find and the create path look resources up by them.
const (
	TagBootstrap       = "bootstrap"
	tagNamePrefix      = "bootstrap-name="
	tagWorkspacePrefix = "bootstrap-workspace="
)

// identityTags are the tags every resource of the host carries.
func identityTags(workspaceID, name string) []string {
	return []string{TagBootstrap, tagNamePrefix + name, tagWorkspacePrefix + workspaceID}
}

// authorizedKeyTag is the tag Scaleway's images read root's authorized keys
// from: the key line with its spaces replaced by underscores.
func authorizedKeyTag(key string) string {
	return "AUTHORIZED_KEY=" + strings.ReplaceAll(strings.TrimSpace(key), " ", "_")
}

var hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// checkSpec validates what needs no API call.
func checkSpec(spec Spec) error {
	if !hostnameRE.MatchString(spec.Name) {
		return fmt.Errorf("host name %q: want lowercase letters, digits and dashes (a hostname label)", spec.Name)
	}
	if err := checkZone(spec.Zone); err != nil {
		return err
	}
	if spec.CommercialType == "" {
		return fmt.Errorf("no commercial type: set one such as DEV1-S")
	}
	if spec.ImageLabel == "" {
		return fmt.Errorf("no image label: set one such as ubuntu_noble")
	}
	if spec.ProjectID != "" && !validation.IsProjectID(spec.ProjectID) {
		return fmt.Errorf("scaleway project id %q is malformed, want a UUID", spec.ProjectID)
	}
	if spec.WorkspaceID == "" {
		return fmt.Errorf("no workspace id to tag the resources with")
	}
	if _, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(spec.DeployKey)); err != nil || strings.TrimSpace(string(rest)) != "" {
		return fmt.Errorf("deploy key: want one authorized_keys line")
	}
	if len(spec.HostKey) != ed25519.PrivateKeySize {
		return fmt.Errorf("host key: want an ed25519 private key")
	}
	return nil
}

// Validate checks the spec against the API before anything billable is
// created: the zone, the commercial type (ListServersTypes) and the image
// label (an SBS build compatible with the type in the zone).
func (p *Provider) Validate(ctx context.Context, spec Spec) error {
	_, err := p.validate(ctx, spec)
	return err
}

func (p *Provider) validate(ctx context.Context, spec Spec) (*marketplace.LocalImage, error) {
	if err := checkSpec(spec); err != nil {
		return nil, err
	}
	zone := scw.Zone(spec.Zone)
	commercialType := strings.ToUpper(spec.CommercialType)
	types, err := p.instance.ListServersTypes(&instance.ListServersTypesRequest{Zone: zone}, scw.WithContext(ctx), scw.WithAllPages())
	if err != nil {
		return nil, fmt.Errorf("list commercial types in %s: %w", zone, err)
	}
	if _, ok := types.Servers[commercialType]; !ok {
		names := make([]string, 0, len(types.Servers))
		for name := range types.Servers {
			names = append(names, name)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("unknown commercial type %q in %s (available: %s)", spec.CommercialType, zone, strings.Join(names, ", "))
	}
	img, err := p.market.GetLocalImageByLabel(&marketplace.GetLocalImageByLabelRequest{
		ImageLabel:     spec.ImageLabel,
		Zone:           zone,
		CommercialType: commercialType,
		Type:           marketplace.LocalImageTypeInstanceSbs,
	}, scw.WithContext(ctx))
	switch {
	case isNotFound(err):
		return nil, fmt.Errorf("unknown image label %q (see `scw marketplace image list`)", spec.ImageLabel)
	case err != nil && isHTTPError(err):
		return nil, fmt.Errorf("look up image %q in %s: %w", spec.ImageLabel, zone, err)
	case err != nil: // the SDK's "couldn't find a local image" (or a transport error)
		return nil, fmt.Errorf("image %q for %s in %s: %w", spec.ImageLabel, commercialType, zone, err)
	}
	return img, nil
}

// Tagged is everything that carries a host's tags in a zone: what a run
// created, recorded or not, duplicates included.
type Tagged struct {
	Zone    string
	Servers []*instance.Server
	IPs     []*instance.IP
}

// Empty reports whether nothing is tagged.
func (t Tagged) Empty() bool { return len(t.Servers) == 0 && len(t.IPs) == 0 }

// add adds what other holds that t lacks, by id.
func (t *Tagged) add(other Tagged) {
	for _, s := range other.Servers {
		if !slices.ContainsFunc(t.Servers, func(x *instance.Server) bool { return x.ID == s.ID }) {
			t.Servers = append(t.Servers, s)
		}
	}
	for _, ip := range other.IPs {
		if !slices.ContainsFunc(t.IPs, func(x *instance.IP) bool { return x.ID == ip.ID }) {
			t.IPs = append(t.IPs, ip)
		}
	}
}

// Find looks up the resources tagged for this host, to adopt them, to check
// them or to destroy them.
func (p *Provider) Find(ctx context.Context, zone, workspaceID, name string) (Tagged, error) {
	found := Tagged{Zone: zone}
	tags := identityTags(workspaceID, name)
	var err error
	if found.IPs, err = p.listIPs(ctx, scw.Zone(zone), tags); err != nil {
		return found, err
	}
	if found.Servers, err = p.listServers(ctx, scw.Zone(zone), tags); err != nil {
		return found, err
	}
	return found, nil
}

func (p *Provider) listIPs(ctx context.Context, zone scw.Zone, tags []string) ([]*instance.IP, error) {
	resp, err := p.instance.ListIPs(&instance.ListIPsRequest{Zone: zone, Tags: tags}, scw.WithContext(ctx), scw.WithAllPages())
	if err != nil {
		return nil, fmt.Errorf("list flexible IPs tagged %s in %s: %w", strings.Join(tags, ","), zone, err)
	}
	return resp.IPs, nil
}

func (p *Provider) listServers(ctx context.Context, zone scw.Zone, tags []string) ([]*instance.Server, error) {
	resp, err := p.instance.ListServers(&instance.ListServersRequest{Zone: zone, Tags: tags}, scw.WithContext(ctx), scw.WithAllPages())
	if err != nil {
		return nil, fmt.Errorf("list servers tagged %s in %s: %w", strings.Join(tags, ","), zone, err)
	}
	return resp.Servers, nil
}

// sbsVolumes returns the ids of the server's SBS volumes, root first.
func sbsVolumes(s *instance.Server) []string {
	indexes := make([]string, 0, len(s.Volumes))
	for index := range s.Volumes {
		indexes = append(indexes, index)
	}
	slices.Sort(indexes)
	var ids []string
	for _, index := range indexes {
		if v := s.Volumes[index]; v != nil && v.VolumeType == instance.VolumeServerVolumeTypeSbsVolume {
			ids = append(ids, v.ID)
		}
	}
	return ids
}
