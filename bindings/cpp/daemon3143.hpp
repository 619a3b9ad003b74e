// daemon3143.hpp — a small header-only C++17 RAII wrapper over libdaemon3143,
// installed next to daemon3143.h (and in libdaemon3143-dev).
//
//   d3143::Context ctx;                       // d3143_ctx_new()
//   ctx.set_pidfile("/run/mydaemon.pid");
//   ctx.open();                               // the launcher never returns
//
//   // Readiness when the daemon says so, signals as data:
//   ctx.set_ready_mode(d3143::Ready::manual);
//   ctx.set_signal(SIGHUP, d3143::Signal::queue);
//   ctx.open();
//   ... set up; on failure: ctx.notify_failure(2, "cannot bind :80");
//   ctx.notify_ready();                       // now the launcher exits 0
//   poll() on ctx.signal_fd(); while (int sig = ctx.next_signal()) ...
//   d3143::notify("STATUS=serving");          // systemd, when NOTIFY_SOCKET is set
//
//   d3143::PidFile pf("/run/tool.pid");       // d3143_pidfile_new()
//   pf.acquire();                             // throws (EEXIST) when held
//
// Every failing call throws d3143::error, a std::system_error whose code()
// is the errno (std::generic_category(), so `e.code() == std::errc::file_exists`
// works) and whose what() is "<function>: <d3143_last_error()>". Both classes are
// move-only; the destructor frees the handle (a held PidFile is released).
// A moved-from object holds no handle: every call on it throws EINVAL.
//
// Compile with `c++ -std=c++17 ... $(pkg-config --cflags --libs daemon3143)`.
//
// Versioned with the library: D3143_HPP_VERSION_* are the version of the
// library this header came with, and a static_assert refuses a daemon3143.h
// of another version.

#ifndef DAEMON3143_HPP
#define DAEMON3143_HPP

#include <daemon3143.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <system_error>
#include <utility>

#define D3143_HPP_VERSION_MAJOR 0
#define D3143_HPP_VERSION_MINOR 1
#define D3143_HPP_VERSION_PATCH 0

static_assert(D3143_HPP_VERSION_MAJOR == D3143_VERSION_MAJOR &&
		      D3143_HPP_VERSION_MINOR == D3143_VERSION_MINOR &&
		      D3143_HPP_VERSION_PATCH == D3143_VERSION_PATCH,
	      "daemon3143.hpp and daemon3143.h come from different versions of libdaemon3143");

namespace d3143 {

// The version of the library loaded at run time, e.g. "0.1.0".
inline std::string version() { return d3143_version(); }

// The exception every failing call throws: a std::system_error whose code()
// is the errno (std::generic_category()) and whose what() is exactly
// "<function>: <d3143_last_error()>" (the library's message names the errno
// already, so std::system_error's own ": <strerror>" suffix is not added).
class error : public std::system_error {
public:
	error(int err, const std::string &what)
		: std::system_error(err, std::generic_category(), what), what_(what)
	{
	}
	const char *what() const noexcept override { return what_.c_str(); }

private:
	std::string what_;
};

// Throws the d3143::error for the failure that just happened in `func`.
// errno is read first: building the message may allocate and clobber it.
[[noreturn]] inline void throw_last_error(const char *func)
{
	const int err = errno != 0 ? errno : EIO;
	const char *msg = d3143_last_error();
	std::string what(func);
	if (msg != nullptr && *msg != '\0') {
		what += ": ";
		what += msg;
	} else {
		what += ": ";
		what += std::generic_category().message(err);
	}
	throw error(err, what);
}

namespace detail {
inline void check(int rc, const char *func)
{
	if (rc != 0)
		throw_last_error(func);
}
} // namespace detail

// When to detach (D3143_DETACH_*).
enum class Detach : int {
	never = D3143_DETACH_NEVER,
	always = D3143_DETACH_ALWAYS,
	automatic = D3143_DETACH_AUTO,
};

// What a signal does in the daemon (D3143_SIG_*).
enum class Signal : int {
	unchanged = D3143_SIG_UNCHANGED,
	default_action = D3143_SIG_DEFAULT,
	ignore = D3143_SIG_IGNORE,
	terminate = D3143_SIG_TERMINATE,
	queue = D3143_SIG_QUEUE, // read with Context::signal_fd() / next_signal()
};

// When the launcher is told the daemon is ready (D3143_READY_*).
enum class Ready : int {
	on_open = D3143_READY_ON_OPEN, // when open() returns in the daemon
	manual = D3143_READY_MANUAL,   // at notify_ready() / notify_failure()
};

// Sends `state` to systemd (NOTIFY_SOCKET), e.g. "STATUS=serving",
// "RELOADING=1", "WATCHDOG=1". Nothing happens when NOTIFY_SOCKET is unset;
// throws when the socket refuses or `state` is empty (EINVAL).
inline void notify(const std::string &state)
{
	if (d3143_notify(state.c_str()) != 0)
		throw_last_error("d3143_notify");
}

// PEP 3143's DaemonContext: set options, then open().
class Context {
public:
	Context() : ctx_(d3143_ctx_new())
	{
		if (ctx_ == nullptr)
			throw_last_error("d3143_ctx_new");
	}
	~Context() { d3143_ctx_free(ctx_); }

