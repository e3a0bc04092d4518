// compileSeccomp: a validated seccomp program (src/native/addon.ts SeccompProgram, produced from an
// OCI linux.seccomp profile by src/schema/seccomp.ts) -> raw struct sock_filter[] via libseccomp.
//
// The whole JS input is parsed and checked into plain C++ values first; only then is a libseccomp
// context built, so a bad input never leaves anything half-made. The context and the memfd used
// for the export are released on every path.
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "modules.h"

namespace ward {
namespace {

// Generous bounds: a profile is a policy file, not a data set.
constexpr uint32_t kMaxRules = 4096;
constexpr uint32_t kMaxNamesPerRule = 1024;
constexpr uint32_t kMaxArches = 32;
constexpr uint32_t kMaxArgsPerRule = 6;  // one comparison per argument (libseccomp)
constexpr size_t kMaxNameLen = 64;
constexpr uint32_t kMaxErrno = 4095;     // the kernel clamps SECCOMP_RET_ERRNO data to MAX_ERRNO
constexpr size_t kBpfMaxInsns = 4096;    // BPF_MAXINSNS: the kernel refuses longer filters
constexpr size_t kSockFilterSize = 8;    // sizeof(struct sock_filter)

struct ArgCmp {
  unsigned int index;
  scmp_compare op;
  uint64_t a;  // datum_a: the value, or the mask for SCMP_CMP_MASKED_EQ
  uint64_t b;  // datum_b: the masked value for SCMP_CMP_MASKED_EQ
};

struct Rule {
  std::vector<std::string> names;
  uint32_t action;
  std::string actionName;
  std::vector<ArgCmp> args;
};

struct Program {
  uint32_t defaultAction;
  std::vector<uint32_t> arches;
  bool nativeListed;
  std::vector<Rule> rules;
};

class CtxGuard {
 public:
  explicit CtxGuard(scmp_filter_ctx c) : ctx_(c) {}
  ~CtxGuard() {
    if (ctx_ != nullptr) seccomp_release(ctx_);
  }
  CtxGuard(const CtxGuard&) = delete;
  CtxGuard& operator=(const CtxGuard&) = delete;
  scmp_filter_ctx get() const { return ctx_; }

 private:
  scmp_filter_ctx ctx_;
};

class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, "compileSeccomp: " + msg).ThrowAsJavaScriptException();
}

void ThrowError(Napi::Env env, const std::string& msg) {
  Napi::Error::New(env, "compileSeccomp: " + msg).ThrowAsJavaScriptException();
}

std::string ErrnoText(int negErrno) {
  return std::string(strerror(-negErrno)) + " (" + std::to_string(negErrno) + ")";
}

// Reads obj[key]; false if a getter threw (the exception stays pending).
bool GetProp(Napi::Env env, const Napi::Object& obj, const char* key, Napi::Value* out) {
  *out = obj.Get(key);
  return !env.IsExceptionPending();
}

