//! DaemonContext's root-only rules: chroot (cwd inside the jail whatever its
//! symlinks, a jail without /dev or /etc, no directory fd from outside,
//! pidfile released when open() fails after the chroot) and the privilege
//! drop (all three ids, groups, primary gid, initgroups, the drop verified).
//! Each test prints "SKIP <name>: needs root" and returns when not root.

mod common;
mod ctx_harness;

use common::*;
use ctx_harness::*;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A jail with nothing in it but `dirs`.
fn jail(dirs: &[&str]) -> TempDir {
    let j = TempDir::new("ctx-jail");
    for d in dirs {
        std::fs::create_dir_all(j.join(d)).unwrap();
    }
    j
}

fn root_of(pid: i32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/root")).unwrap()
}

fn cwd_of(pid: i32) -> PathBuf {
    std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap()
}

/// No fd of `pid` is a directory (none from outside the jail stays open).
fn no_directory_fds(pid: i32) {
    for (fd, target) in fd_links(pid) {
        let meta = std::fs::metadata(format!("/proc/{pid}/fd/{fd}"));
        assert!(
            !meta.is_ok_and(|m| m.is_dir()),
            "daemon {pid} keeps directory fd {fd} ({target:?}) open"
        );
    }
}

/// After a daemon that dropped privileges is gone: the pidfile removed, or
/// (it could neither remove nor write root's file) left stale, naming the
/// dead daemon with its lock free, so that nobody takes it for running.
fn pidfile_released(p: &Path, daemon: i32) {
    let Ok(s) = std::fs::read(p) else {
        return;
    };
    assert!(
        s.is_empty() || s == format!("{daemon}\n").as_bytes(),
        "pidfile {p:?} holds {s:?}"
    );
    let f = std::fs::File::open(p).unwrap();
    // SAFETY: flock on an fd this test owns.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(r, 0, "the lock on {p:?} is still held");
}

/// Every fd `pid` has on the pidfile is read-only: a daemon that dropped
/// privileges cannot write another pid into root's file.
fn pidfile_fds_read_only(pid: i32, pidfile: &Path) {
    let mut n = 0;
    for (fd, target) in fd_links(pid) {
        if target != pidfile {
            continue;
        }
        n += 1;
        assert_eq!(
            fd_access_mode(pid, fd),
            libc::O_RDONLY,
            "daemon {pid} can write its pidfile through fd {fd}"
        );
    }
    assert_eq!(n, 1, "daemon {pid} should keep exactly its locked fd");
}

