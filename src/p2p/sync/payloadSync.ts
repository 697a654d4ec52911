import { createHash, type Hash as Hasher } from 'node:crypto';
import { equalBytes, type Hash, toHex } from '../../chain/hash.ts';
import { TILE_BYTES } from '../../chain/limits.ts';
import type { AppendItem } from '../../chain/store.ts';
import { tileCount } from '../../chain/tiles.ts';
import { BlyanError, isBlyanError } from '../../errors.ts';
import { tileLength } from '../protocols/tiles.ts';
import { penaltyFor, type SyncContext, type SyncPeer } from './context.ts';
import type { PendingBlock } from './headerSync.ts';

/**
 * Payloads second (docs/sync-protocol.md §7.2). The accepted headers are walked in dependency order;
 * payloads are admitted into a memory window and their 4 MiB tiles fetched in parallel from every peer,
 * a few requests per peer at a time. Each tile is checked against its header's tileRoot before it is
 * kept, and the payload's SHA-256 is computed as the in-order prefix of tiles grows. A tile of a multi-tile
 * payload is also written to the sync side database (so a restart resumes) once it has waited
 * `keepTilesAfterMs` for the rest of its payload, and at once when the run stops short: a payload that
 * arrives quickly is written once, by its append, instead of twice. A block goes to the store's appendBatch
 * once its payload is whole and hashes to payloadHash and every block before it is in: the store applies
 * every contextual rule in its write transaction; S5–S8 are not computed a second time there
 * (`verified: true`, as archive import does) because each was checked here and in headerSync.ts. The kept
 * tiles are deleted in the same transaction, which commits (and syncs to disk) off the event loop while
 * further tiles arrive. A tile that fails is asked of another peer; the peer is penalised by what went wrong
 * (bad data bans it).
 */
interface Job {
  readonly key: string;
  readonly hash: Hash;
  readonly size: number;
  readonly tileRoot: Hash;
  readonly count: number;
  /** Assembly buffer, taken from the pool when the first tile arrives (fresh memory is costly to touch). */
  buffer: Uint8Array | undefined;
  /** Which tiles are in `buffer`. */
  readonly have: boolean[];
  missing: number;
  /** Side-database writes of this payload's tiles still in progress. */
  puts: number;
  /** Tiles in `buffer` but not (yet) in the side database, with the timer that will keep them. */
  readonly unkept: Map<number, ReturnType<typeof setTimeout> | undefined>;
  /** SHA-256 of the payload, fed tile by tile as the in-order prefix grows (rule S5's payloadHash). */
  readonly hasher: Hasher;
  hashed: number;
  /** The payload contradicts its header (tileRoot holds, payloadHash does not): nothing of it is kept. */
  bad: boolean;
  appended: boolean;
}

interface TileTask {
  readonly job: Job;
  readonly index: number;
  /** Peers that failed this tile in the current pass. */
  readonly tried: Set<string>;
  /** Passes over the peers so far: a peer that was only slow gets another chance in the next pass. */
  passes: number;
}

/** How many times every remaining peer may fail one tile before the run gives up on it. */
const TILE_PASSES = 3;

export interface PayloadResult {
  readonly appended: number;
  readonly complete: boolean;
  readonly error?: { readonly code: string; readonly message: string };
}

/** Largest group of blocks (payload bytes) appended in one transaction; the loop breathes in between. */
const APPEND_BATCH_BYTES = 64 * 1024 * 1024;
const APPEND_BATCH_BLOCKS = 1024;
/** Smallest pooled buffer; single-tile payloads below it are assembled in a buffer of their own. */
const POOL_MIN_BYTES = 1024 * 1024;

export function payloadBytesNeeded(ctx: SyncContext, blocks: readonly PendingBlock[]): number {
  const seen = new Set<string>();
  let total = 0;
  for (const { block } of blocks) {
    const h = block.header;
    const key = toHex(h.payloadHash);
    if (h.payloadSize === 0 || seen.has(key) || ctx.store.hasPayload(h.payloadHash)) continue;
    seen.add(key);
    total += h.payloadSize;
  }
  return total;
}

