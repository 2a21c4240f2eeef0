package infect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"bootstrap/remote"
)

// Remote is what a Job needs from an SSH connection (remote.Client has it).
// Commands are POSIX sh run with root rights; WriteFile replaces the file
// atomically and does not create directories.
type Remote interface {
	Run(ctx context.Context, cmd string, stdout, stderr io.Writer) error
	WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode) error
}

// DefaultDir is the remote state directory used when Job.Dir is empty. It is
// under /var/lib/bootstrap, which EnsureLustrate keeps through the first NixOS
// boot: that boot moves everything else (/root included) to /old-root, and a
// job whose state vanished would look "not started" to a rerun.
const DefaultDir = "/var/lib/bootstrap/infect"

// Interrupted is the exit code reported for a job whose process is gone
// without having recorded an exit status: it was killed or the host rebooted.
const Interrupted = -1

// tailLines is how many log lines a FailedError carries.
const tailLines = 30

// ErrAlreadyRunning is returned (wrapped) by Start when the job is running.
var ErrAlreadyRunning = errors.New("nixos-infect is already running")

// Job is one nixos-infect run on a remote host, detached from the SSH session
// so it survives a disconnect or an interrupted local tool. Its state lives
// in files under Dir:
//
//	nixos-infect        the script (Script)
//	infect-wrapper.sh   generated POSIX sh wrapper: exports Env, cd WorkDir, runs the script
//	infect.pid          wrapper pid, written by the wrapper itself when it starts
//	infect.log          stdout+stderr of the wrapper and the script (infect.log.1: previous attempt)
//	infect.rc           exit status of the script, written atomically (rc.tmp + mv) just before the wrapper exits
//
// A pid only counts as running while /proc/PID/cmdline has the wrapper path
// as an argument, which guards against PID reuse after a reboot and treats
// zombies (empty cmdline) as gone.
type Job struct {
	Dir     string            // absolute remote state dir; "" → DefaultDir
	Script  []byte            // the nixos-infect script, run with bash; needed only to start
	Env     map[string]string // exported to the script; keys must be shell identifiers
	WorkDir string            // absolute dir the script runs in; "" → Dir
}

// Status is the state of a Job on the remote host.
type Status int

const (
	NotStarted Status = iota // no pid and no exit status recorded
	Running                  // the wrapper process is alive
	Succeeded                // exit status 0 recorded
	Failed                   // non-zero exit status recorded, or interrupted (code Interrupted)
)

