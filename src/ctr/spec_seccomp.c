/* Seccomp: the built-in RuntimeDefault profile, profile files, and the CRI's
 * choice between them.
 *
 * The built-in profile is an allow-list with the semantics of the common
 * container default profiles (Docker's, which containerd and cri-o share):
 * every syscall not listed fails with EPERM; the listed ones are allowed,
 * some only for a given architecture, kernel, argument, or when the
 * container holds a capability (CAP_SYS_ADMIN unlocks mount, unshare,
 * setns, clone with namespace flags...). clone3 fails with ENOSYS without
 * CAP_SYS_ADMIN, so that libcs fall back to clone, whose flags can be
 * checked. The table below is ocid's own, grouped by subsystem.
 *
 * Profile files come in the OCI form (linux.seccomp as is) or in the
 * Docker/containers form (archMap, includes/excludes per rule); the latter
 * is resolved for this host and the container's capabilities. */
#include "ctr/spec_internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "util/cleanup.h"
#include "util/xalloc.h"

#define N(...) ((const char *const[]){__VA_ARGS__, NULL})
#define CAP(c) (1ULL << (c))

/* Capability numbers used by the rules. */
enum {
	C_DAC_READ_SEARCH = 2,
	C_SYS_MODULE = 16,
	C_SYS_RAWIO = 17,
	C_SYS_CHROOT = 18,
	C_SYS_PTRACE = 19,
	C_SYS_PACCT = 20,
	C_SYS_ADMIN = 21,
	C_SYS_BOOT = 22,
	C_SYS_NICE = 23,
	C_SYS_TIME = 25,
	C_SYS_TTY_CONFIG = 26,
	C_SYSLOG = 34,
	C_PERFMON = 38,
	C_BPF = 39,
};

/* Architecture sets (GOARCH names). */
enum {
	A_AMD64 = 1 << 0,
	A_386 = 1 << 1,
	A_X32 = 1 << 2,
	A_ARM = 1 << 3,
	A_ARM64 = 1 << 4,
	A_PPC64LE = 1 << 5,
	A_S390 = 1 << 6,
	A_S390X = 1 << 7,
	A_RISCV64 = 1 << 8,
};

struct sc_rule {
	const char *const *names;
	int errno_ret;         /* 0 = allow; else SCMP_ACT_ERRNO with it */
	int arg_index;         /* -1 = no argument condition */
	const char *arg_op;    /* SCMP_CMP_* */
	uint64_t arg_value;
	uint64_t need_caps;    /* all of them must be held */
	uint64_t without_caps; /* skipped if any is held */
	unsigned only_arches;  /* 0 = every architecture */
	unsigned not_arches;
	int min_kernel;        /* major * 1000 + minor; 0 = any */
};

/* The namespace flags clone may not use without CAP_SYS_ADMIN: NEWNS,
 * NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. */
#define CLONE_NS_MASK 0x7E020000ULL

#define ALLOW(...) {.names = N(__VA_ARGS__), .arg_index = -1}

