package cmd

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// readme is the repository's README.md.
func readme(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// exitCodeTable is the README's exit-code table as exitCodes says it.
func exitCodeTable() string {
	var b strings.Builder
	b.WriteString("| code | meaning |\n|---|---|\n")
	for _, c := range exitCodes {
		fmt.Fprintf(&b, "| %d | %s |\n", c.Code, c.Meaning)
	}
	return b.String()
}

// The README's one exit-code table is the one the program uses.
func TestREADMEExitCodes(t *testing.T) {
	r := readme(t)
	if n := strings.Count(r, "| code | meaning |"); n != 1 {
		t.Fatalf("got %d exit-code tables in the README, want 1", n)
	}
	if want := exitCodeTable(); !strings.Contains(r, want) {
		t.Errorf("the README's exit-code table differs from exitCodes; want:\n%s", want)
	}
	seen := map[int]bool{}
	for _, c := range exitCodes {
		if seen[c.Code] {
			t.Errorf("exit code %d twice in the table", c.Code)
		}
		seen[c.Code] = true
	}
}

// Every field of the --json objects is documented in the README.
func TestREADMEJSONFields(t *testing.T) {
	r := readme(t)
	start := strings.Index(r, "## Output and --json")
	end := strings.Index(r, "## Errors and exit codes")
	if start < 0 || end < start {
		t.Fatal("no Output and --json section before the exit codes in the README")
	}
	section := r[start:end]
	for _, v := range []any{hostResult{}, pushResult{}, destroyResult{}, rollbackResult{}} {
		ty := reflect.TypeOf(v)
		for i := range ty.NumField() {
			name, _, _ := strings.Cut(ty.Field(i).Tag.Get("json"), ",")
			if !strings.Contains(section, "`"+name+"`") {
				t.Errorf("%s's field %s is not documented in the README's --json section", ty.Name(), name)
			}
		}
	}
}

// Every command has examples.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && !c.Hidden && strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewRoot())
}
