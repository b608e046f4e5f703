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

/**
 * Only this origin's own scripts, styles, sockets and media: a console holding the API key in
 * its tab must not be able to load anything from elsewhere, nor be framed by another site.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "media-src 'self' blob:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

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
export function consoleRoutes(logger: Logger, bundle: () => Promise<ConsoleBundle> = bundleConsole): Router {
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

  router.get('/', async (_req, res) => {
    try {
      const html = page(await current());
      res.set({ 'Cache-Control': 'no-cache', 'Content-Security-Policy': CONTENT_SECURITY_POLICY, 'X-Content-Type-Options': 'nosniff' });
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

