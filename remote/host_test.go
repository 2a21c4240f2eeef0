package remote

import "testing"

func TestValidHost(t *testing.T) {
	tests := []struct {
		host string
		ok   bool
	}{
		{"203.0.113.7", true},
		{"2001:db8::1", true},
		{"::1", true},
		{"fe80::1%eth0", true},
		{"web-1.example.com", true},
		{"web-1.example.com.", true},
		{"localhost", true},
		{"203.0.113.300", false},
		{"203.0.113", false},
		{"2001:db8::g", false},
		{"web_1.example.com", false},
		{"-web.example.com", false},
		{"web..example.com", false},
		{"", false},
		{"a b", false},
	}
	for _, tt := range tests {
		if err := ValidHost(tt.host); (err == nil) != tt.ok {
			t.Errorf("ValidHost(%q): got %v, want ok=%v", tt.host, err, tt.ok)
		}
	}
}
