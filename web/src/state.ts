/** Node facts shared by the views, fetched once per page load (and refreshed by the header). */
import { api, type Health } from './api.ts';

let health: Promise<Health | null> | null = null;

export function nodeHealth(refresh = false): Promise<Health | null> {
  if (health === null || refresh) {
    health = api<Health>('/health').catch(() => null);
  }
  return health;
}
