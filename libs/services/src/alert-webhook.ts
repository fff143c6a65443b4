import { Logger } from '@app/common';

/**
 * Posts a JSON summary of drifted reconciliation runs to ALERT_WEBHOOK_URL, retrying with
 * backoff in the background: an alert never blocks or fails a run.
 */
export class AlertWebhook {
  constructor(private readonly url: string | undefined, private readonly logger: Logger, private readonly attempts = 5) {}

  send(payload: unknown): void {
    if (!this.url) return;
    void this.deliver(JSON.stringify(payload));
  }

  private async deliver(body: string): Promise<void> {
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      try {
        const res = await fetch(this.url!, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(5_000) });
        if (res.ok) return;
        this.logger.warn({ status: res.status, attempt }, 'alert webhook refused the alert');
      } catch (err) {
        this.logger.warn({ err: (err as Error).message, attempt }, 'alert webhook unreachable');
      }
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
    this.logger.error('alert webhook: giving up after retries');
  }
}
