// The extractor's hot path: one regular file of a layer, created and filled in a single call
// (open exclusive without following a symlink, write, owner, mode, times, close) instead of six
// calls through node's fs. It runs in the extractor (root of the caller's own user namespace,
// never with host privilege); the path is relative to its working directory, the tree, and every
// parent on it has already been checked to be a real directory by the caller.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "modules.h"

namespace ward {
namespace {

const char* ErrnoCode(int e) {
  switch (e) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case ENOSPC: return "ENOSPC";
    case EDQUOT: return "EDQUOT";
    case EROFS: return "EROFS";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EINVAL: return "EINVAL";
    case EIO: return "EIO";
    case EMFILE: return "EMFILE";
    case EFBIG: return "EFBIG";
    default: return "EIO";
  }
}

void ThrowErrno(Napi::Env env, int e, const char* syscall, const std::string& path) {
  Napi::Error err = Napi::Error::New(env, std::string(ErrnoCode(e)) + ": " + strerror(e) + ", " + syscall + " '" + path + "'");
  err.Set("code", Napi::String::New(env, ErrnoCode(e)));
  err.Set("errno", Napi::Number::New(env, -e));
  err.Set("syscall", Napi::String::New(env, syscall));
  err.ThrowAsJavaScriptException();
}

// writeNewFile(path, data, mode, uid, gid, mtime): 0 when made, EEXIST when something is already
// there (nothing is touched then: the caller clears it and calls again); throws otherwise.
// uid < 0 keeps the creator's ids (and drops setuid/setgid, as the caller asks for then).
Napi::Value WriteNewFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6 || !info[0].IsString() || !info[1].IsBuffer() || !info[2].IsNumber() || !info[3].IsNumber() ||
      !info[4].IsNumber() || !info[5].IsNumber()) {
    Napi::TypeError::New(env, "writeNewFile(path, data, mode, uid, gid, mtime)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Buffer<uint8_t> data = info[1].As<Napi::Buffer<uint8_t>>();
  int64_t mode = info[2].As<Napi::Number>().Int64Value();
  int64_t uid = info[3].As<Napi::Number>().Int64Value();
  int64_t gid = info[4].As<Napi::Number>().Int64Value();
  int64_t mtime = info[5].As<Napi::Number>().Int64Value();
  if (path.empty() || path.size() >= PATH_MAX || path.find('\0') != std::string::npos || mode < 0 || mode > 07777 ||
      uid > 65535 || gid > 65535 || (uid < 0) != (gid < 0)) {
    Napi::TypeError::New(env, "writeNewFile: bad path, mode or ids").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool owners = uid >= 0;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, static_cast<mode_t>(mode & 0777));
  if (fd < 0) {
    if (errno == EEXIST) return Napi::Number::New(env, EEXIST);
    ThrowErrno(env, errno, "open", path);
    return env.Undefined();
  }
  const uint8_t* p = data.Data();
  size_t left = data.Length();
  const char* failed = nullptr;
  int err = 0;
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      failed = "write";
      err = errno;
      break;
    }
    if (n == 0) {
      failed = "write";
      err = EIO;
      break;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  struct stat st;
  if (!failed && fstat(fd, &st) != 0) failed = "fstat", err = errno;
  if (!failed && owners && (st.st_uid != static_cast<uid_t>(uid) || st.st_gid != static_cast<gid_t>(gid)) &&
      fchown(fd, static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0) {
    failed = "fchown", err = errno;
  }
  mode_t want = static_cast<mode_t>(owners ? mode : (mode & 01777));
  if (!failed && (st.st_mode & 07777) != want && fchmod(fd, want) != 0) failed = "fchmod", err = errno;
  struct timespec times[2];
  times[0].tv_sec = static_cast<time_t>(mtime);
  times[0].tv_nsec = 0;
  times[1] = times[0];
  if (!failed && futimens(fd, times) != 0) failed = "futimens", err = errno;
  // close() is checked: on some file systems it is where a deferred write error shows.
  if (close(fd) != 0 && !failed) failed = "close", err = errno;
  if (failed) {
    ThrowErrno(env, err, failed, path);
    return env.Undefined();
  }
  return Napi::Number::New(env, 0);
}

}  // namespace

void InitExtract(Napi::Env env, Napi::Object exports) {
  exports.Set("writeNewFile", Napi::Function::New(env, WriteNewFile, "writeNewFile"));
}

}  // namespace ward
