/* sandbox.c: the confinement of a media worker. Rlimits bound what a decoder can take (address
 * space, CPU, file size, descriptors, no core dumps); a seccomp-bpf filter (libseccomp) takes
 * away what a decoder never needs and an attacker who owns it would want first: sockets,
 * exec, new processes, ptrace, writing to or changing the file system, and the kernel's
 * larger attack surfaces (bpf, io_uring, user namespaces, keyrings). Everything else is
 * allowed, so that libavcodec's threads, glibc and ASan work unchanged: the list is of what
 * is forbidden, each a kill (SIGSYS) so that an attempt is seen, not retried.
 *
 * Reading files stays allowed (FFmpeg and glibc read their own data; the server's files are
 * not secret from its own user); what the worker was given comes through its socket and arena
 * only, and every other descriptor it inherited is closed first. */
#include "jobs/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define FS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FS_UNDER_ASAN 1
#endif
#endif

static int set_limit(int res, rlim_t soft, rlim_t hard) {
    struct rlimit r = {soft, hard};
    return setrlimit(res, &r);
}

/* The CPU limits as this process set them: the hard one once in fs_sandbox_enter, the soft one
 * by the last budget. Kept here so that a call costs one getrusage and no getrlimit. */
static rlim_t cpu_hard = RLIM_INFINITY, cpu_soft = RLIM_INFINITY;

int fs_sandbox_cpu_budget(int cpu_s) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u)) return 0;
    rlim_t used = (rlim_t)(u.ru_utime.tv_sec + u.ru_stime.tv_sec);
    rlim_t soft = used + 1 + (rlim_t)(cpu_s > 0 ? cpu_s : 1);
    if (cpu_hard != RLIM_INFINITY && soft > cpu_hard) soft = cpu_hard;
    /* RLIMIT_CPU counts whole seconds, so the soft limit moves about once per CPU second the
     * worker uses, not once per call */
    if (soft != cpu_soft) {
        struct rlimit r = {soft, cpu_hard};
        if (!setrlimit(RLIMIT_CPU, &r)) cpu_soft = soft;
    }
    return cpu_hard != RLIM_INFINITY && used > cpu_hard / 2;
}

/* Syscalls a decoder has no use for. */
static const int forbidden[] = {
    SCMP_SYS(socket), SCMP_SYS(socketpair), SCMP_SYS(connect), SCMP_SYS(bind),
    SCMP_SYS(listen), SCMP_SYS(accept), SCMP_SYS(accept4),
    SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(fork), SCMP_SYS(vfork),
    SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
    SCMP_SYS(creat), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(rename),
    SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(mkdir), SCMP_SYS(mkdirat),
    SCMP_SYS(rmdir), SCMP_SYS(link), SCMP_SYS(linkat), SCMP_SYS(symlink), SCMP_SYS(symlinkat),
    SCMP_SYS(chmod), SCMP_SYS(fchmod), SCMP_SYS(fchmodat), SCMP_SYS(chown), SCMP_SYS(fchown),
    SCMP_SYS(lchown), SCMP_SYS(fchownat), SCMP_SYS(truncate), SCMP_SYS(mknod),
    SCMP_SYS(mknodat), SCMP_SYS(utimensat), SCMP_SYS(memfd_create),
    SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(chroot),
    SCMP_SYS(unshare), SCMP_SYS(setns), SCMP_SYS(bpf), SCMP_SYS(perf_event_open),
    SCMP_SYS(userfaultfd), SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter),
    SCMP_SYS(io_uring_register), SCMP_SYS(keyctl), SCMP_SYS(add_key), SCMP_SYS(request_key),
    SCMP_SYS(kexec_load), SCMP_SYS(init_module), SCMP_SYS(finit_module),
    SCMP_SYS(delete_module), SCMP_SYS(reboot), SCMP_SYS(swapon), SCMP_SYS(swapoff),
    SCMP_SYS(setuid), SCMP_SYS(setgid), SCMP_SYS(setreuid), SCMP_SYS(setregid),
    SCMP_SYS(setresuid), SCMP_SYS(setresgid), SCMP_SYS(setgroups), SCMP_SYS(acct),
    SCMP_SYS(settimeofday), SCMP_SYS(clock_settime), SCMP_SYS(sethostname),
    SCMP_SYS(setdomainname), SCMP_SYS(quotactl), SCMP_SYS(name_to_handle_at),
    SCMP_SYS(open_by_handle_at), SCMP_SYS(fanotify_init), SCMP_SYS(inotify_init),
    SCMP_SYS(inotify_init1),
