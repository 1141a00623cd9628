// Package migrate changes the shape of a store safely: it holds the store
// lock, refuses while the mail server runs, records every step in a journal
// that a later run can finish, and relocates directories to other volumes
// (copy with full metadata, verify, swap in a symbolic link atomically,
// delete the old tree without ever following a link out of it).
//
// # Journal format
//
// A journal is one file, BASE/.cgscale/journal/<id>.jsonl, of JSON lines.
// Each line is one Record. The file is only ever appended to; each append
// is written and fsynced before the step it describes is taken further, and
// the directory is fsynced when the file is created, so after a crash or a
// power loss the journal shows at least every step that had completed.
// A torn last line (a write cut short) is ignored when the journal is read.
//
// A job starts with {"kind":"job","step":"begin"} and ends with
// {"kind":"job","step":"end","note":"done"|"rolled back"|...}; a journal
// without the end record is unfinished and must be resumed before the store
// is changed again. Between them come the records of each operation, told
// apart by "op" (its index in the job) and "kind":
//
//   - kind "move" (a relocation): "begin" (src, dst, link text, temp name,
//     target device and filesystem id, options), "created" (dst exists,
//     with its device and inode, before anything is copied into it; only
//     that directory is ever deleted at dst), "verifying" (opts
//     "changed-after": the source filesystem's time, seconds.nanoseconds,
//     after which a change to the source may have escaped the verify; the
//     deletion of the old tree keeps what changed later), then "copied"
//     (the copy is complete and synced), "verified", "swapped" (src is now
//     the link and temp holds the old directory), "removing" (the
//     deletion of the old tree begins: a resumed one knows that part of
//     the tree may be gone), "removed" (the old tree
//     is gone, or all of it but what changed late), "keeping" (written
//     before the old tree, or what is left of it, is renamed to the kept
//     path it names) and "kept", "done"; or "rolled back" when the
//     move was abandoned before the swap with the source untouched. In an
//     apply's journal "op" is the relocation's index in the plan; a
//     relocation rolled back and tried again by apply --resume gets a new
//     "begin", and only the records from the last one count.
//   - kind "batch" (apply): "begin" with "op" the first operation of a
//     batch of renames and opts.end one past its last, written and synced
//     before the batch is touched. The begin record of an apply's job
//     carries opts.command "apply" and the plan's checksum; cgscale move
//     --resume leaves such a journal to apply --resume.
//   - kind "undo" (apply --undo): "begin" with opts.end.
//
// With --rewrite-relative-links a relocation also records, before
// "copied", one "link rewritten" per relative link that led out of the
// tree: src is the link in the copy, link its new absolute text, note its
// text in the source.
//
// # Journal lifetime
//
// Each new job prunes the journal directory before it writes its own
// journal: completed journals beyond the newest KeepJournals (50) are
// deleted. Unfinished journals are never deleted, nor those that cannot
// be read, nor those recording a relocation whose link still stands at
// its source (scan compares such links with the volume recorded there).
// The lock file BASE/.cgscale.lock is never deleted: an flock on one
// stable file is released by the kernel with the process, and removing
// the file would let two runs lock two different files.
//
// Until "swapped" the source is the truth and resuming restarts the copy
// from scratch; from "swapped" on the copy is the truth and resuming
// finishes the clean-up. The swap itself is checked on disk, not only in
// the journal, since a crash can fall between the rename and its record.
package migrate
