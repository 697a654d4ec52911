/**
 * Where the engine gets a component's weights. The engine never reads the chain itself: a local source
 * reads zero-copy views from the block store; a remote source (P2P) runs experts on workers.
 */
import type { TensorView } from '../tensor/tensor.ts';

export interface ComponentWeights {
  /** Component name, e.g. "layer3.expert7". */
  readonly name: string;
  /** Id (hex) of the block version these weights come from: the receipt of an answer names it. */
  readonly block: string;
  /** Payload bytes, for the cache budget. */
  readonly bytes: number;
  tensor(key: string): TensorView;
}

export interface ExpertSource {
  /** Loads one component (an expert, or a base/router block). Throws MODEL_MISSING_TENSOR if absent. */
  load(name: string): Promise<ComponentWeights>;
}
