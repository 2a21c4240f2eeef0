package cmd

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"bootstrap/channel"
	"bootstrap/workspace"
)

// hostNames completes workspace host names (never creating the workspace).
func hostNames(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		ws, err := workspace.Load(expandHome(g.Workspace))
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		names, _ := ws.Hosts()
		names = slices.DeleteFunc(names, func(n string) bool { return slices.Contains(args, n) })
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// firstArgHostName completes a host name for the first argument only.
func firstArgHostName(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	names := hostNames(g)
	return func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return names(cmd, args, s)
	}
}

// completeChannels completes --channel with the channels that exist today.
func completeChannels(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return channel.Known(channel.Today()), cobra.ShellCompDirectiveNoFileComp
}

// completeValues completes a flag from a fixed list.
func completeValues(values []string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// addCompletionExamples gives cobra's completion commands examples, as
// every command has.
func addCompletionExamples(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = "  bootstrap completion bash > /etc/bash_completion.d/bootstrap\n  bootstrap completion zsh > \"${fpath[1]}/_bootstrap\""
		for _, sh := range c.Commands() {
			switch sh.Name() {
			case "bash":
				sh.Example = "  source <(bootstrap completion bash)"
			case "zsh":
				sh.Example = "  bootstrap completion zsh > \"${fpath[1]}/_bootstrap\""
			case "fish":
				sh.Example = "  bootstrap completion fish > ~/.config/fish/completions/bootstrap.fish"
			default:
				sh.Example = "  bootstrap completion " + sh.Name() + " | Out-String | Invoke-Expression"
			}
			sh.Example = strings.TrimRight(sh.Example, "\n")
		}
	}
}
