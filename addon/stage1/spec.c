/* Parser of the launch spec (format in spec.h). Strict: unknown keys, missing keys, repeated
 * single keys and out-of-range numbers are errors. */
#include "spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_id(const char *v, unsigned long max, unsigned long *out) {
  char *end = NULL;
  if (v[0] < '0' || v[0] > '9') return -1;
  errno = 0;
  unsigned long n = strtoul(v, &end, 10);
  if (errno != 0 || *end != '\0' || n > max) return -1;
  *out = n;
  return 0;
}

/* An SELinux context as the helper computes it: user:role:type:level. Only the characters such
 * a context uses, so it can go into context="..." and attr/exec without escaping. */
static int check_label(const char *v) {
  size_t n = strlen(v), colons = 0;
  if (n == 0 || n > SPEC_MAX_LABEL) return -1;
  for (size_t i = 0; i < n; i++) {
    char c = v[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
             c == ':' || c == ',' || c == '-';
    if (!ok) return -1;
    if (c == ':') colons++;
  }
  return colons >= 3 ? 0 : -1;
}

/* A path inside the pod: absolute, not "/", no empty, "." or ".." components. */
static int check_pod_path(const char *p) {
  if (p[0] != '/' || p[1] == '\0' || strlen(p) > 4096) return -1;
  const char *c = p + 1;
  for (;;) {
    const char *end = strchr(c, '/');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) return -1;
    if (!end) return 0;
    c = end + 1;
  }
}

/* An appc ACName: [a-z0-9]+(-[a-z0-9]+)*, at most 64 bytes. */
static int check_acname(const char *v, size_t n) {
  if (n == 0 || n > 64 || v[0] == '-' || v[n - 1] == '-') return -1;
  for (size_t i = 0; i < n; i++) {
    char c = v[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && v[i + 1] != '-'))) return -1;
  }
  return 0;
}

/* "FD ro|rw rec|one NAME" */
static int parse_volume(struct spec *s, const char *v) {
  if (s->nvolumes >= SPEC_MAX_VOLUMES) return -1;
  struct spec_volume *vol = &s->volumes[s->nvolumes];
  char *end = NULL;
  if (v[0] < '0' || v[0] > '9') return -1;
  errno = 0;
  unsigned long fd = strtoul(v, &end, 10);
  if (errno != 0 || fd < SPEC_VOLUME_FD_MIN || fd > SPEC_VOLUME_FD_MAX || *end != ' ') return -1;
  const char *p = end + 1;
  if (strncmp(p, "ro ", 3) == 0) vol->readonly = 1;
  else if (strncmp(p, "rw ", 3) == 0) vol->readonly = 0;
  else return -1;
  p += 3;
  if (strncmp(p, "rec ", 4) == 0) vol->recursive = 1;
  else if (strncmp(p, "one ", 4) == 0) vol->recursive = 0;
  else return -1;
  p += 4;
  if (check_acname(p, strlen(p))) return -1;
  for (size_t i = 0; i < s->nvolumes; i++)
    if (s->volumes[i].fd == (int)fd || strcmp(s->volumes[i].name, p) == 0) return -1;
  vol->fd = (int)fd;
  vol->name = p;
  s->nvolumes++;
  return 0;
}

/* "NAME ro|rw /PATH"; NAME must be a volume given before it. */
static int parse_mount(struct spec *s, const char *v) {
  if (s->nmounts >= SPEC_MAX_VOLUMES) return -1;
  struct spec_mount *m = &s->mounts[s->nmounts];
  const char *sp = strchr(v, ' ');
  if (!sp || check_acname(v, (size_t)(sp - v))) return -1;
  size_t i;
  for (i = 0; i < s->nvolumes; i++)
    if (strlen(s->volumes[i].name) == (size_t)(sp - v) && strncmp(s->volumes[i].name, v, (size_t)(sp - v)) == 0) break;
  if (i == s->nvolumes) return -1;
  const char *p = sp + 1;
  if (strncmp(p, "ro ", 3) == 0) m->readonly = 1;
  else if (strncmp(p, "rw ", 3) == 0) m->readonly = 0;
  else return -1;
  p += 3;
  if (check_pod_path(p)) return -1;
  for (size_t j = 0; j < s->nmounts; j++)
    if (strcmp(s->mounts[j].path, p) == 0) return -1;
  m->volume = s->volumes[i].name;
  m->vol = i;
  m->path = p;
  s->nmounts++;
  return 0;
}

static int set_once(const char **slot, const char *v) {
  if (*slot != NULL) return -1;
  *slot = v;
  return 0;
}

