// What POST /session puts in the agent dispatch's metadata, and the room agent reads back: the
// session it serves and that session's prompt and greeting.
import { z } from 'zod';

export const roomDispatchMetadata = z.object({
  session_id: z.string().min(1),
  /** Instead of SYSTEM_PROMPT for this session. */
  system_prompt: z.string().min(1).optional(),
  /** Said as soon as the agent is in the room. */
  greeting: z.string().min(1).optional(),
  /** The client's own, kept with the session; the agent does not read it. */
  metadata: z.unknown().optional(),
});
export type RoomDispatchMetadata = z.infer<typeof roomDispatchMetadata>;

/** The dispatch's metadata, or why it cannot serve a session (never echoing the text: it holds a prompt). */
export function parseDispatchMetadata(text: string): { ok: true; value: RoomDispatchMetadata } | { ok: false; why: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, why: text ? 'the dispatch metadata is not JSON' : 'the dispatch has no metadata' };
  }
  const parsed = roomDispatchMetadata.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const fields = [...new Set(parsed.error.issues.map((issue) => issue.path.join('.') || '(the whole value)'))];
  return { ok: false, why: `the dispatch metadata is invalid at ${fields.join(', ')}` };
}
