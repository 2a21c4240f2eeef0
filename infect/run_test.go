package infect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// localRemote runs commands on this machine with sh -c, like an SSH session
// would on the host: own process group (killed when ctx is cancelled, like a
// closed session), stdin /dev/null. WriteFile is atomic and, like SFTP, does
// not create directories.
type localRemote struct {
	mu   sync.Mutex
	cmds []string
}

func (l *localRemote) Run(ctx context.Context, cmd string, stdout, stderr io.Writer) error {
	l.mu.Lock()
	l.cmds = append(l.cmds, cmd)
	l.mu.Unlock()
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	c.Stdout, c.Stderr = stdout, stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 5 * time.Second
	return c.Run()
}

func (l *localRemote) WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	tmp := path + ".upload"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// syncBuffer is an io.Writer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeInfect stands in for nixos-infect: records each start in $STARTS,
// prints its environment and $LINES lines $SLEEP seconds apart, then exits
// with $EXIT.
const fakeInfect = `#!/usr/bin/env bash
set -e -o pipefail
echo "start $$" >> "$STARTS"
echo "pwd=[$PWD]"
echo "NIX_CHANNEL=[$NIX_CHANNEL]"
echo "WEIRD=[$WEIRD]"
echo "DEBIAN_FRONTEND=[$DEBIAN_FRONTEND]"
for i in $(seq 1 "$LINES"); do
	echo "line $i"
	sleep "$SLEEP"
done
echo "to stderr" >&2
exit "$EXIT"
`

const weird = `it's "quoted" $HOME ${X} $(false) ` + "`id`" + ` \ \\ ; & | * ? ~ ! # 'x'  two  spaces
second line	tab é`

type fixture struct {
	job    Job
	r      *localRemote
	starts string
	dir    string
}

// newFixture puts the state dir in a temp dir whose name needs quoting.
func newFixture(t *testing.T, lines int, sleep string, exit int) *fixture {
	t.Helper()
	base := t.TempDir()
	dir := filepath.Join(base, "state dir 'q' $x")
	work := filepath.Join(base, "etc nixos")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	starts := filepath.Join(base, "starts")
	f := &fixture{
		r:      &localRemote{},
		starts: starts,
		dir:    dir,
		job: Job{
			Dir:     dir,
			Script:  []byte(fakeInfect),
			WorkDir: work,
			Env: map[string]string{
				"STARTS":      starts,
				"LINES":       strconv.Itoa(lines),
				"SLEEP":       sleep,
				"EXIT":        strconv.Itoa(exit),
				"NIX_CHANNEL": "nixos-24.11",
				"WEIRD":       weird,
			},
		},
	}
	t.Cleanup(func() { f.kill(t) })
	return f
}

func (f *fixture) startCount(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(f.starts)
	if errors.Is(err, fs.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "start ")
}

func (f *fixture) pid(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.dir, "infect.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// kill SIGKILLs the job's whole process group (the launcher's setsid makes
// one), if it is still running.
func (f *fixture) kill(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(f.dir, "infect.pid"))
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if pid <= 0 {
		return
	}
	// Only a process running our wrapper (the pid may have been reused).
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(filepath.Join(f.dir, "infect-wrapper.sh")+"\x00")) {
		return
	}
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid > 1 && pgid != syscall.Getpgrp() {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

func wantLines(t *testing.T, out string, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		line := fmt.Sprintf("line %d\n", i)
		if c := strings.Count(out, line); c != 1 {
			t.Errorf("output has %q %d times, want once", line, c)
		}
	}
	if n > 0 && strings.Index(out, "line 1\n") > strings.Index(out, fmt.Sprintf("line %d\n", n)) {
		t.Errorf("output out of order:\n%s", out)
	}
}

