import { BlyanError, type BlyanErrorCode } from '../errors.ts';

/** Why L0 refused a dataset: one code per rule (docs/datasets.md §3). */
export type DatasetRejectCode = Extract<
  BlyanErrorCode,
  | 'DATASET_TOO_SMALL'
  | 'DATASET_TOO_LARGE'
  | 'DATASET_BINARY'
  | 'DATASET_NOT_UTF8'
  | 'DATASET_BAD_CHARSET'
  | 'DATASET_PII'
  | 'DATASET_TOXIC'
  | 'DATASET_DUPLICATE'
>;

export interface DatasetRejection {
  readonly code: DatasetRejectCode;
  readonly message: string;
  readonly data: Readonly<Record<string, number | string>>;
}

export function rejectionError(r: DatasetRejection): BlyanError {
  return new BlyanError(r.code, r.message, { ...r.data });
}