	Context(const Context &) = delete;
	Context &operator=(const Context &) = delete;
	Context(Context &&other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}
	Context &operator=(Context &&other) noexcept
	{
		if (this != &other) {
			d3143_ctx_free(ctx_);
			ctx_ = std::exchange(other.ctx_, nullptr);
		}
		return *this;
	}

	// Options (each validated at once; after open(): EALREADY).
	// An empty optional path is spelled with the *_none() setters.
	void set_chroot_directory(const std::string &path)
	{
		detail::check(d3143_ctx_set_chroot_directory(ctx_, path.c_str()),
			      "d3143_ctx_set_chroot_directory");
	}
	void set_no_chroot()
	{
		detail::check(d3143_ctx_set_chroot_directory(ctx_, nullptr),
			      "d3143_ctx_set_chroot_directory");
	}
	void set_working_directory(const std::string &path)
	{
		detail::check(d3143_ctx_set_working_directory(ctx_, path.c_str()),
			      "d3143_ctx_set_working_directory");
	}
	void set_umask(mode_t mask)
	{
		detail::check(d3143_ctx_set_umask(ctx_, mask), "d3143_ctx_set_umask");
	}
	void set_uid(uid_t uid) { detail::check(d3143_ctx_set_uid(ctx_, uid), "d3143_ctx_set_uid"); }
	void set_gid(gid_t gid) { detail::check(d3143_ctx_set_gid(ctx_, gid), "d3143_ctx_set_gid"); }
	void set_initgroups(bool on)
	{
		detail::check(d3143_ctx_set_initgroups(ctx_, on), "d3143_ctx_set_initgroups");
	}
	void set_prevent_core(bool on)
	{
		detail::check(d3143_ctx_set_prevent_core(ctx_, on), "d3143_ctx_set_prevent_core");
	}
	void set_detach_process(Detach mode)
	{
		detail::check(d3143_ctx_set_detach_process(ctx_, static_cast<int>(mode)),
			      "d3143_ctx_set_detach_process");
	}
	void preserve_fd(int fd)
	{
		detail::check(d3143_ctx_preserve_fd(ctx_, fd), "d3143_ctx_preserve_fd");
	}
	// The stream targets: an fd (duplicated now), or -1 for /dev/null.
	void set_stdin(int fd) { detail::check(d3143_ctx_set_stdin(ctx_, fd), "d3143_ctx_set_stdin"); }
	void set_stdout(int fd)
	{
		detail::check(d3143_ctx_set_stdout(ctx_, fd), "d3143_ctx_set_stdout");
	}
	void set_stderr(int fd)
	{
		detail::check(d3143_ctx_set_stderr(ctx_, fd), "d3143_ctx_set_stderr");
	}
	void set_pidfile(const std::string &path)
	{
		detail::check(d3143_ctx_set_pidfile(ctx_, path.c_str()), "d3143_ctx_set_pidfile");
	}
	void set_no_pidfile()
	{
		detail::check(d3143_ctx_set_pidfile(ctx_, nullptr), "d3143_ctx_set_pidfile");
	}
	void set_signal(int signum, Signal action)
	{
		detail::check(d3143_ctx_set_signal(ctx_, signum, static_cast<int>(action)),
			      "d3143_ctx_set_signal");
	}
	void set_signal_handler(int signum, void (*handler)(int))
	{
		detail::check(d3143_ctx_set_signal_handler(ctx_, signum, handler),
			      "d3143_ctx_set_signal_handler");
	}

