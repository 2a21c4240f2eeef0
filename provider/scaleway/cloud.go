package scaleway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/scaleway/scaleway-sdk-go/scw"

	"bootstrap/provider"
)

// Cloud is Scaleway for the command line: the verb `bootstrap scaleway`,
// destroy and clone --to scaleway.
type Cloud struct {
	// AdoptWait overrides Provider.AdoptWait (0: its default), for tests.
	AdoptWait time.Duration
}

// Name is the verb and the Kind of the records.
func (Cloud) Name() string { return Kind }

// Help describes the verb.
func (Cloud) Help() provider.Help {
	return provider.Help{
		Use:   "scaleway NAME",
		Short: "Create a Scaleway instance and turn it into NixOS",
		Long: `Create a Scaleway instance (a flexible IPv4, a server with an SBS root volume) and
run the bootstrap pipeline on it. Credentials are read the way the scw CLI reads them:
the scw config file (active profile, or --profile), then SCW_ACCESS_KEY, SCW_SECRET_KEY,
SCW_DEFAULT_PROJECT_ID, SCW_DEFAULT_ZONE, SCW_API_URL. Every id is recorded in
hosts/NAME/state.json the moment it exists; bootstrap destroy NAME removes them.`,
		Example: `  bootstrap scaleway web-1 --channel nixos-24.11 --host-nix ./host.nix --type DEV1-S --zone fr-par-1
  bootstrap scaleway web-2 --channel nixos-20.09 --image debian_bookworm --yes`,
	}
}

// The settings' names.
const (
	setType    = "type"
	setZone    = "zone"
	setImage   = "image"
	setProject = "project"
	setProfile = "profile"
)

// Settings are the flags of the verb.
func (Cloud) Settings() []provider.Setting {
	var zones []string
	for _, z := range scw.AllZones {
		zones = append(zones, z.String())
	}
	return []provider.Setting{
		{Name: setType, Default: "DEV1-S", Usage: "commercial type", CloneUsage: "commercial type (default: the source's, else DEV1-S)",
			Values: []string{"DEV1-S", "DEV1-M", "DEV1-L", "DEV1-XL", "PLAY2-PICO", "PLAY2-NANO", "PLAY2-MICRO", "PRO2-XXS", "PRO2-XS", "PRO2-S", "PRO2-M", "GP1-XS", "GP1-S", "GP1-M"}},
		{Name: setZone, Usage: "zone (default: the scw profile's, else fr-par-1; destroy: the recorded one)", CloneUsage: "zone (default: the source's)", Destroy: true, Values: zones},
		{Name: setImage, Default: "ubuntu_noble", Usage: "marketplace image label: ubuntu_noble, ubuntu_jammy, debian_bookworm...", CloneUsage: "image label (default: the source's, else ubuntu_noble)",
			Values: []string{"ubuntu_noble", "ubuntu_jammy", "debian_bookworm", "debian_trixie"}},
		{Name: setProject, Usage: "project id (default: the scw profile's)", CloneUsage: "project id"},
		{Name: setProfile, Usage: "scw config profile (default: the active one)", CloneUsage: "scw config profile", Destroy: true},
	}
}

// setting is a setting's value, or its default.
func setting(settings map[string]string, name string) string {
	if v := settings[name]; v != "" {
		return v
	}
	for _, s := range (Cloud{}).Settings() {
		if s.Name == name {
			return s.Default
		}
	}
	return ""
}

