/* The launch spec ward-helper computes for one pod, as ward-stage1 reads it.
 *
 * Wire format (from the helper, on fd 3): a u32 big-endian length, then that many bytes of
 * "key\0value\0" pairs. Keys that may repeat: arg, env, cap, group, masked, readonly. The helper is the
 * only writer; stage1 still bounds every count and length, and rejects unknown keys.
 * Keys that may repeat up to SPEC_MAX_VOLUMES times: volume, mount (see struct spec_volume).
 * Optional keys: selinux_label, selinux_mount_label (SELinux contexts: [A-Za-z0-9_.:,-], at most
 * SPEC_MAX_LABEL bytes, so they can be quoted into a mount option as they are). */
#ifndef WARD_STAGE1_SPEC_H
#define WARD_STAGE1_SPEC_H

#include <stddef.h>
#include <sys/types.h>

#define SPEC_MAX_BYTES (1u << 20)
#define SPEC_MAX_ARGS 1024
#define SPEC_MAX_ENV 4096
#define SPEC_MAX_PATHS 64
#define SPEC_MAX_CAPS 64
#define SPEC_MAX_GROUPS 64
#define SPEC_MAX_LABEL 255
#define SPEC_MAX_VOLUMES 8
/* Volume fds: the helper passes them at 7.. (after the state fds), one per volume. */
#define SPEC_VOLUME_FD_MIN 7
#define SPEC_VOLUME_FD_MAX 15

/* A pod volume (spec key "volume", value "FD ro|rw rec|one NAME"): FD is the helper's O_RDONLY
 * fd of its source (a host path opened with the caller's credentials, or the pod's empty dir). */
struct spec_volume {
  int fd;
  int readonly;
  int recursive;
  const char *name;
};

/* A volume mounted into the app (key "mount", value "NAME ro|rw /PATH"). */
struct spec_mount {
  const char *volume;
  int readonly;
  const char *path;
  size_t vol; /* index into volumes, set by spec_parse */
};

/* cgroup fds: at 16.., after the volumes' range. */
#define SPEC_MAX_CGROUP_FDS 8
#define SPEC_FIRST_CGROUP_FD 16
#define SPEC_LAST_CGROUP_FD 23

struct spec {
  char *buf; /* owns every string below */
  const char *uuid;
  const char *hostname;
  const char *lower;   /* sealed tree, root-owned store: opened before leaving the host user ns */
  const char *upper;   /* pod's overlay upper dir */
  const char *work;    /* pod's overlay work dir */
  const char *rootfs;  /* mount point of the pod's root */
  const char *cwd;
  uid_t uid;
  gid_t gid;
  int have_uid, have_gid;
  const char *args[SPEC_MAX_ARGS + 1];
  size_t nargs;
  const char *env[SPEC_MAX_ENV + 1];
  size_t nenv;
  int caps[SPEC_MAX_CAPS];
  size_t ncaps;
  gid_t groups[SPEC_MAX_GROUPS]; /* the app's supplementary groups (appc supplementaryGIDs) */
  size_t ngroups;
  const char *masked[SPEC_MAX_PATHS];
  size_t nmasked;
  const char *readonly[SPEC_MAX_PATHS];
  size_t nreadonly;
  int seccomp; /* 1: a BPF program follows on fd 4 */
  struct spec_volume volumes[SPEC_MAX_VOLUMES];
  size_t nvolumes;
  struct spec_mount mounts[SPEC_MAX_VOLUMES];
  size_t nmounts;
  /* 1: fd 5 is the pod's lock file, locked by the helper, held by stage1 for the pod's life
   * (its release is how anyone sees the pod has exited), and fd 6 the pod's status file
   * (O_APPEND), where the apps' exit statuses are written. Neither reaches an app. */
  int state_fds;
  /* 1: enter mode (ward enter): no pod is made; fd 5 is a pidfd of a running pod's init, whose
   * namespaces are joined, and the command runs there as an app would (ids, caps, nnp, label,
   * seccomp). hostname, lower, upper, work, rootfs, masked, readonly and state_fds do not apply. */
  int enter;
  /* SELinux (both optional; absent: nothing is labelled and attr/exec is never written). */
  const char *selinux_label;       /* the app's process label, staged in attr/exec */
  const char *selinux_mount_label; /* context= for the overlay root and every runtime mount */
  /* net_wait 1: after "P <pid>" the helper attaches the pod's network; pod init starts no app
   * until S has read "G" on fd 3 ("E" or EOF instead: pod init exits, nothing starts). */
  int net_wait;
  /* net_host 1: --net=host, no network namespace of the pod's own (the helper checked policy). */
  int net_host;
  /* cgroup_fd N (repeatable): the app's cgroup, as fd N open for writing on its leaf's
   * cgroup.procs (one per hierarchy: one on cgroup v2, one per controller hierarchy on v1).
   * These fds come after every other fd stage1 is given: with the single app of today they are
   * fds 16, 17, ... (SPEC_FIRST_CGROUP_FD to SPEC_LAST_CGROUP_FD). The app's first process writes
   * "0" to each before it execs (net.c); S and pod init close their copies. */
  int cgroup_fds[SPEC_MAX_CGROUP_FDS];
  size_t ncgroup_fds;
#ifdef WARD_TEST_HOOKS
  /* Test builds only (ward-stage1-test): put a decoy over /proc or over attr/exec in the app,
   * right before the exec label is staged, to prove it is never written through a decoy. */
  const char *test_proc_dir;   /* a directory of the image bound over /proc */
  const char *test_attr_file;  /* a file of the image bound over /proc/thread-self/attr/exec */
#endif
};

/* Parses buf[0..len) into s. Returns 0, or -1 with a message in err. */
int spec_parse(struct spec *s, char *buf, size_t len, char *err, size_t errlen);

#endif
