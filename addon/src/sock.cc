#include "modules.h"
namespace ward {
void InitSock(Napi::Env env, Napi::Object exports) {}
}  // namespace ward
