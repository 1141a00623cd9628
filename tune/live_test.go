package tune

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/afero"
)

// procRoot opens one of the fake systems under testdata/proc.
func procRoot(t *testing.T, name string) afero.Fs {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "testdata", "proc", name))
	if err != nil {
		t.Fatal(err)
	}
	return afero.NewBasePathFs(afero.NewOsFs(), dir)
}

func checkTree(t *testing.T, name string, ignore map[string]bool) (map[string]Row, LiveInfo) {
	t.Helper()
	l := testLoad()
	rows, info := Check(procRoot(t, name), Rules(Linux, l, Compute(l)), LiveOptions{Base: "/var/CommuniGate", Ignore: ignore})
	byID := map[string]Row{}
	for _, r := range rows {
		byID[r.ID] = r
	}
	return byID, info
}

func TestLiveTuned(t *testing.T) {
	rows, info := checkTree(t, "tuned", nil)
	checked := 0
	for id, r := range rows {
		switch r.Verdict {
		case VerdictOK:
			checked++
		case VerdictManual:
			if r.Where == WhereSysctl || r.Where == WhereLimits || r.Where == WhereStartup {
				t.Errorf("%s: %s setting left manual", id, r.Where)
			}
		default:
			t.Errorf("%s: verdict %s (current %q, want %q) %s", id, r.Verdict, r.Current, r.Recommended, r.Problem)
		}
	}
	if checked < 25 {
		t.Errorf("only %d rows checked", checked)
	}
	// The limits are the running server's (PID 4242 from ProcessID), not
	// cgscale's own, which are low in this tree.
	if !strings.Contains(info.LimitsFrom, "/proc/4242/limits") || rows["linux.nofile-soft"].Current != "131072" {
		t.Errorf("limits from %q, nofile %q", info.LimitsFrom, rows["linux.nofile-soft"].Current)
	}
	if rows["linux.port-range"].Current != "16384 65535" {
		t.Errorf("port range read as %q", rows["linux.port-range"].Current)
	}
	if rows["linux.startup.createtempfilesdirectly"].Current != "--CreateTempFilesDirectly 10" {
		t.Errorf("startup option read as %q", rows["linux.startup.createtempfilesdirectly"].Current)
	}
}

func TestLiveDefault(t *testing.T) {
	rows, info := checkTree(t, "default", map[string]bool{"linux.keepalive-time": true})
	want := map[string]string{
		"linux.file-max":         VerdictOK, // 9223372036854775807 parses
		"linux.threads-max":      VerdictLow,
		"linux.pid-max":          VerdictLow,
		"linux.max-map-count":    VerdictLow,
		"linux.wmem-default":     VerdictOK,
		"linux.rmem-max":         VerdictLow,
		"linux.netdev-backlog":   VerdictLow,
		"linux.somaxconn":        VerdictOK,
		"linux.syn-backlog":      VerdictLow,
		"linux.tw-buckets":       VerdictLow,
		"linux.port-range":       VerdictLow,
		"linux.fin-timeout":      VerdictOK,
		"linux.keepalive-time":   VerdictIgnored,
		"linux.tw-reuse":         VerdictLow,
		"linux.nofile-soft":      VerdictLow,
		"linux.nofile-hard":      VerdictOK,
		"linux.nproc":            VerdictOK,
		"linux.address-space":    VerdictOK,
		"linux.startup.ulimit-n": VerdictLow,
		"linux.systemd-nofile":   VerdictManual,
		"server.pop-channels":    VerdictManual,
	}
	for id, v := range want {
		if rows[id].Verdict != v {
			t.Errorf("%s: verdict %s (current %q), want %s", id, rows[id].Verdict, rows[id].Current, v)
		}
	}
	if rows["linux.nofile-soft"].Current != "1024" || rows["linux.startup.ulimit-n"].Current != "(no Startup.sh)" {
		t.Errorf("nofile %q, startup %q", rows["linux.nofile-soft"].Current, rows["linux.startup.ulimit-n"].Current)
	}
	if !strings.HasPrefix(info.LimitsFrom, "/proc/self/limits") || len(info.Notes) == 0 {
		t.Errorf("limits from %q, notes %q", info.LimitsFrom, info.Notes)
	}
	// D20: no Startup.sh is a server running with its defaults: every
	// Startup.sh row is low (never unreadable), and a note says why.
	for id, r := range rows {
		if r.Where == WhereStartup && (r.Verdict != VerdictLow || r.Current != "(no Startup.sh)") {
			t.Errorf("%s: %s %q, want low (no Startup.sh)", id, r.Verdict, r.Current)
		}
	}
	note := "/var/CommuniGate/Startup.sh does not exist: the server starts with its defaults, so its Startup.sh rows are low"
	if !slices.Contains(info.Notes, note) {
		t.Errorf("notes %q lack %q", info.Notes, note)
	}
}

