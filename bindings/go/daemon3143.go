// Package daemon3143 is the Go binding of libdaemon3143 (PEP 3143's
// DaemonContext and PidFile): PidFile and Holder (cgo, the library found
// with `pkg-config daemon3143`), Notify for systemd, and Daemonize.
//
// A Go program is always multithreaded, and the library never forks a
// process whose other threads would vanish (d3143_ctx_open() fails with
// EBUSY). So Daemonize does not fork: it re-executes the program
// (os.Executable()) through the single-threaded daemon3143(1) tool, which
// takes the pidfile, detaches and execs the program again as the daemon;
// the launching process waits for the tool (with WaitReady, until the
// daemon calls Ready()) and exits with its status. An environment marker
// tells the re-executed program that it is the daemon, where Daemonize
// returns nil at once:
//
//	func main() {
//		if err := daemon3143.Daemonize(daemon3143.Options{
//			Pidfile:   "/tmp/mydaemon.pid",
//			Stdout:    "/tmp/mydaemon.log",
//			WaitReady: true,
//		}); err != nil {
//			log.Fatal(err) // the tool could not be run
//		}
//		// In the daemon: set up, then
//		daemon3143.Ready()
//		...
//	}
//
// Every failing library call returns an *Error carrying the errno and the
// library's message (d3143_last_error()); errors.Is(err, syscall.EEXIST)
// works. The errno is the one cgo captures with `r, err := C.f()`, and each
// call runs locked to its OS thread so that the thread-local message read
// afterwards belongs to the same failure.
package daemon3143

/*
#cgo pkg-config: daemon3143
#include <stdlib.h>
#include <daemon3143.h>
*/
import "C"

import (
	"errors"
	"runtime"
	"syscall"
	"unsafe"
)

// Error is a failure reported by libdaemon3143.
type Error struct {
	Func  string        // the C function, e.g. "d3143_pidfile_acquire"
	Errno syscall.Errno // errno
	Msg   string        // d3143_last_error(): names the path, fd, step or pid
}

func (e *Error) Error() string {
	if e.Msg == "" {
		return e.Func + ": " + e.Errno.Error()
	}
	return e.Func + ": " + e.Msg
}

// Unwrap returns the errno, so errors.Is(err, syscall.EEXIST) works.
func (e *Error) Unwrap() error { return e.Errno }

// fail builds the *Error of a call that just failed on this (locked) thread;
// err is the errno cgo returned with the result.
func fail(fn string, err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) || errno == 0 {
		errno = syscall.EIO
	}
	return &Error{Func: fn, Errno: errno, Msg: C.GoString(C.d3143_last_error())}
}

// call runs one C call returning an int, locked to this OS thread, and turns
// -1 into an *Error.
func call(fn string, f func() (C.int, error)) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := f()
	if r != 0 {
		return fail(fn, err)
	}
	return nil
}

// Version is the version of the loaded library, e.g. "0.1.0".
func Version() string { return C.GoString(C.d3143_version()) }

// Notify sends state to systemd (NOTIFY_SOCKET) as one datagram, e.g.
// "STATUS=serving", "RELOADING=1", "WATCHDOG=1". Without NOTIFY_SOCKET it
// does nothing and returns nil; an empty state or a refusing socket is an
// *Error.
func Notify(state string) error {
	return call("d3143_notify", withCString(state, func(p *C.char) (C.int, error) {
		r, err := C.d3143_notify(p)
		return r, err
	}))
}

func withCString(s string, f func(*C.char) (C.int, error)) func() (C.int, error) {
	return func() (C.int, error) {
		cs := C.CString(s)
		defer C.free(unsafe.Pointer(cs))
		return f(cs)
	}
}

// PidFile is a pidfile: an exclusive flock(2) on a file holding the owner's
// pid. Create it with NewPidFile, free it with Free (which releases it).
type PidFile struct{ p *C.d3143_pidfile }

// NewPidFile returns a handle for path (a relative path is joined with the
// current directory now); nothing is opened yet.
func NewPidFile(path string) (*PidFile, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	p, err := C.d3143_pidfile_new(cs)
	if p == nil {
		return nil, fail("d3143_pidfile_new", err)
	}
	return &PidFile{p: p}, nil
}

// Free releases the pidfile if this process holds it, and frees the handle.
func (f *PidFile) Free() {
	C.d3143_pidfile_free(f.p)
	f.p = nil
}

// Acquire creates and locks the pidfile and writes this process's pid.
// Held by another process: an *Error wrapping syscall.EEXIST naming its pid.
func (f *PidFile) Acquire() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r, err := C.d3143_pidfile_acquire(f.p)
	if r != 0 {
		return fail("d3143_pidfile_acquire", err)
	}
	return nil
}

// Release unlinks (or empties) the pidfile and unlocks it.
func (f *PidFile) Release() error {
	return call("d3143_pidfile_release", func() (C.int, error) {
		r, err := C.d3143_pidfile_release(f.p)
		return r, err
	})
}

// Path is the absolute path of the pidfile.
func (f *PidFile) Path() string { return C.GoString(C.d3143_pidfile_path(f.p)) }

// Holder is the pid holding the pidfile at path, 0 when nobody holds it.
func Holder(path string) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cs := C.CString(path)
	defer C.free(unsafe.Pointer(cs))
	pid, err := C.d3143_pidfile_holder(cs)
	if pid < 0 {
		return -1, fail("d3143_pidfile_holder", err)
	}
	return int(pid), nil
}

// Holder is the pid holding this pidfile, 0 when nobody holds it.
func (f *PidFile) Holder() (int, error) { return Holder(f.Path()) }
