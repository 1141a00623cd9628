package rawjson

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

type level uint8

func (l level) MarshalText() ([]byte, error) { return []byte([]string{"low", "high"}[l]), nil }
func (l *level) UnmarshalText(b []byte) error {
	*l = map[string]level{"low": 0, "high": 1}[string(b)]
	return nil
}

type tag string

type inner struct {
	Path  string   `json:"path"`
	Names []string `json:"names"`
}

type outer struct {
	Name   string           `json:"name"`
	Tag    tag              `json:"tag"`
	Level  level            `json:"level"`
	When   time.Time        `json:"when"`
	Inner  inner            `json:"inner"`
	Ptr    *inner           `json:"ptr,omitempty"`
	List   []inner          `json:"list"`
	Counts map[string]int64 `json:"counts"`
	Skip   string           `json:"-"`
	Empty  string           `json:"empty,omitempty"`
}

// Strings that are not UTF-8 come back byte for byte, UTF-8 ones are
// plain JSON strings, and everything else is what encoding/json writes.
func TestRoundTrip(t *testing.T) {
	bad := "caf\xe9/\xff\xfe"
	in := outer{
		Name: "plain", Tag: tag(bad), Level: 1, When: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Inner:  inner{Path: bad, Names: []string{"ok", bad}},
		Ptr:    &inner{Path: "é"},
		List:   []inner{{Path: bad}},
		Counts: map[string]int64{"a": 1},
		Skip:   "x",
	}
	b, err := MarshalIndent(in, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\ufffd") || strings.Count(string(b), `"b64"`) != 4 || !strings.Contains(string(b), `"level": "high"`) || strings.Contains(string(b), `"Skip"`) {
		t.Errorf("encoded:\n%s", b)
	}
	var out outer
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	in.Skip = ""
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %#v\nwant %#v", out, in)
	}
	// Where every string is UTF-8 the bytes are encoding/json's.
	in = outer{Name: "a", Inner: inner{Path: "é", Names: []string{"x"}}, Counts: map[string]int64{}}
	b, _ = MarshalIndent(in, "", " ")
	want, _ := json.MarshalIndent(in, "", " ")
	if string(b) != string(want) {
		t.Errorf("UTF-8 only:\n%s\nencoding/json:\n%s", b, want)
	}
	var s String
	if err := json.Unmarshal([]byte(`{"b64":"YQ=="}`), &s); err == nil {
		t.Errorf("valid UTF-8 in the object form was accepted")
	}
}
