package tune

import (
	"fmt"
	"github.com/cgscale/cgscale/internal/human"
	"github.com/cgscale/cgscale/internal/plural"
	"math"
)

// Model is what the load means for the server: concurrency per protocol,
// the limits to configure, and the resources those limits take.
type Model struct {
	// Concurrent connections at the peak, per protocol.
	POPExact   float64 `json:"pop_sessions_exact"` // before rounding up
	POP        int64   `json:"pop_sessions"`
	IMAP       int64   `json:"imap_connections"`
	SMTPIn     int64   `json:"smtp_in_sessions"`
	SMTPOut    int64   `json:"smtp_out_sessions"`
	WebHTTP    int64   `json:"webuser_http_connections"`
	XIMSSTCP   int64   `json:"ximss_tcp_connections"`
	XIMSSHTTP  int64   `json:"ximss_http_connections"`
	SIPMedia   int64   `json:"sip_media_sockets"`
	Connection int64   `json:"connections"` // all of the above

	// Channel limits to configure (peak × headroom).
	POPChannels   int64 `json:"pop_channels"`
	IMAPChannels  int64 `json:"imap_channels"`
	HTTPChannels  int64 `json:"http_user_channels"`
	SMTPInChans   int64 `json:"smtp_in_channels"`
	SMTPOutChans  int64 `json:"smtp_out_channels"`
	ChannelTotal  int64 `json:"channel_total"` // every connection the limits allow, media sockets included
	SMTPOutNeeded int64 `json:"smtp_out_channels_needed"`

	// Descriptors and sockets.
	FDsForLoad int64 `json:"fds_for_load"` // twice the peak connections
	FDLimit    int64 `json:"fd_limit"`     // per-process limit to set (covers the channel limits)
	Sockets    int64 `json:"sockets"`      // sockets the limits allow
	HashSize   int64 `json:"conn_hash_size"`

	// Threads and their stacks.
	Threads        int64 `json:"threads"`
	ThreadsAtLimit int64 `json:"threads_at_limit"`
	StackBytes     int64 `json:"stack_bytes"`
	StackVM        int64 `json:"stack_vm_bytes"`
	StackVMAtLimit int64 `json:"stack_vm_at_limit_bytes"`
	VMLimitBytes   int64 `json:"vm_limit_bytes,omitempty"` // RAM + swap, when known

	// Local Delivery.
	LocalDelivery       int64   `json:"local_delivery_processors"` // 0: the default is enough
	LocalDeliveryNeeded int64   `json:"local_delivery_needed"`
	LocalDeliveryBasis  string  `json:"local_delivery_basis"`
	QueueDrainSeconds   float64 `json:"queue_200_drain_seconds"` // time a queue of 200 takes to drain

	// Outbound SMTP traffic.
	OutboundPeakKbps     float64 `json:"outbound_peak_kbps"`     // every channel sending at the peer's speed
	OutboundPeakMbps     float64 `json:"outbound_peak_mbps"`     // same, 1 Mbit = 1024 kbit
	OutboundExpectedMbps float64 `json:"outbound_expected_mbps"` // message rate × size
	SMTPChannelsByUplink int64   `json:"smtp_channels_by_uplink,omitempty"`

	// DNS and TCP churn.
	DNSConcurrent   int64   `json:"dns_concurrent_requests"`
	MessageRate     float64 `json:"message_rate"`
	ConnRate        float64 `json:"new_connections_per_second"`
	TimeWait60      int64   `json:"time_wait_sockets_60s"`
	TimeWaitBuckets int64   `json:"time_wait_buckets"`
	OutboundPorts   int64   `json:"outbound_ports"`
	SIPCPUs         int64   `json:"sip_cpus_needed"`

	Warnings []string `json:"warnings"`
}

// Figures from the vendor's chapter that the model rests on.
const (
	webSessionsPerConn = 30    // 100 HTTP connections serve 3,000 sessions
	fdFloor            = 16384 // descriptors per process that suit most systems
	socketFloor        = 8192
	dnsRateAlarm       = 50 // messages per second past which DNS becomes a concern
	dnsMin, dnsMax     = 10, 20
	sipCallsPerCPU     = 100
	localDeliveryAlarm = 1 // messages per second past which more processors pay
	localDeliveryFloor = 10
	bigMessageKB       = 20 // past this average size, the number of SMTP channels matters
	mib                = 1 << 20
	gib                = 1 << 30
	// Our assumptions (documented in the README):
	webRequestSeconds = 1 // a WebUser request holds its connection about a second
	mediaSocketsCall  = 4 // two legs, each with an RTP and an RTCP socket
	twSeconds         = 60
)

func ceil(v float64) int64 { return int64(math.Ceil(v - 1e-9)) }

func roundUp(v, step int64) int64 { return (v + step - 1) / step * step }

func nextPow2(v int64) int64 {
	p := int64(1)
	for p < v {
		p <<= 1
	}
	return p
}

