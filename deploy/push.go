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
package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

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
	// Secrets, decrypted, are written with secrets.Push before the build
	// (not with DryActivate); nil: none.
	Secrets    map[string][]byte
	SecretMeta map[string]secrets.Meta
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
	Took        time.Duration
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

	if p.o.Action == DryActivate {
		return p.dryRun(ctx)
	}
	if len(changes) == 0 && !p.o.Upgrade {
		p.step("diff", "no changes: nothing to build (generation %d)", before)
		if err := p.pushSecrets(ctx); err != nil {
			return err
		}
		p.res.UpToDate = true
		return nil
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
	return p.rebuild(ctx)
}

// readHostFiles reads the host's top-level /etc/nixos/*.nix.
func (p *pusher) readHostFiles(ctx context.Context) (map[string][]byte, error) {
	out, err := p.output(ctx, listFilesCmd())
	if err != nil {
		return nil, fmt.Errorf("list %s on %s: %w", NixOSDir, p.t.Name, err)
	}
	files := map[string][]byte{}
	for _, n := range strings.Split(out, "\n") {
		if n == "" {
			continue
		}
		data, err := p.r.ReadFile(ctx, NixOSDir+"/"+n)
		if err != nil {
			return nil, fmt.Errorf("read %s/%s on %s: %w", NixOSDir, n, p.t.Name, err)
		}
		files[n] = data
	}
	return files, nil
}

// upload writes the changed files (each atomically), then removes the ones
// the workspace no longer has.
func (p *pusher) upload(ctx context.Context) error {
	var removed []string
	for _, c := range p.res.Changes {
		if c.Kind == Removed {
			removed = append(removed, c.File)
			continue
		}
		p.logf("upload %s/%s\n", NixOSDir, c.File)
		if err := p.r.WriteFile(ctx, NixOSDir+"/"+c.File, c.New, 0o644); err != nil {
			return err
		}
	}
	if len(removed) > 0 {
		if err := p.run(ctx, removeCmd(removed)); err != nil {
			return err
		}
	}
	p.step("upload", "%s to %s", Summary(p.res.Changes), NixOSDir)
	return nil
}

// restoreFiles puts /etc/nixos back as it was before the upload.
func (p *pusher) restoreFiles(ctx context.Context) error {
	var added []string
	for _, c := range p.res.Changes {
		if c.Kind == Added {
			added = append(added, c.File)
			continue
		}
		if err := p.r.WriteFile(ctx, NixOSDir+"/"+c.File, c.Old, 0o644); err != nil {
			return fmt.Errorf("restore %s/%s: %w", NixOSDir, c.File, err)
		}
	}
	if len(added) > 0 {
		if err := p.run(ctx, removeCmd(added)); err != nil {
			return fmt.Errorf("remove the uploaded %s: %w", strings.Join(added, ", "), err)
		}
	}
	p.logf("restored %s as it was before the push\n", NixOSDir)
	return nil
}

func (p *pusher) pushSecrets(ctx context.Context) error {
	if len(p.t.Secrets) == 0 {
		return nil
	}
	res, err := secrets.Push(ctx, p.r, p.t.Secrets, p.t.SecretMeta, false)
	if err != nil {
		return fmt.Errorf("push secrets to %s: %w", p.t.Name, err)
	}
	p.res.Secrets = res.Written
	p.step("secrets", "%d to %s: %s", len(res.Written), secrets.Dir, strings.Join(res.Written, ", "))
	return nil
}