static const struct sc_rule default_rules[] = {
	/* files, directories, metadata */
	ALLOW("access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "chmod", "fchmod",
	      "fchmodat", "chown", "chown32", "fchown", "fchown32", "fchownat", "lchown",
	      "lchown32", "umask", "creat", "open", "openat", "openat2", "name_to_handle_at",
	      "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat",
	      "statx", "statfs", "statfs64", "fstatfs", "fstatfs64", "getdents", "getdents64",
	      "mkdir", "mkdirat", "mknod", "mknodat", "rmdir", "link", "linkat", "symlink",
	      "symlinkat", "readlink", "readlinkat", "unlink", "unlinkat", "rename", "renameat",
	      "renameat2", "truncate", "truncate64", "ftruncate", "ftruncate64", "utime",
	      "utimes", "utimensat", "utimensat_time64", "futimesat", "fallocate", "fadvise64",
	      "fadvise64_64", "readahead", "flock", "sync", "syncfs", "fsync", "fdatasync",
	      "sync_file_range", "copy_file_range", "inotify_init", "inotify_init1",
	      "inotify_add_watch", "inotify_rm_watch", "fanotify_mark"),
	/* extended attributes */
	ALLOW("getxattr", "lgetxattr", "fgetxattr", "setxattr", "lsetxattr", "fsetxattr",
	      "listxattr", "llistxattr", "flistxattr", "removexattr", "lremovexattr",
	      "fremovexattr"),
	/* descriptors and I/O */
	ALLOW("read", "readv", "pread64", "preadv", "preadv2", "write", "writev", "pwrite64",
	      "pwritev", "pwritev2", "lseek", "_llseek", "close", "close_range", "dup", "dup2",
	      "dup3", "fcntl", "fcntl64", "ioctl", "pipe", "pipe2", "sendfile", "sendfile64",
	      "splice", "tee", "vmsplice"),
	/* waiting for events */
	ALLOW("select", "_newselect", "pselect6", "pselect6_time64", "poll", "ppoll",
	      "ppoll_time64", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
	      "epoll_wait", "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd",
	      "eventfd2", "signalfd", "signalfd4", "timerfd_create", "timerfd_settime",
	      "timerfd_settime64", "timerfd_gettime", "timerfd_gettime64"),
	/* asynchronous I/O */
	ALLOW("io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents",
	      "io_pgetevents", "io_pgetevents_time64", "io_uring_setup", "io_uring_enter",
	      "io_uring_register"),
	/* memory */
	ALLOW("brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore",
	      "msync", "mlock", "mlock2", "mlockall", "munlock", "munlockall", "membarrier",
	      "memfd_create", "memfd_secret", "remap_file_pages", "pkey_alloc", "pkey_free",
	      "pkey_mprotect"),
	/* processes and threads */
	ALLOW("fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid",
	      "waitpid", "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp",
	      "getsid", "setsid", "kill", "tkill", "tgkill", "pidfd_open", "pidfd_send_signal",
	      "process_mrelease", "prctl", "capget", "capset", "getrlimit", "ugetrlimit",
	      "setrlimit", "prlimit64", "getrusage", "times", "getpriority", "setpriority",
	      "ioprio_get", "ioprio_set", "futex", "futex_time64", "futex_waitv",
	      "set_robust_list", "get_robust_list", "set_tid_address", "set_thread_area",
	      "get_thread_area", "rseq", "restart_syscall", "seccomp", "landlock_create_ruleset",
	      "landlock_add_rule", "landlock_restrict_self", "uname", "sysinfo", "getcpu",
	      "getrandom"),
	/* signals */
	ALLOW("rt_sigaction", "rt_sigprocmask", "rt_sigpending", "rt_sigsuspend",
	      "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo",
	      "rt_tgsigqueueinfo", "rt_sigreturn", "sigreturn", "sigprocmask", "sigaltstack",
	      "alarm", "pause"),
	/* clocks and timers (reading; adjtimex only changes the clock with
	 * CAP_SYS_TIME) */
	ALLOW("time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres",
	      "clock_getres_time64", "clock_nanosleep", "clock_nanosleep_time64", "nanosleep",
	      "adjtimex", "clock_adjtime", "clock_adjtime64", "getitimer", "setitimer",
	      "timer_create", "timer_delete", "timer_settime", "timer_settime64",
	      "timer_gettime", "timer_gettime64", "timer_getoverrun"),
	/* scheduling */
	ALLOW("sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getattr",
	      "sched_setattr", "sched_getparam", "sched_setparam", "sched_getscheduler",
	      "sched_setscheduler", "sched_get_priority_min", "sched_get_priority_max",
	      "sched_rr_get_interval", "sched_rr_get_interval_time64"),
	/* credentials */
	ALLOW("getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid",
	      "getegid32", "getresuid", "getresuid32", "getresgid", "getresgid32", "getgroups",
	      "getgroups32", "setuid", "setuid32", "setgid", "setgid32", "setreuid",
	      "setreuid32", "setregid", "setregid32", "setresuid", "setresuid32", "setresgid",
	      "setresgid32", "setfsuid", "setfsuid32", "setfsgid", "setfsgid32", "setgroups",
	      "setgroups32"),
	/* System V IPC and POSIX message queues */
	ALLOW("ipc", "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop",
	      "semtimedop_time64", "semctl", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open",
	      "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive",
	      "mq_timedreceive_time64", "mq_notify", "mq_getsetattr"),
	/* sockets (socket itself below: not AF_VSOCK) */
	ALLOW("socketpair", "socketcall", "bind", "listen", "accept", "accept4", "connect",
	      "shutdown", "getsockname", "getpeername", "getsockopt", "setsockopt", "send",
	      "sendto", "sendmsg", "sendmmsg", "recv", "recvfrom", "recvmsg", "recvmmsg",
	      "recvmmsg_time64"),
	{.names = N("socket"), .arg_index = 0, .arg_op = "SCMP_CMP_NE", .arg_value = 40},

	/* personality: only the harmless execution domains (PER_LINUX,
	 * PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query 0xffffffff) */
	{.names = N("personality"), .arg_index = 0, .arg_op = "SCMP_CMP_EQ", .arg_value = 0x0},
	{.names = N("personality"), .arg_index = 0, .arg_op = "SCMP_CMP_EQ", .arg_value = 0x8},
	{.names = N("personality"), .arg_index = 0, .arg_op = "SCMP_CMP_EQ",
	 .arg_value = 0x20000},
	{.names = N("personality"), .arg_index = 0, .arg_op = "SCMP_CMP_EQ",
	 .arg_value = 0x20008},
	{.names = N("personality"), .arg_index = 0, .arg_op = "SCMP_CMP_EQ",
	 .arg_value = 0xffffffff},

	/* tracing one's own children: safe since Linux 4.8 */
	{.names = N("ptrace", "process_vm_readv", "process_vm_writev"), .arg_index = -1,
	 .min_kernel = 4008},

	/* architecture-specific */
	{.names = N("arch_prctl"), .arg_index = -1, .only_arches = A_AMD64 | A_X32},
	{.names = N("modify_ldt"), .arg_index = -1, .only_arches = A_AMD64 | A_X32 | A_386},
	{.names = N("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint",
		    "cacheflush", "set_tls"),
	 .arg_index = -1, .only_arches = A_ARM | A_ARM64},
	{.names = N("sync_file_range2", "swapcontext"), .arg_index = -1,
	 .only_arches = A_PPC64LE},
	{.names = N("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
	 .arg_index = -1, .only_arches = A_S390 | A_S390X},
	{.names = N("riscv_flush_icache"), .arg_index = -1, .only_arches = A_RISCV64},

	/* clone: namespaces only with CAP_SYS_ADMIN (flags are the second
	 * argument on s390); clone3's flags cannot be inspected, so it is
	 * reported missing and callers fall back to clone */
	{.names = N("clone"), .arg_index = 0, .arg_op = "SCMP_CMP_MASKED_EQ",
	 .arg_value = CLONE_NS_MASK, .without_caps = CAP(C_SYS_ADMIN),
	 .not_arches = A_S390 | A_S390X},
	{.names = N("clone"), .arg_index = 1, .arg_op = "SCMP_CMP_MASKED_EQ",
	 .arg_value = CLONE_NS_MASK, .without_caps = CAP(C_SYS_ADMIN),
	 .only_arches = A_S390 | A_S390X},
	{.names = N("clone3"), .errno_ret = ENOSYS, .arg_index = -1,
	 .without_caps = CAP(C_SYS_ADMIN)},

	/* unlocked by capabilities */
	{.names = N("clone", "clone3", "unshare", "setns", "mount", "mount_setattr", "umount",
		    "umount2", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
		    "open_tree", "sethostname", "setdomainname", "quotactl", "quotactl_fd",
		    "lookup_dcookie", "fanotify_init", "bpf", "perf_event_open", "syslog"),
	 .arg_index = -1, .need_caps = CAP(C_SYS_ADMIN)},
	{.names = N("open_by_handle_at"), .arg_index = -1, .need_caps = CAP(C_DAC_READ_SEARCH)},
	{.names = N("reboot"), .arg_index = -1, .need_caps = CAP(C_SYS_BOOT)},
	{.names = N("chroot"), .arg_index = -1, .need_caps = CAP(C_SYS_CHROOT)},
	{.names = N("init_module", "finit_module", "delete_module"), .arg_index = -1,
	 .need_caps = CAP(C_SYS_MODULE)},
	{.names = N("acct"), .arg_index = -1, .need_caps = CAP(C_SYS_PACCT)},
	{.names = N("ptrace", "process_vm_readv", "process_vm_writev", "process_madvise",
		    "pidfd_getfd", "kcmp"),
	 .arg_index = -1, .need_caps = CAP(C_SYS_PTRACE)},
	{.names = N("iopl", "ioperm"), .arg_index = -1, .need_caps = CAP(C_SYS_RAWIO)},
	{.names = N("settimeofday", "stime", "clock_settime", "clock_settime64"),
	 .arg_index = -1, .need_caps = CAP(C_SYS_TIME)},
	{.names = N("vhangup"), .arg_index = -1, .need_caps = CAP(C_SYS_TTY_CONFIG)},
	{.names = N("mbind", "get_mempolicy", "set_mempolicy", "set_mempolicy_home_node"),
	 .arg_index = -1, .need_caps = CAP(C_SYS_NICE)},
	{.names = N("syslog"), .arg_index = -1, .need_caps = CAP(C_SYSLOG)},
	{.names = N("bpf"), .arg_index = -1, .need_caps = CAP(C_BPF)},
	{.names = N("perf_event_open"), .arg_index = -1, .need_caps = CAP(C_PERFMON)},
};

/* ---- architectures ---- */

struct arch_info {
	const char *goarch;
	unsigned bit;
	const char *scmp;             /* native */
	const char *const *compat;    /* also filtered */
};

static const struct arch_info arches[] = {
	{"amd64", A_AMD64, "SCMP_ARCH_X86_64", N("SCMP_ARCH_X86", "SCMP_ARCH_X32")},
	{"386", A_386, "SCMP_ARCH_X86", N(NULL)},
	{"arm64", A_ARM64, "SCMP_ARCH_AARCH64", N("SCMP_ARCH_ARM")},
	{"arm", A_ARM, "SCMP_ARCH_ARM", N(NULL)},
	{"ppc64le", A_PPC64LE, "SCMP_ARCH_PPC64LE", N(NULL)},
	{"s390x", A_S390X, "SCMP_ARCH_S390X", N("SCMP_ARCH_S390")},
	{"riscv64", A_RISCV64, "SCMP_ARCH_RISCV64", N(NULL)},
	{"mips64", 0, "SCMP_ARCH_MIPS64", N("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32")},
	{"mips64le", 0, "SCMP_ARCH_MIPSEL64", N("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32")},
};

static const struct arch_info *arch_find(const char *goarch)
{
	for (size_t i = 0; i < sizeof(arches) / sizeof(arches[0]); i++)
		if (strcmp(arches[i].goarch, goarch) == 0)
			return &arches[i];
	return NULL;
}

static json_t *arch_list(const struct arch_info *a)
{
	json_t *l = json_array();
	if (a == NULL)
		return l;
	spec_json_append(l, json_string(a->scmp));
	for (size_t i = 0; a->compat[i]; i++)
		spec_json_append(l, json_string(a->compat[i]));
	return l;
}

/* ---- the built-in profile ---- */

static bool rule_applies(const struct sc_rule *r, unsigned arch_bit, int kernel, uint64_t caps)
{
	if (r->only_arches && !(r->only_arches & arch_bit))
		return false;
	if (r->not_arches & arch_bit)
		return false;
	if ((r->need_caps & caps) != r->need_caps)
		return false;
	if (r->without_caps & caps)
		return false;
	if (r->min_kernel && kernel < r->min_kernel)
		return false;
	return true;
}

static json_t *build_default(const struct arch_info *a, int kernel, uint64_t caps)
{
	unsigned bit = a ? a->bit : 0;
	json_t *s = json_object();
	spec_json_set(s, "defaultAction", json_string("SCMP_ACT_ERRNO"));
	spec_json_set(s, "defaultErrnoRet", json_integer(EPERM));
	spec_json_set(s, "architectures", arch_list(a));
	json_t *calls = json_array();
	for (size_t i = 0; i < sizeof(default_rules) / sizeof(default_rules[0]); i++) {
		const struct sc_rule *r = &default_rules[i];
		if (!rule_applies(r, bit, kernel, caps))
			continue;
		json_t *e = json_object();
		json_t *names = json_array();
		for (size_t j = 0; r->names[j]; j++)
			spec_json_append(names, json_string(r->names[j]));
		spec_json_set(e, "names", names);
		if (r->errno_ret) {
			spec_json_set(e, "action", json_string("SCMP_ACT_ERRNO"));
			spec_json_set(e, "errnoRet", json_integer(r->errno_ret));
		} else {
			spec_json_set(e, "action", json_string("SCMP_ACT_ALLOW"));
		}
		if (r->arg_index >= 0) {
			json_t *arg = json_object();
			spec_json_set(arg, "index", json_integer(r->arg_index));
			spec_json_set(arg, "value", json_integer((json_int_t)r->arg_value));
			spec_json_set(arg, "valueTwo", json_integer(0));
			spec_json_set(arg, "op", json_string(r->arg_op));
			json_t *args = json_array();
			spec_json_append(args, arg);
			spec_json_set(e, "args", args);
		}
		spec_json_append(calls, e);
	}
	spec_json_set(s, "syscalls", calls);
	return s;
}

/* The profile depends only on the architecture, the kernel and the
 * capabilities, and containers of a cluster share a few sets of those: each
 * profile is built once and shared (read-only; jansson's reference counts
 * are atomic and encoding does not modify a value). */
struct default_cache_entry {
	const struct arch_info *arch;
	int kernel;
	uint64_t caps;
	json_t *profile;
};
#define DEFAULT_CACHE_SIZE 8
static struct default_cache_entry default_cache[DEFAULT_CACHE_SIZE];
static size_t default_cache_next;
static pthread_mutex_t default_cache_mu = PTHREAD_MUTEX_INITIALIZER;

json_t *spec_seccomp_default(const struct spec_host *host, uint64_t caps)
{
	const struct arch_info *a = arch_find(host->arch);
	pthread_mutex_lock(&default_cache_mu);
	for (size_t i = 0; i < DEFAULT_CACHE_SIZE; i++) {
		struct default_cache_entry *e = &default_cache[i];
		if (e->profile && e->arch == a && e->kernel == host->kernel_version && e->caps == caps) {
			json_t *p = json_incref(e->profile);
			pthread_mutex_unlock(&default_cache_mu);
			return p;
		}
	}
	pthread_mutex_unlock(&default_cache_mu);
	json_t *p = build_default(a, host->kernel_version, caps);
	pthread_mutex_lock(&default_cache_mu);
	struct default_cache_entry *e = &default_cache[default_cache_next++ % DEFAULT_CACHE_SIZE];
	json_decref(e->profile);
	*e = (struct default_cache_entry){.arch = a, .kernel = host->kernel_version, .caps = caps,
					  .profile = json_incref(p)};
	pthread_mutex_unlock(&default_cache_mu);
	return p;
}

/* ---- profile files ---- */

#define PROFILE_MAX (4u << 20)

static bool str_in(json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
			return true;
	return false;
}

static bool any_cap_held(json_t *list, uint64_t caps)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		int c = json_is_string(v) ? spec_cap_from_name(json_string_value(v)) : -1;
		if (c >= 0 && (caps & (1ULL << c)))
			return true;
	}
	return false;
}

