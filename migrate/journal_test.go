package migrate

import (
	"os"
	"testing"
)

// A journal whose last line was torn by a crash, opened again for a
// resumed run and appended to, still reads whole: the fragment is cut off
// instead of being glued to the first new record.
func TestJournalResumeAfterTornLine(t *testing.T) {
	base := t.TempDir()
	j, err := CreateJournal(base)
	must(t, err)
	must(t, j.Append(Record{Kind: "job", Step: StepBegin}))
	must(t, j.Append(Record{Kind: "move", Step: StepBegin, Src: "/a"}))
	must(t, j.Close())
	f, err := os.OpenFile(j.Path, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.WriteString(`{"seq":3,"kind":"mo`)
	must(t, err)
	must(t, f.Close())

	j2, recs, err := OpenJournal(j.Path)
	must(t, err)
	if len(recs) != 2 {
		t.Fatalf("opened with %d records, want 2: %+v", len(recs), recs)
	}
	must(t, j2.Append(Record{Kind: "move", Op: 0, Step: "copied", Src: "/a"}))
	must(t, j2.Append(Record{Kind: "job", Step: StepEnd}))
	must(t, j2.Close())

	recs, err = ReadJournal(j.Path)
	if err != nil {
		t.Fatalf("journal damaged after resume: %v", err)
	}
	want := []string{StepBegin, StepBegin, "copied", StepEnd}
	if len(recs) != len(want) {
		t.Fatalf("read %d records, want %d: %+v", len(recs), len(want), recs)
	}
	for i, r := range recs {
		if r.Step != want[i] || r.Seq != i+1 {
			t.Errorf("record %d: seq %d step %q, want seq %d step %q", i, r.Seq, r.Step, i+1, want[i])
		}
	}
	data, err := os.ReadFile(j.Path)
	must(t, err)
	if data[len(data)-1] != '\n' {
		t.Errorf("journal does not end with a newline: %q", data)
	}
}
