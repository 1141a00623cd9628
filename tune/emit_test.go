package tune

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/cgscale/cgscale/errs"
)

// Loads that reach the different branches of the rules: a small one, the
// test load, and one big enough to widen the port range.
func emitLoads() map[string]Load {
	small := Defaults()
	small.POPUsers = 1000
	huge := testLoad()
	huge.OutboundRate, huge.IMAPUsers = 900, 200000
	return map[string]Load{"small": small, "test": testLoad(), "huge": huge}
}

func emit(t *testing.T, kind string, o OS, l Load) string {
	t.Helper()
	m := Compute(l)
	text, err := Emit(kind, o, Rules(o, l, m), Summary(m), nil)
	if err != nil {
		t.Fatalf("emit %s for %s: %v", kind, o, err)
	}
	return text
}

// Every key of the sysctl.d drop-in exists under this machine's /proc/sys
// and its value has the kernel's format there: as many integers as the
// file holds now. Nothing is written to /proc.
func TestEmitSysctlAgainstRealProc(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs a Linux /proc/sys to check the keys against; run the tests on Linux")
	}
	if _, err := os.Stat("/proc/sys/kernel"); err != nil {
		t.Skip("/proc/sys is not mounted; mount proc (mount -t proc proc /proc) to run this test")
	}
	for name, l := range emitLoads() {
		text := emit(t, "sysctl", Linux, l)
		n := 0
		for _, line := range strings.Split(text, "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			key, value, ok := strings.Cut(line, " = ")
			if !ok || strings.ContainsAny(key, " \t/") {
				t.Errorf("%s: not a sysctl.d line: %q", name, line)
				continue
			}
			n++
			p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
			cur, err := os.ReadFile(p)
			if err != nil {
				t.Errorf("%s: %s does not exist here: %v", name, key, err)
				continue
			}
			have, want := strings.Fields(string(cur)), strings.Fields(value)
			if len(have) != len(want) {
				t.Errorf("%s: %s = %q has %d fields, the kernel's %q has %d", name, key, value, len(want), cur, len(have))
			}
			var nums []int64
			for _, f := range want {
				v, err := strconv.ParseInt(f, 10, 64)
				if err != nil || v < 0 {
					t.Errorf("%s: %s value %q is not a non-negative integer", name, key, f)
				}
				nums = append(nums, v)
			}
			if key == "net.ipv4.ip_local_port_range" && (len(nums) != 2 || nums[0] < 1024 || nums[0] >= nums[1] || nums[1] > 65535) {
				t.Errorf("%s: port range %q is not lo < hi within 1024-65535", name, value)
			}
		}
		if n < 15 {
			t.Errorf("%s: only %d sysctl lines", name, n)
		}
	}
}

// The Startup.sh lines are valid shell, set SUPPLPARAMS and a numeric
// ulimit, and carry the OS's options.
func TestEmitStartupIsShell(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed; install it (apt-get install bash) to check the snippet's syntax")
	}
	for _, o := range []OS{Linux, FreeBSD, Solaris, HPUX, MacOS} {
		for name, l := range emitLoads() {
			text := emit(t, "startup", o, l)
			f := filepath.Join(t.TempDir(), "Startup.sh")
			if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(bash, "-n", f).CombinedOutput(); err != nil {
				t.Errorf("%s %s: bash -n: %v\n%s\n%s", o, name, err, out, text)
			}
			// Run it too (it only sets a variable and limits; a subshell
			// keeps this process unchanged) and print what it set.
			script := "set -e; . " + f + `; printf '%s\n' "$SUPPLPARAMS"`
			out, err := exec.Command(bash, "-c", script).CombinedOutput()
			if err != nil && !strings.Contains(string(out), "ulimit") {
				t.Errorf("%s %s: running the snippet: %v\n%s", o, name, err, out)
			}
			if !regexp.MustCompile(`(?m)^SUPPLPARAMS="--DefaultStackSize 131072 .*--CreateTempFilesDirectly 10"$`).MatchString(text) {
				t.Errorf("%s %s: no SUPPLPARAMS line:\n%s", o, name, text)
			}
			if !regexp.MustCompile(`(?m)^ulimit -n [0-9]+$`).MatchString(text) {
				t.Errorf("%s %s: no numeric ulimit -n:\n%s", o, name, text)
			}
			if nb := strings.Contains(text, "--useNonBlockingSockets"); nb != (o == Linux || o == FreeBSD) {
				t.Errorf("%s: --useNonBlockingSockets present = %v", o, nb)
			}
			if o == MacOS && !regexp.MustCompile(`(?m)^ulimit -d [0-9]+$`).MatchString(text) {
				t.Errorf("macos: no ulimit -d:\n%s", text)
			}
		}
	}
}

