// Command bootstrap turns a fresh Debian/Ubuntu machine into a reproducible
// NixOS machine. See the README.
package main

import (
	"os"

	"bootstrap/cmd"
)

func main() {
	os.Exit(cmd.Execute(cmd.NewRoot()))
}
