package cmd

import (
	"encoding/json"
	"io"
	"os"

	"golang.org/x/term"
)

// writeJSON writes v as one line of JSON: --json prints one such object
// per host.
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}

// colour reports whether w gets ANSI colours: only a terminal, never with
// NO_COLOR set (to anything, https://no-color.org) or TERM=dumb.
func colour(w io.Writer) bool {
	if _, ok := os.LookupEnv("NO_COLOR"); ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// paint wraps s in an SGR colour when on is set: "31" red, "33" yellow,
// "32" green.
func paint(on bool, code, s string) string {
	if !on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// isUsage reports bad input (exit 2): nothing ran, so --json prints no
// object, only the error line on stderr.
func isUsage(err error) bool {
	if err == nil {
		return false
	}
	_, _, code := explain(err)
	return code == exitUsage
}
