// The JavaScript face of tpm_ops: a Tpm object holding one ESYS session, every operation a
// promise run on a worker thread (a TPM command can take long, and a TPM that stops answering
// must not stall the helper's event loop).
//
// ESYS contexts are not thread-safe, so an object runs one operation at a time and refuses a
// second (src/native/tpm.ts queues them). close() detaches the session at once: an operation
// still running keeps its own reference and the session is finalized when it returns, so a
// caller that gave up on a hung TPM can connect afresh without waiting.
//
// Every error is an Error with code "ETPM" and a message naming the TPM command and the decoded
// return code, or a TypeError (code ERR_INVALID_ARG_VALUE) for bad arguments.
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <napi.h>

#include "tpm_ops.h"

namespace ward {
namespace {

using tpm::Bytes;
using tpm::Session;
using tpm::Status;

constexpr size_t kMaxConf = 1024;
constexpr uint32_t kNvFirst = 0x01000000;  // TPM2_HR_NV_INDEX
constexpr uint32_t kNvLast = 0x01ffffff;
constexpr uint32_t kMaxPcr = 23;
constexpr size_t kMaxBanks = TPM2_NUM_PCR_BANKS;
constexpr size_t kMaxBlob = 4096;  // a marshaled TPM2B_PUBLIC or TPM2B_PRIVATE is far smaller

Napi::Value Rejected(Napi::Env env, const std::string& message) {
  Napi::Error err = Napi::TypeError::New(env, "tpm: " + message);
  err.Value().Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
  Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
  d.Reject(err.Value());
  return d.Promise();
}

bool ReadUint(const Napi::Value& v, uint32_t min, uint32_t max, uint32_t* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < min || d > max) return false;
  *out = static_cast<uint32_t>(d);
  return true;
}

bool ReadBytes(const Napi::Value& v, size_t min, size_t max, Bytes* out) {
  if (!v.IsBuffer()) return false;
  Napi::Buffer<uint8_t> b = v.As<Napi::Buffer<uint8_t>>();
  if (b.Length() < min || b.Length() > max) return false;
  out->assign(b.Data(), b.Data() + b.Length());
  return true;
}

bool ReadKey(Napi::Env env, const Napi::Value& v, tpm::KeyBlob* out) {
  if (!v.IsObject()) return false;
  Napi::Object o = v.As<Napi::Object>();
  Napi::Value pub = o.Get("public");
  if (env.IsExceptionPending()) return false;
  Napi::Value priv = o.Get("private");
  if (env.IsExceptionPending()) return false;
  return ReadBytes(pub, 1, kMaxBlob, &out->pub) && ReadBytes(priv, 1, kMaxBlob, &out->priv);
}

Napi::Buffer<uint8_t> ToBuffer(Napi::Env env, const Bytes& b) {
  return Napi::Buffer<uint8_t>::Copy(env, b.data(), b.size());
}

class TpmObject;

// One TPM operation: `run` on the worker thread against the session, then `done` on the main
// thread turns what run left in shared state into the promise's value.
class OpWorker : public Napi::AsyncWorker {
 public:
  using Run = std::function<Status(Session*)>;
  using Done = std::function<Napi::Value(Napi::Env)>;

  OpWorker(Napi::Env env, TpmObject* owner, uint64_t generation, std::shared_ptr<Session> session, Run run, Done done);

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    Status s = run_(session_.get());
    if (!s.ok) SetError(s.error);
  }
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;  // keeps the Tpm object alive while its operation runs
  TpmObject* owner_;
  uint64_t generation_;
  std::shared_ptr<Session> session_;
  Run run_;
  Done done_;
};

