/**
 * Group commit: requests that arrive while a write for the same key is in flight wait, and
 * are then written together by one call of `write` (one database transaction, one lock of
 * the hot rows, one COMMIT) instead of queueing one by one for the same locks. There is no
 * timer: a lone request is written at once; under load, batches form by themselves from
 * what arrived during the previous write. At most one write per key is in flight.
 *
 * Lookups batch the same way (the worker's checks before its calls): `write` is then one
 * read for every item that waited.
 *
 * `write` answers each item in order, with a result or the Error for that item alone; if it
 * throws, every item of that group gets the error.
 */
export class GroupCommit<In, Out> {
  private readonly waiting = new Map<string, Array<{ item: In; resolve: (o: Out) => void; reject: (e: unknown) => void }>>();
  private readonly writing = new Set<string>();

  constructor(
    private readonly write: (key: string, items: In[]) => Promise<Array<Out | Error>>,
    private readonly maxGroup = 200,
  ) {}

  submit(key: string, item: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      const queue = this.waiting.get(key) ?? [];
      queue.push({ item, resolve, reject });
      this.waiting.set(key, queue);
      if (!this.writing.has(key)) void this.drain(key);
    });
  }

  private async drain(key: string): Promise<void> {
    this.writing.add(key);
    try {
      for (;;) {
        const queue = this.waiting.get(key);
        if (!queue?.length) break;
        const group = queue.splice(0, this.maxGroup);
        try {
          const results = await this.write(key, group.map((g) => g.item));
          group.forEach((g, i) => {
            const r = results[i];
            if (r instanceof Error) g.reject(r);
            else g.resolve(r);
          });
        } catch (err) {
          for (const g of group) g.reject(err);
        }
      }
    } finally {
      this.waiting.delete(key);
      this.writing.delete(key);
    }
  }
}
