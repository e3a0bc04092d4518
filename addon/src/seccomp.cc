#include "modules.h"
namespace ward {
void InitSeccomp(Napi::Env env, Napi::Object exports) {}
}  // namespace ward
