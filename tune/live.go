package tune

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/spf13/afero"
)

// Verdicts of the live check.
const (
	VerdictOK         = "ok"         // the current value meets the recommendation
	VerdictLow        = "low"        // below what the load needs
	VerdictHigh       = "high"       // above a ceiling, or "unlimited" where a number belongs
	VerdictUnreadable = "unreadable" // missing, unreadable or unparsable: not verified
	VerdictManual     = "manual"     // not read live: check or apply by hand
	VerdictIgnored    = "ignored"    // on the ignore list
)

// Row is one setting in the report.
type Row struct {
	ID          string `json:"id"`
	Where       string `json:"where"`
	Setting     string `json:"setting"`
	Current     string `json:"current"`
	Recommended string `json:"recommended"`
	Verdict     string `json:"verdict"`
	Reason      string `json:"reason"`
	Problem     string `json:"problem,omitempty"` // why the value could not be read
}

// Short tells whether the row falls short of its recommendation.
func (r Row) Short() bool { return r.Verdict == VerdictLow || r.Verdict == VerdictHigh }

// LiveOptions says where the live check reads from.
type LiveOptions struct {
	// Base is the server's base directory inside the file system
	// (e.g. /var/CommuniGate); "" skips Startup.sh and ProcessID.
	Base string
	// Ignore lists rule IDs to report as ignored.
	Ignore map[string]bool
}

// LiveInfo tells where the checked values came from.
type LiveInfo struct {
	LimitsFrom  string   `json:"limits_from"`
	StartupFrom string   `json:"startup_from,omitempty"`
	Notes       []string `json:"notes"`
}

// unlimited is how /proc/PID/limits and ulimit spell "no limit".
const unlimited = "unlimited"

// Check reads the current value of each checked rule from fsys (the root
// of a Linux system: /proc, and Base inside it) and compares it. Rules
// that are not checked get the verdict "manual". It never fails: a value
// that cannot be read gives its row the verdict "unreadable".
func Check(fsys afero.Fs, rules []Rule, opt LiveOptions) ([]Row, LiveInfo) {
	const self = "/proc/self/limits"
	info := LiveInfo{LimitsFrom: self + " (the limits cgscale inherited, as a server started from this shell would)", Notes: []string{}}
	limitsPath := self
	var startup *startupFile
	var startupErr error
	if opt.Base != "" {
		pidFile := path.Join(opt.Base, "ProcessID")
		if pid, err := readPID(fsys, pidFile); err != nil {
			info.Notes = append(info.Notes, "no running server found through "+pidFile+", so the limits are cgscale's own")
		} else if p := fmt.Sprintf("/proc/%d/limits", pid); !exists(fsys, p) {
			info.Notes = append(info.Notes, fmt.Sprintf("%s names PID %d, which is not running, so the limits are cgscale's own", pidFile, pid))
		} else {
			limitsPath = p
			info.LimitsFrom = p + " (the running server)"
		}
		info.StartupFrom = path.Join(opt.Base, "Startup.sh")
		startup, startupErr = readStartup(fsys, info.StartupFrom)
		if startup == nil && startupErr == nil {
			info.Notes = append(info.Notes, info.StartupFrom+" does not exist: the server starts with its defaults, so its Startup.sh rows are low")
		}
	} else {
		info.Notes = append(info.Notes, "give --base to read the running server's limits and its Startup.sh")
	}
	limits, limitsErr := readLimits(fsys, limitsPath)

	rows := make([]Row, 0, len(rules))
	for _, r := range rules {
		row := Row{ID: r.ID, Where: r.Where, Setting: r.Key, Current: "-", Recommended: r.Value, Reason: r.Reason, Verdict: VerdictManual}
		switch {
		case !r.Checked():
		case r.Where == WhereSysctl:
			p := "/proc/sys/" + strings.ReplaceAll(r.Key, ".", "/")
			b, err := afero.ReadFile(fsys, p)
			if err != nil {
				row.unreadable(p, err)
				break
			}
			row.Current = strings.Join(strings.Fields(string(b)), " ")
			if row.Current == "" {
				row.Current = "(empty)"
			}
			row.judge(r, p)
		case r.Where == WhereLimits:
			if limitsErr != nil {
				row.unreadable(limitsPath, limitsErr)
				break
			}
			name, hard := strings.CutSuffix(r.Key, " (hard)")
			name = strings.TrimSuffix(name, " (soft)")
			v, ok := limits[name]
			if !ok {
				row.unreadable(limitsPath, fmt.Errorf("no %q line", name))
				break
			}
			row.Current = v[0]
			if hard {
				row.Current = v[1]
			}
			row.judge(r, limitsPath)
		case r.Where == WhereStartup:
			if opt.Base == "" {
				break // stays manual
			}
			if startupErr != nil {
				row.unreadable(info.StartupFrom, startupErr)
				break
			}
			if startup == nil {
				// No Startup.sh: the server runs with its defaults, so the
				// setting is absent, a shortfall like a missing ulimit line.
				row.Current = "(no Startup.sh)"
				row.Verdict = VerdictLow
				break
			}
			if r.check == hasParam {
				row.judgeParam(r, startup)
				break
			}
			row.Current = startup.ulimitN
			if row.Current == "" {
				row.Current = "(no ulimit -n)"
				row.Verdict = VerdictLow
				break
			}
			row.judge(r, info.StartupFrom)
		}
		if opt.Ignore[r.ID] {
			row.Verdict = VerdictIgnored
		}
		rows = append(rows, row)
	}
	return rows, info
}

