// Package bootstrap is the step pipeline that turns a reachable Debian/Ubuntu
// machine into NixOS: provision, connect, preflight, upload, secrets, infect,
// pin (a clone: its source's nixpkgs release), reboot, capture. Steps share a
// typed State; progress is persisted to hosts/NAME/state.json after every
// step so that running the same command again resumes. The nixpkgs revision
// a host runs is recorded there too (Nixpkgs, ReadNixpkgs).
//
// It owns the host's record (state.json, its layout version and the upgrade of
// older ones) and the hosts of a workspace once bootstrapped: loading one
// (LoadHost), dialing it (DialHost), reading it as a clone source.
//
// It knows "a machine" only through package provider: it imports no provider
// below provider/ and stores the provider's record without reading it. It
// imports the leaves (remote, infect, templates, channel, secrets, workspace),
// and never cmd or deploy.
package bootstrap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"bootstrap/channel"
	"bootstrap/infect"
	"bootstrap/network"
	"bootstrap/remote"
	"bootstrap/secrets"
	"bootstrap/workspace"
)

// Options are the inputs of one bootstrap run. The CLI fills them from flags,
// env and config files; they are validated before anything is contacted.
type Options struct {
	Name     string
	Provider string // the provider's name, recorded in state.json
	User     string
	Host     string // may be empty when a provider.Machine provisions it
	Port     int
	Channel  channel.Channel

	HostNix     []byte // the user's host.nix
	HostNixPath string // where it came from, for messages ("" when defaulted)

	// Keys are the operator's login keys, offered before the reboot (the
	// deploy key is added after them). After the reboot only the deploy key is used.
	Keys []remote.Key
	// PlanKeys describes, for a dry run, the keys a real run would offer
	// ("~/.ssh/id_ed25519 (SHA256:...)"); nil: Keys' names.
	PlanKeys []string

	HostKey          string   // --host-key SHA256:...
	AcceptNewHostKey bool     // --accept-new-host-key
	ExtraKnownHosts  []string // read-only known_hosts files (~/.ssh/known_hosts)
	// ConfirmHostKey asks the operator about an unknown host key; nil refuses it.
	ConfirmHostKey func(host, fingerprint string) (bool, error)

	AutoUpgrade bool // system.autoUpgrade on the same channel

	// KeepKeys says which keys besides the deploy key become root's on
	// NixOS: KeepAll (root's authorized_keys, the default when empty),
	// KeepNone, or the name of a file whose lines, KeepKeysLines, are the
	// keys (see carryKeys).
	KeepKeys      string
	KeepKeysLines []string

	// SharedDeployKey: a new host gets the workspace's shared deploy key
	// (keys/deploy_ed25519) instead of its own (keys/NAME_ed25519).
	SharedDeployKey bool

	// Network is how the host's network is declared after the reboot:
	// network.ModeAuto (the default when empty), ModeDHCP or ModeStatic.
	Network string

	// ExtraFiles are uploaded to /etc/nixos besides the generated files, by
	// relative path (a clone's other files). CloneOf names the source.
	ExtraFiles   map[string][]byte
	CloneOf      string
	StateVersion string // overrides the channel's system.stateVersion
	// Pin makes the host build this release of Channel instead of the
	// channel's head (a clone: its source's); nil on a rerun means the
	// recorded one.
	Pin *Pin

	// SecretIdentities decrypt hosts/NAME/secrets/*.age (age identities or
	// SSH private keys); empty means the usual places.
	SecretIdentities []string

	Infect         infect.Source
	InfectCacheDir string
	// InfectEnv is the script's extra environment (--infect-env, checked by
	// infect.ParseEnv). nil on a rerun means the recorded one.
	InfectEnv map[string]string

	Timeout       time.Duration // the whole run
	RebootTimeout time.Duration // the wait for the host to come back
	// ConnectTimeout bounds the connect step of a host that should already
	// be up (0: DefaultConnectTimeout). A cloud machine created and not yet
	// reached waits for the whole Timeout instead.
	ConnectTimeout time.Duration

	Stdout  io.Writer // short progress lines
	Verbose io.Writer // when set: the remote commands and the dial's retries
}

// State is what steps share. Rec is persisted; the rest lives for one run.
type State struct {
	Opts   Options
	WS     *workspace.Workspace
	Rec    *Record
	Deploy *workspace.DeployKey
	Log    io.Writer // hosts/NAME/bootstrap.log: the whole remote output

	client *conn
	clock  clock
	facts  *facts // this run's preflight reading
	// net is the host's network as preflight read it before the infect
	// (also recorded); nil on a NixOS host.
	net *network.Facts

	// alreadyNixOS is set by preflight when the host runs NixOS without
	// having been infected by this workspace: upload, infect and reboot are skipped.
	alreadyNixOS bool

	script []byte // nixos-infect, fetched and checked before connecting

	secrets *secrets.Decrypted // in memory only; wiped at the end

	note string // the running step's one-line summary

	// connected, when set, is called once the connect step is recorded
	// done (provider.Machine's optional Connected).
	connected func(context.Context) error
}

