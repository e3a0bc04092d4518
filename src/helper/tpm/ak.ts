// The attestation key: created once under the TPM's storage primary key, kept as its public
// area and TPM-wrapped private part in STATE/tpm (useless off this TPM), loaded for each quote.
// A verifier pins its public part; a new key (after the TPM was cleared) must be trusted anew.
import fs from 'node:fs';
import path from 'node:path';
import type { TpmClient, TpmKeyBlob } from '../../native/tpm';

export async function loadOrCreateAk(tpm: TpmClient, dir: string): Promise<TpmKeyBlob> {
  const pubFile = path.join(dir, 'ak.pub');
  const privFile = path.join(dir, 'ak.priv');
  if (fs.existsSync(pubFile) && fs.existsSync(privFile)) {
    return { public: fs.readFileSync(pubFile), private: fs.readFileSync(privFile) };
  }
  const ak = await tpm.createAk();
  // Private part first, public last: the public file's presence says the pair is complete.
  writeAtomic(privFile, ak.private);
  writeAtomic(pubFile, ak.public);
  return ak;
}

function writeAtomic(file: string, data: Buffer): void {
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, 0o600);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}
