package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/cgscale/cgscale/internal/human"
	"github.com/cgscale/cgscale/internal/plural"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/afero"
	"github.com/spf13/pflag"

	"github.com/cgscale/cgscale/errs"
	"github.com/cgscale/cgscale/tune"
)

const tuneSchema = "cgscale.tune/v1"

func tuneCommand() *command {
	c := &command{
		name:    "tune",
		summary: "compute OS and server tuning for a load, and check it on this machine",
		usage:   "tune [flags]",
		help: `Computes what an expected peak load means for a CommuniGate Pro server:
concurrent sessions per protocol, the channel limits to configure, file
descriptors (twice the connections, never "unlimited"), threads and the
virtual memory their stacks take, Local Delivery processors, outbound SMTP
traffic and DNS resolver concurrency. It then lists every OS and server
setting for --os with a stable ID, the value for this load and the reason.

--os defaults to the running OS. On Linux it reads the current values from
/proc/sys, the process limits (/proc/self/limits, or the running server's
when --base holds a live ProcessID) and, with --base, Startup.sh, and shows
a row per setting: ID, current, recommended, verdict, reason.
A relative --base is taken from the current directory (and, with --root,
read below it). Verdicts:
  ok          the current value meets the recommendation
  low         below the load's need; also a setting absent from Startup.sh,
              or no Startup.sh at all, since the server then starts with its
              defaults
  high        above a ceiling, or "unlimited" where a number belongs
  unreadable  a value that should be there but could not be read: a missing
              /proc file, a file that cannot be opened, is empty or holds no
              number (the row names the file and the problem)
  manual      not read: check or apply by hand
  ignored     on the --ignore list
For other OSes it prints the recommendations only.

--emit writes a ready-to-apply snippet to stdout and nothing else. Each
kind belongs to its OSes; --os defaults to the running OS, for --emit too,
so a kind of another OS needs --os (on Linux, --emit loader is refused
just as --os linux --emit loader is; give --os freebsd):
  sysctl      /etc/sysctl.d drop-in (Linux), /etc/sysctl.conf lines (FreeBSD, macOS)
  startup     Startup.sh lines: SUPPLPARAMS and ulimit
  limits      systemd drop-in with LimitNOFILE and TasksMax (Linux)
  loader      FreeBSD /boot/loader.conf and /etc/sysctl.conf lines
  etc-system  Solaris /etc/system lines (ndd commands as comments)
  registry    Windows .reg file: MaxUserPort and TcpTimedWaitDelay
On Linux, --emit sysctl leaves out (as comments) the settings that already
meet the recommendation here, so the drop-in never lowers a higher value;
add --no-check for every line. cgscale never applies anything: review the
snippet and install it yourself.

--profile FILE reads a JSON object whose fields are the flag names with
underscores (pop_users, imap_users, imap_online_fraction, inbound_rate,
writers_knee, ...; the README lists them all); flags given on the command
line win over the file. A profile written by cgscale bench (schema
"cgscale.bench/...") contributes only its "writers_knee", the storage's
preferred number of parallel writers, used for Local Delivery processors.
--profile may be repeated.

Exit status: 0 when every checked setting holds (or nothing was checked),
3 when any setting is low or high, 4 when none falls short but some could
not be read. Usable as a monitoring check.

Examples:
  cgscale tune --pop-users 100000 --imap-users 20000
  cgscale tune --pop-users 100000 --imap-users 20000 --json
  cgscale tune --profile load.json --base /var/CommuniGate --only-problems
  cgscale tune --imap-users 50000 --ignore linux.keepalive-time,linux.tw-reuse
  cgscale tune --imap-users 50000 --emit sysctl > /etc/sysctl.d/60-communigate.conf.new
  cgscale tune --os windows --outbound-rate 30 --emit registry > tcpip.reg
  cgscale tune --os solaris --pop-users 200000 --emit etc-system
  cgscale tune --os freebsd --imap-users 50000 --emit loader`,
	}
	c.run = func(ctx context.Context, e *env, args []string) error {
		fs := e.flags(c)
		l := tune.Defaults()
		lf := loadFlags(&l)
		fs.AddFlagSet(lf)
		osName := fs.String("os", "", "rule table: linux, freebsd, solaris, hpux, macos, windows (default: the running OS)")
		profiles := fs.StringArray("profile", nil, "JSON load or bench profile (repeatable; flags win)")
		base := fs.String("base", "", "the server's base directory (e.g. /var/CommuniGate): read its Startup.sh and ProcessID; relative to the current directory")
		root := fs.String("root", "/", "read /proc and --base below this directory (a copy of a system's files)")
		noCheck := fs.Bool("no-check", false, "print recommendations without reading the live system")
		onlyProblems := fs.Bool("only-problems", false, "show only rows that are low, high or unreadable")
		ignore := fs.StringSlice("ignore", nil, "rule IDs to report as ignored (comma-separated, repeatable)")
		emit := fs.String("emit", "", "write a snippet instead of the report: "+strings.Join(tune.EmitKinds, ", "))
		asJSON := fs.Bool("json", false, "print the report as JSON (schema "+tuneSchema+")")
		if err := e.parse(c, fs, args); err != nil {
			return err
		}
		if fs.NArg() != 0 {
			return errs.Errorf(errs.Usage, c.name, "", "loads are given with flags, e.g. --pop-users 100000", "takes no arguments, got %q", fs.Arg(0))
		}

		// Profiles first, then the flags given on the command line again on top.
		if len(*profiles) > 0 {
			given := map[string]string{}
			lf.VisitAll(func(f *pflag.Flag) {
				if f.Changed {
					given[f.Name] = f.Value.String()
				}
			})
			l = tune.Defaults()
			for _, p := range *profiles {
				if err := tune.ReadProfile(afero.NewOsFs(), p, &l); err != nil {
					return err
				}
			}
			for name, v := range given {
				if err := lf.Set(name, v); err != nil {
					return errs.Errorf(errs.Usage, c.name, "--"+name, "", "%v", err)
				}
			}
		}
		if err := l.Validate(); err != nil {
			return err
		}

		host := tune.HostOS()
		var o tune.OS
		if *osName != "" {
			var err error
			if o, err = tune.ParseOS(*osName); err != nil {
				return err
			}
		}
		if *emit != "" {
			var err error
			if o, err = tune.EmitOS(*emit, o, host); err != nil {
				return err
			}
		}
		if o == "" {
			if host == "" {
				return errs.Errorf(errs.Usage, c.name, "--os", "give --os linux, freebsd, solaris, hpux, macos or windows", "no rule table for %s", runtime.GOOS)
			}
			o = host
		}

		ids := tune.RuleIDs()
		ignored := map[string]bool{}
		for _, id := range *ignore {
			id = strings.TrimSpace(id)
			if !ids[id] {
				return errs.Errorf(errs.Usage, c.name, "--ignore", "IDs are shown in the report's first column", "unknown rule ID %q", id)
			}
			ignored[id] = true
		}

		// The live check: Linux rules on a Linux system (or a copy of one under --root).
		// A relative --base is a path on the command line like any other:
		// it is taken from the current directory, then read below --root.
		if *base != "" {
			abs, err := filepath.Abs(*base)
			if err != nil {
				return errs.New(errs.BadInput, "read server base", *base, err, "give --base as an absolute path")
			}
			*base = abs
		}
		rootSet := fs.Changed("root")
		live := *emit == "" && !*noCheck && o == tune.Linux && (runtime.GOOS == "linux" || rootSet)
		liveNote := ""
		switch {
		case *emit != "":
		case *noCheck:
			liveNote = "live check skipped (--no-check)"
		case o != tune.Linux:
			liveNote = fmt.Sprintf("live check runs only for Linux; these are the %s recommendations", o)
		case !live:
			liveNote = "live check runs only on Linux; these are the recommendations"
		}
		var sys afero.Fs
		if live || (*emit == "sysctl" && o == tune.Linux && !*noCheck && (runtime.GOOS == "linux" || rootSet)) {
			st, err := os.Stat(*root)
			if err != nil || !st.IsDir() {
				return errs.Errorf(errs.BadInput, "read system files", *root, "--root must be a directory holding proc/", "not a directory")
			}
			sys = afero.NewBasePathFs(afero.NewOsFs(), *root)
			if *base != "" {
				if err := checkBase(sys, *root, *base); err != nil {
					return err
				}
			}
			if !fs.Changed("ram-mb") && !fs.Changed("swap-mb") && l.RAMMB == 0 && l.SwapMB == 0 {
				if ram, swap, err := tune.ReadMeminfo(sys); err == nil {
					l.RAMMB, l.SwapMB = ram, swap
				} else {
					fmt.Fprintf(e.stderr, "cgscale: warning: memory size unknown (%v); give --ram-mb and --swap-mb for the memory check\n", err)
				}
			}
		}

		m := tune.Compute(l)
		rules := tune.Rules(o, l, m)

		if *emit != "" {
			// A sysctl drop-in for this very system leaves out what already
			// holds here, so installing it never lowers a higher value.
			holds := map[string]string{}
			if *emit == "sysctl" && o == tune.Linux && sys != nil {
				rows, _ := tune.Check(sys, rules, tune.LiveOptions{})
				for _, r := range rows {
					if r.Where == tune.WhereSysctl && r.Verdict == tune.VerdictOK {
						holds[r.ID] = r.Current
					}
				}
			}
			text, err := tune.Emit(*emit, o, rules, tune.Summary(m), holds)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(e.stdout, map[string]any{"schema": tuneSchema, "os": o, "emit": *emit, "snippet": text})
			}
			_, err = io.WriteString(e.stdout, text)
			return err
		}

		var rows []tune.Row
		var info *tune.LiveInfo
		if live {
			r, li := tune.Check(sys, rules, tune.LiveOptions{Base: *base, Ignore: ignored})
			rows, info = r, &li
		} else {
			rows = tune.Recommend(rules, ignored)
		}
		counts := map[string]int{}
		for _, r := range rows {
			counts[r.Verdict]++
		}
		shown := rows
		if *onlyProblems {
			shown = nil
			for _, r := range rows {
				if r.Short() || r.Verdict == tune.VerdictUnreadable {
					shown = append(shown, r)
				}
			}
		}
		if shown == nil {
			shown = []tune.Row{}
		}

		if *asJSON {
			out := map[string]any{
				"schema": tuneSchema, "os": o, "live": live, "load": l, "model": m,
				"rows": shown, "counts": counts,
			}
			if liveNote != "" {
				out["live_note"] = liveNote
			}
			if info != nil {
				out["live_info"] = info
			}
			if err := writeJSON(e.stdout, out); err != nil {
				return err
			}
		} else {
			printTuneReport(e.stdout, o, l, m, shown, counts, info, liveNote)
		}

		short := counts[tune.VerdictLow] + counts[tune.VerdictHigh]
		if short > 0 {
			verb := "fall"
			if short == 1 {
				verb = "falls"
			}
			return errs.Errorf(errs.Attention, c.name, "", "", "%s %s short of the load", plural.N(short, "setting", "settings"), verb)
		}
		if n := counts[tune.VerdictUnreadable]; n > 0 {
			return errs.Errorf(errs.Partial, c.name, "", "the rows marked unreadable name the file and the problem",
				"%s could not be read", plural.N(n, "setting", "settings"))
		}
		return nil
	}
	return c
}

