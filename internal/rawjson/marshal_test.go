package rawjson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

type withMap struct {
	Opts map[string]string `json:"opts,omitempty"`
	Made []string          `json:"made,omitempty"`
}

// Result is exported: a struct embedding an unexported type is kept as
// it is (see Wire).
type Result struct {
	Path   string `json:"path"`
	hidden []string
	Kind   string `json:"kind"`
}

type doc struct {
	Schema string `json:"schema"`
	*Result
	Other *Result `json:"other"`
	Error string  `json:"error,omitempty"`
}

// Marshal writes the compact form on one line; map values and the
// strings of structs with unexported fields (left out, as encoding/json
// leaves them) are kept byte for byte too.
func TestMarshal(t *testing.T) {
	bad := "caf\xe9"
	in := withMap{Opts: map[string]string{"plan": bad, "jobs": "2"}, Made: []string{bad}}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(b, "\n\t") || bytes.Contains(b, []byte("\ufffd")) || bytes.Count(b, []byte(`"b64"`)) != 2 {
		t.Errorf("encoded: %s", b)
	}
	var out withMap
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip: got %#v, want %#v", out, in)
	}
	// Empty and absent maps are written as encoding/json writes them.
	for _, v := range []withMap{{}, {Opts: map[string]string{}}, {Opts: map[string]string{"a": "é"}}} {
		b, _ := Marshal(v)
		want, _ := json.Marshal(v)
		if string(b) != string(want) {
			t.Errorf("%#v: %s, encoding/json: %s", v, b, want)
		}
	}

	h := Result{Path: bad, hidden: []string{"x"}, Kind: "k\xff"}
	d := doc{Schema: "s", Result: &h, Other: &h, Error: "e"}
	b, err = MarshalIndent(d, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	var back doc
	if err := Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Result{back.Result, back.Other} {
		if r == nil || r.Path != bad || r.Kind != h.Kind || r.hidden != nil || back.Error != "e" {
			t.Errorf("struct with an unexported field: %s read back as %#v", b, r)
		}
	}
	// An embedded pointer left nil adds no fields.
	d.Result = nil
	if b, _ = Marshal(d); bytes.Count(b, []byte(`"path"`)) != 1 {
		t.Errorf("nil embedded pointer: %s", b)
	}
	d.Result = &h
	h.Path, h.Kind = "p", "k"
	want, _ := json.MarshalIndent(d, "", " ")
	if b, _ = MarshalIndent(d, "", " "); string(b) != string(want) {
		t.Errorf("UTF-8 only:\n%s\nencoding/json:\n%s", b, want)
	}
}
