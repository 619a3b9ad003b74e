package daemon3143

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemonHelper is the program being daemonized (D3143_GO_ARG is its temp
// dir): Daemonize with a pidfile and a log there, WaitReady. In the daemon,
// "daemonize" logs "daemon pid=N sid=S" BEFORE Ready() (so a launcher that
// exited 0 proves the wait), then logs "stopping" on SIGTERM and exits 0;
// "daemonize-fail" logs and exits 3 before it is ready.
func daemonHelper(mode, dir string) int {
	err := Daemonize(Options{
		Pidfile:   filepath.Join(dir, "go.pid"),
		Stdout:    filepath.Join(dir, "go.log"),
		Stderr:    filepath.Join(dir, "go.log"),
		Append:    true,
		WaitReady: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 2
	}
	// The daemon.
	if !Daemonized() {
		fmt.Println("Daemonize returned in the launcher")
		return 2
	}
	if mode == "daemonize-fail" {
		fmt.Println("daemon: cannot start: config broken")
		return 3
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	fmt.Printf("daemon pid=%d sid=%d\n", os.Getpid(), sid(os.Getpid()))
	if err := Ready(); err != nil {
		fmt.Println("Ready:", err)
		return 4
	}
	if err := Ready(); err != nil { // a second call does nothing
		fmt.Println("Ready again:", err)
		return 4
	}
	<-stop
	fmt.Println("stopping")
	return 0
}

// sid is the session id of pid, from /proc/PID/stat (-1 when unknown).
func sid(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 4 {
		return -1
	}
	n, _ := strconv.Atoi(f[3])
	return n
}

// alive: running and not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// ours: pid's environment names our temp dir (a recycled pid is never signalled).
func ours(pid int, dir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	return err == nil && bytes.Contains(b, []byte("D3143_GO_ARG="+dir+"\x00"))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func launch(t *testing.T, mode, dir string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "D3143_GO_ARG="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("launching the helper: %v", err)
	}
	t.Logf("launcher %s: exit %d, output %q", mode, code, out.String())
	return code, out.String()
}

func needTool(t *testing.T) {
	t.Helper()
	tool := os.Getenv("D3143_TOOL")
	if tool == "" {
		tool = "daemon3143"
	}
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("SKIP: the daemon3143 tool is not installed (set D3143_TOOL): %v", err)
	}
}

func TestDaemonize(t *testing.T) {
	needTool(t)
	dir := t.TempDir()
	pidfile, logfile := filepath.Join(dir, "go.pid"), filepath.Join(dir, "go.log")
	code, out := launch(t, "daemonize", dir)
	if code != 0 {
		t.Fatalf("launcher exit %d, want 0: %s", code, out)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSuffix(string(b), "\n"))
	if err != nil || string(b) != strconv.Itoa(pid)+"\n" {
		t.Fatalf("pidfile holds %q", b)
	}
	t.Cleanup(func() {
		if alive(pid) && ours(pid, dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if !alive(pid) || !ours(pid, dir) {
		t.Fatalf("daemon %d is not running", pid)
	}
	// The launcher exited 0 only after Ready(): the line logged before it is there.
	log, _ := os.ReadFile(logfile)
	want := fmt.Sprintf("daemon pid=%d sid=%d\n", pid, sid(pid))
	if !strings.Contains(string(log), want) {
		t.Errorf("log %q lacks %q (written before Ready)", log, want)
	}
	if s := sid(pid); s == sid(os.Getpid()) || s == pid {
		t.Errorf("daemon session %d: want a new session it does not lead (ours %d)", s, sid(os.Getpid()))
	}
	if h, err := Holder(pidfile); h != pid || err != nil {
		t.Errorf("Holder = %d, %v; want %d", h, err, pid)
	}

	// A second instance: refused by the launcher, naming the pid.
	code, out = launch(t, "daemonize", dir)
	if code == 0 || !strings.Contains(out, fmt.Sprintf("already held by another process (pid %d)", pid)) {
		t.Errorf("second instance: exit %d, %q; want a failure naming pid %d", code, out, pid)
	}
	if b2, _ := os.ReadFile(pidfile); !bytes.Equal(b, b2) {
		t.Errorf("second instance changed the pidfile: %q", b2)
	}

	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the daemon to exit after SIGTERM", func() bool { return !alive(pid) })
	log, _ = os.ReadFile(logfile)
	if !strings.Contains(string(log), "stopping\n") {
		t.Errorf("log %q lacks the daemon's own SIGTERM handling", log)
	}
	if h, err := Holder(pidfile); h != 0 || err != nil {
		t.Errorf("Holder after the daemon exited = %d, %v; want 0", h, err)
	}
}

func TestDaemonizeFailureBeforeReady(t *testing.T) {
	needTool(t)
	dir := t.TempDir()
	code, out := launch(t, "daemonize-fail", dir)
	if code == 0 {
		t.Fatalf("launcher exit 0 for a daemon that died before it was ready: %s", out)
	}
	if !strings.Contains(out, "ready") {
		t.Errorf("launcher output %q does not say the daemon was not ready", out)
	}
	if h, err := Holder(filepath.Join(dir, "go.pid")); h != 0 || err != nil {
		t.Errorf("Holder = %d, %v; want 0", h, err)
	}
}

func TestDaemonizeWithoutTool(t *testing.T) {
	t.Setenv(DaemonizedEnv, "")
	err := Daemonize(Options{Tool: filepath.Join(t.TempDir(), "no-such-tool")})
	if err == nil || !strings.Contains(err.Error(), "daemon3143 tool") {
		t.Errorf("Daemonize with a missing tool = %v, want an error naming the tool", err)
	}
}

func TestToolArgs(t *testing.T) {
	got := strings.Join(toolArgs(Options{Pidfile: "/p", WorkingDirectory: "/w", User: "u",
		Umask: "027", Stdout: "/o", Append: true, KeepFds: []int{5}, WaitReady: true,
		Initgroups: true}), " ")
	want := "--pidfile /p --chdir /w --user u --umask 027 --stdout /o --initgroups --append --keep-fd 5 --wait-ready"
	if got != want {
		t.Errorf("toolArgs = %q, want %q", got, want)
	}
}

func TestReadyAndNotify(t *testing.T) {
	t.Setenv("NOTIFY_FD", "")
	t.Setenv("NOTIFY_SOCKET", "")
	if err := Ready(); err != nil {
		t.Errorf("Ready without NOTIFY_FD or NOTIFY_SOCKET: %v", err)
	}
	if err := Notify("STATUS=x"); err != nil {
		t.Errorf("Notify without NOTIFY_SOCKET: %v", err)
	}
	// NOTIFY_FD: a newline, then closed.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	wfd, err := syscall.Dup(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Setenv("NOTIFY_FD", strconv.Itoa(wfd))
	// systemd: READY=1 on a datagram socket of our own.
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	if err := Ready(); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	got := make([]byte, 16)
	n, _ := r.Read(got)
	if string(got[:n]) != "\n" {
		t.Errorf("NOTIFY_FD got %q, want a newline", got[:n])
	}
	if n, _ = r.Read(got); n != 0 {
		t.Errorf("NOTIFY_FD not closed after the newline")
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err = conn.Read(got)
	if err != nil || string(got[:n]) != "READY=1" {
		t.Errorf("NOTIFY_SOCKET got %q, %v; want READY=1", got[:n], err)
	}
}
