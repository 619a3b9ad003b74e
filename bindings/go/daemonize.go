package daemon3143

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// DaemonizedEnv is the environment marker Daemonize sets for the
// re-executed program: "1" in the daemon.
const DaemonizedEnv = "D3143_DAEMONIZED"

// Options are the daemon3143(1) options Daemonize passes to the tool.
// Empty fields keep the tool's defaults.
type Options struct {
	// Pidfile is locked by the tool before anything starts, and holds the
	// daemon's pid (--pidfile). A second instance is refused by the
	// launcher, naming the running pid; its exit status is the tool's.
	Pidfile string
	// WorkingDirectory is the daemon's working directory, absolute
	// (--chdir; default "/").
	WorkingDirectory string
	// Chroot, User, Group, Initgroups, Umask: --chroot, --user, --group,
	// --initgroups, --umask (octal, e.g. "027").
	Chroot     string
	User       string
	Group      string
	Initgroups bool
	Umask      string
	// Stdout and Stderr are files the daemon's fd 1 and 2 go to
	// (--stdout, --stderr; default /dev/null), appended to with Append.
	Stdout string
	Stderr string
	Append bool
	// KeepFds are fds (>= 3) the daemon keeps open (--keep-fd).
	KeepFds []int
	// WaitReady makes the launcher wait until the daemon calls Ready()
	// (--wait-ready); without it the launcher exits 0 once the program was
	// exec'd as the daemon.
	WaitReady bool
	// Args are the daemon's arguments (default os.Args[1:]).
	Args []string
	// Tool is the daemon3143 executable (default $D3143_TOOL, else
	// "daemon3143" looked up in PATH).
	Tool string
}

// Daemonized reports whether this process is the daemon that Daemonize
// started (the environment marker is set).
func Daemonized() bool { return os.Getenv(DaemonizedEnv) == "1" }

// exit is os.Exit, replaceable in tests.
var exit = os.Exit

// Daemonize makes the program a daemon. In the daemon (Daemonized()), it
// returns nil at once. Otherwise it runs
//
//	daemon3143 [options] -- os.Executable() Args...
//
// with the marker in the environment, standard input, output and error
// passed through (the tool prints why a start failed, e.g. the pidfile held
// by another pid), waits for it, and exits with its status: 0 once the
// daemon runs (is ready, with WaitReady), non-zero with the tool's message
// otherwise. It returns an error only when the tool cannot be run at all.
func Daemonize(opts Options) error {
	if Daemonized() {
		return nil
	}
	tool := opts.Tool
	if tool == "" {
		tool = os.Getenv("D3143_TOOL")
	}
	if tool == "" {
		tool = "daemon3143"
	}
	path, err := exec.LookPath(tool)
	if err != nil {
		return fmt.Errorf("daemon3143: the daemon3143 tool is needed to daemonize a Go program "+
			"(make install, or apt-get install daemon3143): %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("daemon3143: cannot find this program to re-execute it: %w", err)
	}
	args := toolArgs(opts)
	args = append(args, "--", exe)
	if opts.Args != nil {
		args = append(args, opts.Args...)
	} else {
		args = append(args, os.Args[1:]...)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), DaemonizedEnv+"=1")
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		exit(0)
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			exit(128 + int(ws.Signal()))
		}
		exit(ee.ExitCode())
	default:
		return fmt.Errorf("daemon3143: running %s: %w", path, err)
	}
	return nil // exit was replaced (tests)
}

func toolArgs(o Options) []string {
	var a []string
	add := func(flag, v string) {
		if v != "" {
			a = append(a, flag, v)
		}
	}
	add("--pidfile", o.Pidfile)
	add("--chdir", o.WorkingDirectory)
	add("--chroot", o.Chroot)
	add("--user", o.User)
	add("--group", o.Group)
	add("--umask", o.Umask)
	add("--stdout", o.Stdout)
	add("--stderr", o.Stderr)
	if o.Initgroups {
		a = append(a, "--initgroups")
	}
	if o.Append {
		a = append(a, "--append")
	}
	for _, fd := range o.KeepFds {
		a = append(a, "--keep-fd", strconv.Itoa(fd))
	}
	if o.WaitReady {
		a = append(a, "--wait-ready")
	}
	return a
}

// Ready reports readiness: in a daemon started with WaitReady, it writes
// the newline to NOTIFY_FD and closes it (the launcher then exits 0); under
// systemd (NOTIFY_SOCKET) it sends READY=1. Elsewhere it does nothing.
// Calling it again does nothing.
func Ready() error {
	if v := os.Getenv("NOTIFY_FD"); v != "" {
		os.Unsetenv("NOTIFY_FD")
		fd, err := strconv.Atoi(v)
		if err != nil || fd < 3 {
			return fmt.Errorf("daemon3143: NOTIFY_FD=%q is not an fd >= 3", v)
		}
		f := os.NewFile(uintptr(fd), "NOTIFY_FD")
		_, werr := f.Write([]byte("\n"))
		cerr := f.Close()
		if werr != nil {
			return fmt.Errorf("daemon3143: readiness to NOTIFY_FD %d: %w", fd, werr)
		}
		if cerr != nil {
			return fmt.Errorf("daemon3143: closing NOTIFY_FD %d: %w", fd, cerr)
		}
	}
	if os.Getenv("NOTIFY_SOCKET") != "" {
		return Notify("READY=1")
	}
	return nil
}
