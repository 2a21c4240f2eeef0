package remote

import "strings"

// Quote returns s quoted for a POSIX shell as exactly one word with the
// value s. Strings made only of characters the shell never interprets are
// returned unchanged; anything else (including the empty string) is wrapped
// in single quotes, and each embedded single quote closes the quoting, adds
// a backslash-escaped quote and reopens it:
//
//	Quote("it's") == `'it'\''s'`
func Quote(s string) string {
	if s != "" && strings.Trim(s, safeChars) == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// safeChars never need quoting. '=' is left out (a leading NAME=value word is
// an assignment), as are '~' (tilde expansion) and glob characters.
const safeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:,@%+"