/**
 * Assembly buffers, reused from one payload to the next: fresh memory costs a page fault per 4 KiB on first
 * touch, which on small virtual machines is a large share of the sync's CPU time (measured: about 120 ms per
 * 16 MiB on a 2-core VM, slower than the network). A job takes its buffer when its first tile arrives and
 * gives it back as soon as the append transaction has copied it, so a whole sync cycles through a few buffers.
 * Holds at most `maxBytes` of idle buffers.
 */
export class BufferPool {
  private readonly free: Uint8Array[] = [];
  private idle = 0;
  constructor(private readonly maxBytes: number) {}

  take(size: number): Uint8Array {
    const i = this.free.findIndex((b) => b.byteLength >= size && b.byteLength <= 2 * size);
    if (i >= 0) {
      const b = this.free.splice(i, 1)[0] as Uint8Array;
      this.idle -= b.byteLength;
      return b.subarray(0, size);
    }
    // A power of two, so a buffer serves any later payload between half its size and its size.
    const capacity = Math.max(POOL_MIN_BYTES, 2 ** Math.ceil(Math.log2(size)));
    return new Uint8Array(Buffer.allocUnsafeSlow(capacity).buffer, 0, size);
  }

  give(buf: Uint8Array): void {
    const whole = new Uint8Array(buf.buffer, 0, buf.buffer.byteLength);
    if (this.idle + whole.byteLength > this.maxBytes) return;
    this.free.push(whole);
    this.idle += whole.byteLength;
  }
}

