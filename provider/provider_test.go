package provider

import (
	"strings"
	"testing"
)

type data struct {
	Zone string   `json:"zone"`
	IDs  []string `json:"ids,omitempty"`
}

func TestRecordEncodeDecode(t *testing.T) {
	var r Record
	if !r.IsZero() {
		t.Fatalf("got a new record not zero: %+v", r)
	}
	if ok, err := r.Decode("cloud", &data{}); ok || err != nil {
		t.Fatalf("decode of an empty record: got ok=%v err=%v, want false, nil", ok, err)
	}
	if err := r.Encode("cloud", data{Zone: "zone-1", IDs: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind    string
		want    data
		wantOK  bool
		wantErr string
	}{
		{kind: "cloud", want: data{Zone: "zone-1", IDs: []string{"a"}}, wantOK: true},
		{kind: "other", wantErr: `the machine record is "cloud", not "other"`},
	}
	for _, tt := range tests {
		var got data
		ok, err := r.Decode(tt.kind, &got)
		if ok != tt.wantOK || (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("decode %s: got ok=%v err=%v, want ok=%v err %q", tt.kind, ok, err, tt.wantOK, tt.wantErr)
		}
		if got.Zone != tt.want.Zone || len(got.IDs) != len(tt.want.IDs) {
			t.Errorf("decode %s: got %+v, want %+v", tt.kind, got, tt.want)
		}
	}
}
