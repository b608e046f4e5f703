// A `fetch` for the OpenAI SDK that gives up on a response body that stops flowing. The SDK's own
// timeout covers only the wait for the headers: a provider that starts a streamed reply and then
// stalls would hold the turn (and the caller) forever, and the FallbackAdapter would never move
// on. Here every body chunk re-arms a timer; when it fires the request is aborted, which the SDK
// reports as a failed request.

export class StreamIdleError extends Error {
  constructor(idleMs: number) {
    super(`the response body stopped for ${idleMs} ms`);
    this.name = 'StreamIdleError';
  }
}

/** `fetch`, with the response aborted when its body goes `idleMs` without a chunk. */
export function idleTimeoutFetch(idleMs: number): typeof fetch {
  return async (input, init) => {
    // Our own signal, following the caller's (the SDK's timeout and the plugin's abort).
    const controller = new AbortController();
    const caller = init?.signal;
    if (caller?.aborted) controller.abort(caller.reason);
    caller?.addEventListener('abort', () => controller.abort(caller.reason), { once: true });

    const response = await fetch(input, { ...init, signal: controller.signal });
    if (response.body === null) return response;

    const timer = setTimeout(() => controller.abort(new StreamIdleError(idleMs)), idleMs).unref();
    controller.signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          timer.refresh();
          out.enqueue(chunk);
        },
        flush: () => clearTimeout(timer),
      }),
    );
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
