/** A timestamp as the API shows it: ISO 8601 in UTC, or null. */
export const iso = (value: Date | null): string | null => (value ? value.toISOString() : null);
