/* Pod volumes (see volumes.h). The order matters for what the pod can do with them:
 *   1. S clones each source while it is still in the helper's mount namespace, where the
 *      helper's fd lives (open_tree refuses a mount of another namespace), and sets nosuid,
 *      nodev and, for read-only volumes, rdonly on the copy and all its submounts.
 *   2. S attaches the copies in its private namespace under the pod root (v/<i>, beside
 *      /opt/stage2). When S then unshares the pod's user and mount namespaces, the kernel copies
 *      them as locked mounts: their read-only, nosuid and nodev flags cannot be cleared from
 *      inside, and they cannot be unmounted to reveal what is below.
 *   3. Each app, in its own mount namespace before its pivot_root, binds the staged volumes it
 *      mounts onto their targets inside its root; apps mounting one volume share it. No app can
 *      reach the pod root after its pivot_root.
 * Targets are resolved one component at a time with openat2 RESOLVE_NO_SYMLINKS below the
 * previous directory's fd: a symlink anywhere on the way refuses the launch (CVE-2021-30465). */
#include "volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mountapi.h"

static int tree_fds[SPEC_MAX_VOLUMES];

static __attribute__((format(printf, 3, 4))) int fail(char *err, size_t errlen, const char *fmt, ...) {
  int saved = errno;
  char msg[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(err, errlen, "%s: %s", msg, strerror(saved));
  return -1;
}

static __attribute__((format(printf, 3, 4))) int fail_plain(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static int setattr(int fd, uint64_t set) {
  struct mount_attr attr = {.attr_set = set};
  return (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr));
}

int volumes_clone(struct spec *s, char *err, size_t errlen) {
  for (size_t i = 0; i < s->nvolumes; i++) {
    const struct spec_volume *v = &s->volumes[i];
    struct stat st;
    if (fstat(v->fd, &st) < 0) return fail(err, errlen, "volume %s: fd %d", v->name, v->fd);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) return fail_plain(err, errlen, "volume %s: its source is not a directory or a regular file", v->name);
    int tfd = (int)syscall(SYS_open_tree, v->fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | (v->recursive ? AT_RECURSIVE : 0));
    if (tfd < 0) return fail(err, errlen, "volume %s: copying its source mount", v->name);
    if (setattr(tfd, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (v->readonly ? MOUNT_ATTR_RDONLY : 0)) < 0)
      return fail(err, errlen, "volume %s: making it nosuid, nodev%s", v->name, v->readonly ? " and read-only" : "");
    if (close(v->fd) < 0) return fail(err, errlen, "volume %s: closing its fd", v->name);
    tree_fds[i] = tfd;
  }
  return 0;
}

