// The operator console's server side: the web client in ./client is bundled by esbuild inside
// this process on the first request (no build step for a newcomer) and kept in memory. The page
// is tiny and always revalidated; the bundles are named by a hash of their content, so a browser
// may keep them for a year and still never runs a stale one.
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Router, type Response } from 'express';
import { z } from 'zod';
import { errorReply } from '../http/schemas.js';
import type { RouteDoc } from '../openapi/registry.js';
import type { Logger } from '../telemetry/logger.js';
import { toError } from '../util/errors.js';

const CLIENT_DIR = fileURLToPath(new URL('./client/', import.meta.url));

/** What the page needs: the app's script and stylesheet, and the audio worklet the browser call loads. */
const ENTRY_POINTS = { app: `${CLIENT_DIR}main.ts`, worklet: `${CLIENT_DIR}talk/worklet.ts` } as const;
type EntryName = keyof typeof ENTRY_POINTS;

interface Asset {
  body: Buffer;
  type: string;
}

export interface ConsoleBundle {
  /** Hashed file name → content. */
  assets: Map<string, Asset>;
  /** Entry (and `app.css`) → its hashed file name. */
  names: Record<EntryName | 'style', string>;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/** Bundles the client (esbuild is loaded only when the console is first asked for). */
export async function bundleConsole(): Promise<ConsoleBundle> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: ENTRY_POINTS,
    bundle: true,
    write: false,
    outdir: '/console-out',
    format: 'esm',
    platform: 'browser',
    // Packages resolve as Node resolves them for the gateway (alawmulaw's `module` build has no
    // default export), so the page runs the very codec the server does.
    mainFields: ['browser', 'main'],
    target: ['chrome111', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const assets = new Map<string, Asset>();
  const names = {} as ConsoleBundle['names'];
  for (const file of result.outputFiles) {
    const base = file.path.slice(file.path.lastIndexOf('/') + 1); // app.js, app.css, worklet.js
    const dot = base.lastIndexOf('.');
    const ext = base.slice(dot);
    const stem = base.slice(0, dot);
    const hash = createHash('sha256').update(file.contents).digest('hex').slice(0, 12);
    const name = `${stem}-${hash}${ext}`;
    assets.set(name, { body: Buffer.from(file.contents), type: TYPES[ext] ?? 'application/octet-stream' });
    names[ext === '.css' ? 'style' : (stem as EntryName)] = name;
  }
  return { assets, names };
}

/** A Host header as a browser sends it: a name or address and an optional port, nothing that could end a CSP directive. */
const HOST = /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/;

/** PUBLIC_URL as the socket origin a browser call streams to (it may differ from the host serving the page). */
export function socketOrigin(publicUrl: string | undefined): string | undefined {
  if (publicUrl === undefined) return undefined;
  const url = new URL(publicUrl);
  return `${url.protocol === 'https:' ? 'wss:' : 'ws:'}//${url.host}`;
}

/**
 * Only this origin's own scripts, styles, sockets and media: a console holding the API key in
 * its tab must not be able to load anything from elsewhere (its key sent over a socket to any
 * host included), nor be framed by another site. Sockets may go to the page's own host (live
 * watchers) and to PUBLIC_URL (where a browser call's stream URL points).
 */
function contentSecurityPolicy(host: string | undefined, streamOrigin: string | undefined): string {
  const sockets = host !== undefined && HOST.test(host) ? [`ws://${host}`, `wss://${host}`] : [];
  if (streamOrigin !== undefined) sockets.push(streamOrigin);
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    ["connect-src 'self'", ...sockets].join(' '),
    "media-src 'self' blob:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

function page(bundle: ConsoleBundle): string {
  const { app, style, worklet } = bundle.names;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gateway console</title>
<link rel="stylesheet" href="/console/${style}">
<script type="module" src="/console/${app}"></script>
</head>
<body data-worklet="/console/${worklet}">
<noscript>The console needs JavaScript.</noscript>
</body>
</html>
`;
}

/** GET / (the page) and GET /console/<hashed asset>; mounted before the API, open to all (the data behind it is not). */
export interface ConsoleOptions {
  /** PUBLIC_URL: browser calls stream there (socketOrigin). */
  publicUrl?: string | undefined;
  bundle?: () => Promise<ConsoleBundle>;
}

export function consoleRoutes(logger: Logger, options: ConsoleOptions = {}): Router {
  const bundle = options.bundle ?? bundleConsole;
  const streamOrigin = socketOrigin(options.publicUrl);
  const router = Router();
  let built: Promise<ConsoleBundle> | undefined;
  /** Built once; a failed build is retried on the next request rather than cached. */
  const current = (): Promise<ConsoleBundle> => {
    built ??= bundle().catch((err: unknown) => {
      built = undefined;
      throw err;
    });
    return built;
  };
  const failed = (res: Response, err: unknown): void => {
    logger.error('could not build the console', { error: toError(err).message });
    res.status(500).type('text/plain').send('The console could not be built; the gateway log says why.');
  };

  router.get('/', async (req, res) => {
    try {
      const html = page(await current());
      const csp = contentSecurityPolicy(req.get('host'), streamOrigin);
      res.set({ 'Cache-Control': 'no-cache', 'Content-Security-Policy': csp, 'X-Content-Type-Options': 'nosniff' });
      res.type('html').send(html);
    } catch (err) {
      failed(res, err);
    }
  });

  router.get('/console/:name', async (req, res, next) => {
    let asset: Asset | undefined;
    try {
      asset = (await current()).assets.get(req.params.name);
    } catch (err) {
      return failed(res, err);
    }
    if (!asset) return next();
    res.set({ 'Cache-Control': 'public, max-age=31536000, immutable', 'Content-Type': asset.type, 'X-Content-Type-Options': 'nosniff' });
    res.send(asset.body);
  });
  return router;
}

/** The console's routes for the OpenAPI document: pages for people, not an API to call. */
export const consoleRouteDocs: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/',
    tag: 'console',
    summary: 'The operator console (an HTML page; its data comes from the API, key and all)',
    responses: { 200: { description: 'The page', contentType: 'text/html' }, 500: { description: 'The console could not be built (the log says why)', contentType: 'text/plain' } },
  },
  {
    method: 'get',
    path: '/console/{name}',
    tag: 'console',
    summary: "One of the console's bundles, named by its content hash (cached for a year)",
    pathParams: z.object({ name: z.string().meta({ description: 'e.g. app-<hash>.js' }) }),
    responses: { 200: { description: 'The script, style sheet or audio worklet' }, 404: errorReply('not_found') },
  },
];

