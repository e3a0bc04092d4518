/* Networking and cgroup hooks of ward-stage1 (net.c): the helper's go before any app starts,
 * and each app's first process joining its cgroup through fds the helper opened. */
#ifndef WARD_STAGE1_NET_H
#define WARD_STAGE1_NET_H

#include "spec.h"

/* S, before forking pod init: a pipe that carries the helper's go to pod init (net_wait only). */
void net_go_pipe(const struct spec *s, int go[2]);
/* S, after "P <pid>": waits for "G" (or "E", or EOF) from the helper on the sync fd and passes a
 * go on to pod init only for "G". Returns 0 for "G", -1 otherwise. */
int net_pass_go(const struct spec *s, int go[2], int sync_fd);
/* C, before anything else: waits for the go; without it pod init exits and nothing starts. */
void net_await_go(const struct spec *s, int go[2]);
/* Checks the cgroup fds the pod and every app's section name (write-only files on a cgroup file
 * system) and marks them close-on-exec. */
int cgroup_check_fds(const struct spec *s, char *err, size_t errlen);
/* stage1, before it forks anything: joins the pod-level leaf (write "0" to each fd, close it).
 * Returns 0, or -1 with errno. */
int cgroup_join_pod(const struct spec *s, const char **what);
/* A, first thing after the fork: join the app's cgroup (write "0" to each fd), close the fds,
 * and take a cgroup namespace rooted at the app's own cgroup. Returns 0, or -1 with errno. */
int cgroup_join(const struct app_spec *a, const char **what);
/* S and C: their copies of every app's cgroup fds, once the processes that need them are forked. */
void cgroup_close_fds(const struct spec *s);

#endif
