import IORedis from 'ioredis';
import { GroupCommit } from '@app/common';

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
// workers on several hosts share it) and the permits taken in it. A take asks for ARGV[2]
// permits and gets as many as the window has left (none changes nothing), with the time to
// the next window; permits given back in their own window are counted off again.
const TAKE = `
local now = redis.call('TIME')
local w = tonumber(now[1])
local limit = tonumber(ARGV[1])
local want = tonumber(ARGV[2])
local cur = tonumber(redis.call('HGET', KEYS[1], 'w') or '-1')
local n = 0
if cur == w then n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0') end
local got = math.max(0, math.min(want, limit - n))
if got > 0 then
  redis.call('HSET', KEYS[1], 'w', w, 'n', n + got)
  redis.call('PEXPIRE', KEYS[1], 5000)
end
return {w, got, 1000 - math.floor(tonumber(now[2]) / 1000)}
`;
const GIVE_BACK = `
if tonumber(redis.call('HGET', KEYS[1], 'w') or '-1') == tonumber(ARGV[1]) then
  local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
  redis.call('HSET', KEYS[1], 'n', math.max(0, n - tonumber(ARGV[2])))
end
return 0
`;

type RateCommands = IORedis & {
  providerCallTake(key: string, limit: number, want: number): Promise<[number, number, number]>;
  providerCallGiveBack(key: string, window: number, count: number): Promise<number>;
};

/**
 * PROVIDER_RATE_LIMIT_PER_SECOND, counted in provider calls, shared by every worker of a
 * provider account through Redis. BullMQ's own limiter counts every job, including relay
 * duplicates and jobs that only find their transfer not pending or blocked, so those took
 * call slots of the second; here such a job gives its permit back. A fixed one-second
 * window, as BullMQ's: a call is counted in the window its permit was taken in, so a call
 * started late in a window may land in the next one.
 *
 * The worker's jobs that ask while a take is on its way to Redis ask together in the next
 * one (GroupCommit): one round trip for all of them, the window's room shared in the order
 * they asked; give-backs of one window likewise. At 400 calls a second that took two of
 * the worker's three Redis scripts per transfer down to a fraction (docs/benchmarks.md,
 * "Issue 16, tenth pass").
 */
export class RedisCallRate implements CallRate {
  private readonly redis: RateCommands;
  private readonly takes: GroupCommit<null, { window: number; waitMs: number }>;
  private readonly givebacks: GroupCommit<null, null>;

  constructor(redis: IORedis, private readonly key: string, private readonly perSecond: number) {
    if (!('providerCallTake' in redis)) {
      redis.defineCommand('providerCallTake', { numberOfKeys: 1, lua: TAKE });
      redis.defineCommand('providerCallGiveBack', { numberOfKeys: 1, lua: GIVE_BACK });
    }
    this.redis = redis as RateCommands;
    this.takes = new GroupCommit(async (_key, asks) => {
      const [window, got, toNextMs] = await this.redis.providerCallTake(this.key, this.perSecond, asks.length);
      return asks.map((_, i) => ({ window, waitMs: i < got ? 0 : toNextMs }));
    });
    this.givebacks = new GroupCommit(async (window, given) => {
      // Not given back (Redis unreachable): the window is merely under-used.
      await this.redis.providerCallGiveBack(this.key, Number(window), given.length).catch(() => undefined);
      return given.map(() => null);
    });
  }

  async take(): Promise<CallPermit & { window: number }> {
    for (let failures = 0; ;) {
      let answer: { window: number; waitMs: number };
      try {
        answer = await this.takes.submit('take', null);
      } catch (err) {
        // Redis not (yet) reachable: nothing is claimed, so waiting a little, then failing
        // the job, is safe (the relay enqueues it again).
        if (++failures >= 10) throw err;
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      const { window, waitMs } = answer;
      if (waitMs === 0) {
        let given = false;
        return {
          window,
          giveBack: async () => {
            if (given) return; // once per permit
            given = true;
            await this.givebacks.submit(String(window), null);
          },
        };
      }
      // Into the next window: the waiters wake together and ask in one take.
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
}