static bool all_caps_held(json_t *list, uint64_t caps)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v) {
		int c = json_is_string(v) ? spec_cap_from_name(json_string_value(v)) : -1;
		if (c < 0 || !(caps & (1ULL << c)))
			return false;
	}
	return true;
}

/* "4.8" -> 4008; -1 if malformed. */
static int parse_kernel(const char *s)
{
	unsigned maj, min;
	char extra;
	if (sscanf(s, "%u.%u%c", &maj, &min, &extra) != 2 || maj > 1000 || min > 999)
		return -1;
	return (int)(maj * 1000 + min);
}

static bool arch_named(json_t *list, const char *goarch)
{
	if (str_in(list, goarch))
		return true;
	return strcmp(goarch, "386") == 0 && str_in(list, "x86");
}

/* Whether a Docker-form rule applies; -1 on a malformed condition. */
static int cond_applies(json_t *rule, const struct spec_host *host, uint64_t caps,
			const char **why)
{
	json_t *exc = json_object_get(rule, "excludes");
	json_t *inc = json_object_get(rule, "includes");
	json_t *v;
	if (exc && !json_is_null(exc)) {
		if (!json_is_object(exc))
			return *why = "\"excludes\" is not an object", -1;
		if ((v = json_object_get(exc, "arches")) && json_array_size(v) &&
		    arch_named(v, host->arch))
			return 0;
		if ((v = json_object_get(exc, "caps")) && any_cap_held(v, caps))
			return 0;
		if ((v = json_object_get(exc, "minKernel")) && json_is_string(v)) {
			int k = parse_kernel(json_string_value(v));
			if (k < 0)
				return *why = "bad \"minKernel\"", -1;
			if (host->kernel_version >= k)
				return 0;
		}
	}
	if (inc && !json_is_null(inc)) {
		if (!json_is_object(inc))
			return *why = "\"includes\" is not an object", -1;
		if ((v = json_object_get(inc, "arches")) && json_array_size(v) &&
		    !arch_named(v, host->arch))
			return 0;
		if ((v = json_object_get(inc, "caps")) && json_array_size(v) &&
		    !all_caps_held(v, caps))
			return 0;
		if ((v = json_object_get(inc, "minKernel")) && json_is_string(v)) {
			int k = parse_kernel(json_string_value(v));
			if (k < 0)
				return *why = "bad \"minKernel\"", -1;
			if (host->kernel_version < k)
				return 0;
		}
	}
	return 1;
}

