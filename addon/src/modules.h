// One Init function per native module; binding.cc calls them all.
#pragma once
#include <napi.h>

namespace ward {
void InitSock(Napi::Env env, Napi::Object exports);     // sock.cc: peer creds, fd passing, memfd, fd checks
void InitSeccomp(Napi::Env env, Napi::Object exports);  // seccomp.cc: OCI profile -> BPF via libseccomp
void InitSeal(Napi::Env env, Napi::Object exports);     // seal.cc: copy a hostile tree safely and digest it
void InitTpm(Napi::Env env, Napi::Object exports);      // tpm.cc: TPM 2.0 through tpm2-tss ESYS (PCRs, NV extend index, quotes)
void InitFileops(Napi::Env env, Napi::Object exports);  // fileops.cc: flock
void InitExtract(Napi::Env env, Napi::Object exports);  // extract.cc: the extractor's one-call regular file write
}  // namespace ward
