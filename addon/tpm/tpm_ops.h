// TPM 2.0 operations on one ESYS context (tpm2-tss), free of N-API so they can run on a worker
// thread. tpm.cc wraps them for JavaScript. Every failure carries a text naming the TPM command
// and the return code decoded by Tss2_RC_Decode.
#pragma once
#include <tss2/tss2_esys.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ward {
namespace tpm {

using Bytes = std::vector<uint8_t>;

struct Status {
  bool ok = true;
  std::string error;

  static Status Ok() { return Status{}; }
  static Status Fail(const std::string& message) { return Status{false, message}; }
  /** "<what>: <Tss2_RC_Decode(rc)> (0x<rc>)" */
  static Status Tss(const std::string& what, TSS2_RC rc);
};

/** One active PCR bank: the TPM algorithm id and its digest size. */
struct Bank {
  uint16_t alg;
  uint16_t size;
};

/** A digest in one bank, as PCR_Read returns and PCR_Extend takes. */
struct BankDigest {
  uint16_t alg;
  Bytes digest;
};

/** Outputs of a quote or an NV certification: the TPMS_ATTEST bytes the TPM signed, and the signature. */
struct Attestation {
  Bytes attest;     // TPM2B_ATTEST.attestationData: a marshaled TPMS_ATTEST
  Bytes signature;  // a marshaled TPMT_SIGNATURE
  Bytes nvPublic;   // NV certification only: the marshaled TPMS_NV_PUBLIC whose name the attestation carries
};

/** The attestation key as stored outside the TPM: its public area and its private part wrapped by the SRK. */
struct KeyBlob {
  Bytes pub;   // marshaled TPM2B_PUBLIC
  Bytes priv;  // marshaled TPM2B_PRIVATE
};

// NV_Extend takes at most this many bytes of data per call; ward extends one digest.
constexpr size_t kMaxExtendData = 64;
// TPM2B_DATA (the qualifying data of a quote) holds at most a TPMU_HA.
constexpr size_t kMaxNonce = sizeof(TPMU_HA);

class Session {
 public:
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /** Loads the TCTI named by conf (e.g. "swtpm:host=127.0.0.1,port=2321", "device:/dev/tpmrm0"), starts ESYS, sends Startup(CLEAR). */
  static Status Open(const std::string& conf, std::unique_ptr<Session>* out);

  /** Active PCR banks (those with at least one PCR allocated). */
  Status Banks(std::vector<Bank>* out);
  /** One PCR in each of the given banks. */
  Status PcrRead(uint32_t pcr, const std::vector<Bank>& banks, std::vector<BankDigest>* out);
  /** Extends one PCR in every bank given, in one command. */
  Status PcrExtend(uint32_t pcr, const std::vector<BankDigest>& digests);

  /**
   * Makes sure an NV index of type extend with a sha256 name algorithm exists at index, defining
   * it if absent; *attributes are the index's TPMA_NV (TPMA_NV_CLEAR_STCLEAR: reset at boot).
   */
  Status NvEnsureExtend(uint32_t index, bool* created, uint32_t* attributes);
  /** The index's value; *written is false (and out empty) while it was never extended. */
  Status NvRead(uint32_t index, bool* written, Bytes* out);
  Status NvExtend(uint32_t index, const Bytes& data);

  /** Creates a restricted ECC P-256 signing key (ECDSA-SHA256) under the ECC storage primary key. */
  Status CreateAk(KeyBlob* out);
  /** Quote of one PCR of one bank, signed by the attestation key, with nonce as qualifying data. */
  Status Quote(const KeyBlob& ak, uint32_t pcr, uint16_t bankAlg, const Bytes& nonce, Attestation* out);
  /** NV_Certify of the whole extend index, signed by the attestation key, with nonce as qualifying data. */
  Status NvCertify(const KeyBlob& ak, uint32_t index, const Bytes& nonce, Attestation* out);

 private:
  Session() = default;
  Status NvHandle(uint32_t index, ESYS_TR* out);
  Status CreateSrk(ESYS_TR* out);
  Status LoadAk(const KeyBlob& ak, ESYS_TR* srk, ESYS_TR* key);
  void Flush(ESYS_TR* handle);

  TSS2_TCTI_CONTEXT* tcti_ = nullptr;
  ESYS_CONTEXT* esys_ = nullptr;
  std::map<uint32_t, ESYS_TR> nv_;  // NV index -> ESYS handle, resolved once
};

}  // namespace tpm
}  // namespace ward
