package fsbench

import (
	"context"
	"fmt"
	"github.com/cgscale/cgscale/internal/plural"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/layout"
)

// WriterSweep is the delivery throughput at each writer count, and the
// recommended number of parallel writers (Local Delivery processors).
type WriterSweep struct {
	MsgSize  int          `json:"msg_size"`
	Seconds  float64      `json:"seconds_per_step"`
	Accounts int          `json:"accounts"`
	Steps    []WriterStep `json:"steps"`
	// Recommended is the knee of the curve (see WriterKnee); 0 until
	// every writer count has run at least once.
	Recommended int `json:"recommended_writers"`
	// StillGrowing is true when the largest count tried was still the
	// best by more than the knee margin: more writers might do better.
	StillGrowing bool   `json:"still_growing"`
	Rule         string `json:"rule"`
}

// WriterStep is one writer count's result.
type WriterStep struct {
	Writers  int   `json:"writers"`
	Messages int64 `json:"messages"`
	// PerSec is the median of the rounds' rates, messages per second.
	PerSec      float64   `json:"per_sec"`
	RoundPerSec []float64 `json:"round_per_sec"`
	P50ns       int64     `json:"p50_ns"`
	P99ns       int64     `json:"p99_ns"`
	// Seconds is how long the rounds ran together: the full time, or
	// less when a round stopped at its space budget (half the free space
	// and inodes of the volume), which Capped then says.
	Seconds float64 `json:"seconds"`
	Capped  bool    `json:"capped,omitempty"`
}

// writerRule is the knee rule in words, for the report.
const writerRule = "the smallest writer count that no larger count beats by more than 10% in messages per second"

// writerBox is the directory tree the writers deliver into.
type writerBox struct {
	root     string
	queue    string
	queueFd  int
	accounts []string // mailbox directories
	boxFds   []int
}

func (b *writerBox) close() {
	if b.queueFd > 0 {
		unix.Close(b.queueFd)
	}
	for _, fd := range b.boxFds {
		unix.Close(fd)
	}
}

// writerSweep runs the delivery-like writers at each count of o.Writers.
func writerSweep(ctx context.Context, o *Options, scratch, volume string) (*WriterSweep, error) {
	ws := &WriterSweep{MsgSize: o.MsgSize, Seconds: o.WriterTime.Seconds(), Accounts: o.Accounts, Rule: writerRule}
	b, err := newWriterBox(o, scratch, volume)
	if b != nil {
		defer b.close()
	}
	if err != nil {
		return ws, err
	}
	msg := message(o.MsgSize)
	// Each count runs in o.Reps rounds of WriterTime/Reps; the rounds go
	// through all counts in turn, so a slow drift of the machine touches
	// every count alike, and a count's rate is the median of its rounds.
	round := o.WriterTime / time.Duration(o.Reps)
	acc := make([]writerAcc, len(o.Writers))
	for rep := 0; rep < o.Reps; rep++ {
		for i, w := range o.Writers {
			if ctx.Err() != nil {
				return ws, ctx.Err()
			}
			r, err := b.run(ctx, o, w, msg, volume, round, fmt.Sprintf("%d %s, round %d of %d", w, plural.Noun(w, "writer", ""), rep+1, o.Reps))
			if err != nil {
				return ws, err
			}
			acc[i].add(r)
			// Keep the steps current, so an interrupt still reports
			// every count that ran at least once.
			ws.Steps = ws.Steps[:0]
			for j, w := range o.Writers {
				if len(acc[j].rates) > 0 {
					ws.Steps = append(ws.Steps, acc[j].step(w))
				}
			}
			ws.Recommended, ws.StillGrowing = 0, false
			if len(ws.Steps) == len(o.Writers) { // no knee from a partial curve
				ws.setKnee()
			}
			if err := b.empty(volume); err != nil {
				return ws, err
			}
		}
	}
	return ws, nil
}

// writerRound is one timed run of a writer count.
type writerRound struct {
	messages int
	elapsed  time.Duration
	lat      []time.Duration
	capped   bool
}