func TestLiveBroken(t *testing.T) {
	rows, _ := checkTree(t, "broken", nil)
	want := map[string]string{
		"linux.file-max":         "/proc/sys/fs/file-max: is a directory",
		"linux.pid-max":          "/proc/sys/kernel/pid_max: the file is empty",
		"linux.somaxconn":        `/proc/sys/net/core/somaxconn: "lots" is not a number`,
		"linux.tw-buckets":       "/proc/sys/net/ipv4/tcp_max_tw_buckets: no such file or directory",
		"linux.port-range":       `/proc/sys/net/ipv4/ip_local_port_range: "16384" is not two numbers`,
		"linux.nofile-soft":      "/proc/self/limits: no limits found",
		"linux.startup.ulimit-n": "/var/CommuniGate/Startup.sh: is a directory",
	}
	for id, problem := range want {
		r := rows[id]
		if r.Verdict != VerdictUnreadable || r.Problem != problem {
			t.Errorf("%s: verdict %s problem %q, want unreadable %q", id, r.Verdict, r.Problem, problem)
		}
	}
	// What could be read is still judged.
	for _, id := range []string{"linux.threads-max", "linux.rmem-max", "linux.fin-timeout"} {
		if rows[id].Verdict != VerdictOK {
			t.Errorf("%s: verdict %s, want ok", id, rows[id].Verdict)
		}
	}
}

// Without --base nothing of Startup.sh is read, and those rows stay manual.
func TestLiveWithoutBase(t *testing.T) {
	l := testLoad()
	rows, info := Check(procRoot(t, "tuned"), Rules(Linux, l, Compute(l)), LiveOptions{})
	for _, r := range rows {
		if r.Where == WhereStartup && r.Verdict != VerdictManual {
			t.Errorf("%s: %s without --base", r.ID, r.Verdict)
		}
		if r.ID == "linux.nofile-soft" && r.Verdict != VerdictLow {
			t.Errorf("cgscale's own limit of 1024 judged %s", r.Verdict)
		}
	}
	if info.StartupFrom != "" {
		t.Errorf("startup read from %q", info.StartupFrom)
	}
}

func TestParseStartup(t *testing.T) {
	cases := []struct {
		text   string
		ulimit string
		params string
	}{
		{"SUPPLPARAMS=\"--a 1 --b\"\nulimit -n 16384\n", "16384", "--a 1 --b"},
		{"# SUPPLPARAMS=\"--old\"\nSUPPLPARAMS='--x'\nulimit -Sn 2048; ulimit -d 1048576\n", "2048", "--x"},
		{"SUPPLPARAMS=--one # comment\nulimit -c unlimited -n unlimited\n", "unlimited", "--one"},
		{"ulimit -n 100\nulimit -n 200\n", "200", ""},
		{"", "", ""},
	}
	for _, c := range cases {
		s := parseStartup(c.text)
		if s.ulimitN != c.ulimit || strings.Join(s.params, " ") != c.params {
			t.Errorf("%q: ulimit %q params %q, want %q %q", c.text, s.ulimitN, s.params, c.ulimit, c.params)
		}
	}
	// "unlimited" in Startup.sh is the chapter's warning case: high.
	fsys := afero.NewMemMapFs()
	_ = afero.WriteFile(fsys, "/b/Startup.sh", []byte("ulimit -n unlimited\n"), 0o644)
	l := testLoad()
	rows, _ := Check(fsys, Rules(Linux, l, Compute(l)), LiveOptions{Base: "/b"})
	for _, r := range rows {
		if r.ID == "linux.startup.ulimit-n" && r.Verdict != VerdictHigh {
			t.Errorf("ulimit -n unlimited judged %s", r.Verdict)
		}
		if r.ID == "linux.startup.closestucksockets" && r.Current != "(no SUPPLPARAMS)" {
			t.Errorf("missing SUPPLPARAMS shown as %q", r.Current)
		}
	}
}

func TestReadMeminfo(t *testing.T) {
	ram, swap, err := ReadMeminfo(procRoot(t, "tuned"))
	if err != nil || ram != 15936 || swap != 8191 {
		t.Errorf("meminfo: %d MiB RAM, %d MiB swap, %v", ram, swap, err)
	}
	if _, _, err := ReadMeminfo(afero.NewMemMapFs()); err == nil {
		t.Error("missing meminfo accepted")
	}
}

// A ProcessID naming a process that is gone: the check says so and falls
// back to cgscale's own limits.
func TestLiveStaleProcessID(t *testing.T) {
	fsys := afero.NewMemMapFs()
	_ = afero.WriteFile(fsys, "/b/ProcessID", []byte("99\n"), 0o644)
	_ = afero.WriteFile(fsys, "/proc/self/limits", []byte("Max open files            100000               100000               files\n"), 0o644)
	l := testLoad()
	rows, info := Check(fsys, Rules(Linux, l, Compute(l)), LiveOptions{Base: "/b"})
	if !strings.HasPrefix(info.LimitsFrom, "/proc/self/limits") || len(info.Notes) != 2 || !strings.Contains(info.Notes[0], "PID 99, which is not running") {
		t.Errorf("limits from %q, notes %q", info.LimitsFrom, info.Notes)
	}
	for _, r := range rows {
		if r.ID == "linux.nofile-soft" && (r.Current != "100000" || r.Verdict != VerdictOK) {
			t.Errorf("nofile: %q %s", r.Current, r.Verdict)
		}
		if r.ID == "linux.nproc" && r.Verdict != VerdictUnreadable {
			t.Errorf("nproc line missing from limits: verdict %s", r.Verdict)
		}
	}
}
