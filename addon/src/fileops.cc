// Small file operations Node lacks: advisory locks (flock) for the user's store and the
// helper's state, so gc never removes what a concurrent fetch or run is still using; and reading
// a small file of a hostile tree with every path resolved inside it (openat2 RESOLVE_IN_ROOT).
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include <string>

#include "modules.h"

namespace ward {
namespace {

Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "flock(fd, 'shared'|'exclusive'|'unlock', wait)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  std::string mode = info[1].As<Napi::String>().Utf8Value();
  bool wait = info[2].As<Napi::Boolean>().Value();
  int op = mode == "shared" ? LOCK_SH : mode == "exclusive" ? LOCK_EX : mode == "unlock" ? LOCK_UN : -1;
  if (op < 0 || fd < 0) {
    Napi::TypeError::New(env, "flock: bad mode or fd").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!wait) op |= LOCK_NB;
  int rc;
  do rc = flock(fd, op);
  while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    if (errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
    Napi::Error e = Napi::Error::New(env, std::string("flock: ") + strerror(errno));
    e.Set("code", Napi::String::New(env, errno == EBADF ? "EBADF" : "EIO"));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value ThrowErrno(Napi::Env env, const std::string& what, int err) {
  Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
  e.Set("code", Napi::String::New(env, err == ENOENT ? "ENOENT" : err == ELOOP ? "ELOOP" : err == EXDEV ? "EXDEV" : err == EFBIG ? "EFBIG" : err == EINVAL ? "EINVAL" : "EIO"));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

// readFileInRoot(rootFd, path, maxBytes): the bytes of a regular file, path resolved as if rootFd
// were "/" (symlinks, "..", absolute links stay inside; magic links and other mounts are refused).
Napi::Value ReadFileInRoot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "readFileInRoot(rootFd, path, maxBytes)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int root = info[0].As<Napi::Number>().Int32Value();
  std::string rel = info[1].As<Napi::String>().Utf8Value();
  int64_t max = info[2].As<Napi::Number>().Int64Value();
  if (root < 0 || max < 0 || max > (16 << 20) || rel.empty() || rel.find('\0') != std::string::npos) {
    Napi::TypeError::New(env, "readFileInRoot: bad fd, path or size").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  long fd;
  do fd = syscall(SYS_openat2, root, rel.c_str(), &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return ThrowErrno(env, "opening " + rel + " inside the tree", errno);
  struct stat st;
  if (fstat((int)fd, &st) < 0) {
    int err = errno;
    close((int)fd);
    return ThrowErrno(env, "fstat of " + rel, err);
  }
  if (!S_ISREG(st.st_mode)) {
    close((int)fd);
    return ThrowErrno(env, rel + " is not a regular file", EINVAL);
  }
  if (st.st_size > max) {
    close((int)fd);
    return ThrowErrno(env, rel + " is larger than " + std::to_string(max) + " bytes", EFBIG);
  }
  // Read one byte past the limit: a file that grew after fstat is refused, not cut short.
  std::vector<char> buf(static_cast<size_t>(max) + 1);
  size_t off = 0;
  for (;;) {
    ssize_t n = read((int)fd, buf.data() + off, buf.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close((int)fd);
      return ThrowErrno(env, "reading " + rel, err);
    }
    if (n == 0) break;
    off += static_cast<size_t>(n);
    if (off == buf.size()) {
      close((int)fd);
      return ThrowErrno(env, rel + " is larger than " + std::to_string(max) + " bytes", EFBIG);
    }
  }
  close((int)fd);
  return Napi::Buffer<char>::Copy(env, buf.data(), off);
}

}  // namespace

void InitFileops(Napi::Env env, Napi::Object exports) {
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
  exports.Set("readFileInRoot", Napi::Function::New(env, ReadFileInRoot, "readFileInRoot"));
}

}  // namespace ward
