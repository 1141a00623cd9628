package tune

import (
	"fmt"
	"github.com/cgscale/cgscale/internal/human"
	"github.com/cgscale/cgscale/internal/plural"
	"runtime"
	"strings"

	"github.com/cgscale/cgscale/errs"
)

// OS names a rule table.
type OS string

// The operating systems with a rule table.
const (
	Linux   OS = "linux"
	FreeBSD OS = "freebsd"
	Solaris OS = "solaris"
	HPUX    OS = "hpux"
	MacOS   OS = "macos"
	Windows OS = "windows"
)

// OSes lists every OS with a rule table.
var OSes = []OS{Linux, FreeBSD, Solaris, HPUX, MacOS, Windows}

// ParseOS accepts an OS name as given to --os.
func ParseOS(s string) (OS, error) {
	for _, o := range OSes {
		if string(o) == strings.ToLower(s) {
			return o, nil
		}
	}
	return "", errs.Errorf(errs.Usage, "tune", "--os", "give one of linux, freebsd, solaris, hpux, macos, windows", "unknown OS %q", s)
}

// HostOS is the OS cgscale runs on, or "" when it has no rule table.
func HostOS() OS {
	switch runtime.GOOS {
	case "linux":
		return Linux
	case "freebsd":
		return FreeBSD
	case "solaris", "illumos":
		return Solaris
	case "darwin":
		return MacOS
	case "windows":
		return Windows
	}
	return ""
}

// Where a setting lives; emitters select rules by it.
const (
	WhereSysctl     = "sysctl"      // Linux /proc/sys, sysctl.d
	WhereLimits     = "limits"      // process resource limits (Linux /proc/PID/limits)
	WhereStartup    = "Startup.sh"  // the server's startup file in its base directory
	WhereSystemd    = "systemd"     // the service unit's drop-in
	WhereBoot       = "boot"        // kernel command line (Linux)
	WhereLoader     = "loader.conf" // FreeBSD boot-time tunables
	WhereSysctlConf = "sysctl.conf" // BSD and macOS run-time sysctls
	WhereEtcSystem  = "/etc/system" // Solaris kernel parameters
	WhereNdd        = "ndd"         // Solaris and HP-UX TCP parameters
	WhereKctune     = "kctune"      // HP-UX kernel parameters
	WhereRegistry   = "registry"    // Windows TCP/IP parameters
	WhereServer     = "server"      // CommuniGate Pro settings (WebAdmin)
	WhereNote       = "note"        // advice without a single value
)

// How a live value is compared with the recommendation.
type check int

const (
	manual    check = iota // not read live
	atLeast                // current >= want ("unlimited" passes when unlimitedOK)
	atMost                 // current <= want
	exact                  // current == want
	portRange              // "lo hi": hi-lo+1 >= want
	hasParam               // SUPPLPARAMS holds the option (and its value, if any)
)

// Rule is one recommended setting.
type Rule struct {
	ID     string `json:"id"`
	Where  string `json:"where"`
	Key    string `json:"setting"`     // the name in its own mechanism
	Value  string `json:"recommended"` // as the mechanism writes it
	Reason string `json:"reason"`

	check       check
	want        int64
	unlimitedOK bool
	param       string // for hasParam: "--DefaultStackSize"
	paramValue  string // "" when the option takes no value
}

// Checked tells whether the live check reads this rule's current value.
func (r Rule) Checked() bool { return r.check != manual }

func itoa(v int64) string { return fmt.Sprintf("%d", v) }

// fdFor is the per-process descriptor limit for an OS: the vendor's floor
// for it, or twice what the channel limits allow.
func fdFor(o OS, m Model) int64 {
	floor := int64(fdFloor)
	switch o {
	case Solaris, HPUX:
		floor = 32768
	case MacOS:
		floor = 10000
	}
	return max(floor, roundUp(2*m.ChannelTotal, 1024))
}

// Rules returns the rule table for o, computed for m, followed by the
// server settings, which are the same on every OS.
func Rules(o OS, l Load, m Model) []Rule {
	var rs []Rule
	switch o {
	case Linux:
		rs = linuxRules(l, m)
	case FreeBSD:
		rs = freebsdRules(l, m)
	case Solaris:
		rs = solarisRules(l, m)
	case HPUX:
		rs = hpuxRules(l, m)
	case MacOS:
		rs = macosRules(l, m)
	case Windows:
		rs = windowsRules(m)
	}
	return append(rs, serverRules(l, m)...)
}

