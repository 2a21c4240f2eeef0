package cmd

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"github.com/scaleway/scaleway-sdk-go/scw"
	"github.com/spf13/cobra"

	"bootstrap/bootstrap"
	"bootstrap/provider/scaleway"
	"bootstrap/workspace"
)

// ScalewayOptions are the inputs of `bootstrap scaleway`.
type ScalewayOptions struct {
	pipelineOptions
	Type    string
	Zone    string
	Image   string
	Project string
	Profile string

	global *globalOptions
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newScalewayCmd(g *globalOptions) *cobra.Command {
	o := &ScalewayOptions{global: g}
	cmd := &cobra.Command{
		Use:   "scaleway NAME",
		Short: "Create a Scaleway instance and turn it into NixOS",
		Long: `Create a Scaleway instance (a flexible IPv4, a server with an SBS root volume) and
run the bootstrap pipeline on it. Credentials are read the way the scw CLI reads them:
the scw config file (active profile, or --profile), then SCW_ACCESS_KEY, SCW_SECRET_KEY,
SCW_DEFAULT_PROJECT_ID, SCW_DEFAULT_ZONE, SCW_API_URL. Every id is recorded in
hosts/NAME/state.json the moment it exists; bootstrap destroy NAME removes them.`,
		Example: `  bootstrap scaleway web-1 --channel nixos-24.11 --host-nix ./host.nix --type DEV1-S --zone fr-par-1
  bootstrap scaleway web-2 --channel nixos-20.09 --image debian_bookworm --yes`,
		Args: cobra.ExactArgs(1),
		PreRunE: func(cmd *cobra.Command, args []string) error {
			return applySettings(cmd, g)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			o.stdin, o.stdout, o.stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			return runScaleway(cmd.Context(), cmd, o)
		},
	}
	o.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Type, "type", "DEV1-S", "commercial type")
	f.StringVar(&o.Zone, "zone", "", "zone (default: the scw profile's, else fr-par-1)")
	f.StringVar(&o.Image, "image", "ubuntu_noble", "marketplace image label: ubuntu_noble, ubuntu_jammy, debian_bookworm...")
	f.StringVar(&o.Project, "project", "", "project id (default: the scw profile's)")
	f.StringVar(&o.Profile, "profile", "", "scw config profile (default: the active one)")
	return cmd
}

// scalewayClient loads credentials like scw and builds the retrying client.
func scalewayClient(profileName, zone string) (*scaleway.Provider, *scw.Profile, error) {
	profile, err := scaleway.LoadConfig(profileName)
	if err != nil {
		return nil, nil, &UsageError{Msg: err.Error()}
	}
	if zone != "" {
		if _, err := scw.ParseZone(zone); err != nil || !scw.Zone(zone).Exists() {
			return nil, nil, usagef("unknown zone %q: use one of %s", zone, zoneList())
		}
		profile.DefaultZone = &zone
	}
	client, err := scaleway.NewClient(profile)
	if err != nil {
		return nil, nil, fmt.Errorf("scaleway client: %w", err)
	}
	return scaleway.New(client), profile, nil
}

func zoneList() string {
	var zs []string
	for _, z := range scw.AllZones {
		zs = append(zs, z.String())
	}
	return strings.Join(zs, ", ")
}

func runScaleway(ctx context.Context, cmd *cobra.Command, o *ScalewayOptions) error {
	opts, err := o.resolve(cmd.Flags())
	if err != nil {
		return err
	}
	opts.Stdout = o.stdout
	ws, err := workspace.Open(o.global.Workspace)
	if err != nil {
		return err
	}
	return runScalewayPipeline(ctx, cmd, o, ws, opts)
}

// runScalewayPipeline validates against the API, confirms, and runs the
// pipeline on a new (or resumed) instance (also used by clone).
func runScalewayPipeline(ctx context.Context, cmd *cobra.Command, o *ScalewayOptions, ws *workspace.Workspace, opts bootstrap.Options) error {
	opts.Provider = "scaleway"
	opts.User, opts.Port = "root", 22
	rec, existed, err := bootstrap.LoadRecord(ws, opts.Name)
	if err != nil {
		return err
	}
	prov, profile, err := scalewayClient(o.Profile, o.Zone)
	if err != nil {
		return err
	}
	spec := scaleway.Spec{
		Name:           opts.Name,
		Zone:           *profile.DefaultZone,
		CommercialType: strings.ToUpper(o.Type),
		ImageLabel:     o.Image,
		ProjectID:      o.Project,
	}
	if spec.ProjectID == "" && profile.DefaultProjectID != nil {
		spec.ProjectID = *profile.DefaultProjectID
	}
	var made *scaleway.Record
	if existed {
		if made, _, err = scaleway.LoadRecord(rec.Machine); err != nil {
			return err
		}
	}
	if made != nil && !cmd.Flags().Changed("zone") && o.Zone == "" {
		spec.Zone = made.Zone // resume where it was created
	}
	if o.DryRun {
		fmt.Fprintf(o.stdout, "0. create     %s %s from image %s in %s (project %s): a flexible IPv4, the server, its SBS root volume;\n"+
			"              cloud-init user data with the deploy key and an ed25519 host key generated here (pinned before the first connection)\n",
			"Scaleway", spec.CommercialType, spec.ImageLabel, spec.Zone, spec.ProjectID)
		return bootstrap.Plan(o.stdout, ws, opts)
	}
	id, err := ws.ID()
	if err != nil {
		return err
	}
	deploy, err := ws.EnsureDeployKey()
	if err != nil {
		return err
	}
	spec.WorkspaceID, spec.DeployKey = id, deploy.AuthorizedKey
	// Everything checkable is checked before anything billable exists.
	if made == nil || made.ServerID == "" {
		// The real host key is made by the machine; validation only needs one.
		vs := spec
		if _, vs.HostKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return err
		}
		if err := prov.Validate(ctx, vs); err != nil {
			return &UsageError{Msg: err.Error()}
		}
		what := fmt.Sprintf("creates a %s server (%s) and a flexible IPv4 in %s, billed until bootstrap destroy %s", spec.CommercialType, spec.ImageLabel, spec.Zone, spec.Name)
		if err := confirm(o.stdin, o.stderr, o.Yes, what); err != nil {
			return err
		}
	}
	prov.Log = nil
	machine := &scaleway.Machine{Provider: prov, Spec: spec, KeyFile: ws.HostFile(opts.Name, "ssh_host_ed25519_key")}
	// Only the deploy key logs in on a fresh instance (cloud-init put it there).
	keys, closer, err := loadKeys(o.Identities, o.Agent, o.stderr, len(o.Identities) == 0 && !o.Agent)
	if err != nil {
		return err
	}
	defer closer.Close()
	opts.Keys = keys
	return bootstrap.Bootstrap(ctx, ws, opts, machine)
}
