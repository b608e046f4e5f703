// The cluster's primary serves no request: src/main.ts must reach the gateway's module graph only
// through a dynamic import, taken in a process that serves. A static import of it would load
// express, the SDKs and every domain into the primary (about 90 MB more, and the collections that
// free its start-up garbage run on the cores the calls use). Read from esbuild's import graph.
import { expect } from 'chai';
import { build, type Metafile } from 'esbuild';

/** Files reachable from `entry` through static imports only (dynamic import() edges not followed). */
function staticallyReached(metafile: Metafile, entry: string): Set<string> {
  const seen = new Set<string>([entry]);
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    for (const edge of metafile.inputs[file]?.imports ?? []) {
      if (edge.kind !== 'import-statement' || edge.external || seen.has(edge.path)) continue;
      seen.add(edge.path);
      queue.push(edge.path);
    }
  }
  return seen;
}

describe('the entry point', function () {
  this.timeout(30_000);
  let metafile: Metafile;

  before(async () => {
    const result = await build({ entryPoints: ['src/main.ts'], bundle: true, write: false, metafile: true, platform: 'node', format: 'esm', packages: 'external', logLevel: 'silent' });
    metafile = result.metafile;
  });

  it('loads the gateway only in a process that serves, never in the primary', () => {
    const reached = staticallyReached(metafile, 'src/main.ts');
    expect(reached).to.include('src/cluster/primary.ts');
    expect(reached).to.not.include('src/gateway.ts');
    expect(reached).to.not.include('src/startup/serve.ts');
  });

  it('still reaches the gateway, through the dynamic import of the serving side', () => {
    const dynamic = metafile.inputs['src/main.ts']!.imports.filter((edge) => edge.kind === 'dynamic-import').map((edge) => edge.path);
    expect(dynamic).to.deep.equal(['src/startup/serve.ts']);
    expect(staticallyReached(metafile, 'src/startup/serve.ts')).to.include('src/gateway.ts');
  });
});
