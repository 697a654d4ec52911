import type { z } from 'zod';
import { BlyanError } from '../errors.ts';

/** Parses request input with a zod schema; failures are 400 BAD_ARGUMENT naming the field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue === undefined || issue.path.length === 0 ? where : `${where}.${issue.path.join('.')}`;
  throw new BlyanError('BAD_ARGUMENT', `${path}: ${issue?.message ?? 'invalid'}`);
}
