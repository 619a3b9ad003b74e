// cpp_daemon.cpp — a C++17 daemon on the RAII wrapper (daemon3143.hpp),
// built against the INSTALLED header with only
// `pkg-config --cflags --libs daemon3143`; driven by tests/bindings.sh.
//
//   cpp_daemon selftest DIR
//       checks the wrapper without daemonizing (exceptions carry errno and
//       the library's message, move-only handles, PidFile sharing/holder).
//   cpp_daemon daemon PIDFILE LOG [ctx|pidfile-first|manual|fail]
//       daemonizes (detach always) with the pidfile; the daemon's stdout and
//       stderr go to LOG, where it writes "ready pid=<pid> sid=<sid>", then
//       waits for signals. SIGTERM (the default TERMINATE action) removes the
//       pidfile and ends it. `ctx` (default) gives the path to the context;
//       `pidfile-first` acquires a d3143::PidFile first (libbsd's order) and
//       the context passes it on to the daemon. `manual`: Ready::manual,
//       the daemon writes its ready line, then notify_ready() (so the
//       launcher exits 0 only after that line), and SIGHUP is queued: each
//       one read from signal_fd() is logged as "signal 1". `fail`:
//       Ready::manual, then notify_failure(3, "cannot start: config
//       broken"): the launcher prints that and exits 3. A failure prints
//       "cpp_daemon: <what> [errno N]" on stderr and exits 1.

#include <daemon3143.hpp>

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <type_traits>

static_assert(!std::is_copy_constructible_v<d3143::Context>, "Context is move-only");
static_assert(!std::is_copy_assignable_v<d3143::Context>, "Context is move-only");
static_assert(std::is_nothrow_move_constructible_v<d3143::Context>, "noexcept move");
static_assert(std::is_nothrow_move_assignable_v<d3143::Context>, "noexcept move");
static_assert(!std::is_copy_constructible_v<d3143::PidFile>, "PidFile is move-only");
static_assert(!std::is_copy_assignable_v<d3143::PidFile>, "PidFile is move-only");
static_assert(std::is_nothrow_move_constructible_v<d3143::PidFile>, "noexcept move");
static_assert(std::is_nothrow_move_assignable_v<d3143::PidFile>, "noexcept move");

