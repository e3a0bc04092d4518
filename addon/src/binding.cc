// Entry point of ward's native addon: each module registers its own functions.
#include <napi.h>
#include "modules.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ward::InitSock(env, exports);
  ward::InitSeccomp(env, exports);
  ward::InitSeal(env, exports);
  ward::InitFileops(env, exports);
  ward::InitPidfd(env, exports);
  ward::InitMountfd(env, exports);
  ward::InitExtract(env, exports);
  ward::InitDigest(env, exports);
  ward::InitSpawn(env, exports);
  ward::InitOpenAs(env, exports);
  return exports;
}

NODE_API_MODULE(ward_addon, Init)
