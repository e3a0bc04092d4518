// A tar header's checksum as both readers of tar in the frontend compute it (src/image/tar-reader.ts
// for layers, src/image/oci/tar-index.ts for archives): the sum of the 512 header bytes with the
// checksum field read as spaces, unsigned as POSIX says and signed as some old tars wrote it.
export function headerSums(h: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return { unsigned, signed };
}
