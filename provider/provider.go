// Package provider is where machines come from, and the contract between
// the pipeline (package bootstrap) and the providers below this folder:
// provider/ssh for a host that already exists, provider/scaleway for one a
// cloud creates.
//
// The pipeline asks a Machine to provision; the Machine says where the host
// is (Provisioned) and keeps what it created in a Record that the pipeline
// stores in state.json without reading it. The command line gives each
// Cloud, a provider that creates machines, its verb, destroy and clone --to.
// Neither side imports the other: a provider imports this package and the
// leaves (remote, workspace...), never bootstrap/ or cmd/, and bootstrap/
// never names a provider. A second cloud is a new folder here and one line
// in cmd.
//
// This package imports nothing of this module.
package provider

import (
	"context"
	"encoding/json"
	"fmt"

	"golang.org/x/crypto/ssh"
)

// The steps a Machine provisions under. They are persisted in state.json.
const (
	StepResolve = "resolve" // an existing host: its name resolves
	StepCreate  = "create"  // a cloud machine: created, or found again
)

// Machine is where a host comes from: an existing host, or one a cloud
// creates. It is defined here rather than where it is used because the
// pipeline and the providers may not import each other.
//
// A Machine may also have these methods, which the pipeline calls when present:
//
//	Starting(rec Record) string          // one line saying what Provision is about to do
//	Connected(ctx context.Context) error // the first SSH connection, verified against Provisioned.HostKey, is recorded
type Machine interface {
	// Step names the provisioning step: StepResolve or StepCreate.
	Step() string
	// Provision makes sure the machine exists and says where to reach it.
	// It is called on every run, resumes too.
	Provision(ctx context.Context, run *Run) (Provisioned, error)
}

// Run is what the pipeline hands Provision.
type Run struct {
	// Record is the provider's own record from earlier runs (zero on the
	// first). Provision updates it and calls Save before it asks for a
	// billable resource (where, and with which tags: what finds it again)
	// and the moment one exists, so that nothing is billed that the
	// workspace cannot find, whenever the run is killed.
	Record *Record
	Save   func() error
	// Connected: an earlier run reached the machine over SSH, so its host
	// key is pinned in the workspace.
	Connected bool
}

// Provisioned is where a machine can be reached.
type Provisioned struct {
	Address string
	// HostKey, when the machine's ed25519 host key was made by us (cloud-init
	// user data), is pinned before the first contact: no trust on first use.
	HostKey ssh.PublicKey
	Note    string // one line for the terminal
}

// Record is a provider's own data about one machine: what it created and
// with which settings. The pipeline stores it in state.json and never reads
// Data; only the provider named by Kind does.
type Record struct {
	Kind string          `json:"kind"`           // the provider that wrote it
	Data json.RawMessage `json:"data,omitempty"` // its JSON, as it wrote it
}

// IsZero reports an empty record (a provider that keeps nothing), which
// state.json leaves out.
func (r Record) IsZero() bool { return r.Kind == "" && len(r.Data) == 0 }

// Decode reads the data of a record of kind into v. ok is false when the
// record is empty; a record of another kind is an error.
func (r Record) Decode(kind string, v any) (ok bool, err error) {
	if r.IsZero() {
		return false, nil
	}
	if r.Kind != kind {
		return false, fmt.Errorf("the machine record is %q, not %q", r.Kind, kind)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		return false, fmt.Errorf("read the %s machine record: %w", kind, err)
	}
	return true, nil
}

// Encode makes v, as JSON, the data of a record of kind.
func (r *Record) Encode(kind string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("write the %s machine record: %w", kind, err)
	}
	r.Kind, r.Data = kind, data
	return nil
}

// ConflictError is a run whose inputs contradict what the workspace
// recorded for the host (its channel, address, or a cloud's zone); nothing
// was contacted.
type ConflictError struct {
	Name, Field, Recorded, Given string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s was bootstrapped with %s %s, not %s", e.Name, e.Field, e.Recorded, e.Given)
}

// Cloud is a provider that creates machines and deletes them again. The
// command line gives each Cloud a verb of its own (bootstrap NAME), and its
// destroy and clone --to serve them by name: a new cloud is a package below
// provider/ and one line in cmd. Like Machine, it is defined here so that
// its providers need not import the command line.
type Cloud interface {
	// Name is the verb, and the provider recorded in state.json: the Kind
	// of its records.
	Name() string
	Help() Help
	// Settings are its own flags (machine type, zone...); bootstrap.yaml
	// and BOOTSTRAP_* set them too.
	Settings() []Setting
	// Order settles what to create for the host name from the settings
	// (empty ones take their defaults) and from prior, its record of an
	// earlier run (zero for a new host), loading the credentials. Nothing
	// is contacted; bad settings or credentials are a *ConfigError.
	Order(name string, settings map[string]string, prior Record) (Order, error)
	// SettingsOf are the settings the machine of rec was created with, for
	// a clone of it.
	SettingsOf(rec Record) (map[string]string, error)
	// Destroy deletes what rec records for the host name, and whatever else
	// carries the workspace's tags for it (an interrupted run may have
	// created something it could not record, or a duplicate). rec may be
	// zero (state.json lost): the tags alone find the host's resources. It
	// asks confirm first, with what it is about to delete. Already gone is
	// fine; every deletion is attempted and the errors combined.
	Destroy(ctx context.Context, name, workspaceID string, rec Record, settings map[string]string, confirm func(what string) error) (Destroyed, error)
	// Billed says what rec records as existing (and billed), for the
	// message of a run that failed after something was created; "" when
	// nothing is.
	Billed(rec Record) string
}

// Order is a machine a Cloud is about to create, or created in an earlier
// run.
type Order interface {
	// Plan says what would be created, for a dry run.
	Plan() string
	// Bill says what creating it bills, for the operator to confirm; ""
	// when an earlier run created it (then there is nothing to Check).
	Bill() string
	// Check checks the order against the cloud before anything billable
	// exists; a refusal is a *ConfigError.
	Check(ctx context.Context, o Owner) error
	// Machine is the order, for the pipeline.
	Machine(o Owner) Machine
}

// Owner is what a cloud machine gets from its workspace.
type Owner struct {
	WorkspaceID string // tags its resources, to find them again
	DeployKey   string // authorized_keys line installed for root
	// HostKeyFile holds the host key generated for the machine from the
	// moment it goes into its cloud-init user data until the first SSH
	// connection pinned its public half.
	HostKeyFile string
}

// Help describes a Cloud's verb.
type Help struct {
	Use, Short, Long, Example string
}

// Setting is one of a Cloud's own settings, given as --NAME.
type Setting struct {
	Name    string
	Default string // "" for none
	Usage   string
	// CloneUsage describes it for clone --to, where it defaults to the
	// source's setting when the source was made by the same cloud.
	CloneUsage string
	// Destroy: destroy takes it too (which credentials to use).
	Destroy bool
	// Values are the usual values, for shell completion ("" none).
	Values []string
}

// Destroyed says what Destroy deleted.
type Destroyed struct {
	What  string // the resources, "" when nothing existed
	Where string // e.g. the zone
}

// ConfigError is a setting or credential the operator has to fix; nothing
// was created.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// APIError is a cloud API that failed, refused the credentials or could not
// be reached: something was contacted, and it is not the operator's input
// that is wrong.
type APIError struct{ Err error }

func (e *APIError) Error() string { return e.Err.Error() }
func (e *APIError) Unwrap() error { return e.Err }
