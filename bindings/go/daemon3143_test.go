package daemon3143

// The tests run the test binary itself as a helper process (env
// D3143_GO_HELPER) wherever a second process is needed; Daemonize re-executes
// that helper through the daemon3143 tool ($D3143_TOOL) as the daemon.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const helperEnv = "D3143_GO_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Getenv("D3143_GO_ARG")))
	}
	os.Exit(m.Run())
}

// report prints what a failing call returned, for the parent to check.
func report(err error) {
	var e *Error
	if !errors.As(err, &e) {
		fmt.Printf("error=%v\n", err)
		return
	}
	fmt.Printf("errno=%d\nebusy=%t\neexist=%t\nmsg=%s\n", int(e.Errno),
		errors.Is(err, syscall.EBUSY), errors.Is(err, syscall.EEXIST), e.Msg)
}

// helper runs in a child process; its exit status: 0 = the call failed
// (reported on stdout), 3 = it unexpectedly succeeded, 2 = setup failed.
func helper(mode, arg string) int {
	switch mode {
	case "daemonize", "daemonize-fail":
		return daemonHelper(mode, arg)
	case "acquire":
		pf, err := NewPidFile(arg)
		if err != nil {
			fmt.Println("setup:", err)
			return 2
		}
		if err := pf.Acquire(); err != nil {
			report(err)
			return 0
		}
		return 3
	}
	fmt.Println("unknown helper mode", mode)
	return 2
}

// runHelper runs the test binary as a helper and returns its report.
func runHelper(t *testing.T, mode, arg string) (map[string]string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "D3143_GO_ARG="+arg)
	out, err := cmd.Output()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("helper %s: %v", mode, err)
		}
		code = ee.ExitCode()
	}
	t.Logf("helper %s (exit %d):\n%s", mode, code, out)
	kv := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	return kv, code
}

func TestVersion(t *testing.T) {
	v := Version()
	if len(strings.Split(v, ".")) != 3 {
		t.Fatalf("Version() = %q, want MAJOR.MINOR.PATCH", v)
	}
}

func TestPidFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "go.pid")
	pf, err := NewPidFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Free()
	if pf.Path() != path {
		t.Errorf("Path() = %q, want %q", pf.Path(), path)
	}
	if h, err := Holder(path); h != 0 || err != nil {
		t.Errorf("Holder before acquire = %d, %v; want 0, nil", h, err)
	}
	if err := pf.Acquire(); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d\n", os.Getpid())
	if h, err := pf.Holder(); h != os.Getpid() || err != nil {
		t.Errorf("Holder() = %d, %v; want %d (os.Getpid())", h, err, os.Getpid())
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != want {
		t.Errorf("pidfile holds %q, %v; want %q", b, err, want)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("pidfile mode: %v, %v; want 0644", st, err)
	}

	// A second process: EEXIST (errno from `r, err := C.d3143_pidfile_acquire`),
	// the message naming this process's pid; our file untouched.
	kv, code := runHelper(t, "acquire", path)
	if code != 0 {
		t.Fatalf("second acquire from a child process succeeded (exit %d)", code)
	}
	if kv["errno"] != strconv.Itoa(int(syscall.EEXIST)) || kv["eexist"] != "true" {
		t.Errorf("child's errno = %s (errors.Is EEXIST: %s), want EEXIST (%d)",
			kv["errno"], kv["eexist"], int(syscall.EEXIST))
	}
	if !strings.Contains(kv["msg"], strconv.Itoa(os.Getpid())) || !strings.Contains(kv["msg"], path) {
		t.Errorf("child's message %q does not name the path and holder pid %d", kv["msg"], os.Getpid())
	}
	if b, _ := os.ReadFile(path); string(b) != want {
		t.Errorf("after the child's attempt the pidfile holds %q, want %q", b, want)
	}

	if err := pf.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pidfile still there after Release: %v", err)
	}
	if h, err := Holder(path); h != 0 || err != nil {
		t.Errorf("Holder after release = %d, %v; want 0, nil", h, err)
	}
	if err := pf.Release(); err != nil {
		t.Errorf("second Release: %v, want nil", err)
	}

	// Free of a held pidfile releases it.
	if err := pf.Acquire(); err != nil {
		t.Fatal(err)
	}
	pf.Free()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pidfile still there after Free: %v", err)
	}
}

func wantErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s: %v, want an *Error with %v", what, err, want)
		return
	}
	if !errors.Is(err, want) || e.Msg == "" {
		t.Errorf("%s: errno %d %q, want %d (%v) and a message", what, int(e.Errno), e.Msg, int(want), want)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := NewPidFile("")
	wantErrno(t, "NewPidFile(\"\")", err, syscall.EINVAL)

	pf, err := NewPidFile(filepath.Join(dir, "missing", "x.pid"))
	if err != nil {
		t.Fatal(err)
	}
	wantErrno(t, "acquire in a missing directory", pf.Acquire(), syscall.ENOENT)
	pf.Free()

	link := filepath.Join(dir, "link.pid")
	if err := os.Symlink(filepath.Join(dir, "victim"), link); err != nil {
		t.Fatal(err)
	}
	pf, _ = NewPidFile(link)
	wantErrno(t, "acquire through a symlink", pf.Acquire(), syscall.ELOOP)
	pf.Free()

	_, err = Holder(dir)
	wantErrno(t, "Holder(a directory)", err, syscall.EINVAL)

	wantErrno(t, "Notify(\"\")", Notify(""), syscall.EINVAL)
}

// holder() is thread-safe, and d3143_last_error() is per thread: goroutines
// on many OS threads each see the message of their own failure.
func TestConcurrentHolderAndErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "held.pid")
	pf, err := NewPidFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Free()
	if err := pf.Acquire(); err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 16, 50
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func(w int) {
			missing := filepath.Join(dir, fmt.Sprintf("missing-%d", w), "x.pid")
			for i := 0; i < rounds; i++ {
				if h, err := Holder(path); h != os.Getpid() || err != nil {
					errs <- fmt.Errorf("worker %d: Holder = %d, %v", w, h, err)
					return
				}
				p, err := NewPidFile(missing)
				if err != nil {
					errs <- err
					return
				}
				err = p.Acquire()
				p.Free()
				var e *Error
				if !errors.As(err, &e) || e.Errno != syscall.ENOENT ||
					!strings.Contains(e.Msg, fmt.Sprintf("missing-%d/", w)) {
					errs <- fmt.Errorf("worker %d: got %v, want ENOENT naming missing-%d", w, err, w)
					return
				}
			}
			errs <- nil
		}(w)
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
