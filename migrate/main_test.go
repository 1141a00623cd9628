package migrate

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cgscale/cgscale/errs"
)

// TestMain lets the test binary double as a small mover, run in its own
// process by tests that kill it (resume) or run it as another user (C13):
// CGSCALE_MIGRATE_HELPER=move with SRC and VOL, or =apply with PLAN; with
// CGSCALE_DIE_AT=<phase> it kills itself with SIGKILL as that phase starts.
func TestMain(m *testing.M) {
	switch os.Getenv("CGSCALE_MIGRATE_HELPER") {
	case "":
		os.Exit(m.Run())
	case "move":
		o := MoveOptions{Src: os.Getenv("SRC"), VolumeDir: os.Getenv("VOL"), Jobs: 2}
		if at := os.Getenv("CGSCALE_DIE_AT"); at != "" {
			o.Phase = func(p string) {
				if p == at {
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}
		_, err := Move(context.Background(), o)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1 + int(errs.KindOf(err)))
		}
		os.Exit(0)
	case "tree":
		// One tree function on SRC (and DST): copy, verify or remove.
		err := treeOp(os.Getenv("OP"), os.Getenv("SRC"), os.Getenv("DST"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1 + int(errs.KindOf(err)))
		}
		os.Exit(0)
	case "apply":
		p, err := ReadPlan(os.Getenv("PLAN"))
		if err == nil {
			o := ApplyOptions{Move: MoveOptions{Jobs: 2}}
			if at := os.Getenv("CGSCALE_DIE_AT"); at != "" {
				o.Move.Phase = func(p string) {
					if p == at {
						syscall.Kill(os.Getpid(), syscall.SIGKILL)
					}
				}
			}
			_, err = Apply(context.Background(), p, o)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1 + int(errs.KindOf(err)))
		}
		os.Exit(0)
	}
	os.Exit(99)
}

// treeOp runs the copier, the verifier, the remover or the pre-flight
// scan on full paths, as a move does, for tests that run it as another
// user.
func treeOp(op, src, dst string) error {
	sfd, err := unix.Open(filepath.Dir(src), unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	dfd := -1
	if dst != "" {
		if dfd, err = unix.Open(filepath.Dir(dst), unix.O_DIRECTORY|unix.O_RDONLY, 0); err != nil {
			return err
		}
		defer unix.Close(dfd)
	}
	ctx := context.Background()
	switch op {
	case "copy":
		_, err = copyTree(ctx, sfd, filepath.Base(src), dfd, filepath.Base(dst), copyOpts{jobs: 2, srcRoot: src, dstRoot: dst})
	case "verify":
		_, err = verifyTree(ctx, sfd, filepath.Base(src), dfd, filepath.Base(dst), verifyOpts{checksums: true, jobs: 2, srcRoot: src, dstRoot: dst})
	case "remove":
		err = removeTree(ctx, sfd, filepath.Base(src), src, 2, nil)
	case "scan":
		_, err = scanTree(ctx, sfd, filepath.Base(src), src, 2)
	default:
		err = fmt.Errorf("unknown tree op %q", op)
	}
	return err
}

// helper returns a command running this test binary as the mover. With
// asUser > 0 the binary is first copied where that user can run it.
func helper(t *testing.T, env []string, asUser int) *exec.Cmd {
	t.Helper()
	bin, err := os.Executable()
	must(t, err)
	if asUser > 0 {
		dir := t.TempDir()
		must(t, os.Chmod(dir, 0o755))
		copyBin := filepath.Join(dir, "mover")
		in, err := os.Open(bin)
		must(t, err)
		out, err := os.OpenFile(copyBin, os.O_WRONLY|os.O_CREATE, 0o755)
		must(t, err)
		_, err = io.Copy(out, in)
		must(t, err)
		in.Close()
		must(t, out.Close())
		for d := dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
			_ = os.Chmod(d, 0o755)
		}
		bin = copyBin
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	if asUser > 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(asUser), Gid: uint32(asUser)}}
	}
	return cmd
}

// killMoveAt runs a move of dom to vol in a helper process that kills
// itself with SIGKILL as phase starts, and fails the test unless it died so.
func killMoveAt(t *testing.T, dom, vol, phase string) {
	t.Helper()
	cmd := helper(t, []string{"CGSCALE_MIGRATE_HELPER=move", "SRC=" + dom, "VOL=" + vol, "CGSCALE_DIE_AT=" + phase}, 0)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the move was not killed at %s: %v\n%s", phase, err, out)
	}
}