class TpmObject : public Napi::ObjectWrap<TpmObject> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Tpm",
                       {
                           InstanceMethod<&TpmObject::Connect>("connect"),
                           InstanceMethod<&TpmObject::Close>("close"),
                           InstanceMethod<&TpmObject::PcrRead>("pcrRead"),
                           InstanceMethod<&TpmObject::PcrExtend>("pcrExtend"),
                           InstanceMethod<&TpmObject::NvEnsureExtend>("nvEnsureExtend"),
                           InstanceMethod<&TpmObject::NvRead>("nvRead"),
                           InstanceMethod<&TpmObject::NvExtend>("nvExtend"),
                           InstanceMethod<&TpmObject::CreateAk>("createAk"),
                           InstanceMethod<&TpmObject::Quote>("quote"),
                           InstanceMethod<&TpmObject::NvCertify>("nvCertify"),
                       });
  }

  explicit TpmObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TpmObject>(info) {}

  /** Called by a finishing worker: the object is free again unless close() moved on meanwhile. */
  void Finished(uint64_t generation) {
    if (generation == generation_) busy_ = false;
  }
  void Install(uint64_t generation, std::shared_ptr<Session> s) {
    if (generation == generation_) session_ = std::move(s);
  }

 private:
  // Starts an operation; needsSession is false only for connect.
  Napi::Value Start(Napi::Env env, bool needsSession, OpWorker::Run run, OpWorker::Done done) {
    if (busy_) return Rejected(env, "one operation at a time on a Tpm object");
    if (needsSession && !session_) {
      Napi::Error err = Napi::Error::New(env, "tpm: not connected");
      err.Value().Set("code", Napi::String::New(env, "ETPM"));
      Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
      d.Reject(err.Value());
      return d.Promise();
    }
    busy_ = true;
    auto* w = new OpWorker(env, this, generation_, session_, std::move(run), std::move(done));
    Napi::Promise p = w->Promise();
    w->Queue();
    return p;
  }

  Napi::Value Connect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 1 || !info[0].IsString()) return Rejected(env, "connect(tcti) takes a TCTI config string");
    std::string conf = info[0].As<Napi::String>().Utf8Value();
    if (conf.empty() || conf.size() > kMaxConf || conf.find('\0') != std::string::npos) {
      return Rejected(env, "the TCTI config must be 1.." + std::to_string(kMaxConf) + " bytes without NUL");
    }
    if (busy_) return Rejected(env, "one operation at a time on a Tpm object");
    session_.reset();
    auto opened = std::make_shared<std::shared_ptr<Session>>();
    auto banks = std::make_shared<std::vector<tpm::Bank>>();
    uint64_t generation = generation_;
    return Start(
        env, false,
        [conf, opened, banks](Session*) {
          std::unique_ptr<Session> s;
          Status st = Session::Open(conf, &s);
          if (!st.ok) return st;
          st = s->Banks(banks.get());
          if (!st.ok) return st;
          *opened = std::shared_ptr<Session>(std::move(s));
          return Status::Ok();
        },
        [this, opened, banks, generation](Napi::Env e) -> Napi::Value {
          Install(generation, *opened);
          Napi::Array list = Napi::Array::New(e, banks->size());
          for (size_t i = 0; i < banks->size(); i++) {
            Napi::Object b = Napi::Object::New(e);
            b.Set("alg", Napi::Number::New(e, (*banks)[i].alg));
            b.Set("size", Napi::Number::New(e, (*banks)[i].size));
            list.Set(static_cast<uint32_t>(i), b);
          }
          Napi::Object result = Napi::Object::New(e);
          result.Set("banks", list);
          return result;
        });
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    generation_++;
    busy_ = false;
    session_.reset();
    return info.Env().Undefined();
  }

  Napi::Value PcrRead(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t pcr = 0;
    if (info.Length() != 2 || !ReadUint(info[0], 0, kMaxPcr, &pcr) || !info[1].IsArray()) {
      return Rejected(env, "pcrRead(pcr 0..23, algs number[])");
    }
    Napi::Array algs = info[1].As<Napi::Array>();
    if (algs.Length() == 0 || algs.Length() > kMaxBanks) return Rejected(env, "pcrRead: 1.." + std::to_string(kMaxBanks) + " algorithms");
    std::vector<tpm::Bank> banks;
    for (uint32_t i = 0; i < algs.Length(); i++) {
      uint32_t alg = 0;
      if (!ReadUint(algs.Get(i), 1, 0xffff, &alg)) return Rejected(env, "pcrRead: algorithm ids are 16-bit numbers");
      banks.push_back(tpm::Bank{static_cast<uint16_t>(alg), 0});
    }
    auto out = std::make_shared<std::vector<tpm::BankDigest>>();
    return Start(
        env, true, [pcr, banks, out](Session* s) { return s->PcrRead(pcr, banks, out.get()); },
        [out](Napi::Env e) -> Napi::Value {
          Napi::Array list = Napi::Array::New(e, out->size());
          for (size_t i = 0; i < out->size(); i++) {
            Napi::Object d = Napi::Object::New(e);
            d.Set("alg", Napi::Number::New(e, (*out)[i].alg));
            d.Set("digest", ToBuffer(e, (*out)[i].digest));
            list.Set(static_cast<uint32_t>(i), d);
          }
          return list;
        });
  }

  Napi::Value PcrExtend(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t pcr = 0;
    if (info.Length() != 2 || !ReadUint(info[0], 0, kMaxPcr, &pcr) || !info[1].IsArray()) {
      return Rejected(env, "pcrExtend(pcr 0..23, digests {alg, digest}[])");
    }
    Napi::Array list = info[1].As<Napi::Array>();
    if (list.Length() == 0 || list.Length() > kMaxBanks) return Rejected(env, "pcrExtend: 1.." + std::to_string(kMaxBanks) + " digests");
    std::vector<tpm::BankDigest> digests;
    for (uint32_t i = 0; i < list.Length(); i++) {
      Napi::Value item = list.Get(i);
      if (env.IsExceptionPending() || !item.IsObject()) return Rejected(env, "pcrExtend: each digest is {alg, digest}");
      Napi::Object o = item.As<Napi::Object>();
      uint32_t alg = 0;
      tpm::BankDigest d{};
      if (!ReadUint(o.Get("alg"), 1, 0xffff, &alg) || !ReadBytes(o.Get("digest"), 1, sizeof(TPMU_HA), &d.digest)) {
        return Rejected(env, "pcrExtend: each digest is {alg: 16-bit number, digest: Buffer of at most 64 bytes}");
      }
      d.alg = static_cast<uint16_t>(alg);
      digests.push_back(std::move(d));
    }
    return Start(
        env, true, [pcr, digests](Session* s) { return s->PcrExtend(pcr, digests); },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
  }

  Napi::Value NvEnsureExtend(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t index = 0;
    if (info.Length() != 1 || !ReadUint(info[0], kNvFirst, kNvLast, &index)) return Rejected(env, "nvEnsureExtend(index 0x01000000..0x01ffffff)");
    auto created = std::make_shared<bool>(false);
    auto attributes = std::make_shared<uint32_t>(0);
    return Start(
        env, true, [index, created, attributes](Session* s) { return s->NvEnsureExtend(index, created.get(), attributes.get()); },
        [created, attributes](Napi::Env e) -> Napi::Value {
          Napi::Object o = Napi::Object::New(e);
          o.Set("created", Napi::Boolean::New(e, *created));
          o.Set("attributes", Napi::Number::New(e, *attributes));
          return o;
        });
  }

  Napi::Value NvRead(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t index = 0;
    if (info.Length() != 1 || !ReadUint(info[0], kNvFirst, kNvLast, &index)) return Rejected(env, "nvRead(index 0x01000000..0x01ffffff)");
    auto written = std::make_shared<bool>(false);
    auto data = std::make_shared<Bytes>();
    return Start(
        env, true, [index, written, data](Session* s) { return s->NvRead(index, written.get(), data.get()); },
        [written, data](Napi::Env e) -> Napi::Value { return *written ? static_cast<Napi::Value>(ToBuffer(e, *data)) : e.Null(); });
  }

  Napi::Value NvExtend(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t index = 0;
    Bytes data;
    if (info.Length() != 2 || !ReadUint(info[0], kNvFirst, kNvLast, &index) || !ReadBytes(info[1], 1, tpm::kMaxExtendData, &data)) {
      return Rejected(env, "nvExtend(index 0x01000000..0x01ffffff, data Buffer of 1.." + std::to_string(tpm::kMaxExtendData) + " bytes)");
    }
    return Start(
        env, true, [index, data](Session* s) { return s->NvExtend(index, data); },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
  }

  static Napi::Value KeyValue(Napi::Env e, const tpm::KeyBlob& k) {
    Napi::Object o = Napi::Object::New(e);
    o.Set("public", ToBuffer(e, k.pub));
    o.Set("private", ToBuffer(e, k.priv));
    return o;
  }

  static Napi::Value AttestationValue(Napi::Env e, const tpm::Attestation& a) {
    Napi::Object o = Napi::Object::New(e);
    o.Set("attest", ToBuffer(e, a.attest));
    o.Set("signature", ToBuffer(e, a.signature));
    if (!a.nvPublic.empty()) o.Set("nvPublic", ToBuffer(e, a.nvPublic));
    return o;
  }

  Napi::Value CreateAk(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() != 0) return Rejected(env, "createAk() takes no arguments");
    auto key = std::make_shared<tpm::KeyBlob>();
    return Start(
        env, true, [key](Session* s) { return s->CreateAk(key.get()); },
        [key](Napi::Env e) { return KeyValue(e, *key); });
  }

  Napi::Value Quote(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    tpm::KeyBlob ak;
    uint32_t pcr = 0;
    uint32_t alg = 0;
    Bytes nonce;
    if (info.Length() != 4 || !ReadKey(env, info[0], &ak) || !ReadUint(info[1], 0, kMaxPcr, &pcr) ||
        !ReadUint(info[2], 1, 0xffff, &alg) || !ReadBytes(info[3], 1, tpm::kMaxNonce, &nonce)) {
      return Rejected(env, "quote(ak {public, private}, pcr 0..23, bank alg, nonce Buffer of 1..64 bytes)");
    }
    auto out = std::make_shared<tpm::Attestation>();
    return Start(
        env, true, [ak, pcr, alg, nonce, out](Session* s) { return s->Quote(ak, pcr, static_cast<uint16_t>(alg), nonce, out.get()); },
        [out](Napi::Env e) { return AttestationValue(e, *out); });
  }

  Napi::Value NvCertify(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    tpm::KeyBlob ak;
    uint32_t index = 0;
    Bytes nonce;
    if (info.Length() != 3 || !ReadKey(env, info[0], &ak) || !ReadUint(info[1], kNvFirst, kNvLast, &index) ||
        !ReadBytes(info[2], 1, tpm::kMaxNonce, &nonce)) {
      return Rejected(env, "nvCertify(ak {public, private}, index 0x01000000..0x01ffffff, nonce Buffer of 1..64 bytes)");
    }
    auto out = std::make_shared<tpm::Attestation>();
    return Start(
        env, true, [ak, index, nonce, out](Session* s) { return s->NvCertify(ak, index, nonce, out.get()); },
        [out](Napi::Env e) { return AttestationValue(e, *out); });
  }

  std::shared_ptr<Session> session_;
  bool busy_ = false;
  uint64_t generation_ = 0;
};