static bool is_strv(json_t *a)
{
	size_t i;
	json_t *v;
	if (!json_is_array(a))
		return false;
	json_array_foreach(a, i, v)
		if (!json_is_string(v))
			return false;
	return true;
}

/* Turns a parsed profile document into linux.seccomp. */
static int profile_convert(const char *path, json_t *doc, const struct spec_host *host,
			   uint64_t caps, json_t **out, ocid_error **err)
{
#define BAD(fmt, ...) \
	err_set(err, GRPC_INVALID_ARGUMENT, "seccomp profile %s: " fmt, path, __VA_ARGS__)
	if (!json_is_object(doc))
		return BAD("%s", "not a JSON object");
	json_t *da = json_object_get(doc, "defaultAction");
	if (!json_is_string(da))
		return BAD("%s", "\"defaultAction\" is missing or not a string");
	json_t *s = json_object();
	spec_json_set(s, "defaultAction", json_incref(da));
	static const char *const keep[] = {"defaultErrnoRet", "flags", "listenerPath",
					   "listenerMetadata"};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		json_t *v = json_object_get(doc, keep[i]);
		if (v && !json_is_null(v))
			spec_json_set(s, keep[i], json_incref(v));
	}
	json_t *archs = json_object_get(doc, "architectures");
	json_t *archmap = json_object_get(doc, "archMap");
	if (archs && !json_is_null(archs)) {
		if (!is_strv(archs)) {
			json_decref(s);
			return BAD("%s", "\"architectures\" is not a list of strings");
		}
		spec_json_set(s, "architectures", json_incref(archs));
	} else if (archmap && !json_is_null(archmap)) {
		const struct arch_info *a = arch_find(host->arch);
		size_t i;
		json_t *m;
		if (!json_is_array(archmap)) {
			json_decref(s);
			return BAD("%s", "\"archMap\" is not a list");
		}
		json_array_foreach(archmap, i, m) {
			json_t *an = json_object_get(m, "architecture");
			if (a == NULL || !json_is_string(an) ||
			    strcmp(json_string_value(an), a->scmp) != 0)
				continue;
			json_t *l = json_array();
			spec_json_append(l, json_incref(an));
			json_t *sub = json_object_get(m, "subArchitectures");
			size_t j;
			json_t *sv;
			json_array_foreach(sub, j, sv)
				if (json_is_string(sv))
					spec_json_append(l, json_incref(sv));
			spec_json_set(s, "architectures", l);
			break;
		}
	}
	json_t *rules = json_object_get(doc, "syscalls");
	json_t *calls = json_array();
	spec_json_set(s, "syscalls", calls);
	if (rules && !json_is_null(rules) && !json_is_array(rules)) {
		json_decref(s);
		return BAD("%s", "\"syscalls\" is not a list");
	}
	size_t i;
	json_t *r;
	json_array_foreach(rules, i, r) {
		const char *why = NULL;
		if (!json_is_object(r)) {
			json_decref(s);
			return BAD("syscalls[%zu] is not an object", i);
		}
		json_t *names = json_object_get(r, "names");
		json_t *name = json_object_get(r, "name");
		json_t *action = json_object_get(r, "action");
		if (!json_is_string(action) || (names == NULL && !json_is_string(name)) ||
		    (names && !is_strv(names))) {
			json_decref(s);
			return BAD("syscalls[%zu]: needs \"names\" (a list of strings) and "
				   "\"action\"",
				   i);
		}
		int ok = cond_applies(r, host, caps, &why);
		if (ok < 0) {
			json_decref(s);
			return BAD("syscalls[%zu]: %s", i, why);
		}
		if (!ok)
			continue;
		json_t *e = json_object();
		if (names) {
			spec_json_set(e, "names", json_incref(names));
		} else {
			json_t *l = json_array();
			spec_json_append(l, json_incref(name));
			spec_json_set(e, "names", l);
		}
		spec_json_set(e, "action", json_incref(action));
		json_t *v;
		if ((v = json_object_get(r, "errnoRet")) && !json_is_null(v))
			spec_json_set(e, "errnoRet", json_incref(v));
		if ((v = json_object_get(r, "args")) && !json_is_null(v)) {
			if (!json_is_array(v)) {
				json_decref(e);
				json_decref(s);
				return BAD("syscalls[%zu]: \"args\" is not a list", i);
			}
			spec_json_set(e, "args", json_incref(v));
		}
		spec_json_append(calls, e);
	}
	*out = s;
	return 0;