func TestEmitRegistry(t *testing.T) {
	text := emit(t, "registry", Windows, testLoad())
	if !strings.HasPrefix(text, "Windows Registry Editor Version 5.00\r\n\r\n") {
		t.Errorf("bad header: %q", text[:min(len(text), 60)])
	}
	if strings.Count(text, "\n") != strings.Count(text, "\r\n") {
		t.Error("lines must end in CRLF")
	}
	if !strings.Contains(text, "\r\n[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters]\r\n") {
		t.Errorf("no Tcpip\\Parameters key:\n%s", text)
	}
	values := regexp.MustCompile(`(?m)^"(\w+)"=dword:([0-9a-f]{8})\r$`).FindAllStringSubmatch(text, -1)
	got := map[string]uint64{}
	for _, v := range values {
		n, _ := strconv.ParseUint(v[2], 16, 32)
		got[v[1]] = n
	}
	if got["MaxUserPort"] < 20000 || got["MaxUserPort"] > 65534 {
		t.Errorf("MaxUserPort = %d, want 20000-65534", got["MaxUserPort"])
	}
	if got["TcpTimedWaitDelay"] < 30 || got["TcpTimedWaitDelay"] > 300 {
		t.Errorf("TcpTimedWaitDelay = %d, want 30-300", got["TcpTimedWaitDelay"])
	}
	for _, line := range strings.Split(strings.TrimSuffix(text, "\r\n"), "\r\n")[1:] {
		if line != "" && !strings.HasPrefix(line, ";") && !strings.HasPrefix(line, "[") && !strings.HasPrefix(line, `"`) {
			t.Errorf("stray line %q", line)
		}
	}
}

func TestEmitEtcSystem(t *testing.T) {
	text := emit(t, "etc-system", Solaris, testLoad())
	set := regexp.MustCompile(`^set [a-z_:]+=[0-9]+$`)
	sets := 0
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
		case set.MatchString(line):
			sets++
		default:
			t.Errorf("not an /etc/system line: %q", line)
		}
	}
	for _, want := range []string{"set rlim_fd_max=", "set tcp:tcp_conn_hash_size=", "set ncsize=2000", "* ndd -set /dev/tcp tcp_time_wait_interval 60000"} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q", want)
		}
	}
	if sets != 4 {
		t.Errorf("%d set lines, want 4", sets)
	}
}