func (s Status) String() string {
	switch s {
	case NotStarted:
		return "not started"
	case Running:
		return "running"
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// FailedError is returned by RunOrAttach when nixos-infect did not exit 0.
type FailedError struct {
	Code int    // exit status, or Interrupted
	Tail string // last lines of the remote log, possibly empty
}

func (e *FailedError) Error() string {
	if e.Code == Interrupted {
		return "nixos-infect was interrupted before recording an exit status (process killed or host rebooted)"
	}
	return fmt.Sprintf("nixos-infect exited with status %d", e.Code)
}

// LogPath is the remote path of the job's log.
func (j Job) LogPath() string { return path.Join(j.dir(), "infect.log") }

func (j Job) dir() string {
	if j.Dir == "" {
		return DefaultDir
	}
	return j.Dir
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validate checks what ends up in shell text: paths are used inside quotes,
// but a newline in Dir would break the line-based pid check.
func (j Job) validate() error {
	check := func(what, p string) error {
		if !path.IsAbs(p) || path.Clean(p) != p || strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fmt.Errorf("%s must be a clean absolute path without control characters, got %q", what, p)
		}
		return nil
	}
	if err := check("infect state dir", j.dir()); err != nil {
		return err
	}
	if j.WorkDir != "" {
		if err := check("infect work dir", j.WorkDir); err != nil {
			return err
		}
	}
	for k, v := range j.Env {
		if !identRE.MatchString(k) {
			return fmt.Errorf("infect environment variable name %q is not a shell identifier", k)
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("infect environment variable %s contains a NUL byte", k)
		}
	}
	return nil
}

// run runs script on r after the prelude, under POSIX sh whatever the login
// shell (and as one command if the remote layer prefixes sudo -n). The first
// line names the step, so a command shown in a remote error is recognisable.
// Errors are "<what>: <err>[: <last stderr line>]".
func (j Job) run(ctx context.Context, r Remote, what, script string, stdout io.Writer) error {
	stderr := &tailBuffer{max: 2048}
	cmd := "sh -c " + remote.Quote("# bootstrap: "+what+"\n"+j.prelude()+script)
	if err := r.Run(ctx, cmd, stdout, stderr); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
		msg := err.Error()
		if last := stderr.lastLine(); last != "" && !strings.Contains(msg, last) {
			msg += ": " + last
		}
		return fmt.Errorf("%s: %w", what, &remoteError{msg: msg, err: err})
	}
	return nil
}

// remoteError adds the stderr line to err's text, keeping it for errors.As.
type remoteError struct {
	msg string
	err error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.err }

// prelude defines $d and $w and the shell functions alive and state, shared
// by every remote command.
func (j Job) prelude() string {
	return "d=" + remote.Quote(j.dir()) + `
w="$d/infect-wrapper.sh"
alive() { # is pid $1 our wrapper? (PID reuse; a zombie has an empty cmdline)
	case $1 in ''|*[!0-9]*) return 1 ;; esac
	tr '\000' '\n' 2>/dev/null <"/proc/$1/cmdline" | grep -Fxq -- "$w"
}
state() {
	if [ -f "$d/infect.rc" ]; then echo "done $(cat "$d/infect.rc")"; return; fi
	if [ ! -f "$d/infect.pid" ]; then echo notstarted; return; fi
	pid=$(cat "$d/infect.pid")
	if alive "$pid"; then echo "running $pid"; return; fi
	# The wrapper writes infect.rc before it exits: look again, so a job that
	# ended just now is not taken for an interrupted one.
	if [ -f "$d/infect.rc" ]; then echo "done $(cat "$d/infect.rc")"; return; fi
	echo "stale $pid"
}
`
}

// parseState interprets the output of the state shell function.
func parseState(out string) (Status, int, error) {
	f := strings.Fields(out)
	if len(f) == 0 {
		return NotStarted, 0, fmt.Errorf("empty state output")
	}
	switch {
	case f[0] == "notstarted" && len(f) == 1:
		return NotStarted, 0, nil
	case f[0] == "running" && len(f) == 2:
		return Running, 0, nil
	case f[0] == "stale" && len(f) <= 2:
		return Failed, Interrupted, nil
	case f[0] == "done" && len(f) == 2:
		code, err := strconv.Atoi(f[1])
		if err != nil || code < 0 || code > 255 {
			return NotStarted, 0, fmt.Errorf("infect.rc holds %q, not an exit status", f[1])
		}
		if code == 0 {
			return Succeeded, 0, nil
		}
		return Failed, code, nil
	case f[0] == "done" && len(f) == 1:
		return NotStarted, 0, fmt.Errorf("infect.rc is empty")
	}
	return NotStarted, 0, fmt.Errorf("unexpected state output %q", strings.TrimSpace(out))
}

// Status reports the job's state. The code is the exit status for Succeeded
// and Failed (Interrupted when a pid was recorded but its process is gone
// without an exit status), else 0.
func (j Job) Status(ctx context.Context, r Remote) (Status, int, error) {
	if err := j.validate(); err != nil {
		return NotStarted, 0, err
	}
	var stdout bytes.Buffer
	if err := j.run(ctx, r, "check nixos-infect state in "+j.dir(), "state\n", &stdout); err != nil {
		return NotStarted, 0, err
	}
	st, code, err := parseState(stdout.String())
	if err != nil {
		return NotStarted, 0, fmt.Errorf("check nixos-infect state in %s: %w", j.dir(), err)
	}
	return st, code, nil
}

// wrapper is the POSIX sh script that runs nixos-infect on the host.
func (j Job) wrapper() []byte {
	env := map[string]string{"DEBIAN_FRONTEND": "noninteractive"} // no TTY: apt must not prompt
	for k, v := range j.Env {
		env[k] = v
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var b strings.Builder
	b.WriteString(`#!/bin/sh
# Written by bootstrap before each start; runs nixos-infect detached from the
# SSH session. Output goes to infect.log (redirected by the launcher).
d=` + remote.Quote(j.dir()) + `
echo $$ >"$d/infect.pid.tmp" && mv -f "$d/infect.pid.tmp" "$d/infect.pid" || exit 125
finish() {
	echo "bootstrap: nixos-infect finished with status $1 at $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
	echo "$1" >"$d/infect.rc.tmp" && mv -f "$d/infect.rc.tmp" "$d/infect.rc"
	exit "$1"
}
# A TERM aimed at this wrapper alone must not orphan nixos-infect: a trapped
# signal is handled only after the foreground command ends, so its status is
# still recorded. (Kill the process group to stop the job.)
trap : TERM
`)
	for _, k := range keys {
		fmt.Fprintf(&b, "export %s=%s\n", k, remote.Quote(env[k]))
	}
	if j.WorkDir != "" {
		fmt.Fprintf(&b, "cd %s || finish 1\n", remote.Quote(j.WorkDir))
	}
	b.WriteString(`echo "bootstrap: starting nixos-infect in $(pwd) at $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
bash "$d/nixos-infect"
finish $?
`)
	return []byte(b.String())
}

// Start uploads the script and the wrapper and starts the wrapper detached
// (setsid nohup, stdin /dev/null, output to infect.log), then waits until the
// wrapper has recorded its pid, so a Status right after Start sees Running
// (or the exit status). A previous attempt's log is kept as infect.log.1.
// Start refuses, with ErrAlreadyRunning, while the job is running.
//
// The wrapper runs under an extra sh that waits for it, so its pid is reaped
// as soon as it exits even where init does not reap orphans; tail --pid in
// Follow relies on that.
func (j Job) Start(ctx context.Context, r Remote) error {
	if err := j.validate(); err != nil {
		return err
	}
	if len(j.Script) == 0 {
		return errors.New("start nixos-infect: no script")
	}
	d := j.dir()

	var stdout bytes.Buffer
	if err := j.run(ctx, r, "prepare "+d, `mkdir -p -m 0700 "$d" && chmod 0700 "$d" && state`+"\n", &stdout); err != nil {
		return err
	}
	if st, _, err := parseState(stdout.String()); err == nil && st == Running {
		// Uploading now would replace the wrapper of the running job.
		return fmt.Errorf("start nixos-infect in %s: %w", d, ErrAlreadyRunning)
	}

	if err := r.WriteFile(ctx, path.Join(d, "nixos-infect"), j.Script, 0o700); err != nil {
		return fmt.Errorf("upload nixos-infect to %s: %w", d, err)
	}
	if err := r.WriteFile(ctx, path.Join(d, "infect-wrapper.sh"), j.wrapper(), 0o700); err != nil {
		return fmt.Errorf("upload nixos-infect wrapper to %s: %w", d, err)
	}

	stdout.Reset()
	if err := j.run(ctx, r, "start nixos-infect in "+d, launchScript, &stdout); err != nil {
		return err
	}
	switch strings.TrimSpace(stdout.String()) {
	case "started":
		return nil
	case runsNixOS:
		return fmt.Errorf("start nixos-infect in %s: %w", d, ErrRunsNixOS)
	case "already-running":
		return fmt.Errorf("start nixos-infect in %s: %w", d, ErrAlreadyRunning)
	}
	return fmt.Errorf("start nixos-infect in %s: unexpected output %q", d, stdout.String())
}

// launchScript starts the wrapper detached; it runs after the prelude,
// which sets $d, $w and state.
var launchScript = `set -e
case $(state) in running*) echo already-running; exit 0 ;; esac
` + refuseNixOS + `
for c in setsid nohup bash tail; do
	command -v "$c" >/dev/null 2>&1 || { echo "$c not found on the host" >&2; exit 127; }
done
rm -f "$d/infect.rc" "$d/infect.rc.tmp" "$d/infect.pid" "$d/infect.pid.tmp"
if [ -f "$d/infect.log" ]; then mv -f "$d/infect.log" "$d/infect.log.1"; fi
cd "$d"
setsid nohup sh -c 'sh "$1"; :' sh "$w" </dev/null >>"$d/infect.log" 2>&1 &
i=0
until [ -s "$d/infect.pid" ] || [ -f "$d/infect.rc" ]; do
	i=$((i + 1))
	if [ "$i" -gt 100 ]; then echo "the wrapper did not record its pid within 10s; see $d/infect.log" >&2; exit 1; fi
	sleep 0.1 2>/dev/null || sleep 1
done
echo started
`

// Plan is what Start runs on the host, for a dry run: the wrapper it
// uploads beside the script, and the launch command after the prelude.
func (j Job) Plan() string {
	return "# " + path.Join(j.dir(), "infect-wrapper.sh") + "\n" + string(j.wrapper()) + "# launched with:\n" + j.prelude() + launchScript
}

// Follow streams the log from its first line to out until the job ends
// (tail -n +1 -F --pid, also stopped a few seconds after the pid check says
// the wrapper is gone) and returns its exit status, Interrupted if none was
// recorded. For a job that has already ended it streams the log once.
// Cancelling ctx stops following, not the job. Follow does not turn a
// non-zero status into an error; RunOrAttach does.
func (j Job) Follow(ctx context.Context, r Remote, out io.Writer) (int, error) {
	if err := j.validate(); err != nil {
		return Interrupted, err
	}
	const follow = `pid=$(cat "$d/infect.pid" 2>/dev/null) || pid=
if alive "$pid"; then
	tail -n +1 -F --pid="$pid" -- "$d/infect.log" &
	t=$!
	# tail --pid drains the log and exits once the wrapper's pid is gone. A
	# wrapper killed along with its parent where init does not reap orphans
	# stays a zombie, which tail counts as alive and alive() does not: stop
	# tail a little after alive() says the wrapper is gone.
	(while alive "$pid"; do sleep 1; done; sleep 5; kill "$t") </dev/null >/dev/null 2>&1 &
	k=$!
	wait "$t" || :
	kill "$k" 2>/dev/null || :
	exit 0
fi
if [ -f "$d/infect.log" ]; then exec cat -- "$d/infect.log"; fi
`
	if err := j.run(ctx, r, "follow "+j.LogPath(), follow, out); err != nil {
		return Interrupted, err
	}
	st, code, err := j.Status(ctx, r)
	if err != nil {
		return Interrupted, err
	}
	switch st {
	case Succeeded, Failed:
		return code, nil
	case Running:
		return Interrupted, fmt.Errorf("follow %s: log ended while nixos-infect is still running", j.LogPath())
	}
	return Interrupted, fmt.Errorf("follow %s: nixos-infect was not started", j.LogPath())
}

// Tail returns the last n lines of the log ("" when there is none).
func (j Job) Tail(ctx context.Context, r Remote, n int) (string, error) {
	if err := j.validate(); err != nil {
		return "", err
	}
	if n <= 0 {
		return "", nil
	}
	var stdout bytes.Buffer
	script := fmt.Sprintf(`if [ -f "$d/infect.log" ]; then exec tail -n %d -- "$d/infect.log"; fi`+"\n", n)
	if err := j.run(ctx, r, "read "+j.LogPath(), script, &stdout); err != nil {
		return "", err
	}
	return stdout.String(), nil
}

// RunOrAttach makes sure nixos-infect runs to completion exactly once per
// success, streaming its whole log to out:
//
//   - Running: re-attach (Follow from the first line).
//   - NotStarted, or Failed (a previous attempt failed or was interrupted):
//     Start, then Follow.
//   - Succeeded: nothing is run; the finished log is streamed once, so the
//     local copy of the log is complete on every run.
//
// A non-zero exit status returns that code and a *FailedError carrying the
// log's last lines. On other errors the code is Interrupted. Cancelling ctx
// stops following, not the job; calling RunOrAttach again re-attaches.
func (j Job) RunOrAttach(ctx context.Context, r Remote, out io.Writer) (int, error) {
	st, _, err := j.Status(ctx, r)
	if err != nil {
		return Interrupted, err
	}
	if st == NotStarted || st == Failed {
		if err := j.Start(ctx, r); err != nil && !errors.Is(err, ErrAlreadyRunning) {
			return Interrupted, err
		}
	}
	code, err := j.Follow(ctx, r, out)
	if err != nil {
		return code, err
	}
	if code != 0 {
		tail, _ := j.Tail(ctx, r, tailLines) // best effort: the status is the error
		return code, &FailedError{Code: code, Tail: tail}
	}
	return 0, nil
}

// tailBuffer keeps the last max bytes written, for error messages.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

// lastLine is the last non-empty line written, or "".
func (t *tailBuffer) lastLine() string {
	s := strings.TrimSpace(string(t.buf))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