func sysctlMin(id, key string, want int64, reason string) Rule {
	return Rule{ID: id, Where: WhereSysctl, Key: key, Value: itoa(want), Reason: reason, check: atLeast, want: want}
}

func sysctlMax(id, key string, want int64, reason string) Rule {
	return Rule{ID: id, Where: WhereSysctl, Key: key, Value: itoa(want), Reason: reason, check: atMost, want: want}
}

// startupParams is the SUPPLPARAMS option list for o.
func startupParams(o OS, l Load) [][2]string {
	ps := [][2]string{{"--DefaultStackSize", itoa(l.StackKB * 1024)}}
	if o == Linux || o == FreeBSD {
		ps = append(ps, [2]string{"--useNonBlockingSockets", ""})
	}
	return append(ps, [2]string{"--closeStuckSockets", ""}, [2]string{"--CreateTempFilesDirectly", "10"})
}

func startupRules(o OS, l Load, m Model) []Rule {
	fd := fdFor(o, m)
	checked := o == Linux
	ck := func(c check) check {
		if checked {
			return c
		}
		return manual
	}
	p := string(o) + ".startup."
	rs := []Rule{{ID: p + "ulimit-n", Where: WhereStartup, Key: "ulimit -n", Value: itoa(fd), check: ck(atLeast), want: fd,
		Reason: "the server's descriptor limit is set by the shell that starts it, and a number (never \"unlimited\") keeps its tables small"}}
	reasons := map[string]string{
		"--DefaultStackSize":        "thread stacks of this size keep the virtual memory of many threads within bounds",
		"--useNonBlockingSockets":   "non-blocking sockets keep a slow client from holding a thread in a write",
		"--closeStuckSockets":       "closing sockets stuck in a system call frees their descriptors and threads",
		"--CreateTempFilesDirectly": "creating incoming messages' temporary files directly saves file system work per message",
	}
	for _, pv := range startupParams(o, l) {
		v := pv[0]
		if pv[1] != "" {
			v += " " + pv[1]
		}
		id := p + strings.ToLower(strings.TrimPrefix(pv[0], "--"))
		rs = append(rs, Rule{ID: id, Where: WhereStartup, Key: "SUPPLPARAMS " + pv[0], Value: v, Reason: reasons[pv[0]],
			check: ck(hasParam), param: pv[0], paramValue: pv[1]})
	}
	return rs
}