func TestRunOrAttachSuccess(t *testing.T) {
	f := newFixture(t, 5, "0.05", 0)
	ctx := context.Background()
	if st, _, err := f.job.Status(ctx, f.r); err != nil || st != NotStarted {
		t.Fatalf("before: got %v, %v, want %v", st, err, NotStarted)
	}
	var out syncBuffer
	code, err := f.job.RunOrAttach(ctx, f.r, &out)
	if err != nil || code != 0 {
		t.Fatalf("got %d, %v, want 0, nil\n%s", code, err, out.String())
	}
	s := out.String()
	wantLines(t, s, 5)
	for _, want := range []string{
		"NIX_CHANNEL=[nixos-24.11]\n",
		"WEIRD=[" + weird + "]\n",
		"pwd=[" + f.job.WorkDir + "]\n",
		"DEBIAN_FRONTEND=[noninteractive]\n",
		"to stderr\n",
		"bootstrap: nixos-infect finished with status 0",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if st, code, err := f.job.Status(ctx, f.r); err != nil || st != Succeeded || code != 0 {
		t.Errorf("after: got %v, %d, %v, want %v, 0, nil", st, code, err, Succeeded)
	}
	info, err := os.Stat(f.dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("state dir: got %v, %v, want mode 0700", info.Mode().Perm(), err)
	}

	// A rerun after success runs nothing and streams the finished log again.
	var again syncBuffer
	code, err = f.job.RunOrAttach(ctx, f.r, &again)
	if err != nil || code != 0 {
		t.Fatalf("rerun: got %d, %v, want 0, nil", code, err)
	}
	if again.String() != s {
		t.Errorf("rerun output: got\n%s\nwant\n%s", again.String(), s)
	}
	if got := f.startCount(t); got != 1 {
		t.Errorf("starts: got %d, want 1", got)
	}
}

func TestRunOrAttachFailure(t *testing.T) {
	f := newFixture(t, 3, "0", 3)
	var out syncBuffer
	code, err := f.job.RunOrAttach(context.Background(), f.r, &out)
	var fe *FailedError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want *FailedError", err)
	}
	if code != 3 || fe.Code != 3 {
		t.Errorf("code: got %d and %d, want 3", code, fe.Code)
	}
	if got, want := fe.Error(), "nixos-infect exited with status 3"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, want := range []string{"line 3\n", "to stderr\n", "finished with status 3"} {
		if !strings.Contains(fe.Tail, want) {
			t.Errorf("tail lacks %q:\n%s", want, fe.Tail)
		}
	}
	if n := strings.Count(fe.Tail, "\n"); n > tailLines {
		t.Errorf("tail has %d lines, want at most %d", n, tailLines)
	}
	wantLines(t, out.String(), 3)
	if st, c, err := f.job.Status(context.Background(), f.r); err != nil || st != Failed || c != 3 {
		t.Errorf("status: got %v, %d, %v, want %v, 3, nil", st, c, err, Failed)
	}

	// A rerun after a failure starts a new attempt and keeps the old log.
	f.job.Env["EXIT"] = "0"
	if code, err := f.job.RunOrAttach(context.Background(), f.r, io.Discard); err != nil || code != 0 {
		t.Fatalf("rerun: got %d, %v, want 0, nil", code, err)
	}
	if got := f.startCount(t); got != 2 {
		t.Errorf("starts: got %d, want 2", got)
	}
	prev, err := os.ReadFile(filepath.Join(f.dir, "infect.log.1"))
	if err != nil || !strings.Contains(string(prev), "finished with status 3") {
		t.Errorf("previous log: got %q, %v, want the failed attempt's log", prev, err)
	}
}

func TestRunOrAttachReattachesAfterCancel(t *testing.T) {
	f := newFixture(t, 15, "0.1", 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := f.job.RunOrAttach(ctx, f.r, &out)
		done <- err
	}()
	waitFor(t, func() bool { return strings.Contains(out.String(), "line 3\n") })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunOrAttach did not return after cancel")
	}
	if strings.Contains(out.String(), "line 15\n") {
		t.Fatal("the job finished before the cancel; the test proves nothing")
	}
	if st, _, err := f.job.Status(context.Background(), f.r); err != nil || st != Running {
		t.Fatalf("after cancel: got %v, %v, want %v (cancel must not stop the job)", st, err, Running)
	}

	var again syncBuffer
	code, err := f.job.RunOrAttach(context.Background(), f.r, &again)
	if err != nil || code != 0 {
		t.Fatalf("re-attach: got %d, %v, want 0, nil", code, err)
	}
	wantLines(t, again.String(), 15) // from the first line, each once
	if got := f.startCount(t); got != 1 {
		t.Errorf("starts: got %d, want 1 (re-attach must not restart)", got)
	}
}

