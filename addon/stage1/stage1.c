/* ward-stage1: the pod launcher. Spawned by ward-helper (as root, from a sealed memfd copy, so
 * nothing inside the pod can reach this binary: CVE-2019-5736) with:
 *   fd 0,1,2  the caller's stdio (passed to the helper with SCM_RIGHTS)
 *   fd 3      a socketpair to the helper: the launch spec in, status lines out
 *   fd 4      the seccomp BPF program (raw struct sock_filter array), when the spec says so
 *   fd 5      enter mode: a pidfd of the running pod's init (taken and checked by the helper)
 *   fd 5, 6   the pod's lock file (flock'ed by the helper: the lock lives as long as S and C do)
 *             and its status file (apps' exit statuses), when the spec says state_fds; they let
 *             anyone see the pod's fate after the helper that started it is gone
 *
 * The order of operations follows runc and crun (DESIGN.md §3.8), with rkt's layout of a pod:
 *   S (host root): read spec and BPF, mount the pod root (a small tmpfs holding each app's overlay
 *     root, its sealed tree the read-only lower layer, at /opt/stage2/<name>/rootfs) in a private
 *     mount namespace, unshare the user namespace alone, let the helper write uid_map/gid_map
 *     from outside, become root of the new namespace, unshare mount/pid/ipc/uts/net/cgroup, fork
 *     C; then wait for C and pass its exit on.
 *   C (pid 1 of the pod): /dev (the host's device nodes), /proc and /sys in the pod root, pivot_root into
 *     it, hostname, loopback up; then for each app in turn fork A into a mount namespace of its
 *     own and wait for its execve; "R" once every app runs; then reap, forward signals to every
 *     app, record each app's exit and run its post-stop handler, and end with the last app.
 *   A (an app): its root (binds of the pod's /proc, /dev, /sys inside its overlay, every target resolved inside the
 *     root without following symlinks, pivot_root, masked and read-only paths, read-only root),
 *     its pre-start handler, cwd (checked to be inside the root), stage the SELinux exec label
 *     (through a procfs-checked fd), drop the bounding set, set ids, capset, no_new_privs, mark
 *     every fd but 0-2 close-on-exec, load seccomp last, execve.
 *   The apps share the pod's user, pid, ipc, uts, net and cgroup namespaces; each sees only its
 *   own root. Nothing of the host, nor the pod root, is reachable from an app.
 *
 * Status lines to the helper on fd 3: "U" (user ns ready: write the maps), "P <pid>" (host pid of
 * pod init), "R" (every app's execve succeeded), "E <message>" (setup failed; the pod does not
 * run), "X <code> <signal>" (the pod's end: the first app's exit, as rkt reports it).
 * The helper answers "U" with "M" once the maps are written. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include "mountapi.h"
#include "net.h"
#include "spec.h"
#include "volumes.h"

#define SYNC_FD 3
#define BPF_FD 4
#define LOCK_FD 5
#define STATUS_FD 6
/* Pod init keeps app i's mount namespace at fd APP_NS_FD_BASE + i while the app runs. */
#define APP_NS_FD_BASE 100

static struct spec spec;
static struct sock_filter bpf_progs[SPEC_MAX_APPS][SPEC_MAX_BPF_BYTES / sizeof(struct sock_filter)];
/* S forwards signals to pod init; pod init to every app still running (0: none, or reaped). */
static volatile sig_atomic_t forward_to = 0;
static volatile sig_atomic_t app_pids[SPEC_MAX_APPS];
/* Pod init: a handle on each app's mount namespace, held from its start until its post-stop
 * handler has run (-1: none). */
static int app_ns[SPEC_MAX_APPS];
/* In the app before execve: a byte here tells pod init that the exec did not happen. */
static int exec_err_fd = -1;

/* One status line to the helper. Failure to write is not fatal: the helper sees our exit. */
static void status_line(const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof(line) - 2) n = (int)sizeof(line) - 2;
  for (int i = 0; i < n; i++)
    if (line[i] == '\n') line[i] = ' ';
  line[n++] = '\n';
  ssize_t off = 0;
  while (off < n) {
    ssize_t w = write(SYNC_FD, line + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += w;
  }
}

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
static __attribute__((noreturn, format(printf, 1, 2))) void die_plain(const char *fmt, ...);

/* One line to the pod's status file (O_APPEND: one write, one whole line). Best effort like the
 * status lines: a pod whose status cannot be written still ends, and shows "unknown". */
static void status_file(const char *fmt, ...) {
  if (!spec.state_fds) return;
  char line[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n <= 0 || (size_t)n >= sizeof(line)) return;
  ssize_t w;
  do w = write(STATUS_FD, line, (size_t)n);
  while (w < 0 && errno == EINTR);
}

static void check_state_fds(void) {
  if (!spec.state_fds) return;
  struct stat st;
  if (fstat(LOCK_FD, &st) < 0 || !S_ISREG(st.st_mode)) die_plain("fd 5 is not the pod's lock file");
  int fl = fcntl(STATUS_FD, F_GETFL);
  if (fl < 0 || fstat(STATUS_FD, &st) < 0 || !S_ISREG(st.st_mode) || !(fl & O_APPEND) || (fl & O_ACCMODE) == O_RDONLY)
    die_plain("fd 6 is not the pod's status file opened for appending");
  /* Not inherited across any exec: the apps' execve and nothing else drops them. */
  if (fcntl(LOCK_FD, F_SETFD, FD_CLOEXEC) < 0 || fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC) < 0) die("marking state fds close-on-exec");
}

static __attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...) {
  char msg[400];
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  status_line("E %s: %s", msg, strerror(saved));
  if (exec_err_fd >= 0) (void)!write(exec_err_fd, "e", 1);
  _exit(254);
}

