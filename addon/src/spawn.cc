// Spawning ward-stage1 without node's child_process: node forks the whole helper for every pod
// (page tables, then copy-on-write faults in the parent), which cost the helper 3.5 ms of each
// pod's start. glibc's posix_spawn uses clone(CLONE_VM | CLONE_VFORK): no copy. The child gets
// exactly the fds asked for (everything else in the helper is close-on-exec), default signal
// dispositions and an empty signal mask, an empty environment, and runs the sealed memfd.
//
// spawnMemfd(execFd, argv0, fds) -> { pid, pidfd, sync }: child fd i is fds[i] (-1: none), fd 3 is
// a new socketpair whose other end comes back as sync. waitPidfd(pidfd) -> { code, signal } | null.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "modules.h"

namespace ward {
namespace {

constexpr int kSyncFd = 3;
constexpr int kMaxFds = 64;
constexpr int kPidfd = 3;  // P_PIDFD (Linux 5.4)

Napi::Value Fail(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, "ESPAWN"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value SpawnMemfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsArray()) {
    Napi::TypeError::New(env, "spawnMemfd(execFd, argv0, fds)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int execFd = info[0].As<Napi::Number>().Int32Value();
  std::string argv0 = info[1].As<Napi::String>().Utf8Value();
  Napi::Array arr = info[2].As<Napi::Array>();
  if (arr.Length() <= kSyncFd || arr.Length() > kMaxFds) {
    Napi::TypeError::New(env, "spawnMemfd: between 4 and 64 child fds").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<int> fds(arr.Length());
  int high = execFd;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsNumber()) {
      Napi::TypeError::New(env, "spawnMemfd: fds must be numbers (-1: none)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    fds[i] = v.As<Napi::Number>().Int32Value();
    if (fds[i] < -1) {
      Napi::TypeError::New(env, "spawnMemfd: bad fd").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (fds[i] > high) high = fds[i];
  }
  // The memfd is reached as /proc/self/fd/execFd at exec: no child fd may take its number, so
  // one below them is used through a copy above them (closed again once spawned).
  if (fcntl(execFd, F_GETFD) < 0) {
    Napi::TypeError::New(env, "spawnMemfd: execFd must be open").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int execCopy = -1;
  if (execFd < static_cast<int>(fds.size())) {
    execCopy = fcntl(execFd, F_DUPFD_CLOEXEC, kMaxFds);
    if (execCopy < 0) return Fail(env, "copying the exec fd", errno);
    execFd = execCopy;
    if (execFd > high) high = execFd;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    int err = errno;
    if (execCopy >= 0) close(execCopy);
    return Fail(env, "socketpair", err);
  }
  if (sv[0] > high) high = sv[0];
  if (sv[1] > high) high = sv[1];
  fds[kSyncFd] = sv[1];
  high += 1;

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc != 0) {
    close(sv[0]);
    close(sv[1]);
    if (execCopy >= 0) close(execCopy);
    return Fail(env, "posix_spawn_file_actions_init", rc);
  }
  rc = posix_spawnattr_init(&attr);
  if (rc != 0) {
    posix_spawn_file_actions_destroy(&fa);
    close(sv[0]);
    close(sv[1]);
    if (execCopy >= 0) close(execCopy);
    return Fail(env, "posix_spawnattr_init", rc);
  }
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  // Every source is first moved above every number involved, so no dup2 overwrites a source.
  for (size_t i = 0; i < fds.size() && rc == 0; i++)
    if (fds[i] >= 0) rc = posix_spawn_file_actions_adddup2(&fa, fds[i], high + static_cast<int>(i));
  for (size_t i = 0; i < fds.size() && rc == 0; i++) {
    if (fds[i] < 0) continue;
    rc = posix_spawn_file_actions_adddup2(&fa, high + static_cast<int>(i), static_cast<int>(i));
    if (rc == 0) rc = posix_spawn_file_actions_addclose(&fa, high + static_cast<int>(i));
  }
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
  if (rc == 0) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  if (rc == 0) {
    std::string path = "/proc/self/fd/" + std::to_string(execFd);
    char* argv[] = {const_cast<char*>(argv0.c_str()), nullptr};
    char* envp[] = {nullptr};
    rc = posix_spawn(&pid, path.c_str(), &fa, &attr, argv, envp);
  }
  if (execCopy >= 0) close(execCopy);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    return Fail(env, "posix_spawn of ward-stage1", rc);
  }
  // The child is ours alone to reap (libuv waits only for its own children), so its pid cannot
  // be reused before this pidfd names it.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int err = errno;
    kill(pid, SIGKILL);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    close(sv[0]);
    return Fail(env, "pidfd_open of ward-stage1", err);
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, pid));
  out.Set("pidfd", Napi::Number::New(env, pidfd));
  out.Set("sync", Napi::Number::New(env, sv[0]));
  return out;
}

/** Reaps the process behind pidfd if it has exited: { code, signal } (one of them null), else null. */
Napi::Value WaitPidfd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "waitPidfd(pidfd)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int pidfd = info[0].As<Napi::Number>().Int32Value();
  siginfo_t si;
  memset(&si, 0, sizeof si);
  long r;
  do r = syscall(SYS_waitid, kPidfd, pidfd, &si, WEXITED | WNOHANG, nullptr);
  while (r < 0 && errno == EINTR);
  if (r < 0) return Fail(env, "waitid", errno);
  if (si.si_pid == 0) return env.Null();
  Napi::Object out = Napi::Object::New(env);
  bool exited = si.si_code == CLD_EXITED;
  out.Set("code", exited ? Napi::Number::New(env, si.si_status) : env.Null());
  out.Set("signal", exited ? env.Null() : Napi::Number::New(env, si.si_status));
  return out;
}

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("spawnMemfd", Napi::Function::New(env, SpawnMemfd, "spawnMemfd"));
  exports.Set("waitPidfd", Napi::Function::New(env, WaitPidfd, "waitPidfd"));
}

}  // namespace ward