// writerAcc gathers the rounds of one writer count.
type writerAcc struct {
	rates   []float64
	lat     samples
	msgs    int64
	seconds float64
	capped  bool
}

func (a *writerAcc) add(r writerRound) {
	if r.elapsed > 0 {
		a.rates = append(a.rates, float64(r.messages)/r.elapsed.Seconds())
	}
	a.lat.all = append(a.lat.all, r.lat...)
	a.msgs += int64(r.messages)
	a.seconds += r.elapsed.Seconds()
	a.capped = a.capped || r.capped
}

func (a *writerAcc) step(w int) WriterStep {
	sum := a.lat.summary()
	return WriterStep{
		Writers: w, Messages: a.msgs, PerSec: math.Round(median(a.rates)),
		RoundPerSec: roundAll(a.rates), P50ns: sum.P50ns, P99ns: sum.P99ns,
		Seconds: round2(a.seconds), Capped: a.capped,
	}
}

func roundAll(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Round(x)
	}
	return out
}

// setKnee applies the knee rule to the steps so far.
func (ws *WriterSweep) setKnee() {
	rates := make([]float64, len(ws.Steps))
	for i, s := range ws.Steps {
		rates[i] = s.PerSec
	}
	k := WriterKnee(rates)
	if k < 0 {
		return
	}
	ws.Recommended = ws.Steps[k].Writers
	last := len(rates) - 1
	ws.StillGrowing = k == last && last > 0 && rates[last] > rates[last-1]*WriterKneeGain
}

func newWriterBox(o *Options, scratch, volume string) (*writerBox, error) {
	b := &writerBox{root: filepath.Join(scratch, "delivery")}
	b.queue = filepath.Join(b.root, "Queue")
	for _, d := range []string{b.root, b.queue, filepath.Join(b.root, "Accounts")} {
		if err := unix.Mkdir(d, 0o700); err != nil {
			return nil, opError("bench: create directory", d, volume, err)
		}
	}
	fd, err := unix.Open(b.queue, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, opError("bench: open directory", b.queue, volume, err)
	}
	b.queueFd = fd
	names := accountNames(o.Seed + 7)
	for i := 0; i < o.Accounts; i++ {
		acct := filepath.Join(b.root, "Accounts", names.Next()+layout.MacntSuffix)
		box := filepath.Join(acct, "INBOX.mdir")
		if err := unix.Mkdir(acct, 0o700); err != nil {
			return b, opError("bench: create account", acct, volume, err)
		}
		if err := unix.Mkdir(box, 0o700); err != nil {
			return b, opError("bench: create mailbox", box, volume, err)
		}
		fd, err := unix.Open(box, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return b, opError("bench: open mailbox", box, volume, err)
		}
		b.accounts = append(b.accounts, box)
		b.boxFds = append(b.boxFds, fd)
	}
	return b, nil
}

// run delivers with w writers for dur.
func (b *writerBox) run(ctx context.Context, o *Options, w int, msg []byte, volume string, dur time.Duration, desc string) (writerRound, error) {
	var round writerRound
	done, end := o.stage(desc, 0)
	defer end()
	budget := messageBudget(volume, len(msg))
	var (
		issued   atomic.Int64
		capped   atomic.Bool
		wg       sync.WaitGroup
		stop     atomic.Bool
		errOnce  sync.Once
		firstErr error
		lat      = make([][]time.Duration, w)
		gate     = make(chan struct{})
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err })
		stop.Store(true)
	}
	deadline := time.Now().Add(time.Hour) // replaced before the gate opens
	for id := 0; id < w; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(o.Seed, uint64(1000*w+id)))
			prefix := "w" + strconv.Itoa(w) + "-" + strconv.Itoa(id) + "-"
			<-gate
			for seq := 0; !stop.Load(); seq++ {
				t := time.Now()
				if !t.Before(deadline) {
					return
				}
				if seq%16 == 0 && ctx.Err() != nil {
					fail(ctx.Err())
					return
				}
				if issued.Add(1) > budget {
					capped.Store(true)
					return
				}
				box := rng.IntN(len(b.boxFds))
				name := prefix + strconv.Itoa(seq)
				if err := b.deliver(name, box, msg); err != nil {
					fail(err)
					return
				}
				lat[id] = append(lat[id], time.Since(t))
				done.Add(1)
			}
		}()
	}
	start := time.Now()
	deadline = start.Add(dur)
	close(gate)
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		if ctx.Err() != nil {
			return round, ctx.Err()
		}
		return round, opError(fmt.Sprintf("bench: deliver with %d writers into", w), b.root, volume, firstErr)
	}
	for _, l := range lat {
		round.lat = append(round.lat, l...)
	}
	round.messages = len(round.lat)
	round.elapsed = elapsed
	round.capped = capped.Load()
	return round, nil
}

