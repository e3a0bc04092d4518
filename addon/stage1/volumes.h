/* Pod volumes in ward-stage1 (volumes.c). Each returns -1 with a one-line message in err. */
#ifndef WARD_STAGE1_VOLUMES_H
#define WARD_STAGE1_VOLUMES_H

#include <stddef.h>

#include "spec.h"

/* S, host root, still in the helper's mount namespace: a detached copy of each volume's source
 * (its submounts too when recursive), made nosuid and nodev (and read-only all the way down when
 * asked); the helper's fds are closed. */
int volumes_clone(struct spec *s, char *err, size_t errlen);

/* S, in its private mount namespace: without volumes, returns rootfs. With them, mounts a small
 * staging tmpfs on rootfs, attaches every copy under it (v/<i>) and returns rootfs/root, where
 * the overlay root goes; the pod's namespaces then inherit the copies as locked mounts. */
const char *volumes_attach(struct spec *s, const char *rootfs, char *err, size_t errlen);

/* C, with the host view, before pivot_root: binds each mount's staged volume onto its target
 * inside the root (rootfd), resolved component by component without following any symlink,
 * created when missing (a directory or an empty file, as the volume is). */
int volumes_bind(struct spec *s, int rootfd, char *err, size_t errlen);

#endif
