package bootstrap

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"time"

	"bootstrap/infect"
	"bootstrap/provider"
	"bootstrap/workspace"
)

// Default timeouts.
const (
	DefaultTimeout       = 60 * time.Minute
	DefaultRebootTimeout = 10 * time.Minute
	// DefaultConnectTimeout bounds reaching a host that should be up.
	DefaultConnectTimeout = 2 * time.Minute
)

// Bootstrap runs the whole pipeline for opts.Name, resuming an earlier run
// of the same host. machine, when non-nil, provisions the host first.
func Bootstrap(ctx context.Context, ws *workspace.Workspace, opts Options, machine provider.Machine) error {
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.RebootTimeout <= 0 {
		opts.RebootTimeout = DefaultRebootTimeout
	}
	if opts.Port == 0 {
		opts.Port = 22
	}
	start := time.Now()
	rec, existed, err := recordFor(ws, opts)
	if err != nil {
		return err
	}
	// Fetch and check nixos-infect first: a bad URL or checksum fails the
	// run before anything is contacted or written.
	var script []byte
	if !rec.Done(StepInfect) {
		f := infect.Fetcher{CacheDir: opts.InfectCacheDir}
		if script, err = f.Fetch(ctx, opts.Infect); err != nil {
			return &StepError{Step: StepInfect, Host: opts.Name, Err: fmt.Errorf("fetch nixos-infect: %w", err)}
		}
	}
	// Secrets are decrypted before anything is written: one that cannot be
	// leaves the workspace as it was.
	s := &State{Opts: opts, WS: ws, Rec: rec, script: script}
	s.clock.start = start
	if err := loadSecrets(s); err != nil {
		return err
	}
	defer s.secrets.Wipe()
	deploy, err := DeployKey(ws, opts.Name, opts.SharedDeployKey)
	if err != nil {
		return err
	}
	rec.DeployKey = ws.Rel(deploy.Path)
	logf, err := ws.OpenLog(opts.Name)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n#### bootstrap %s %s (%s) at %s\n", opts.Provider, opts.Name, opts.Channel, time.Now().UTC().Format(time.RFC3339))
	s.Deploy, s.Log = deploy, logf
	if script != nil {
		rec.InfectURL, rec.InfectSHA256 = opts.Infect.URL, opts.Infect.SHA256
		if opts.InfectEnv != nil {
			rec.InfectEnv = opts.InfectEnv
		}
	}
	if err := s.Save(); err != nil {
		return err
	}
	verb := "bootstrap"
	if existed {
		verb = "resume"
	}
	fmt.Fprintf(opts.Stdout, "%s %s: %s to NixOS %s\n", verb, opts.Name, cmp.Or(hostLabel(rec), opts.Provider+" machine"), opts.Channel)

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var steps []Step
	if machine != nil {
		steps = append(steps, provisionStep{machine})
	}
	steps = append(steps, connectStep{}, preflightStep{}, uploadStep{}, secretsStep{}, infectStep{})
	if rec.Pin != nil {
		steps = append(steps, pinStep{})
	}
	steps = append(steps, rebootStep{}, captureStep{})
	runErr := Run(ctx, s, steps)
	s.Rec.LastRun = s.clock.timing()
	if err := s.Save(); err != nil && runErr == nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	fmt.Fprintf(opts.Stdout, "done: %s runs NixOS %s at %s\n  bootstrap connect %s\n  ssh -i %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes root@%s\n",
		opts.Name, opts.Channel, rec.Address, opts.Name, ws.Rel(deploy.Path), ws.Rel(ws.KnownHosts()), sshHost(rec))
	return nil
}

func hostLabel(r *Record) string {
	if r.Address == "" {
		return ""
	}
	return r.User + "@" + r.Address
}

func sshHost(r *Record) string {
	if r.Port != 22 {
		return r.Address + " -p " + fmt.Sprint(r.Port)
	}
	return r.Address
}

