import { KeyObject } from 'node:crypto';
import { Cursors, DomainError, fetchSize, Page, pageOf } from '@app/common';
import { Database } from './database';
import { digestSignatureValid, JournalDigest, publicKeyOf, signDigest } from './journal-digest';
import { LedgerQueries, VerifyResult } from './ledger.queries';

interface DigestRow { id: string; sequence: string; hash: string; taken_at: Date; key_id: string; public_key: string; signature: string; trigger: string; actor: string }

export interface StoredDigest extends JournalDigest { id: string; trigger: string; actor: string }

function toDigest(r: DigestRow): StoredDigest {
  return {
    version: 1, sequence: r.sequence, hash: r.hash, at: r.taken_at.toISOString(), keyId: r.key_id, publicKey: r.public_key, signature: r.signature,
    id: r.id, trigger: r.trigger, actor: r.actor,
  };
}

export interface DigestVerification extends VerifyResult {
  digest: { sequence: string; hash: string; keyId: string; signature: 'valid' | 'invalid'; signer: 'this instance' | 'another key' | 'unchecked'; chainMatches: boolean | null };
  problem: string | null;
}

/**
 * Signed digests of the journal chain head (the table is append-only: a trigger refuses
 * UPDATE and DELETE). Without a signing key the instance takes none, and still verifies a
 * digest an auditor brings against its own public key.
 */
export class JournalDigests {
  private readonly signer?: { key: KeyObject; publicKey: string; keyId: string };

  constructor(private readonly db: Database, private readonly queries: LedgerQueries, key?: KeyObject) {
    if (key) this.signer = { key, ...publicKeyOf(key) };
  }

  get enabled(): boolean { return !!this.signer; }
  get publicKey(): { publicKey: string; keyId: string } | null {
    return this.signer ? { publicKey: this.signer.publicKey, keyId: this.signer.keyId } : null;
  }

  /** Signs the current head and stores it; the head already digested with this key gives back that digest. */
  async take(trigger: 'schedule' | 'request', actor: string, now: Date = new Date()): Promise<StoredDigest> {
    if (!this.signer) throw new DomainError('signing_key_not_configured', 'journal digests are disabled: set JOURNAL_SIGNING_KEY (an Ed25519 private key) to enable them');
    const [head] = await this.db.query<{ sequence: string; hash: string }>('SELECT sequence::text, hash FROM journal_head WHERE id = 1');
    const d = signDigest(this.signer.key, head, now);
    const [inserted] = await this.db.query<DigestRow>(
      `INSERT INTO journal_digests (sequence, hash, taken_at, key_id, public_key, signature, trigger, actor)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (key_id, sequence) DO NOTHING
       RETURNING id::text, sequence::text, hash, taken_at, key_id, public_key, signature, trigger, actor`,
      [d.sequence, d.hash, d.at, d.keyId, d.publicKey, d.signature, trigger, actor],
    );
    if (inserted) return toDigest(inserted);
    const [existing] = await this.db.query<DigestRow>(
      `SELECT id::text, sequence::text, hash, taken_at, key_id, public_key, signature, trigger, actor FROM journal_digests WHERE key_id = $1 AND sequence = $2`,
      [d.keyId, d.sequence],
    );
    return toDigest(existing);
  }

  /** Newest first. */
  async list(q: { limit: number; cursor?: string }): Promise<Page<StoredDigest>> {
    const before = q.cursor === undefined ? null : Cursors.sequence.decode(q.cursor);
    const rows = await this.db.query<DigestRow>(
      `SELECT id::text, sequence::text, hash, taken_at, key_id, public_key, signature, trigger, actor FROM journal_digests
        WHERE ($1::bigint IS NULL OR id < $1) ORDER BY id DESC LIMIT $2`,
      [before, fetchSize(q.limit)],
    );
    return pageOf(rows, q.limit, (last) => Cursors.sequence.encode(last.id), toDigest);
  }

  /**
   * Checks a digest an auditor kept: its signature (by this instance's key when it has one),
   * then the whole chain, which must still have the digest's hash at the digest's sequence.
   */
  async verify(d: JournalDigest): Promise<DigestVerification> {
    const signatureOk = digestSignatureValid(d, this.signer?.publicKey ?? d.publicKey);
    const signer = !this.signer ? 'unchecked' : digestSignatureValid(d, this.signer.publicKey) ? 'this instance' : 'another key';
    const summary = { sequence: d.sequence, hash: d.hash, keyId: d.keyId, signature: signatureOk ? 'valid' as const : 'invalid' as const, signer: signer as DigestVerification['digest']['signer'] };
    if (!signatureOk) {
      return {
        ok: false, checked: 0, brokenAt: null, digest: { ...summary, chainMatches: null },
        problem: this.signer ? `the digest's signature does not verify with this instance's key (${this.signer.keyId}): forged or altered` : 'the digest\'s signature does not verify with its public key: forged or altered',
      };
    }
    const r = await this.queries.verifyJournal(5000, { sequence: d.sequence, hash: d.hash });
    const chainMatches = r.anchor?.matches ?? null;
    const problem = r.ok ? null
      : chainMatches === false ? `the journal no longer has the digest's hash at sequence ${d.sequence}: rewritten since the digest was taken (at or before sequence ${r.brokenAt})`
        : `the journal's hash chain is broken at sequence ${r.brokenAt}`;
    return { ...r, digest: { ...summary, chainMatches }, problem };
  }
}
