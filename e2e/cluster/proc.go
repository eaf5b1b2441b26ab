package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// process is one component of the cluster, run as a child of the test with
// its output in a log file. It is started in its own process group and is
// killed by the kernel if the test process dies (Pdeathsig), so that a
// crashed or timed-out test leaves nothing running.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error
}

// start runs bin with args and env (added to the test's environment),
// logging to dir/logs/NAME.log.
func start(dir, name, bin string, args, env []string) (*process, error) {
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(logs, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	_ = os.WriteFile(filepath.Join(dir, "pids", name), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.exited)
	}()
	return p, nil
}

// running reports whether the process has not exited.
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) {
	if !p.running() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// kill sends SIGKILL to the process group and waits for the exit.
func (p *process) kill() {
	if p.running() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// wait waits for the process to exit, at most until ctx ends.
func (p *process) wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s still running: %w", p.name, ctx.Err())
	}
}

// tail returns the last n bytes of the log, for error messages.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return ""
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// killLeftovers kills the processes a previous run in dir recorded and
// did not stop (only possible if that run was itself killed with SIGKILL
// before Pdeathsig could act, e.g. with the whole session).
func killLeftovers(dir string) {
	entries, err := os.ReadDir(filepath.Join(dir, "pids"))
	if err != nil {
		return
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, "pids", e.Name()))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(string(b)); err == nil && pid > 1 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}

// poll calls f every interval until it returns true or an error, or ctx
// ends; the last error, if any, is wrapped into the timeout.
func poll(ctx context.Context, interval time.Duration, what string, f func(context.Context) (bool, error)) error {
	var last error
	for {
		ok, err := f(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %w)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

var errExited = errors.New("exited")

// exitError says that the process exited, how, and the end of its log.
func (p *process) exitError() error {
	if p.err == nil {
		return fmt.Errorf("%s %w with status 0\n%s", p.name, errExited, p.tail(3000))
	}
	return fmt.Errorf("%s %w: %w\n%s", p.name, errExited, p.err, p.tail(3000))
}
