package tune

import (
	"strings"
	"testing"
)

func testLoad() Load {
	l := Defaults()
	l.POPUsers, l.IMAPUsers, l.InboundRate, l.OutboundRate = 100000, 20000, 20, 20
	return l
}

// Every setting the vendor's chapter names has a rule for its OS.
func TestRulesCoverTheChapter(t *testing.T) {
	want := map[OS][]string{
		Linux: {"fs.file-max", "kernel.threads-max", "net.core.wmem_default", "net.core.wmem_max", "net.core.rmem_default",
			"net.core.rmem_max", "net.core.netdev_max_backlog", "net.ipv4.tcp_max_tw_buckets", "net.ipv4.ip_local_port_range",
			"ulimit -n", "SUPPLPARAMS --DefaultStackSize", "SUPPLPARAMS --useNonBlockingSockets", "SUPPLPARAMS --closeStuckSockets",
			"SUPPLPARAMS --CreateTempFilesDirectly", "Max open files (soft)", "TIME_WAIT", "thash_entries", "LimitNOFILE"},
		FreeBSD: {"kern.maxdsiz", "kern.dfldsiz", "kern.maxssiz", "kern.ipc.nmbclusters", "net.inet.tcp.tcbhashsize",
			"vfs.vmiodirenable", "kern.ipc.maxsockbuf", "net.inet.tcp.sendspace", "net.inet.tcp.recvspace", "net.inet.tcp.msl",
			"kern.maxvnodes", "kern.maxfiles", "kern.maxfilesperproc", "net.inet.ip.portrange.first", "net.inet.ip.rtexpire",
			"kern.threads.max_threads_per_proc", "ulimit -n", "SUPPLPARAMS --useNonBlockingSockets"},
		Solaris: {"rlim_fd_cur", "rlim_fd_max", "tcp:tcp_conn_hash_size", "ncsize", "tcp_recv_hiwat", "tcp_xmit_hiwat",
			"tcp_conn_req_max_q", "tcp_conn_req_max_q0", "tcp_fin_wait_2_flush_interval", "tcp_time_wait_interval",
			"tcp_keepalive_interval", "tcp_naglim_def", "malloc", "ulimit -n", "SUPPLPARAMS --closeStuckSockets"},
		HPUX:    {"maxfiles", "maxfiles_lim", "maxdsiz", "nfile", "ninode", "tcp_time_wait_interval"},
		MacOS:   {"ulimit -d", "ulimit -n"},
		Windows: {"MaxUserPort", "TcpTimedWaitDelay"},
	}
	server := []string{"POP channels", "IMAP channels", "SMTP receiving channels", "SMTP sending channels",
		"Local Delivery processors", "DNS Concurrent Requests", "Use Conservative Info Updates"}
	l := testLoad()
	m := Compute(l)
	for o, keys := range want {
		have := map[string]bool{}
		for _, r := range Rules(o, l, m) {
			have[r.Key] = true
		}
		for _, k := range append(keys, server...) {
			if !have[k] {
				t.Errorf("%s: no rule for %q", o, k)
			}
		}
	}
	// Solaris must not get the option the chapter leaves out there.
	for _, r := range Rules(Solaris, l, m) {
		if strings.Contains(r.Key, "useNonBlockingSockets") {
			t.Errorf("solaris: %s has --useNonBlockingSockets", r.ID)
		}
	}
}

// IDs are unique, carry their OS, and every rule has a value and a reason
// of one sentence.
func TestRuleIDsAndReasons(t *testing.T) {
	l := testLoad()
	l.SIPCallsPerSec = 10
	m := Compute(l)
	seen := map[string]OS{}
	for _, o := range OSes {
		ids := map[string]bool{}
		for _, r := range Rules(o, l, m) {
			if ids[r.ID] {
				t.Errorf("%s: duplicate ID %s", o, r.ID)
			}
			ids[r.ID] = true
			if !strings.HasPrefix(r.ID, string(o)+".") && !strings.HasPrefix(r.ID, "server.") {
				t.Errorf("%s: ID %s does not start with its OS", o, r.ID)
			}
			if prev, ok := seen[r.ID]; ok && !strings.HasPrefix(r.ID, "server.") && prev != o {
				t.Errorf("ID %s used by %s and %s", r.ID, prev, o)
			}
			seen[r.ID] = o
			if r.Value == "" || r.Key == "" || r.Where == "" {
				t.Errorf("%s: empty field in %+v", r.ID, r)
			}
			if r.Reason == "" || strings.Contains(r.Reason, ". ") || strings.HasSuffix(r.Reason, ".") {
				t.Errorf("%s: reason must be one sentence without a final stop: %q", r.ID, r.Reason)
			}
		}
	}
	for id := range seen {
		if !RuleIDs()[id] {
			t.Errorf("RuleIDs misses %s", id)
		}
	}
}

// The values follow the load.
func TestRuleValuesFollowTheLoad(t *testing.T) {
	small := Defaults()
	small.POPUsers = 100000
	big := testLoad()
	big.IMAPUsers = 100000
	value := func(l Load, o OS, id string) string {
		for _, r := range Rules(o, l, Compute(l)) {
			if r.ID == id {
				return r.Value
			}
		}
		t.Fatalf("no rule %s for %s", id, o)
		return ""
	}
	cases := []struct {
		o          OS
		id         string
		small, big string
	}{
		{Linux, "linux.nofile-soft", "16384", "401408"},
		{Linux, "linux.startup.ulimit-n", "16384", "401408"},
		{Solaris, "solaris.startup.ulimit-n", "32768", "401408"},
		{MacOS, "macos.startup.ulimit-n", "10000", "401408"},
		{Solaris, "solaris.conn-hash", "16384", "262144"},
		{FreeBSD, "freebsd.tcbhashsize", "16384", "262144"},
		{Windows, "windows.max-user-port", "20000", "20000"},
		{Windows, "windows.time-wait", "30", "30"},
		{Linux, "server.pop-channels", "140", "140"},
		{Linux, "linux.startup.defaultstacksize", "--DefaultStackSize 131072", "--DefaultStackSize 131072"},
	}
	for _, c := range cases {
		if got := value(small, c.o, c.id); got != c.small {
			t.Errorf("%s small load: %s, want %s", c.id, got, c.small)
		}
		if got := value(big, c.o, c.id); got != c.big {
			t.Errorf("%s big load: %s, want %s", c.id, got, c.big)
		}
	}
	// No channel limit of 0 (that would switch a protocol off).
	for _, r := range Rules(Linux, small, Compute(small)) {
		if strings.HasSuffix(r.ID, "-channels") && r.Value == "0" {
			t.Errorf("%s = 0 recommended", r.ID)
		}
	}
}

func TestParseOS(t *testing.T) {
	for _, o := range OSes {
		if got, err := ParseOS(strings.ToUpper(string(o))); err != nil || got != o {
			t.Errorf("ParseOS(%s) = %s, %v", o, got, err)
		}
	}
	for _, bad := range []string{"", "aix", "linux2"} {
		if _, err := ParseOS(bad); err == nil || !strings.Contains(err.Error(), "--os") {
			t.Errorf("ParseOS(%q): %v", bad, err)
		}
	}
}
