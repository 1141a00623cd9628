package journal

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// Encode writes every string of a record byte for byte on one line, and
// Parse reads it back the same; a record whose strings are all UTF-8 is
// written as encoding/json writes it, so journals read as before.
func TestEncodeKeepsBytes(t *testing.T) {
	bad := "/s/Domains/bad\xfe.test"
	want := Record{Seq: 2, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Op: 1, Kind: KindMove, Step: StepBegin,
		Src: bad, Dst: "/v" + bad, Link: "/v" + bad, Temp: ".cgscale-\xff", Kept: bad + ".kept", Made: []string{"/v/\xe9", "/v/ok"},
		Dev: 7, FSID: "0:1", Ino: 9, Opts: map[string]string{OptPlanCopy: "/b\xe9/.cgscale/plans/x.json", "jobs": "2"}, Note: "caf\xe9"}
	line, err := Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' || bytes.Contains(line, []byte("\ufffd")) {
		t.Errorf("not one line with the bytes kept: %q", line)
	}
	recs, err := Parse("j.jsonl", append([]byte(rec1+"\n"), line...))
	if err != nil || len(recs) != 2 {
		t.Fatalf("parse: %v %+v", err, recs)
	}
	if !reflect.DeepEqual(recs[1], want) {
		t.Errorf("read back\n %#v\nwant\n %#v", recs[1], want)
	}

	plain := want
	plain.Src, plain.Dst, plain.Link, plain.Temp, plain.Kept = "/s/Domains/é.test", "/v/é", "/v/é", ".t", "/k"
	plain.Made, plain.Opts, plain.Note = []string{"/v"}, map[string]string{"jobs": "2"}, ""
	line, err = Encode(plain)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := json.Marshal(plain)
	if string(line) != string(old)+"\n" {
		t.Errorf("UTF-8 record:\n %s\nencoding/json:\n %s", line, old)
	}
}
