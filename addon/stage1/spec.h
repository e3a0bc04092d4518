/* The launch spec ward-helper computes for one pod, as ward-stage1 reads it.
 *
 * Wire format (from the helper, on fd 3): a u32 big-endian length, then that many bytes of
 * "key\0value\0" pairs. The helper is the only writer; stage1 still bounds every count and
 * length, and rejects unknown keys.
 *
 * Pod-level keys come first: uuid, hostname, rootfs, masked*, readonly*, state_fds, enter, enter_app,
 * selinux_label, selinux_mount_label (SELinux contexts: [A-Za-z0-9_.:,-], at most SPEC_MAX_LABEL
 * bytes, so they can be quoted into a mount option as they are).
 * Then one section per app (at least one, at most SPEC_MAX_APPS): the key "app" opens the next
 * app and names it (an appc ACName: [a-z0-9-], at most 64 bytes, unique in the pod); the keys
 * after it, up to the next "app", are that app's: lower, upper, work, cwd, uid, gid, arg*, env*,
 * cap*, seccomp, readonly_rootfs, pre_start*, post_stop*, group*, mount*, cgroup_fd* (* may repeat).
 * Pod-level keys also: volume*, net_wait, net_host, cgroup_fd* (see struct spec).
 *
 * seccomp: the byte length of the app's BPF program (raw struct sock_filter array, a multiple of
 * 8, at most SPEC_MAX_BPF_BYTES), 0 for none. The programs follow each other on fd 4 in the order
 * of the apps, with nothing between them; fd 4 holds exactly their sum.
 * pre_start, post_stop: the argv of the app's appc event handlers (at most one of each), run in
 * the app's root with the app's ids and confinement: pre-start before the app, post-stop after it. */
#ifndef WARD_STAGE1_SPEC_H
#define WARD_STAGE1_SPEC_H

#include <stddef.h>
#include <sys/types.h>

#define SPEC_MAX_BYTES (1u << 20)
#define SPEC_MAX_APPS 16
#define SPEC_MAX_NAME 64
#define SPEC_MAX_ARGS 1024
#define SPEC_MAX_ENV 4096
#define SPEC_MAX_HANDLER_ARGS 256
#define SPEC_MAX_PATHS 64
#define SPEC_MAX_CAPS 64
#define SPEC_MAX_LABEL 255
#define SPEC_MAX_BPF_BYTES (4096 * 8)
#define SPEC_MAX_GROUPS 64
#define SPEC_MAX_VOLUMES 8
/* Volume fds: the helper passes them at 7.. (after the state fds), one per volume. */
#define SPEC_VOLUME_FD_MIN 7
#define SPEC_VOLUME_FD_MAX 15
/* cgroup fds (every app's, one per hierarchy): at 16.., after the volumes' range; spawnMemfd
 * (addon/src/spawn.cc) gives stage1 at most 64 fds. */
#define SPEC_MAX_CGROUP_FDS 8
#define SPEC_FIRST_CGROUP_FD 16
#define SPEC_LAST_CGROUP_FD 63

/* A pod volume (pod-level key "volume", value "FD ro|rw rec|one NAME"): FD is the helper's
 * O_RDONLY fd of its source (a host path opened with the caller's credentials, or the pod's
 * empty dir). S stages it in the pod root (volumes.c); apps that mount it share it. */
struct spec_volume {
  int fd;
  int readonly;
  int recursive;
  const char *name;
};

/* A volume mounted into an app (app key "mount", value "NAME ro|rw /PATH"). */
struct spec_mount {
  const char *volume;
  int readonly;
  const char *path;
  size_t vol; /* index into volumes, set by spec_parse */
};

