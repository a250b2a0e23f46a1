package anchors

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ProcessSpec is a controller process to start.
type ProcessSpec struct {
	// Path is the binary; Args its arguments (without the program name).
	Path string
	Args []string
	// Argv0 is the program name the process sees (os.Args[0]); default Path.
	// client-go's default user agent begins with its base name, so it names
	// the tool in the audit log (a child driver of this binary runs as
	// "progressive").
	Argv0 string
	// Env is added to this process' environment.
	Env []string
	// LogPath receives the process' stdout and stderr (created or appended).
	LogPath string
}

// Usage is what a process used.
type Usage struct {
	// PeakRSSBytes is the largest resident set seen (VmHWM).
	PeakRSSBytes int64
	// CPUSeconds is user + system CPU time.
	CPUSeconds float64
}

// Add combines the usage of processes that ran one after the other or side
// by side: CPU adds up, and so does memory (the sum of the peaks bounds the
// peak of the sum).
func (u Usage) Add(o Usage) Usage {
	return Usage{PeakRSSBytes: u.PeakRSSBytes + o.PeakRSSBytes, CPUSeconds: u.CPUSeconds + o.CPUSeconds}
}

// Process is a running controller. It samples its usage from /proc every
// 200 ms, so that what it used is known after it died (a SIGKILLed process'
// /proc entry is gone once it is reaped).
type Process struct {
	Spec ProcessSpec
	// Started is when it was started.
	Started time.Time

	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // Wait's, valid after done

	mu    sync.Mutex
	usage Usage
	ended time.Time
}

// sampleEvery is how often a process' usage is read from /proc.
const sampleEvery = 200 * time.Millisecond

// StartProcess starts a controller. It dies with this process (parent-death
// signal) and with ctx (SIGKILL).
func StartProcess(ctx context.Context, spec ProcessSpec) (*Process, error) {
	if spec.LogPath == "" {
		return nil, errors.New("anchors: ProcessSpec.LogPath is required")
	}
	logf, err := os.OpenFile(spec.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("anchors: %w", err)
	}
	cmd := exec.CommandContext(ctx, spec.Path, spec.Args...)
	if spec.Argv0 != "" {
		cmd.Args[0] = spec.Argv0
	}
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("anchors: start %s: %w", spec.Path, err)
	}
	p := &Process{Spec: spec, Started: time.Now(), cmd: cmd, log: logf, done: make(chan struct{})}
	go p.sample()
	go func() {
		p.err = cmd.Wait()
		p.mu.Lock()
		p.ended = time.Now()
		p.mu.Unlock()
		_ = logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *Process) sample() {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		if u, err := ReadUsage(p.cmd.Process.Pid); err == nil {
			p.mu.Lock()
			// The entry of a process that exited (a zombie until reaped)
			// reads zero memory: keep the peak.
			p.usage.PeakRSSBytes = max(p.usage.PeakRSSBytes, u.PeakRSSBytes)
			p.usage.CPUSeconds = max(p.usage.CPUSeconds, u.CPUSeconds)
			p.mu.Unlock()
		}
		select {
		case <-p.done:
			return
		case <-t.C:
		}
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode is the exit code once Done (-1 when killed by a signal).
func (p *Process) ExitCode() int {
	<-p.done
	if p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Ended is when the process was seen to exit (zero while it runs).
func (p *Process) Ended() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended
}

// Err is Wait's error once Done.
func (p *Process) Err() error {
	<-p.done
	return p.err
}

// Usage is the peak RSS and the CPU time seen so far (read now while it
// runs; at its last sample, at most 200 ms before it exited, after).
func (p *Process) Usage() Usage {
	select {
	case <-p.done:
	default:
		if u, err := ReadUsage(p.Pid()); err == nil {
			p.mu.Lock()
			p.usage.PeakRSSBytes = max(p.usage.PeakRSSBytes, u.PeakRSSBytes)
			p.usage.CPUSeconds = max(p.usage.CPUSeconds, u.CPUSeconds)
			p.mu.Unlock()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.usage
}

// Kill sends SIGKILL and waits until the process is gone; it returns when it
// was killed.
func (p *Process) Kill() time.Time {
	at := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	return at
}

// Stop sends SIGTERM and, after grace, SIGKILL, and waits.
func (p *Process) Stop(grace time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Kill()
	}
}

// LogTail returns the last n lines of the process' output.
func (p *Process) LogTail(n int) string { return fileTail(p.Spec.LogPath, n) }

func fileTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Go supports (sysconf(_SC_CLK_TCK) would need cgo).
const clockTicks = 100

// ReadUsage reads a process' peak resident set (VmHWM in /proc/<pid>/status)
// and its user + system CPU time (/proc/<pid>/stat fields 14 and 15).
func ReadUsage(pid int) (Usage, error) {
	var u Usage
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return u, fmt.Errorf("anchors: %w", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) > 0 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					u.PeakRSSBytes = kb * 1024
				}
			}
		}
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return u, fmt.Errorf("anchors: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields are counted after its closing parenthesis.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return u, fmt.Errorf("anchors: /proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return u, fmt.Errorf("anchors: /proc/%d/stat: %q", pid, s)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, fmt.Errorf("anchors: /proc/%d/stat: %w", pid, err)
	}
	u.CPUSeconds = float64(utime+stime) / clockTicks
	return u, nil
}

// FreePort returns a free 127.0.0.1 port for a controller's own listener
// (metrics, health), so that several controllers run side by side.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("anchors: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
