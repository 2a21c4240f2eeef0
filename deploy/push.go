// Package deploy changes a bootstrapped NixOS host's configuration the way
// its owner would by hand: copy hosts/NAME/*.nix to the host's /etc/nixos
// and run nixos-rebuild there, so the build happens on the Linux host with
// its own channel and /etc/nixos stays what the host runs (for
// system.autoUpgrade).
//
// A push shows a unified diff of the workspace against /etc/nixos, keeps a
// copy of /etc/nixos per system generation (CopiesDir/N) so rollback can
// restore it, uploads the changed files atomically, pushes the host's
// secrets, and runs nixos-rebuild with its output in the host's log. A
// failed build or activation puts the host back: the generation that ran
// before and /etc/nixos as it was. After a switch a fresh connection with
// the deploy key must succeed; with a confirm timeout a rollback timer is
// armed on the host before the activation and cancelled only after that
// connection, so a configuration that breaks SSH rolls itself back.
//
// A push never moves a host to another nixpkgs revision unless asked to
// (Options.Upgrade), and records the revision the host runs afterwards, as
// a rollback does. Check compares hosts with the workspace (drift) without
// changing anything.
//
// It acts on any NixOS host of a workspace: the hosts' records and the way
// to dial them come from package bootstrap; it imports remote, secrets and
// workspace besides, and never cmd or a provider.
package deploy

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"bootstrap/bootstrap"
	"bootstrap/channel"
	"bootstrap/remote"
	"bootstrap/secrets"
)

// Action is what nixos-rebuild does with the new configuration.
type Action string

const (
	Switch      Action = "switch"       // build, make it the boot default and activate it
	Boot        Action = "boot"         // build and make it the boot default only
	DryActivate Action = "dry-activate" // build and say what activating would do
	build       Action = "build"        // build only (before an armed switch)
)

// Defaults of Options.
const (
	DefaultConnectTimeout   = time.Minute
	DefaultReconnectTimeout = time.Minute
	// putBackTimeout bounds putting a host back after a failure, which runs
	// even when the push was interrupted.
	putBackTimeout = 5 * time.Minute
)

// Target is one host to push to.
type Target struct {
	Name  string
	Files map[string][]byte // hosts/NAME/*.nix by base name
	Dial  Dialer
	Log   io.Writer // hosts/NAME/bootstrap.log: every remote command and its output
	// Secrets, decrypted, are pushed before the build (not with
	// DryActivate); nil: none.
	Secrets *secrets.Decrypted
	// Channel is the channel the host follows: an upgrade of a host pinned
	// to one release of it subscribes it to the channel again. Zero: the
	// subscription is left as it is.
	Channel channel.Channel
}

// Reporter receives a push's progress; calls for different hosts may come
// from different goroutines.
type Reporter interface {
	// Diff is the unified diff of the workspace against the host ("" when
	// nothing differs), before anything changes.
	Diff(host, diff string)
	// Step is one short progress line.
	Step(host, step, msg string)
}

// Options of a push.
type Options struct {
	Action  Action // Switch, Boot or DryActivate
	Upgrade bool   // nixos-rebuild --upgrade: update the host's channel first
	// ConfirmTimeout > 0 (Switch only): arm a rollback on the host before
	// the activation, cancelled once a fresh connection succeeds within it.
	ConfirmTimeout time.Duration
	// ConnectTimeout bounds the first connection, ReconnectTimeout the fresh
	// one after a switch without ConfirmTimeout (and the wait for a timer's
	// rollback to answer).
	ConnectTimeout   time.Duration
	ReconnectTimeout time.Duration
	Report           Reporter
}

func (o Options) withDefaults() Options {
	if o.Action == "" {
		o.Action = Switch
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.ReconnectTimeout <= 0 {
		o.ReconnectTimeout = DefaultReconnectTimeout
	}
	return o
}

// Validate checks the combination of options.
func (o Options) Validate() error {
	switch o.Action {
	case "", Switch, Boot, DryActivate:
	default:
		return fmt.Errorf("unknown action %q", o.Action)
	}
	if o.ConfirmTimeout < 0 {
		return errors.New("the confirm timeout must be positive")
	}
	if o.ConfirmTimeout > 0 && o.Action != Switch && o.Action != "" {
		return fmt.Errorf("a confirm timeout needs a switch: %s activates nothing", o.Action)
	}
	if o.Upgrade && o.Action == DryActivate {
		return errors.New("a dry run changes nothing on the host, and --upgrade updates its channel")
	}
	return nil
}

// Result is what a push did.
type Result struct {
	Host     string
	Changes  []Change
	UpToDate bool // nothing differed: nothing was built
	Before   int  // the current generation before (0: none)
	After    int  // and after
	Secrets  []string
	// DryActivate: the "would ..." lines of nixos-rebuild dry-activate.
	DryActivate string
	// Nixpkgs is what the host runs and its channel holds after the push
	// (nil with DryActivate, or when it could not be read).
	Nixpkgs *bootstrap.Nixpkgs
	Took    time.Duration
}

// Push pushes one host. The returned Result is never nil; it says how far
// the push got when err is not nil.
func Push(ctx context.Context, t Target, o Options) (*Result, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return &Result{Host: t.Name}, err
	}
	if t.Log == nil {
		t.Log = io.Discard
	}
	p := &pusher{t: t, o: o, id: newID(), res: &Result{Host: t.Name}}
	start := time.Now()
	defer p.closeAll()
	err := p.push(ctx)
	p.res.Took = time.Since(start)
	return p.res, err
}