int volumes_stage(struct spec *s, int podfd, char *err, size_t errlen) {
  if (s->nvolumes == 0) return 0;
  if (mkdirat(podfd, "v", 0711) < 0) return fail(err, errlen, "making the volumes' staging dir");
  int vdir = openat(podfd, "v", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (vdir < 0) return fail(err, errlen, "opening the volumes' staging dir");
  for (size_t i = 0; i < s->nvolumes; i++) {
    char name[16];
    struct stat st;
    snprintf(name, sizeof(name), "%zu", i);
    if (fstat(tree_fds[i], &st) < 0) return fail(err, errlen, "volume %s: stat of its copy", s->volumes[i].name);
    if (S_ISDIR(st.st_mode) ? mkdirat(vdir, name, 0700) : mknodat(vdir, name, S_IFREG | 0600, 0))
      return fail(err, errlen, "volume %s: making its staging point", s->volumes[i].name);
    if (syscall(SYS_move_mount, tree_fds[i], "", vdir, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
      return fail(err, errlen, "volume %s: attaching its copy", s->volumes[i].name);
    if (close(tree_fds[i]) < 0) return fail(err, errlen, "volume %s: closing its copy", s->volumes[i].name);
    tree_fds[i] = -1;
  }
  close(vdir);
  return 0;
}

static int openat2_nofollow(int dirfd, const char *name, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  long fd;
  do fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
  while (fd < 0 && errno == EINTR);
  return (int)fd;
}

/* Why opening component `name` below dirfd failed, for the message. */
static int component_error(int dirfd, const char *name, const char *target, size_t upto, char *err, size_t errlen) {
  int saved = errno;
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
    return fail_plain(err, errlen, "mount target %s: %.*s is a symlink in the image; ward never mounts through a symlink (CVE-2021-30465): mount the volume at a path without one", target, (int)upto, target);
  errno = saved;
  if (errno == ENOTDIR) return fail_plain(err, errlen, "mount target %s: %.*s is not a directory in the image", target, (int)upto, target);
  return fail(err, errlen, "mount target %s: opening %.*s", target, (int)upto, target);
}

/* The target's fd (O_PATH): every component below rootfd opened without following a symlink,
 * directories made when missing, the last one a directory or an empty file as `dir` says. */
static int open_target(int rootfd, const char *target, int dir, char *err, size_t errlen) {
  int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
  if (cur < 0) return fail(err, errlen, "mount target %s", target);
  const char *c = target + 1;
  for (;;) {
    const char *end = strchr(c, '/');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    char name[256];
    if (n >= sizeof(name)) {
      close(cur);
      return fail_plain(err, errlen, "mount target %s: a component is longer than 255 bytes", target);
    }
    memcpy(name, c, n);
    name[n] = '\0';
    size_t upto = (size_t)(c - target) + n;
    int last = end == NULL;
    int want_dir = !last || dir;
    int fd = openat2_nofollow(cur, name, O_PATH | (want_dir ? O_DIRECTORY : 0));
    if (fd < 0 && errno == ENOENT) {
      int made;
      if (want_dir) {
        made = mkdirat(cur, name, 0755);
      } else {
        made = openat(cur, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (made >= 0) made = close(made);
      }
      if (made < 0 && errno != EEXIST) {
        int r = fail(err, errlen, "mount target %s: creating %.*s", target, (int)upto, target);
        close(cur);
        return r;
      }
      fd = openat2_nofollow(cur, name, O_PATH | (want_dir ? O_DIRECTORY : 0));
    }
    if (fd < 0) {
      int r = component_error(cur, name, target, upto, err, errlen);
      close(cur);
      return r;
    }
    close(cur);
    cur = fd;
    if (last) break;
    c = end + 1;
  }
  struct stat st;
  if (fstat(cur, &st) < 0) {
    close(cur);
    return fail(err, errlen, "mount target %s", target);
  }
  if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
    close(cur);
    return fail_plain(err, errlen, "mount target %s is %s in the image, but its volume is %s", target, S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
                      dir ? "a directory" : "a file");
  }
  return cur;
}

int volumes_bind(const struct spec *s, const struct app_spec *a, int rootfd, char *err, size_t errlen) {
  if (a->nmounts == 0) return 0;
  /* Pod init's root, where this app's mount namespace still is before its pivot_root: the pod
   * root tmpfs S made, which nothing in the pod can write. */
  int top = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct statfs sfs;
  if (top < 0 || fstatfs(top, &sfs) < 0) return fail(err, errlen, "opening the pod root");
  if (sfs.f_type != TMPFS_MAGIC) return fail_plain(err, errlen, "the volumes' staging dir is not in the pod root stage1 made");
  int vdir = openat2_nofollow(top, "v", O_PATH | O_DIRECTORY);
  if (vdir < 0) return fail(err, errlen, "opening the volumes' staging dir");
  close(top);
  struct stat st;
  for (size_t i = 0; i < a->nmounts; i++) {
    const struct spec_mount *m = &a->mounts[i];
    char name[16];
    snprintf(name, sizeof(name), "%zu", m->vol);
    int src = openat2_nofollow(vdir, name, O_PATH);
    if (src < 0 || fstat(src, &st) < 0) return fail(err, errlen, "volume %s: opening its staged copy", m->volume);
    int tgt = open_target(rootfd, m->path, S_ISDIR(st.st_mode), err, errlen);
    if (tgt < 0) return -1;
    char sp[64], tp[64];
    snprintf(sp, sizeof(sp), "/proc/self/fd/%d", src);
    snprintf(tp, sizeof(tp), "/proc/self/fd/%d", tgt);
    if (mount(sp, tp, NULL, MS_BIND | MS_REC, NULL) < 0) return fail(err, errlen, "mounting volume %s at %s", m->volume, m->path);
    close(tgt);
    close(src);
    if (m->readonly && !s->volumes[m->vol].readonly) {
      /* Read-only for this app only: the bind just made is ours, re-opened to reach it. */
      tgt = open_target(rootfd, m->path, S_ISDIR(st.st_mode), err, errlen);
      if (tgt < 0) return -1;
      if (setattr(tgt, MOUNT_ATTR_RDONLY) < 0) return fail(err, errlen, "making volume %s read-only at %s", m->volume, m->path);
      close(tgt);
    }
  }
  close(vdir);
  return 0;
}
