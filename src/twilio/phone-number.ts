// Phone numbers as Twilio takes them: E.164, a plus and up to 15 digits.
export const E164 = /^\+[1-9]\d{6,14}$/;

export const isE164 = (value: string): boolean => E164.test(value);
