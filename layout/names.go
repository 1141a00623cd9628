// Package layout is the model of a CommuniGate Pro store on disk: what each
// name means, the subdirectory schemes, the walker, the audit report and its
// findings, and the generator of sample stores.
package layout

// Name suffixes and fixed names of the store layout.
const (
	AccountsDir    = "Accounts" // the Main Domain's accounts, under the base
	DomainsDir     = "Domains"  // one directory per secondary domain
	QueueDir       = "Queue"
	SettingsDir    = "Settings" // in a domain: settings, not accounts
	ProcessIDFile  = "ProcessID"
	StartupFile    = "Startup.sh"
	MacntSuffix    = ".macnt"    // multi-mailbox account directory
	MboxSuffix     = ".mbox"     // text-file mailbox (or mailbox directory)
	MdirSuffix     = ".mdir"     // mailbox directory, one file per message (suffix unconfirmed)
	MntSuffix      = ".mnt"      // storage mount point inside a domain
	SettingsSuffix = ".settings" // single-mailbox account settings sibling
	InfoSuffix     = ".info"     // single-mailbox account info sibling
	DefaultBase    = "/var/CommuniGate"
)

// ShellQuote quotes s for a POSIX shell when it needs it, for the
// commands that reports and hints print.
func ShellQuote(s string) string { return shellQuote(s) }
