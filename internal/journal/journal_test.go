package journal

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const (
	rec1 = `{"seq":1,"kind":"job","step":"begin"}`
	rec2 = `{"seq":2,"kind":"move","step":"begin","src":"/a"}`
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		name    string
		data    string
		n       int // records returned
		damaged int // line of the damage, 0: none
	}{
		{"whole", rec1 + "\n" + rec2 + "\n", 2, 0},
		{"empty", "", 0, 0},
		{"torn last line", rec1 + "\n" + rec2 + "\n" + `{"seq":3,"ki`, 2, 0},
		{"last record without its newline", rec1 + "\n" + rec2, 1, 0},
		{"blank lines", "\n" + rec1 + "\n\n", 1, 0},
		{"damaged middle line", rec1 + "\ngarbage\n" + rec2 + "\n", 1, 2},
		{"damaged first line", "{\n" + rec2 + "\n", 0, 1},
	} {
		recs, err := Parse("j.jsonl", []byte(c.data))
		var d *DamagedError
		switch {
		case c.damaged == 0 && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.damaged != 0 && !errors.As(err, &d):
			t.Errorf("%s: error %v, want a damaged journal", c.name, err)
		case c.damaged != 0 && (d.Line != c.damaged || d.Path != "j.jsonl"):
			t.Errorf("%s: damage at %s line %d, want line %d", c.name, d.Path, d.Line, c.damaged)
		}
		if len(recs) != c.n {
			t.Errorf("%s: %d records, want %d: %+v", c.name, len(recs), c.n, recs)
		}
	}
}

// TrimTorn cuts exactly the bytes after the last newline.
func TestTrimTorn(t *testing.T) {
	p := filepath.Join(t.TempDir(), "j.jsonl")
	for _, c := range []struct{ data, want string }{
		{rec1 + "\n" + `{"se`, rec1 + "\n"},
		{rec1 + "\n", rec1 + "\n"},
		{`{"se`, ""},
	} {
		if err := os.WriteFile(p, []byte(c.data), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := TrimTorn(f); err != nil {
			t.Fatal(err)
		}
		f.Close()
		got, _ := os.ReadFile(p)
		if string(got) != c.want {
			t.Errorf("TrimTorn(%q) left %q, want %q", c.data, got, c.want)
		}
	}
}

func TestDecodeName(t *testing.T) {
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{`"example.com"`, "example.com", true},
		{`{"b64":"Y2Fm6Q=="}`, "caf\xe9", true},
		{`{"b64":"Y2Fm"}`, "", false},           // valid UTF-8 in the object form
		{`{"b64":"Y2Fm6Q==","x":1}`, "", false}, // unknown field
		{`{"b64":"***"}`, "", false},            // not base64
		{`12`, "", false},
	} {
		got, err := DecodeName([]byte(c.in))
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("DecodeName(%s) = %q, %v; want %q, ok %v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestPlanCopy(t *testing.T) {
	got := PlanCopy("/var/CommuniGate", "sha256:0123456789abcdef0123")
	if got != "/var/CommuniGate/.cgscale/plans/0123456789abcdef.json" {
		t.Errorf("PlanCopy = %s", got)
	}
	if PlanID("sha256:ab") != "ab" {
		t.Errorf("short checksum: %s", PlanID("sha256:ab"))
	}
}
