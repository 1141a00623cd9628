package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/internal/testfs"
	"github.com/cgscale/cgscale/layout"
)

// writeTree creates files (with parents) under root.
func writeTree(t *testing.T, root string, files ...string) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("m\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// C03: one unreadable directory does not stop the walk. Root ignores mode
// bits, so the scan runs as nobody: the test binary doubles as cgscale
// (TestMain) and is copied where nobody can run it.
func TestC03UnreadableDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		testfs.Unavailable(t, "C03 needs root, to run the scan as the unprivileged user nobody: run the tests as root (CI does)")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		testfs.Unavailable(t, "C03 needs runuser (util-linux) to run the scan as nobody")
	}
	dir, err := os.MkdirTemp("/var/tmp", "cgscale-c03-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("chmod", "-R", "u+rwx", dir).Run()
		os.RemoveAll(dir)
	})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "bin", "cgscale")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "store")
	for _, a := range []string{"acct0001", "acct0002", "acct0003"} {
		writeTree(t, store, "Domains/example.test/"+a+".macnt/INBOX.mdir/1.msg")
	}
	if out, err := exec.Command("chmod", "-R", "a+rX", dir).CombinedOutput(); err != nil {
		t.Fatalf("chmod: %v %s", err, out)
	}
	bad := filepath.Join(store, "Domains/example.test/acct0002.macnt")
	if err := os.Chmod(bad, 0); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("runuser", "-u", "nobody", "--", bin, "scan", "--json", store)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 4 {
		t.Fatalf("exit status %d (%v), want 4 (partial)\nstderr: %s", code, err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "partial") {
		t.Errorf("stderr does not say the result is partial: %s", stderr.String())
	}
	var r layout.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, stdout.String())
	}
	if r.Complete || r.Totals.Accounts != 3 || r.Totals.Unreadable != 1 {
		t.Errorf("complete %v, %d accounts, %d unreadable; want false, 3, 1", r.Complete, r.Totals.Accounts, r.Totals.Unreadable)
	}
	if len(r.Unreadable) != 1 || r.Unreadable[0].Path != bad || r.Unreadable[0].Error != "permission denied" {
		t.Errorf("unreadable list %+v, want %s: permission denied", r.Unreadable, bad)
	}
	// acct0001 and acct0003 were read down to their one message.
	read := map[string]int64{}
	for _, d := range r.TopDirs {
		read[strings.TrimPrefix(d.Path, store+"/")] = d.Entries
	}
	for _, a := range []string{"acct0001", "acct0003"} {
		if n, ok := read["Domains/example.test/"+a+".macnt/INBOX.mdir"]; !ok || n != 1 {
			t.Errorf("%s: mailbox read %v with %d entries, want 1", a, ok, n)
		}
	}
	if _, ok := read["Domains/example.test/acct0002.macnt/INBOX.mdir"]; ok {
		t.Errorf("the unreadable account's mailbox appears as read")
	}
	var f *layout.Finding
	for i := range r.Findings {
		if r.Findings[i].ID == layout.RuleUnreadable {
			f = &r.Findings[i]
		}
	}
	if f == nil || f.Severity != layout.Critical || !strings.Contains(f.Evidence, bad) {
		t.Errorf("unreadable finding %+v", f)
	}
	if d := r.Domains[0]; d.Name != "example.test" || d.Unreadable != 1 {
		t.Errorf("domain %s: %d unreadable, want example.test with 1", d.Name, d.Unreadable)
	}

	// The text report says so too.
	cmd = exec.Command("runuser", "-u", "nobody", "--", bin, "scan", store)
	out, _ := cmd.Output()
	if cmd.ProcessState.ExitCode() != 4 || !bytes.Contains(out, []byte("PARTIAL")) || !bytes.Contains(out, []byte("acct0002.macnt: permission denied")) {
		t.Errorf("text report (exit %d):\n%s", cmd.ProcessState.ExitCode(), out)
	}
}

// c25Store is the C25/C26 recipe: accounts holding many small messages.
func c25Store(t *testing.T, accounts, messages int) string {
	store := t.TempDir()
	var files []string
	for i := 1; i <= accounts; i++ {
		for j := 1; j <= messages; j++ {
			files = append(files, fmt.Sprintf("Domains/example.test/acct%04d.macnt/INBOX.mdir/%d.msg", i, j))
		}
	}
	writeTree(t, store, files...)
	return store
}

// C25: many workers and the progress bar, under the race detector (make
// test runs -race): workers only bump atomic counters, one goroutine owns
// the bar, and the final counts are exact.
func TestC25ProgressWithManyWorkers(t *testing.T) {
	store := c25Store(t, 64, 50)
	for _, mode := range []string{"always", "auto"} {
		var stdout, stderr bytes.Buffer
		e := &env{stdout: &stdout, stderr: &stderr, stderrTTY: true, getenv: os.Getenv}
		code := run(context.Background(), e, []string{"scan", "--jobs", "16", "--sizes", "--progress", mode, store})
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		// Entries: Domains, example.test, 64 accounts, 64 mailboxes, the
		// messages. Directories: base, Domains, the domain, 64 + 64.
		want := fmt.Sprintf("Totals: 1 domain, 64 accounts, %d directories, %d entries", 3+64+64, 2+64+64+64*50)
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--progress %s: stdout lacks %q:\n%s", mode, want, stdout.String())
		}
		if stderr.Len() == 0 {
			t.Errorf("--progress %s on a terminal drew nothing", mode)
		}
	}
}

// C26: on a terminal exactly one bar is drawn whatever the number of
// workers (it is redrawn in place, never on new lines), it is cleared when
// the scan ends, and the report goes to stdout only.
func TestC26OneBarOnTerminal(t *testing.T) {
	store := c25Store(t, 4, 200)
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, stderrTTY: true, getenv: os.Getenv}
	if code := run(context.Background(), e, []string{"scan", "--jobs", "8", store}); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if n := strings.Count(stderr.String(), "\n"); n > 0 {
		t.Errorf("the bar wrote %d newlines; it must redraw one line:\n%q", n, stderr.String())
	}
	if !strings.Contains(stderr.String(), "\r") {
		t.Errorf("no bar was drawn on the terminal: %q", stderr.String())
	}
	if strings.ContainsAny(stdout.String(), "\r\x1b") {
		t.Errorf("progress leaked into stdout: %q", stdout.String())
	}
	if !strings.HasPrefix(stdout.String(), "Store ") {
		t.Errorf("the report does not start on its own line: %q", stdout.String()[:40])
	}
	// Not a terminal: nothing at all on stderr.
	stderr.Reset()
	stdout.Reset()
	e.stderrTTY = false
	run(context.Background(), e, []string{"scan", "--jobs", "8", store})
	if stderr.Len() != 0 {
		t.Errorf("not a terminal, yet stderr got %q", stderr.String())
	}
}