func linuxRules(l Load, m Model) []Rule {
	fd := fdFor(Linux, m)
	thr := m.ThreadsAtLimit
	ports := max(49152, m.OutboundPorts)
	portValue := "16384 65535"
	if ports > 49152 {
		portValue = fmt.Sprintf("%d 65535", max(1024, 65536-ports))
	}
	rs := []Rule{
		sysctlMin("linux.file-max", "fs.file-max", max(131072, 2*fd), "the system-wide descriptor table must hold the server's descriptors and everyone else's"),
		sysctlMin("linux.nr-open", "fs.nr_open", fd, "no process can raise its descriptor limit above this ceiling"),
		sysctlMin("linux.threads-max", "kernel.threads-max", max(131072, 2*thr), "every connection is served by a thread, and the kernel caps threads system-wide"),
		sysctlMin("linux.pid-max", "kernel.pid_max", max(32768, 2*thr), "each thread takes a process ID, so the ID space must exceed the thread count with room to spare"),
		sysctlMin("linux.max-map-count", "vm.max_map_count", max(65530, 2*thr+16384), "each thread stack and its guard page are memory mappings counted against this limit"),
		sysctlMin("linux.wmem-default", "net.core.wmem_default", 65536, "a 64 KB default send buffer lets a socket send a typical message without waiting"),
		sysctlMin("linux.wmem-max", "net.core.wmem_max", 1048576, "a 1 MB ceiling lets busy sockets grow their send buffers"),
		sysctlMin("linux.rmem-default", "net.core.rmem_default", 65536, "a 64 KB default receive buffer takes in a typical message in one go"),
		sysctlMin("linux.rmem-max", "net.core.rmem_max", 1048576, "a 1 MB ceiling lets busy sockets grow their receive buffers"),
		sysctlMin("linux.netdev-backlog", "net.core.netdev_max_backlog", 4096, "a longer device queue absorbs bursts of incoming packets instead of dropping them"),
		sysctlMin("linux.somaxconn", "net.core.somaxconn", 512, "a longer accept queue keeps bursts of new connections from being refused"),
		sysctlMin("linux.syn-backlog", "net.ipv4.tcp_max_syn_backlog", 5120, "a longer queue of half-open connections survives connection bursts and SYN floods"),
		sysctlMin("linux.tw-buckets", "net.ipv4.tcp_max_tw_buckets", m.TimeWaitBuckets, fmt.Sprintf("about %s in TIME_WAIT at the peak (60 s each), and the table must hold them with room", plural.N(m.TimeWait60, "socket sits", "sockets sit"))),
		{ID: "linux.port-range", Where: WhereSysctl, Key: "net.ipv4.ip_local_port_range", Value: portValue, check: portRange, want: ports,
			Reason: fmt.Sprintf("a wide range of local ports serves outgoing connections and their TIME_WAIT leftovers (about %d at the peak)", m.OutboundPorts)},
		sysctlMax("linux.fin-timeout", "net.ipv4.tcp_fin_timeout", 60, "closed connections must not linger long in FIN_WAIT_2 holding kernel memory"),
		sysctlMax("linux.keepalive-time", "net.ipv4.tcp_keepalive_time", 600, "probing idle connections after 10 minutes frees the threads of clients that vanished"),
		{ID: "linux.time-wait", Where: WhereNote, Key: "TIME_WAIT", Value: "60 s (fixed)", Reason: "Linux keeps TIME_WAIT at 60 s and cannot shorten it, so the bucket table and port range must be large enough instead"},
		{ID: "linux.tcp-hash", Where: WhereBoot, Key: "thash_entries", Value: itoa(m.HashSize),
			Reason: "the established-connection hash is sized at boot; if the kernel log shows fewer entries than connections, set this boot parameter"},
		{ID: "linux.nofile-soft", Where: WhereLimits, Key: "Max open files (soft)", Value: itoa(fd), check: atLeast, want: fd,
			Reason: fmt.Sprintf("twice the %s the channel limits allow, since each holds a socket and often a file", plural.N(m.ChannelTotal, "connection", "connections"))},
		{ID: "linux.nofile-hard", Where: WhereLimits, Key: "Max open files (hard)", Value: itoa(fd), check: atLeast, want: fd,
			Reason: "the soft limit cannot be raised above the hard one"},
		{ID: "linux.nproc", Where: WhereLimits, Key: "Max processes (soft)", Value: itoa(thr + 1024), check: atLeast, want: thr + 1024, unlimitedOK: true,
			Reason: "threads count as processes of the server's user"},
		{ID: "linux.address-space", Where: WhereLimits, Key: "Max address space (soft)", Value: "unlimited", check: atLeast, want: 2 * m.StackVMAtLimit, unlimitedOK: true,
			Reason: fmt.Sprintf("thread stacks alone reserve %s of virtual memory at the channel limits", human.Bytes(m.StackVMAtLimit))},
		{ID: "linux.systemd-nofile", Where: WhereSystemd, Key: "LimitNOFILE", Value: itoa(fd),
			Reason: "a server started by systemd gets its descriptor limit from the unit, not from the shell"},
		{ID: "linux.systemd-tasks", Where: WhereSystemd, Key: "TasksMax", Value: itoa(thr + 1024),
			Reason: "systemd caps a unit's threads, often far below what a busy server needs"},
	}
	if m.SMTPOutChans > 0 {
		rs = append(rs, Rule{ID: "linux.tw-reuse", Where: WhereSysctl, Key: "net.ipv4.tcp_tw_reuse", Value: "1", check: exact, want: 1,
			Reason: "outgoing SMTP connections may then reuse ports still in TIME_WAIT"})
	}
	return append(rs, startupRules(Linux, l, m)...)
}

func bsdSysctl(id, key string, v int64, reason string) Rule {
	return Rule{ID: id, Where: WhereSysctlConf, Key: key, Value: itoa(v), Reason: reason}
}

func loaderRule(id, key, v, reason string) Rule {
	return Rule{ID: id, Where: WhereLoader, Key: key, Value: v, Reason: reason}
}

// gigs rounds a byte count up to whole GiB, at least lo.
func gigs(b, lo int64) int64 { return max(lo, (b+gib-1)/gib) }