// recordFor loads the host's record, refusing inputs that contradict it, or
// starts a new one from opts.
func recordFor(ws *workspace.Workspace, opts Options) (rec *Record, existed bool, err error) {
	rec, existed, err = LoadRecord(ws, opts.Name)
	if err != nil {
		return nil, false, err
	}
	if existed {
		if err := compatible(rec, opts); err != nil {
			return nil, true, err
		}
		if !rec.Done(StepConnect) {
			// Never reached: a typo in the host, port or channel is not a
			// machine to stay with. The rerun's replace them.
			rec.Channel = opts.Channel.String()
			if opts.Host != "" {
				rec.User, rec.Address, rec.Port = opts.User, opts.Host, opts.Port
			}
		}
		if rec.Pin == nil && opts.Pin != nil {
			// A pin asked for on a rerun applies while the reboot is ahead.
			if rec.Done(StepReboot) {
				return nil, true, &provider.ConflictError{Name: rec.Name, Field: "release", Recorded: "the channel's head", Given: opts.Pin.Release}
			}
			rec.Pin = opts.Pin
		}
		return rec, true, nil
	}
	return &Record{Name: opts.Name, Provider: opts.Provider, User: opts.User, Address: opts.Host, Port: opts.Port, Channel: opts.Channel.String(), CloneOf: opts.CloneOf, Pin: opts.Pin}, false, nil
}

// compatible refuses a rerun whose inputs contradict the record: resuming
// with another channel or address would mix two machines' state. A host
// never reached may change its address, port, user and channel.
func compatible(rec *Record, o Options) error {
	if rec.Provider != "" && rec.Provider != o.Provider {
		return &provider.ConflictError{Name: rec.Name, Field: "provider", Recorded: rec.Provider, Given: o.Provider}
	}
	if o.Pin != nil && rec.Pin != nil && *o.Pin != *rec.Pin {
		return &provider.ConflictError{Name: rec.Name, Field: "release", Recorded: rec.Pin.Release, Given: o.Pin.Release}
	}
	if !rec.Done(StepConnect) {
		return nil
	}
	if rec.Channel != "" && rec.Channel != o.Channel.String() {
		return &provider.ConflictError{Name: rec.Name, Field: "channel", Recorded: rec.Channel, Given: o.Channel.String()}
	}
	if o.Host != "" && rec.Address != "" && rec.Address != o.Host {
		return &provider.ConflictError{Name: rec.Name, Field: "address", Recorded: rec.Address, Given: o.Host}
	}
	if o.Port != 0 && rec.Port != 0 && rec.Port != o.Port {
		return &provider.ConflictError{Name: rec.Name, Field: "port", Recorded: fmt.Sprint(rec.Port), Given: fmt.Sprint(o.Port)}
	}
	return nil
}

// provisionStep asks the Machine for the host (create it, or find the one
// an earlier run created). It always runs so a resumed run re-checks it.
type provisionStep struct{ m provider.Machine }

func (p provisionStep) Name() string { return p.m.Step() }

func (p provisionStep) starting(s *State) string {
	if st, ok := p.m.(interface{ Starting(provider.Record) string }); ok {
		return st.Starting(s.Rec.Machine)
	}
	return ""
}
func (provisionStep) always() {}

func (p provisionStep) Run(ctx context.Context, s *State) error {
	got, err := p.m.Provision(ctx, &provider.Run{Record: &s.Rec.Machine, Save: s.Save, Connected: s.Rec.Done(StepConnect)})
	if err != nil {
		return err
	}
	if s.Rec.Address != "" && s.Rec.Address != got.Address && s.Rec.Done(StepConnect) {
		return fmt.Errorf("%s moved from %s to %s: destroy it and start again", s.Rec.Name, s.Rec.Address, got.Address)
	}
	s.Rec.Address = got.Address
	if c, ok := p.m.(interface {
		Connected(context.Context) error
	}); ok && got.HostKey != nil {
		// A machine keeping a secret until the first connection (a host
		// key it generated) hears once that connection is recorded.
		s.connected = c.Connected
	}
	if got.HostKey != nil && !s.Rec.Done(StepPreflight) {
		if err := s.WS.PinHostKey(got.Address, s.Rec.Port, got.HostKey); err != nil {
			return err
		}
	}
	s.Note("%s", got.Note)
	return nil
}
