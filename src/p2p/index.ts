// The p2p entry module. The polyfill comes first: libp2p needs Promise.withResolvers, which Node 20 lacks.
import './polyfill.ts';

export { type GossipVerdict, blockTopic, classifyBlockError, txTopic } from './gossip.ts';
export { EXPERT_PROTOCOL, type HostedExpert } from './expertRpc.ts';
export { DEFAULT_EXPERT_RPC, type ExpertRpcTuning, type P2pEvent, type P2pNode, type P2pStatus, type StartP2pOptions, startP2p } from './p2pNode.ts';
export { PeerScores, type PenaltyReason } from './peerScore.ts';
export type { RemoteExpertEvent, RemoteExpertRunner, RemoteRunnerOptions, RemoteRunnerStats } from './remoteExperts.ts';
export { DEFAULT_TIMEOUTS, DEFAULT_TUNING, type SyncTimeouts, type SyncTuning } from './sync/context.ts';
export { formatProgress, type SyncStatus } from './sync/progress.ts';
export type { SyncResult } from './sync/syncer.ts';
export type { WorkerView } from './workerRegistry.ts';