func TestRunOrAttachRestartsKilledJob(t *testing.T) {
	f := newFixture(t, 1000, "0.1", 0)
	ctx := context.Background()
	if err := f.job.Start(ctx, f.r); err != nil {
		t.Fatal(err)
	}
	if st, _, err := f.job.Status(ctx, f.r); err != nil || st != Running {
		t.Fatalf("after start: got %v, %v, want %v", st, err, Running)
	}
	if err := f.job.Start(ctx, f.r); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second start: got %v, want ErrAlreadyRunning", err)
	}
	old := f.pid(t)
	f.kill(t)
	waitFor(t, func() bool {
		st, _, err := f.job.Status(ctx, f.r)
		return err == nil && st != Running
	})
	st, code, err := f.job.Status(ctx, f.r)
	if err != nil || st != Failed || code != Interrupted {
		t.Fatalf("after kill: got %v, %d, %v, want %v, %d (stale pid)", st, code, err, Failed, Interrupted)
	}

	f.job.Env["LINES"] = "2"
	var out syncBuffer
	if code, err := f.job.RunOrAttach(ctx, f.r, &out); err != nil || code != 0 {
		t.Fatalf("restart: got %d, %v, want 0, nil", code, err)
	}
	if got := f.startCount(t); got != 2 {
		t.Errorf("starts: got %d, want 2", got)
	}
	if f.pid(t) == old {
		t.Errorf("pid unchanged after restart: %d", old)
	}
	wantLines(t, out.String(), 2)
}

func TestFollowInterrupted(t *testing.T) {
	f := newFixture(t, 1000, "0.1", 0)
	ctx := context.Background()
	if err := f.job.Start(ctx, f.r); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := f.job.RunOrAttach(ctx, f.r, &out)
		done <- result{code, err}
	}()
	waitFor(t, func() bool { return strings.Contains(out.String(), "line 2\n") })
	f.kill(t) // like a reboot: no exit status gets recorded
	select {
	case r := <-done:
		var fe *FailedError
		if !errors.As(r.err, &fe) || fe.Code != Interrupted || r.code != Interrupted {
			t.Fatalf("got %d, %v, want *FailedError with code Interrupted", r.code, r.err)
		}
		if !strings.Contains(fe.Error(), "interrupted") {
			t.Errorf("got %q, want it to say interrupted", fe.Error())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Follow did not end after the job was killed")
	}
}

