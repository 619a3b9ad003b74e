// daemon3143.hpp — a small header-only C++17 RAII wrapper over libdaemon3143.
//
//   d3143::Context ctx;                       // d3143_ctx_new()
//   ctx.set_pidfile("/run/mydaemon.pid");
//   ctx.open();                               // the launcher never returns
//
//   d3143::PidFile pf("/run/tool.pid");       // d3143_pidfile_new()
//   pf.acquire();                             // throws (EEXIST) when held
//
// Every failing call throws std::system_error whose code() is the errno
// (std::generic_category(), so `e.code() == std::errc::file_exists` works)
// and whose what() is "<function>: <d3143_last_error()>". Both classes are
// move-only; the destructor frees the handle (a held PidFile is released).
// A moved-from object holds no handle: every call on it throws EINVAL.
//
// Compile with `c++ -std=c++17 ... $(pkg-config --cflags --libs daemon3143)`.

#ifndef DAEMON3143_HPP
#define DAEMON3143_HPP

#include <daemon3143.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>

namespace d3143 {

// Throws the std::system_error for the failure that just happened in `func`.
// errno is read first: building the message may allocate and clobber it.
[[noreturn]] inline void throw_last_error(const char *func)
{
	const int err = errno != 0 ? errno : EIO;
	const char *msg = d3143_last_error();
	std::string what(func);
	if (msg != nullptr && *msg != '\0') {
		what += ": ";
		what += msg;
	}
	throw std::system_error(err, std::generic_category(), what);
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
};

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
