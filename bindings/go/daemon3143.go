// Package daemon3143 is a cgo binding of libdaemon3143 (PEP 3143's
// DaemonContext and PidFile), found with `pkg-config daemon3143`.
//
// Every failing call returns an *Error carrying the errno and the library's
// message (d3143_last_error()); errors.Is(err, syscall.EEXIST) works. The
// errno is the one cgo captures with `r, err := C.f()`, and each call runs
// locked to its OS thread so that the thread-local message read afterwards
// belongs to the same failure.
//
// A Go program is always multithreaded, so Context.Open() is refused with
// EBUSY ("other threads are running") in every detach mode: the library
// never forks a process whose other threads would vanish. Daemonize a Go
// program from outside (systemd, s6, a C launcher), and use PidFile and the
// rest of the context's checks from Go.
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

// Detach modes (D3143_DETACH_*).
const (
	DetachNever  = int(C.D3143_DETACH_NEVER)
	DetachAlways = int(C.D3143_DETACH_ALWAYS)
	DetachAuto   = int(C.D3143_DETACH_AUTO)
)

// Signal actions (D3143_SIG_*).
const (
	SigUnchanged = int(C.D3143_SIG_UNCHANGED)
	SigDefault   = int(C.D3143_SIG_DEFAULT)
	SigIgnore    = int(C.D3143_SIG_IGNORE)
	SigTerminate = int(C.D3143_SIG_TERMINATE)
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

// Context is a DaemonContext. Create it with NewContext, free it with Free.
type Context struct{ c *C.d3143_ctx }

// NewContext returns a context with PEP 3143's defaults.
func NewContext() (*Context, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, err := C.d3143_ctx_new()
	if c == nil {
		return nil, fail("d3143_ctx_new", err)
	}
	return &Context{c: c}, nil
}

// Free frees the handle (an open context stays a daemon).
func (x *Context) Free() {
	C.d3143_ctx_free(x.c)
	x.c = nil
}

func withCString(s string, f func(*C.char) (C.int, error)) func() (C.int, error) {
	return func() (C.int, error) {
		cs := C.CString(s)
		defer C.free(unsafe.Pointer(cs))
		return f(cs)
	}
}

// SetChrootDirectory sets the chroot directory ("" means no chroot).
func (x *Context) SetChrootDirectory(path string) error {
	if path == "" {
		return call("d3143_ctx_set_chroot_directory", func() (C.int, error) {
			r, err := C.d3143_ctx_set_chroot_directory(x.c, nil)
			return r, err
		})
	}
	return call("d3143_ctx_set_chroot_directory", withCString(path, func(p *C.char) (C.int, error) {
		r, err := C.d3143_ctx_set_chroot_directory(x.c, p)
		return r, err
	}))
}

// SetWorkingDirectory sets the (absolute) working directory.
func (x *Context) SetWorkingDirectory(path string) error {
	return call("d3143_ctx_set_working_directory", withCString(path, func(p *C.char) (C.int, error) {
		r, err := C.d3143_ctx_set_working_directory(x.c, p)
		return r, err
	}))
}

// SetPidfile sets the pidfile path ("" means none).
func (x *Context) SetPidfile(path string) error {
	if path == "" {
		return call("d3143_ctx_set_pidfile", func() (C.int, error) {
			r, err := C.d3143_ctx_set_pidfile(x.c, nil)
			return r, err
		})
	}
	return call("d3143_ctx_set_pidfile", withCString(path, func(p *C.char) (C.int, error) {
		r, err := C.d3143_ctx_set_pidfile(x.c, p)
		return r, err
	}))
}

// SetUmask sets the daemon's umask (at most 0777).
func (x *Context) SetUmask(mask uint32) error {
	return call("d3143_ctx_set_umask", func() (C.int, error) {
		r, err := C.d3143_ctx_set_umask(x.c, C.mode_t(mask))
		return r, err
	})
}

// SetUID sets the uid to run as.
func (x *Context) SetUID(uid uint32) error {
	return call("d3143_ctx_set_uid", func() (C.int, error) {
		r, err := C.d3143_ctx_set_uid(x.c, C.uid_t(uid))
		return r, err
	})
}

// SetGID sets the gid to run as.
func (x *Context) SetGID(gid uint32) error {
	return call("d3143_ctx_set_gid", func() (C.int, error) {
		r, err := C.d3143_ctx_set_gid(x.c, C.gid_t(gid))
		return r, err
	})
}

// SetPreventCore turns core-dump prevention on or off.
func (x *Context) SetPreventCore(on bool) error {
	return call("d3143_ctx_set_prevent_core", func() (C.int, error) {
		r, err := C.d3143_ctx_set_prevent_core(x.c, C.bool(on))
		return r, err
	})
}

// SetDetachProcess sets when to detach (DetachNever, DetachAlways, DetachAuto).
func (x *Context) SetDetachProcess(mode int) error {
	return call("d3143_ctx_set_detach_process", func() (C.int, error) {
		r, err := C.d3143_ctx_set_detach_process(x.c, C.int(mode))
		return r, err
	})
}

// PreserveFd keeps fd (>= 3) open in the daemon.
func (x *Context) PreserveFd(fd int) error {
	return call("d3143_ctx_preserve_fd", func() (C.int, error) {
		r, err := C.d3143_ctx_preserve_fd(x.c, C.int(fd))
		return r, err
	})
}

// SetStdin, SetStdout, SetStderr set the daemon's fd 0, 1, 2 (-1: /dev/null).
func (x *Context) SetStdin(fd int) error {
	return call("d3143_ctx_set_stdin", func() (C.int, error) {
		r, err := C.d3143_ctx_set_stdin(x.c, C.int(fd))
		return r, err
	})
}

func (x *Context) SetStdout(fd int) error {
	return call("d3143_ctx_set_stdout", func() (C.int, error) {
		r, err := C.d3143_ctx_set_stdout(x.c, C.int(fd))
		return r, err
	})
}

func (x *Context) SetStderr(fd int) error {
	return call("d3143_ctx_set_stderr", func() (C.int, error) {
		r, err := C.d3143_ctx_set_stderr(x.c, C.int(fd))
		return r, err
	})
}

// SetSignal maps a signal to an action (SigUnchanged ... SigTerminate).
func (x *Context) SetSignal(signum syscall.Signal, action int) error {
	return call("d3143_ctx_set_signal", func() (C.int, error) {
		r, err := C.d3143_ctx_set_signal(x.c, C.int(signum), C.int(action))
		return r, err
	})
}

// WorkingDirectory is the working directory as seen from the host (the
// chroot rule).
func (x *Context) WorkingDirectory() (string, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p, err := C.d3143_ctx_working_directory(x.c)
	if p == nil {
		return "", fail("d3143_ctx_working_directory", err)
	}
	return C.GoString(p), nil
}

// Open daemonizes. From Go it always fails with EBUSY: the runtime's other
// threads are running (see the package documentation).
func (x *Context) Open() error {
	return call("d3143_ctx_open", func() (C.int, error) {
		r, err := C.d3143_ctx_open(x.c)
		return r, err
	})
}

// IsOpen reports whether the context is open.
func (x *Context) IsOpen() bool { return bool(C.d3143_ctx_is_open(x.c)) }

// Close marks the context closed (the pidfile stays until the process ends).
func (x *Context) Close() error {
	return call("d3143_ctx_close", func() (C.int, error) {
		r, err := C.d3143_ctx_close(x.c)
		return r, err
	})
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
