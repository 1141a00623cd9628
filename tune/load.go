// Package tune turns an expected load into tuning advice for a CommuniGate
// Pro server: a capacity model (sessions, channels, descriptors, threads,
// memory, delivery processors, outbound traffic, DNS concurrency), per-OS
// rule tables with a stable ID per setting, a live check of a Linux system
// read through an afero file system, and ready-to-apply snippets.
//
// Nothing here changes the system: the package computes, reads and formats.
package tune

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/spf13/afero"

	"github.com/cgscale/cgscale/errs"
)

// Load is the expected peak load and the facts about the machine the
// model needs. Field names in JSON are the --profile format (see the README).
// Zero means "none" for loads; Defaults fills the assumptions.
type Load struct {
	PeakHours float64 `json:"peak_hours"` // length of the daily peak period
	Headroom  float64 `json:"headroom"`   // channel limits = peak concurrency × headroom

	POPUsers       int64   `json:"pop_users"`
	POPChecks      float64 `json:"pop_checks_per_peak"` // mail checks per user in the peak period
	POPSessionSecs float64 `json:"pop_session_seconds"` // length of one check

	IMAPUsers        int64   `json:"imap_users"`
	IMAPConnsPerUser float64 `json:"imap_connections_per_user"`
	IMAPOnline       float64 `json:"imap_online_fraction"` // share of IMAP users connected at the peak

	WebSessions  int64 `json:"webuser_sessions"` // open WebUser sessions at the peak
	WebKeepAlive bool  `json:"webuser_keepalive"`

	XIMSSClients int64  `json:"ximss_clients"`
	XIMSSBinding string `json:"ximss_binding"` // "tcp" or "http"

	SIPCallsPerSec float64 `json:"sip_calls_per_second"` // signalling load
	SIPMediaCalls  int64   `json:"sip_media_calls"`      // concurrent calls whose media the server relays

	InboundRate    float64 `json:"inbound_rate"`    // messages per second received by SMTP at the peak
	InboundSizeKB  float64 `json:"inbound_size_kb"` // average message size
	OutboundRate   float64 `json:"outbound_rate"`   // messages per second sent by SMTP at the peak
	OutboundSizeKB float64 `json:"outbound_size_kb"`
	SMTPChannels   int64   `json:"smtp_channels"`         // configured outbound SMTP channels (0: computed)
	PeerKbps       float64 `json:"peer_kbps"`             // bandwidth of a typical remote peer
	UplinkMbps     float64 `json:"uplink_mbps"`           // the site's outbound bandwidth (0: unknown)
	SMTPOverhead   float64 `json:"smtp_overhead_seconds"` // negotiation and envelope time per message

	DeliveryMs  float64 `json:"delivery_ms"`  // storage time of one local delivery
	WritersKnee int64   `json:"writers_knee"` // storage's preferred parallel writers (from cgscale bench)

	StackKB       int64 `json:"stack_kb"`       // thread stack size of the server
	StaticThreads int64 `json:"static_threads"` // threads that exist regardless of load
	RAMMB         int64 `json:"ram_mb"`         // 0: read from the live system, or unknown
	SwapMB        int64 `json:"swap_mb"`
	Bits          int   `json:"bits"` // 64 or 32: the server process
	CPUs          int   `json:"cpus"` // 0: unknown
}

// Defaults returns a Load with no load and the model's documented
// assumptions filled in.
func Defaults() Load {
	return Load{
		PeakHours:        12,
		Headroom:         2,
		POPChecks:        2,
		POPSessionSecs:   15,
		IMAPConnsPerUser: 1,
		IMAPOnline:       1,
		XIMSSBinding:     "tcp",
		InboundSizeKB:    50,
		OutboundSizeKB:   50,
		PeerKbps:         512,
		SMTPOverhead:     2,
		DeliveryMs:       100,
		StackKB:          128,
		StaticThreads:    200,
		Bits:             64,
	}
}

// A limit on one field: its flag/JSON name, the value and the sane range.
type bound struct {
	name     string
	v        float64
	min, max float64
}