struct app_spec {
  const char *name;    /* its dir in the pod root: /opt/stage2/<name>/rootfs */
  const char *lower;   /* sealed tree, root-owned store: opened before leaving the host user ns */
  const char *upper;   /* the app's overlay upper dir */
  const char *work;    /* the app's overlay work dir */
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
  unsigned seccomp_len; /* bytes of its BPF program on fd 4; 0: none */
  int have_seccomp;
  int readonly_rootfs;
  const char *pre_start[SPEC_MAX_HANDLER_ARGS + 1];
  size_t npre_start;
  const char *post_stop[SPEC_MAX_HANDLER_ARGS + 1];
  size_t npost_stop;
  gid_t groups[SPEC_MAX_GROUPS]; /* supplementary groups (appc supplementaryGIDs; key group*) */
  size_t ngroups;
  struct spec_mount mounts[SPEC_MAX_VOLUMES]; /* key mount* */
  size_t nmounts;
  /* cgroup_fd N (repeatable): the app's cgroup, as fd N open for writing on its leaf's join
   * file (v1 tasks, v2 cgroup.procs; one per hierarchy). The app's first process writes "0" to
   * each before it execs (net.c); S and pod init close their copies once the apps are forked. */
  int cgroup_fds[SPEC_MAX_CGROUP_FDS];
  size_t ncgroup_fds;
};

struct spec {
  char *buf; /* owns every string below */
  const char *uuid;
  const char *hostname;
  const char *rootfs;  /* mount point of the pod's root (the tmpfs holding every app's root) */
  const char *masked[SPEC_MAX_PATHS];
  size_t nmasked;
  const char *readonly[SPEC_MAX_PATHS];
  size_t nreadonly;
  /* 1: fd 5 is the pod's lock file, locked by the helper, held by stage1 for the pod's life
   * (its release is how anyone sees the pod has exited), and fd 6 the pod's status file
   * (O_APPEND), where the apps' exit statuses are written. Neither reaches an app. */
  int state_fds;
  /* 1: enter mode (ward enter): no pod is made; fd 5 is a pidfd of a running pod's init, whose
   * namespaces are joined, then the mount namespace of the one app section's name (the app being
   * entered), and the command (that section's arg) runs there as the app would (ids, caps, nnp,
   * label, seccomp). hostname, rootfs, masked, readonly, state_fds, lower, upper, work,
   * readonly_rootfs and the event handlers do not apply. */
  int enter;
  unsigned enter_app; /* enter mode: the entered app's index in the pod (its name is the section's) */
  struct spec_volume volumes[SPEC_MAX_VOLUMES]; /* key volume* */
  size_t nvolumes;
  /* net_wait 1: after "P <pid>" the helper attaches the pod's network; pod init sets up nothing
   * and starts no app until S has read "G" on fd 3 ("E" or EOF instead: pod init exits). */
  int net_wait;
  /* net_host 1: --net=host, no network namespace of the pod's own (the helper checked policy). */
  int net_host;
  /* Pod-level cgroup_fd N (repeatable, first of the cgroup fds): the leaf stage1 itself joins
   * before it forks anything (the pod's supervisor leaf; for enter, the entered app's leaf). */
  int cgroup_fds[SPEC_MAX_CGROUP_FDS];
  size_t ncgroup_fds;
  /* SELinux (both optional; absent: nothing is labelled and attr/exec is never written). */
  const char *selinux_label;       /* the apps' process label, staged in attr/exec */
  const char *selinux_mount_label; /* context= for the pod root, overlays and every runtime mount */
#ifdef WARD_TEST_HOOKS
  /* Test builds only (ward-stage1-test): put a decoy over /proc or over attr/exec in the app,
   * right before the exec label is staged, to prove it is never written through a decoy. */
  const char *test_proc_dir;   /* a directory of the image bound over /proc */
  const char *test_attr_file;  /* a file of the image bound over /proc/thread-self/attr/exec */
#endif
  struct app_spec apps[SPEC_MAX_APPS];
  size_t napps;
};

/* Parses buf[0..len) into s, which must be zeroed. Returns 0, or -1 with a message in err. */
int spec_parse(struct spec *s, char *buf, size_t len, char *err, size_t errlen);

#endif
