// Package ssh is the provider of machines that already exist: the operator
// names a host reachable over SSH and nothing is created. It keeps no record.
// It imports package provider only.
package ssh

import (
	"context"
	"fmt"
	"net"

	"bootstrap/provider"
)

// Machine is an existing host.
type Machine struct {
	Host string // name or address, as the operator gave it
	// Resolver looks names up; nil is net.DefaultResolver.
	Resolver interface {
		LookupHost(ctx context.Context, host string) ([]string, error)
	}
}

// Step names the provisioning step.
func (m *Machine) Step() string { return provider.StepResolve }

// Provision checks that the host name resolves, so a typo fails at once
// instead of after the connect timeout. The address stays as given: it is
// what known_hosts pins and what OpenSSH will be told.
func (m *Machine) Provision(ctx context.Context, _ *provider.Run) (provider.Provisioned, error) {
	if ip := net.ParseIP(m.Host); ip != nil {
		return provider.Provisioned{Address: m.Host, Note: "existing host " + m.Host}, nil
	}
	var r interface {
		LookupHost(ctx context.Context, host string) ([]string, error)
	} = net.DefaultResolver
	if m.Resolver != nil {
		r = m.Resolver
	}
	addrs, err := r.LookupHost(ctx, m.Host)
	if err != nil {
		return provider.Provisioned{}, &ResolveError{Host: m.Host, Err: err}
	}
	return provider.Provisioned{Address: m.Host, Note: fmt.Sprintf("existing host %s (%v)", m.Host, addrs)}, nil
}

// ResolveError is a host name that does not resolve.
type ResolveError struct {
	Host string
	Err  error
}

func (e *ResolveError) Error() string {
	return fmt.Sprintf("host %s does not resolve: %v", e.Host, e.Err)
}
func (e *ResolveError) Unwrap() error { return e.Err }
