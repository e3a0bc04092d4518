/* The pod's network and cgroups, from ward-stage1's side (see net.h).
 *
 * Network: the helper attaches the pod's network namespace through CNI after "P <pid>" (it needs
 * the namespace, which S made) and before any app runs, so the apps start with their addresses,
 * /etc/hosts and /etc/resolv.conf in place. S reads the helper's answer on the sync fd and passes
 * a go to pod init through a pipe; pod init waits for it before it sets up the root or forks.
 *
 * cgroups: S moves itself into the pod's supervisor leaf before it forks anything, so pod init
 * and everything they fork start there, and S's cgroup namespace is rooted at that leaf. Each
 * app's first process moves itself into its app leaf. Both write "0" to the leaf's join file
 * through an fd the helper (root) opened: the kernel checks the opener's credentials, and no
 * file of the hierarchy is reachable or writable from inside the pod. On v1 the join file is
 * `tasks`, which moves only the writer, so it is written only while the writer is single-
 * threaded (stage1 never makes threads); a thread moving itself skips the kernel's global
 * threadgroup lock and its RCU grace period. The app then unshares a cgroup namespace of its
 * own, so its view (/proc/self/cgroup, a cgroup2 mount) is rooted at its leaf and names
 * nothing above it. */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif

void net_go_pipe(const struct spec *s, int go[2]) {
  go[0] = go[1] = -1;
  if (!s->net_wait) return;
  if (pipe2(go, O_CLOEXEC) < 0) go[0] = go[1] = -1;
}

int net_pass_go(const struct spec *s, int go[2], int sync_fd) {
  if (!s->net_wait) return 0;
  char c[2];
  size_t off = 0;
  while (off < 2) {
    ssize_t r = read(sync_fd, c + off, 2 - off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    off += (size_t)r;
  }
  int ok = off == 2 && c[0] == 'G' && c[1] == '\n';
  if (ok) {
    ssize_t w;
    do w = write(go[1], "G", 1);
    while (w < 0 && errno == EINTR);
    ok = w == 1;
  }
  /* Closed either way: without a 'G' pod init reads EOF and exits. */
  close(go[1]);
  go[1] = -1;
  return ok ? 0 : -1;
}

void net_await_go(const struct spec *s, int go[2]) {
  if (!s->net_wait) return;
  close(go[1]);
  char c = 0;
  ssize_t r;
  do r = read(go[0], &c, 1);
  while (r < 0 && errno == EINTR);
  if (r != 1 || c != 'G') _exit(254);
  close(go[0]);
}

static int check_fds(const int *fds, size_t n, char *err, size_t errlen) {
  for (size_t i = 0; i < n; i++) {
    int fd = fds[i];
    struct stat st;
    struct statfs sfs;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0) {
      snprintf(err, errlen, "cgroup fd %d is not open", fd);
      return -1;
    }
    if (!S_ISREG(st.st_mode) || (sfs.f_type != CGROUP_SUPER_MAGIC && sfs.f_type != CGROUP2_SUPER_MAGIC) || (fl & O_ACCMODE) != O_WRONLY) {
      snprintf(err, errlen, "cgroup fd %d is not a cgroup file opened for writing", fd);
      return -1;
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
      snprintf(err, errlen, "marking cgroup fd %d close-on-exec", fd);
      return -1;
    }
  }
  return 0;
}

int cgroup_check_fds(const struct spec *s, char *err, size_t errlen) {
  if (check_fds(s->cgroup_fds, s->ncgroup_fds, err, errlen) < 0) return -1;
  for (size_t k = 0; k < s->napps; k++)
    if (check_fds(s->apps[k].cgroup_fds, s->apps[k].ncgroup_fds, err, errlen) < 0) return -1;
  return 0;
}

/* Writes "0" to each fd (the calling thread joins that leaf) and closes it. */
static int join_fds(const int *fds, size_t n, const char **what) {
  for (size_t i = 0; i < n; i++) {
    ssize_t w;
    do w = write(fds[i], "0", 1);
    while (w < 0 && errno == EINTR);
    if (w != 1) {
      *what = "joining a cgroup";
      return -1;
    }
    if (close(fds[i]) < 0) {
      *what = "closing a cgroup fd";
      return -1;
    }
  }
  return 0;
}

int cgroup_join_pod(const struct spec *s, const char **what) {
  return join_fds(s->cgroup_fds, s->ncgroup_fds, what);
}

int cgroup_join(const struct app_spec *s, const char **what) {
  if (join_fds(s->cgroup_fds, s->ncgroup_fds, what) < 0) return -1;
  if (s->ncgroup_fds > 0 && unshare(CLONE_NEWCGROUP) < 0) {
    *what = "unsharing the app's cgroup namespace";
    return -1;
  }
  return 0;
}

void cgroup_close_fds(const struct spec *s) {
  for (size_t k = 0; k < s->napps; k++)
    for (size_t i = 0; i < s->apps[k].ncgroup_fds; i++) close(s->apps[k].cgroup_fds[i]);
}
