// Personal data kept out of info-level logs: phone numbers show only their last digits.

const VISIBLE_DIGITS = 4;

/**
 * `+14155550123` → `***0123`: enough to tell calls apart in a log, not enough to dial. Anything
 * that is not a string (an absent parameter) passes through, so a log line keeps its shape.
 */
export function maskPhone<T>(value: T): T | string {
  if (typeof value !== 'string' || value === '') return value;
  const digits = value.replace(/\D/g, '');
  // Short codes and SIP names are masked whole: four digits of a four-digit code are the code.
  if (digits.length <= VISIBLE_DIGITS) return '***';
  return `***${digits.slice(-VISIBLE_DIGITS)}`;
}
