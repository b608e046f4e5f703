// A file handle on a disk with room for `capacity` bytes: a write past it is cut short, the next
// fails with ENOSPC, as on a full disk. Root ignores permissions, so this is how tests make a real
// file's writes fail mid-call (through the recorder's openPart seam).
import type { FileHandle } from 'node:fs/promises';

export function diskOfSize(file: FileHandle, capacity: number): FileHandle {
  const write = async (buffer: Buffer, offset: number, length: number, position: number) => {
    const room = Math.max(0, Math.min(length, capacity - position));
    if (room === 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    return file.write(buffer, offset, room, position);
  };
  return new Proxy(file, {
    get: (target, prop) => (prop === 'write' ? write : Reflect.get(target, prop, target)),
  });
}
