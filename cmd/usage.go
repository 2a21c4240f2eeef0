package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/agnivade/levenshtein"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// UsageError is bad input: nothing was contacted or created.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

// argsBetween accepts min to max arguments (max < 0: any number more); a
// wrong count is a usage error that ends with the command's usage line.
func argsBetween(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < min:
			return usagef("missing %s; usage: %s", missingArgs(cmd.Use, len(args)), cmd.UseLine())
		case max >= 0 && len(args) > max:
			return usagef("too many arguments (%s); usage: %s", strings.Join(args[max:], " "), cmd.UseLine())
		}
		return nil
	}
}

func exactArgs(n int) cobra.PositionalArgs { return argsBetween(n, n) }

var noArgs = argsBetween(0, 0)

// missingArgs names the arguments after the first have ones, from the
// command's Use ("clone SOURCE NAME", 1 given: "NAME").
func missingArgs(use string, have int) string {
	words := strings.Fields(use)[1:]
	var names []string
	for _, w := range words {
		optional := strings.HasPrefix(w, "[") && strings.HasSuffix(w, "]") // [GENERATION]; not [USER@]HOST
		if optional || strings.HasPrefix(w, "-") || strings.HasPrefix(w, "[-") || w == "|" || strings.HasSuffix(w, "...") {
			break
		}
		names = append(names, w)
	}
	if have < len(names) {
		names = names[have:]
	}
	if len(names) == 0 {
		return "argument"
	}
	return strings.Join(names, " ")
}

// flagError turns pflag's errors into usage errors; an unknown flag names
// the closest one the command has.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	name := ""
	switch {
	case strings.HasPrefix(msg, "unknown flag: --"):
		name = strings.TrimPrefix(msg, "unknown flag: --")
	case strings.HasPrefix(msg, "unknown shorthand flag: "):
		return usagef("%s; %s --help lists the flags", msg, cmd.CommandPath())
	default:
		return usagef("%s; usage: %s", msg, cmd.UseLine())
	}
	if s := closestFlag(cmd, name); s != "" {
		return usagef("unknown flag --%s: did you mean --%s?", name, s)
	}
	return usagef("unknown flag --%s: %s --help lists the flags", name, cmd.CommandPath())
}

// closestFlag is the flag of cmd nearest to name: one it is a prefix of,
// or one at most two edits away (a third of its letters for long names;
// Levenshtein distance).
func closestFlag(cmd *cobra.Command, name string) string {
	best, bestDist := "", max(2, len(name)/3)+1
	visit := func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		if strings.HasPrefix(f.Name, name) && len(name) >= 3 {
			if bestDist > 0 {
				best, bestDist = f.Name, 0
			}
			return
		}
		if d := levenshtein.ComputeDistance(name, f.Name); d < bestDist {
			best, bestDist = f.Name, d
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	return best
}

// unknownCommand is the root's argument check: a word that is no command
// names the closest ones.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if s := suggestions(cmd, args[0]); len(s) > 0 {
		return usagef("unknown command %q: did you mean %s?", args[0], strings.Join(s, " or "))
	}
	return usagef("unknown command %q: %s --help lists the commands", args[0], cmd.CommandPath())
}

// suggestions are cmd's subcommands that typed is a prefix of, else the
// nearest ones within two edits (Levenshtein distance).
func suggestions(cmd *cobra.Command, typed string) []string {
	var prefixed, near []string
	best := 3
	for _, c := range cmd.Commands() {
		if !c.IsAvailableCommand() {
			continue
		}
		if strings.HasPrefix(c.Name(), typed) {
			prefixed = append(prefixed, c.Name())
			continue
		}
		switch d := levenshtein.ComputeDistance(typed, c.Name()); {
		case d < best:
			best, near = d, []string{c.Name()}
		case d == best:
			near = append(near, c.Name())
		}
	}
	if len(prefixed) > 0 {
		return prefixed
	}
	return near
}

// asUsage makes cobra's own errors (an unknown subcommand of a command
// without arguments, a missing required flag) usage errors.
func asUsage(err error) error {
	var u *UsageError
	if err == nil || errors.As(err, &u) {
		return err
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "if any flags in the group [quiet verbose]") {
		return usagef("--quiet and --verbose contradict each other: give one")
	}
	for _, p := range []string{"unknown command", "required flag", "invalid argument", "unknown flag", "flag needs an argument", "if any flags in the group", "accepts ", "requires "} {
		if strings.HasPrefix(msg, p) {
			return &UsageError{Msg: strings.ReplaceAll(strings.TrimSpace(msg), "\n", " ")}
		}
	}
	return err
}