#undef BAD
}

int spec_seccomp_load_file(const char *path, const struct spec_host *host, uint64_t caps,
			   json_t **out, ocid_error **err)
{
	*out = NULL;
	if (path == NULL || path[0] != '/')
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "seccomp profile \"%s\": the path must be absolute", path ? path : "");
	struct stat st;
	if (stat(path, &st) < 0)
		return err_set_errno(err, errno == ENOENT ? GRPC_NOT_FOUND : GRPC_INTERNAL, errno,
				     "seccomp profile %s", path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "seccomp profile %s: not a regular file", path);
	if (st.st_size > PROFILE_MAX)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "seccomp profile %s: larger than %u bytes", path, PROFILE_MAX);
	json_error_t jerr;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (doc == NULL)
		return err_set(err, GRPC_INVALID_ARGUMENT,
			       "seccomp profile %s: invalid JSON at line %d: %s", path, jerr.line,
			       jerr.text);
	int rc = profile_convert(path, doc, host, caps, out, err);
	json_decref(doc);
	return rc;
}

/* ---- the CRI's choice ---- */

static int runtime_default(const struct spec_ctx *ctx, json_t **out, ocid_error **err)
{
	const char *file = ctx->in->rtcfg->seccomp_profile;
	if (file && *file) {
		if (spec_seccomp_load_file(file, ctx->in->host, ctx->caps, out, err) < 0) {
			if ((*err)->code == GRPC_INVALID_ARGUMENT || (*err)->code == GRPC_NOT_FOUND)
				(*err)->code = GRPC_FAILED_PRECONDITION;
			return err_prefix(err, "ocid.runtime.seccomp_profile");
		}
		return 0;
	}
	*out = spec_seccomp_default(ctx->in->host, ctx->caps);
	return 0;
}