fn groups_line(pid: i32) -> Vec<u32> {
    let mut v: Vec<u32> = status_field(pid, "Groups")
        .unwrap_or_default()
        .split_whitespace()
        .map(|g| g.parse().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn chroot_without_dev_or_etc_and_a_user_given_by_name() {
    if skip_unless_root("chroot_without_dev_or_etc_and_a_user_given_by_name") {
        return;
    }
    let (uid, gid) = passwd("nobody").expect("a nobody user");
    let j = jail(&["srv"]);
    let host = TempDir::new("ctx-jail-host");
    let pidfile = host.join("d.pid");
    let mut l = Launch::run(&[
        kv("chroot", j.path()),
        "wd=/srv".into(),
        kv("pidfile", &pidfile),
        "user=nobody".into(),
    ]);
    let s = l.daemon_state();
    let pid = s.pid();
    assert_eq!(s.get("cwd"), "/srv");
    assert_eq!(root_of(pid), j.path());
    assert_eq!(cwd_of(pid), j.join("srv"));
    assert_eq!(s.get("uids"), format!("{uid},{uid},{uid}"));
    assert_eq!(
        s.get("gids"),
        format!("{gid},{gid},{gid}"),
        "the user's primary gid"
    );
    for fd in 0..3 {
        let t = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(
            t,
            Path::new("/dev/null"),
            "fd {fd}: /dev/null opened before the chroot"
        );
    }
    no_directory_fds(pid);
    pidfile_fds_read_only(pid, &pidfile);
    assert!(!j.join("dev").exists() && !j.join("etc").exists());
    assert_eq!(pid_in(&pidfile), Some(pid), "the pidfile is a host path");
    l.signal(libc::SIGTERM);
    assert_eq!(killed_by(l.reap_daemon()), Some(libc::SIGTERM));
    pidfile_released(&pidfile, pid);
}

#[test]
fn the_working_directory_never_leaves_the_jail_through_symlinks() {
    if skip_unless_root("the_working_directory_never_leaves_the_jail_through_symlinks") {
        return;
    }
    let j = jail(&["etc", "inner/deep"]);
    std::os::unix::fs::symlink("/etc", j.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../..", j.join("up")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc", j.join("inner/up_etc")).unwrap();
    for (wd, inside, host) in [
        ("/abs", "/etc", j.join("etc")),
        ("/up", "/", j.path().to_path_buf()),
        ("/inner/up_etc", "/etc", j.join("etc")),
        // a working directory given as a host path under the jail
        (
            &*format!("{}/inner//deep/", j.path().display()),
            "/inner/deep",
            j.join("inner/deep"),
        ),
    ] {
        let mut l = Launch::run(&[kv("chroot", j.path()), format!("wd={wd}").into()]);
        let s = l.daemon_state();
        assert_eq!(s.get("cwd"), inside, "wd {wd}");
        assert_eq!(cwd_of(s.pid()), host, "wd {wd}: cwd outside the jail");
        assert_eq!(root_of(s.pid()), j.path());
        no_directory_fds(s.pid());
    }
}

#[test]
fn a_relative_chroot_is_joined_with_the_cwd_when_set() {
    if skip_unless_root("a_relative_chroot_is_joined_with_the_cwd_when_set") {
        return;
    }
    let d = TempDir::new("ctx-reljail");
    std::fs::create_dir(d.join("jail")).unwrap();
    let mut o = Opts::new(&["chroot=jail"]);
    o.cwd = Some(d.path().to_path_buf());
    let mut l = Launch::start(o);
    let s = l.daemon_state();
    assert_eq!(root_of(s.pid()), d.join("jail"));
    assert_eq!(s.get("cwd"), "/");
}

#[test]
fn the_pidfile_is_released_when_open_fails_after_the_chroot() {
    if skip_unless_root("the_pidfile_is_released_when_open_fails_after_the_chroot") {
        return;
    }
    let j = jail(&[]);
    let host = TempDir::new("ctx-jail-fail");
    let pidfile = host.join("d.pid");
    let mut l = Launch::run(&[
        kv("chroot", j.path()),
        "wd=/missing".into(),
        kv("pidfile", &pidfile),
    ]);
    let f = l.open_failed();
    assert_eq!(f.int("errno"), libc::ENOENT as i64, "{}", f.raw);
    assert!(f.get("msg").contains("/missing"), "{}", f.raw);
    assert!(
        !pidfile.exists(),
        "pidfile left after open() failed in the jail"
    );
    // a missing jail is an error too, before anything is changed
    let mut l = Launch::run(&[kv("chroot", &host.join("nojail")), kv("pidfile", &pidfile)]);
    let f = l.open_failed();
    assert_eq!(f.int("errno"), libc::ENOENT as i64, "{}", f.raw);
    assert!(f.get("msg").contains("nojail"), "{}", f.raw);
    assert!(!pidfile.exists());
}

#[test]
fn dropping_root_changes_all_ids_clears_groups_and_cannot_be_undone() {
    if skip_unless_root("dropping_root_changes_all_ids_clears_groups_and_cannot_be_undone") {
        return;
    }
    let host = TempDir::new("ctx-drop");
    let pidfile = host.join("d.pid");
    let mut l = Launch::run(&[
        "setgroups=0,4,27".into(),
        "uid=65534".into(),
        "gid=65534".into(),
        "regain=1".into(),
        kv("pidfile", &pidfile),
    ]);
    let s = l.daemon_state();
    let pid = s.pid();
    assert_eq!(s.get("uids"), "65534,65534,65534");
    assert_eq!(s.get("gids"), "65534,65534,65534");
    assert_eq!(s.list("groups"), vec![65534], "exactly {{gid}}");
    assert_eq!(groups_line(pid), vec![65534]);
    assert_eq!(
        status_field(pid, "Uid")
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["65534"; 4]
    );
    assert_eq!(
        status_field(pid, "Gid")
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["65534"; 4]
    );
    let eperm = libc::EPERM as i64;
    assert_eq!(s.int("setuid0"), eperm, "setuid(0) after the drop");
    assert_eq!(s.int("setresuid0"), eperm, "setresuid(-1, 0, -1)");
    assert_eq!(s.int("setgroups0"), eperm, "setgroups({{0}})");
    assert_eq!(s.int("setgid0"), eperm, "setgid(0)");
    assert_eq!(s.int("euid_after"), 65534);
    assert_eq!(s.get("core"), "0,0");
    assert_eq!(s.int("dumpable"), 0, "PR_SET_DUMPABLE 0 after the drop");
    assert_eq!(pid_in(&pidfile), Some(pid));
    pidfile_fds_read_only(pid, &pidfile);
    l.signal(libc::SIGTERM);
    assert_eq!(killed_by(l.reap_daemon()), Some(libc::SIGTERM));
    pidfile_released(&pidfile, pid);
}

/// A user whose primary gid differs from its uid, else nobody.
fn some_user() -> (&'static str, u32, u32) {
    for name in ["postgres", "daemon", "bin", "nobody"] {
        if let Some((u, g)) = passwd(name) {
            if u != 0 {
                return (name, u, g);
            }
        }
    }
    panic!("no unprivileged user in /etc/passwd");
}

#[test]
fn uid_only_sets_the_users_primary_gid_and_only_that_group() {
    if skip_unless_root("uid_only_sets_the_users_primary_gid_and_only_that_group") {
        return;
    }
    let (name, uid, gid) = some_user();
    let mut l = Launch::run(&["setgroups=0,4,27".to_string(), format!("uid={uid}")]);
    let s = l.daemon_state();
    assert_eq!(s.get("uids"), format!("{uid},{uid},{uid}"), "{name}");
    assert_eq!(
        s.get("gids"),
        format!("{gid},{gid},{gid}"),
        "{name}'s primary gid"
    );
    assert_eq!(s.list("groups"), vec![gid as i64]);
}

fn grouplist(name: &str, gid: u32) -> Vec<i64> {
    let cname = std::ffi::CString::new(name).unwrap();
    let mut groups = vec![0 as libc::gid_t; 256];
    let mut n = groups.len() as libc::c_int;
    // SAFETY: buffers valid for n entries.
    let r = unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
    assert!(r >= 0);
    let mut v: Vec<i64> = groups[..n as usize].iter().map(|&g| g as i64).collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn initgroups_gives_getgrouplists_list() {
    if skip_unless_root("initgroups_gives_getgrouplists_list") {
        return;
    }
    let (name, uid, gid) = some_user();
    let want = grouplist(name, gid);
    let mut l = Launch::run(&[
        "setgroups=0,4,27".to_string(),
        format!("user={name}"),
        "initgroups=1".into(),
    ]);
    let s = l.daemon_state();
    assert_eq!(s.get("uids"), format!("{uid},{uid},{uid}"));
    let mut got = s.list("groups");
    got.sort();
    got.dedup();
    assert_eq!(got, want, "{name}'s getgrouplist()");
}

#[test]
fn a_uid_without_passwd_entry_needs_an_explicit_gid() {
    if skip_unless_root("a_uid_without_passwd_entry_needs_an_explicit_gid") {
        return;
    }
    let uid = (54321..60000)
        .find(|u| {
            // SAFETY: getpwuid returns NULL or a valid pointer.
            unsafe { libc::getpwuid(*u).is_null() }
        })
        .unwrap();
    let host = TempDir::new("ctx-nopw");
    let pidfile = host.join("d.pid");
    let mut l = Launch::run(&[format!("uid={uid}").into(), kv("pidfile", &pidfile)]);
    let f = l.open_failed();
    assert_eq!(f.int("errno"), libc::EINVAL as i64, "{}", f.raw);
    assert!(f.get("msg").contains("gid"), "asks for a gid: {}", f.raw);
    assert!(!pidfile.exists());
    let mut l = Launch::run(&[format!("uid={uid}"), format!("gid={uid}")]);
    let s = l.daemon_state();
    assert_eq!(s.get("uids"), format!("{uid},{uid},{uid}"));
    assert_eq!(s.get("gids"), format!("{uid},{uid},{uid}"));
    assert_eq!(s.list("groups"), vec![uid as i64]);
}

#[test]
fn root_stays_root_with_its_groups_when_nothing_is_asked() {
    if skip_unless_root("root_stays_root_with_its_groups_when_nothing_is_asked") {
        return;
    }
    let mut l = Launch::run(&["setgroups=0,4,27"]);
    let s = l.daemon_state();
    assert_eq!(s.get("uids"), "0,0,0");
    let mut g = s.list("groups");
    g.sort();
    assert_eq!(g, vec![0, 4, 27], "ids unchanged: groups left alone");
}

#[test]
fn a_setuid_program_returning_to_its_real_uid_keeps_the_invokers_groups() {
    if skip_unless_root("a_setuid_program_returning_to_its_real_uid_keeps_the_invokers_groups") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let d = TempDir::new("ctx-suid");
    let suid = d.join("ctx_probe");
    std::fs::copy(probe(), &suid).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let mut o = Opts::new(&["regain=1"]);
    o.program = Some(suid);
    o.wrapper = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--groups=4242,65534",
    ]
    .iter()
    .map(Into::into)
    .collect();
    let mut l = Launch::start(o);
    let s = l.daemon_state();
    // default uid/gid: the caller's real ids; the saved set-uid 0 is gone
    assert_eq!(s.get("uids"), "65534,65534,65534");
    assert_eq!(s.get("gids"), "65534,65534,65534");
    let mut g = s.list("groups");
    g.sort();
    assert_eq!(g, vec![4242, 65534], "the invoker's groups");
    assert_eq!(s.int("setuid0"), libc::EPERM as i64);
    assert_eq!(s.int("setresuid0"), libc::EPERM as i64);
    assert_eq!(s.int("setgroups0"), libc::EPERM as i64);
}

/// `/proc/<pid>/status`'s CapInh, CapPrm, CapEff and CapAmb.
fn cap_sets(pid: i32) -> Vec<(&'static str, u64)> {
    ["CapInh", "CapPrm", "CapEff", "CapAmb"]
        .into_iter()
        .map(|f| {
            let v = status_field(pid, f).unwrap_or_else(|| panic!("{f} of {pid}"));
            (f, u64::from_str_radix(&v, 16).unwrap())
        })
        .collect()
}

/// CAP_SETGID (6) and CAP_SETUID (7).
const SETID_CAPS: u64 = 0xc0;

/// A caller that runs as uid 1000 with CAP_SETUID and CAP_SETGID ambient (as
/// systemd's `AmbientCapabilities=` or file capabilities give them).
fn with_ambient_setid_caps() -> Vec<std::ffi::OsString> {
    [
        "setpriv",
        "--reuid=1000",
        "--regid=1000",
        "--clear-groups",
        "--inh-caps=+setuid,+setgid",
        "--ambient-caps=+setuid,+setgid",
    ]
    .iter()
    .map(Into::into)
    .collect()
}

/// The daemon's own attempt to undo the drop: raising its permitted
/// capabilities, then setuid(0), setresuid(), setgroups({0}), setgid(0).
fn cannot_regain_root(s: &Line) {
    let eperm = libc::EPERM as i64;
    assert_eq!(
        s.int("setuid0"),
        eperm,
        "setuid(0) after the drop: {}",
        s.raw
    );
    assert_eq!(
        s.int("setresuid0"),
        eperm,
        "setresuid(-1, 0, -1): {}",
        s.raw
    );
    assert_eq!(s.int("setgroups0"), eperm, "setgroups({{0}}): {}", s.raw);
    assert_eq!(s.int("setgid0"), eperm, "setgid(0): {}", s.raw);
    assert_eq!(s.int("euid_after"), 65534);
}

#[test]
fn root_with_keepcaps_drops_every_capability() {
    if skip_unless_root("root_with_keepcaps_drops_every_capability") {
        return;
    }
    // PR_SET_KEEPCAPS: the kernel keeps the permitted set through setresuid().
    let mut l = Launch::run(&[
        "keepcaps=1",
        "uid=65534",
        "gid=65534",
        "detach=never",
        "regain=1",
    ]);
    let s = l.state();
    let pid = s.pid();
    assert_eq!(s.get("uids"), "65534,65534,65534");
    for (set, v) in cap_sets(pid) {
        assert_eq!(v, 0, "{set} of the dropped daemon {pid}: {v:#x}");
    }
    cannot_regain_root(&s);
    l.release();
    assert!(l.reap_daemon().success());
}

#[test]
fn a_non_root_caller_with_ambient_setuid_caps_drops_them() {
    if skip_unless_root("a_non_root_caller_with_ambient_setuid_caps_drops_them") {
        return;
    }
    let mut o = Opts::new(&[
        "precaps=1",
        "uid=65534",
        "gid=65534",
        "detach=never",
        "regain=1",
    ]);
    o.wrapper = with_ambient_setid_caps();
    let mut l = Launch::start(o);
    let before = l.expect("precaps");
    for set in ["prm", "eff", "amb"] {
        let v = u64::from_str_radix(before.get(set), 16).unwrap();
        assert_eq!(
            v & SETID_CAPS,
            SETID_CAPS,
            "the caller's {set}: {}",
            before.raw
        );
    }
    let s = l.state();
    let pid = s.pid();
    assert_eq!(s.get("uids"), "65534,65534,65534");
    assert_eq!(s.get("gids"), "65534,65534,65534");
    for (set, v) in cap_sets(pid) {
        assert_eq!(v, 0, "{set} of the dropped daemon {pid}: {v:#x}");
    }
    cannot_regain_root(&s);
    l.release();
    assert!(l.reap_daemon().success());
}

#[test]
fn capabilities_are_left_alone_when_no_drop_is_asked() {
    if skip_unless_root("capabilities_are_left_alone_when_no_drop_is_asked") {
        return;
    }
    let mut o = Opts::new(&["detach=never"]);
    o.wrapper = with_ambient_setid_caps();
    let mut l = Launch::start(o);
    let s = l.state();
    assert_eq!(s.get("uids"), "1000,1000,1000");
    for (set, v) in cap_sets(s.pid()) {
        if set != "CapInh" {
            assert_eq!(v, SETID_CAPS, "{set} kept without a uid or gid set");
        }
    }
    l.release();
    assert!(l.reap_daemon().success());
}

/// Runs ctx_probe (`program`) as uid 65534 with an environment an attacker
/// chose: NOTIFY_SOCKET naming `sock`, LISTEN_PID naming the probe and
/// LISTEN_FDS=1 (fd 3, the attacker's file). Returns the daemon's state line
/// and the datagrams that reached the socket by then (readiness is sent
/// inside open(), before the state line, when not detaching).
fn run_as_nobody_with_systemd_env(
    program: &Path,
    sock: &std::os::unix::net::UnixDatagram,
    sock_path: &Path,
    leak: &Path,
) -> (Line, Vec<String>) {
    let mut o = Opts::new(&["detach=never"]);
    o.args.push(kv("leak", leak));
    o.args.push("leakfds=3".into());
    o.program = Some(program.to_path_buf());
    o.env = vec![
        ("NOTIFY_SOCKET".into(), sock_path.to_str().unwrap().into()),
        ("LISTEN_FDS".into(), "1".into()),
    ];
    o.wrapper = [
        "sh",
        "-c",
        "export LISTEN_PID=$$; exec setpriv --reuid=65534 --regid=65534 --clear-groups \"$@\"",
        "sh",
    ]
    .iter()
    .map(Into::into)
    .collect();
    let mut l = Launch::start(o);
    let s = l.state();
    assert_eq!(s.get("uids"), "65534,65534,65534", "{}", s.raw);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("recv on {sock_path:?}: {e}"),
        }
    }
    l.release();
    assert!(l.reap_daemon().success());
    (s, got)
}