func (row *Row) unreadable(p string, err error) {
	row.Current = "?"
	row.unreadableKeep(p, err)
}

// judge compares row.Current with the rule.
func (row *Row) judge(r Rule, p string) {
	if row.Current == unlimited {
		if r.unlimitedOK {
			row.Verdict = VerdictOK
		} else {
			row.Verdict = VerdictHigh
		}
		return
	}
	fields := strings.Fields(row.Current)
	want := 1
	if r.check == portRange {
		want = 2
	}
	if row.Current == "(empty)" {
		row.unreadableKeep(p, errors.New("the file is empty"))
		return
	}
	if len(fields) != want {
		what := "one number"
		if want == 2 {
			what = "two numbers"
		}
		row.unreadableKeep(p, fmt.Errorf("%q is not %s", row.Current, what))
		return
	}
	vals := make([]int64, len(fields))
	for i, f := range fields {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			// Kernels print some limits as huge unsigned numbers.
			if u, uerr := strconv.ParseUint(f, 10, 64); uerr == nil && u > 1<<62 {
				v = 1 << 62
			} else {
				row.unreadableKeep(p, fmt.Errorf("%q is not a number", f))
				return
			}
		}
		vals[i] = v
	}
	ok := false
	switch r.check {
	case atLeast:
		ok = vals[0] >= r.want
	case atMost:
		ok = vals[0] <= r.want
	case exact:
		ok = vals[0] == r.want
	case portRange:
		ok = vals[1]-vals[0]+1 >= r.want
	}
	switch {
	case ok:
		row.Verdict = VerdictOK
	case r.check == atMost:
		row.Verdict = VerdictHigh
	default:
		row.Verdict = VerdictLow
	}
}

// unreadableKeep marks the row unreadable but shows what was there.
func (row *Row) unreadableKeep(p string, err error) {
	// The path is named once, as seen inside the checked system.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	row.Verdict = VerdictUnreadable
	row.Problem = fmt.Sprintf("%s: %v", p, err)
}

func (row *Row) judgeParam(r Rule, s *startupFile) {
	if !s.hasParams {
		row.Current = "(no SUPPLPARAMS)"
		row.Verdict = VerdictLow
		return
	}
	for i, tok := range s.params {
		if tok != r.param {
			continue
		}
		if r.paramValue == "" {
			row.Current = tok
			row.Verdict = VerdictOK
			return
		}
		if i+1 < len(s.params) {
			row.Current = tok + " " + s.params[i+1]
			if s.params[i+1] == r.paramValue {
				row.Verdict = VerdictOK
			} else {
				row.Verdict = VerdictLow
			}
			return
		}
		row.Current = tok
		row.Verdict = VerdictLow
		return
	}
	row.Current = "(absent)"
	row.Verdict = VerdictLow
}

