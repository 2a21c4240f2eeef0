package cmd

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// The first signal (SIGHUP too) cancels the run; a second one says what
// was still running and exits at once with 130.
func TestSecondSignalExitsSayingWhatRuns(t *testing.T) {
	for _, first := range []os.Signal{os.Interrupt, syscall.SIGHUP, syscall.SIGTERM} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		sigs := make(chan os.Signal, 2)
		running := &lastLine{w: io.Discard}
		io.WriteString(running, "bootstrap web-1: root@203.0.113.7 to NixOS nixos-24.11\n  infect     ...       running nixos-infect 4cc3b5f8")
		io.WriteString(running, " on 203.0.113.7\n")
		var stderr bytes.Buffer
		exited := make(chan int, 1)
		go watchSignals(done, sigs, cancel, running, &stderr, func(code int) { exited <- code })
		sigs <- first
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: got the run not cancelled, want it cancelled", first)
		}
		sigs <- os.Interrupt
		select {
		case code := <-exited:
			if code != exitInterrupted {
				t.Errorf("%v: got exit %d, want %d", first, code, exitInterrupted)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: got no exit after the second signal, want one", first)
		}
		if got := stderr.String(); !strings.Contains(got, "still running: infect ... running nixos-infect 4cc3b5f8 on 203.0.113.7") {
			t.Errorf("%v: got %q, want it to say what was still running", first, got)
		}
		close(done)
	}
}

// Execute listens for SIGHUP like SIGINT.
func TestExecuteCancelsOnSIGHUP(t *testing.T) {
	root := NewRoot()
	started := make(chan struct{})
	root.AddCommand(&cobra.Command{Use: "wait-for-cancel", RunE: func(cmd *cobra.Command, _ []string) error {
		close(started)
		<-cmd.Context().Done()
		return cmd.Context().Err()
	}})
	root.SetArgs([]string{"wait-for-cancel"})
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	codes := make(chan int, 1)
	go func() { codes <- Execute(root) }()
	<-started
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	select {
	case code := <-codes:
		if code != exitInterrupted {
			t.Errorf("got exit %d (%s), want %d", code, errb.String(), exitInterrupted)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SIGHUP did not cancel the run")
	}
}