	// Readiness: when the launcher exits 0 (Ready::manual: at notify_ready()).
	void set_ready_mode(Ready mode)
	{
		detail::check(d3143_ctx_set_ready_mode(ctx_, static_cast<int>(mode)),
			      "d3143_ctx_set_ready_mode");
	}
	// How long the launcher waits for readiness (0: for ever); then it kills
	// the daemon, removes the pidfile and exits 1.
	void set_ready_timeout(std::chrono::milliseconds timeout)
	{
		detail::check(d3143_ctx_set_ready_timeout(ctx_, static_cast<int>(timeout.count())),
			      "d3143_ctx_set_ready_timeout");
	}
	// s6-style readiness fd (>= 3; -1: none): "\n" is written to it at readiness.
	void set_ready_fd(int fd)
	{
		detail::check(d3143_ctx_set_ready_fd(ctx_, fd), "d3143_ctx_set_ready_fd");
	}
	// In the daemon, Ready::manual: the launcher exits 0 (systemd gets READY=1).
	void notify_ready() { detail::check(d3143_ctx_notify_ready(ctx_), "d3143_ctx_notify_ready"); }
	// In the daemon, Ready::manual, before exec()ing another program.
	void notify_exec() { detail::check(d3143_ctx_notify_exec(ctx_), "d3143_ctx_notify_exec"); }
	// In the daemon, Ready::manual: the launcher prints "<program>: <message>"
	// and exits with `status` (1..255). The daemon should exit then.
	void notify_failure(int status, const std::string &message)
	{
		detail::check(d3143_ctx_notify_failure(ctx_, status, message.c_str()),
			      "d3143_ctx_notify_failure");
	}
	// A readiness notification to systemd that failed without failing
	// open(); empty when there was none.
	std::string notify_error() const
	{
		const char *e = d3143_ctx_notify_error(ctx_);
		if (e == nullptr)
			throw_last_error("d3143_ctx_notify_error");
		return e;
	}
	// Signal::queue: an fd readable while a queued signal is pending (owned by
	// the context: do not close it), and the next signal (0: none pending).
	int signal_fd() const
	{
		const int fd = d3143_ctx_signal_fd(ctx_);
		if (fd < 0)
			throw_last_error("d3143_ctx_signal_fd");
		return fd;
	}
	int next_signal()
	{
		const int sig = d3143_ctx_next_signal(ctx_);
		if (sig < 0)
			throw_last_error("d3143_ctx_next_signal");
		return sig;
	}

	// The working directory as seen from the host (the chroot rule).
	std::string working_directory() const
	{
		const char *wd = d3143_ctx_working_directory(ctx_);
		if (wd == nullptr)
			throw_last_error("d3143_ctx_working_directory");
		return wd;
	}

	// Daemonizes. When detaching, only the daemon returns; the launcher
	// exits 0 once the daemon is ready (1 with a message if it fails).
	void open() { detail::check(d3143_ctx_open(ctx_), "d3143_ctx_open"); }
	void close() { detail::check(d3143_ctx_close(ctx_), "d3143_ctx_close"); }
	bool is_open() const noexcept { return d3143_ctx_is_open(ctx_); }

	d3143_ctx *native_handle() const noexcept { return ctx_; }

private:
	d3143_ctx *ctx_;
};

// A pidfile: an exclusive flock(2) on a file holding the owner's pid.
class PidFile {
public:
	explicit PidFile(const std::string &path) : pf_(d3143_pidfile_new(path.c_str()))
	{
		if (pf_ == nullptr)
			throw_last_error("d3143_pidfile_new");
	}
	~PidFile() { d3143_pidfile_free(pf_); } // releases it if held

	PidFile(const PidFile &) = delete;
	PidFile &operator=(const PidFile &) = delete;
	PidFile(PidFile &&other) noexcept : pf_(std::exchange(other.pf_, nullptr)) {}
	PidFile &operator=(PidFile &&other) noexcept
	{
		if (this != &other) {
			d3143_pidfile_free(pf_);
			pf_ = std::exchange(other.pf_, nullptr);
		}
		return *this;
	}

	void acquire() { detail::check(d3143_pidfile_acquire(pf_), "d3143_pidfile_acquire"); }
	void release() { detail::check(d3143_pidfile_release(pf_), "d3143_pidfile_release"); }

	// The absolute path (a relative one was joined with the cwd at construction).
	std::string path() const
	{
		const char *p = d3143_pidfile_path(pf_);
		if (p == nullptr)
			throw_last_error("d3143_pidfile_path");
		return p;
	}

	// The pid holding the pidfile at `path`, 0 when nobody holds it.
	static pid_t holder(const std::string &path)
	{
		const pid_t pid = d3143_pidfile_holder(path.c_str());
		if (pid < 0)
			throw_last_error("d3143_pidfile_holder");
		return pid;
	}
	pid_t holder() const { return holder(path()); }

	d3143_pidfile *native_handle() const noexcept { return pf_; }

private:
	d3143_pidfile *pf_;
};

} // namespace d3143

#endif // DAEMON3143_HPP