// readLimits parses a /proc/PID/limits file into name → {soft, hard}.
func readLimits(fsys afero.Fs, p string) (map[string][2]string, error) {
	b, err := afero.ReadFile(fsys, p)
	if err != nil {
		return nil, err
	}
	out := map[string][2]string{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "Max ") {
			continue
		}
		// The name is everything before the first number or "unlimited".
		f := strings.Fields(line)
		i := 1
		for i < len(f) && f[i] != unlimited && !isDigits(f[i]) {
			i++
		}
		if i+1 >= len(f) {
			continue
		}
		out[strings.Join(f[:i], " ")] = [2]string{f[i], f[i+1]}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no limits found")
	}
	return out, nil
}

func exists(fsys afero.Fs, p string) bool {
	_, err := fsys.Stat(p)
	return err == nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func readPID(fsys afero.Fs, p string) (int, error) {
	b, err := afero.ReadFile(fsys, p)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s does not hold a process ID", p)
	}
	return pid, nil
}

// startupFile is what the check needs from Startup.sh.
type startupFile struct {
	ulimitN   string   // the last `ulimit -n` value, "" if none
	params    []string // the last SUPPLPARAMS assignment, split in words
	hasParams bool
}

// readStartup parses Startup.sh. A file that does not exist gives
// (nil, nil): the settings are then simply absent. Any other failure (no
// permission, a directory in its place) is an error: nothing was verified.
func readStartup(fsys afero.Fs, p string) (*startupFile, error) {
	b, err := afero.ReadFile(fsys, p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return parseStartup(string(b)), nil
}

func parseStartup(text string) *startupFile {
	s := &startupFile{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if v, ok := strings.CutPrefix(line, "SUPPLPARAMS="); ok {
			v = strings.TrimSpace(v)
			if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') {
				if end := strings.IndexByte(v[1:], v[0]); end >= 0 {
					v = v[1 : end+1]
				}
			} else if i := strings.IndexAny(v, " \t#;"); i >= 0 {
				v = v[:i]
			}
			s.params = strings.Fields(v)
			s.hasParams = true
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "ulimit" {
			for i := 1; i+1 < len(f); i++ {
				// -n, -Sn, -Hn, -Hn ... all set the open-files limit.
				if strings.HasPrefix(f[i], "-") && strings.HasSuffix(f[i], "n") {
					s.ulimitN = strings.TrimRight(f[i+1], ";")
				}
			}
		}
	}
	return s
}

// ReadMeminfo returns the RAM and swap sizes in MiB from /proc/meminfo.
func ReadMeminfo(fsys afero.Fs) (ramMB, swapMB int64, err error) {
	b, err := afero.ReadFile(fsys, "/proc/meminfo")
	if err != nil {
		return 0, 0, err
	}
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, perr := strconv.ParseInt(f[1], 10, 64)
		if perr != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			ramMB, found = v/1024, found+1
		case "SwapTotal:":
			swapMB, found = v/1024, found+1
		}
	}
	if found < 2 {
		return 0, 0, fmt.Errorf("/proc/meminfo: no MemTotal or SwapTotal line")
	}
	return ramMB, swapMB, nil
}

// Recommend turns rules into rows without reading anything: every row is
// "manual", or "ignored" when on the ignore list.
func Recommend(rules []Rule, ignore map[string]bool) []Row {
	rows := make([]Row, 0, len(rules))
	for _, r := range rules {
		row := Row{ID: r.ID, Where: r.Where, Setting: r.Key, Current: "-", Recommended: r.Value, Reason: r.Reason, Verdict: VerdictManual}
		if ignore[r.ID] {
			row.Verdict = VerdictIgnored
		}
		rows = append(rows, row)
	}
	return rows
}
