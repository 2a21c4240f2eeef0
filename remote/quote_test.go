package remote

import (
	"os/exec"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "''"},
		{"plain", "plain"},
		{"/etc/nixos/host.nix", "/etc/nixos/host.nix"},
		{"with space", "'with space'"},
		{"it's", `'it'\''s'`},
		{"''", `''\'''\'''`},
		{`"double"`, `'"double"'`},
		{"$HOME", "'$HOME'"},
		{"${x:-y}", "'${x:-y}'"},
		{"`id`", "'`id`'"},
		{"$(id)", "'$(id)'"},
		{"a\nb", "'a\nb'"},
		{"trailing\n", "'trailing\n'"},
		{`back\slash`, `'back\slash'`},
		{"tab\there", "'tab\there'"},
		{"*", "'*'"},
		{"~", "'~'"},
		{"a=b", "'a=b'"},
		{"-n", "-n"},
		{"!bang", "'!bang'"},
		{"semi;colon&amp|pipe>gt<lt", "'semi;colon&amp|pipe>gt<lt'"},
		{"ünïcödé", "'ünïcödé'"},
	}
	for _, tt := range tests {
		got := Quote(tt.in)
		if got != tt.want {
			t.Errorf("Quote(%q): got %q, want %q", tt.in, got, tt.want)
		}
		// The shell must see exactly one word with the original value.
		out, err := exec.Command("sh", "-c", "printf %s "+got).Output()
		if err != nil || string(out) != tt.in {
			t.Errorf("sh -c 'printf %%s %s': got %q, %v, want %q", got, out, err, tt.in)
		}
		out, err = exec.Command("sh", "-c", "set -- "+got+"; echo $#").Output()
		if err != nil || string(out) != "1\n" {
			t.Errorf("word count of %s: got %q, %v, want 1", got, out, err)
		}
	}
}

// Quoting survives one more level of sh -c, as used for sudo.
func TestQuoteNested(t *testing.T) {
	for _, s := range []string{"it's", `a "b" $c`, "x\ny", ""} {
		inner := "printf %s " + Quote(s)
		out, err := exec.Command("sh", "-c", "sh -c "+Quote(inner)).Output()
		if err != nil || string(out) != s {
			t.Errorf("nested %q: got %q, %v, want %q", s, out, err, s)
		}
	}
}

// Every string without NUL survives a real shell as one word.
func TestQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{
		"", " ", "a b", "'", "''", `"`, `\`, `\'`, "$HOME", "${HOME}", "$(echo x)", "`echo x`",
		"*", "?", "[a]", "~", "~root", "-n", "-e", "!", "#x", "a;b", "a&b", "a|b", "a>b", "<",
		"new\nline", "tab\t", "\r", "é ü 日本", "\x01\x7f",
		`it's "quoted" $HOME ${X} $(false) ` + "`id`" + ` \ \\ ; & | * ? ~ ! # 'x'  two  spaces`,
	} {
		out, err := exec.Command("sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("round trip of %q: got %q, %v", s, out, err)
		}
	}
}