func TestStatusIgnoresReusedPid(t *testing.T) {
	f := newFixture(t, 1, "0", 0)
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A live process that is not our wrapper holds the recorded pid.
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	pidFile := filepath.Join(f.dir, "infect.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, code, err := f.job.Status(context.Background(), f.r)
	if err != nil || st != Failed || code != Interrupted {
		t.Errorf("got %v, %d, %v, want %v, %d", st, code, err, Failed, Interrupted)
	}
	// The recorded exit status wins over the pid check.
	if err := os.WriteFile(filepath.Join(f.dir, "infect.rc"), []byte("7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, code, err = f.job.Status(context.Background(), f.r)
	if err != nil || st != Failed || code != 7 {
		t.Errorf("with rc: got %v, %d, %v, want %v, 7", st, code, err, Failed)
	}
}

func TestTail(t *testing.T) {
	f := newFixture(t, 10, "0", 0)
	ctx := context.Background()
	if got, err := f.job.Tail(ctx, f.r, 5); err != nil || got != "" {
		t.Errorf("no log: got %q, %v, want empty", got, err)
	}
	if _, err := f.job.RunOrAttach(ctx, f.r, io.Discard); err != nil {
		t.Fatal(err)
	}
	got, err := f.job.Tail(ctx, f.r, 3)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != 3 || lines[0] != "line 10" || lines[1] != "to stderr" {
		t.Errorf("got %q, want line 10, to stderr, finish line", got)
	}
}

func TestStartNeedsScript(t *testing.T) {
	f := newFixture(t, 1, "0", 0)
	f.job.Script = nil
	if err := f.job.Start(context.Background(), f.r); err == nil {
		t.Error("got nil, want an error")
	}
}

func TestWorkDirMissing(t *testing.T) {
	f := newFixture(t, 1, "0", 0)
	f.job.WorkDir = filepath.Join(f.dir, "missing")
	code, err := f.job.RunOrAttach(context.Background(), f.r, io.Discard)
	var fe *FailedError
	if !errors.As(err, &fe) || code != 1 {
		t.Fatalf("got %d, %v, want *FailedError with code 1", code, err)
	}
	if f.startCount(t) != 0 {
		t.Error("the script ran although cd failed")
	}
}

func TestJobValidate(t *testing.T) {
	tests := []struct {
		name string
		job  Job
		want string // substring; "" = valid
	}{
		{"default dir", Job{}, ""},
		{"env", Job{Env: map[string]string{"NIX_CHANNEL": "nixos-24.11", "_x1": "a b 'c'\n"}}, ""},
		{"relative dir", Job{Dir: "state"}, "absolute"},
		{"unclean dir", Job{Dir: "/root/../x"}, "clean"},
		{"trailing slash", Job{Dir: "/root/x/"}, "clean"},
		{"newline in dir", Job{Dir: "/root/a\nb"}, "control"},
		{"relative workdir", Job{WorkDir: "etc/nixos"}, "work dir"},
		{"key with dash", Job{Env: map[string]string{"NIX-CHANNEL": "x"}}, "shell identifier"},
		{"key with digit first", Job{Env: map[string]string{"1X": "x"}}, "shell identifier"},
		{"empty key", Job{Env: map[string]string{"": "x"}}, "shell identifier"},
		{"key with space", Job{Env: map[string]string{"A B": "x"}}, "shell identifier"},
		{"key injection", Job{Env: map[string]string{"A=1; rm -rf /; B": "x"}}, "shell identifier"},
		{"NUL in value", Job{Env: map[string]string{"A": "x\x00y"}}, "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.job.validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want error containing %q", err, tt.want)
			}
		})
	}
	// Invalid jobs never reach the remote.
	r := &localRemote{}
	bad := Job{Env: map[string]string{"A B": "x"}}
	if _, err := bad.RunOrAttach(context.Background(), r, io.Discard); err == nil {
		t.Error("RunOrAttach: got nil, want an error")
	}
	if len(r.cmds) != 0 {
		t.Errorf("commands run: got %d, want 0", len(r.cmds))
	}
}

func TestParseState(t *testing.T) {
	tests := []struct {
		out     string
		st      Status
		code    int
		wantErr bool
	}{
		{"notstarted\n", NotStarted, 0, false},
		{"running 1234\n", Running, 0, false},
		{"stale 1234\n", Failed, Interrupted, false},
		{"stale\n", Failed, Interrupted, false},
		{"done 0\n", Succeeded, 0, false},
		{"done 1\n", Failed, 1, false},
		{"done 255\n", Failed, 255, false},
		{"done\n", NotStarted, 0, true},
		{"done x\n", NotStarted, 0, true},
		{"done 256\n", NotStarted, 0, true},
		{"done -1\n", NotStarted, 0, true},
		{"", NotStarted, 0, true},
		{"garbage\n", NotStarted, 0, true},
		{"running\n", NotStarted, 0, true},
	}
	for _, tt := range tests {
		st, code, err := parseState(tt.out)
		if st != tt.st || code != tt.code || (err != nil) != tt.wantErr {
			t.Errorf("parseState(%q): got %v, %d, %v, want %v, %d, err=%v", tt.out, st, code, err, tt.st, tt.code, tt.wantErr)
		}
	}
}

