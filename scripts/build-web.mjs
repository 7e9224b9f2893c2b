#!/usr/bin/env node
// Bundles the dashboard's front end (web/) into dist/web with esbuild: one ES module entry with
// lazily loaded chunks, one stylesheet (uPlot's included), the page shell. Nothing is fetched
// from a CDN at run time. Run by `npm run build` after tsc.
import { copyFileSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'

const ROOT = join(import.meta.dirname, '..')
const OUT = join(ROOT, 'dist', 'web')

rmSync(OUT, { recursive: true, force: true })
mkdirSync(join(OUT, 'assets'), { recursive: true })
await build({
  entryPoints: {
    app: join(ROOT, 'web', 'src', 'main.ts'),
    'app-style': join(ROOT, 'web', 'app.css'),
  },
  outdir: join(OUT, 'assets'),
  bundle: true,
  format: 'esm',
  splitting: true,
  minify: true,
  sourcemap: true,
  target: ['chrome120', 'firefox120', 'safari17'],
  legalComments: 'linked',
  logLevel: 'warning',
  entryNames: '[name]',
  chunkNames: 'chunk-[hash]',
})
copyFileSync(join(ROOT, 'web', 'index.html'), join(OUT, 'index.html'))
