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

static int set_once(const char **slot, const char *v) {
  if (*slot != NULL) return -1;
  *slot = v;
  return 0;
}

/* An appc ACName: lower-case letters, digits and single dashes between them; it becomes a path
 * component of the pod root, so nothing else may pass. */
static int check_name(const char *v) {
  size_t n = strlen(v);
  if (n == 0 || n > SPEC_MAX_NAME || v[0] == '-' || v[n - 1] == '-') return -1;
  for (size_t i = 0; i < n; i++) {
    char c = v[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return -1;
    if (c == '-' && v[i + 1] == '-') return -1;
  }
  return 0;
}

/* exec is an absolute path, or a bare command name looked up in the app's PATH. */
static int check_exec(const char *a) {
  if (a[0] == '/') return 0;
  return strchr(a, '/') != NULL || strcmp(a, ".") == 0 || strcmp(a, "..") == 0 || a[0] == '\0' ? -1 : 0;
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
  if (check_name(p)) return -1;
  for (size_t i = 0; i < s->nvolumes; i++)
    if (s->volumes[i].fd == (int)fd || strcmp(s->volumes[i].name, p) == 0) return -1;
  vol->fd = (int)fd;
  vol->name = p;
  s->nvolumes++;
  return 0;
}

/* "NAME ro|rw /PATH"; NAME must be a volume of the pod (pod-level keys come before the apps). */
static int parse_mount(const struct spec *s, struct app_spec *a, const char *v) {
  if (a->nmounts >= SPEC_MAX_VOLUMES) return -1;
  struct spec_mount *m = &a->mounts[a->nmounts];
  const char *sp = strchr(v, ' ');
  if (!sp) return -1;
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
  for (size_t j = 0; j < a->nmounts; j++)
    if (strcmp(a->mounts[j].path, p) == 0) return -1;
  m->volume = s->volumes[i].name;
  m->vol = i;
  m->path = p;
  a->nmounts++;
  return 0;
}

/* A cgroup fd in range and not given before, by the pod or any app; added to fds/n. */
static int parse_cgroup_fd(const struct spec *s, int *fds, size_t *n_fds, const char *v) {
  unsigned long n = 0;
  if (*n_fds >= SPEC_MAX_CGROUP_FDS || parse_id(v, SPEC_LAST_CGROUP_FD, &n) || n < SPEC_FIRST_CGROUP_FD) return -1;
  for (size_t j = 0; j < s->ncgroup_fds; j++)
    if (s->cgroup_fds[j] == (int)n) return -1;
  for (size_t k = 0; k < s->napps; k++)
    for (size_t j = 0; j < s->apps[k].ncgroup_fds; j++)
      if (s->apps[k].cgroup_fds[j] == (int)n) return -1;
  fds[(*n_fds)++] = (int)n;
  return 0;
}

/* One key of the current app's section; 1: not an app key. */
static int app_key(struct spec *s, struct app_spec *a, const char *key, const char *val, int *bad) {
  unsigned long n = 0;
  if (strcmp(key, "lower") == 0) *bad = set_once(&a->lower, val);
  else if (strcmp(key, "upper") == 0) *bad = set_once(&a->upper, val);
  else if (strcmp(key, "work") == 0) *bad = set_once(&a->work, val);
  else if (strcmp(key, "cwd") == 0) *bad = set_once(&a->cwd, val);
  else if (strcmp(key, "uid") == 0) {
    *bad = a->have_uid || parse_id(val, 65535, &n);
    a->uid = (uid_t)n;
    a->have_uid = 1;
  } else if (strcmp(key, "gid") == 0) {
    *bad = a->have_gid || parse_id(val, 65535, &n);
    a->gid = (gid_t)n;
    a->have_gid = 1;
  } else if (strcmp(key, "arg") == 0) {
    *bad = a->nargs >= SPEC_MAX_ARGS;
    if (!*bad) a->args[a->nargs++] = val;
  } else if (strcmp(key, "env") == 0) {
    *bad = a->nenv >= SPEC_MAX_ENV || strchr(val, '=') == NULL;
    if (!*bad) a->env[a->nenv++] = val;
  } else if (strcmp(key, "cap") == 0) {
    *bad = a->ncaps >= SPEC_MAX_CAPS || parse_id(val, 63, &n);
    if (!*bad) a->caps[a->ncaps++] = (int)n;
  } else if (strcmp(key, "seccomp") == 0) {
    *bad = a->have_seccomp || parse_id(val, SPEC_MAX_BPF_BYTES, &n) || n % 8 != 0;
    a->seccomp_len = (unsigned)n;
    a->have_seccomp = 1;
  } else if (strcmp(key, "readonly_rootfs") == 0) {
    *bad = parse_id(val, 1, &n);
    a->readonly_rootfs = (int)n;
  } else if (strcmp(key, "pre_start") == 0) {
    *bad = a->npre_start >= SPEC_MAX_HANDLER_ARGS || (a->npre_start == 0 && check_exec(val));
    if (!*bad) a->pre_start[a->npre_start++] = val;
  } else if (strcmp(key, "post_stop") == 0) {
    *bad = a->npost_stop >= SPEC_MAX_HANDLER_ARGS || (a->npost_stop == 0 && check_exec(val));
    if (!*bad) a->post_stop[a->npost_stop++] = val;
  } else if (strcmp(key, "group") == 0) {
    *bad = a->ngroups >= SPEC_MAX_GROUPS || parse_id(val, 65535, &n);
    if (!*bad) a->groups[a->ngroups++] = (gid_t)n;
  } else if (strcmp(key, "mount") == 0) {
    *bad = s->enter || parse_mount(s, a, val);
  } else if (strcmp(key, "cgroup_fd") == 0) {
    *bad = s->enter || parse_cgroup_fd(s, a->cgroup_fds, &a->ncgroup_fds, val);
  } else
    return 1;
  return 0;
}

int spec_parse(struct spec *s, char *buf, size_t len, char *err, size_t errlen) {
  /* s comes zeroed (stage1's is a static): no memset of its ~700 KiB, whose page faults, and
   * page tables copied at every fork, would cost more than the rest of the parse. */
  s->buf = buf;
  if (len == 0 || buf[len - 1] != '\0') {
    snprintf(err, errlen, "launch spec is not NUL-terminated");
    return -1;
  }
  size_t i = 0;
  struct app_spec *app = NULL;
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
    if (strcmp(key, "app") == 0) {
      if (s->napps >= SPEC_MAX_APPS) {
        snprintf(err, errlen, "launch spec has more than %d apps", SPEC_MAX_APPS);
        return -1;
      }
      bad = check_name(val);
      for (size_t k = 0; !bad && k < s->napps; k++)
        if (strcmp(s->apps[k].name, val) == 0) bad = 1;
      app = &s->apps[s->napps++];
      app->name = val;
    } else if (app != NULL) {
      /* Inside an app section only app keys are valid. */
      if (app_key(s, app, key, val, &bad)) {
        snprintf(err, errlen, "launch spec has unknown app key '%.32s'", key);
        return -1;
      }
    } else if (strcmp(key, "uuid") == 0) bad = set_once(&s->uuid, val);
    else if (strcmp(key, "hostname") == 0) bad = set_once(&s->hostname, val);
    else if (strcmp(key, "rootfs") == 0) bad = set_once(&s->rootfs, val);
    else if (strcmp(key, "masked") == 0) {
      bad = s->nmasked >= SPEC_MAX_PATHS || val[0] != '/';
      if (!bad) s->masked[s->nmasked++] = val;
    } else if (strcmp(key, "readonly") == 0) {
      bad = s->nreadonly >= SPEC_MAX_PATHS || val[0] != '/';
      if (!bad) s->readonly[s->nreadonly++] = val;
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
    } else if (strcmp(key, "enter") == 0) {
      bad = parse_id(val, 1, &n);
      s->enter = (int)n;
    } else if (strcmp(key, "enter_app") == 0) {
      bad = parse_id(val, SPEC_MAX_APPS - 1, &n);
      s->enter_app = (unsigned)n;
    } else if (strcmp(key, "state_fds") == 0) {
      bad = parse_id(val, 1, &n);
      s->state_fds = (int)n;
    } else if (strcmp(key, "volume") == 0) {
      bad = s->enter || parse_volume(s, val);
    } else if (strcmp(key, "net_wait") == 0) {
      bad = parse_id(val, 1, &n);
      s->net_wait = (int)n;
    } else if (strcmp(key, "net_host") == 0) {
      bad = parse_id(val, 1, &n);
      s->net_host = (int)n;
    } else if (strcmp(key, "cgroup_fd") == 0) {
      bad = parse_cgroup_fd(s, s->cgroup_fds, &s->ncgroup_fds, val);
    } else {
      snprintf(err, errlen, "launch spec has unknown key '%.32s'", key);
      return -1;
    }
    if (bad) {
      snprintf(err, errlen, "launch spec key '%.32s' is repeated, malformed or out of range", key);
      return -1;
    }
  }
  if (s->enter && (s->hostname || s->rootfs || s->nmasked || s->nreadonly || s->state_fds || s->nvolumes || s->net_wait || s->net_host)) {
    snprintf(err, errlen, "launch spec for enter names a pod to make");
    return -1;
  }
  const char *missing = !s->uuid                    ? "uuid"
                        : !s->enter && !s->hostname ? "hostname"
                        : !s->enter && !s->rootfs   ? "rootfs"
                        : s->napps == 0             ? "app"
                                                    : NULL;
  if (missing) {
    snprintf(err, errlen, "launch spec lacks '%s'", missing);
    return -1;
  }
  if (s->ncgroup_fds > 0 && !s->state_fds && !s->enter) {
    snprintf(err, errlen, "launch spec has cgroup fds without state fds before them");
    return -1;
  }
  if (s->enter && s->napps != 1) {
    snprintf(err, errlen, "launch spec for enter names %zu apps, not one", s->napps);
    return -1;
  }
  for (size_t k = 0; k < s->napps; k++) {
    struct app_spec *a = &s->apps[k];
    a->args[a->nargs] = NULL;
    a->env[a->nenv] = NULL;
    a->pre_start[a->npre_start] = NULL;
    a->post_stop[a->npost_stop] = NULL;
    if (s->enter && (a->lower || a->upper || a->work || a->readonly_rootfs || a->npre_start || a->npost_stop)) {
      snprintf(err, errlen, "launch spec for enter names a pod to make");
      return -1;
    }
    if (a->ncgroup_fds > 0 && !s->state_fds) {
      snprintf(err, errlen, "launch spec has cgroup fds without state fds before them");
      return -1;
    }
    missing = !s->enter && !a->lower   ? "lower"
              : !s->enter && !a->upper ? "upper"
              : !s->enter && !a->work  ? "work"
              : !a->cwd                ? "cwd"
              : !a->have_uid           ? "uid"
              : !a->have_gid           ? "gid"
              : a->nargs == 0          ? "arg"
                                       : NULL;
    if (missing) {
      snprintf(err, errlen, "launch spec app '%s' lacks '%s'", a->name, missing);
      return -1;
    }
    if (check_exec(a->args[0]) || a->cwd[0] != '/') {
      snprintf(err, errlen, "launch spec exec must be an absolute path or a command name, and cwd absolute");
      return -1;
    }
  }
  return 0;
}