int spec_parse(struct spec *s, char *buf, size_t len, char *err, size_t errlen) {
  memset(s, 0, sizeof(*s));
  s->buf = buf;
  if (len == 0 || buf[len - 1] != '\0') {
    snprintf(err, errlen, "launch spec is not NUL-terminated");
    return -1;
  }
  size_t i = 0;
  while (i < len) {
    const char *key = buf + i;
    i += strlen(key) + 1;
    if (i >= len) {
      snprintf(err, errlen, "launch spec key '%.32s' has no value", key);
      return -1;
    }
    const char *val = buf + i;
    i += strlen(val) + 1;
    int bad = 0;
    unsigned long n = 0;
    if (strcmp(key, "uuid") == 0) bad = set_once(&s->uuid, val);
    else if (strcmp(key, "hostname") == 0) bad = set_once(&s->hostname, val);
    else if (strcmp(key, "lower") == 0) bad = set_once(&s->lower, val);
    else if (strcmp(key, "upper") == 0) bad = set_once(&s->upper, val);
    else if (strcmp(key, "work") == 0) bad = set_once(&s->work, val);
    else if (strcmp(key, "rootfs") == 0) bad = set_once(&s->rootfs, val);
    else if (strcmp(key, "cwd") == 0) bad = set_once(&s->cwd, val);
    else if (strcmp(key, "uid") == 0) {
      bad = s->have_uid || parse_id(val, 65535, &n);
      s->uid = (uid_t)n;
      s->have_uid = 1;
    } else if (strcmp(key, "gid") == 0) {
      bad = s->have_gid || parse_id(val, 65535, &n);
      s->gid = (gid_t)n;
      s->have_gid = 1;
    } else if (strcmp(key, "arg") == 0) {
      bad = s->nargs >= SPEC_MAX_ARGS;
      if (!bad) s->args[s->nargs++] = val;
    } else if (strcmp(key, "env") == 0) {
      bad = s->nenv >= SPEC_MAX_ENV || strchr(val, '=') == NULL;
      if (!bad) s->env[s->nenv++] = val;
    } else if (strcmp(key, "cap") == 0) {
      bad = s->ncaps >= SPEC_MAX_CAPS || parse_id(val, 63, &n);
      if (!bad) s->caps[s->ncaps++] = (int)n;
    } else if (strcmp(key, "group") == 0) {
      bad = s->ngroups >= SPEC_MAX_GROUPS || parse_id(val, 65535, &n);
      if (!bad) s->groups[s->ngroups++] = (gid_t)n;
    } else if (strcmp(key, "masked") == 0) {
      bad = s->nmasked >= SPEC_MAX_PATHS || val[0] != '/';
      if (!bad) s->masked[s->nmasked++] = val;
    } else if (strcmp(key, "readonly") == 0) {
      bad = s->nreadonly >= SPEC_MAX_PATHS || val[0] != '/';
      if (!bad) s->readonly[s->nreadonly++] = val;
    } else if (strcmp(key, "volume") == 0) {
      bad = s->enter || parse_volume(s, val);
    } else if (strcmp(key, "mount") == 0) {
      bad = s->enter || parse_mount(s, val);
    } else if (strcmp(key, "selinux_label") == 0) {
      bad = check_label(val) || set_once(&s->selinux_label, val);
    } else if (strcmp(key, "selinux_mount_label") == 0) {
      bad = check_label(val) || set_once(&s->selinux_mount_label, val);
#ifdef WARD_TEST_HOOKS
    } else if (strcmp(key, "test_proc_dir") == 0) {
      bad = val[0] != '/' || set_once(&s->test_proc_dir, val);
    } else if (strcmp(key, "test_attr_file") == 0) {
      bad = val[0] != '/' || set_once(&s->test_attr_file, val);
#endif
    } else if (strcmp(key, "seccomp") == 0) {
      bad = parse_id(val, 1, &n);
      s->seccomp = (int)n;
    } else if (strcmp(key, "enter") == 0) {
      bad = parse_id(val, 1, &n);
      s->enter = (int)n;
    } else if (strcmp(key, "net_wait") == 0) {
      bad = parse_id(val, 1, &n);
      s->net_wait = (int)n;
    } else if (strcmp(key, "net_host") == 0) {
      bad = parse_id(val, 1, &n);
      s->net_host = (int)n;
    } else if (strcmp(key, "cgroup_fd") == 0) {
      bad = s->ncgroup_fds >= SPEC_MAX_CGROUP_FDS || parse_id(val, SPEC_LAST_CGROUP_FD, &n) || n < SPEC_FIRST_CGROUP_FD;
      for (size_t k = 0; !bad && k < s->ncgroup_fds; k++) bad = s->cgroup_fds[k] == (int)n;
      if (!bad) s->cgroup_fds[s->ncgroup_fds++] = (int)n;
    } else if (strcmp(key, "state_fds") == 0) {
      bad = parse_id(val, 1, &n);
      s->state_fds = (int)n;
    } else {
      snprintf(err, errlen, "launch spec has unknown key '%.32s'", key);
      return -1;
    }
    if (bad) {
      snprintf(err, errlen, "launch spec key '%.32s' is repeated, malformed or out of range", key);
      return -1;
    }
  }
  s->args[s->nargs] = NULL;
  s->env[s->nenv] = NULL;
  if (s->enter && (s->hostname || s->lower || s->upper || s->work || s->rootfs || s->nmasked || s->nreadonly || s->state_fds || s->nvolumes || s->net_wait || s->net_host || s->ncgroup_fds)) {
    snprintf(err, errlen, "launch spec for enter names a pod to make");
    return -1;
  }
  if (s->ncgroup_fds > 0 && !s->state_fds) {
    snprintf(err, errlen, "launch spec has cgroup fds without state fds before them");
    return -1;
  }
  const char *missing = !s->uuid                    ? "uuid"
                        : !s->enter && !s->hostname ? "hostname"
                        : !s->enter && !s->lower    ? "lower"
                        : !s->enter && !s->upper    ? "upper"
                        : !s->enter && !s->work     ? "work"
                        : !s->enter && !s->rootfs   ? "rootfs"
                        : !s->cwd                   ? "cwd"
                        : !s->have_uid ? "uid"
                        : !s->have_gid ? "gid"
                        : s->nargs == 0 ? "arg"
                                        : NULL;
  if (missing) {
    snprintf(err, errlen, "launch spec lacks '%s'", missing);
    return -1;
  }
  /* exec is an absolute path, or a bare command name looked up in the app's PATH. */
  if ((s->args[0][0] != '/' && (strchr(s->args[0], '/') != NULL || strcmp(s->args[0], ".") == 0 || strcmp(s->args[0], "..") == 0 || s->args[0][0] == '\0')) ||
      s->cwd[0] != '/') {
    snprintf(err, errlen, "launch spec exec must be an absolute path or a command name, and cwd absolute");
    return -1;
  }
  return 0;
}
