// sha256 of a small string or buffer, for the frontend's hot path: `ward run` of a stored image
// needs two short digests (the file's identity key, the rendered tree's key), and node:crypto
// would load some thirty internal modules (streams among them) for them.
#include <string>

#include "modules.h"
#include "sha256.h"

namespace ward {
namespace {

constexpr size_t kMaxInput = 1 << 20;  // keys are short; anything large belongs to node:crypto

Napi::Value Sha256Hex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Sha256 h;
  if (info.Length() == 1 && info[0].IsString()) {
    std::string s = info[0].As<Napi::String>().Utf8Value();
    if (s.size() > kMaxInput) {
      Napi::RangeError::New(env, "sha256Hex: input larger than 1 MiB").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    h.update(s.data(), s.size());
  } else if (info.Length() == 1 && info[0].IsBuffer()) {
    auto b = info[0].As<Napi::Buffer<uint8_t>>();
    if (b.Length() > kMaxInput) {
      Napi::RangeError::New(env, "sha256Hex: input larger than 1 MiB").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    h.update(b.Data(), b.Length());
  } else {
    Napi::TypeError::New(env, "sha256Hex(string | Buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::String::New(env, h.hexdigest());
}

}  // namespace

void InitDigest(Napi::Env env, Napi::Object exports) {
  exports.Set("sha256Hex", Napi::Function::New(env, Sha256Hex, "sha256Hex"));
}

}  // namespace ward
