package tune

import (
	"fmt"
	"github.com/cgscale/cgscale/internal/plural"
	"strconv"
	"strings"

	"github.com/cgscale/cgscale/errs"
)

// Emit kinds and the OS each one is written for.
var emitOS = map[string][]OS{
	"sysctl":     {Linux, FreeBSD, MacOS},
	"startup":    {Linux, FreeBSD, Solaris, HPUX, MacOS},
	"limits":     {Linux},
	"loader":     {FreeBSD},
	"etc-system": {Solaris},
	"registry":   {Windows},
}

// EmitKinds lists the --emit values.
var EmitKinds = []string{"sysctl", "startup", "limits", "loader", "etc-system", "registry"}

// EmitOS checks that kind exists and suits the target OS, which is o, or
// host when o is "" (no --os given): the rule is the same either way, so a
// kind written for another OS is refused, never silently retargeted. It
// returns the target.
func EmitOS(kind string, o, host OS) (OS, error) {
	oses, ok := emitOS[kind]
	if !ok {
		return "", errs.Errorf(errs.Usage, "tune", "--emit", "give one of "+strings.Join(EmitKinds, ", "), "unknown snippet kind %q", kind)
	}
	names := make([]string, len(oses))
	for i, x := range oses {
		names[i] = string(x)
	}
	forOS := names[0]
	if n := len(names); n > 1 {
		forOS = strings.Join(names[:n-1], ", ") + " or " + names[n-1]
	}
	target, note := o, ""
	if o == "" {
		if host == "" {
			return "", errs.Errorf(errs.Usage, "tune", "--emit "+kind, "--emit "+kind+" is for --os "+forOS,
				"this OS has no rule table, and --os is not given")
		}
		target, note = host, " (without --os, the running OS is used)"
	}
	for _, x := range oses {
		if x == target {
			return target, nil
		}
	}
	return "", errs.Errorf(errs.Usage, "tune", "--emit "+kind, "--emit "+kind+" is for --os "+forOS+note,
		"no %s snippet for %s", kind, target)
}

// Emit writes a ready-to-apply snippet of kind for o from its rules.
// header is a one-line description of the load, written as a comment.
// holds maps the IDs of settings that already meet the recommendation on
// the target system to their current value: those are written as comments
// only, so applying the snippet never lowers a value that is already higher.
func Emit(kind string, o OS, rules []Rule, header string, holds map[string]string) (string, error) {
	if _, err := EmitOS(kind, o, o); err != nil {
		return "", err
	}
	var b strings.Builder
	pick := func(where string) []Rule {
		var out []Rule
		for _, r := range rules {
			if r.Where == where {
				out = append(out, r)
			}
		}
		return out
	}
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	// each writes every rule of where: a comment with its ID and reason,
	// then the setting in the consumer's syntax (format takes key, value).
	each := func(where, comment, format string) {
		for _, r := range pick(where) {
			if cur, ok := holds[r.ID]; ok {
				line("%s %s: already %s here, which meets %s: left as it is", comment, r.ID, cur, r.Value)
				continue
			}
			line("%s %s: %s", comment, r.ID, r.Reason)
			line(format, r.Key, r.Value)
		}
	}
	switch kind {
	case "sysctl":
		if o == Linux {
			line("# /etc/sysctl.d/60-communigate.conf, computed by cgscale tune for %s", header)
			line("# Load it with: sysctl --system")
			each(WhereSysctl, "#", "%s = %s")
			break
		}
		line("# /etc/sysctl.conf additions, computed by cgscale tune for %s", header)
		each(WhereSysctlConf, "#", "%s=%s")
	case "startup":
		line("# Lines for /var/CommuniGate/Startup.sh, computed by cgscale tune for %s", header)
		line("# The server's init script reads this file when it starts; restart the server to apply.")
		var params []string
		for _, r := range pick(WhereStartup) {
			if strings.HasPrefix(r.Key, "SUPPLPARAMS ") {
				params = append(params, r.Value)
			}
		}
		line(`SUPPLPARAMS="%s"`, strings.Join(params, " "))
		for _, r := range pick(WhereStartup) {
			if strings.HasPrefix(r.Key, "ulimit ") {
				line("# %s: %s", r.ID, r.Reason)
				line("%s %s", r.Key, r.Value)
			}
		}
		if o == Solaris {
			line("# solaris.mtmalloc: with more than 2 CPUs, the multithreaded allocator helps:")
			line("# LD_PRELOAD=libmtmalloc.so; export LD_PRELOAD")
		}
	case "limits":
		line("# /etc/systemd/system/communigate.service.d/limits.conf (use the server's unit name),")
		line("# computed by cgscale tune for %s", header)
		line("# Apply with: systemctl daemon-reload, then restart the server.")
		line("[Service]")
		each(WhereSystemd, "#", "%s=%s")
	case "loader":
		line("# /boot/loader.conf additions, computed by cgscale tune for %s", header)
		line("# Boot-time tunables: they take effect at the next reboot.")
		each(WhereLoader, "#", "%s=%q")
		line("")
		line("# /etc/sysctl.conf additions (run-time; `service sysctl restart` applies them)")
		each(WhereSysctlConf, "#", "%s=%s")
	case "etc-system":
		line("* /etc/system additions, computed by cgscale tune for %s", header)
		line("* They take effect at the next reboot.")
		each(WhereEtcSystem, "*", "set %s=%s")
		line("*")
		line("* TCP parameters are not /etc/system settings: run these from a boot script.")
		for _, r := range pick(WhereNdd) {
			line("* ndd -set /dev/tcp %s %s", r.Key, r.Value)
		}
	case "registry":
		// regedit wants CRLF line ends; the header must be the first line.
		crlf := func(s string) { b.WriteString(s + "\r\n") }
		crlf("Windows Registry Editor Version 5.00")
		crlf("")
		crlf("; Computed by cgscale tune for " + header)
		crlf("; Import with regedit, then restart Windows for the TCP/IP changes to apply.")
		crlf("[" + WindowsTCPKey + "]")
		for _, r := range pick(WhereRegistry) {
			v, err := strconv.ParseUint(r.Value, 10, 32)
			if err != nil {
				return "", errs.Errorf(errs.Failed, "emit registry", r.ID, "", "value %q is not a DWORD", r.Value)
			}
			crlf("; " + r.ID + ": " + r.Reason)
			crlf(fmt.Sprintf("%q=dword:%08x", r.Key, v))
		}
	}
	return b.String(), nil
}

// Summary is a one-line description of the load for snippet headers.
func Summary(m Model) string {
	return fmt.Sprintf("%s at the peak (%d allowed by the channel limits), %s", plural.N(m.Connection, "connection", "connections"), m.ChannelTotal, plural.N(m.ThreadsAtLimit, "thread", "threads"))
}