// rebuild runs nixos-rebuild. An armed switch builds first, so a failing
// build never arms anything and the timer only has to cover the activation.
func (p *pusher) rebuild(ctx context.Context) error {
	if p.o.Action == Switch && p.o.ConfirmTimeout > 0 {
		cmd := "mkdir -p /var/lib/bootstrap && cd /var/lib/bootstrap && " + rebuildArgs(build, p.o.Upgrade)
		p.step("build", "%s, output in the log", rebuildArgs(build, p.o.Upgrade))
		if err := p.job(ctx, p.id+"-build", cmd, rebuildArgs(build, p.o.Upgrade)); err != nil {
			return err
		}
		if err := p.arm(ctx); err != nil {
			return p.withPutBack(ctx, err)
		}
		cmd = rebuildArgs(Switch, false)
		p.step("switch", "%s; rolls back by itself unless confirmed within %s", cmd, p.o.ConfirmTimeout)
		if err := p.job(ctx, p.id, cmd, cmd); err != nil {
			return err
		}
		return p.confirm(ctx)
	}
	cmd := rebuildArgs(p.o.Action, p.o.Upgrade)
	p.step(string(p.o.Action), "%s, output in the log", cmd)
	if err := p.job(ctx, p.id, cmd, cmd); err != nil {
		return err
	}
	if p.o.Action == Switch {
		return p.confirm(ctx)
	}
	return p.finish(ctx)
}

// job runs cmd as job id with its output in the log. It returns nil when
// the command succeeded (also when the connection dropped and a new one
// found it succeeded); every other outcome has been handled: the host was
// put back, or the armed timer takes over, and the error says so.
func (p *pusher) job(ctx context.Context, id, cmd, what string) error {
	tail := &tailBuffer{max: 15}
	w := io.MultiWriter(p.t.Log, tail)
	p.logf("$ %s\n", cmd)
	start := time.Now()
	runErr := p.r.Run(ctx, jobCmd(id, cmd), w, w)
	p.tail = tail.String()
	var exit *remote.ExitError
	switch {
	case runErr == nil:
		p.logf("# %s done in %s\n", what, time.Since(start).Round(time.Millisecond))
		return nil
	case ctx.Err() != nil:
		return p.interrupted(ctx, id, what)
	case errors.As(runErr, &exit):
		return p.failed(ctx, what, exit.Status)
	case errors.Is(runErr, remote.ErrConnectionLost):
		p.step(string(p.o.Action), "connection lost during %s; reconnecting", what)
		deadline := time.Now().Add(p.o.ReconnectTimeout)
		if p.timer != nil {
			deadline = p.armedAt.Add(p.o.ConfirmTimeout)
		}
		fresh, err := p.dial(ctx, deadline)
		switch {
		case err == nil:
		case p.timer != nil:
			return p.awaitRollback(ctx, err)
		case id == p.id && p.o.Action == Switch:
			return &ConfirmError{Host: p.t.Name, Previous: p.res.Before, Timeout: p.o.ReconnectTimeout, Err: err}
		default:
			return fmt.Errorf("lost the connection to %s during %s and no new one succeeded within %s (%w): %s holds the new configuration; once the host answers, check bootstrap generations %s and push again",
				p.t.Name, what, p.o.ReconnectTimeout, err, NixOSDir, p.t.Name)
		}
		p.r = fresh
		rc, err := p.output(ctx, waitJobCmd(id))
		if err != nil {
			return p.withPutBack(ctx, fmt.Errorf("wait for %s on %s: %w", what, p.t.Name, err))
		}
		if rc == "0" {
			return nil
		}
		status := -1
		fmt.Sscan(rc, &status)
		return p.failed(ctx, what, status)
	default:
		return p.withPutBack(ctx, fmt.Errorf("%s on %s: %w", what, p.t.Name, runErr))
	}
}

// failed puts the host back after nixos-rebuild exited with status.
func (p *pusher) failed(ctx context.Context, what string, status int) error {
	p.step("failed", "%s exited with status %d; putting the host back", what, status)
	be := &BuildError{Host: p.t.Name, Command: what, Status: status, Tail: p.tail, Before: p.res.Before}
	be.Activated, be.PutBackErr = p.putBack(ctx)
	p.res.After = p.res.Before
	if be.PutBackErr != nil {
		p.res.After = 0
	}
	return be
}

// interrupted stops the job and puts the host back.
func (p *pusher) interrupted(ctx context.Context, id, what string) error {
	p.step("stop", "interrupted: stopping %s and putting the host back", what)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), putBackTimeout)
	defer cancel()
	if err := p.reconnectIfLost(pctx); err == nil {
		p.output(pctx, stopJobCmd(id))
	}
	if _, err := p.putBack(ctx); err != nil {
		return fmt.Errorf("push to %s interrupted during %s, and putting the host back failed: %v: %w", p.t.Name, what, err, ctx.Err())
	}
	return fmt.Errorf("push to %s interrupted during %s; put back on generation %d and its %s: %w", p.t.Name, what, p.res.Before, NixOSDir, ctx.Err())
}