func TestWrapperIsPOSIX(t *testing.T) {
	f := newFixture(t, 1, "0", 0)
	// sh -n parses without running; dash is strict POSIX.
	cmd := exec.Command("sh", "-n")
	cmd.Stdin = bytes.NewReader(f.job.wrapper())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("wrapper does not parse: %v\n%s\n%s", err, out, f.job.wrapper())
	}
	for _, script := range []string{f.job.prelude() + "state\n"} {
		cmd := exec.Command("sh", "-n")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("prelude does not parse: %v\n%s", err, out)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFollowZombieWrapper makes this test process the reaper of orphans and
// never reaps the killed wrapper, like a host whose init does not reap: tail
// --pid would wait forever on the zombie; Follow must still end.
func TestFollowZombieWrapper(t *testing.T) {
	const prSetChildSubreaper = 36
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
		t.Skipf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	t.Cleanup(func() {
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 0, 0)
		// Reap what was left to us; no other command of this package runs now.
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				return
			}
		}
	})
	f := newFixture(t, 1000, "0.1", 0)
	ctx := context.Background()
	if err := f.job.Start(ctx, f.r); err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := f.job.Follow(ctx, f.r, &out)
		done <- result{code, err}
	}()
	waitFor(t, func() bool { return strings.Contains(out.String(), "line 2\n") })
	// Kill the wrapper's parent (the process group leader) first, so the
	// wrapper is handed to this process, then the rest of the group: the
	// wrapper stays a zombie since nothing here reaps it.
	pid := f.pid(t)
	pgid, err := syscall.Getpgid(pid)
	if err != nil || pgid == pid || pgid == syscall.Getpgrp() {
		t.Fatalf("getpgid(%d): got %d, %v, want the launcher's group", pid, pgid, err)
	}
	syscall.Kill(pgid, syscall.SIGKILL)
	waitFor(t, func() bool { return ppid(pid) == os.Getpid() })
	syscall.Kill(-pgid, syscall.SIGKILL)
	waitFor(t, func() bool {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		return err == nil && strings.Contains(string(stat), ") Z ")
	})
	select {
	case r := <-done:
		if r.err != nil || r.code != Interrupted {
			t.Fatalf("got %d, %v, want %d, nil", r.code, r.err, Interrupted)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Follow did not end after the wrapper became a zombie")
	}
}

// ppid is the parent of pid, or -1.
func ppid(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 2 {
		return -1
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return -1
	}
	return n
}

// failingRemote fails every command with err after writing stderr.
type failingRemote struct {
	err    error
	stderr string
}

func (f failingRemote) Run(_ context.Context, _ string, _, stderr io.Writer) error {
	io.WriteString(stderr, f.stderr)
	return f.err
}

func (f failingRemote) WriteFile(context.Context, string, []byte, fs.FileMode) error { return f.err }

type customErr struct{ msg string }

func (e *customErr) Error() string { return e.msg }

func TestRemoteErrors(t *testing.T) {
	job := Job{Dir: "/x/state", Script: []byte("true")}
	tests := []struct {
		name   string
		remote failingRemote
		want   string
	}{
		{"stderr appended", failingRemote{&customErr{"exit status 2"}, "noise\nsetsid not found on the host\n"},
			"check nixos-infect state in /x/state: exit status 2: setsid not found on the host"},
		{"stderr already in error", failingRemote{&customErr{"exit status 2; stderr:\nboom"}, "boom\n"},
			"check nixos-infect state in /x/state: exit status 2; stderr:\nboom"},
		{"no stderr", failingRemote{&customErr{"connection lost"}, ""},
			"check nixos-infect state in /x/state: connection lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := job.Status(context.Background(), tt.remote)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			var ce *customErr
			if !errors.As(err, &ce) || ce != tt.remote.err {
				t.Errorf("errors.As: got %v, want the remote's error", ce)
			}
			code, err := job.RunOrAttach(context.Background(), tt.remote, io.Discard)
			if err == nil || code != Interrupted {
				t.Errorf("RunOrAttach: got %d, %v, want %d and an error", code, err, Interrupted)
			}
		})
	}
}