static __attribute__((noreturn, format(printf, 1, 2))) void die_plain(const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  status_line("E %s", msg);
  if (exec_err_fd >= 0) (void)!write(exec_err_fd, "e", 1);
  _exit(254);
}

static int read_full(int fd, void *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t r = read(fd, (char *)buf + off, len - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    off += (size_t)r;
  }
  return 0;
}

static void read_spec(void) {
  unsigned char hdr[4];
  if (read_full(SYNC_FD, hdr, 4) < 0) die("reading launch spec header");
  uint32_t len = ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) | ((uint32_t)hdr[2] << 8) | hdr[3];
  if (len == 0 || len > SPEC_MAX_BYTES) die_plain("launch spec length %u out of range", len);
  char *buf = malloc(len);
  if (!buf) die("allocating launch spec");
  if (read_full(SYNC_FD, buf, len) < 0) die("reading launch spec");
  char err[200];
  if (spec_parse(&spec, buf, len, err, sizeof(err)) < 0) die_plain("%s", err);
}

/* The apps' programs, one after another (spec.h); fd 4 must hold exactly their sum. */
static void read_bpf(void) {
  int any = 0;
  for (size_t i = 0; i < spec.napps; i++) {
    size_t len = spec.apps[i].seccomp_len;
    if (len == 0) continue;
    any = 1;
    if (read_full(BPF_FD, bpf_progs[i], len) < 0) die_plain("seccomp programs on fd 4 are shorter than the launch spec says");
  }
  if (!any) return;
  char extra;
  ssize_t r;
  do r = read(BPF_FD, &extra, 1);
  while (r < 0 && errno == EINTR);
  if (r != 0) die_plain("seccomp programs on fd 4 are longer than the launch spec says");
  if (close(BPF_FD) < 0) die("closing seccomp fd");
}

static void wait_for_maps(void) {
  status_line("U");
  char c[2];
  if (read_full(SYNC_FD, c, 2) < 0 || c[0] != 'M' || c[1] != '\n') die_plain("helper did not write the id maps");
}

/* Opens path inside the root dirfd without following any symlink or magic link. */
static int open_in_root(int rootfd, const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  long fd;
  do fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
  while (fd < 0 && errno == EINTR);
  return (int)fd;
}

/* A mount target directory inside the root: created if missing, refused if anything but a dir. */
static int target_dir(int rootfd, const char *path) {
  int fd = open_in_root(rootfd, path, O_PATH | O_DIRECTORY);
  if (fd < 0 && errno == ENOENT) {
    const char *rel = path[0] == '/' ? path + 1 : path;
    if (mkdirat(rootfd, rel, 0755) < 0 && errno != EEXIST) die("creating mount point %s", path);
    fd = open_in_root(rootfd, path, O_PATH | O_DIRECTORY);
  }
  if (fd < 0) die("mount point %s must be a directory inside the root (no symlinks)", path);
  return fd;
}

static void pivot_here(int rootfd);

static void fdpath(char *buf, size_t len, int fd) { snprintf(buf, len, "/proc/self/fd/%d", fd); }

/* Mount data with the pod's file label appended as context="..." when the spec carries one
 * (SELinux hosts only: a kernel without SELinux refuses the option). The label's characters
 * were checked by spec_parse, so quoting is all it needs. Returns buf, or base unchanged. */
static const char *with_context(char *buf, size_t len, const char *base) {
  if (!spec.selinux_mount_label) return base;
  int n = snprintf(buf, len, "%s%scontext=\"%s\"", base ? base : "", base && base[0] ? "," : "", spec.selinux_mount_label);
  if (n < 0 || (size_t)n >= len) die_plain("mount options too long");
  return buf;
}

static void mount_at(const char *src, int targetfd, const char *type, unsigned long flags, const char *data,
                     const char *what) {
  char t[64];
  fdpath(t, sizeof(t), targetfd);
  if (mount(src, t, type, flags, data) < 0) die("mounting %s", what);
}