// withPutBack puts the host back after err and returns err, noting a
// failure to put it back.
func (p *pusher) withPutBack(ctx context.Context, err error) error {
	if _, perr := p.putBack(ctx); perr != nil {
		return fmt.Errorf("%w; putting the host back failed too: %v", err, perr)
	}
	return err
}

// reconnectIfLost replaces a dropped connection with a fresh one.
func (p *pusher) reconnectIfLost(ctx context.Context) error {
	if err := p.r.Run(ctx, "true", nil, nil); err == nil {
		return nil
	}
	_, err := p.dial(ctx, time.Now().Add(p.o.ReconnectTimeout))
	return err
}

// putBack undoes the push on the host, even when ctx was cancelled: it
// disarms the timer, switches back to the generation that ran before if
// the profile moved (activated), and restores /etc/nixos from memory.
func (p *pusher) putBack(ctx context.Context) (activated bool, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), putBackTimeout)
	defer cancel()
	if err := p.reconnectIfLost(ctx); err != nil {
		return false, fmt.Errorf("reconnect: %w", err)
	}
	if p.timer != nil {
		out, err := p.output(ctx, p.timer.confirmCmd())
		if err != nil {
			return false, fmt.Errorf("disarm the rollback timer: %w", err)
		}
		if out == tooLate {
			// The timer's rollback runs; let it finish first.
			p.output(ctx, p.timer.waitRollbackCmd(p.o.ReconnectTimeout))
		}
		p.timer = nil
	}
	before := p.res.Before
	gens, err := ListGenerations(ctx, p.r)
	if err != nil {
		return false, err
	}
	if before > 0 && Current(gens) != before {
		activated = true
		activation := "switch"
		if p.o.Action == Boot {
			activation = "boot"
		}
		p.step("restore", "switching back to generation %d", before)
		if err := p.run(ctx, rollbackScript(before, activation)); err != nil {
			return true, fmt.Errorf("switch back to generation %d: %w", before, err)
		}
	}
	if err := p.restoreFiles(ctx); err != nil {
		return activated, err
	}
	p.step("restore", "%s restored", NixOSDir)
	return activated, nil
}

// arm writes the rollback script and starts its timer.
func (p *pusher) arm(ctx context.Context) error {
	t := &confirmTimer{ID: p.id, Host: p.t.Name, Gen: p.res.Before, After: p.o.ConfirmTimeout}
	if t.Gen == 0 {
		return fmt.Errorf("cannot arm a rollback on %s: it has no current system generation", p.t.Name)
	}
	p.armedAt = time.Now()
	if err := p.r.WriteFile(ctx, t.scriptPath(), []byte(t.script(p.armedAt)), 0o700); err != nil {
		return fmt.Errorf("arm the rollback timer on %s: %w", p.t.Name, err)
	}
	if err := p.run(ctx, t.armCmd()); err != nil {
		return fmt.Errorf("arm the rollback timer on %s: %w", p.t.Name, err)
	}
	p.timer = t
	return nil
}