func TestEmitLoaderAndLimits(t *testing.T) {
	text := emit(t, "loader", FreeBSD, testLoad())
	loader := regexp.MustCompile(`^[a-z.]+="[0-9]+[GM]?"$`)
	sysctl := regexp.MustCompile(`^[a-z_.]+=[0-9]+$`)
	var nl, ns int
	for _, line := range strings.Split(text, "\n") {
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case loader.MatchString(line):
			nl++
		case sysctl.MatchString(line):
			ns++
		default:
			t.Errorf("loader: bad line %q", line)
		}
	}
	if nl != 5 || ns < 10 {
		t.Errorf("loader: %d loader.conf lines (want 5), %d sysctl.conf lines", nl, ns)
	}
	if hs := Compute(testLoad()).HashSize; hs&(hs-1) != 0 || !strings.Contains(text, `net.inet.tcp.tcbhashsize="`+strconv.FormatInt(hs, 10)+`"`) {
		t.Errorf("loader: no tcbhashsize:\n%s", text)
	}

	text = emit(t, "limits", Linux, testLoad())
	if !regexp.MustCompile(`(?m)^LimitNOFILE=[0-9]+$`).MatchString(text) {
		t.Errorf("limits: no LimitNOFILE:\n%s", text)
	}
	if !regexp.MustCompile(`(?m)^TasksMax=[0-9]+$`).MatchString(text) || !strings.Contains(text, "[Service]\n") {
		t.Errorf("limits: no [Service] or TasksMax:\n%s", text)
	}
}

// D8: without --os the running OS is the target, for --emit as for the
// report. A kind of another OS is refused just as with an explicit --os,
// and the hint names the --os to give.
func TestEmitOS(t *testing.T) {
	cases := []struct {
		kind   string
		o      OS
		host   OS
		want   OS
		errHas string
	}{
		{"sysctl", "", Linux, Linux, ""},
		{"sysctl", "", FreeBSD, FreeBSD, ""},
		{"sysctl", MacOS, Linux, MacOS, ""},
		{"loader", FreeBSD, Linux, FreeBSD, ""},
		{"registry", Windows, Linux, Windows, ""},
		{"startup", "", Solaris, Solaris, ""},
		{"sysctl", "", Windows, "", "no sysctl snippet for windows: --emit sysctl is for --os linux, freebsd or macos (without --os, the running OS is used)"},
		{"registry", "", Linux, "", "no registry snippet for linux: --emit registry is for --os windows (without --os, the running OS is used)"},
		{"loader", "", Linux, "", "no loader snippet for linux: --emit loader is for --os freebsd (without"},
		{"etc-system", "", Linux, "", "no etc-system snippet for linux: --emit etc-system is for --os solaris (without"},
		{"registry", Linux, Linux, "", "no registry snippet for linux: --emit registry is for --os windows"},
		{"etc-system", FreeBSD, Linux, "", "no etc-system snippet for freebsd: --emit etc-system is for --os solaris"},
		{"sysctl", "", "", "", "this OS has no rule table, and --os is not given: --emit sysctl is for --os linux, freebsd or macos"},
		{"yaml", "", Linux, "", "unknown snippet kind"},
	}
	for _, c := range cases {
		got, err := EmitOS(c.kind, c.o, c.host)
		if c.errHas != "" {
			if err == nil || !strings.Contains(err.Error()+": "+errs.HintOf(err), c.errHas) {
				t.Errorf("%s/%q on %q: err %v (hint %q), want %q", c.kind, c.o, c.host, err, errs.HintOf(err), c.errHas)
			}
			if c.o != "" && err != nil && strings.Contains(errs.HintOf(err), "without --os") {
				t.Errorf("%s/%s: hint %q speaks of a missing --os", c.kind, c.o, errs.HintOf(err))
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s/%q on %s: %s %v, want %s", c.kind, c.o, c.host, got, err, c.want)
		}
	}
}

// Settings that already hold on the target are left out (as comments), so
// the drop-in never lowers a value.
func TestEmitLeavesHoldingValues(t *testing.T) {
	l := testLoad()
	m := Compute(l)
	text, err := Emit("sysctl", Linux, Rules(Linux, l, m), Summary(m), map[string]string{"linux.file-max": "9223372036854775807"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "\nfs.file-max = ") || !strings.Contains(text, "# linux.file-max: already 9223372036854775807 here") {
		t.Errorf("file-max not left out:\n%s", text)
	}
	if !strings.Contains(text, "\nkernel.threads-max = ") {
		t.Errorf("threads-max missing:\n%s", text)
	}
}
