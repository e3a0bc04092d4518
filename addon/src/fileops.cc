// Small file operations Node lacks: advisory locks (flock) for the user's store and the
// helper's state, so gc never removes what a concurrent fetch or run is still using.
#include <errno.h>
#include <string.h>
#include <sys/file.h>

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

}  // namespace

void InitFileops(Napi::Env env, Napi::Object exports) {
  exports.Set("flock", Napi::Function::New(env, Flock, "flock"));
}

}  // namespace ward
