// A watcher on WS /ws/call/{id} that reconnects while its page is open. Each (re)connection
// starts with a snapshot, so a page that rebuilds from it never shows an event twice.
import { socketUrl } from './api.js';

const RETRY_MS = [500, 1000, 2000, 5000];

export function watchLive<M>(path: string, onMessage: (message: M) => void, onState: (open: boolean) => void = () => undefined): () => void {
  let socket: WebSocket | undefined;
  let stopped = false;
  let failures = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const open = (): void => {
    socket = new WebSocket(socketUrl(path));
    socket.onopen = () => {
      failures = 0;
      onState(true);
    };
    socket.onmessage = (event: MessageEvent<string>) => onMessage(JSON.parse(event.data) as M);
    socket.onclose = (event) => {
      onState(false);
      // 4404: the id is unknown; nothing will come by retrying.
      if (stopped || event.code === 4404) return;
      timer = setTimeout(open, RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)]);
    };
  };
  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    socket?.close();
  };
}
