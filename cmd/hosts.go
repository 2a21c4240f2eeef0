package cmd

import (
	"os"
	"path/filepath"
)

// userKnownHosts is the operator's own known_hosts, read (never written) to
// recognise hosts on first contact.
func userKnownHosts() []string {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	return []string{filepath.Join(home, ".ssh", "known_hosts")}
}
