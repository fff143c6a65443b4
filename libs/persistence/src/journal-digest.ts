import { createHash, createPublicKey, KeyObject, sign, verify } from 'node:crypto';

/**
 * A signed digest of the journal's chain head: "at `at`, entry `sequence` of the chain had
 * hash `hash`", signed with the instance's Ed25519 key. An auditor keeps digests outside the
 * database; whoever can rewrite the database (and re-chain every hash after an edited row)
 * cannot make the chain agree with a digest taken before the edit, nor sign a new one.
 */
export interface JournalDigest {
  version: 1;
  sequence: string;
  hash: string;
  at: string;
  keyId: string;
  /** The signer's public key, SPKI PEM. */
  publicKey: string;
  /** Ed25519 signature of `digestSigningText`, base64. */
  signature: string;
}

/** The exact bytes that are signed: version, sequence, hash and time, in a fixed form. */
export function digestSigningText(d: Pick<JournalDigest, 'version' | 'sequence' | 'hash' | 'at'>): string {
  return `credit-ledger journal digest v${d.version}\nsequence ${d.sequence}\nhash ${d.hash}\nat ${d.at}\n`;
}

/** The signing key's public half, and its id: the first 16 hex digits of the SHA-256 of its DER form. */
export function publicKeyOf(key: KeyObject): { publicKey: string; keyId: string } {
  const pub = createPublicKey(key);
  const der = pub.export({ type: 'spki', format: 'der' });
  return { publicKey: String(pub.export({ type: 'spki', format: 'pem' })), keyId: createHash('sha256').update(der).digest('hex').slice(0, 16) };
}

export function signDigest(key: KeyObject, head: { sequence: string; hash: string }, at: Date): JournalDigest {
  const { publicKey, keyId } = publicKeyOf(key);
  const body = { version: 1 as const, sequence: head.sequence, hash: head.hash, at: at.toISOString() };
  const signature = sign(null, Buffer.from(digestSigningText(body), 'utf8'), key).toString('base64');
  return { ...body, keyId, publicKey, signature };
}

/**
 * Whether the signature is the one `publicKey` (PEM) makes over the digest's fields. Never
 * throws: an unreadable key or signature is simply not valid.
 */
export function digestSignatureValid(d: JournalDigest, publicKey: string = d.publicKey): boolean {
  try {
    const key = createPublicKey({ key: publicKey, format: 'pem' });
    if (key.asymmetricKeyType !== 'ed25519') return false;
    return verify(null, Buffer.from(digestSigningText(d), 'utf8'), key, Buffer.from(d.signature, 'base64'));
  } catch {
    return false;
  }
}
