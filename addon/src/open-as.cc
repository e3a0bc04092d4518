// openAs: opens a host volume's source with the caller's credentials, not root's. The helper is
// root; a path the caller may not read must not become a volume just because root can read it.
//
// The open runs in a fresh thread whose file-system ids and supplementary groups are the
// caller's: setfsuid/setfsgid and the raw setgroups system call change only the calling thread
// (glibc's setgroups() would change every thread of the helper), and a change of fsuid from 0
// clears the file-system capabilities (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER ...)
// from the thread's effective set, so the kernel checks the caller's permissions. The thread
// ends after the open, and its credentials with it.
//
// The path is resolved with openat2 RESOLVE_NO_MAGICLINKS as O_PATH, checked to be a directory
// or a regular file (no device is ever opened), then re-opened O_RDONLY through the thread's own
// /proc/thread-self/fd link, which checks read permission on that very inode. The helper gets
// the O_RDONLY fd and never uses the path again.
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "modules.h"

namespace ward {
namespace {

constexpr size_t kMaxGroups = 256;

struct OpenResult {
  int fd = -1;
  int err = 0;
  const char* step = "";
};

void OpenInThread(const std::string& path, uid_t uid, gid_t gid, const std::vector<gid_t>& groups, OpenResult* out) {
  if (syscall(SYS_setgroups, groups.size(), groups.empty() ? nullptr : groups.data()) != 0) {
    out->err = errno;
    out->step = "setgroups";
    return;
  }
  syscall(SYS_setfsgid, gid);
  syscall(SYS_setfsuid, uid);
  // setfsuid/setfsgid report the previous id, never an error: read the ids back to be sure.
  if (static_cast<uid_t>(syscall(SYS_setfsuid, static_cast<uid_t>(-1))) != uid ||
      static_cast<gid_t>(syscall(SYS_setfsgid, static_cast<gid_t>(-1))) != gid) {
    out->err = EPERM;
    out->step = "setfsuid";
    return;
  }
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_NO_MAGICLINKS;
  long pfd;
  do pfd = syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof(how));
  while (pfd < 0 && errno == EINTR);
  if (pfd < 0) {
    out->err = errno;
    out->step = "open";
    return;
  }
  struct stat st;
  if (fstat(static_cast<int>(pfd), &st) != 0) {
    out->err = errno;
    out->step = "fstat";
    close(static_cast<int>(pfd));
    return;
  }
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    out->err = EINVAL;
    out->step = "type";
    close(static_cast<int>(pfd));
    return;
  }
  char link[64];
  snprintf(link, sizeof(link), "/proc/thread-self/fd/%d", static_cast<int>(pfd));
  int fd;
  do fd = open(link, O_RDONLY | O_CLOEXEC | O_NOCTTY | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
  while (fd < 0 && errno == EINTR);
  int saved = errno;
  close(static_cast<int>(pfd));
  if (fd < 0) {
    out->err = saved;
    out->step = "open";
    return;
  }
  struct stat st2;
  if (fstat(fd, &st2) != 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino) {
    out->err = EXDEV;
    out->step = "reopen";
    close(fd);
    return;
  }
  out->fd = fd;
}

// openAs(path, uid, gid, groups) -> fd (O_RDONLY, close-on-exec) of a directory or regular file.
// Throws an Error with code = the errno name (EACCES, ENOENT, ELOOP ...) or EBADTYPE for anything
// but a directory or a regular file.
Napi::Value OpenAs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 4 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsArray()) {
    Napi::TypeError::New(env, "openAs(path, uid, gid, groups)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int64_t uid = info[1].As<Napi::Number>().Int64Value();
  int64_t gid = info[2].As<Napi::Number>().Int64Value();
  Napi::Array arr = info[3].As<Napi::Array>();
  if (path.empty() || path[0] != '/' || path.size() > 4096 || path.find('\0') != std::string::npos || uid < 0 || uid >= 0xffffffffLL ||
      gid < 0 || gid >= 0xffffffffLL || arr.Length() > kMaxGroups) {
    Napi::TypeError::New(env, "openAs: an absolute path, ids and at most 256 groups").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<gid_t> groups;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    int64_t g = v.IsNumber() ? v.As<Napi::Number>().Int64Value() : -1;
    if (g < 0 || g >= 0xffffffffLL) {
      Napi::TypeError::New(env, "openAs: groups must be ids").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    groups.push_back(static_cast<gid_t>(g));
  }
  OpenResult res;
  try {
    std::thread t(OpenInThread, path, static_cast<uid_t>(uid), static_cast<gid_t>(gid), groups, &res);
    t.join();
  } catch (const std::exception& e) {
    Napi::Error::New(env, std::string("openAs: starting a thread: ") + e.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (res.fd < 0) {
    bool badType = std::string(res.step) == "type";
    const char* name = badType ? "EBADTYPE" : strerrorname_np(res.err);
    Napi::Error e = Napi::Error::New(env, badType ? "not a directory or a regular file" : std::string(strerror(res.err)));
    e.Set("code", Napi::String::New(env, name ? name : "EIO"));
    e.Set("step", Napi::String::New(env, res.step));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, res.fd);
}

}  // namespace

void InitOpenAs(Napi::Env env, Napi::Object exports) {
  exports.Set("openAs", Napi::Function::New(env, OpenAs, "openAs"));
}

}  // namespace ward