int spec_seccomp_build(const struct spec_ctx *ctx, json_t **out, ocid_error **err)
{
	*out = NULL;
	if (ctx->privileged)
		return 0;
	const Runtime__V1__SecurityProfile *p = ctx->sc ? ctx->sc->seccomp : NULL;
	if (p) {
		switch (p->profile_type) {
		case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault:
			return runtime_default(ctx, out, err);
		case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined:
			return 0;
		case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost:
			if (p->localhost_ref == NULL || p->localhost_ref[0] != '/')
				return err_set(err, GRPC_INVALID_ARGUMENT,
					       "linux.security_context.seccomp.localhost_ref: \"%s\" "
					       "is not an absolute path",
					       p->localhost_ref ? p->localhost_ref : "");
			if (spec_seccomp_load_file(p->localhost_ref, ctx->in->host, ctx->caps, out,
						   err) < 0)
				return err_prefix(err, "linux.security_context.seccomp");
			return 0;
		default:
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "linux.security_context.seccomp.profile_type: unknown "
				       "type %d",
				       (int)p->profile_type);
		}
	}
	/* The deprecated string form; empty means the default, as cri-o's
	 * seccomp_use_default_when_empty. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	const char *s = ctx->sc ? ctx->sc->seccomp_profile_path : NULL;
#pragma GCC diagnostic pop
	if (s == NULL || *s == '\0' || strcmp(s, "runtime/default") == 0 ||
	    strcmp(s, "docker/default") == 0)
		return runtime_default(ctx, out, err);
	if (strcmp(s, "unconfined") == 0)
		return 0;
	if (strncmp(s, "localhost/", 10) == 0) {
		if (s[10] != '/')
			return err_set(err, GRPC_INVALID_ARGUMENT,
				       "linux.security_context.seccomp_profile_path: \"%s\": the "
				       "path after localhost/ must be absolute",
				       s);
		if (spec_seccomp_load_file(s + 10, ctx->in->host, ctx->caps, out, err) < 0)
			return err_prefix(err, "linux.security_context.seccomp_profile_path");
		return 0;
	}
	return err_set(err, GRPC_INVALID_ARGUMENT,
		       "linux.security_context.seccomp_profile_path: unknown profile \"%s\" "
		       "(runtime/default, unconfined or localhost/<absolute path>)",
		       s);
}