// pusher is one push in progress.
type pusher struct {
	t     Target
	o     Options
	id    string // names this push's job, timer and staging dir on the host
	res   *Result
	r     Remote // the connection in use
	conns []Remote

	hostFiles map[string][]byte
	timer     *confirmTimer // armed
	armedAt   time.Time
	tail      string // the last job's output tail
	newest    int    // the newest generation before the push
}

func newID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b)
}

func (p *pusher) step(step, format string, args ...any) {
	if p.o.Report != nil {
		p.o.Report.Step(p.t.Name, step, fmt.Sprintf(format, args...))
	}
}

func (p *pusher) logf(format string, args ...any) { fmt.Fprintf(p.t.Log, format, args...) }

func (p *pusher) use(r Remote) {
	p.r = r
	p.conns = append(p.conns, r)
}

func (p *pusher) closeAll() {
	for _, c := range p.conns {
		c.Close()
	}
}

// dial opens a fresh connection that must succeed before deadline.
func (p *pusher) dial(ctx context.Context, deadline time.Time) (Remote, error) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	r, err := p.t.Dial(dctx)
	if err != nil {
		return nil, err
	}
	p.use(r)
	return r, nil
}

// run runs a command whose output only goes to the log.
func (p *pusher) run(ctx context.Context, cmd string) error {
	p.logf("$ %s\n", cmd)
	return p.r.Run(ctx, cmd, p.t.Log, p.t.Log)
}

func (p *pusher) output(ctx context.Context, cmd string) (string, error) {
	var out bytes.Buffer
	p.logf("$ %s\n", cmd)
	err := p.r.Run(ctx, cmd, &out, p.t.Log)
	p.logf("%s", out.String())
	return strings.TrimSpace(out.String()), err
}

func (p *pusher) push(ctx context.Context) error {
	name := p.t.Name
	dctx, cancel := context.WithTimeout(ctx, p.o.ConnectTimeout)
	r, err := p.t.Dial(dctx)
	cancel()
	if err != nil {
		return fmt.Errorf("connect to %s: %w", name, err)
	}
	p.use(r)
	if p.hostFiles, err = p.readHostFiles(ctx); err != nil {
		return err
	}
	changes := Changes(p.t.Files, p.hostFiles)
	p.res.Changes = changes
	diff := UnifiedDiff(name, changes)
	p.logf("%s", diff)
	if p.o.Report != nil {
		p.o.Report.Diff(name, diff)
	}
	gens, err := ListGenerations(ctx, p.r)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	before := Current(gens)
	p.res.Before, p.res.After = before, before
	p.newest = Newest(gens)
	np, err := p.nixpkgs(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}

	if p.o.Action == DryActivate {
		if np.ChannelMoved() {
			p.step("note", "the host runs %s: push refuses to move it to its channel's nixpkgs without --upgrade", np)
		}
		return p.dryRun(ctx)
	}
	if len(changes) == 0 && !p.o.Upgrade {
		p.step("diff", "no changes: nothing to build (generation %d)", before)
		if err := p.pushSecrets(ctx); err != nil {
			return err
		}
		p.res.UpToDate = true
		p.res.Nixpkgs = np
		return nil
	}
	if np.ChannelMoved() && !p.o.Upgrade {
		// nixos-rebuild builds what the channel holds: refuse before
		// anything changes rather than move the host's nixpkgs.
		return &ChannelMovedError{Host: name, Nixpkgs: np}
	}
	if len(changes) == 0 {
		p.step("diff", "no file changed; rebuilding for --upgrade")
	} else {
		p.step("diff", "%d file(s) differ: %s", len(changes), Summary(changes))
	}
	// What runs now gets its copy of /etc/nixos first (bootstrap kept the
	// two the same), so a rollback to it restores the right files.
	if before > 0 {
		if err := p.run(ctx, keepCopyCmd(before, true)); err != nil {
			return fmt.Errorf("keep a copy of %s on %s: %w", NixOSDir, name, err)
		}
	}
	if err := p.upload(ctx); err != nil {
		return p.withPutBack(ctx, fmt.Errorf("upload to %s:%s: %w", name, NixOSDir, err))
	}
	if err := p.pushSecrets(ctx); err != nil {
		return p.withPutBack(ctx, err)
	}
	if p.o.Upgrade {
		if err := p.follow(ctx, np); err != nil {
			return p.withPutBack(ctx, err)
		}
	}
	return p.rebuild(ctx)
}

