// Package scaleway creates and destroys the Scaleway instance that
// `bootstrap scaleway` turns into NixOS: a flexible routed IPv4, a server on
// an SBS image with cloud-init user data, and its SBS root volume. Every id is
// handed to the caller the moment it exists, creates are never blindly
// retried (a create whose answer was lost is found again by its tags), and
// Destroy removes everything recorded, idempotently.
//
// Cloud is this provider for the command line (its verb, destroy, clone
// --to scaleway) and Machine for the pipeline; the ids live in its own
// machine record (Record), which the pipeline stores unread. It imports
// package provider and workspace, never bootstrap/ or cmd/.
package scaleway

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/scaleway/scaleway-sdk-go/scw"
	"github.com/scaleway/scaleway-sdk-go/validation"
)

// DefaultZone is used when neither the profile nor the environment sets one,
// as the scw CLI does.
const DefaultZone = scw.ZoneFrPar1

// LoadConfig reads credentials the way the scw CLI does: the config file
// (SCW_CONFIG_PATH, default ~/.config/scw/config.yaml; a missing file is
// fine), the named profile or else the active one (SCW_PROFILE,
// active_profile), then the SCW_* environment variables, which win. It checks
// that an access key, a secret key and a default project are set and well
// formed, and that the default zone exists (fr-par-1 when unset); each problem
// is a one-line error saying what to set.
func LoadConfig(profile string) (*scw.Profile, error) {
	path := scw.GetConfigPath()
	cfg, err := scw.LoadConfig()
	var notFound *scw.ConfigFileNotFoundError
	switch {
	case errors.As(err, &notFound):
		cfg = &scw.Config{}
	case err != nil:
		return nil, fmt.Errorf("read scaleway config %s: %w", path, err)
	}

	var p *scw.Profile
	if profile != "" {
		p, err = cfg.GetProfile(profile)
		if err != nil {
			return nil, fmt.Errorf("scaleway profile %q is not in %s: create it with `scw init` or pick another", profile, path)
		}
	} else {
		p, err = cfg.GetActiveProfile()
		if err != nil {
			return nil, fmt.Errorf("scaleway active profile (SCW_PROFILE or active_profile in %s): %w", path, err)
		}
	}
	p = scw.MergeProfiles(p, scw.LoadEnvProfile())
	if p.DefaultZone == nil || *p.DefaultZone == "" {
		zone := DefaultZone.String()
		p.DefaultZone = &zone
	}
	if err := checkProfile(p, path); err != nil {
		return nil, err
	}
	return p, nil
}

// checkProfile validates what the create and destroy paths need. Secrets are
// never echoed.
func checkProfile(p *scw.Profile, path string) error {
	where := func(env, key string) string { return fmt.Sprintf("set %s or %s in %s", env, key, path) }
	switch {
	case p.AccessKey == nil || *p.AccessKey == "":
		return fmt.Errorf("scaleway access key missing: %s (an API key from the console, or `scw init`)", where(scw.ScwAccessKeyEnv, "access_key"))
	case !validation.IsAccessKey(*p.AccessKey):
		return fmt.Errorf("scaleway access key %q is malformed, want SCW followed by 17 capital letters or digits: %s", *p.AccessKey, where(scw.ScwAccessKeyEnv, "access_key"))
	case p.SecretKey == nil || *p.SecretKey == "":
		return fmt.Errorf("scaleway secret key missing: %s", where(scw.ScwSecretKeyEnv, "secret_key"))
	case !validation.IsSecretKey(*p.SecretKey):
		return fmt.Errorf("scaleway secret key is malformed, want a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx): %s", where(scw.ScwSecretKeyEnv, "secret_key"))
	case p.DefaultProjectID == nil || *p.DefaultProjectID == "":
		return fmt.Errorf("scaleway project missing: %s", where(scw.ScwDefaultProjectIDEnv, "default_project_id"))
	case !validation.IsProjectID(*p.DefaultProjectID):
		return fmt.Errorf("scaleway project id %q is malformed, want a UUID: %s", *p.DefaultProjectID, where(scw.ScwDefaultProjectIDEnv, "default_project_id"))
	case p.DefaultOrganizationID != nil && *p.DefaultOrganizationID != "" && !validation.IsOrganizationID(*p.DefaultOrganizationID):
		return fmt.Errorf("scaleway organization id %q is malformed, want a UUID: %s", *p.DefaultOrganizationID, where(scw.ScwDefaultOrganizationIDEnv, "default_organization_id"))
	}
	if err := checkZone(*p.DefaultZone); err != nil {
		return fmt.Errorf("%w: %s", err, where(scw.ScwDefaultZoneEnv, "default_zone"))
	}
	if p.DefaultRegion != nil && *p.DefaultRegion != "" {
		if _, err := scw.ParseRegion(*p.DefaultRegion); err != nil {
			return fmt.Errorf("scaleway region %q is malformed: %s", *p.DefaultRegion, where(scw.ScwDefaultRegionEnv, "default_region"))
		}
	}
	if p.APIURL != nil && *p.APIURL != "" {
		u, err := url.Parse(*p.APIURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.HasSuffix(*p.APIURL, "/") {
			return fmt.Errorf("scaleway API URL %q is malformed, want https://host[:port] without a trailing slash: %s", *p.APIURL, where(scw.ScwAPIURLEnv, "api_url"))
		}
		// The secret key travels in every request's X-Auth-Token: in clear
		// only to this machine (a local API such as localcloud).
		if u.Scheme == "http" && !loopback(u.Hostname()) {
			return fmt.Errorf("scaleway API URL %q is plain http to another machine, which would send the secret key in clear: use https, or http to a loopback address: %s", *p.APIURL, where(scw.ScwAPIURLEnv, "api_url"))
		}
	}
	return nil
}

// loopback reports whether host is localhost or a loopback address.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkZone accepts the zones the SDK knows (fr-par-1, nl-ams-1...).
func checkZone(zone string) error {
	z, err := scw.ParseZone(zone)
	if err != nil || !z.Exists() {
		names := make([]string, 0, len(scw.AllZones))
		for _, known := range scw.AllZones {
			names = append(names, known.String())
		}
		return fmt.Errorf("unknown scaleway zone %q (known: %s)", zone, strings.Join(names, ", "))
	}
	return nil
}
