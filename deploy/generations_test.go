package deploy

import (
	"testing"
	"time"
)

func TestParseGenerations(t *testing.T) {
	d := func(s string) time.Time {
		tm, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		out  string
		want []Generation
		ok   bool
	}{
		{"empty", "", nil, true},
		{"nix-env's format", "   1   2024-04-30 09:12:01   \n   2   2024-05-01 10:00:00   (current)\n", []Generation{
			{Number: 1, Date: d("2024-04-30 09:12:01")},
			{Number: 2, Date: d("2024-05-01 10:00:00"), Current: true},
		}, true},
		{"wide numbers, no trailing spaces", "  99   2023-01-02 03:04:05\n1234   2024-12-31 23:59:59   (current)", []Generation{
			{Number: 99, Date: d("2023-01-02 03:04:05")},
			{Number: 1234, Date: d("2024-12-31 23:59:59"), Current: true},
		}, true},
		{"current not last", "  12   2024-05-01 10:00:00   (current)\n  13   2024-05-02 10:00:00   \n", []Generation{
			{Number: 12, Date: d("2024-05-01 10:00:00"), Current: true},
			{Number: 13, Date: d("2024-05-02 10:00:00")},
		}, true},
		{"garbage", "error: opening lock file '/nix/var/nix/profiles/system.lock'\n", nil, false},
		{"bad date", "   1   2024-13-01 10:00:00   \n", nil, false},
	}
	for _, tt := range tests {
		got, err := ParseGenerations(tt.out)
		if (err == nil) != tt.ok {
			t.Errorf("%s: got error %v, want ok=%v", tt.name, err, tt.ok)
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.name, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: generation %d: got %+v, want %+v", tt.name, i, got[i], tt.want[i])
			}
		}
	}
}

func TestParseList(t *testing.T) {
	out := "   1   2024-04-30 09:12:01   \n   2   2024-05-01 10:00:00   \n   3   2024-05-02 10:00:00   (current)\n" +
		copiesMark + "\n1\n3\n.4.tmp\n"
	gens, err := parseList(out)
	if err != nil {
		t.Fatal(err)
	}
	var kept []int
	for _, g := range gens {
		if g.Config {
			kept = append(kept, g.Number)
		}
	}
	if len(kept) != 2 || kept[0] != 1 || kept[1] != 3 {
		t.Errorf("got copies for %v, want [1 3]", kept)
	}
	if Current(gens) != 3 || Previous(gens) != 2 {
		t.Errorf("got current %d previous %d, want 3 and 2", Current(gens), Previous(gens))
	}
	if Previous(gens[:1]) != 0 {
		t.Error("a lone generation has a previous one")
	}
}
