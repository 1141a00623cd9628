package migrate

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/errs"
)

// Blocked refuses for each thing that would stop a move before it starts,
// as the move does, and changes nothing: the lock is tested, not taken.
func TestBlockedAnswersAsMove(t *testing.T) {
	base := filepath.Join(t.TempDir(), "CommuniGate")
	must(t, os.MkdirAll(filepath.Join(base, "Domains"), 0o755))
	if err := Blocked(base, false); err != nil {
		t.Fatalf("a store nobody works on: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(base, LockFile)); !os.IsNotExist(err) {
		t.Errorf("Blocked made the lock file (%v)", err)
	}

	l, err := Lock(base)
	must(t, err)
	held, err := os.ReadFile(filepath.Join(base, LockFile))
	must(t, err)
	err = Blocked(base, true)
	if errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("while the lock is held: %v, want refused naming the holder's pid", err)
	}
	if _, lerr := Lock(base); errs.KindOf(lerr) != errs.Refused || lerr.Error() != err.Error() {
		t.Errorf("Lock refuses with %v, Blocked with %v: they should say the same", lerr, err)
	}
	if b, _ := os.ReadFile(filepath.Join(base, LockFile)); string(b) != string(held) {
		t.Errorf("the lock file changed from %q to %q", held, b)
	}
	l.Unlock()
	if err := Blocked(base, false); err != nil {
		t.Fatalf("once the lock is released: %v", err)
	}

	must(t, os.WriteFile(filepath.Join(base, "ProcessID"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644))
	if err := Blocked(base, false); errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "ProcessID") {
		t.Errorf("with the server running: %v, want refused naming ProcessID", err)
	}
	if err := Blocked(base, true); err != nil {
		t.Errorf("with the server running and force: %v", err)
	}
	must(t, os.Remove(filepath.Join(base, "ProcessID")))

	j, err := CreateJournal(base)
	must(t, err)
	must(t, j.Append(Record{Kind: "job", Step: StepBegin, Note: "move"}))
	j.Close()
	if err := Blocked(base, true); errs.KindOf(err) != errs.Refused || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("with an unfinished job: %v, want refused as interrupted", err)
	}
}
