/**
 * Failures of the running node itself (not of the chain or the engine). Kept apart from BlyanErrorCode
 * until src/errors.ts gains a node/API section; the API maps these codes to 503.
 */
export type NodeErrorCode = 'NODE_BUSY' | 'NODE_STOPPING';

export class NodeError extends Error {
  constructor(
    readonly code: NodeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'NodeError';
  }
}