namespace {

int failures = 0;

void check(bool ok, const std::string &what)
{
	std::cout << (ok ? "ok   - " : "FAIL - ") << what << std::endl;
	if (!ok)
		++failures;
}

// Runs f, which must throw std::system_error with errno `want` and a what()
// that is exactly `func: ` followed by the library's (non-empty) message.
template <typename F> void expect_error(const std::string &desc, int want, const char *func, F f)
{
	try {
		f();
		check(false, desc + ": no exception");
	} catch (const std::system_error &e) {
		const std::string what = e.what();
		const std::string prefix = std::string(func) + ": ";
		const bool ok = e.code().value() == want && e.code().category() == std::generic_category() &&
				what.rfind(prefix, 0) == 0 && what.size() > prefix.size() &&
				what == prefix + d3143_last_error(); // no strerror suffix added
		check(ok, desc + " -> errno " + std::to_string(e.code().value()) + ", \"" + what + "\"");
	}
}

bool exists(const std::string &path) { return access(path.c_str(), F_OK) == 0; }

std::string slurp(const std::string &path)
{
	std::ifstream in(path);
	std::stringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

int selftest(const std::string &dir)
{
	// Context: errors are std::system_error with errno and the message.
	d3143::Context ctx;
	check(!ctx.is_open(), "a new context is not open");
	check(ctx.working_directory() == "/", "default working directory is /");
	expect_error("umask 01000", EINVAL, "d3143_ctx_set_umask", [&] { ctx.set_umask(01000); });
	expect_error("relative working directory", EINVAL, "d3143_ctx_set_working_directory",
		     [&] { ctx.set_working_directory("relative/dir"); });
	expect_error("preserve a closed fd", EBADF, "d3143_ctx_preserve_fd", [&] { ctx.preserve_fd(987); });
	expect_error("SIGKILL cannot be mapped", EINVAL, "d3143_ctx_set_signal",
		     [&] { ctx.set_signal(SIGKILL, d3143::Signal::ignore); });
	ctx.set_umask(022);
	ctx.set_chroot_directory("/tmp/jail");
	ctx.set_working_directory("/srv");
	check(ctx.working_directory() == "/tmp/jail/srv", "chroot rule: /tmp/jail + /srv");

	// Move-only: the moved-from object holds nothing and refuses with EINVAL.
	d3143::Context moved(std::move(ctx));
	check(ctx.native_handle() == nullptr && moved.native_handle() != nullptr,
	      "move construction transfers the handle");
	check(moved.working_directory() == "/tmp/jail/srv", "the moved-to context keeps its options");
	expect_error("setter on a moved-from context", EINVAL, "d3143_ctx_set_umask",
		     [&] { ctx.set_umask(0); });
	check(!ctx.is_open(), "moved-from context is not open");
	d3143::Context other;
	other = std::move(moved);
	check(other.working_directory() == "/tmp/jail/srv", "move assignment transfers the handle");

	// PidFile.
	expect_error("empty pidfile path", EINVAL, "d3143_pidfile_new", [] { d3143::PidFile p(""); });
	expect_error("pidfile in a missing directory", ENOENT, "d3143_pidfile_acquire", [&] {
		d3143::PidFile p(dir + "/missing/x.pid");
		p.acquire();
	});
	const std::string path = dir + "/self.pid";
	const std::string mine = std::to_string(getpid()) + "\n";
	{
		d3143::PidFile a(path);
		check(a.path() == path, "path() is the absolute path");
		check(d3143::PidFile::holder(path) == 0, "holder() is 0 before acquire");
		a.acquire();
		check(a.holder() == getpid(), "holder() is getpid() after acquire");
		check(slurp(path) == mine, "pidfile holds \"<pid>\\n\"");
		d3143::PidFile b(path);
		b.acquire(); // same process: shares the one lock
		a.release();
		check(exists(path) && b.holder() == getpid(), "shared lock survives one release");
		b.release();
		check(!exists(path), "last release removes the file");
		check(d3143::PidFile::holder(path) == 0, "holder() is 0 after release");
	}
	{
		d3143::PidFile a(path);
		a.acquire();
		d3143::PidFile b(std::move(a));
		check(a.native_handle() == nullptr, "moved-from PidFile holds nothing");
		expect_error("acquire on a moved-from PidFile", EINVAL, "d3143_pidfile_acquire",
			     [&] { a.acquire(); });
		check(exists(path), "pidfile still held by the moved-to object");
	}
	check(!exists(path), "destructor of a held PidFile releases it");

	// Readiness, notify and the signal fd, before open().
	{
		d3143::Context r;
		r.set_ready_mode(d3143::Ready::manual);
		r.set_ready_timeout(std::chrono::milliseconds(5000));
		expect_error("negative ready timeout", EINVAL, "d3143_ctx_set_ready_timeout",
			     [&] { r.set_ready_timeout(std::chrono::milliseconds(-1)); });
		expect_error("ready fd 2", EINVAL, "d3143_ctx_set_ready_fd", [&] { r.set_ready_fd(2); });
		expect_error("notify_ready before open", EINVAL, "d3143_ctx_notify_ready",
			     [&] { r.notify_ready(); });
		expect_error("signal_fd without a queued signal", EINVAL, "d3143_ctx_signal_fd",
			     [&] { (void)r.signal_fd(); });
		r.set_signal(SIGHUP, d3143::Signal::queue);
		check(r.signal_fd() >= 3, "signal_fd() once SIGHUP is queued");
		check(r.next_signal() == 0, "next_signal() is 0 when none is pending");
		check(r.notify_error().empty(), "notify_error() is empty before open");
	}
	unsetenv("NOTIFY_SOCKET");
	d3143::notify("STATUS=selftest"); // no NOTIFY_SOCKET: nothing to do, no error
	check(true, "notify() without NOTIFY_SOCKET does nothing");
	expect_error("notify(\"\")", EINVAL, "d3143_notify", [] { d3143::notify(""); });
	setenv("NOTIFY_SOCKET", (dir + "/no-such-socket").c_str(), 1);
	expect_error("notify() to a missing socket", ENOENT, "d3143_notify",
		     [] { d3143::notify("STATUS=x"); });
	unsetenv("NOTIFY_SOCKET");
	check(d3143::version() == d3143_version(), "d3143::version() is d3143_version()");

	std::cout << "selftest: " << (failures == 0 ? "ok" : "FAILED") << ", version "
		  << d3143_version() << std::endl;
	return failures == 0 ? 0 : 1;
}

int run_daemon(const std::string &pidfile, const std::string &log, const std::string &mode)
{
	const int logfd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0)
		throw std::system_error(errno, std::generic_category(), "open " + log);

	d3143::Context ctx;
	ctx.set_detach_process(d3143::Detach::always);
	ctx.set_stdout(logfd);
	ctx.set_stderr(logfd);
	ctx.set_umask(022);
	d3143::PidFile pf(pidfile); // used by pidfile-first only
	if (mode == "pidfile-first")
		pf.acquire();
	else if (mode == "ctx" || mode == "manual" || mode == "fail")
		ctx.set_pidfile(pidfile);
	else
		throw std::system_error(EINVAL, std::generic_category(), "unknown mode " + mode);
	if (mode == "manual" || mode == "fail")
		ctx.set_ready_mode(d3143::Ready::manual);
	if (mode == "manual")
		ctx.set_signal(SIGHUP, d3143::Signal::queue);
	std::cout << "cpp_daemon: daemonizing, pidfile " << pidfile << std::endl;

	ctx.open(); // the launcher exits 0 here once the daemon is ready

	std::printf("ready pid=%ld sid=%ld open=%d mode=%s\n", static_cast<long>(getpid()),
		    static_cast<long>(getsid(0)), ctx.is_open() ? 1 : 0, mode.c_str());
	std::fflush(stdout);
	if (mode == "fail") {
		ctx.notify_failure(3, "cannot start: config broken");
		return 3;
	}
	if (mode != "manual") {
		for (;;)
			pause(); // SIGTERM: TERMINATE removes the pidfile and ends us
	}
	ctx.notify_ready(); // the launcher exits 0 now, after the ready line
	struct pollfd p = {ctx.signal_fd(), POLLIN, 0};
	for (;;) {
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			throw std::system_error(errno, std::generic_category(), "poll");
		while (const int sig = ctx.next_signal()) {
			std::printf("signal %d\n", sig);
			std::fflush(stdout);
		}
	}
}

} // namespace

int main(int argc, char **argv)
{
	try {
		if (argc == 3 && std::strcmp(argv[1], "selftest") == 0)
			return selftest(argv[2]);
		if ((argc == 4 || argc == 5) && std::strcmp(argv[1], "daemon") == 0)
			return run_daemon(argv[2], argv[3], argc == 5 ? argv[4] : "ctx");
	} catch (const std::system_error &e) {
		std::cerr << "cpp_daemon: " << e.what() << " [errno " << e.code().value() << "]"
			  << std::endl;
		return 1;
	}
	std::cerr << "usage: cpp_daemon selftest DIR | daemon PIDFILE LOG [ctx|pidfile-first|manual|fail]"
		  << std::endl;
	return 2;
}
