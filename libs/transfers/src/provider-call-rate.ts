import IORedis from 'ioredis';

/** Leave to make one provider call in the current one-second window. */
export interface CallPermit {
  /** No call was made with it (the claim found nothing to do): the window gets it back. */
  giveBack(): Promise<void>;
}

/** The provider's rate limit, counted in calls (not in queue jobs). */
export interface CallRate {
  /** Waits until the window has room, then takes one call from it. */
  take(): Promise<CallPermit>;
}

// One hash per provider account: the current window (Redis's own clock, in seconds, so that
// workers on several hosts share it) and the permits taken in it. A refused take changes
// nothing; a permit given back in its own window is counted off again.
const TAKE = `
local now = redis.call('TIME')
local w = tonumber(now[1])
local limit = tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'w') or '-1')
local n = 0
if cur == w then n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0') end
if n >= limit then return {w, 1000 - math.floor(tonumber(now[2]) / 1000)} end
redis.call('HSET', KEYS[1], 'w', w, 'n', n + 1)
redis.call('PEXPIRE', KEYS[1], 5000)
return {w, 0}
`;
const GIVE_BACK = `
if tonumber(redis.call('HGET', KEYS[1], 'w') or '-1') == tonumber(ARGV[1]) and tonumber(redis.call('HGET', KEYS[1], 'n') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'n', -1)
end
return 0
`;

type RateCommands = IORedis & {
  providerCallTake(key: string, limit: number): Promise<[number, number]>;
  providerCallGiveBack(key: string, window: number): Promise<number>;
};

/**
 * PROVIDER_RATE_LIMIT_PER_SECOND, counted in provider calls, shared by every worker of a
 * provider account through Redis (one round trip per call). BullMQ's own limiter counts
 * every job, including relay duplicates and jobs that only find their transfer not pending
 * or blocked, so those took call slots of the second; here such a job gives its permit back.
 * A fixed one-second window, as BullMQ's: a call is counted in the window its permit was
 * taken in, so a call started late in a window may land in the next one.
 */
export class RedisCallRate implements CallRate {
  private readonly redis: RateCommands;

  constructor(redis: IORedis, private readonly key: string, private readonly perSecond: number) {
    if (!('providerCallTake' in redis)) {
      redis.defineCommand('providerCallTake', { numberOfKeys: 1, lua: TAKE });
      redis.defineCommand('providerCallGiveBack', { numberOfKeys: 1, lua: GIVE_BACK });
    }
    this.redis = redis as RateCommands;
  }

  async take(): Promise<CallPermit & { window: number }> {
    for (let failures = 0; ;) {
      let answer: [number, number];
      try {
        answer = await this.redis.providerCallTake(this.key, this.perSecond);
      } catch (err) {
        // Redis not (yet) reachable: nothing is claimed, so waiting a little, then failing
        // the job, is safe (the relay enqueues it again).
        if (++failures >= 10) throw err;
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const [window, waitMs] = answer;
      if (waitMs === 0) {
        let given = false;
        return {
          window,
          giveBack: async () => {
            if (given) return; // once per permit
            given = true;
            // Not given back (Redis unreachable): the window is merely under-used.
            await this.redis.providerCallGiveBack(this.key, window).catch(() => undefined);
          },
        };
      }
      // Into the next window, spread a little so the waiters do not all arrive at once.
      await new Promise((r) => setTimeout(r, waitMs + Math.random() * 20));
    }
  }
}