// POPSessions is the vendor's formula: users × checks × session length over
// the peak period.
func POPSessions(users int64, checks, sessionSecs, peakHours float64) float64 {
	return float64(users) * checks * sessionSecs / (peakHours * 3600)
}

// QueueDrain is how long a Local Delivery queue of n messages takes to
// drain with the given processors, each taking deliveryMs per message.
func QueueDrain(n, processors int64, deliveryMs float64) float64 {
	if processors <= 0 {
		return math.Inf(1)
	}
	return float64(n) * deliveryMs / 1000 / float64(processors)
}

// Compute builds the model for l. l must have passed Validate.
func Compute(l Load) Model {
	var m Model
	h := l.Headroom

	m.POPExact = POPSessions(l.POPUsers, l.POPChecks, l.POPSessionSecs, l.PeakHours)
	m.POP = ceil(m.POPExact)
	m.IMAP = ceil(float64(l.IMAPUsers) * l.IMAPOnline * l.IMAPConnsPerUser)
	inSecs := l.SMTPOverhead + l.InboundSizeKB*8/l.PeerKbps
	outSecs := l.SMTPOverhead + l.OutboundSizeKB*8/l.PeerKbps
	m.SMTPIn = ceil(l.InboundRate * inSecs)
	m.SMTPOutNeeded = ceil(l.OutboundRate * outSecs)
	if l.WebKeepAlive {
		m.WebHTTP = l.WebSessions
	} else {
		m.WebHTTP = ceil(float64(l.WebSessions) / webSessionsPerConn)
	}
	if l.XIMSSBinding == "http" {
		m.XIMSSHTTP = l.XIMSSClients
	} else {
		m.XIMSSTCP = l.XIMSSClients
	}
	m.SIPMedia = l.SIPMediaCalls * mediaSocketsCall

	// Outbound channels: the configured number, or what the rate needs.
	m.SMTPOutChans = l.SMTPChannels
	if m.SMTPOutChans == 0 {
		m.SMTPOutChans = ceil(float64(m.SMTPOutNeeded) * h)
	}
	if l.UplinkMbps > 0 {
		m.SMTPChannelsByUplink = int64(l.UplinkMbps * 1024 / l.PeerKbps)
		if m.SMTPOutChans > m.SMTPChannelsByUplink {
			m.warn("%s at %s kbit/s each could send %s Mbit/s, more than the %s Mbit/s uplink: configure at most %d",
				plural.N(m.SMTPOutChans, "SMTP channel", "SMTP channels"), num(l.PeerKbps), num(math.Round(float64(m.SMTPOutChans)*l.PeerKbps/1024)), num(l.UplinkMbps), m.SMTPChannelsByUplink)
			if l.SMTPChannels == 0 {
				m.SMTPOutChans = m.SMTPChannelsByUplink
			}
		}
	}
	m.SMTPOut = m.SMTPOutNeeded
	if l.OutboundRate == 0 {
		m.SMTPOut = m.SMTPOutChans // no rate given: assume every channel busy
	}
	if m.SMTPOut > m.SMTPOutChans && m.SMTPOutChans > 0 {
		m.SMTPOut = m.SMTPOutChans
	}
	m.OutboundPeakKbps = float64(m.SMTPOutChans) * l.PeerKbps
	m.OutboundPeakMbps = m.OutboundPeakKbps / 1024
	m.OutboundExpectedMbps = l.OutboundRate * l.OutboundSizeKB * 8 / 1024
	if l.SMTPChannels > 0 && l.OutboundRate > 0 && m.SMTPOutNeeded > l.SMTPChannels {
		m.warn("%s/s need about %s, more than the %d configured", plural.N(l.OutboundRate, "outbound message", "outbound messages"), plural.N(m.SMTPOutNeeded, "SMTP channel", "SMTP channels"), l.SMTPChannels)
	}
	if (l.OutboundRate > 0 || l.SMTPChannels > 0) && l.OutboundSizeKB > bigMessageKB {
		m.warn("outbound messages average %s KB (over %d KB): channels spend most of their time sending data, so keep their number within the bandwidth (%s Mbit/s at the limit)",
			num(l.OutboundSizeKB), bigMessageKB, num(math.Round(m.OutboundPeakMbps)))
	}

	m.Connection = m.POP + m.IMAP + m.SMTPIn + m.SMTPOut + m.WebHTTP + m.XIMSSTCP + m.XIMSSHTTP + m.SIPMedia

	m.POPChannels = ceil(float64(m.POP) * h)
	m.IMAPChannels = ceil(float64(m.IMAP+m.XIMSSTCP) * h)
	m.HTTPChannels = ceil(float64(m.WebHTTP+m.XIMSSHTTP) * h)
	m.SMTPInChans = ceil(float64(m.SMTPIn) * h)
	tcpAtLimit := m.POPChannels + m.IMAPChannels + m.HTTPChannels + m.SMTPInChans + m.SMTPOutChans
	m.ChannelTotal = tcpAtLimit + ceil(float64(m.SIPMedia)*h)

	m.FDsForLoad = 2 * m.Connection
	m.FDLimit = max(fdFloor, roundUp(2*m.ChannelTotal, 1024))
	m.Sockets = max(socketFloor, m.ChannelTotal)
	m.HashSize = nextPow2(max(fdFloor, m.ChannelTotal))
	if m.FDLimit > 32768 {
		m.warn("%d descriptors per process is past the 32768 usually called safe: check that the kernel memory for that many sockets is there", m.FDLimit)
	}

	// Local Delivery processors.
	m.LocalDeliveryNeeded = ceil(l.InboundRate * l.DeliveryMs / 1000 * h)
	switch {
	case l.WritersKnee > 0:
		m.LocalDelivery = l.WritersKnee
		m.LocalDeliveryBasis = "the storage's preferred number of parallel writers (bench profile)"
		if m.LocalDeliveryNeeded > l.WritersKnee {
			m.warn("%s/s at %s ms each need about %s, more than the %s the storage prefers: the queue will grow",
				plural.N(l.InboundRate, "message", "messages"), num(l.DeliveryMs), plural.N(m.LocalDeliveryNeeded, "Local Delivery processor", "Local Delivery processors"), plural.N(l.WritersKnee, "writer", "writers"))
		}
	case l.InboundRate > localDeliveryAlarm:
		m.LocalDelivery = max(localDeliveryFloor, m.LocalDeliveryNeeded)
		m.LocalDeliveryBasis = "message rate × delivery time × headroom"
	default:
		m.LocalDeliveryBasis = "at most 1 message/s: the default number of processors is enough"
	}
	m.QueueDrainSeconds = QueueDrain(200, max(m.LocalDelivery, localDeliveryFloor), l.DeliveryMs)

	// Threads: one per connection (media is relayed by static threads),
	// plus the static ones.
	static := l.StaticThreads + m.LocalDelivery
	m.Threads = m.Connection - m.SIPMedia + static
	m.ThreadsAtLimit = tcpAtLimit + static
	m.StackBytes = l.StackKB * 1024
	m.StackVM = m.Threads * m.StackBytes
	m.StackVMAtLimit = m.ThreadsAtLimit * m.StackBytes
	if l.Bits == 32 {
		if m.ThreadsAtLimit > 4000 {
			m.warn("%d threads at the channel limits: a 32-bit server process past 4000 threads needs an OS that gives it more than 2 GB; run a 64-bit server", m.ThreadsAtLimit)
		}
		if m.StackVMAtLimit > 2*gib {
			m.warn("thread stacks alone take %s of virtual memory at the limits, more than the 2 GB a 32-bit process usually gets", human.Bytes(m.StackVMAtLimit))
		}
	}
	if l.RAMMB > 0 || l.SwapMB > 0 {
		m.VMLimitBytes = (l.RAMMB + l.SwapMB) * mib
		if m.StackVMAtLimit > m.VMLimitBytes/2 {
			m.warn("thread stacks take %s of virtual memory at the limits; RAM plus swap is %s and other processes share the swap: add swap",
				human.Bytes(m.StackVMAtLimit), human.Bytes(m.VMLimitBytes))
		}
	}

	// DNS resolver concurrency and TCP churn.
	m.MessageRate = l.InboundRate + l.OutboundRate
	m.DNSConcurrent = min(dnsMax, max(dnsMin, ceil(m.MessageRate/5)))
	if m.MessageRate > dnsRateAlarm {
		m.warn("%s messages/s: make sure the DNS servers keep up and UDP to them is not dropped; raising Concurrent Requests past %d tends to slow DNS down",
			num(m.MessageRate), dnsMax)
	}
	popRate := float64(l.POPUsers) * l.POPChecks / (l.PeakHours * 3600)
	webRate := 0.0
	if !l.WebKeepAlive {
		webRate = float64(m.WebHTTP) / webRequestSeconds
	}
	m.ConnRate = popRate + l.InboundRate + l.OutboundRate + webRate
	m.TimeWait60 = ceil(m.ConnRate * twSeconds)
	m.TimeWaitBuckets = max(131072, nextPow2(2*m.TimeWait60))
	m.OutboundPorts = m.SMTPOutChans + ceil(l.OutboundRate*twSeconds)
	m.SIPCPUs = ceil(l.SIPCallsPerSec / sipCallsPerCPU)
	if l.CPUs > 0 && m.SIPCPUs > int64(l.CPUs) {
		m.warn("%s/s need about %s for signalling alone; %d given", plural.N(l.SIPCallsPerSec, "SIP call", "SIP calls"), plural.N(m.SIPCPUs, "CPU", "CPUs"), l.CPUs)
	}
	if m.Warnings == nil {
		m.Warnings = []string{}
	}
	return m
}

func (m *Model) warn(format string, args ...any) {
	m.Warnings = append(m.Warnings, fmt.Sprintf(format, args...))
}
