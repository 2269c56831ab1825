export const ROTATION_STATUSES = [
  'pending',
  'running',
  'cancelling',
  'cancelled',
  'completed',
  'completed_with_errors',
  'failed',
] as const;

export type RotationStatus = (typeof ROTATION_STATUSES)[number];

/** A job in one of these holds the one-active-job slot (ux_key_rotation_jobs_one_active). */
export const ACTIVE_STATUSES: readonly RotationStatus[] = ['pending', 'running', 'cancelling'];

/** The same list as SQL, for the queries that must agree with the partial unique index. */
export const ACTIVE_STATUSES_SQL = `('pending', 'running', 'cancelling')`;

export function isActive(status: RotationStatus): boolean {
  return ACTIVE_STATUSES.includes(status);
}
