// One Init function per native module; binding.cc calls them all.
#pragma once
#include <napi.h>

namespace ward {
void InitSock(Napi::Env env, Napi::Object exports);     // sock.cc: peer creds, fd passing, memfd, fd checks
void InitSeccomp(Napi::Env env, Napi::Object exports);  // seccomp.cc: OCI profile -> BPF via libseccomp
void InitSeal(Napi::Env env, Napi::Object exports);     // seal.cc: copy a hostile tree safely and digest it
void InitFileops(Napi::Env env, Napi::Object exports);  // fileops.cc: flock
void InitPidfd(Napi::Env env, Napi::Object exports);    // pidfd.cc: pidfd_open, pidfd_send_signal
void InitMountfd(Napi::Env env, Napi::Object exports);  // mountfd.cc: detached read-only overlay mounts (ward export)
void InitSpawn(Napi::Env env, Napi::Object exports);    // spawn.cc: ward-stage1 from its memfd by posix_spawn; reaping by pidfd
void InitDigest(Napi::Env env, Napi::Object exports);   // digest.cc: sha256 of a short string or buffer
void InitExtract(Napi::Env env, Napi::Object exports);
void InitOpenAs(Napi::Env env, Napi::Object exports);   // open-as.cc: open a host volume's source with the caller's credentials  // extract.cc: the extractor's one-call regular file write
}  // namespace ward