export function syncPayloads(ctx: SyncContext, blocks: readonly PendingBlock[]): Promise<PayloadResult> {
  const pool = new BufferPool(ctx.tuning.memoryBudget);
  const jobs = new Map<string, Job>();
  const queue: TileTask[] = [];
  const inflight = new Map<string, number>();
  let inflightTotal = 0;
  let admitIdx = 0;
  let appendIdx = 0;
  let memory = 0;
  let appended = 0;
  let error: { code: string; message: string } | undefined;
  let settled = false;
  /** The append transaction being committed, if any. */
  let committing: Promise<void> | undefined;
  /** Side-database writes of tiles in progress. */
  const puts = new Set<Promise<void>>();

  return new Promise<PayloadResult>((resolve) => {
    const finish = () => {
      if (settled) return;
      settled = true;
      // Stopping short: keep every verified tile of an unfinished payload now, so the next run resumes from it.
      for (const job of jobs.values()) if (!job.appended && !job.bad) keepUnkept(job);
      void Promise.allSettled([...puts]).then(() => {
        for (const job of jobs.values()) if (!job.appended && job.buffer !== undefined) release(job);
        resolve(result());
      });
    };
    const result = (): PayloadResult =>
      error === undefined && appendIdx === blocks.length ? { appended, complete: true } : { appended, complete: false, error: error ?? { code: 'P2P_SYNC_INCOMPLETE', message: 'payload sync stopped early' } };

    /**
     * Payload bytes admitted at once: twice what the peers can have in flight (tile requests per peer × peers ×
     * 4 MiB), within the memory budget. More would only wait, and fresh memory is dear to touch (§11): a
     * small window reuses the same few assembly buffers.
     */
    const window = () => Math.min(ctx.tuning.memoryBudget, 2 * ctx.tuning.tilesPerPeer * Math.max(1, ctx.currentPeers().length) * TILE_BYTES);
    const admit = () => {
      while (admitIdx < blocks.length && error === undefined) {
        const h = (blocks[admitIdx] as PendingBlock).block.header;
        const key = toHex(h.payloadHash);
        if (h.payloadSize === 0 || jobs.has(key) || ctx.store.hasPayload(h.payloadHash)) {
          admitIdx++;
          continue;
        }
        if (memory > 0 && memory + h.payloadSize > window()) return;
        const count = tileCount(h.payloadSize);
        const job: Job = {
          key,
          hash: h.payloadHash,
          size: h.payloadSize,
          tileRoot: h.tileRoot,
          count,
          buffer: undefined,
          have: new Array<boolean>(count).fill(false),
          missing: count,
          puts: 0,
          unkept: new Map(),
          hasher: createHash('sha256'),
          hashed: 0,
          bad: false,
          appended: false,
        };
        jobs.set(key, job);
        memory += h.payloadSize;
        admitIdx++;
        const have = count > 1 ? ctx.state.storedTiles(h.payloadHash) : new Map<number, Uint8Array>();
        for (let i = 0; i < count; i++) {
          const kept = have.get(i);
          if (kept !== undefined && kept.byteLength === tileLength(h.payloadSize, i)) {
            bufferOf(job).set(kept, i * TILE_BYTES);
            job.have[i] = true;
            job.missing--;
            ctx.progress.addResumed(kept.byteLength);
            ctx.onEvent({ type: 'tile-resumed', payload: key, index: i, bytes: kept.byteLength });
          } else {
            queue.push({ job, index: i, tried: new Set(), passes: 1 });
          }
        }
        feedHash(job);
      }
    };

    const bufferOf = (job: Job): Uint8Array => {
      if (job.buffer === undefined) job.buffer = job.size >= POOL_MIN_BYTES ? pool.take(job.size) : new Uint8Array(job.size);
      return job.buffer;
    };

    /** Gives a job's buffer back once its bytes are in the store (or it is abandoned). */
    const release = (job: Job) => {
      memory -= job.size;
      if (job.buffer !== undefined && job.size >= POOL_MIN_BYTES) pool.give(job.buffer);
      job.buffer = undefined;
    };

    /** Hashes the tiles that now extend the contiguous prefix, so the whole payload is hashed once. */
    const feedHash = (job: Job) => {
      while (job.hashed < job.count && job.have[job.hashed] === true) {
        const start = job.hashed * TILE_BYTES;
        job.hasher.update((job.buffer as Uint8Array).subarray(start, start + tileLength(job.size, job.hashed)));
        job.hashed++;
      }
    };

    const pickPeer = (task: TileTask, peers: readonly SyncPeer[]): SyncPeer | 'wait' | 'none' => {
      let best: SyncPeer | undefined;
      let untried = 0;
      for (const p of peers) {
        if (task.tried.has(p.id) || ctx.isBanned(p.id)) continue;
        untried++;
        const n = inflight.get(p.id) ?? 0;
        if (n >= ctx.tuning.tilesPerPeer) continue;
        if (best === undefined || n < (inflight.get(best.id) ?? 0)) best = p;
      }
      return best ?? (untried > 0 ? 'wait' : 'none');
    };

    const schedule = () => {
      if (error !== undefined) return;
      const peers = ctx.currentPeers();
      for (let q = 0; q < queue.length; ) {
        const task = queue[q] as TileTask;
        const choice = pickPeer(task, peers);
        if (choice === 'wait') {
          q++;
          continue;
        }
        if (choice === 'none' && task.passes < TILE_PASSES && task.tried.size > 0) {
          // Everyone left failed it once (banned peers are out for good): start another pass.
          task.tried.clear();
          task.passes++;
          continue;
        }
        if (choice === 'none') {
          error = { code: 'P2P_SYNC_INCOMPLETE', message: `no peer served tile ${task.index} of payload ${task.job.key.slice(0, 16)}… (${task.tried.size} tried)` };
          return;
        }
        queue.splice(q, 1);
        fetch(task, choice);
      }
    };

    const fetch = (task: TileTask, peer: SyncPeer) => {
      inflight.set(peer.id, (inflight.get(peer.id) ?? 0) + 1);
      inflightTotal++;
      ctx.onEvent({ type: 'tile-request', peer: peer.id, payload: task.job.key, index: task.index });
      // The tile streams straight to its place in the payload's buffer; it counts only once it verified.
      const job = task.job;
      const start = task.index * TILE_BYTES;
      const into = bufferOf(job).subarray(start, start + tileLength(job.size, task.index));
      ctx.fetchTile(peer.peerId, { payloadHash: job.hash, payloadSize: job.size, tileRoot: job.tileRoot }, task.index, ctx.timeouts.tileMs, into)
        .then(
          () => onTile(task, peer, into.byteLength),
          (err: unknown) => onFail(task, peer, err),
        )
        .finally(() => {
          inflight.set(peer.id, (inflight.get(peer.id) ?? 1) - 1);
          inflightTotal--;
          pump();
        });
    };

    const onTile = (task: TileTask, peer: SyncPeer, bytes: number) => {
      const job = task.job;
      ctx.reward(peer.id);
      ctx.progress.addFetched(bytes);
      if (job.appended || job.bad || job.have[task.index] === true) return;
      job.have[task.index] = true;
      job.missing--;
      feedHash(job);
      if (job.count === 1) return;
      const keepAfter = ctx.tuning.keepTilesAfterMs;
      if (keepAfter <= 0) {
        keepTile(job, task.index);
        return;
      }
      // Kept only if the payload is still unfinished by then: a payload that completes within the delay is
      // written once, by its append. A crash loses at most that much of the download.
      const timer = setTimeout(() => keepTile(job, task.index), keepAfter);
      timer.unref();
      job.unkept.set(task.index, timer);
    };

    /** Writes a verified tile to the side database, so a later run need not fetch it again. */
    const keepTile = (job: Job, index: number) => {
      const timer = job.unkept.get(index);
      if (timer !== undefined) clearTimeout(timer);
      job.unkept.delete(index);
      if (job.appended || job.bad || job.buffer === undefined) return;
      const start = index * TILE_BYTES;
      const tile = job.buffer.subarray(start, start + tileLength(job.size, index));
      job.puts++;
      const put = ctx.state
        .putTile(job.hash, index, tile)
        .then(
          () => ctx.onEvent({ type: 'tile-stored', payload: job.key, index, bytes: tile.byteLength }),
          () => {
            // Not kept: only resumability suffers; the tile is in memory and the payload completes.
          },
        )
        .finally(() => {
          job.puts--;
          puts.delete(put);
          pump();
        });
      puts.add(put);
    };

    /** Keeps at once every verified tile of the job not kept yet. */
    const keepUnkept = (job: Job) => {
      for (const index of [...job.unkept.keys()]) keepTile(job, index);
    };

    /** Stops a job's keep timers (its payload is being appended); the tiles stay listed in case that fails. */
    const stopTimers = (job: Job) => {
      for (const [index, timer] of job.unkept) {
        if (timer !== undefined) clearTimeout(timer);
        job.unkept.set(index, undefined);
      }
    };

    const onFail = (task: TileTask, peer: SyncPeer, err: unknown) => {
      ctx.progress.addFailed();
      ctx.penalise(peer.id, penaltyFor(err) ?? 'timeout', err);
      ctx.onEvent({ type: 'tile-failed', peer: peer.id, payload: task.job.key, index: task.index, code: isBlyanError(err) ? err.code : 'ERROR' });
      task.tried.add(peer.id);
      queue.unshift(task);
    };

    const ready = (job: Job) => job.missing === 0 && job.puts === 0;

    /**
     * Appends the longest prefix whose payloads are whole, in bounded transactions, one transaction at a
     * time: the next batch is gathered while the previous one commits, so slow disks batch more.
     */
    const appendReady = () => {
      if (committing !== undefined) return;
      const batch: { item: AppendItem; p: PendingBlock }[] = [];
      const finishing: Job[] = [];
      let bytes = 0;
      while (appendIdx < blocks.length && error === undefined && bytes < APPEND_BATCH_BYTES && batch.length < APPEND_BATCH_BLOCKS) {
        const p = blocks[appendIdx] as PendingBlock;
        const h = p.block.header;
        const job = jobs.get(toHex(h.payloadHash));
        if (h.payloadSize === 0 || (job === undefined && ctx.store.hasPayload(h.payloadHash)) || job?.appended === true) {
          batch.push({ item: { block: p.block }, p });
        } else if (job !== undefined && ready(job)) {
          if (!equalBytes(job.hasher.digest(), job.hash)) {
            // Every tile matched the tileRoot, yet the bytes do not hash to payloadHash: the header
            // contradicts itself (rule S5), so the block is invalid and so is whoever served it.
            rejectInconsistent(p, job);
            break;
          }
          batch.push({ item: { block: p.block, payload: job.buffer }, p });
          finishing.push(job);
          job.appended = true;
          stopTimers(job);
          bytes += job.size;
        } else {
          break;
        }
        appendIdx++;
      }
      if (batch.length === 0) return;
      committing = appendGroup(ctx, batch, finishing).then(
        (n) => {
          appended += n;
          committing = undefined;
          pump();
        },
        (err: unknown) => {
          error = { code: isBlyanError(err) ? err.code : 'ERROR', message: (err as Error).message };
          committing = undefined;
          pump();
        },
      );
    };

    const appendGroup = async (c: SyncContext, batch: { item: AppendItem; p: PendingBlock }[], finishing: Job[]): Promise<number> => {
      const removeTiles = (list: Job[]) => () => {
        for (const j of list) if (j.count > 1) c.state.removeTilesSync(j.hash, j.count);
      };
      let written = false;
      try {
        // S5–S8 already held: S6–S8 and the size when the header was fetched (headerSync.ts), the payload's
        // tileRoot tile by tile and its payloadHash above. The store applies every contextual rule itself.
        // The store's transaction runs inside an asynchronous LMDB transaction: its writes happen here, on
        // this thread, and the commit and the sync to disk on LMDB's write thread, while tiles keep coming.
        await c.state.transaction(() => {
          c.store.appendBatch(
            batch.map((b) => b.item),
            { verified: true, alsoWrite: removeTiles(finishing) },
          );
          // The payloads are copied into the transaction: their buffers can take the next payloads now.
          written = true;
          for (const j of finishing) release(j);
          // Their room in the window is free now, not only once the commit is on disk: admit and request the
          // next payloads while LMDB's write thread commits (after this callback, outside the transaction).
          setImmediate(pump);
        });
        c.onEvent({ type: 'appended', blocks: batch.length, bytes: finishing.reduce((s, j) => s + j.size, 0) });
        return batch.length;
      } catch (err) {
        // The writes were made but the commit failed (a disk error): the buffers are reused already, and
        // nothing can be retried from them.
        if (written) throw err;
        // Find the culprit one block at a time; blocks before it are kept.
        let n = 0;
        const done = new Set<Job>();
        for (const { item, p } of batch) {
          const own = finishing.filter((j) => item.payload !== undefined && j.buffer === item.payload);
          try {
            c.store.appendBatch([item], { verified: true, alsoWrite: removeTiles(own) });
            n++;
          } catch (err) {
            if (!isBlyanError(err, 'BLOCK_DUPLICATE')) {
              // Every rule already held against the store plus this round's headers, so a failure here means
              // something else wrote to the store meanwhile (gossip, another process): nobody to blame. The
              // block is left for the next round, and the verified tiles of its payload are kept for it.
              error = { code: isBlyanError(err) ? err.code : 'ERROR', message: `block ${toHex(p.block.id).slice(0, 16)}… not appended: ${(err as Error).message}` };
              break;
            }
          }
          for (const j of own) done.add(j);
        }
        for (const j of finishing) {
          if (done.has(j)) release(j);
          else {
            j.appended = false;
            keepUnkept(j);
          }
        }
        c.onEvent({ type: 'appended', blocks: n, bytes: 0 });
        return n;
      }
    };

    const rejectInconsistent = (p: PendingBlock, job: Job) => {
      const err = new BlyanError('BLOCK_BAD_PAYLOAD', `payload of block ${toHex(p.block.id)} matches its tileRoot but not its payloadHash`);
      ctx.penalise(p.from, 'bad-data', err);
      ctx.onEvent({ type: 'rejected', peer: p.from, code: err.code, message: err.message });
      if (job.count > 1) ctx.state.removeTilesSync(job.hash, job.count);
      job.bad = true;
      stopTimers(job);
      job.unkept.clear();
      error = { code: err.code, message: err.message };
    };

    const pump = () => {
      if (settled) return;
      try {
        appendReady();
        admit();
        appendReady();
        schedule();
      } catch (err) {
        error = { code: isBlyanError(err) ? err.code : 'ERROR', message: (err as Error).message };
      }
      if (committing !== undefined) return;
      if (appendIdx === blocks.length || (error !== undefined && inflightTotal === 0)) finish();
      else if (inflightTotal === 0 && queue.length > 0) {
        // Every remaining tile waits for a peer that is busy; with nothing in flight that cannot change.
        error = { code: 'P2P_NO_PEERS', message: 'no peer is available to serve the remaining tiles' };
        finish();
      }
    };

    pump();
  });
}
