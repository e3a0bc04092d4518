/* Pod volumes in ward-stage1 (volumes.c). Each returns -1 with a one-line message in err. */
#ifndef WARD_STAGE1_VOLUMES_H
#define WARD_STAGE1_VOLUMES_H

#include <stddef.h>

#include "spec.h"

/* S, host root, still in the helper's mount namespace: a detached copy of each volume's source
 * (its submounts too when recursive), made nosuid and nodev (and read-only all the way down when
 * asked); the helper's fds are closed. */
int volumes_clone(struct spec *s, char *err, size_t errlen);

/* S, in its private mount namespace, with the pod root tmpfs open as podfd: attaches every copy
 * under it (v/<i>); the pod's namespaces then inherit the copies as locked mounts. */
int volumes_stage(struct spec *s, int podfd, char *err, size_t errlen);

/* An app, in its own mount namespace before pivot_root (the pod root still "/"): binds each of
 * its mounts' staged volume onto its target inside the app's root (rootfd), resolved component by
 * component without following any symlink, created when missing (a directory or an empty file,
 * as the volume is). */
int volumes_bind(const struct spec *s, const struct app_spec *a, int rootfd, char *err, size_t errlen);

#endif