func freebsdRules(l Load, m Model) []Rule {
	fd := fdFor(FreeBSD, m)
	dsiz := gigs(2*m.StackVMAtLimit, 1)
	rs := []Rule{
		loaderRule("freebsd.maxdsiz", "kern.maxdsiz", fmt.Sprintf("%dG", dsiz), "the data segment limit must hold the heap and the thread stacks"),
		loaderRule("freebsd.dfldsiz", "kern.dfldsiz", fmt.Sprintf("%dG", dsiz), "the initial data size limit should match the maximum so the server does not start short"),
		loaderRule("freebsd.maxssiz", "kern.maxssiz", "128M", "the main stack limit stays moderate because threads have their own stacks"),
		loaderRule("freebsd.nmbclusters", "kern.ipc.nmbclusters", itoa(max(65536, 4*m.Sockets)), "network buffers must cover every open socket's data in flight"),
		loaderRule("freebsd.tcbhashsize", "net.inet.tcp.tcbhashsize", itoa(m.HashSize), "a TCP control-block hash a little larger than the peak connections keeps lookups short"),
		bsdSysctl("freebsd.vmiodirenable", "vfs.vmiodirenable", 1, "caching directories in the VM keeps large account directories fast"),
		bsdSysctl("freebsd.maxsockbuf", "kern.ipc.maxsockbuf", 2097152, "a larger ceiling lets socket buffers grow on busy connections"),
		bsdSysctl("freebsd.sendspace", "net.inet.tcp.sendspace", 65536, "a 64 KB default send buffer sends a typical message without waiting"),
		bsdSysctl("freebsd.recvspace", "net.inet.tcp.recvspace", 65536, "a 64 KB default receive buffer takes in a typical message in one go"),
		bsdSysctl("freebsd.msl", "net.inet.tcp.msl", 15000, "TIME_WAIT lasts twice the MSL, so 15 s gives 30 s and frees sockets sooner"),
		bsdSysctl("freebsd.nolocaltimewait", "net.inet.tcp.nolocaltimewait", 1, "connections to local helpers need no TIME_WAIT at all"),
		bsdSysctl("freebsd.maxvnodes", "kern.maxvnodes", max(250000, 4*fd), "many open mailboxes and account files need many cached vnodes"),
		bsdSysctl("freebsd.maxfiles", "kern.maxfiles", max(131072, 2*fd), "the system-wide descriptor table must hold the server's and everyone else's"),
		bsdSysctl("freebsd.maxfilesperproc", "kern.maxfilesperproc", fd, "the server's descriptor limit cannot exceed the per-process ceiling"),
		bsdSysctl("freebsd.portrange-first", "net.inet.ip.portrange.first", 16384, "a wider range of local ports serves many outgoing connections"),
		bsdSysctl("freebsd.somaxconn", "kern.ipc.soacceptqueue", 1024, "a longer accept queue keeps connection bursts from being refused"),
		bsdSysctl("freebsd.rtexpire", "net.inet.ip.rtexpire", 600, "cloned routes to many peers expire sooner than the hour of the default (older releases only)"),
		bsdSysctl("freebsd.max-threads", "kern.threads.max_threads_per_proc", max(4096, 2*m.ThreadsAtLimit), "the default per-process thread cap is far below what many connections need"),
	}
	return append(rs, startupRules(FreeBSD, l, m)...)
}

