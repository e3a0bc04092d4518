// SHA-256 (FIPS 180-4), small and dependency-free, for digests the addon computes while it copies.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ward {

struct Sha256 {
  Sha256() { reset(); }

  /** Starts over as if freshly constructed. */
  void reset();
  /** Feeds len bytes; may be called any number of times, with any split of the input. */
  void update(const void* data, size_t len);
  /** The digest of everything fed so far. Does not change the state: update() may continue after it. */
  std::array<uint8_t, 32> digest() const;
  /** digest() as 64 lowercase hex characters. */
  std::string hexdigest() const;

 private:
  void compress(const uint8_t block[64]);

  uint32_t h_[8];
  uint8_t buf_[64];
  size_t bufLen_;
  uint64_t totalLen_;  // bytes; the message length limit (2^64 bits) is far beyond anything ward hashes
};

}  // namespace ward
