// TPM 2.0 operations for ward (see tpm_ops.h). Password sessions with empty auth values only:
// ward's NV index and keys are usable by whoever can reach the TPM, which is the point of a
// measurement target (any process may extend a PCR too); what makes them trustworthy is that the
// TPM alone can produce a signed quote of their values.
#include "tpm_ops.h"

#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <cstdio>
#include <cstring>

namespace ward {
namespace tpm {
namespace {

constexpr uint8_t kPcrSelectBytes = 3;  // PCR_SELECT_MIN: PCRs 0..23
constexpr uint16_t kNvDataSize = 32;    // a sha256 digest

struct EsysDeleter {
  void operator()(void* p) const { Esys_Free(p); }
};
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysDeleter>;

std::string Hex32(uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", v);
  return text;
}

// Digest size of a TPM hash algorithm, 0 if ward does not know it.
uint16_t DigestSize(uint16_t alg) {
  switch (alg) {
    case TPM2_ALG_SHA1:
      return 20;
    case TPM2_ALG_SHA256:
    case TPM2_ALG_SM3_256:
    case TPM2_ALG_SHA3_256:
      return 32;
    case TPM2_ALG_SHA384:
    case TPM2_ALG_SHA3_384:
      return 48;
    case TPM2_ALG_SHA512:
    case TPM2_ALG_SHA3_512:
      return 64;
    default:
      return 0;
  }
}

void SelectPcr(TPMS_PCR_SELECTION* sel, uint16_t alg, uint32_t pcr) {
  sel->hash = alg;
  sel->sizeofSelect = kPcrSelectBytes;
  std::memset(sel->pcrSelect, 0, sizeof sel->pcrSelect);
  sel->pcrSelect[pcr / 8] = static_cast<uint8_t>(1u << (pcr % 8));
}

bool PcrSelected(const TPMS_PCR_SELECTION& sel, uint32_t pcr) {
  return pcr / 8 < sel.sizeofSelect && pcr / 8 < sizeof sel.pcrSelect && (sel.pcrSelect[pcr / 8] & (1u << (pcr % 8))) != 0;
}

// The public area of ward's extend index: sha256, extend type, written and read with the
// index's own (empty) auth, readable by the owner too (tpm2_nvread -C o), no dictionary-attack
// lockout. ORDERLY keeps its value in TPM RAM (an extend costs no NV write) and CLEAR_STCLEAR
// resets it at every TPM reset, so it behaves like a PCR: a value that survived a reboot could
// not be told apart from one replayed after it.
TPMA_NV ExtendIndexAttributes() {
  return static_cast<TPMA_NV>((TPM2_NT_EXTEND << TPMA_NV_TPM2_NT_SHIFT) | TPMA_NV_AUTHWRITE | TPMA_NV_AUTHREAD |
                              TPMA_NV_OWNERREAD | TPMA_NV_NO_DA | TPMA_NV_ORDERLY | TPMA_NV_CLEAR_STCLEAR);
}

template <typename T>
Status Marshal(const char* what, TSS2_RC (*fn)(const T*, uint8_t[], size_t, size_t*), const T& src, Bytes* out) {
  out->assign(sizeof(T) + 16, 0);  // a marshaled structure is never larger than its C form
  size_t offset = 0;
  TSS2_RC rc = fn(&src, out->data(), out->size(), &offset);
  if (rc != TSS2_RC_SUCCESS) return Status::Tss(std::string("marshaling ") + what, rc);
  out->resize(offset);
  return Status::Ok();
}

template <typename T>
Status Unmarshal(const char* what, TSS2_RC (*fn)(const uint8_t[], size_t, size_t*, T*), const Bytes& in, T* dst) {
  size_t offset = 0;
  TSS2_RC rc = fn(in.data(), in.size(), &offset, dst);
  if (rc != TSS2_RC_SUCCESS) return Status::Tss(std::string("unmarshaling ") + what, rc);
  if (offset != in.size()) return Status::Fail(std::string("unmarshaling ") + what + ": " + std::to_string(in.size() - offset) + " trailing bytes");
  return Status::Ok();
}

}  // namespace

Status Status::Tss(const std::string& what, TSS2_RC rc) {
  const char* text = Tss2_RC_Decode(rc);
  return Fail(what + ": " + (text != nullptr ? text : "unknown error") + " (" + Hex32(rc) + ")");
}

Session::~Session() {
  if (esys_ != nullptr) {
    for (auto& kv : nv_) {
      ESYS_TR h = kv.second;
      Esys_TR_Close(esys_, &h);  // frees ESYS metadata only; nothing to report at teardown
    }
    Esys_Finalize(&esys_);
  }
  if (tcti_ != nullptr) Tss2_TctiLdr_Finalize(&tcti_);
}

Status Session::Open(const std::string& conf, std::unique_ptr<Session>* out) {
  std::unique_ptr<Session> s(new Session());
  TSS2_RC rc = Tss2_TctiLdr_Initialize(conf.c_str(), &s->tcti_);
  if (rc != TSS2_RC_SUCCESS) {
    s->tcti_ = nullptr;
    return Status::Tss("cannot reach the TPM through TCTI \"" + conf + "\"", rc);
  }
  rc = Esys_Initialize(&s->esys_, s->tcti_, nullptr);
  if (rc != TSS2_RC_SUCCESS) {
    s->esys_ = nullptr;
    return Status::Tss("Esys_Initialize", rc);
  }
  // Firmware (or swtpm's startup-clear flag) normally started the TPM already: INITIALIZE says so.
  rc = Esys_Startup(s->esys_, TPM2_SU_CLEAR);
  if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) return Status::Tss("TPM2_Startup", rc);
  *out = std::move(s);
  return Status::Ok();
}

Status Session::Banks(std::vector<Bank>* out) {
  TPMI_YES_NO more = 0;
  TPMS_CAPABILITY_DATA* raw = nullptr;
  TSS2_RC rc = Esys_GetCapability(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_PCRS, 0, 1, &more, &raw);
  EsysPtr<TPMS_CAPABILITY_DATA> cap(raw);
  if (rc != TSS2_RC_SUCCESS) return Status::Tss("TPM2_GetCapability(PCRS)", rc);
  const TPML_PCR_SELECTION& all = cap->data.assignedPCR;
  for (uint32_t i = 0; i < all.count && i < TPM2_NUM_PCR_BANKS; i++) {
    const TPMS_PCR_SELECTION& sel = all.pcrSelections[i];
    bool active = false;
    for (uint8_t b = 0; b < sel.sizeofSelect && b < sizeof sel.pcrSelect; b++) active = active || sel.pcrSelect[b] != 0;
    if (active) out->push_back(Bank{sel.hash, DigestSize(sel.hash)});
  }
  return Status::Ok();
}

Status Session::PcrRead(uint32_t pcr, const std::vector<Bank>& banks, std::vector<BankDigest>* out) {
  if (banks.size() > TPM2_NUM_PCR_BANKS) return Status::Fail("more PCR banks than a selection holds");
  std::vector<uint16_t> remaining;
  for (const Bank& b : banks) remaining.push_back(b.alg);
  // The TPM returns at most 8 digests per call: ask again for what it left out.
  while (!remaining.empty()) {
    TPML_PCR_SELECTION sel{};
    sel.count = static_cast<uint32_t>(remaining.size());
    for (size_t i = 0; i < remaining.size(); i++) SelectPcr(&sel.pcrSelections[i], remaining[i], pcr);
    UINT32 counter = 0;
    TPML_PCR_SELECTION* selOutRaw = nullptr;
    TPML_DIGEST* valuesRaw = nullptr;
    TSS2_RC rc = Esys_PCR_Read(esys_, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &sel, &counter, &selOutRaw, &valuesRaw);
    EsysPtr<TPML_PCR_SELECTION> selOut(selOutRaw);
    EsysPtr<TPML_DIGEST> values(valuesRaw);
    if (rc != TSS2_RC_SUCCESS) return Status::Tss("TPM2_PCR_Read(" + std::to_string(pcr) + ")", rc);
    uint32_t k = 0;
    bool progress = false;
    for (uint32_t j = 0; j < selOut->count && j < TPM2_NUM_PCR_BANKS; j++) {
      const TPMS_PCR_SELECTION& s = selOut->pcrSelections[j];
      if (!PcrSelected(s, pcr)) continue;
      if (k >= values->count || k >= sizeof values->digests / sizeof values->digests[0]) {
        return Status::Fail("TPM2_PCR_Read returned fewer digests than its selection says");
      }
      const TPM2B_DIGEST& d = values->digests[k++];
      if (d.size > sizeof d.buffer) return Status::Fail("TPM2_PCR_Read returned an oversized digest");
      out->push_back(BankDigest{s.hash, Bytes(d.buffer, d.buffer + d.size)});
      for (size_t r = 0; r < remaining.size(); r++) {
        if (remaining[r] == s.hash) {
          remaining.erase(remaining.begin() + static_cast<std::ptrdiff_t>(r));
          progress = true;
          break;
        }
      }
    }
    if (!progress) return Status::Fail("TPM2_PCR_Read returned no value for PCR " + std::to_string(pcr) + " in an active bank");
  }
  return Status::Ok();
}

Status Session::PcrExtend(uint32_t pcr, const std::vector<BankDigest>& digests) {
  if (digests.empty() || digests.size() > TPM2_NUM_PCR_BANKS) return Status::Fail("PCR extend needs 1.." + std::to_string(TPM2_NUM_PCR_BANKS) + " digests");
  TPML_DIGEST_VALUES values{};
  values.count = static_cast<uint32_t>(digests.size());
  for (size_t i = 0; i < digests.size(); i++) {
    const BankDigest& d = digests[i];
    uint16_t size = DigestSize(d.alg);
    if (size == 0 || d.digest.size() != size || size > sizeof(TPMU_HA)) {
      return Status::Fail("PCR extend: digest for algorithm " + Hex32(d.alg) + " has " + std::to_string(d.digest.size()) + " bytes, not the algorithm's size");
    }
    values.digests[i].hashAlg = d.alg;
    std::memcpy(&values.digests[i].digest, d.digest.data(), size);
  }
  TSS2_RC rc = Esys_PCR_Extend(esys_, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &values);
  if (rc != TSS2_RC_SUCCESS) return Status::Tss("TPM2_PCR_Extend(" + std::to_string(pcr) + ")", rc);
  return Status::Ok();
}

Status Session::NvHandle(uint32_t index, ESYS_TR* out) {
  auto it = nv_.find(index);
  if (it != nv_.end()) {
    *out = it->second;
    return Status::Ok();
  }
  ESYS_TR h = ESYS_TR_NONE;
  TSS2_RC rc = Esys_TR_FromTPMPublic(esys_, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &h);
  if (rc != TSS2_RC_SUCCESS) return Status::Tss("NV index " + Hex32(index) + " is not usable", rc);
  nv_[index] = h;
  *out = h;
  return Status::Ok();
}

Status Session::NvEnsureExtend(uint32_t index, bool* created, uint32_t* attributes) {
  ESYS_TR h = ESYS_TR_NONE;
  TSS2_RC found = Esys_TR_FromTPMPublic(esys_, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &h);
  if (found == TSS2_RC_SUCCESS) {
    TPM2B_NV_PUBLIC* pubRaw = nullptr;
    TPM2B_NAME* nameRaw = nullptr;
    TSS2_RC rc = Esys_NV_ReadPublic(esys_, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pubRaw, &nameRaw);
    EsysPtr<TPM2B_NV_PUBLIC> pub(pubRaw);
    EsysPtr<TPM2B_NAME> name(nameRaw);
    if (rc != TSS2_RC_SUCCESS) {
      Esys_TR_Close(esys_, &h);
      return Status::Tss("TPM2_NV_ReadPublic(" + Hex32(index) + ")", rc);
    }
    const TPMS_NV_PUBLIC& p = pub->nvPublic;
    uint32_t type = (p.attributes & TPMA_NV_TPM2_NT_MASK) >> TPMA_NV_TPM2_NT_SHIFT;
    if (type != TPM2_NT_EXTEND || p.nameAlg != TPM2_ALG_SHA256 || p.dataSize != kNvDataSize ||
        (p.attributes & TPMA_NV_AUTHWRITE) == 0 || (p.attributes & TPMA_NV_AUTHREAD) == 0) {
      Esys_TR_Close(esys_, &h);
      return Status::Fail("NV index " + Hex32(index) + " exists but is not a sha256 extend index written and read with its own auth; choose another index in the helper policy or remove it (tpm2_nvundefine " + Hex32(index) + ")");
    }
    nv_[index] = h;
    *created = false;
    *attributes = p.attributes;
    return Status::Ok();
  }
  TPM2B_AUTH auth{};
  TPM2B_NV_PUBLIC pub{};
  pub.nvPublic.nvIndex = index;
  pub.nvPublic.nameAlg = TPM2_ALG_SHA256;
  pub.nvPublic.attributes = ExtendIndexAttributes();
  pub.nvPublic.dataSize = kNvDataSize;
  TSS2_RC rc = Esys_NV_DefineSpace(esys_, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &auth, &pub, &h);
  if (rc != TSS2_RC_SUCCESS) {
    const char* why = Tss2_RC_Decode(found);
    return Status::Tss("NV index " + Hex32(index) + " is absent (" + (why != nullptr ? why : "?") + ") and TPM2_NV_DefineSpace failed", rc);
  }
  nv_[index] = h;
  *created = true;
  *attributes = pub.nvPublic.attributes;
  return Status::Ok();
}

Status Session::NvRead(uint32_t index, bool* written, Bytes* out) {
  ESYS_TR h = ESYS_TR_NONE;
  Status s = NvHandle(index, &h);
  if (!s.ok) return s;
  TPM2B_NV_PUBLIC* pubRaw = nullptr;
  TPM2B_NAME* nameRaw = nullptr;
  TSS2_RC rc = Esys_NV_ReadPublic(esys_, h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pubRaw, &nameRaw);
  EsysPtr<TPM2B_NV_PUBLIC> pub(pubRaw);
  EsysPtr<TPM2B_NAME> name(nameRaw);
  if (rc != TSS2_RC_SUCCESS) return Status::Tss("TPM2_NV_ReadPublic(" + Hex32(index) + ")", rc);
  uint16_t size = pub->nvPublic.dataSize;
  if (size == 0 || size > sizeof(TPMU_HA)) return Status::Fail("NV index " + Hex32(index) + " has " + std::to_string(size) + " bytes, not a digest");
  TPM2B_MAX_NV_BUFFER* dataRaw = nullptr;
  rc = Esys_NV_Read(esys_, h, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, size, 0, &dataRaw);
  EsysPtr<TPM2B_MAX_NV_BUFFER> data(dataRaw);
  if (rc == TPM2_RC_NV_UNINITIALIZED) {
    *written = false;
    out->clear();
    return Status::Ok();
  }
  if (rc != TSS2_RC_SUCCESS) return Status::Tss("TPM2_NV_Read(" + Hex32(index) + ")", rc);
  if (data->size > sizeof data->buffer) return Status::Fail("TPM2_NV_Read returned an oversized buffer");
  *written = true;
  out->assign(data->buffer, data->buffer + data->size);
  return Status::Ok();
}

Status Session::NvExtend(uint32_t index, const Bytes& data) {
  if (data.empty() || data.size() > kMaxExtendData) return Status::Fail("NV extend takes 1.." + std::to_string(kMaxExtendData) + " bytes");
  ESYS_TR h = ESYS_TR_NONE;
  Status s = NvHandle(index, &h);
  if (!s.ok) return s;
  TPM2B_MAX_NV_BUFFER buf{};
  buf.size = static_cast<uint16_t>(data.size());
  std::memcpy(buf.buffer, data.data(), data.size());
  TSS2_RC rc = Esys_NV_Extend(esys_, h, h, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &buf);
  if (rc != TSS2_RC_SUCCESS) return Status::Tss("TPM2_NV_Extend(" + Hex32(index) + ")", rc);
  return Status::Ok();
}

// The attestation key's parent: a storage primary key of the TCG template's shape (ECC P-256,
// AES-128-CFB) in the endorsement hierarchy, as tools put AKs under the EK: that hierarchy's auth
// stays empty on hosts whose owner set a password. The same template always yields the same key
// from the hierarchy's seed, so nothing about it is stored.
Status Session::CreateSrk(ESYS_TR* out) {
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_PUBLIC tmpl{};
  TPMT_PUBLIC& p = tmpl.publicArea;
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                       TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  p.parameters.eccDetail.symmetric.keyBits.aes = 128;
  p.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  p.unique.ecc.x.size = 32;
  p.unique.ecc.y.size = 32;
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creationPcr{};
  TPM2B_PUBLIC* outPub = nullptr;
  TPM2B_CREATION_DATA* creationData = nullptr;
  TPM2B_DIGEST* creationHash = nullptr;
  TPMT_TK_CREATION* ticket = nullptr;
  TSS2_RC rc = Esys_CreatePrimary(esys_, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &tmpl,
                                  &outside, &creationPcr, out, &outPub, &creationData, &creationHash, &ticket);
  Esys_Free(outPub);
  Esys_Free(creationData);
  Esys_Free(creationHash);
  Esys_Free(ticket);
  if (rc != TSS2_RC_SUCCESS) {
    *out = ESYS_TR_NONE;
    return Status::Tss("TPM2_CreatePrimary(storage key)", rc);
  }
  return Status::Ok();
}

Status Session::CreateAk(KeyBlob* out) {
  ESYS_TR srk = ESYS_TR_NONE;
  Status s = CreateSrk(&srk);
  if (!s.ok) return s;
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_PUBLIC tmpl{};
  TPMT_PUBLIC& p = tmpl.publicArea;
  p.type = TPM2_ALG_ECC;
  p.nameAlg = TPM2_ALG_SHA256;
  // restricted + sign: the TPM signs with it only structures it produced itself (quotes,
  // certifications), never a digest handed in from outside that looks like one.
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                       TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  p.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
  p.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creationPcr{};
  TPM2B_PRIVATE* privRaw = nullptr;
  TPM2B_PUBLIC* pubRaw = nullptr;
  TPM2B_CREATION_DATA* creationData = nullptr;
  TPM2B_DIGEST* creationHash = nullptr;
  TPMT_TK_CREATION* ticket = nullptr;
  TSS2_RC rc = Esys_Create(esys_, srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &tmpl, &outside, &creationPcr,
                           &privRaw, &pubRaw, &creationData, &creationHash, &ticket);
  EsysPtr<TPM2B_PRIVATE> priv(privRaw);
  EsysPtr<TPM2B_PUBLIC> pub(pubRaw);
  Esys_Free(creationData);
  Esys_Free(creationHash);
  Esys_Free(ticket);
  TSS2_RC flushed = Esys_FlushContext(esys_, srk);
  if (rc != TSS2_RC_SUCCESS) return Status::Tss("TPM2_Create(attestation key)", rc);
  if (flushed != TSS2_RC_SUCCESS) return Status::Tss("TPM2_FlushContext(storage key)", flushed);
  s = Marshal("TPM2B_PUBLIC", Tss2_MU_TPM2B_PUBLIC_Marshal, *pub, &out->pub);
  if (!s.ok) return s;
  return Marshal("TPM2B_PRIVATE", Tss2_MU_TPM2B_PRIVATE_Marshal, *priv, &out->priv);
}

Status Session::LoadAk(const KeyBlob& ak, ESYS_TR* srk, ESYS_TR* key) {
  TPM2B_PUBLIC pub{};
  TPM2B_PRIVATE priv{};
  Status s = Unmarshal("the attestation key's TPM2B_PUBLIC", Tss2_MU_TPM2B_PUBLIC_Unmarshal, ak.pub, &pub);
  if (!s.ok) return s;
  s = Unmarshal("the attestation key's TPM2B_PRIVATE", Tss2_MU_TPM2B_PRIVATE_Unmarshal, ak.priv, &priv);
  if (!s.ok) return s;
  s = CreateSrk(srk);
  if (!s.ok) return s;
  TSS2_RC rc = Esys_Load(esys_, *srk, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &priv, &pub, key);
  if (rc != TSS2_RC_SUCCESS) {
    *key = ESYS_TR_NONE;
    return Status::Tss("TPM2_Load(attestation key; the TPM was cleared or the key belongs to another TPM)", rc);
  }
  return Status::Ok();
}

// Transient objects outlive a connection on a TPM without a resource manager (swtpm): flush
// them on every path, and report a failed flush rather than leak a slot silently.
namespace {
Status FlushBoth(ESYS_CONTEXT* esys, ESYS_TR key, ESYS_TR srk, Status result) {
  for (ESYS_TR h : {key, srk}) {
    if (h == ESYS_TR_NONE) continue;
    TSS2_RC rc = Esys_FlushContext(esys, h);
    if (rc != TSS2_RC_SUCCESS && result.ok) result = Status::Tss("TPM2_FlushContext", rc);
  }
  return result;
}

Status TakeAttestation(TPM2B_ATTEST* attest, TPMT_SIGNATURE* sig, Attestation* out) {
  if (attest->size > sizeof attest->attestationData) return Status::Fail("the TPM returned an oversized attestation");
  out->attest.assign(attest->attestationData, attest->attestationData + attest->size);
  return Marshal("TPMT_SIGNATURE", Tss2_MU_TPMT_SIGNATURE_Marshal, *sig, &out->signature);
}

bool MakeNonce(const Bytes& nonce, TPM2B_DATA* out) {
  if (nonce.empty() || nonce.size() > sizeof out->buffer) return false;
  out->size = static_cast<uint16_t>(nonce.size());
  std::memcpy(out->buffer, nonce.data(), nonce.size());
  return true;
}
}  // namespace

Status Session::Quote(const KeyBlob& ak, uint32_t pcr, uint16_t bankAlg, const Bytes& nonce, Attestation* out) {
  TPM2B_DATA qualifying{};
  if (!MakeNonce(nonce, &qualifying)) return Status::Fail("the nonce must be 1.." + std::to_string(kMaxNonce) + " bytes");
  ESYS_TR srk = ESYS_TR_NONE;
  ESYS_TR key = ESYS_TR_NONE;
  Status s = LoadAk(ak, &srk, &key);
  if (!s.ok) return FlushBoth(esys_, key, srk, s);
  TPMT_SIG_SCHEME scheme{};
  scheme.scheme = TPM2_ALG_NULL;  // the key's own scheme (ECDSA-SHA256)
  TPML_PCR_SELECTION sel{};
  sel.count = 1;
  SelectPcr(&sel.pcrSelections[0], bankAlg, pcr);
  TPM2B_ATTEST* attestRaw = nullptr;
  TPMT_SIGNATURE* sigRaw = nullptr;
  TSS2_RC rc = Esys_Quote(esys_, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &qualifying, &scheme, &sel, &attestRaw, &sigRaw);
  EsysPtr<TPM2B_ATTEST> attest(attestRaw);
  EsysPtr<TPMT_SIGNATURE> sig(sigRaw);
  if (rc != TSS2_RC_SUCCESS) return FlushBoth(esys_, key, srk, Status::Tss("TPM2_Quote(PCR " + std::to_string(pcr) + ")", rc));
  return FlushBoth(esys_, key, srk, TakeAttestation(attest.get(), sig.get(), out));
}

Status Session::NvCertify(const KeyBlob& ak, uint32_t index, const Bytes& nonce, Attestation* out) {
  TPM2B_DATA qualifying{};
  if (!MakeNonce(nonce, &qualifying)) return Status::Fail("the nonce must be 1.." + std::to_string(kMaxNonce) + " bytes");
  ESYS_TR nv = ESYS_TR_NONE;
  Status s = NvHandle(index, &nv);
  if (!s.ok) return s;
  ESYS_TR srk = ESYS_TR_NONE;
  ESYS_TR key = ESYS_TR_NONE;
  s = LoadAk(ak, &srk, &key);
  if (!s.ok) return FlushBoth(esys_, key, srk, s);
  TPMT_SIG_SCHEME scheme{};
  scheme.scheme = TPM2_ALG_NULL;
  TPM2B_ATTEST* attestRaw = nullptr;
  TPMT_SIGNATURE* sigRaw = nullptr;
  TSS2_RC rc = Esys_NV_Certify(esys_, key, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_PASSWORD, ESYS_TR_NONE, &qualifying, &scheme,
                               kNvDataSize, 0, &attestRaw, &sigRaw);
  EsysPtr<TPM2B_ATTEST> attest(attestRaw);
  EsysPtr<TPMT_SIGNATURE> sig(sigRaw);
  if (rc != TSS2_RC_SUCCESS) return FlushBoth(esys_, key, srk, Status::Tss("TPM2_NV_Certify(" + Hex32(index) + ")", rc));
  s = FlushBoth(esys_, key, srk, TakeAttestation(attest.get(), sig.get(), out));
  if (!s.ok) return s;
  // The public area whose name the attestation carries: a verifier recomputes the name from it
  // and so learns the index's type (extend) and handle, which the name alone does not show.
  TPM2B_NV_PUBLIC* pubRaw = nullptr;
  TPM2B_NAME* nameRaw = nullptr;
  rc = Esys_NV_ReadPublic(esys_, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pubRaw, &nameRaw);
  EsysPtr<TPM2B_NV_PUBLIC> pub(pubRaw);
  EsysPtr<TPM2B_NAME> name(nameRaw);
  if (rc != TSS2_RC_SUCCESS) return Status::Tss("TPM2_NV_ReadPublic(" + Hex32(index) + ")", rc);
  return Marshal("TPMS_NV_PUBLIC", Tss2_MU_TPMS_NV_PUBLIC_Marshal, pub->nvPublic, &out->nvPublic);
}

}  // namespace tpm
}  // namespace ward