func solarisRules(l Load, m Model) []Rule {
	fd := fdFor(Solaris, m)
	es := func(id, key string, v int64, reason string) Rule {
		return Rule{ID: id, Where: WhereEtcSystem, Key: key, Value: itoa(v), Reason: reason}
	}
	nd := func(id, key string, v int64, reason string) Rule {
		return Rule{ID: id, Where: WhereNdd, Key: key, Value: itoa(v), Reason: reason}
	}
	rs := []Rule{
		es("solaris.rlim-fd-cur", "rlim_fd_cur", 4096, "a moderate default soft limit for every process; the server raises its own"),
		es("solaris.rlim-fd-max", "rlim_fd_max", fd, "the hard ceiling must allow the server's descriptor limit"),
		es("solaris.conn-hash", "tcp:tcp_conn_hash_size", m.HashSize, "a connection hash larger than the peak connections keeps lookups short"),
		es("solaris.ncsize", "ncsize", 2000, "on large servers the name cache cannot hold a useful share of paths and only burns kernel CPU"),
		nd("solaris.recv-hiwat", "tcp_recv_hiwat", 65536, "a 64 KB receive window takes in a typical message in one go"),
		nd("solaris.xmit-hiwat", "tcp_xmit_hiwat", 65536, "a 64 KB send window sends a typical message without waiting"),
		nd("solaris.conn-req-max-q", "tcp_conn_req_max_q", 512, "a longer accept queue keeps bursts of new connections from being refused"),
		nd("solaris.conn-req-max-q0", "tcp_conn_req_max_q0", 5120, "a longer queue of half-open connections survives bursts and SYN floods"),
		nd("solaris.fin-wait-2", "tcp_fin_wait_2_flush_interval", 135000, "closed connections must not hold kernel memory in FIN_WAIT_2 for long"),
		nd("solaris.time-wait", "tcp_time_wait_interval", 60000, "a 60 s TIME_WAIT keeps dead sockets from piling up under frequent mail checks"),
		nd("solaris.keepalive", "tcp_keepalive_interval", 600000, "probing idle connections after 10 minutes frees the threads of clients that vanished"),
		{ID: "solaris.naglim", Where: WhereNote, Key: "tcp_naglim_def", Value: "1 on cluster backends only",
			Reason: "turning Nagle off helps the many small exchanges between cluster members but not client traffic"},
		{ID: "solaris.mtmalloc", Where: WhereNote, Key: "malloc", Value: "libmtmalloc when more than 2 CPUs",
			Reason: "the default allocator serialises threads, and a multithreaded one scales with the CPUs"},
	}
	return append(rs, startupRules(Solaris, l, m)...)
}

func hpuxRules(l Load, m Model) []Rule {
	fd := fdFor(HPUX, m)
	kc := func(id, key string, v int64, reason string) Rule {
		return Rule{ID: id, Where: WhereKctune, Key: key, Value: itoa(v), Reason: reason}
	}
	rs := []Rule{
		kc("hpux.maxfiles", "maxfiles", 4096, "a moderate default soft limit for every process; the server raises its own"),
		kc("hpux.maxfiles-lim", "maxfiles_lim", fd, "the hard per-process limit must allow the server's descriptors"),
		kc("hpux.maxdsiz", "maxdsiz", max(2*gib, gigs(2*m.StackVMAtLimit, 2)*gib), "the data segment must hold the heap and the thread stacks"),
		kc("hpux.nfile", "nfile", max(32768, 2*fd), "the system-wide open-file table must hold the server's files and sockets"),
		kc("hpux.ninode", "ninode", max(32768, 2*fd), "every open mailbox and account file needs an in-core inode"),
		{ID: "hpux.time-wait", Where: WhereNdd, Key: "tcp_time_wait_interval", Value: "60000", Reason: "a 60 s TIME_WAIT keeps dead sockets from piling up under frequent mail checks"},
	}
	return append(rs, startupRules(HPUX, l, m)...)
}

func macosRules(l Load, m Model) []Rule {
	fd := fdFor(MacOS, m)
	dKB := max(1048576, 2*m.StackVMAtLimit/1024)
	rs := []Rule{
		{ID: "macos.startup.ulimit-d", Where: WhereStartup, Key: "ulimit -d", Value: itoa(dKB),
			Reason: "the default data-size limit is far too small for the stacks of thousands of threads"},
		bsdSysctl("macos.maxfiles", "kern.maxfiles", max(65536, 2*fd), "the system-wide descriptor table must hold the server's and everyone else's"),
		bsdSysctl("macos.maxfilesperproc", "kern.maxfilesperproc", fd, "the server's descriptor limit cannot exceed the per-process ceiling"),
		bsdSysctl("macos.somaxconn", "kern.ipc.somaxconn", 512, "a longer accept queue keeps bursts of new connections from being refused"),
		bsdSysctl("macos.portrange-first", "net.inet.ip.portrange.first", 16384, "a wider range of local ports serves many outgoing connections"),
		bsdSysctl("macos.msl", "net.inet.tcp.msl", 15000, "TIME_WAIT lasts twice the MSL, so 15 s gives 30 s and frees sockets sooner"),
	}
	return append(rs, startupRules(MacOS, l, m)...)
}

// The Windows registry key holding the TCP/IP parameters.
const WindowsTCPKey = `HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\Tcpip\Parameters`