#ifndef FS_UNDER_ASAN
    /* LeakSanitizer stops the world with ptrace from a thread of its own at exit */
    SCMP_SYS(ptrace),
#endif
};

/* Open flags that write, create or truncate. */
static const int write_flags[] = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND};

static fs_err install_filter(fs_msg *msg) {
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    if (!f) return fs_fail(msg, FS_ERR_INTERNAL, "seccomp_init failed");
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof forbidden / sizeof forbidden[0]; i++)
        rc = seccomp_rule_add(f, SCMP_ACT_KILL_PROCESS, forbidden[i], 0);
    for (size_t i = 0; !rc && i < sizeof write_flags / sizeof write_flags[0]; i++) {
        scmp_datum_t b = (scmp_datum_t)write_flags[i];
        rc = seccomp_rule_add(f, SCMP_ACT_KILL_PROCESS, SCMP_SYS(open), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, b, b));
        if (!rc)
            rc = seccomp_rule_add(f, SCMP_ACT_KILL_PROCESS, SCMP_SYS(openat), 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, b, b));
    }
    /* A new process is a clone without CLONE_VM; threads (and ASan's helpers) share memory. */
    if (!rc)
        rc = seccomp_rule_add(f, SCMP_ACT_KILL_PROCESS, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM, 0));
    /* clone3 and openat2 pass their flags in memory a filter cannot read: refused with
     * ENOSYS, glibc falls back to clone and openat, which the rules above see. */
    if (!rc) rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (!rc) rc = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0);
    /* signals only to itself (abort, ASan) */
    if (!rc)
        rc = seccomp_rule_add(f, SCMP_ACT_KILL_PROCESS, SCMP_SYS(kill), 1,
                              SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)getpid(), 0));
    if (!rc) rc = seccomp_load(f);
    seccomp_release(f);
    if (rc) return fs_fail(msg, FS_ERR_INTERNAL, "seccomp filter: %s", strerror(-rc));
    return FS_OK;
}

fs_err fs_sandbox_enter(const fs_sandbox_limits *l, int keep_fd_max, fs_msg *msg) {
    if (close_range((unsigned)keep_fd_max + 1, ~0U, 0) != 0)
        for (int fd = keep_fd_max + 1; fd < 1024; fd++) close(fd);
    int rc = set_limit(RLIMIT_CORE, 0, 0);
#ifndef FS_UNDER_ASAN
    if (!rc && l->address_space) rc = set_limit(RLIMIT_AS, l->address_space, l->address_space);
#endif
    if (!rc && l->file_size) rc = set_limit(RLIMIT_FSIZE, l->file_size, l->file_size);
    if (!rc && l->cpu_hard_s > 0)
        rc = set_limit(RLIMIT_CPU, (rlim_t)l->cpu_hard_s, (rlim_t)l->cpu_hard_s);
    if (!rc) rc = set_limit(RLIMIT_NOFILE, 64, 64);
    if (rc) return fs_fail(msg, FS_ERR_INTERNAL, "setrlimit: %s", strerror(errno));
    struct rlimit cpu;
    if (getrlimit(RLIMIT_CPU, &cpu) == 0) cpu_hard = cpu.rlim_max, cpu_soft = cpu.rlim_cur;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        return fs_fail(msg, FS_ERR_INTERNAL, "no_new_privs: %s", strerror(errno));
    return install_filter(msg);
}
