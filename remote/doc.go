// Package remote is the SSH layer: it dials a host with a pinned ed25519 host
// key and a bounded set of client keys, runs commands and transfers files.
//
// Errors are typed for the caller's decisions: *HostKeyMismatchError and
// *UnknownHostKeyError (never retried), *AuthError (keys refused),
// *UnreachableError (gave up waiting, unwraps to ctx.Err() and the last
// network error), *ExitError (command failed) and ErrConnectionLost (the
// connection dropped mid-command, e.g. on reboot).
//
// It also owns what SSH itself defines: shell quoting for command lines
// (Quote) and known_hosts lines (PinHostKey). A leaf: it imports nothing of
// this module.
package remote