// client loads credentials like scw (zone, when set, overrides the
// profile's) and builds the provider on the retrying client.
func (c Cloud) client(profileName, zone string) (*Provider, *scw.Profile, error) {
	profile, err := LoadConfig(profileName)
	if err != nil {
		return nil, nil, &provider.ConfigError{Err: err}
	}
	if zone != "" {
		if _, err := scw.ParseZone(zone); err != nil || !scw.Zone(zone).Exists() {
			var zs []string
			for _, z := range scw.AllZones {
				zs = append(zs, z.String())
			}
			return nil, nil, &provider.ConfigError{Err: fmt.Errorf("unknown zone %q: use one of %s", zone, strings.Join(zs, ", "))}
		}
		profile.DefaultZone = &zone
	}
	sc, err := NewClient(profile)
	if err != nil {
		return nil, nil, fmt.Errorf("scaleway client: %w", err)
	}
	p := New(sc)
	if c.AdoptWait > 0 {
		p.AdoptWait = c.AdoptWait
	}
	return p, profile, nil
}

// Order settles the instance to create; a resumed host stays in the zone
// it was created in unless a zone is given.
func (c Cloud) Order(name string, settings map[string]string, prior provider.Record) (provider.Order, error) {
	made, _, err := LoadRecord(prior)
	if err != nil {
		return nil, err
	}
	prov, profile, err := c.client(settings[setProfile], settings[setZone])
	if err != nil {
		return nil, err
	}
	spec := Spec{
		Name:           name,
		Zone:           *profile.DefaultZone,
		CommercialType: strings.ToUpper(setting(settings, setType)),
		ImageLabel:     setting(settings, setImage),
		ProjectID:      settings[setProject],
	}
	if spec.ProjectID == "" && profile.DefaultProjectID != nil {
		spec.ProjectID = *profile.DefaultProjectID
	}
	if made != nil && settings[setZone] == "" {
		spec.Zone = made.Zone // resume where it was created
	}
	return &order{prov: prov, spec: spec, created: made != nil && made.ServerID != ""}, nil
}

type order struct {
	prov    *Provider
	spec    Spec
	created bool
	checked bool // Check passed
}

func (o *order) Plan() string {
	p := fmt.Sprintf("0. create     %s %s from image %s in %s (project %s): a flexible IPv4, the server, its SBS root volume;\n"+
		"              cloud-init user data with the deploy key and an ed25519 host key generated here (pinned before the first connection)\n",
		"Scaleway", o.spec.CommercialType, o.spec.ImageLabel, o.spec.Zone, o.spec.ProjectID)
	switch {
	case o.created:
		p += "              created by an earlier run: checked again by its tags, not created\n"
	case o.checked:
		p += fmt.Sprintf("              checked with read-only API calls (GET): zone %s exists, it offers type %s, and image %s has an SBS build for it there\n",
			o.spec.Zone, o.spec.CommercialType, o.spec.ImageLabel)
	}
	return p
}

func (o *order) Bill() string {
	if o.created {
		return ""
	}
	return fmt.Sprintf("creates a %s server (%s) and a flexible IPv4 in %s, billed until bootstrap destroy %s", o.spec.CommercialType, o.spec.ImageLabel, o.spec.Zone, o.spec.Name)
}

// Check validates the spec against the API; the real host key is made by
// the machine, validation only needs one.
func (o *order) Check(ctx context.Context, owner provider.Owner) error {
	spec := o.owned(owner)
	var err error
	if _, spec.HostKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return err
	}
	if err := o.prov.Validate(ctx, spec); err != nil {
		if apiFailure(err) {
			return wrapAPI(err)
		}
		return &provider.ConfigError{Err: err}
	}
	o.checked = true
	return nil
}

func (o *order) Machine(owner provider.Owner) provider.Machine {
	return &Machine{Provider: o.prov, Spec: o.owned(owner), KeyFile: owner.HostKeyFile}
}

func (o *order) owned(owner provider.Owner) Spec {
	spec := o.spec
	spec.WorkspaceID, spec.DeployKey = owner.WorkspaceID, owner.DeployKey
	return spec
}

// SettingsOf are the type, zone, image and project rec's server was
// created with.
func (Cloud) SettingsOf(rec provider.Record) (map[string]string, error) {
	made, ok, err := LoadRecord(rec)
	if err != nil || !ok {
		return nil, err
	}
	return map[string]string{setType: made.CommercialType, setZone: made.Zone, setImage: made.ImageLabel, setProject: made.ProjectID}, nil
}