/* Makes the mount at path (inside the current root) read-only, keeping its other flags. */
static void make_readonly(int rootfd, const char *path) {
  int fd = open_in_root(rootfd, path, O_PATH);
  if (fd < 0) {
    if (errno == ENOENT) return;
    die("opening read-only path %s", path);
  }
  char src[64];
  fdpath(src, sizeof(src), fd);
  mount_at(src, fd, NULL, MS_BIND | MS_REC, NULL, path);
  /* Re-open: the old fd names the dentry below the new bind mount. */
  int bfd = open_in_root(rootfd, path, O_PATH);
  if (bfd < 0) die("re-opening %s", path);
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
  if (syscall(SYS_mount_setattr, bfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
    die("making %s read-only", path);
  close(bfd);
  close(fd);
}

static void mask_path(int rootfd, int devnullfd, const char *path) {
  int fd = open_in_root(rootfd, path, O_PATH);
  if (fd < 0) {
    if (errno == ENOENT) return;
    die("opening masked path %s", path);
  }
  struct stat st;
  if (fstat(fd, &st) < 0) die("stat of masked path %s", path);
  if (S_ISDIR(st.st_mode)) {
    char data[512];
    mount_at("tmpfs", fd, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
             with_context(data, sizeof(data), "size=0k,nr_inodes=1,mode=000"), path);
  } else {
    char src[64];
    fdpath(src, sizeof(src), devnullfd);
    mount_at(src, fd, NULL, MS_BIND, NULL, path);
  }
  close(fd);
}

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static void setup_dev(int rootfd) {
  char data[512];
  int devfd = target_dir(rootfd, "/dev");
  mount_at("tmpfs", devfd, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_STRICTATIME, with_context(data, sizeof(data), "mode=755,size=65536k"), "/dev");
  close(devfd);
  devfd = open_in_root(rootfd, "/dev", O_DIRECTORY | O_RDONLY);
  if (devfd < 0) die("opening /dev");
  struct statfs sfs;
  if (fstatfs(devfd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC) die_plain("/dev is not the tmpfs just mounted");
  for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(dev_nodes[0]); i++) {
    char host[32];
    snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
    int nfd = openat(devfd, dev_nodes[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (nfd < 0) die("creating /dev/%s", dev_nodes[i]);
    close(nfd);
    int tfd = openat(devfd, dev_nodes[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (tfd < 0) die("opening /dev/%s", dev_nodes[i]);
    /* Source is the host's device node, looked up before pod init's pivot_root in the host's /dev. */
    struct stat st;
    if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode)) die("host %s is not a character device", host);
    mount_at(host, tfd, NULL, MS_BIND, NULL, host);
    close(tfd);
  }
  static const char *const links[][2] = {{"/proc/self/fd", "fd"},        {"/proc/self/fd/0", "stdin"},
                                         {"/proc/self/fd/1", "stdout"},  {"/proc/self/fd/2", "stderr"},
                                         {"pts/ptmx", "ptmx"},           {"/proc/kcore", "core"}};
  for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
    if (symlinkat(links[i][0], devfd, links[i][1]) < 0) die("creating /dev/%s", links[i][1]);
  static const char *const dirs[] = {"pts", "shm", "mqueue"};
  for (size_t i = 0; i < 3; i++)
    if (mkdirat(devfd, dirs[i], 0755) < 0) die("creating /dev/%s", dirs[i]);
  int fd = openat(devfd, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("opening /dev/pts");
  mount_at("devpts", fd, "devpts", MS_NOSUID | MS_NOEXEC, with_context(data, sizeof(data), "newinstance,ptmxmode=0666,mode=0620"), "/dev/pts");
  close(fd);
  fd = openat(devfd, "shm", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("opening /dev/shm");
  mount_at("shm", fd, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, with_context(data, sizeof(data), "mode=1777,size=65536k"), "/dev/shm");
  close(fd);
  fd = openat(devfd, "mqueue", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("opening /dev/mqueue");
  /* No context= here: SELinux refuses context options on mounts made inside a user namespace
   * except for tmpfs, ramfs, devpts and overlay; message queues are IPC objects checked against
   * the process label anyway. */
  mount_at("mqueue", fd, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/dev/mqueue");
  close(fd);
  close(devfd);
}

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket for loopback");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) die("reading loopback flags");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) die("bringing loopback up");
  close(s);
}

/* A path in the pod root (S: below spec.rootfs; pod init: below /). */
static void pod_path(char *buf, size_t len, const char *base, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void pod_path(char *buf, size_t len, const char *base, const char *fmt, ...) {
  int n = snprintf(buf, len, "%s/", base);
  if (n < 0 || (size_t)n >= len) die_plain("pod root path too long");
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(buf + n, len - (size_t)n, fmt, ap);
  va_end(ap);
  if (m < 0 || (size_t)m >= len - (size_t)n) die_plain("pod root path too long");
}

static void mkdir_in(int dirfd, const char *rel, mode_t mode) {
  if (mkdirat(dirfd, rel, mode) < 0) die("creating %s in the pod root", rel);
}

/* S, still host root: a private mount namespace holding the pod root, a small tmpfs with every
 * app's overlay (its sealed tree the read-only lower layer) at /opt/stage2/<name>/rootfs, mounted
 * with the host's view so the sealed trees (in a root-only store) never need a path the pod's
 * user can walk. The pod's own mount namespace, unshared later, inherits it all as locked mounts.
 * Everything pod init will mount on is made here: the pod root's files are host root's, which
 * nothing in the pod's user namespace may create files under. */
static void mount_pod_root(void) {
  if (unshare(CLONE_NEWNS) < 0) die("unshare(CLONE_NEWNS)");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die("making / private");
  char data[4096 + 512];
  if (mount("tmpfs", spec.rootfs, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
            with_context(data, sizeof(data), "mode=755,size=1m,nr_inodes=4096")) < 0)
    die("mounting the pod root");
  int podfd = open(spec.rootfs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct statfs sfs;
  if (podfd < 0 || fstatfs(podfd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC) die_plain("the pod root is not the tmpfs just mounted");
  mkdir_in(podfd, "proc", 0555);
  mkdir_in(podfd, "sys", 0555);
  mkdir_in(podfd, "dev", 0755);
  char rel[256];
  mkdir_in(podfd, "opt", 0755);
  mkdir_in(podfd, "opt/stage2", 0755);
  for (size_t i = 0; i < spec.napps; i++) {
    const struct app_spec *a = &spec.apps[i];
    snprintf(rel, sizeof(rel), "opt/stage2/%s", a->name);
    mkdir_in(podfd, rel, 0755);
    snprintf(rel, sizeof(rel), "opt/stage2/%s/rootfs", a->name);
    mkdir_in(podfd, rel, 0755);
    char opts[4096];
    int n = snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s", a->lower, a->upper, a->work);
    if (n < 0 || (size_t)n >= sizeof(opts)) die_plain("overlay options of app %s too long", a->name);
    char target[4096];
    pod_path(target, sizeof(target), spec.rootfs, "opt/stage2/%s/rootfs", a->name);
    if (mount("overlay", target, "overlay", MS_NOSUID, with_context(data, sizeof(data), opts)) < 0) die("mounting the root of app %s", a->name);
  }
  char verr[400];
  if (volumes_stage(&spec, podfd, verr, sizeof(verr)) < 0) die_plain("%s", verr);
  if (close(podfd) < 0) die("closing the pod root");
  if (chdir(spec.rootfs) < 0) die("entering the pod root");
}

/* Pod init (C), in the pod's mount namespace, at the pod root: the pod's /dev (a tmpfs with the
 * host's six device nodes bound in, devpts, shm, mqueue: one for the pod, as its ipc namespace
 * is), a procfs and a read-only sysfs of the pod's own, which every app binds into its root;
 * then pivot_root into the pod root: nothing of the host stays reachable.
 * Hostname and loopback are the pod's (shared by every app). */
static void setup_pod_root(void) {
  int rootfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct statfs sfs;
  if (rootfd < 0 || fstatfs(rootfd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC) die_plain("the pod root is not the tmpfs just mounted");
  setup_dev(rootfd);
  int fd = openat(rootfd, "proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("opening /proc in the pod root");
  mount_at("proc", fd, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/proc of the pod root");
  close(fd);
  fd = openat(rootfd, "sys", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) die("opening /sys in the pod root");
  if (!spec.net_host) {
    mount_at("sysfs", fd, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/sys of the pod root");
  } else {
    /* A new sysfs needs a network namespace the pod owns: with the host's (--net=host), bind the
     * host's /sys (and what is mounted below it), read-only all the way down. */
    mount_at("/sys", fd, NULL, MS_BIND | MS_REC, NULL, "/sys of the pod root");
    int bfd = openat(rootfd, "sys", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (bfd < 0) die("re-opening /sys of the pod root");
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC};
    if (syscall(SYS_mount_setattr, bfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) die("making /sys read-only");
    close(bfd);
  }
  close(fd);
  pivot_here(rootfd);
  if (sethostname(spec.hostname, strlen(spec.hostname)) < 0) die("setting the hostname");
  if (!spec.net_host) loopback_up();
}

/* The mount at the cwd came from another mount namespace (locked here); pivot_root needs a
 * mount of our own: clone it (recursively, with everything mounted on it) on top of itself, step
 * in, pivot_root, and detach the old root. Closes rootfd. */
static void pivot_here(int rootfd) {
  int treefd = (int)syscall(SYS_open_tree, AT_FDCWD, ".", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (treefd < 0) die("cloning the root mount");
  if (syscall(SYS_move_mount, treefd, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH) < 0) die("attaching the root mount");
  if (fchdir(treefd) < 0) die("entering the root mount");
  close(treefd);
  if (syscall(SYS_pivot_root, ".", ".") < 0) die("pivot_root");
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) die("making the old root a slave");
  if (umount2(".", MNT_DETACH) < 0) die("detaching the old root");
  if (chdir("/") < 0) die("chdir to the new root");
  close(rootfd);
}

/* Binds the pod root's path (pod init's /proc or /sys, reached by absolute path before the
 * app's pivot_root) onto targetfd. */
static void bind_from_pod_root(const char *path, int targetfd) {
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0) die("cloning %s of the pod root", path);
  if (syscall(SYS_move_mount, tree, "", targetfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) die("mounting %s", path);
  close(tree);
}

/* One app's root, in the app's own mount namespace (a copy of pod init's): /proc, /dev, /sys
 * inside its overlay, every target resolved inside the root without following symlinks,
 * pivot_root into it, masked and read-only paths, and a read-only root for --readonly-rootfs.
 * The app's volumes are bound in before pivot_here (volumes.c). */
static void setup_app_root(const struct app_spec *a) {
  char dir[256];
  pod_path(dir, sizeof(dir), "", "opt/stage2/%s/rootfs", a->name);
  if (chdir(dir) < 0) die("entering the root of app %s", a->name);
  int rootfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die("opening the root");
  struct statfs sfs;
  if (fstatfs(rootfd, &sfs) < 0 || sfs.f_type != OVERLAYFS_SUPER_MAGIC) die_plain("the root of app %s is not its overlay", a->name);

  /* /proc, /dev and /sys: binds of pod init's (one procfs of the pod's pid namespace, the pod's
   * /dev with everything on it, one read-only sysfs of its network namespace; a bind keeps their
   * flags), cheaper than mounting them for each app; the masks below go on this app's alone. */
  int procfd = target_dir(rootfd, "/proc");
  bind_from_pod_root("/proc", procfd);
  close(procfd);
  procfd = open_in_root(rootfd, "/proc", O_PATH | O_DIRECTORY);
  if (procfd < 0 || fstatfs(procfd, &sfs) < 0 || sfs.f_type != PROC_SUPER_MAGIC) die_plain("/proc is not a real procfs");
  close(procfd);
  int devfd = target_dir(rootfd, "/dev");
  bind_from_pod_root("/dev", devfd);
  close(devfd);
  devfd = open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
  if (devfd < 0 || fstatfs(devfd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC) die_plain("/dev is not the pod's tmpfs");
  close(devfd);
  int sysfd = target_dir(rootfd, "/sys");
  bind_from_pod_root("/sys", sysfd);
  close(sysfd);
  char verr[400];
  if (volumes_bind(&spec, a, rootfd, verr, sizeof(verr)) < 0) die_plain("%s", verr);

  pivot_here(rootfd);
  rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die("opening the new root");

  /* Masks bind the /dev/null we just mounted, checked to be the null device (CVE-2025-31133:
   * never trust a /dev/null by name). */
  int devnullfd = open_in_root(rootfd, "/dev/null", O_PATH);
  struct stat st;
  if (devnullfd < 0 || fstat(devnullfd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
    die_plain("/dev/null in the pod is not the null device");
  for (size_t i = 0; i < spec.nmasked; i++) mask_path(rootfd, devnullfd, spec.masked[i]);
  for (size_t i = 0; i < spec.nreadonly; i++) make_readonly(rootfd, spec.readonly[i]);
  close(devnullfd);
  /* --readonly-rootfs: the root mount alone (its /proc, /dev, /sys keep their own flags). */
  if (a->readonly_rootfs) {
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    if (syscall(SYS_mount_setattr, rootfd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) die("making the root of app %s read-only", a->name);
  }
  close(rootfd);
}

static void drop_privileges(const struct app_spec *a) {
  int last = CAP_LAST_CAP;
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (f) {
    if (fscanf(f, "%d", &last) != 1) last = CAP_LAST_CAP;
    fclose(f);
  }
  uint64_t keep = 0;
  for (size_t i = 0; i < a->ncaps; i++) keep |= 1ULL << a->caps[i];
  for (int c = 0; c <= last; c++)
    if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      die("dropping capability %d from the bounding set", c);
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) die("PR_SET_KEEPCAPS");
  if (setgroups(a->ngroups, a->ngroups > 0 ? a->groups : NULL) < 0) die("setting the app's supplementary groups");
  if (setresgid(a->gid, a->gid, a->gid) < 0) die("setting gid %u", (unsigned)a->gid);
  if (setresuid(a->uid, a->uid, a->uid) < 0) die("setting uid %u", (unsigned)a->uid);
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof(data));
  for (int i = 0; i < 2; i++) {
    uint32_t bits = (uint32_t)(keep >> (32 * i));
    data[i].effective = bits;
    data[i].permitted = bits;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &hdr, data) < 0) die("setting capabilities");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) die("clearing ambient capabilities");
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) die("PR_SET_KEEPCAPS off");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("PR_SET_NO_NEW_PRIVS");
}

/* Opens /proc/thread-self/attr/exec for writing, and only if it really is procfs's file: /proc
 * must be a procfs (fstatfs of the directory), the path below it must not leave it or cross a
 * mount (RESOLVE_BENEATH | RESOLVE_NO_XDEV: a bind mount over attr/exec is refused) and the
 * opened file itself must be on procfs (CVE-2019-16884, CVE-2019-19921, CVE-2025-52881). */
static int open_attr_exec(void) {
  int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die("opening the root");
  int procfd = open_in_root(rootfd, "/proc", O_PATH | O_DIRECTORY);
  if (procfd < 0) die("opening /proc to stage the SELinux label");
  close(rootfd);
  struct statfs sfs;
  if (fstatfs(procfd, &sfs) < 0) die("fstatfs of /proc");
  if (sfs.f_type != PROC_SUPER_MAGIC) die_plain("/proc is not a procfs: refusing to stage the SELinux label through it");
  struct open_how how = {.flags = (uint64_t)(O_WRONLY | O_CLOEXEC | O_NOCTTY),
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
  long fd;
  do fd = syscall(SYS_openat2, procfd, "thread-self/attr/exec", &how, sizeof(how));
  while (fd < 0 && errno == EINTR);
  if (fd < 0) die("opening /proc/thread-self/attr/exec (it must be procfs's own file, with nothing mounted over it)");
  close(procfd);
  struct stat st;
  if (fstatfs((int)fd, &sfs) < 0 || fstat((int)fd, &st) < 0) die("checking /proc/thread-self/attr/exec");
  if (sfs.f_type != PROC_SUPER_MAGIC || !S_ISREG(st.st_mode))
    die_plain("/proc/thread-self/attr/exec is not procfs's file: refusing to stage the SELinux label through it");
  return (int)fd;
}

/* The app's SELinux label takes effect at its execve (REFERENCE §2 step 5): staged now, after
 * every mount and before capabilities and no_new_privs go. */
static void stage_exec_label(void) {
  if (!spec.selinux_label) return;
  int fd = open_attr_exec();
  /* As libselinux's setexeccon: the context and its NUL. */
  size_t len = strlen(spec.selinux_label) + 1;
  ssize_t w;
  do w = write(fd, spec.selinux_label, len);
  while (w < 0 && errno == EINTR);
  if (w < 0) die("staging the SELinux exec label %s", spec.selinux_label);
  if ((size_t)w != len) die_plain("staging the SELinux exec label %s: short write", spec.selinux_label);
  if (close(fd) < 0) die("closing attr/exec");
}

#ifdef WARD_TEST_HOOKS
/* Test builds only: a decoy where the exec label is about to be written (see spec.h). */
static void test_decoys(void) {
  if (!spec.test_proc_dir && !spec.test_attr_file) return;
  int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die("test hook: opening the root");
  const char *src_path = spec.test_proc_dir ? spec.test_proc_dir : spec.test_attr_file;
  int src = open_in_root(rootfd, src_path, O_PATH);
  if (src < 0) die("test hook: opening %s", src_path);
  int target = spec.test_proc_dir ? open_in_root(rootfd, "/proc", O_PATH | O_DIRECTORY) : open("/proc/thread-self/attr/exec", O_PATH | O_CLOEXEC);
  if (target < 0) die("test hook: opening the decoy's target");
  char srcp[64];
  fdpath(srcp, sizeof(srcp), src);
  mount_at(srcp, target, NULL, MS_BIND, NULL, "test decoy");
  close(target);
  close(src);
  close(rootfd);
}
#endif

/* execve of argv: an absolute path as is; a bare name searched in the app's own PATH (from its
 * environment, inside its root), as a shell would. Returns only on failure, with errno from the
 * most telling attempt. */
static void exec_in_path(const struct app_spec *a, const char *const *argv) {
  const char *cmd = argv[0];
  if (cmd[0] == '/') {
    execve(cmd, (char *const *)argv, (char *const *)a->env);
    return;
  }
  const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  for (size_t i = 0; i < a->nenv; i++)
    if (strncmp(a->env[i], "PATH=", 5) == 0) path = a->env[i] + 5;
  int saved = ENOENT;
  char candidate[4096];
  const char *p = path;
  for (;;) {
    const char *end = strchr(p, ':');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    int n = snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)len, len ? p : ".", cmd);
    if (n > 0 && (size_t)n < sizeof(candidate)) {
      execve(candidate, (char *const *)argv, (char *const *)a->env);
      if (errno != ENOENT && errno != ENOTDIR) saved = errno;
    }
    if (!end) break;
    p = end + 1;
  }
  errno = saved;
}

/* The app (or its event handler, or an entered command), confined as app number idx: signals at
 * their defaults, its cwd (checked to be inside the root), the exec label, ids, caps,
 * no_new_privs, every fd but 0-2 close-on-exec, seccomp last, execve of argv. */
static __attribute__((noreturn)) void exec_app(size_t idx, const char *const *argv) {
  const struct app_spec *a = &spec.apps[idx];
  sigset_t none;
  if (sigemptyset(&none) < 0 || sigprocmask(SIG_SETMASK, &none, NULL) < 0) die("clearing the signal mask");
  for (int s = 1; s < NSIG; s++)
    if (s != SIGKILL && s != SIGSTOP && signal(s, SIG_DFL) == SIG_ERR && errno != EINVAL) die("resetting signal %d", s);
  /* glibc's signal() refuses the two signals it keeps for itself (32 and 33), and the helper's
   * posix_spawn leaves them ignored: reset them with the system call itself, so the app starts
   * with every disposition at its default, as an exec from a plain fork would give it. */
  struct { void *handler; unsigned long flags; void *restorer; unsigned long mask; } dfl = {SIG_DFL, 0, NULL, 0};
  for (int s = 32; s <= 33; s++)
    if (syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof(unsigned long)) < 0) die("resetting signal %d", s);
  if (setsid() < 0) die("setsid");
  if (chdir(a->cwd) < 0) die("entering working directory %s", a->cwd);
  char cwd[4096];
  if (getcwd(cwd, sizeof(cwd)) == NULL || cwd[0] != '/') die_plain("working directory is outside the root");
#ifdef WARD_TEST_HOOKS
  test_decoys();
#endif
  stage_exec_label();
  drop_privileges(a);
  /* ward enter: the command dies with the stage1 that entered it (the helper kills that one when
   * its caller goes away). Set after the id change, which clears it. */
  if (spec.enter && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die("PR_SET_PDEATHSIG");
  if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) die("marking fds close-on-exec");
  if (a->seccomp_len) {
    struct sock_fprog prog = {.len = (unsigned short)(a->seccomp_len / sizeof(struct sock_filter)), .filter = bpf_progs[idx]};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) die("loading the seccomp filter");
  }
  exec_in_path(a, argv);
  die("executing %s", argv[0]);
}

static pid_t wait_child(pid_t pid, int *status) {
  for (;;) {
    pid_t p = waitpid(pid, status, 0);
    if (p < 0 && errno == EINTR) continue;
    return p;
  }
}

/* An event handler of app idx, forked, confined as the app, waited for. Returns its wait status. */
static int run_handler(size_t idx, const char *const *argv) {
  pid_t h = fork();
  if (h < 0) die("fork of an event handler of app %s", spec.apps[idx].name);
  if (h == 0) exec_app(idx, argv);
  int st = 0;
  if (wait_child(h, &st) < 0) die("waiting for an event handler of app %s", spec.apps[idx].name);
  return st;
}

/* Sends one byte and, when fd >= 0, the fd with it (SCM_RIGHTS). */
static void send_with_fd(int sock, char byte, int fd) {
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd >= 0) {
    memset(&u, 0, sizeof(u));
    msg.msg_control = u.buf;
    msg.msg_controllen = sizeof(u.buf);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
  }
  ssize_t w;
  do w = sendmsg(sock, &msg, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  if (w != 1) die("passing the mount namespace to pod init");
}

/* One byte from sock, and the fd that came with it (-1: none). 0 at EOF, -1 on error. */
static int recv_with_fd(int sock, char *byte, int *fd) {
  union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
  struct iovec iov = {.iov_base = byte, .iov_len = 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
  *fd = -1;
  ssize_t r;
  do r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r <= 0) return (int)r;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t k = 0; k < n; k++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
      if (*fd < 0) *fd = got;
      else close(got);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) return -1;
  return 1;
}

/* Pod init: forks app idx into a mount namespace of its own. The app hands pod init a handle on
 * that namespace ("n" and an fd, kept at APP_NS_FD_BASE + idx in
 * pod init for post-stop and ward enter), runs its pre-start handler (which must succeed), and execs. Returns
 * the app's pid once its execve succeeded; on any failure the app has said why (an "E" line) and
 * pod init ends, taking the pod's pid namespace, and so every app already started, with it. */
static pid_t start_app(size_t idx) {
  const struct app_spec *a = &spec.apps[idx];
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) die("socketpair for app %s", a->name);
  pid_t pid = fork();
  if (pid < 0) die("fork of app %s", a->name);
  if (pid == 0) {
    close(sp[0]);
    exec_err_fd = sp[1];
    /* Into the app's own cgroup first: its handlers and the app run there (net.c). */
    const char *step = NULL;
    if (cgroup_join(a, &step) < 0) die("app %s: %s", a->name, step);
    if (unshare(CLONE_NEWNS) < 0) die("unshare(CLONE_NEWNS) for app %s", a->name);
    int ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (ns < 0) die("opening the mount namespace of app %s", a->name);
    send_with_fd(sp[1], 'n', ns);
    close(ns);
    setup_app_root(a);
    if (a->npre_start) {
      int st = run_handler(idx, a->pre_start);
      if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFSIGNALED(st)) die_plain("the pre-start handler of app %s was killed by signal %d", a->name, WTERMSIG(st));
        die_plain("the pre-start handler of app %s exited with %d", a->name, WEXITSTATUS(st));
      }
    }
    exec_app(idx, a->args);
  }
  app_pids[idx] = pid;
  close(sp[1]);
  char byte;
  int nsfd;
  int r = recv_with_fd(sp[0], &byte, &nsfd);
  if (r == 1 && byte == 'n' && nsfd >= 0) {
    struct statfs sfs;
    if (fstatfs(nsfd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC || ioctl(nsfd, NS_GET_NSTYPE) != CLONE_NEWNS)
      die_plain("app %s passed pod init something that is not a mount namespace", a->name);
    /* At a fixed fd of pod init, where ward enter takes it from (pidfd_getfd, as host root). */
    if (dup3(nsfd, APP_NS_FD_BASE + (int)idx, O_CLOEXEC) < 0) die("keeping the mount namespace of app %s", a->name);
    close(nsfd);
    app_ns[idx] = APP_NS_FD_BASE + (int)idx;
    r = recv_with_fd(sp[0], &byte, &nsfd);
    if (nsfd >= 0) close(nsfd);
    close(sp[0]);
    /* EOF without a byte: the close-on-exec socket went away in a successful execve. */
    if (r == 0) return pid;
  }
  /* The app has written its "E" line (or died before it could: say so). */
  if (r != 1) status_line("E app %s ended while it was being set up", a->name);
  _exit(254);
}

static void forward(int sig) {
  if (forward_to > 0) kill(forward_to, sig);
  for (size_t i = 0; i < SPEC_MAX_APPS; i++)
    if (app_pids[i] > 0) kill(app_pids[i], sig);
}

static void install_forwarders(void) {
  static const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT};
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
    if (sigaction(sigs[i], &sa, NULL) < 0) die("installing signal forwarder");
}

/* Pod init, once an app has ended: its post-stop handler in the app's own mount namespace (kept
 * by pod init), then the namespace goes. A failing post-stop is reported, the pod carries on. */
static void app_ended(size_t idx) {
  const struct app_spec *a = &spec.apps[idx];
  if (a->npost_stop && app_ns[idx] >= 0) {
    pid_t h = fork();
    if (h < 0) die("fork of the post-stop handler of app %s", a->name);
    if (h == 0) {
      if (setns(app_ns[idx], CLONE_NEWNS) < 0) die("entering the mount namespace of app %s", a->name);
      exec_app(idx, a->post_stop);
    }
    int st = 0;
    if (wait_child(h, &st) < 0) die("waiting for the post-stop handler of app %s", a->name);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) status_file("post-stop %zu %d %d\n", idx, WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  }
  if (app_ns[idx] >= 0) {
    close(app_ns[idx]);
    app_ns[idx] = -1;
  }
}

/* Pod init after every app started: reaps everything; writes each app's fate to the status file
 * as it ends and runs its post-stop handler; ends when the last app has ended (rkt's default),
 * with the first app's status, which is also the one the helper reports ("X"). */
static __attribute__((noreturn)) void supervise(void) {
  int status0 = 0;
  size_t running = spec.napps;
  while (running > 0) {
    int st;
    pid_t p = wait(&st);
    if (p < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = 0; i < spec.napps; i++) {
      if (app_pids[i] != p) continue;
      app_pids[i] = 0;
      running--;
      if (i == 0) status0 = st;
      status_file("app %zu %d %d\n", i, WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
      app_ended(i);
    }
  }
  int sig = WIFSIGNALED(status0) ? WTERMSIG(status0) : 0;
  status_line("X %d %d", WIFEXITED(status0) ? WEXITSTATUS(status0) : -1, sig);
  _exit(WIFEXITED(status0) ? WEXITSTATUS(status0) : 128 + sig);
}

/* ward enter: forks the command and execs it confined as the app; reports "R" once the execve
 * succeeded, and returns its pid, which signals are forwarded to. */
static pid_t start_command(void) {
  int execpipe[2];
  if (pipe2(execpipe, O_CLOEXEC) < 0) die("pipe for exec status");
  pid_t c = fork();
  if (c < 0) die("fork of the command");
  if (c == 0) {
    close(execpipe[0]);
    exec_err_fd = execpipe[1];
    exec_app(0, spec.apps[0].args);
  }
  forward_to = c;
  close(execpipe[1]);
  /* EOF without a byte: the close-on-exec write end went away in a successful execve. */
  char e;
  ssize_t r;
  do r = read(execpipe[0], &e, 1);
  while (r < 0 && errno == EINTR);
  close(execpipe[0]);
  if (r == 0) status_line("R");
  return c;
}

/* Enter mode (ward enter): take the entered app's mount namespace from pod init's fd table
 * (pidfd_getfd through the pidfd on fd 5, while still host root: pod init is not dumpable; only
 * pod init writes its fd table, and it closes the fd once the app has ended), join the running
 * pod's user, pid, ipc, uts, net and cgroup namespaces through the pidfd (all at once: setns with
 * a pidfd takes the user namespace first), then the app's mount namespace, which puts root and
 * cwd at the app's root. Become root of the pod's user namespace, fork the command into its pid
 * namespace and confine it exactly as the app (exec_app), then report its exit like pod init
 * does. Nothing of the host's file system, nor the pod root, is reachable. */
static __attribute__((noreturn)) void enter_pod(void) {
  struct stat st;
  if (fstat(5, &st) < 0) die("fd 5 is not the pod's pidfd");
  long ns = syscall(SYS_pidfd_getfd, 5, APP_NS_FD_BASE + (int)spec.enter_app, 0);
  struct statfs sfs;
  if (ns < 0 || fstatfs((int)ns, &sfs) < 0 || sfs.f_type != NSFS_MAGIC || ioctl((int)ns, NS_GET_NSTYPE) != CLONE_NEWNS)
    die_plain("app %s of the pod is not running", spec.apps[0].name);
  if (syscall(SYS_setns, 5, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP) < 0)
    die("joining the pod's namespaces");
  if (close(5) < 0) die("closing the pod's pidfd");
  if (setns((int)ns, CLONE_NEWNS) < 0) die("joining the mount namespace of app %s", spec.apps[0].name);
  if (close((int)ns) < 0) die("closing the mount namespace");
  if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) die("becoming root of the pod's user namespace");
  if (setgroups(0, NULL) < 0) die("clearing groups");
  install_forwarders();
  pid_t a = start_command();
  int st2 = 0;
  if (wait_child(a, &st2) < 0) die("waiting for the command");
  status_line("X %d %d", WIFEXITED(st2) ? WEXITSTATUS(st2) : -1, WIFSIGNALED(st2) ? WTERMSIG(st2) : 0);
  _exit(WIFEXITED(st2) ? WEXITSTATUS(st2) : 128 + WTERMSIG(st2));
}

int main(void) {
  /* Not dumpable: no ptrace, no /proc/<pid>/{exe,mem,fd} for anything in the pod. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) die("PR_SET_DUMPABLE");
  /* Run from a memfd, comm would be the fd number: name ourselves for ps and /proc/1/comm. */
  if (prctl(PR_SET_NAME, "ward-stage1", 0, 0, 0) < 0) die("PR_SET_NAME");
  struct stat st;
  if (fstat(SYNC_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "ward-stage1: started without the helper's socket on fd 3; it is run only by ward-helper\n");
    return 254;
  }
  /* The helper may be gone (restarted) while a detached pod runs: a status line written to its
   * closed socket must not kill us. The app gets the default back (exec_app). */
  if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) die("ignoring SIGPIPE");
  for (size_t i = 0; i < SPEC_MAX_APPS; i++) app_ns[i] = -1;
  read_spec();
  check_state_fds();
  {
    char err[200];
    if (cgroup_check_fds(&spec, err, sizeof(err)) < 0) die_plain("%s", err);
    const char *step = NULL;
    if (cgroup_join_pod(&spec, &step) < 0) die("%s", step);
  }
  read_bpf();
  if (spec.enter) enter_pod();
  {
    /* Still in the helper's mount namespace, where the volumes' fds live (volumes.c). */
    char verr[400];
    if (volumes_clone(&spec, verr, sizeof(verr)) < 0) die_plain("%s", verr);
  }
  mount_pod_root();

  if (unshare(CLONE_NEWUSER) < 0) die("unshare(CLONE_NEWUSER)");
  wait_for_maps();
  if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) die("becoming root of the user namespace");
  if (setgroups(0, NULL) < 0) die("clearing groups");
  if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (spec.net_host ? 0 : CLONE_NEWNET) | CLONE_NEWCGROUP | CLONE_NEWPID) < 0)
    die("unsharing namespaces");

  install_forwarders();
  /* S holds the write end for its life: C, once it has asked to die with S, sees EOF here only if
   * S died before that (the one window PR_SET_PDEATHSIG cannot cover). */
  int alive[2];
  if (pipe2(alive, O_CLOEXEC) < 0) die("pipe for pod init");
  int go[2];
  net_go_pipe(&spec, go);
  if (spec.net_wait && go[0] < 0) die("pipe for the helper's go");
  pid_t c = fork();
  if (c < 0) die("fork of pod init");
  if (c > 0) {
    /* S: outside the pod's pid namespace, passes C's fate on to the helper. */
    if (close(alive[0]) < 0) die("closing pipe");
    if (spec.net_wait && close(go[0]) < 0) die("closing pipe");
    cgroup_close_fds(&spec);
    forward_to = c;
    status_line("P %d", (int)c);
    /* Without the go pod init exits on its own; its fate is reported below as always. */
    (void)net_pass_go(&spec, go, SYNC_FD);
    int cst;
    if (wait_child(c, &cst) < 0) die("waiting for pod init");
    /* Last line of the status file: how pod init ended (the apps' lines, if any, came first). */
    status_file("pod %d %d\n", WIFEXITED(cst) ? WEXITSTATUS(cst) : -1, WIFSIGNALED(cst) ? WTERMSIG(cst) : 0);
    return WIFEXITED(cst) ? WEXITSTATUS(cst) : 128 + WTERMSIG(cst);
  }

  /* C: pid 1. Dies with S (kill -9 of stage1 ends the pod, and so releases its lock). */
  forward_to = 0;
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) die("PR_SET_PDEATHSIG");
  if (close(alive[1]) < 0) die("closing pipe");
  struct pollfd pfd = {.fd = alive[0], .events = POLLIN};
  int pr;
  do pr = poll(&pfd, 1, 0);
  while (pr < 0 && errno == EINTR);
  if (pr < 0) die("checking on stage1");
  if (pr > 0) _exit(254); /* EOF: S is already gone */
  if (close(alive[0]) < 0) die("closing pipe");
  /* The helper attaches the network and writes /etc/hosts and resolv.conf first (net.c). */
  net_await_go(&spec, go);
  setup_pod_root();
  for (size_t i = 0; i < spec.napps; i++) start_app(i);
  cgroup_close_fds(&spec);
  status_line("R");
  supervise();
}
