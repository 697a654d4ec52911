import type { StreamMuxer, StreamMuxerFactory } from '@libp2p/interface';
import { yamux } from '@libp2p/yamux';
import { StreamState } from '@libp2p/yamux/stream';

type YamuxInit = NonNullable<Parameters<typeof yamux>[0]>;

/**
 * libp2p's Yamux, sending receive-window updates the way go-yamux and the Yamux spec's reference implementation
 * do: once half the window has been used, not after every data frame. Same wire protocol, same windows; a stock
 * peer cannot tell (test/p2p/yamuxWindow.test.ts runs both against each other).
 *
 * Why: @libp2p/yamux 8 answers every data frame with a WINDOW_UPDATE frame. For the small request/answer
 * messages of expert RPC (docs/expert-rpc.md) that is a second socket write per message on the receiving side,
 * and a second wake-up of the other process to read, decrypt and parse 30 useless bytes — on a machine of few
 * cores, where the peers share them, a large part of a round trip. A sender blocks only when its window is
 * used up, and by then the receiver has sent an update (at half), so bulk transfers keep flowing.
 *
 * The change replaces the `sendWindowUpdate` method of the streams this muxer creates (the library's internal
 * `_newStream`); if its shape ever differs (another major version), the muxer is left as the library made it.
 */
export function yamuxHalfWindow(init: YamuxInit = {}): () => StreamMuxerFactory {
  const make = yamux(init);
  return () => {
    const factory = make();
    const create = factory.createStreamMuxer.bind(factory);
    factory.createStreamMuxer = (maConn) => {
      const muxer = create(maConn);
      patchMuxer(muxer);
      return muxer;
    };
    return factory;
  };
}

/** The parts of YamuxStream this file relies on. */
interface WindowedStream {
  state: number;
  recvWindow: number;
  recvWindowCapacity: number;
  sendWindowUpdate: () => void;
}

function isWindowed(s: unknown): s is WindowedStream {
  const w = s as Partial<WindowedStream> | undefined;
  return typeof w?.sendWindowUpdate === 'function' && typeof w.recvWindow === 'number' && typeof w.recvWindowCapacity === 'number' && typeof w.state === 'number';
}

function patchMuxer(muxer: StreamMuxer): void {
  const m = muxer as unknown as { _newStream?: (...args: unknown[]) => unknown };
  if (typeof m._newStream !== 'function') return;
  const newStream = m._newStream.bind(muxer);
  m._newStream = (...args: unknown[]) => {
    const stream = newStream(...args);
    if (isWindowed(stream)) halfWindowUpdates(stream);
    return stream;
  };
}

/**
 * Makes `stream` send a window update only when at least half its receive window is used. Updates that carry a
 * flag (the ACK of a new inbound stream) and the paused state go through the library's logic unchanged.
 */
export function halfWindowUpdates(stream: WindowedStream): void {
  const update = stream.sendWindowUpdate.bind(stream);
  stream.sendWindowUpdate = () => {
    if (stream.state === StreamState.Established && stream.recvWindowCapacity * 2 > stream.recvWindow) return;
    update();
  };
}