bool GetString(Napi::Env env, const Napi::Object& obj, const char* key, const std::string& where,
               size_t maxLen, std::string* out) {
  Napi::Value v;
  if (!GetProp(env, obj, key, &v)) return false;
  if (!v.IsString()) {
    ThrowType(env, where + "." + key + " must be a string");
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  if (out->empty() || out->size() > maxLen || out->find('\0') != std::string::npos) {
    ThrowType(env, where + "." + key + " must be a non-empty string of at most " +
                       std::to_string(maxLen) + " bytes without NUL");
    return false;
  }
  return true;
}

bool GetUint(Napi::Env env, const Napi::Object& obj, const char* key, const std::string& where,
             uint32_t max, uint32_t* out) {
  Napi::Value v;
  if (!GetProp(env, obj, key, &v)) return false;
  if (!v.IsNumber()) {
    ThrowType(env, where + "." + key + " must be a number");
    return false;
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= static_cast<double>(max)) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    ThrowType(env, where + "." + key + " must be an integer in [0, " + std::to_string(max) + "]");
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

bool GetArray(Napi::Env env, const Napi::Object& obj, const char* key, const std::string& where,
              uint32_t maxLen, Napi::Array* out) {
  Napi::Value v;
  if (!GetProp(env, obj, key, &v)) return false;
  if (!v.IsArray()) {
    ThrowType(env, where + "." + key + " must be an array");
    return false;
  }
  *out = v.As<Napi::Array>();
  if (out->Length() > maxLen) {
    ThrowType(env, where + "." + key + " has more than " + std::to_string(maxLen) + " entries");
    return false;
  }
  return true;
}

bool GetElement(Napi::Env env, const Napi::Array& arr, uint32_t i, Napi::Value* out) {
  *out = arr.Get(i);
  return !env.IsExceptionPending();
}

// A u64 as a canonical decimal string: digits only (no sign, space or prefix), no overflow.
bool ParseU64(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  errno = 0;
  char* end = nullptr;
  unsigned long long v = strtoull(s.c_str(), &end, 10);
  if (errno != 0 || end == nullptr || *end != '\0') return false;
  *out = static_cast<uint64_t>(v);
  return true;
}

bool ParseAction(Napi::Env env, const std::string& name, uint32_t errnoValue, const std::string& where,
                 uint32_t* out) {
  if (name == "SCMP_ACT_ALLOW") {
    *out = SCMP_ACT_ALLOW;
  } else if (name == "SCMP_ACT_ERRNO") {
    if (errnoValue > kMaxErrno) {
      ThrowType(env, where + ": errno " + std::to_string(errnoValue) + " is out of range [0, " +
                         std::to_string(kMaxErrno) + "]");
      return false;
    }
    *out = SCMP_ACT_ERRNO(errnoValue);
  } else if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD") {
    *out = SCMP_ACT_KILL_THREAD;
  } else if (name == "SCMP_ACT_KILL_PROCESS") {
    *out = SCMP_ACT_KILL_PROCESS;
  } else if (name == "SCMP_ACT_TRAP") {
    *out = SCMP_ACT_TRAP;
  } else if (name == "SCMP_ACT_LOG") {
    *out = SCMP_ACT_LOG;
  } else if (name == "SCMP_ACT_TRACE") {
    *out = SCMP_ACT_TRACE(errnoValue);
  } else {
    ThrowType(env, where + ": unsupported action \"" + name + "\"");
    return false;
  }
  return true;
}

bool ParseOp(const std::string& s, scmp_compare* out) {
  static const struct {
    const char* name;
    scmp_compare op;
  } kOps[] = {
      {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  for (const auto& o : kOps) {
    if (s == o.name) {
      *out = o.op;
      return true;
    }
  }
  return false;
}

bool ParseArch(const std::string& s, uint32_t* out) {
  static const struct {
    const char* name;
    uint32_t token;
  } kArches[] = {
      {"SCMP_ARCH_NATIVE", SCMP_ARCH_NATIVE},     {"SCMP_ARCH_X86", SCMP_ARCH_X86},
      {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},     {"SCMP_ARCH_X32", SCMP_ARCH_X32},
      {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},           {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},
      {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},         {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},
      {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32}, {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
      {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64}, {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32},
      {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},           {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},
      {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},   {"SCMP_ARCH_S390", SCMP_ARCH_S390},
      {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},       {"SCMP_ARCH_PARISC", SCMP_ARCH_PARISC},
      {"SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64}, {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
  };
  for (const auto& a : kArches) {
    if (s == a.name) {
      *out = a.token;
      return true;
    }
  }
  return false;
}

bool ParseArg(Napi::Env env, const Napi::Value& v, const std::string& where, ArgCmp* out) {
  if (!v.IsObject()) {
    ThrowType(env, where + " must be an object");
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  uint32_t index = 0;
  if (!GetUint(env, o, "index", where, 5, &index)) return false;
  out->index = index;
  std::string op;
  if (!GetString(env, o, "op", where, 32, &op)) return false;
  if (!ParseOp(op, &out->op)) {
    ThrowType(env, where + ".op: unsupported operator \"" + op + "\"");
    return false;
  }
  std::string value;
  std::string valueTwo;
  if (!GetString(env, o, "value", where, 32, &value)) return false;
  if (!GetString(env, o, "valueTwo", where, 32, &valueTwo)) return false;
  if (!ParseU64(value, &out->a)) {
    ThrowType(env, where + ".value \"" + value + "\" is not a decimal u64");
    return false;
  }
  if (!ParseU64(valueTwo, &out->b)) {
    ThrowType(env, where + ".valueTwo \"" + valueTwo + "\" is not a decimal u64");
    return false;
  }
  return true;
}

bool ParseRule(Napi::Env env, const Napi::Value& v, const std::string& where, Rule* out) {
  if (!v.IsObject()) {
    ThrowType(env, where + " must be an object");
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array names;
  if (!GetArray(env, o, "names", where, kMaxNamesPerRule, &names)) return false;
  for (uint32_t i = 0; i < names.Length(); i++) {
    Napi::Value n;
    if (!GetElement(env, names, i, &n)) return false;
    std::string nw = where + ".names[" + std::to_string(i) + "]";
    if (!n.IsString()) {
      ThrowType(env, nw + " must be a string");
      return false;
    }
    std::string s = n.As<Napi::String>().Utf8Value();
    if (s.empty() || s.size() > kMaxNameLen || s.find('\0') != std::string::npos) {
      ThrowType(env, nw + " must be a non-empty syscall name of at most " + std::to_string(kMaxNameLen) +
                         " bytes");
      return false;
    }
    out->names.push_back(std::move(s));
  }
  uint32_t errnoValue = 0;
  if (!GetString(env, o, "action", where, 32, &out->actionName)) return false;
  if (!GetUint(env, o, "errno", where, 0xffff, &errnoValue)) return false;
  if (!ParseAction(env, out->actionName, errnoValue, where, &out->action)) return false;
  Napi::Array args;
  if (!GetArray(env, o, "args", where, kMaxArgsPerRule, &args)) return false;
  for (uint32_t i = 0; i < args.Length(); i++) {
    Napi::Value a;
    if (!GetElement(env, args, i, &a)) return false;
    ArgCmp cmp{};
    if (!ParseArg(env, a, where + ".args[" + std::to_string(i) + "]", &cmp)) return false;
    out->args.push_back(cmp);
  }
  return true;
}

bool ParseProgram(Napi::Env env, const Napi::Value& v, Program* out) {
  if (!v.IsObject()) {
    ThrowType(env, "program must be an object");
    return false;
  }
  Napi::Object o = v.As<Napi::Object>();
  std::string def;
  uint32_t defErrno = 0;
  if (!GetString(env, o, "defaultAction", "program", 32, &def)) return false;
  if (!GetUint(env, o, "defaultErrno", "program", 0xffff, &defErrno)) return false;
  if (!ParseAction(env, def, defErrno, "program.defaultAction", &out->defaultAction)) return false;

  Napi::Array arches;
  if (!GetArray(env, o, "architectures", "program", kMaxArches, &arches)) return false;
  const uint32_t native = seccomp_arch_native();
  out->nativeListed = false;
  for (uint32_t i = 0; i < arches.Length(); i++) {
    Napi::Value a;
    if (!GetElement(env, arches, i, &a)) return false;
    std::string aw = "program.architectures[" + std::to_string(i) + "]";
    if (!a.IsString()) {
      ThrowType(env, aw + " must be a string");
      return false;
    }
    std::string s = a.As<Napi::String>().Utf8Value();
    uint32_t token = 0;
    if (!ParseArch(s, &token)) {
      ThrowType(env, aw + ": unknown architecture \"" + s + "\"");
      return false;
    }
    if (token == SCMP_ARCH_NATIVE || token == native) {
      out->nativeListed = true;
      token = native;
    }
    out->arches.push_back(token);
  }

  Napi::Array rules;
  if (!GetArray(env, o, "rules", "program", kMaxRules, &rules)) return false;
  out->rules.reserve(rules.Length());
  for (uint32_t i = 0; i < rules.Length(); i++) {
    Napi::Value r;
    if (!GetElement(env, rules, i, &r)) return false;
    Rule rule{};
    if (!ParseRule(env, r, "program.rules[" + std::to_string(i) + "]", &rule)) return false;
    out->rules.push_back(std::move(rule));
  }
  return true;
}

// Builds the filter and exports it; on failure throws and returns false.
bool Compile(Napi::Env env, const Program& prog, std::vector<uint8_t>* bpf, std::vector<std::string>* unknown) {
  CtxGuard ctx(seccomp_init(prog.defaultAction));
  if (ctx.get() == nullptr) {
    ThrowError(env, "seccomp_init failed: default action not supported by this libseccomp or kernel");
    return false;
  }
  // ward-stage1 sets no_new_privs itself, right before loading the filter.
  int rc = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 0);
  if (rc < 0) {
    ThrowError(env, "seccomp_attr_set(SCMP_FLTATR_CTL_NNP): " + ErrnoText(rc));
    return false;
  }
  // Every listed architecture first (the native one is already in a fresh context), then drop the
  // native one if the profile does not list it: the rules below are added to every arch present.
  for (uint32_t arch : prog.arches) {
    rc = seccomp_arch_add(ctx.get(), arch);
    if (rc < 0 && rc != -EEXIST) {
      ThrowError(env, "seccomp_arch_add(" + std::to_string(arch) + "): " + ErrnoText(rc));
      return false;
    }
  }
  if (!prog.arches.empty() && !prog.nativeListed) {
    rc = seccomp_arch_remove(ctx.get(), SCMP_ARCH_NATIVE);
    if (rc < 0) {
      ThrowError(env, "seccomp_arch_remove(native): " + ErrnoText(rc));
      return false;
    }
  }

  std::vector<scmp_arg_cmp> cmps;
  for (const Rule& rule : prog.rules) {
    // libseccomp refuses a rule whose action is the default one (EACCES); it is a no-op anyway.
    if (rule.action == prog.defaultAction) continue;
    cmps.clear();
    for (const ArgCmp& a : rule.args) {
      scmp_arg_cmp c{};
      c.arg = a.index;
      c.op = a.op;
      c.datum_a = a.a;
      c.datum_b = a.b;
      cmps.push_back(c);
    }
    for (const std::string& name : rule.names) {
      int nr = seccomp_syscall_resolve_name(name.c_str());
      if (nr == __NR_SCMP_ERROR) {
        bool seen = false;
        for (const std::string& u : *unknown) seen = seen || u == name;
        if (!seen) unknown->push_back(name);
        continue;
      }
      rc = seccomp_rule_add_array(ctx.get(), rule.action, nr, static_cast<unsigned int>(cmps.size()),
                                  cmps.empty() ? nullptr : cmps.data());
      if (rc < 0) {
        ThrowError(env, "cannot add " + rule.actionName + " rule for syscall \"" + name + "\"" +
                            (cmps.empty() ? "" : " with " + std::to_string(cmps.size()) + " argument comparison(s)") +
                            ": " + ErrnoText(rc));
        return false;
      }
    }
  }

  FdGuard fd(memfd_create("ward-seccomp-bpf", MFD_CLOEXEC));
  if (fd.get() < 0) {
    ThrowError(env, std::string("memfd_create: ") + strerror(errno));
    return false;
  }
  rc = seccomp_export_bpf(ctx.get(), fd.get());
  if (rc < 0) {
    ThrowError(env, "seccomp_export_bpf: " + ErrnoText(rc));
    return false;
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    ThrowError(env, std::string("fstat(memfd): ") + strerror(errno));
    return false;
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size == 0 || size % kSockFilterSize != 0) {
    ThrowError(env, "seccomp_export_bpf wrote " + std::to_string(size) + " bytes, not a whole filter");
    return false;
  }
  if (size / kSockFilterSize > kBpfMaxInsns) {
    ThrowError(env, "filter has " + std::to_string(size / kSockFilterSize) +
                        " instructions, more than the kernel accepts (" + std::to_string(kBpfMaxInsns) + ")");
    return false;
  }
  bpf->resize(size);
  size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd.get(), bpf->data() + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ThrowError(env, std::string("reading the exported filter: ") + (n < 0 ? strerror(errno) : "short read"));
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

Napi::Value CompileSeccomp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1) {
    ThrowType(env, "expects exactly one argument (the program)");
    return env.Undefined();
  }
  Program prog{};
  if (!ParseProgram(env, info[0], &prog)) return env.Undefined();
  std::vector<uint8_t> bpf;
  std::vector<std::string> unknown;
  if (!Compile(env, prog, &bpf, &unknown)) return env.Undefined();

  Napi::Object result = Napi::Object::New(env);
  result.Set("bpf", Napi::Buffer<uint8_t>::Copy(env, bpf.data(), bpf.size()));
  Napi::Array names = Napi::Array::New(env, unknown.size());
  for (size_t i = 0; i < unknown.size(); i++) names.Set(static_cast<uint32_t>(i), Napi::String::New(env, unknown[i]));
  result.Set("unknown", names);
  return result;
}

}  // namespace

void InitSeccomp(Napi::Env env, Napi::Object exports) {
  exports.Set("compileSeccomp", Napi::Function::New(env, CompileSeccomp, "compileSeccomp"));
}

}  // namespace ward
