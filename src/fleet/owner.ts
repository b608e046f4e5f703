// Which member owns a key (a CallSid, a task id): a hash of the key over the sorted member list,
// so every member that sees the same list names the same owner, with no message exchanged.

/** The owner of `key` among `members` (sorted, as FleetChannel.members() gives them); undefined when there are none. */
export function ownerOf(key: string, members: readonly string[]): string | undefined {
  if (members.length === 0) return undefined;
  return members[fnv1a(key) % members.length];
}

/** 32-bit FNV-1a over UTF-16 code units: cheap, stable across processes and versions. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
