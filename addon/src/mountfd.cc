// A detached, read-only overlay mount for ward export: fsopen/fsconfig/fsmount give an fd of a
// mount that is in no mount table (no host mount-table entry, nothing for anyone to unmount), and
// goes away with its last fd. Read-only, nosuid, nodev, noexec: the caller only reads it.
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "modules.h"

namespace ward {
namespace {

Napi::Value Fail(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, "EMOUNT"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// detachedOverlay(lowerdir) -> fd of a read-only detached overlay with only lower layers
// ("a:b", the first on top). The paths are the helper's own (pod dirs, sealed trees).
Napi::Value DetachedOverlay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "detachedOverlay(lowerdir)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string lower = info[0].As<Napi::String>().Utf8Value();
  if (lower.empty() || lower.size() > 4096 || lower.find(',') != std::string::npos) return Fail(env, "detachedOverlay: bad lowerdir", EINVAL);
  int fsfd = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
  if (fsfd < 0) return Fail(env, "fsopen(overlay)", errno);
  if (syscall(SYS_fsconfig, fsfd, FSCONFIG_SET_STRING, "lowerdir", lower.c_str(), 0) < 0 ||
      syscall(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0) {
    int err = errno;
    close(fsfd);
    return Fail(env, "configuring the overlay", err);
  }
  int mfd = (int)syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  int err = errno;
  close(fsfd);
  if (mfd < 0) return Fail(env, "fsmount", err);
  return Napi::Number::New(env, mfd);
}

}  // namespace

void InitMountfd(Napi::Env env, Napi::Object exports) {
  exports.Set("detachedOverlay", Napi::Function::New(env, DetachedOverlay, "detachedOverlay"));
}

}  // namespace ward
