package bootstrap

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"bootstrap/network"
	"bootstrap/provider"
	"bootstrap/templates"
	"bootstrap/workspace"
)

// Step names, in pipeline order. They are persisted in state.json.
const (
	StepResolve   = provider.StepResolve
	StepCreate    = provider.StepCreate
	StepConnect   = "connect"
	StepPreflight = "preflight"
	StepUpload    = "upload"
	StepSecrets   = "secrets"
	StepInfect    = "infect"
	StepPin       = "pin"
	StepReboot    = "reboot"
	StepCapture   = "capture"
)

var stepOrder = []string{StepResolve, StepCreate, StepConnect, StepPreflight, StepUpload, StepSecrets, StepInfect, StepPin, StepReboot, StepCapture}

// Step statuses.
const (
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Record is a host's persisted state: hosts/NAME/state.json. It is written
// after every step and whenever a billable resource comes into existence, so an
// interrupted run loses nothing and the next run resumes from it.
type Record struct {
	Version  int    `json:"version"`
	Name     string `json:"name"`
	Provider string `json:"provider"`
	User     string `json:"user"`
	Address  string `json:"address,omitempty"`
	Port     int    `json:"port"`
	Channel  string `json:"channel"`

	// HostKey is the SHA256 fingerprint of the pinned ed25519 host key.
	HostKey string `json:"host_key,omitempty"`

	// DeployKey is the deploy key root logs in with on this host, relative
	// to the workspace: keys/NAME_ed25519 (its own, the default) or
	// keys/deploy_ed25519 (shared with other hosts). Hosts recorded before
	// per-host keys have none: the shared one.
	DeployKey string `json:"deploy_key,omitempty"`

	OS    string           `json:"os,omitempty"`
	Arch  string           `json:"arch,omitempty"`
	Facts *templates.Facts `json:"facts,omitempty"`

	BootIDBefore    string `json:"boot_id_before,omitempty"`
	BootIDAfter     string `json:"boot_id_after,omitempty"`
	RebootRequested bool   `json:"reboot_requested,omitempty"`

	InfectURL    string `json:"infect_url,omitempty"`
	InfectSHA256 string `json:"infect_sha256,omitempty"`
	// InfectEnv is the script's extra environment (--infect-env); a rerun
	// without the flag uses it again.
	InfectEnv map[string]string `json:"infect_env,omitempty"`

	// NixOSVersion is what nixos-version said after the reboot.
	NixOSVersion string `json:"nixos_version,omitempty"`
	// Nixpkgs is the nixpkgs revision the host runs and its channel holds,
	// recorded after the reboot and after every push and rollback.
	Nixpkgs *Nixpkgs `json:"nixpkgs,omitempty"`
	// Pin is the release the host was asked to run (a clone runs its
	// source's); nil: the channel's head when it was bootstrapped.
	Pin *Pin `json:"pin,omitempty"`

	// Network is the host's network as preflight read it before the infect,
	// and NetworkDecision whether it is declared statically (networking.nix)
	// or left to NixOS's DHCP.
	Network         *network.Facts    `json:"network,omitempty"`
	NetworkDecision *network.Decision `json:"network_decision,omitempty"`

	// CloneOf is the machine this one was cloned from.
	CloneOf string `json:"clone_of,omitempty"`

	Steps map[string]*StepRecord `json:"steps"`

	// Machine is the provider's own record: what it created, and with which
	// settings. It is stored, never read here.
	Machine provider.Record `json:"machine,omitzero"`

	// LastRun is how the last run's wall time split between host and tool.
	LastRun *Timing `json:"last_run,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// StepRecord is what one step did last.
type StepRecord struct {
	Status     string    `json:"status"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Seconds    float64   `json:"seconds,omitempty"`
	Note       string    `json:"note,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// recordVersion is the layout of state.json. Version 2 moved a provider's
// own data from a top-level field named after the provider into Machine.
const recordVersion = 2

// DeployKeyName is the deploy key of the host (see DeployKey).
func (r *Record) DeployKeyName() string {
	if r.DeployKey == "" {
		return workspace.SharedKey
	}
	return r.DeployKey
}

// Done reports whether step finished (or was skipped) in an earlier run.
func (r *Record) Done(step string) bool {
	s, ok := r.Steps[step]
	return ok && (s.Status == StatusDone || s.Status == StatusSkipped)
}

// Last returns the last step, in pipeline order, that has a record.
func (r *Record) Last() (string, *StepRecord) {
	var name string
	var rec *StepRecord
	for _, s := range stepOrder {
		if sr, ok := r.Steps[s]; ok {
			name, rec = s, sr
		}
	}
	return name, rec
}

// Complete reports whether the host went all the way through.
func (r *Record) Complete() bool { return r.Done(StepCapture) }

// mark sets a step's status; StatusRunning starts a fresh record.
func (r *Record) mark(step, status string) *StepRecord {
	if r.Steps == nil {
		r.Steps = map[string]*StepRecord{}
	}
	sr, ok := r.Steps[step]
	if !ok || status == StatusRunning {
		sr = &StepRecord{StartedAt: time.Now().UTC()}
		r.Steps[step] = sr
	}
	sr.Status = status
	if status != StatusRunning {
		sr.FinishedAt = time.Now().UTC()
		sr.Seconds = sr.FinishedAt.Sub(sr.StartedAt).Seconds()
	}
	return sr
}

// LoadRecord reads hosts/NAME/state.json, in the current layout whatever
// the version it was written in; ok is false when the host is new.
func LoadRecord(ws *workspace.Workspace, name string) (rec *Record, ok bool, err error) {
	if err := workspace.ValidName(name); err != nil {
		return nil, false, err
	}
	path := ws.HostFile(name, "state.json")
	data, err := ws.ReadHostFile(name, "state.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	rec, err = parseRecord(data, ws.Rel(path))
	if err != nil {
		return nil, false, &BrokenRecordError{Name: name, Path: ws.Rel(path), Err: err}
	}
	// Every path of the host is built from its name: a record must name
	// the directory it is in.
	if rec.Name != name {
		return nil, false, &BrokenRecordError{Name: name, Path: ws.Rel(path), Err: &RecordError{Path: ws.Rel(path), Reason: fmt.Sprintf("it names host %q, not %s, the directory it is in", rec.Name, name)}}
	}
	if k := rec.DeployKey; k != "" && k != workspace.SharedKey && k != workspace.HostKeyName(name) {
		return nil, false, &BrokenRecordError{Name: name, Path: ws.Rel(path), Err: &RecordError{Path: ws.Rel(path), Reason: fmt.Sprintf("its deploy key %q is neither %s nor %s", k, workspace.HostKeyName(name), workspace.SharedKey)}}
	}
	return rec, true, nil
}

// BrokenRecordError is a state.json that cannot be read as a host's record
// (truncated, mistyped, empty, or from a newer bootstrap). It breaks that
// host only.
type BrokenRecordError struct {
	Name string
	Path string // relative to the workspace
	Err  error
}

func (e *BrokenRecordError) Error() string { return e.Err.Error() }
func (e *BrokenRecordError) Unwrap() error { return e.Err }

// Hint says how to mend it.
func (e *BrokenRecordError) Hint() string {
	if errors.Is(e.Err, errNewerRecord) {
		return "upgrade bootstrap"
	}
	return "restore " + e.Path + " from version control (git checkout -- " + e.Path + "), or drop the host with bootstrap forget " + e.Name
}

// RecordError is a state.json that cannot be a record of its host. Nothing
// was done with it.
type RecordError struct {
	Path, Reason string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s: %s; refusing it (restore it from version control)", e.Path, e.Reason)
}

// LoadRecords reads the records of every host of the workspace, by name.
// A record that cannot be read is in broken, and the others are still read.
func LoadRecords(ws *workspace.Workspace) (recs []*Record, broken []*BrokenRecordError, err error) {
	names, err := ws.Hosts()
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		rec, ok, err := LoadRecord(ws, n)
		var be *BrokenRecordError
		switch {
		case errors.As(err, &be):
			broken = append(broken, be)
		case err != nil:
			return nil, nil, err
		case ok:
			recs = append(recs, rec)
		}
	}
	return recs, broken, nil
}

var errNewerRecord = errors.New("written by a newer bootstrap")

// parseRecord decodes state.json (path, for messages) and upgrades an
// older layout. A record without a name or provider ({} or null) is an
// error, not a blank host.
func parseRecord(data []byte, path string) (*Record, error) {
	rec := &Record{}
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if rec.Version > recordVersion {
		return nil, fmt.Errorf("%s was %w (state version %d)", path, errNewerRecord, rec.Version)
	}
	if rec.Name == "" || rec.Provider == "" {
		return nil, fmt.Errorf("%s holds no host record (no name or provider)", path)
	}
	if rec.Version < 2 {
		// Version 1 kept the provider's data in a field named after it:
		// "provider": "NAME", "NAME": {...}.
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(data, &fields); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		if old, ok := fields[rec.Provider]; ok && rec.Provider != "" && rec.Machine.IsZero() {
			rec.Machine = provider.Record{Kind: rec.Provider, Data: old}
		}
		rec.Version = recordVersion
	}
	if rec.Steps == nil {
		rec.Steps = map[string]*StepRecord{}
	}
	return rec, nil
}

// SaveRecord atomically writes hosts/NAME/state.json.
func SaveRecord(ws *workspace.Workspace, rec *Record) error {
	rec.Version = recordVersion
	rec.UpdatedAt = time.Now().UTC()
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = rec.UpdatedAt
	}
	if err := ws.WriteJSON(rec.Name, "state.json", rec); err != nil {
		return fmt.Errorf("save state of %s: %w", rec.Name, err)
	}
	return nil
}