// Validate rejects negative, absurd or inconsistent values, naming the
// field (as its JSON/flag name) in the error.
func (l Load) Validate() error {
	const big = 1e9
	bounds := []bound{
		{"peak-hours", l.PeakHours, 0.1, 24},
		{"headroom", l.Headroom, 1, 10},
		{"pop-users", float64(l.POPUsers), 0, big},
		{"pop-checks", l.POPChecks, 0, 10000},
		{"pop-session", l.POPSessionSecs, 0, 86400},
		{"imap-users", float64(l.IMAPUsers), 0, big},
		{"imap-connections", l.IMAPConnsPerUser, 0, 100},
		{"imap-online", l.IMAPOnline, 0, 1},
		{"webuser-sessions", float64(l.WebSessions), 0, big},
		{"ximss-clients", float64(l.XIMSSClients), 0, big},
		{"sip-cps", l.SIPCallsPerSec, 0, 1e6},
		{"sip-media-calls", float64(l.SIPMediaCalls), 0, 1e7},
		{"inbound-rate", l.InboundRate, 0, 1e6},
		{"inbound-size", l.InboundSizeKB, 0, 1e7},
		{"outbound-rate", l.OutboundRate, 0, 1e6},
		{"outbound-size", l.OutboundSizeKB, 0, 1e7},
		{"smtp-channels", float64(l.SMTPChannels), 0, 1e6},
		{"peer-kbps", l.PeerKbps, 1, 1e8},
		{"uplink-mbps", l.UplinkMbps, 0, 1e7},
		{"smtp-overhead", l.SMTPOverhead, 0, 3600},
		{"delivery-ms", l.DeliveryMs, 0.01, 600000},
		{"writers-knee", float64(l.WritersKnee), 0, 100000},
		{"stack-kb", float64(l.StackKB), 16, 65536},
		{"static-threads", float64(l.StaticThreads), 0, 1e6},
		{"ram-mb", float64(l.RAMMB), 0, 1 << 40},
		{"swap-mb", float64(l.SwapMB), 0, 1 << 40},
		{"cpus", float64(l.CPUs), 0, 1 << 20},
	}
	for _, b := range bounds {
		if math.IsNaN(b.v) || math.IsInf(b.v, 0) || b.v < b.min || b.v > b.max {
			return errs.Errorf(errs.BadInput, "tune", "--"+b.name, fmt.Sprintf("give a value from %s to %s", num(b.min), num(b.max)),
				"%s is out of range", num(b.v))
		}
	}
	// Each input may be sane while their product is not (a rate times a
	// session length, users times connections): refuse loads whose
	// concurrency no single server could hold, before any figure overflows.
	const maxConns = 1e8
	smtpIn := l.InboundRate * (l.SMTPOverhead + l.InboundSizeKB*8/l.PeerKbps)
	smtpOut := l.OutboundRate * (l.SMTPOverhead + l.OutboundSizeKB*8/l.PeerKbps)
	products := []struct {
		name string
		v    float64
	}{
		{"--pop-users", POPSessions(l.POPUsers, l.POPChecks, l.POPSessionSecs, l.PeakHours)},
		{"--imap-users", float64(l.IMAPUsers) * l.IMAPConnsPerUser},
		{"--inbound-rate", smtpIn},
		{"--outbound-rate", smtpOut},
		{"--sip-media-calls", float64(l.SIPMediaCalls) * mediaSocketsCall},
		{"--pop-users, --imap-users, --webuser-sessions, --ximss-clients and the rates together",
			POPSessions(l.POPUsers, l.POPChecks, l.POPSessionSecs, l.PeakHours) + float64(l.IMAPUsers)*l.IMAPConnsPerUser +
				float64(l.WebSessions) + float64(l.XIMSSClients) + smtpIn + smtpOut + float64(l.SIPMediaCalls)*mediaSocketsCall},
	}
	for _, p := range products {
		if p.v > maxConns {
			return errs.Errorf(errs.BadInput, "tune", p.name, "check the units: rates are per second, sizes in KB, bandwidth in kbit/s",
				"the load means about %.3g concurrent connections, more than one server can hold (%.0e)", p.v, maxConns)
		}
	}
	if l.Bits != 32 && l.Bits != 64 {
		return errs.Errorf(errs.BadInput, "tune", "--bits", "give 32 or 64", "%d is not a process width", l.Bits)
	}
	if l.XIMSSBinding != "tcp" && l.XIMSSBinding != "http" {
		return errs.Errorf(errs.BadInput, "tune", "--ximss-binding", "give tcp or http", "unknown binding %q", l.XIMSSBinding)
	}
	return nil
}

func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}

// BenchSchemaPrefix marks a profile written by `cgscale bench`; from such
// a file only writers_knee is read.
const BenchSchemaPrefix = "cgscale.bench/"

// LoadSchema is the optional "schema" value of a load profile.
const LoadSchema = "cgscale.tune-load/v1"

// ReadProfile applies the JSON profile at path onto l: fields present in
// the file replace l's, absent ones keep their value. A load profile may
// carry any Load field (and "schema": "cgscale.tune-load/v1"); unknown
// fields are an error, so a typo does not pass silently. A bench profile
// (schema "cgscale.bench/...") contributes only its top-level writers_knee.
func ReadProfile(fsys afero.Fs, path string, l *Load) error {
	data, err := afero.ReadFile(fsys, path)
	if err != nil {
		return errs.New(errs.BadInput, "read profile", path, err, "give a readable JSON file to --profile")
	}
	var head struct {
		Schema      string `json:"schema"`
		WritersKnee *int64 `json:"writers_knee"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return errs.New(errs.BadInput, "read profile", path, err, "the profile must be one JSON object; see `cgscale help tune`")
	}
	if strings.HasPrefix(head.Schema, BenchSchemaPrefix) {
		if head.WritersKnee == nil {
			return errs.Errorf(errs.BadInput, "read profile", path, "rerun `cgscale bench` with --json, or drop this --profile",
				"bench profile has no writers_knee")
		}
		l.WritersKnee = *head.WritersKnee
		return nil
	}
	if head.Schema != "" && head.Schema != LoadSchema {
		return errs.Errorf(errs.BadInput, "read profile", path, "use "+LoadSchema+" or a cgscale.bench profile", "unknown schema %q", head.Schema)
	}
	wrap := struct {
		Schema string `json:"schema"`
		*Load
	}{Load: l}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&wrap); err != nil {
		return errs.New(errs.BadInput, "read profile", path, err, "field names are listed in `cgscale help tune`")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errs.Errorf(errs.BadInput, "read profile", path, "the profile must be one JSON object", "trailing data after the object")
	}
	return nil
}