func windowsRules(m Model) []Rule {
	port := min(65534, max(20000, m.OutboundPorts+5000))
	return []Rule{
		{ID: "windows.max-user-port", Where: WhereRegistry, Key: "MaxUserPort", Value: itoa(port),
			Reason: "outgoing connections get ports only up to this number, 5000 by default, which many SMTP channels exhaust"},
		{ID: "windows.time-wait", Where: WhereRegistry, Key: "TcpTimedWaitDelay", Value: "30",
			Reason: fmt.Sprintf("the default 240 s would keep about %s at the peak; 30 s is the lowest allowed", plural.N(ceil(m.ConnRate*240), "dead socket", "dead sockets"))},
	}
}

func serverRules(l Load, m Model) []Rule {
	sv := func(id, key string, v int64, reason string) Rule {
		return Rule{ID: id, Where: WhereServer, Key: key, Value: itoa(v), Reason: reason}
	}
	chans := []Rule{
		sv("server.pop-channels", "POP channels", m.POPChannels, fmt.Sprintf("%s at the peak, with headroom; the limit also shields the server from floods", plural.N(m.POP, "POP session", "POP sessions"))),
		sv("server.imap-channels", "IMAP channels", m.IMAPChannels, fmt.Sprintf("%s at the peak, with headroom", plural.N(m.IMAP+m.XIMSSTCP, "IMAP (or XIMSS over TCP) connection", "IMAP (and XIMSS over TCP) connections"))),
		sv("server.http-channels", "HTTP User channels", m.HTTPChannels, fmt.Sprintf("%s at the peak, with headroom", plural.N(m.WebHTTP+m.XIMSSHTTP, "WebUser or XIMSS HTTP connection", "WebUser and XIMSS HTTP connections"))),
		sv("server.smtp-in-channels", "SMTP receiving channels", m.SMTPInChans, fmt.Sprintf("%s at the peak, with headroom", plural.N(m.SMTPIn, "inbound SMTP session", "inbound SMTP sessions"))),
		sv("server.smtp-out-channels", "SMTP sending channels", m.SMTPOutChans,
			fmt.Sprintf("at %s kbit/s per peer these channels can send up to %.0f Mbit/s", num(l.PeerKbps), m.OutboundPeakMbps)),
	}
	// A channel limit of 0 would switch the protocol off: list only the
	// protocols the load uses.
	var rs []Rule
	for _, r := range chans {
		if r.Value != "0" {
			rs = append(rs, r)
		}
	}
	rs = append(rs, sv("server.dns-concurrent", "DNS Concurrent Requests", m.DNSConcurrent, "enough parallel lookups for the message rate without overloading the DNS servers"))
	if m.LocalDelivery > 0 {
		rs = append(rs, sv("server.local-delivery", "Local Delivery processors", m.LocalDelivery,
			fmt.Sprintf("sized from %s; add more only if the queue keeps growing", m.LocalDeliveryBasis)))
	} else {
		rs = append(rs, Rule{ID: "server.local-delivery", Where: WhereServer, Key: "Local Delivery processors", Value: "default",
			Reason: "at most one message per second needs no extra processors"})
	}
	if m.MessageRate > localDeliveryAlarm || m.Connection > 1000 {
		rs = append(rs, Rule{ID: "server.conservative-info", Where: WhereServer, Key: "Use Conservative Info Updates", Value: "off",
			Reason: "fewer account info writes lighten the file I/O of a busy server"})
	}
	if l.SIPCallsPerSec > 0 || l.SIPMediaCalls > 0 {
		rs = append(rs, sv("server.sip-cpus", "CPUs for SIP signalling", max(1, m.SIPCPUs), "one CPU handles about 100 signalling calls per second; media relaying needs much more"))
	}
	return rs
}

// RuleIDs returns every ID that Rules can produce for any OS under any
// load, so an ignore list can be checked for typos.
func RuleIDs() map[string]bool {
	ids := map[string]bool{}
	l := Defaults()
	l.POPUsers, l.IMAPUsers, l.WebSessions = 1, 1, 1
	l.OutboundRate, l.InboundRate, l.SIPCallsPerSec = 10, 10, 1
	m := Compute(l)
	for _, o := range OSes {
		for _, r := range Rules(o, l, m) {
			ids[r.ID] = true
		}
	}
	return ids
}