// messageBudget is how many messages one step may leave on the volume:
// half of what its free blocks and free inodes allow, so a fast volume
// (tmpfs) cannot fill up during a step.
func messageBudget(volume string, size int) int64 {
	var st unix.Statfs_t
	if unix.Statfs(volume, &st) != nil {
		return math.MaxInt64
	}
	bs := int64(st.Bsize)
	if bs <= 0 {
		bs = 4096
	}
	perMsg := (int64(size) + bs - 1) / bs * bs
	if perMsg == 0 {
		perMsg = bs
	}
	n := int64(st.Bavail) * bs / perMsg / 2
	if st.Files > 0 { // filesystems without an inode limit report 0
		n = min(n, int64(st.Ffree)/2)
	}
	return max(n, 1)
}

// deliver writes one message the way a delivery agent does: a new file in
// the queue, the whole message, fsync, then a rename into the mailbox.
func (b *writerBox) deliver(name string, box int, msg []byte) error {
	tmp := name + ".tmp"
	fd, err := unix.Openat(b.queueFd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", filepath.Join(b.queue, tmp), err)
	}
	for off := 0; off < len(msg); {
		n, err := unix.Write(fd, msg[off:])
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("write %s: %w", filepath.Join(b.queue, tmp), err)
		}
		off += n
	}
	if err := unix.Fsync(fd); err != nil {
		unix.Close(fd)
		return fmt.Errorf("fsync %s: %w", filepath.Join(b.queue, tmp), err)
	}
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("close %s: %w", filepath.Join(b.queue, tmp), err)
	}
	if err := unix.Renameat(b.queueFd, tmp, b.boxFds[box], name+".msg"); err != nil {
		return fmt.Errorf("rename %s into %s: %w", filepath.Join(b.queue, tmp), b.accounts[box], err)
	}
	return nil
}

// empty removes every delivered message and queue file, so each writer
// count starts from the same state and the volume does not fill up.
func (b *writerBox) empty(volume string) error {
	dirs := append([]string{b.queue}, b.accounts...)
	for _, d := range dirs {
		var names []string
		if _, err := layout.ReadDir(d, false, func(n []byte) error { names = append(names, string(n)); return nil }); err != nil {
			return opError("bench: list", d, volume, err)
		}
		for _, n := range names {
			if err := os.Remove(filepath.Join(d, n)); err != nil {
				return opError("bench: remove", filepath.Join(d, n), volume, err)
			}
		}
	}
	return nil
}

// message returns size bytes shaped like a mail message: headers, a blank
// line, then lines of text.
func message(size int) []byte {
	head := "Return-Path: <sender@example.test>\r\nReceived: from mx.example.test by mail.example.test\r\n" +
		"From: Sender <sender@example.test>\r\nTo: <rcpt@example.test>\r\nSubject: cgscale bench\r\n" +
		"Message-ID: <bench@example.test>\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
	line := "The quick brown fox jumps over the lazy dog; pack my box with five dozen jugs.\r\n"
	b := make([]byte, 0, size)
	b = append(b, head...)
	for len(b) < size {
		b = append(b, line...)
	}
	return b[:size]
}