// Note sets the summary printed after the running step.
func (s *State) Note(format string, args ...any) { s.note = fmt.Sprintf(format, args...) }

// Save persists the record; steps call it whenever something worth keeping happened.
func (s *State) Save() error { return SaveRecord(s.WS, s.Rec) }

// Step is one stage of the pipeline.
type Step interface {
	Name() string
	// Run does the step. A step already done in an earlier run is skipped
	// unless it implements always.
	Run(ctx context.Context, s *State) error
}

// always marks steps that run on every invocation (connect, preflight):
// they only read, and later steps need what they find.
type always interface{ always() }

// redoer is a step that must run again although done, e.g. upload after a
// failed infect, so a corrected host.nix reaches the host.
type redoer interface{ redo(s *State) bool }

// starter is a step long enough to announce itself when it starts.
type starter interface{ starting(s *State) string }

// cleaner is implemented by steps holding something to release or report;
// Cleanup runs in reverse order after the pipeline, on success or failure,
// and must cope with partial state.
type cleaner interface{ Cleanup(s *State) }

// StepError says which step failed; the CLI renders it with a hint.
type StepError struct {
	Step     string
	Host     string
	Provider string // the host's provider ("ssh", a cloud's name), for hints
	Err      error
}

func (e *StepError) Error() string { return fmt.Sprintf("%s %s: %v", e.Step, e.Host, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// Run executes steps in order, skipping the ones an earlier run finished.
func Run(ctx context.Context, s *State, steps []Step) (err error) {
	out := s.Opts.Stdout
	if out == nil {
		out = io.Discard
	}
	var ran []Step
	defer func() {
		for i := len(ran) - 1; i >= 0; i-- {
			if c, ok := ran[i].(cleaner); ok {
				c.Cleanup(s)
			}
		}
	}()
	for _, st := range steps {
		name := st.Name()
		_, alw := st.(always)
		redo := false
		if r, ok := st.(redoer); ok {
			redo = r.redo(s)
		}
		if !alw && !redo && s.Rec.Done(name) {
			sr := s.Rec.Steps[name]
			fmt.Fprintf(out, "  %-9s  skipped   %s\n", name, cmp.Or(sr.Note, "done in an earlier run"))
			continue
		}
		if err := ctx.Err(); err != nil {
			return &StepError{Step: name, Host: s.Rec.Name, Provider: s.Rec.Provider, Err: err}
		}
		s.note = ""
		s.Rec.mark(name, StatusRunning)
		if err := s.Save(); err != nil {
			return err
		}
		fmt.Fprintf(s.Log, "\n==> %s %s (%s)\n", name, s.Rec.Name, time.Now().UTC().Format(time.RFC3339))
		if st, ok := st.(starter); ok {
			if line := st.starting(s); line != "" {
				fmt.Fprintf(out, "  %-9s  ...       %s\n", name, line)
			}
		}
		ran = append(ran, st)
		runErr := st.Run(ctx, s)
		if runErr != nil {
			sr := s.Rec.mark(name, StatusFailed)
			sr.Error = runErr.Error()
			fmt.Fprintf(s.Log, "==> %s failed: %v\n", name, runErr)
			fmt.Fprintf(out, "  %-9s  %8s  failed\n", name, round(sr.Seconds))
			if err := s.Save(); err != nil {
				return errors.Join(&StepError{Step: name, Host: s.Rec.Name, Provider: s.Rec.Provider, Err: runErr}, err)
			}
			return &StepError{Step: name, Host: s.Rec.Name, Provider: s.Rec.Provider, Err: runErr}
		}
		status := StatusDone
		if s.Rec.Steps[name].Status == StatusSkipped { // the step decided it had nothing to do
			status = StatusSkipped
		}
		sr := s.Rec.mark(name, status)
		sr.Note = s.note
		if err := s.Save(); err != nil {
			return err
		}
		fmt.Fprintf(out, "  %-9s  %8s  %s\n", name, round(sr.Seconds), s.note)
		if name == StepConnect && s.connected != nil {
			if err := s.connected(ctx); err != nil {
				return &StepError{Step: name, Host: s.Rec.Name, Err: err}
			}
			s.connected = nil
		}
	}
	return nil
}

func round(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