// Destroy deletes what the record holds plus whatever carries the host's
// tags (a run may have died between a create and its save, or created a
// duplicate). Without a record (state.json lost) it finds the host's
// resources by their tags alone, in the zone given, else the profile's.
func (c Cloud) Destroy(ctx context.Context, name, workspaceID string, rec provider.Record, settings map[string]string, confirm func(what string) error) (provider.Destroyed, error) {
	made, ok, err := LoadRecord(rec)
	if err != nil {
		return provider.Destroyed{}, err
	}
	zone := settings[setZone]
	if ok {
		if zone != "" && zone != made.Zone {
			return provider.Destroyed{}, &provider.ConflictError{Name: name, Field: "zone", Recorded: made.Zone, Given: zone}
		}
		zone = made.Zone
	}
	prov, profile, err := c.client(settings[setProfile], zone)
	if err != nil {
		return provider.Destroyed{Where: zone}, err
	}
	zone = *profile.DefaultZone
	gone := provider.Destroyed{Where: zone}
	var recorded Resources
	if ok {
		recorded = made.Resources()
	}
	// The API's lists lag behind its creates: without a record, or with a
	// create in flight when a run was killed, what was created moments ago
	// may not be listed yet. Then the tags are looked up for AdoptWait, and
	// everything seen is taken.
	settled := func(Tagged) bool { return true }
	switch {
	case !ok:
		settled = func(Tagged) bool { return false }
	case recorded.Pending == pendingIP:
		settled = func(t Tagged) bool { return recorded.IPID != "" || len(t.IPs) > 0 }
	case recorded.Pending == pendingServer:
		settled = func(t Tagged) bool { return recorded.ServerID != "" || len(t.Servers) > 0 }
	}
	found, err := prov.findSettled(ctx, zone, workspaceID, name, settled)
	if err != nil {
		return gone, wrapAPI(fmt.Errorf("look up %s by its tags: %w", name, err))
	}
	doomed := recorded.Doomed()
	doomed.Zone = zone
	doomed.Add(found)
	if doomed.Empty() {
		return gone, nil
	}
	if err := confirm("deletes " + doomed.String()); err != nil {
		return gone, err
	}
	gone.What = doomed.String()
	if err := prov.DestroyAll(ctx, doomed); err != nil {
		return gone, wrapAPI(fmt.Errorf("destroy %s: %w", name, err))
	}
	return gone, nil
}

// Billed says what rec records as existing, for the message of a run that
// fails after something was created; "" when nothing is recorded.
func (Cloud) Billed(rec provider.Record) string {
	made, ok, err := LoadRecord(rec)
	if err != nil || !ok {
		return ""
	}
	res := made.Resources()
	what := ""
	if !res.Empty() {
		what = res.String()
	}
	if res.Pending != "" {
		if what != "" {
			what += ", and "
		}
		what += fmt.Sprintf("perhaps a %s whose create was in flight (destroy finds it by its tags)", map[string]string{pendingIP: "flexible IP", pendingServer: "server"}[res.Pending])
	}
	return what
}

// findSettled looks the host's resources up by their tags until settled
// says what was seen is complete, or AdoptWait has passed, and returns
// everything it saw.
func (p *Provider) findSettled(ctx context.Context, zone, workspaceID, name string, settled func(Tagged) bool) (Tagged, error) {
	poll := p.newPoller()
	seen := Tagged{Zone: zone}
	for {
		found, err := p.Find(ctx, zone, workspaceID, name)
		if err != nil {
			return seen, err
		}
		seen.add(found)
		if settled(seen) || time.Since(poll.start) >= p.adoptWait() {
			return seen, nil
		}
		if err := poll.wait(ctx); err != nil {
			return seen, err
		}
	}
}
