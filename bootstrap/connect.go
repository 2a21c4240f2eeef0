package bootstrap

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"

	"bootstrap/remote"
)

// connectStep opens the SSH connection the following steps share. Before the
// reboot it offers the operator's keys and then the deploy key (which already
// works when an earlier run got the host to NixOS); after it, the deploy key alone.
type connectStep struct{}

func (connectStep) Name() string { return StepConnect }
func (connectStep) always()      {}

func (connectStep) Run(ctx context.Context, s *State) error {
	post := s.Rec.Done(StepReboot)
	cfg := s.dialConfig(post)
	out := s.Opts.Stdout
	cfg.Progress = func(addr string, attempt int, err error) {
		fmt.Fprintf(out, "  %-9s  still trying %s (attempt %d: %s)\n", StepConnect, addr, attempt, remote.Reason(err))
	}
	limit := cmp.Or(s.Opts.ConnectTimeout, DefaultConnectTimeout)
	if s.freshMachine() {
		// Just created: it boots, runs cloud-init and may take a while to
		// take the deploy key. The whole --timeout is its to use.
		limit = 0
		cfg.AuthAttempts = 3
	}
	dctx := ctx
	if limit > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	c, err := remote.Dial(dctx, cfg)
	if err != nil {
		var ue *remote.UnreachableError
		if limit > 0 && ctx.Err() == nil && errors.As(err, &ue) {
			return fmt.Errorf("no SSH answer within --connect-timeout %s: %w", limit, err)
		}
		return err
	}
	s.clock.handshake()
	s.client = &conn{Client: c, clock: &s.clock}
	s.Rec.HostKey = remote.Fingerprint(c.HostKey())
	s.Note("%s, host key %s", s.target(), s.Rec.HostKey)
	return nil
}

func (connectStep) Cleanup(s *State) {
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
}

// freshMachine: a machine a cloud made for this host that was never reached.
func (s *State) freshMachine() bool {
	return !s.Rec.Machine.IsZero() && !s.Rec.Done(StepConnect)
}

// target is user@host:port for messages.
func (s *State) target() string {
	return s.Rec.User + "@" + net.JoinHostPort(s.Rec.Address, strconv.Itoa(s.Rec.Port))
}

// dialConfig builds the SSH configuration. After the reboot only the pinned
// host key and the deploy key are accepted: that proves both survived into
// the NixOS configuration.
func (s *State) dialConfig(postReboot bool) remote.Config {
	cfg := remote.Config{
		Host: s.Rec.Address,
		Port: s.Rec.Port,
		User: s.Rec.User,
		Log:  s.logWriter(),
	}
	deploy := remote.Key{Name: s.WS.Rel(s.Deploy.Path), Signer: s.Deploy.Signer}
	if postReboot {
		cfg.User = "root"
		cfg.Keys = []remote.Key{deploy}
		cfg.HostKeys = &remote.HostKeys{KnownHosts: s.WS.KnownHosts()}
		return cfg
	}
	cfg.Keys = append(append([]remote.Key(nil), s.Opts.Keys...), deploy)
	cfg.HostKeys = &remote.HostKeys{
		KnownHosts:  s.WS.KnownHosts(),
		Extra:       s.Opts.ExtraKnownHosts,
		Fingerprint: s.Opts.HostKey,
		AcceptNew:   s.Opts.AcceptNewHostKey,
		Confirm:     s.Opts.ConfirmHostKey,
	}
	return cfg
}

// logWriter is the log, and with --verbose stderr too.
func (s *State) logWriter() io.Writer {
	if s.Opts.Verbose != nil {
		return io.MultiWriter(s.Log, s.Opts.Verbose)
	}
	return s.Log
}

// run runs a remote command, logging it and its output.
func (s *State) run(ctx context.Context, cmd string) (string, error) {
	if s.Opts.Verbose != nil {
		fmt.Fprintf(s.Opts.Verbose, "%s: $ %s\n", s.Rec.Name, cmd)
	}
	fmt.Fprintf(s.Log, "$ %s\n", cmd)
	out, err := s.client.Output(ctx, cmd)
	if out != "" {
		fmt.Fprint(s.Log, out)
		if out[len(out)-1] != '\n' {
			fmt.Fprintln(s.Log)
		}
	}
	return out, err
}
