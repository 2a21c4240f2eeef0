//go:build tools

package tools

import (
	_ "filippo.io/age"
	_ "filippo.io/age/agessh"
	_ "github.com/hashicorp/go-retryablehttp"
	_ "github.com/pkg/sftp"
	_ "github.com/scaleway/scaleway-sdk-go/scw"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/crypto/ssh/agent"
	_ "golang.org/x/crypto/ssh/knownhosts"
	_ "golang.org/x/term"
)