OpWorker::OpWorker(Napi::Env env, TpmObject* owner, uint64_t generation, std::shared_ptr<Session> session, Run run, Done done)
    : Napi::AsyncWorker(env, "ward.tpm"),
      deferred_(Napi::Promise::Deferred::New(env)),
      self_(Napi::Persistent(owner->Value())),
      owner_(owner),
      generation_(generation),
      session_(std::move(session)),
      run_(std::move(run)),
      done_(std::move(done)) {}

void OpWorker::OnOK() {
  owner_->Finished(generation_);
  deferred_.Resolve(done_(Env()));
}

void OpWorker::OnError(const Napi::Error& e) {
  owner_->Finished(generation_);
  Napi::Error err = Napi::Error::New(Env(), "tpm: " + e.Message());
  err.Value().Set("code", Napi::String::New(Env(), "ETPM"));
  deferred_.Reject(err.Value());
}

}  // namespace

void InitTpm(Napi::Env env, Napi::Object exports) {
  exports.Set("Tpm", TpmObject::Define(env));
}

}  // namespace ward

// A separate addon: linking tpm2-tss costs every process that loads it a few milliseconds of
// dynamic linking, and only the helper and the TPM commands need it.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  ward::InitTpm(env, exports);
  return exports;
}

NODE_API_MODULE(ward_tpm, InitModule)
