package tune

import (
	"github.com/cgscale/cgscale/internal/plural"
	"math"
	"strings"
	"testing"

	"github.com/spf13/afero"

	"github.com/cgscale/cgscale/errs"
)

// The vendor's worked example: 100,000 POP users checking twice in 12 peak
// hours, 15 s per check, give about 70 concurrent sessions.
func TestPOPSessionsChapterExample(t *testing.T) {
	cases := []struct {
		users              int64
		checks, secs, peak float64
		exact              float64
		rounded            int64
	}{
		{100000, 2, 15, 12, 69.444, 70},
		{200000, 2, 15, 12, 138.889, 139},
		{100000, 4, 15, 12, 138.889, 139},
		{100000, 2, 15, 6, 138.889, 139},
		{0, 2, 15, 12, 0, 0},
		{43200, 1, 1, 12, 1, 1},
	}
	for _, c := range cases {
		l := Defaults()
		l.POPUsers, l.POPChecks, l.POPSessionSecs, l.PeakHours = c.users, c.checks, c.secs, c.peak
		m := Compute(l)
		if math.Abs(m.POPExact-c.exact) > 0.001 || m.POP != c.rounded {
			t.Errorf("%d users × %g × %g s / %g h: got %.3f → %d, want %.3f → %d", c.users, c.checks, c.secs, c.peak, m.POPExact, m.POP, c.exact, c.rounded)
		}
	}
}

