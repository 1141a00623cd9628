package migrate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/internal/testfs"
)

// A domain whose name is not valid UTF-8 ("bad\xfe.test") is journaled
// byte for byte: a move killed with SIGKILL as each phase starts is
// finished by Resume, and one killed before its swap is rolled back by
// abort. With the name written as "bad\ufffd.test" both failed with "is
// missing and no half-done swap explains it" and every later move was
// refused.
func TestResumeNonUTF8Source(t *testing.T) {
	needRoot(t)
	for _, c := range []struct {
		phase string
		abort bool
	}{{"copy", false}, {"swap", false}, {"remove", false}, {"verify", true}} {
		name := c.phase
		if c.abort {
			name += " abort"
		}
		t.Run(name, func(t *testing.T) {
			base := newBase(t, "ext4")
			dom := filepath.Join(base, "Domains", "bad\xfe.test")
			must(t, os.Rename(genDomain(t, base, 30, 7, false), dom))
			keep := pristine(t, dom)
			vol := testfs.Scratch(t, "xfs")
			killMoveAt(t, dom, vol, c.phase)
			open, err := Unfinished(base)
			must(t, err)
			if len(open) != 1 {
				t.Fatalf("unfinished journals: %v", open)
			}
			recs, err := ReadJournal(open[0])
			must(t, err)
			if b, ok := beginRecord(recs, 0, "move"); !ok || b.Src != dom || !strings.HasPrefix(b.Dst, vol+"/") || !strings.HasSuffix(b.Dst, "/bad\xfe.test") {
				t.Errorf("begin record %+v does not name %q byte for byte", b, dom)
			}
			res, err := Resume(context.Background(), base, c.abort, MoveOptions{Jobs: 2})
			if err != nil {
				t.Fatalf("resume: %v", err)
			}
			if c.abort {
				if res.Outcome != "rolled back" {
					t.Fatalf("abort: %+v", res)
				}
				assertUntouched(t, dom, keep, vol)
			} else {
				if res.Outcome != "moved" || !res.Resumed || res.Plan.Source != dom {
					t.Fatalf("resume: %+v", res)
				}
				assertMoved(t, dom, filepath.Join(vol, "Domains", "bad\xfe.test"), keep)
			}
			if open, _ := Unfinished(base); len(open) != 0 {
				t.Errorf("still unfinished: %v", open)
			}
		})
	}
}

// Every string of a record, Opts values and Made included, comes back
// from the journal byte for byte; a journal written with plain JSON
// strings only, as before, still reads.
func TestJournalKeepsBytes(t *testing.T) {
	base := t.TempDir()
	j, err := CreateJournal(base)
	must(t, err)
	bad := "/s/Domains/caf\xe9.test"
	want := Record{Kind: "move", Step: StepBegin, Src: bad, Dst: "/v" + bad, Link: "../v" + bad, Temp: ".t\xff",
		Kept: bad + ".kept", Made: []string{"/v/\xfe"}, FSID: "1:2", Opts: map[string]string{optPlanCopy: "/b\xe9/p.json"}, Note: "n\xff"}
	must(t, j.Append(Record{Kind: "job", Step: StepBegin}))
	must(t, j.Append(want))
	must(t, j.Close())
	f, err := os.OpenFile(j.Path, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.WriteString(`{"seq":3,"time":"2026-01-02T03:04:05Z","op":1,"kind":"move","step":"begin","src":"/s/Domains/old.test","made":["/v/Domains"],"opts":{"verify":"full"}}` + "\n")
	must(t, err)
	must(t, f.Close())
	recs, err := ReadJournal(j.Path)
	must(t, err)
	if len(recs) != 3 {
		t.Fatalf("read %d records: %+v", len(recs), recs)
	}
	got := recs[1]
	if got.Src != want.Src || got.Dst != want.Dst || got.Link != want.Link || got.Temp != want.Temp || got.Kept != want.Kept ||
		len(got.Made) != 1 || got.Made[0] != want.Made[0] || got.Opts[optPlanCopy] != want.Opts[optPlanCopy] || got.Note != want.Note {
		t.Errorf("read back\n %+v\nwant\n %+v", got, want)
	}
	if old := recs[2]; old.Src != "/s/Domains/old.test" || old.Made[0] != "/v/Domains" || old.Opts["verify"] != "full" || old.Op != 1 {
		t.Errorf("plain record read as %+v", old)
	}
	data, err := os.ReadFile(j.Path)
	must(t, err)
	if n := strings.Count(string(data), "\n"); n != 3 || strings.Contains(string(data), "\ufffd") {
		t.Errorf("journal is not three lines of records kept byte for byte:\n%s", data)
	}
}