// checkBase makes sure the server base (absolute, inside sys, the file
// system below root) is a directory. Errors name the path on this machine.
func checkBase(sys afero.Fs, root, base string) error {
	real := base
	if r, err := filepath.Abs(root); err == nil && r != "/" {
		real = filepath.Join(r, base)
	}
	const hint = "give the directory that holds Startup.sh (e.g. /var/CommuniGate); a relative --base is taken from the current directory"
	st, err := sys.Stat(base)
	switch {
	case errors.Is(err, iofs.ErrNotExist):
		return errs.Errorf(errs.BadInput, "read server base", real, hint, "no such directory")
	case err != nil:
		var pe *iofs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return errs.New(errs.BadInput, "read server base", real, err, hint)
	case !st.IsDir():
		return errs.Errorf(errs.BadInput, "read server base", real, hint, "not a directory")
	}
	return nil
}

// loadFlags binds one flag per load field.
func loadFlags(l *tune.Load) *pflag.FlagSet {
	f := pflag.NewFlagSet("load", pflag.ContinueOnError)
	f.SortFlags = false
	f.Int64Var(&l.POPUsers, "pop-users", l.POPUsers, "POP users")
	f.Float64Var(&l.POPChecks, "pop-checks", l.POPChecks, "mail checks per POP user in the peak period")
	f.Float64Var(&l.POPSessionSecs, "pop-session", l.POPSessionSecs, "seconds one POP check takes")
	f.Int64Var(&l.IMAPUsers, "imap-users", l.IMAPUsers, "IMAP users")
	f.Float64Var(&l.IMAPConnsPerUser, "imap-connections", l.IMAPConnsPerUser, "connections per connected IMAP user")
	f.Float64Var(&l.IMAPOnline, "imap-online", l.IMAPOnline, "share of IMAP users connected at the peak (0-1)")
	f.Int64Var(&l.WebSessions, "webuser-sessions", l.WebSessions, "open WebUser sessions at the peak")
	f.BoolVar(&l.WebKeepAlive, "webuser-keepalive", l.WebKeepAlive, "WebUser sessions use HTTP keep-alive")
	f.Int64Var(&l.XIMSSClients, "ximss-clients", l.XIMSSClients, "XIMSS clients connected at the peak")
	f.StringVar(&l.XIMSSBinding, "ximss-binding", l.XIMSSBinding, "XIMSS transport: tcp or http")
	f.Float64Var(&l.SIPCallsPerSec, "sip-cps", l.SIPCallsPerSec, "SIP calls per second (signalling)")
	f.Int64Var(&l.SIPMediaCalls, "sip-media-calls", l.SIPMediaCalls, "concurrent calls whose media the server relays")
	f.Float64Var(&l.InboundRate, "inbound-rate", l.InboundRate, "inbound SMTP messages per second at the peak")
	f.Float64Var(&l.InboundSizeKB, "inbound-size", l.InboundSizeKB, "average inbound message size, KB")
	f.Float64Var(&l.OutboundRate, "outbound-rate", l.OutboundRate, "outbound SMTP messages per second at the peak")
	f.Float64Var(&l.OutboundSizeKB, "outbound-size", l.OutboundSizeKB, "average outbound message size, KB")
	f.Int64Var(&l.SMTPChannels, "smtp-channels", l.SMTPChannels, "SMTP sending channels (0: computed from the rate)")
	f.Float64Var(&l.PeerKbps, "peer-kbps", l.PeerKbps, "bandwidth of a typical remote peer, kbit/s")
	f.Float64Var(&l.UplinkMbps, "uplink-mbps", l.UplinkMbps, "the site's outbound bandwidth, Mbit/s (0: unknown)")
	f.Float64Var(&l.SMTPOverhead, "smtp-overhead", l.SMTPOverhead, "seconds of negotiation and envelope per SMTP message")
	f.Float64Var(&l.DeliveryMs, "delivery-ms", l.DeliveryMs, "milliseconds one local delivery takes on the storage")
	f.Int64Var(&l.WritersKnee, "writers-knee", l.WritersKnee, "the storage's preferred parallel writers (from cgscale bench)")
	f.Float64Var(&l.PeakHours, "peak-hours", l.PeakHours, "length of the daily peak period, hours")
	f.Float64Var(&l.Headroom, "headroom", l.Headroom, "channel limits = peak concurrency × this")
	f.Int64Var(&l.StackKB, "stack-kb", l.StackKB, "thread stack size of the server, KB")
	f.Int64Var(&l.StaticThreads, "static-threads", l.StaticThreads, "threads that exist whatever the load")
	f.Int64Var(&l.RAMMB, "ram-mb", l.RAMMB, "RAM, MB (default: read from /proc/meminfo on Linux)")
	f.Int64Var(&l.SwapMB, "swap-mb", l.SwapMB, "swap, MB (default: read from /proc/meminfo on Linux)")
	f.IntVar(&l.Bits, "bits", l.Bits, "width of the server process: 64 or 32")
	f.IntVar(&l.CPUs, "cpus", l.CPUs, "CPUs of the server (for the SIP estimate)")
	return f
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printTuneReport(w io.Writer, o tune.OS, l tune.Load, m tune.Model, rows []tune.Row, counts map[string]int, info *tune.LiveInfo, liveNote string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "Load model (peak period %s h, channel headroom ×%s):\n", fnum(l.PeakHours), fnum(l.Headroom))
	line := func(name string, v any, note string) {
		fmt.Fprintf(tw, "  %s\t%v\t%s\n", name, v, note)
	}
	line("POP sessions", m.POP, fmt.Sprintf("%s × %s × %s s / %s h = %.1f", plural.N(l.POPUsers, "user", "users"), plural.N(l.POPChecks, "check", "checks"), fnum(l.POPSessionSecs), fnum(l.PeakHours), m.POPExact))
	line("IMAP connections", m.IMAP, fmt.Sprintf("%s × %s online × %s each", plural.N(l.IMAPUsers, "user", "users"), fnum(l.IMAPOnline), fnum(l.IMAPConnsPerUser)))
	line("WebUser HTTP connections", m.WebHTTP, webNote(l))
	line("XIMSS connections", m.XIMSSTCP+m.XIMSSHTTP, "over "+l.XIMSSBinding)
	line("SMTP in / out sessions", fmt.Sprintf("%d / %d", m.SMTPIn, m.SMTPOut), "")
	line("SIP media sockets", m.SIPMedia, "")
	line("connections at the peak", m.Connection, fmt.Sprintf("%d allowed by the channel limits", m.ChannelTotal))
	line("file descriptors", m.FDsForLoad, fmt.Sprintf("twice the connections; per-process limit to set: %d", m.FDLimit))
	line("threads", m.Threads, fmt.Sprintf("%d at the channel limits", m.ThreadsAtLimit))
	line("thread stack memory", human.Bytes(m.StackVM), fmt.Sprintf("%s at the limits (%d KB stacks)", human.Bytes(m.StackVMAtLimit), l.StackKB))
	ld := "default"
	if m.LocalDelivery > 0 {
		ld = fmt.Sprint(m.LocalDelivery)
	}
	line("Local Delivery processors", ld, fmt.Sprintf("%s; a 200-message queue drains in %.1f s", m.LocalDeliveryBasis, m.QueueDrainSeconds))
	line("SMTP sending channels", m.SMTPOutChans, fmt.Sprintf("up to %.0f Mbit/s at %s kbit/s per peer; expected %.1f Mbit/s", m.OutboundPeakMbps, fnum(l.PeerKbps), m.OutboundExpectedMbps))
	line("DNS Concurrent Requests", m.DNSConcurrent, fmt.Sprintf("for %s/s", plural.N(m.MessageRate, "message", "messages")))
	line("TIME_WAIT sockets (60 s)", m.TimeWait60, fmt.Sprintf("%.1f new connections/s", m.ConnRate))
	tw.Flush()
	if len(m.Warnings) > 0 {
		fmt.Fprintf(w, "\nWarnings:\n")
		for _, s := range m.Warnings {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
	fmt.Fprintln(w)
	if info != nil {
		fmt.Fprintf(w, "Live check (%s): limits from %s\n", o, info.LimitsFrom)
		if info.StartupFrom != "" {
			fmt.Fprintf(w, "Startup file: %s\n", info.StartupFrom)
		}
		for _, n := range info.Notes {
			fmt.Fprintf(w, "note: %s\n", n)
		}
	} else {
		fmt.Fprintf(w, "Recommendations for %s (%s)\n", o, liveNote)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(tw, "ID\tWHERE\tSETTING\tCURRENT\tRECOMMENDED\tVERDICT\tREASON\n")
	for _, r := range rows {
		reason := r.Reason
		if r.Problem != "" {
			reason = r.Problem
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Where, r.Setting, r.Current, r.Recommended, r.Verdict, reason)
	}
	tw.Flush()
	var parts []string
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	fmt.Fprintf(w, "\n%s\n", strings.Join(parts, ", "))
}

func webNote(l tune.Load) string {
	if l.WebKeepAlive {
		return plural.N(l.WebSessions, "session", "sessions") + ", keep-alive: one connection each"
	}
	return plural.N(l.WebSessions, "session", "sessions") + ", about 30 per connection without keep-alive"
}

func fnum(v float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}