// File descriptors are twice the connections, whatever the mix.
func TestFDsTwiceConnections(t *testing.T) {
	cases := []struct {
		name  string
		set   func(*Load)
		conns int64
	}{
		{"pop only", func(l *Load) { l.POPUsers = 100000 }, 70},
		{"imap", func(l *Load) { l.IMAPUsers = 20000 }, 20000},
		{"imap half online, two each", func(l *Load) { l.IMAPUsers, l.IMAPOnline, l.IMAPConnsPerUser = 1000, 0.5, 2 }, 1000},
		{"webuser 3000 sessions without keep-alive", func(l *Load) { l.WebSessions = 3000 }, 100},
		{"webuser 3000 sessions with keep-alive", func(l *Load) { l.WebSessions, l.WebKeepAlive = 3000, true }, 3000},
		{"ximss over http", func(l *Load) { l.XIMSSClients, l.XIMSSBinding = 500, "http" }, 500},
		{"sip media", func(l *Load) { l.SIPMediaCalls = 100 }, 400},
		// 10 msg/s of 50 KB at 512 kbit/s: 2 s + 0.78 s each, so 28 sessions.
		{"smtp in", func(l *Load) { l.InboundRate = 10 }, 28},
	}
	for _, c := range cases {
		l := Defaults()
		c.set(&l)
		if err := l.Validate(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		m := Compute(l)
		if m.Connection != c.conns {
			t.Errorf("%s: %d connections, want %d", c.name, m.Connection, c.conns)
		}
		if m.FDsForLoad != 2*c.conns {
			t.Errorf("%s: %d descriptors, want twice %d", c.name, m.FDsForLoad, c.conns)
		}
		if m.FDLimit < fdFloor || m.FDLimit < 2*m.ChannelTotal || m.FDLimit%1024 != 0 {
			t.Errorf("%s: descriptor limit %d must be ≥ %d, ≥ twice the %d channels, and a multiple of 1024", c.name, m.FDLimit, fdFloor, m.ChannelTotal)
		}
	}
}

// 128 KB stacks: 1,000 threads reserve 125 MB, inside the 100-150 MB the
// chapter gives for 500-1,000 threads; 500 threads reserve 62.5 MB.
func TestThreadStackMemory(t *testing.T) {
	for _, c := range []struct {
		threads int64
		mib     float64
	}{{1000, 125}, {500, 62.5}, {4000, 500}, {16384, 2048}} {
		l := Defaults()
		l.StaticThreads = c.threads
		m := Compute(l)
		if m.Threads != c.threads {
			t.Fatalf("threads: got %d want %d", m.Threads, c.threads)
		}
		if got := float64(m.StackVM) / mib; got != c.mib {
			t.Errorf("%d threads × 128 KB = %g MiB, want %g", c.threads, got, c.mib)
		}
	}
}

// The chapter's small machine: 127 MB swap + 96 MB RAM is about 220 MB of
// virtual memory, of which the server effectively gets half: 1,000 threads'
// stacks (125 MB) do not fit, 500 (62.5 MB) do.
func TestVirtualMemoryWarning(t *testing.T) {
	l := Defaults()
	l.RAMMB, l.SwapMB, l.StaticThreads = 96, 127, 1000
	m := Compute(l)
	if m.VMLimitBytes != 223*mib {
		t.Errorf("VM limit %d, want 223 MiB", m.VMLimitBytes)
	}
	if !hasWarning(m, "add swap") {
		t.Errorf("1000 threads on 223 MB: no swap warning in %q", m.Warnings)
	}
	l.StaticThreads = 500
	if m := Compute(l); hasWarning(m, "add swap") {
		t.Errorf("500 threads on 223 MB: unexpected warning %q", m.Warnings)
	}
}

func TestThirtyTwoBitWarnings(t *testing.T) {
	l := Defaults()
	l.Bits = 32
	l.StaticThreads = 4001
	if m := Compute(l); !hasWarning(m, "64-bit") {
		t.Errorf("4001 threads in a 32-bit process: no warning in %q", m.Warnings)
	}
	l.StaticThreads = 17000 // 17000 × 128 KB > 2 GB
	if m := Compute(l); !hasWarning(m, "2 GB a 32-bit process") {
		t.Errorf("17000 threads in a 32-bit process: no 2 GB warning in %q", m.Warnings)
	}
	l.Bits = 64
	if m := Compute(l); len(m.Warnings) != 0 {
		t.Errorf("64-bit: unexpected warnings %q", m.Warnings)
	}
}

// 500 channels to peers at 512 kbit/s can send 250 Mbit/s.
func TestSMTPChannelBandwidthChapterExample(t *testing.T) {
	l := Defaults()
	l.SMTPChannels, l.PeerKbps = 500, 512
	m := Compute(l)
	if m.OutboundPeakKbps != 256000 || m.OutboundPeakMbps != 250 {
		t.Errorf("500 × 512 kbit/s: got %g kbit/s = %g Mbit/s, want 256000 = 250", m.OutboundPeakKbps, m.OutboundPeakMbps)
	}
	// On a 100 Mbit/s uplink at most 200 such channels make sense.
	l.UplinkMbps = 100
	m = Compute(l)
	if m.SMTPChannelsByUplink != 200 || !hasWarning(m, "configure at most 200") {
		t.Errorf("uplink 100 Mbit/s: by uplink %d, warnings %q", m.SMTPChannelsByUplink, m.Warnings)
	}
	if m.SMTPOutChans != 500 {
		t.Errorf("configured channels must be reported as given, got %d", m.SMTPOutChans)
	}
	// Computed from the rate: 20 msg/s of 50 KB: 2.78 s each → 56 busy, 112 with headroom.
	l = Defaults()
	l.OutboundRate = 20
	m = Compute(l)
	if m.SMTPOutNeeded != 56 || m.SMTPOutChans != 112 {
		t.Errorf("20 msg/s: need %d, channels %d; want 56 and 112", m.SMTPOutNeeded, m.SMTPOutChans)
	}
	if got := m.OutboundExpectedMbps; math.Abs(got-7.8125) > 1e-9 {
		t.Errorf("20 msg/s × 50 KB = %g Mbit/s, want 7.8125", got)
	}
}

// 10 processors and a queue of 200 give 1-2 s of latency when a delivery
// takes 50-100 ms; the processor count follows the message rate.
func TestLocalDelivery(t *testing.T) {
	if got := QueueDrain(200, 10, 100); got != 2 {
		t.Errorf("200 queued, 10 processors, 100 ms: %g s, want 2", got)
	}
	if got := QueueDrain(200, 10, 50); got != 1 {
		t.Errorf("200 queued, 10 processors, 50 ms: %g s, want 1", got)
	}
	cases := []struct {
		rate  float64
		knee  int64
		want  int64
		basis string
	}{
		{0.5, 0, 0, "default"},
		{1, 0, 0, "default"},
		{20, 0, 10, "rate"},  // 20 × 0.1 × 2 = 4, floor 10
		{200, 0, 40, "rate"}, // 200 × 0.1 × 2
		{200, 100, 100, "bench"},
		{500, 30, 30, "bench"}, // needs 100: warning
	}
	for _, c := range cases {
		l := Defaults()
		l.InboundRate, l.WritersKnee = c.rate, c.knee
		m := Compute(l)
		if m.LocalDelivery != c.want {
			t.Errorf("rate %g knee %d: %d processors, want %d", c.rate, c.knee, m.LocalDelivery, c.want)
		}
		if c.basis == "bench" && !strings.Contains(m.LocalDeliveryBasis, "bench") {
			t.Errorf("rate %g knee %d: basis %q does not name the bench profile", c.rate, c.knee, m.LocalDeliveryBasis)
		}
		if warned := hasWarning(m, "queue will grow"); warned != (m.LocalDeliveryNeeded > c.knee && c.knee > 0) {
			t.Errorf("rate %g knee %d: queue warning %v with %d needed", c.rate, c.knee, warned, m.LocalDeliveryNeeded)
		}
	}
}

func TestDNSConcurrency(t *testing.T) {
	for _, c := range []struct {
		in, out float64
		want    int64
		warn    bool
	}{{0, 0, 10, false}, {30, 20, 10, false}, {50, 25, 15, true}, {400, 400, 20, true}} {
		l := Defaults()
		l.InboundRate, l.OutboundRate = c.in, c.out
		m := Compute(l)
		if m.DNSConcurrent != c.want || hasWarning(m, "DNS servers") != c.warn {
			t.Errorf("%g+%g msg/s: %d concurrent requests, warnings %q; want %d, warn %v", c.in, c.out, m.DNSConcurrent, m.Warnings, c.want, c.warn)
		}
	}
}

func TestValidateRejectsBadLoads(t *testing.T) {
	cases := []struct {
		flag string
		set  func(*Load)
	}{
		{"--pop-users", func(l *Load) { l.POPUsers = -1 }},
		{"--imap-users", func(l *Load) { l.IMAPUsers = 1e12 }},
		{"--imap-online", func(l *Load) { l.IMAPOnline = 1.5 }},
		{"--peak-hours", func(l *Load) { l.PeakHours = 0 }},
		{"--peak-hours", func(l *Load) { l.PeakHours = 25 }},
		{"--headroom", func(l *Load) { l.Headroom = 0.5 }},
		{"--inbound-rate", func(l *Load) { l.InboundRate = math.NaN() }},
		{"--outbound-rate", func(l *Load) { l.OutboundRate = math.Inf(1) }},
		{"--stack-kb", func(l *Load) { l.StackKB = 1 }},
		{"--bits", func(l *Load) { l.Bits = 16 }},
		{"--ximss-binding", func(l *Load) { l.XIMSSBinding = "udp" }},
		{"--imap-users", func(l *Load) { l.IMAPUsers, l.IMAPConnsPerUser = 1e9, 100 }},
		{"--inbound-rate", func(l *Load) { l.InboundRate, l.InboundSizeKB, l.PeerKbps = 1e6, 1e7, 1 }},
		{"together", func(l *Load) { l.POPUsers, l.IMAPUsers, l.WebSessions, l.XIMSSClients = 1e9, 9e7, 9e7, 9e7 }},
	}
	for _, c := range cases {
		l := Defaults()
		c.set(&l)
		err := l.Validate()
		if err == nil {
			t.Errorf("%s: accepted", c.flag)
			continue
		}
		if errs.KindOf(err) != errs.BadInput || !strings.Contains(err.Error(), c.flag) || errs.HintOf(err) == "" {
			t.Errorf("%s: error %q (kind %v, hint %q) must be bad input naming the flag, with a hint", c.flag, err, errs.KindOf(err), errs.HintOf(err))
		}
	}
	if err := Defaults().Validate(); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func TestReadProfile(t *testing.T) {
	fsys := afero.NewMemMapFs()
	files := map[string]string{
		"load.json":     `{"schema": "cgscale.tune-load/v1", "pop_users": 100000, "imap_users": 20000, "webuser_keepalive": true, "writers_knee": 12}`,
		"typo.json":     `{"pop_user": 5}`,
		"bench.json":    `{"schema": "cgscale.bench/v1", "writers_knee": 48, "results": [{"writers": 1}]}`,
		"noknee.json":   `{"schema": "cgscale.bench/v1", "results": []}`,
		"broken.json":   `{"pop_users": `,
		"twice.json":    `{"pop_users": 1} {"pop_users": 2}`,
		"schema.json":   `{"schema": "cgscale.scan/v1"}`,
		"negative.json": `{"pop_users": -5}`,
	}
	for n, s := range files {
		if err := afero.WriteFile(fsys, n, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l := Defaults()
	l.IMAPOnline = 0.25 // absent from the file: must survive
	if err := ReadProfile(fsys, "load.json", &l); err != nil {
		t.Fatal(err)
	}
	if l.POPUsers != 100000 || l.IMAPUsers != 20000 || !l.WebKeepAlive || l.WritersKnee != 12 || l.IMAPOnline != 0.25 || l.PeakHours != 12 {
		t.Errorf("load profile applied wrongly: %+v", l)
	}
	if err := ReadProfile(fsys, "bench.json", &l); err != nil || l.WritersKnee != 48 || l.POPUsers != 100000 {
		t.Errorf("bench profile: err %v, knee %d, pop %d", err, l.WritersKnee, l.POPUsers)
	}
	for _, n := range []string{"typo.json", "noknee.json", "broken.json", "twice.json", "schema.json", "missing.json"} {
		err := ReadProfile(fsys, n, &l)
		if err == nil || errs.KindOf(err) != errs.BadInput || !strings.Contains(err.Error(), n) {
			t.Errorf("%s: error %v must be bad input naming the file", n, err)
		}
	}
	if err := ReadProfile(fsys, "typo.json", &l); !strings.Contains(err.Error(), "pop_user") {
		t.Errorf("typo: error %v does not name the field", err)
	}
	// A negative value reads, and Validate then rejects it.
	l = Defaults()
	if err := ReadProfile(fsys, "negative.json", &l); err != nil {
		t.Fatal(err)
	}
	if err := l.Validate(); err == nil {
		t.Error("negative pop_users from a profile accepted")
	}
}

func hasWarning(m Model, part string) bool {
	for _, w := range m.Warnings {
		if strings.Contains(w, part) {
			return true
		}
	}
	return false
}

func TestCount(t *testing.T) {
	cases := []struct {
		got, want string
	}{
		{plural.N(1, "setting", "settings"), "1 setting"},
		{plural.N(0, "setting", "settings"), "0 settings"},
		{plural.N(int64(2), "user", "users"), "2 users"},
		{plural.N(1.0, "message", "messages"), "1 message"},
		{plural.N(1.5, "message", "messages"), "1.5 messages"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
