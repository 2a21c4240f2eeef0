package bootstrap

import (
	"context"
	"fmt"
	"time"

	"bootstrap/infect"
)

// infectStep fetches the pinned nixos-infect (sha256-checked, cached
// locally), uploads it and runs it detached with NIX_CHANNEL and
// NIXOS_IMPORT, streaming its output into the log. It never reboots:
// NO_REBOOT is set and the reboot step does it, so the exit status is known.
type infectStep struct{}

func (infectStep) Name() string { return StepInfect }

func (infectStep) Run(ctx context.Context, s *State) error {
	// Bootstrap fetched and checked the script before contacting the host.
	job := infectJob(s, s.script)
	start := time.Now()
	status, _, err := job.Status(ctx, s.client)
	if err != nil {
		return err
	}
	verb := "running"
	if status == infect.Running {
		// An earlier run was interrupted while the infect went on: follow
		// it instead of starting a second one. Its output is streamed again
		// from the start.
		verb = "re-attached to the running"
		fmt.Fprintf(s.Log, "re-attaching to the nixos-infect started by an earlier run; its output follows from the start\n")
	}
	fmt.Fprintf(s.Opts.Stdout, "  %-9s  %s nixos-infect %s on %s, output in %s\n", StepInfect, verb, short(s.Opts.Infect.SHA256), s.Rec.Address, s.WS.Rel(s.WS.HostFile(s.Rec.Name, "bootstrap.log")))
	code, err := job.RunOrAttach(ctx, s.client, s.Log)
	if err != nil {
		return err
	}
	s.Note("nixos-infect %s exited %d after %s", short(s.Opts.Infect.SHA256), code, time.Since(start).Round(time.Second))
	return nil
}

func infectJob(s *State, script []byte) infect.Job {
	return infect.Job{
		Dir:    infect.DefaultDir,
		Script: script,
		Env: map[string]string{
			"NIX_CHANNEL":  s.Opts.Channel.String(),
			"NIXOS_IMPORT": "./host.nix",
			"NO_REBOOT":    "1",
		},
		WorkDir: NixOSDir,
	}
}