// confirm checks after a switch that the host answers a fresh connection
// with the deploy key; with a timer armed, that connection disarms it.
func (p *pusher) confirm(ctx context.Context) error {
	// Which generation the switch made, asked on the old connection (it
	// usually survives a broken sshd; bounded in case it hangs).
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if gens, err := ListGenerations(lctx, p.r); err == nil {
		p.res.After = Current(gens)
	}
	cancel()
	timeout := p.o.ReconnectTimeout
	deadline := time.Now().Add(timeout)
	if p.timer != nil {
		timeout = p.o.ConfirmTimeout
		deadline = p.armedAt.Add(timeout)
	}
	p.step("confirm", "new connection with the deploy key (within %s)", time.Until(deadline).Round(time.Second))
	fresh, err := p.dial(ctx, deadline)
	if err != nil {
		if ctx.Err() != nil {
			if p.timer != nil {
				return fmt.Errorf("interrupted before %s confirmed the switch: it rolls back to generation %d by itself: %w", p.t.Name, p.res.Before, ctx.Err())
			}
			return fmt.Errorf("interrupted before %s answered a new connection after the switch: %w", p.t.Name, ctx.Err())
		}
		if p.timer != nil {
			return p.awaitRollback(ctx, err)
		}
		return &ConfirmError{Host: p.t.Name, Generation: p.res.After, Previous: p.res.Before, Timeout: timeout, Err: err}
	}
	p.r = fresh
	if p.timer != nil {
		out, err := p.output(ctx, p.timer.confirmCmd())
		if err != nil {
			return fmt.Errorf("disarm the rollback timer on %s: %w (it rolls back to generation %d unless disarmed)", p.t.Name, err, p.res.Before)
		}
		if out == tooLate {
			return p.awaitRollback(ctx, nil)
		}
		p.timer = nil
		p.step("confirm", "answered; rollback timer disarmed")
	}
	return p.finish(ctx)
}

// awaitRollback waits for the armed timer's rollback: for the host to
// answer again and the rollback to finish, then reports.
func (p *pusher) awaitRollback(ctx context.Context, dialErr error) error {
	ce := &ConfirmError{Host: p.t.Name, Generation: p.res.After, Previous: p.res.Before, Timeout: p.o.ConfirmTimeout, Armed: true, Err: dialErr}
	p.step("confirm", "no answer within %s: the host rolls back to generation %d by itself; waiting for it", p.o.ConfirmTimeout, p.res.Before)
	// The timer fires at armedAt+ConfirmTimeout; the rollback then restarts
	// what the new configuration broke.
	deadline := p.armedAt.Add(p.o.ConfirmTimeout).Add(p.o.ReconnectTimeout)
	if time.Until(deadline) < p.o.ReconnectTimeout {
		deadline = time.Now().Add(p.o.ReconnectTimeout)
	}
	if _, err := p.dial(ctx, deadline); err != nil {
		return ce
	}
	if rc, err := p.output(ctx, p.timer.waitRollbackCmd(p.o.ReconnectTimeout)); err != nil || rc == "pending" {
		return ce
	}
	gens, err := ListGenerations(ctx, p.r)
	if err == nil && Current(gens) == p.res.Before {
		ce.RolledBack = true
		p.res.After = p.res.Before
		p.step("rollback", "back on generation %d with its %s", p.res.Before, NixOSDir)
	}
	return ce
}

// finish records the new generation's copy of /etc/nixos, drops the copies
// of generations that are gone and clears the job's state.
func (p *pusher) finish(ctx context.Context) error {
	gens, err := ListGenerations(ctx, p.r)
	if err != nil {
		return fmt.Errorf("%s: %w", p.t.Name, err)
	}
	after := Current(gens)
	p.res.After = after
	if after > 0 {
		if err := p.run(ctx, keepCopyCmd(after, false)); err != nil {
			return fmt.Errorf("keep a copy of %s on %s: %w", NixOSDir, p.t.Name, err)
		}
	}
	if err := p.run(ctx, pruneCopiesCmd()+"; rm -rf -- "+runDir+"/"+p.id+"*"); err != nil {
		return fmt.Errorf("tidy %s on %s: %w", CopiesDir, p.t.Name, err)
	}
	if after == p.res.Before {
		p.step("done", "still generation %d (the same system)", after)
	} else {
		p.step("done", "generation %d (was %d)", after, p.res.Before)
	}
	return nil
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

// tailBuffer keeps the last max lines written to it.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  string
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.part + string(b)
	parts := strings.Split(s, "\n")
	t.part = parts[len(parts)-1]
	t.lines = append(t.lines, parts[:len(parts)-1]...)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := t.lines
	if t.part != "" {
		lines = append(append([]string(nil), lines...), t.part)
		if len(lines) > t.max {
			lines = lines[len(lines)-t.max:]
		}
	}
	return strings.Join(lines, "\n")
}
