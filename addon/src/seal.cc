#include "modules.h"
namespace ward {
void InitSeal(Napi::Env env, Napi::Object exports) {}
}  // namespace ward
