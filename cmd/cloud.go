package cmd

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"bootstrap/bootstrap"
	"bootstrap/provider"
	"bootstrap/provider/scaleway"
	"bootstrap/workspace"
)

// clouds are the providers that create machines: each gets its verb
// (bootstrap NAME), and destroy and clone --to serve them by name.
var clouds = []provider.Cloud{
	scaleway.Cloud{},
}

// cloudNamed is the cloud of that name, or nil.
func cloudNamed(name string) provider.Cloud {
	for _, c := range clouds {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// settingFlags binds a string flag for each setting of the clouds
// (selected by keep; clouds that share a setting share its flag) into
// values, by setting name, completing the values a setting lists.
func settingFlags(cmd *cobra.Command, values map[string]*string, keep func(provider.Setting) bool, usage func(provider.Cloud, provider.Setting) (def, text string)) {
	for _, c := range clouds {
		for _, s := range c.Settings() {
			if _, done := values[s.Name]; done || !keep(s) {
				continue
			}
			def, text := usage(c, s)
			values[s.Name] = cmd.Flags().String(s.Name, def, text)
			if len(s.Values) > 0 {
				_ = cmd.RegisterFlagCompletionFunc(s.Name, completeValues(s.Values))
			}
		}
	}
}

// settingsOf reads the flag values of c's settings.
func settingsOf(c provider.Cloud, values map[string]*string) map[string]string {
	out := map[string]string{}
	for _, s := range c.Settings() {
		if v, ok := values[s.Name]; ok {
			out[s.Name] = *v
		}
	}
	return out
}

// CloudOptions are the inputs of a cloud's verb (bootstrap scaleway).
type CloudOptions struct {
	pipelineOptions
	cloud    provider.Cloud
	Settings map[string]string

	global *globalOptions
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newCloudCmd(g *globalOptions, c provider.Cloud) *cobra.Command {
	o := &CloudOptions{cloud: c, global: g}
	values := map[string]*string{}
	help := c.Help()
	cmd := &cobra.Command{
		Use:     help.Use,
		Short:   help.Short,
		Long:    help.Long,
		Example: help.Example,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			o.Name = args[0]
			o.Settings = settingsOf(c, values)
			o.stdin, o.stdout, o.stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := workspace.ValidName(o.Name); err != nil {
				return &UsageError{Msg: err.Error() + " (NAME is the first argument)"}
			}
			opts, err := o.resolve(cmd.Context(), cmd.Flags())
			if err != nil {
				return err
			}
			o.printWarnings(o.stderr)
			if o.DryRun {
				ws, err := workspace.Load(o.global.Workspace)
				if err != nil {
					return err
				}
				return runCloudPipeline(cmd.Context(), o, ws, opts)
			}
			ws, err := workspace.Load(o.global.Workspace)
			if err != nil {
				return err
			}
			opts.Stdout, opts.Verbose = o.streams(g, o.stdout, o.stderr)
			defer func() { err = o.report(g, o.stdout, ws, opts.Name, err) }()
			return runCloudPipeline(cmd.Context(), o, ws, opts)
		},
	}
	o.bind(cmd)
	settingFlags(cmd, values, func(provider.Setting) bool { return true }, func(_ provider.Cloud, s provider.Setting) (string, string) {
		return s.Default, s.Usage
	})
	return cmd
}

// runCloudPipeline orders the machine, checks the order against the cloud
// (read-only API calls) and confirms it (unless an earlier run created the
// machine), then runs the pipeline on it (also used by clone). Nothing is
// written before the order is checked and confirmed.
func runCloudPipeline(ctx context.Context, o *CloudOptions, ws *workspace.Workspace, opts bootstrap.Options) error {
	opts.Provider = o.cloud.Name()
	opts.User, opts.Port = "root", 22 // cloud-init installs the deploy key for root
	var prior provider.Record
	if rec, existed, err := bootstrap.LoadRecord(ws, opts.Name); err != nil {
		return err
	} else if existed {
		prior = rec.Machine
	}
	order, err := o.cloud.Order(opts.Name, o.Settings, prior)
	if err != nil {
		return err
	}
	// Everything checkable is checked before anything billable exists, or
	// anything is written: with a stand-in owner, the real one is made below.
	bill := order.Bill()
	if bill != "" {
		if err := order.Check(ctx, checkOwner()); err != nil {
			return err
		}
	}
	if o.DryRun {
		if opts.PlanKeys, err = describeKeys(o.Identities, o.Agent, len(o.Identities) == 0 && !o.Agent); err != nil {
			return err
		}
		fmt.Fprint(o.stdout, order.Plan())
		return bootstrap.Plan(o.stdout, ws, opts)
	}
	// One run per host from here on: the first write.
	unlock, err := lockHosts(ws, true, opts.Name)
	if err != nil {
		return err
	}
	defer unlock()
	if bill != "" {
		if err := confirm(o.stdin, o.stderr, o.Yes, bill); err != nil {
			return err
		}
	}
	// Only the deploy key logs in on a fresh instance (cloud-init put it there).
	keys, closer, err := loadKeys(o.Identities, o.Agent, o.stderr, len(o.Identities) == 0 && !o.Agent)
	if err != nil {
		return err
	}
	defer closer.Close()
	opts.Keys = keys
	id, err := ws.ID()
	if err != nil {
		return err
	}
	deploy, err := bootstrap.DeployKey(ws, opts.Name, opts.SharedDeployKey)
	if err != nil {
		return err
	}
	keyFile, err := ws.Confine(ws.HostFile(opts.Name, bootstrap.HostKeyFile))
	if err != nil {
		return err
	}
	owner := provider.Owner{WorkspaceID: id, DeployKey: deploy.AuthorizedKey, HostKeyFile: keyFile}
	err = bootstrap.Bootstrap(ctx, ws, opts, order.Machine(owner))
	return billedError(ws, o.cloud, opts.Name, err)
}

// BilledError is a failure after something billable exists: it says what
// is billed and how to delete it, whatever the failure was.
type BilledError struct {
	Name, What string
	Err        error
}

func (e *BilledError) Error() string { return e.Err.Error() }
func (e *BilledError) Unwrap() error { return e.Err }

// Billed says what exists and is billed.
func (e *BilledError) Billed() string { return e.What }

// Destroy is the command that deletes it.
func (e *BilledError) Destroy() string { return "bootstrap destroy " + e.Name }

// billedError wraps a failed run of a cloud's pipeline with what the
// host's record says exists.
func billedError(ws *workspace.Workspace, c provider.Cloud, name string, err error) error {
	if err == nil {
		return nil
	}
	rec, ok, lerr := bootstrap.LoadRecord(ws, name)
	if lerr != nil || !ok {
		return err
	}
	if what := c.Billed(rec.Machine); what != "" {
		return &BilledError{Name: name, What: what, Err: err}
	}
	return err
}

// checkOwner stands in for the workspace when an order is checked before
// anything is written: a workspace id and a deploy key of the right form.
func checkOwner() provider.Owner {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	pk, _ := ssh.NewPublicKey(pub)
	return provider.Owner{WorkspaceID: "0000000000000000", DeployKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " check"}
}

// cloudNames lists the clouds for messages: "scaleway".
func cloudNames() string {
	var names []string
	for _, c := range clouds {
		names = append(names, c.Name())
	}
	return strings.Join(names, " or ")
}