// nixpkgs reads what the host runs and what its channel holds, into the log.
func (p *pusher) nixpkgs(ctx context.Context) (*bootstrap.Nixpkgs, error) {
	by := "push"
	switch {
	case p.o.Upgrade:
		by = "push --upgrade"
	case p.o.Action == Boot:
		by = "push --boot"
	}
	n, err := bootstrap.ReadNixpkgs(ctx, p.r, by)
	if err != nil {
		return nil, err
	}
	p.logf("# nixpkgs: %s; root's channel follows %s\n", n, cmp.Or(n.Subscription, "nothing"))
	return n, nil
}

// follow subscribes a host pinned to one release of its channel to the
// channel again, so --upgrade moves it to the channel's head: nix-channel
// --update of a release fetches the same release again.
func (p *pusher) follow(ctx context.Context, np *bootstrap.Nixpkgs) error {
	sub, err := channel.ParseSubscription(np.Subscription)
	if err != nil || sub.Release == "" || p.t.Channel == (channel.Channel{}) {
		return nil
	}
	p.step("channel", "root followed %s; --upgrade follows %s again", sub, p.t.Channel)
	if err := p.run(ctx, followCmd(p.t.Channel)); err != nil {
		return fmt.Errorf("subscribe %s to %s: %w", p.t.Name, p.t.Channel, err)
	}
	return nil
}

// readHostFiles reads the host's top-level /etc/nixos/*.nix.
func (p *pusher) readHostFiles(ctx context.Context) (map[string][]byte, error) {
	return hostFiles(ctx, p.r, p.t.Name, p.t.Log)
}

// hostFiles reads the host's top-level /etc/nixos/*.nix, the files push
// manages, by base name; the listing goes to log.
func hostFiles(ctx context.Context, r Remote, name string, log io.Writer) (map[string][]byte, error) {
	var out bytes.Buffer
	fmt.Fprintf(log, "$ %s\n", listFilesCmd())
	if err := r.Run(ctx, listFilesCmd(), &out, log); err != nil {
		return nil, fmt.Errorf("list %s on %s: %w", NixOSDir, name, err)
	}
	fmt.Fprintf(log, "%s", out.String())
	files := map[string][]byte{}
	for _, n := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if n == "" {
			continue
		}
		data, err := r.ReadFile(ctx, NixOSDir+"/"+n)
		if err != nil {
			return nil, fmt.Errorf("read %s/%s on %s: %w", NixOSDir, n, name, err)
		}
		files[n] = data
	}
	return files, nil
}

// dryRun builds a staged copy of /etc/nixos with the changes applied and
// asks nixos-rebuild dry-activate what activating it would do. Nothing of
// /etc/nixos, the generations or the secrets changes.
func (p *pusher) dryRun(ctx context.Context) error {
	staging := stagingPrefix + p.id
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		p.run(cctx, "rm -rf -- "+quote(staging))
	}()
	// A staging copy left by a dry run whose connection dropped goes first
	// (one run per host at a time: none is in use).
	if err := p.run(ctx, "rm -rf -- "+stagingPrefix+"*"); err != nil {
		return fmt.Errorf("remove old staging copies on %s: %w", p.t.Name, err)
	}
	if err := p.run(ctx, fmt.Sprintf("mkdir -p -m 0700 %s && cp -a %s/. %s/", staging, NixOSDir, staging)); err != nil {
		return fmt.Errorf("stage %s on %s: %w", NixOSDir, p.t.Name, err)
	}
	var removed []string
	for _, c := range p.res.Changes {
		if c.Kind == Removed {
			removed = append(removed, quote(staging+"/"+c.File))
			continue
		}
		if err := p.r.WriteFile(ctx, staging+"/"+c.File, c.New, 0o644); err != nil {
			return fmt.Errorf("stage %s on %s: %w", c.File, p.t.Name, err)
		}
	}
	if len(removed) > 0 {
		if err := p.run(ctx, "rm -f -- "+strings.Join(removed, " ")); err != nil {
			return fmt.Errorf("stage %s on %s: %w", NixOSDir, p.t.Name, err)
		}
	}
	cmd := rebuildArgs(DryActivate, false, "-I", "nixos-config="+staging+"/configuration.nix")
	p.step("dry-run", "nixos-rebuild dry-activate of the staged configuration, output in the log")
	var out bytes.Buffer
	tail := &tailBuffer{max: 15}
	w := io.MultiWriter(p.t.Log, tail, &out)
	p.logf("$ %s\n", cmd)
	if err := p.r.Run(ctx, cmd, w, w); err != nil {
		var exit *remote.ExitError
		if errors.As(err, &exit) {
			return &DryRunError{Host: p.t.Name, Status: exit.Status, Tail: tail.String()}
		}
		return fmt.Errorf("nixos-rebuild dry-activate on %s: %w", p.t.Name, err)
	}
	var would []string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "would ") {
			would = append(would, strings.TrimSpace(l))
		}
	}
	p.res.DryActivate = strings.Join(would, "\n")
	p.step("dry-run", "nothing changed on the host")
	return nil
}