#[test]
fn a_setuid_program_ignores_the_invokers_notify_socket_and_listen_fds() {
    if skip_unless_root("a_setuid_program_ignores_the_invokers_notify_socket_and_listen_fds") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    // Under the temp dir (/tmp here, not mounted nosuid: the control below
    // would tell a setuid bit that does not work apart from one ignored).
    let d = TempDir::new("ctx-suid-env");
    let suid = d.join("ctx_probe");
    std::fs::copy(probe(), &suid).unwrap();
    std::os::unix::fs::chown(&suid, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    // The attacker's directory: its socket and the file it passes as fd 3.
    let att = d.join("attacker");
    std::fs::create_dir(&att).unwrap();
    std::os::unix::fs::chown(&att, Some(65534), Some(65534)).unwrap();
    let sock_path = att.join("notify");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_nonblocking(true).unwrap();
    std::os::unix::fs::chown(&sock_path, Some(65534), Some(65534)).unwrap();
    let leak = att.join("fd3");
    std::fs::write(&leak, "").unwrap();
    std::os::unix::fs::chown(&leak, Some(65534), Some(65534)).unwrap();

    // Control: the same program without the setuid bit uses them.
    let (s, got) = run_as_nobody_with_systemd_env(probe(), &sock, &sock_path, &leak);
    assert!(
        got.iter().any(|m| m.contains("READY=1")),
        "control: no READY=1 on NOTIFY_SOCKET: {got:?}"
    );
    assert!(
        s.list("fds").contains(&3),
        "control: LISTEN_FDS fd 3 closed: {}",
        s.raw
    );

    // Setuid root, run by uid 65534: secure execution, the variables ignored.
    let (s, got) = run_as_nobody_with_systemd_env(&suid, &sock, &sock_path, &leak);
    assert_eq!(
        got,
        Vec::<String>::new(),
        "a setuid daemon sent to the invoker's NOTIFY_SOCKET"
    );
    assert!(
        !s.list("fds").contains(&3),
        "a setuid daemon kept the invoker's fd 3 (LISTEN_PID/LISTEN_FDS): {}",
        s.raw
    );
}
